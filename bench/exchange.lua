-- wrk: authorization request + authorization_code exchange, as a portal
-- does after each sign-in. A browser with an SSO session asks for a code
-- (GET /oauth2/authorize -> 302 with ?code=); the code goes into the
-- thread's pool; the next request redeems one (POST /oauth2/token). Codes
-- are single-use, so each is redeemed exactly once.
--   AUTHORIZE  path and query of the authorization request
--   COOKIE     the SSO session cookie (name=value)
--   AUTH       the Authorization header value for the token request
--   VERIFIER   the PKCE verifier of AUTHORIZE's challenge
--   CALLBACK   the redirect_uri, form-encoded
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  authorize = os.getenv("AUTHORIZE")
  cookie = os.getenv("COOKIE")
  auth = os.getenv("AUTH")
  verifier = os.getenv("VERIFIER")
  callback = os.getenv("CALLBACK")
  exchanged = 0
  failures = 0
end

function request()
  local code = table.remove(codes, 1)
  if code == nil then
    return wrk.format("GET", authorize, { ["Cookie"] = cookie })
  end
  local body = "grant_type=authorization_code&code=" .. code ..
    "&redirect_uri=" .. callback .. "&code_verifier=" .. verifier
  return wrk.format("POST", "/oauth2/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = auth,
  }, body)
end

function response(status, headers, body)
  if status == 302 or status == 303 then
    local loc = headers["Location"] or headers["location"] or ""
    local code = string.match(loc, "[?&]code=([^&]+)")
    if code then table.insert(codes, code) else failures = failures + 1 end
  elseif status == 200 and string.find(body, '"id_token"', 1, true) then
    exchanged = exchanged + 1
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local n, f = 0, 0
  for _, thread in ipairs(threads) do
    n = n + (thread:get("exchanged") or 0)
    f = f + (thread:get("failures") or 0)
  end
  io.write(string.format("EXCHANGES %d %d\n", n, summary.duration))
  io.write(string.format("EXCHANGE_FAILURES %d\n", f))
end
