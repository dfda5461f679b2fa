//! One organization's OpenID Connect IdP: discovery (cached, refreshed on a
//! schedule), its key set (refreshed at most once per kid miss, rate
//! limited), the authorization URL, the code exchange with PKCE, userinfo,
//! and mapping of the validated claims to an `Assertion`.

pub mod error;
pub mod explain;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, RwLock};

use crate::config::{OidcConnection, TokenEndpointAuth};
use crate::crypto;

pub use error::Error;

use super::Assertion;

/// Discovery document fields we use, and the key set.
#[derive(Debug)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    pub jwks: CoreJsonWebKeySet,
    pub fetched_at: Instant,
}

/// What the token endpoint returned, and when the IdP said it was.
#[derive(Debug)]
pub struct TokenAnswer {
    pub id_token: String,
    pub access_token: Option<String>,
    pub idp_date: Option<i64>,
}

#[derive(Debug)]
pub struct Connection {
    pub org_id: String,
    pub cfg: OidcConnection,
    http: reqwest::Client,
    current: RwLock<Option<Arc<Discovered>>>,
    last_key_refresh: Mutex<Option<Instant>>,
}

/// Keys are re-fetched on an unknown kid at most this often, so a flood of
/// forged kids cannot turn the gateway into a load generator against the IdP.
const KEY_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(5);

fn unreachable(endpoint: &str, e: reqwest::Error) -> Error {
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    Error::Unreachable {
        endpoint: endpoint.to_string(),
        cause,
    }
}

/// Reads a JSON answer; an error status becomes `IdpError` with the IdP's
/// own `error` / `error_description` when it sent them.
async fn json_answer(endpoint: &str, resp: reqwest::Response) -> Result<(Value, Option<i64>), Error> {
    let status = resp.status().as_u16();
    let date = resp
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let body = resp.bytes().await.map_err(|e| unreachable(endpoint, e))?;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if !(200..300).contains(&status) {
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut description = field("error_description");
        if parsed.is_none() {
            description = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        }
        return Err(Error::IdpError {
            endpoint: endpoint.to_string(),
            status,
            error: field("error"),
            description,
        });
    }
    let value = parsed.ok_or_else(|| Error::IdpError {
        endpoint: endpoint.to_string(),
        status,
        error: "invalid_response".into(),
        description: "the answer is not JSON".into(),
    })?;
    Ok((value, date))
}

impl Connection {
    pub fn new(org_id: &str, cfg: OidcConnection, http: reqwest::Client) -> Self {
        Self {
            org_id: org_id.to_string(),
            cfg,
            http,
            current: RwLock::new(None),
            last_key_refresh: Mutex::new(None),
        }
    }

    pub fn refresh_interval(&self) -> Duration {
        self.cfg.discovery_refresh
    }

    async fn get_json(&self, url: &str) -> Result<Value, Error> {
        let resp = self.http.get(url).send().await.map_err(|e| unreachable(url, e))?;
        json_answer(url, resp).await.map(|(v, _)| v)
    }

    async fn fetch_jwks(&self, uri: &str) -> Result<CoreJsonWebKeySet, Error> {
        let v = self.get_json(uri).await?;
        serde_json::from_value(v).map_err(|e| Error::IdpError {
            endpoint: uri.to_string(),
            status: 200,
            error: "invalid_jwks".into(),
            description: e.to_string(),
        })
    }

    /// Fetches discovery and keys afresh. The issuer in the document must
    /// be exactly the configured one (OIDC Discovery §4.3).
    pub async fn refresh(&self) -> Result<Arc<Discovered>, Error> {
        let url = format!("{}/.well-known/openid-configuration", self.cfg.issuer);
        let doc = self.get_json(&url).await?;
        let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
        let issuer = field("issuer").unwrap_or_default();
        if issuer != self.cfg.issuer {
            return Err(Error::IssuerMismatch {
                expected: self.cfg.issuer.clone(),
                actual: format!("{issuer} (in the discovery document)"),
            });
        }
        let missing = |k: &str| Error::IdpError {
            endpoint: url.clone(),
            status: 200,
            error: "invalid_discovery".into(),
            description: format!("the discovery document has no {k}"),
        };
        let jwks_uri = field("jwks_uri").ok_or_else(|| missing("jwks_uri"))?;
        let jwks = self.fetch_jwks(&jwks_uri).await?;
        let d = Arc::new(Discovered {
            issuer,
            authorization_endpoint: field("authorization_endpoint").ok_or_else(|| missing("authorization_endpoint"))?,
            token_endpoint: field("token_endpoint").ok_or_else(|| missing("token_endpoint"))?,
            userinfo_endpoint: field("userinfo_endpoint"),
            jwks_uri,
            jwks,
            fetched_at: Instant::now(),
        });
        *self.current.write().await = Some(d.clone());
        tracing::info!(org = %self.org_id, issuer = %d.issuer, keys = d.jwks.keys().len(), "IdP discovery loaded");
        Ok(d)
    }

