// A real upstream OpenID Provider for the integration tests: npm
// `oidc-provider`, configured from the environment, with an automatic login
// interaction (the user named by login_hint signs in at once).
//
//   OP_PORT         port on 127.0.0.1 (0 = any); the chosen one is printed
//   OP_CLIENT       JSON client metadata (client_id, client_secret, redirect_uris,
//                   ...), or an array of them
//   OP_ACCOUNTS     JSON map: login_hint (email) -> claims (must include sub)
//   OP_CLOCK_OFFSET seconds added to the OP's token clock (Date.now) only;
//                   the HTTP Date header keeps the real time
//   OP_ID_TOKEN_TTL ID token lifetime in seconds (default 300)
//
// Prints `READY <port> <kid>` once listening. Stops when stdin closes, so it
// never outlives the test process that started it.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const offset = Number(process.env.OP_CLOCK_OFFSET || 0) * 1000;
if (offset) {
  const realNow = Date.now;
  Date.now = () => realNow() + offset;
}

const parsedClients = JSON.parse(process.env.OP_CLIENT);
const clients = Array.isArray(parsedClients) ? parsedClients : [parsedClients];
const accounts = JSON.parse(process.env.OP_ACCOUNTS || '{}');
const bySub = Object.fromEntries(Object.values(accounts).map((c) => [c.sub, c]));

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = crypto.randomBytes(8).toString('hex');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.OP_PORT || 0), '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  findAccount: async (ctx, sub) => {
    const claims = bySub[sub];
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ ...claims }) };
  },
  claims: {
    openid: ['sub', 'acr', 'amr'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { IdToken: Number(process.env.OP_ID_TOKEN_TTL || 300) },
  pkce: { required: () => true },
  // The OP's SSRF guard refuses loopback addresses, and in these tests every
  // peer (the gateway's jwks_uri for private_key_jwt) is on loopback.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  enabledJWA: { clientAuthSigningAlgValues: ['ES256', 'RS256'] },
});
provider.proxy = false;
// Errors the OP explains only to its own operator; the tests show them.
for (const event of ['grant.error', 'server_error', 'authorization.error']) {
  provider.on(event, (ctx, err) => process.stderr.write(`${event}: ${err.message} ${err.error_description || ''} ${err.error_detail || ''} ${err.cause?.message || ''} ${err.cause?.cause?.message || ''}\n`));
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  try {
    if (req.url.startsWith('/interaction/')) {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params, session } = details;
      if (prompt.name === 'login') {
        const claims = accounts[params.login_hint];
        if (!claims) {
          return await provider.interactionFinished(req, res, {
            error: 'access_denied',
            error_description: `no user ${params.login_hint} at this IdP`,
          });
        }
        return await provider.interactionFinished(req, res, {
          login: { accountId: claims.sub, amr: claims.amr || ['pwd'], acr: claims.acr || 'urn:op:loa:1' },
        });
      }
      const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      grant.addOIDCScope(String(params.scope));
      const grantId = await grant.save();
      return await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return callback(req, res);
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});

process.stdout.write(`READY ${port} ${kid}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
