-- wrk: the refresh_token grant with rotation. Each thread keeps a pool of
-- refresh tokens (one family each); a request takes one, its response
-- gives back the rotated token, so no token is ever presented twice.
--   TOKENS   file with one refresh token per line
--   AUTH     the Authorization header value (Basic ...), or "" (public)
--   CLIENT   client_id for public clients
local tokens = {}
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  pool = {}
  local all = {}
  for line in io.lines(os.getenv("TOKENS")) do table.insert(all, line) end
  local n = tonumber(os.getenv("THREADS") or "2")
  for i, t in ipairs(all) do
    if (i - 1) % n == id - 1 then table.insert(pool, t) end
  end
  auth = os.getenv("AUTH") or ""
  client = os.getenv("CLIENT") or ""
  path = os.getenv("TOKEN_PATH") or "/oauth2/token"
  failures = 0
end

function request()
  local t = table.remove(pool, 1)
  if t == nil then t = "exhausted" end
  local body = "grant_type=refresh_token&refresh_token=" .. t
  if client ~= "" then body = body .. "&client_id=" .. client end
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  local t = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
  if t then table.insert(pool, t) else failures = failures + 1 end
end

function done(summary, latency, requests)
  local f = 0
  for _, thread in ipairs(threads) do f = f + (thread:get("failures") or 0) end
  io.write(string.format("REFRESH_FAILURES %d\n", f))
end