    /// The cached discovery, fetched on first use or when stale.
    pub async fn discovered(&self) -> Result<Arc<Discovered>, Error> {
        if let Some(d) = self.current.read().await.clone()
            && d.fetched_at.elapsed() < self.cfg.discovery_refresh
        {
            return Ok(d);
        }
        match self.refresh().await {
            Ok(d) => Ok(d),
            // Keep serving the last good copy while the IdP's discovery is down.
            Err(e) => self.current.read().await.clone().ok_or(e),
        }
    }

    /// Re-fetches the key set after an unknown kid, unless that happened
    /// moments ago.
    async fn refresh_keys(&self, d: &Discovered) -> Result<Option<Arc<Discovered>>, Error> {
        let mut last = self.last_key_refresh.lock().await;
        if last.is_some_and(|t| t.elapsed() < KEY_REFRESH_MIN_INTERVAL) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        let jwks = self.fetch_jwks(&d.jwks_uri).await?;
        let fresh = Arc::new(Discovered {
            issuer: d.issuer.clone(),
            authorization_endpoint: d.authorization_endpoint.clone(),
            token_endpoint: d.token_endpoint.clone(),
            userinfo_endpoint: d.userinfo_endpoint.clone(),
            jwks_uri: d.jwks_uri.clone(),
            jwks,
            fetched_at: d.fetched_at,
        });
        *self.current.write().await = Some(fresh.clone());
        tracing::info!(org = %self.org_id, kids = ?validate::known_kids(&fresh.jwks), "IdP keys refreshed after an unknown kid");
        Ok(Some(fresh))
    }

    pub fn authorization_url(
        &self,
        d: &Discovered,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
        login_hint: Option<&str>,
    ) -> String {
        let mut pairs = vec![
            ("response_type", "code".to_string()),
            ("client_id", self.cfg.client_id.clone()),
            ("redirect_uri", redirect_uri.to_string()),
            ("scope", self.cfg.scopes.join(" ")),
            ("state", state.to_string()),
            ("nonce", nonce.to_string()),
            ("code_challenge", challenge.to_string()),
            ("code_challenge_method", "S256".to_string()),
        ];
        if let Some(h) = login_hint {
            pairs.push(("login_hint", h.to_string()));
        }
        crate::provider::authorize::append_query(&d.authorization_endpoint, &pairs)
    }

    /// Redeems the upstream code. `sign` signs a client assertion for
    /// `private_key_jwt`.
    pub async fn exchange(
        &self,
        d: &Discovered,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        now: i64,
        sign: &(dyn Fn(&Value) -> Option<String> + Send + Sync),
    ) -> Result<TokenAnswer, Error> {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
            ("code_verifier", verifier.to_string()),
        ];
        let mut req = self.http.post(&d.token_endpoint);
        match self.cfg.token_endpoint_auth {
            TokenEndpointAuth::ClientSecretBasic => {
                // RFC 6749 §2.3.1: form-encode before Basic.
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let secret = self
                    .cfg
                    .client_secret
                    .as_ref()
                    .map(|s| enc(s.expose()))
                    .unwrap_or_default();
                req = req.basic_auth(enc(&self.cfg.client_id), Some(secret));
            }
            TokenEndpointAuth::ClientSecretPost => {
                form.push(("client_id", self.cfg.client_id.clone()));
                form.push((
                    "client_secret",
                    self.cfg
                        .client_secret
                        .as_ref()
                        .map(|s| s.expose().to_string())
                        .unwrap_or_default(),
                ));
            }
            TokenEndpointAuth::PrivateKeyJwt => {
                let assertion = sign(&json!({
                    "iss": self.cfg.client_id, "sub": self.cfg.client_id, "aud": d.token_endpoint,
                    "jti": crypto::random_token(), "iat": now, "exp": now + 60,
                }))
                .ok_or_else(|| Error::IdpError {
                    endpoint: d.token_endpoint.clone(),
                    status: 0,
                    error: "client_assertion".into(),
                    description: "the gateway could not sign its client assertion".into(),
                })?;
                form.push(("client_id", self.cfg.client_id.clone()));
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push(("client_assertion", assertion));
            }
        }
        let resp = req
            .form(&form)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unreachable(&d.token_endpoint, e))?;
        let (v, idp_date) = json_answer(&d.token_endpoint, resp).await?;
        let id_token = v
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::IdpError {
                endpoint: d.token_endpoint.clone(),
                status: 200,
                error: "no_id_token".into(),
                description: "the token response carries no id_token (is `openid` in scope?)".into(),
            })?
            .to_string();
        Ok(TokenAnswer {
            id_token,
            access_token: v.get("access_token").and_then(Value::as_str).map(String::from),
            idp_date,
        })
    }

    /// Validates the ID token, refreshing the key set once on an unknown kid.
    pub async fn verify_id_token(
        &self,
        d: Arc<Discovered>,
        jwt: &str,
        nonce: &str,
        now: i64,
        idp_date: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let parsed = validate::parse(jwt)?;
        let mut keys = d;
        match validate::verify_signature(&parsed, &keys.jwks, &self.cfg.signing_algs) {
            Ok(()) => {}
            Err(Error::KeyUnknown { .. }) => {
                if let Some(fresh) = self.refresh_keys(&keys).await? {
                    keys = fresh;
                }
                validate::verify_signature(&parsed, &keys.jwks, &self.cfg.signing_algs)?;
            }
            Err(e) => return Err(e),
        }
        validate::check_claims(
            &parsed.claims,
            &validate::Expect {
                issuer: &self.cfg.issuer,
                client_id: &self.cfg.client_id,
                nonce,
                allowed_skew: self.cfg.allowed_clock_skew.as_secs() as i64,
                algs: &self.cfg.signing_algs,
                now,
                idp_date,
            },
        )?;
        Ok(parsed.claims)
    }

    /// Userinfo claims; their `sub` must be the ID token's (OIDC Core §5.3.2).
    pub async fn userinfo(&self, d: &Discovered, access_token: &str, sub: &str) -> Result<Map<String, Value>, Error> {
        let Some(endpoint) = &d.userinfo_endpoint else {
            return Ok(Map::new());
        };
        let resp = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| unreachable(endpoint, e))?;
        let (v, _) = json_answer(endpoint, resp).await?;
        let Value::Object(m) = v else {
            return Ok(Map::new());
        };
        if m.get("sub").and_then(Value::as_str) != Some(sub) {
            return Err(Error::IdpError {
                endpoint: endpoint.clone(),
                status: 200,
                error: "userinfo_subject_mismatch".into(),
                description: "userinfo answered for another subject than the ID token".into(),
            });
        }
        Ok(m)
    }

    /// Maps validated claims to an `Assertion`, enforcing required claims.
    pub fn assertion(&self, claims: &Map<String, Value>) -> Result<Assertion, Error> {
        let present: Vec<String> = claims.keys().cloned().collect();
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(String::from)
        };
        for required in &self.cfg.required_claims {
            let ok = match claims.get(required) {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if !ok {
                return Err(Error::ClaimMissing {
                    claim: required.clone(),
                    present,
                });
            }
        }
        let map = &self.cfg.claims;
        let subject = text(&map.subject).ok_or_else(|| Error::ClaimMissing {
            claim: map.subject.clone(),
            present: present.clone(),
        })?;
        let strings = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
                Some(Value::String(s)) => s
                    .split([' ', ','])
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect(),
                _ => Vec::new(),
            }
        };
        let roles = map.roles.as_deref().map(|r| strings(claims.get(r))).unwrap_or_default();
        Ok(Assertion {
            via: "oidc".into(),
            org_id: self.org_id.clone(),
            issuer: self.cfg.issuer.clone(),
            subject,
            email: text(&map.email),
            name: text(&map.name),
            roles,
            amr: strings(claims.get("amr")),
            acr: text("acr"),
            auth_time: claims.get("auth_time").and_then(Value::as_i64),
        })
    }
}
