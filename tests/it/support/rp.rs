//! The portal side, played by a real OIDC client library: the
//! `openidconnect` crate (discovery, PKCE, code exchange, ID-token
//! validation against the JWKS), over reqwest.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};

use super::app::TestApp;
use super::browser::{Browser, Page};

#[derive(Debug)]
pub struct HttpError(String);
impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HttpError {}

/// openidconnect's async HTTP client contract over reqwest, redirects off.
pub fn http_client() -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>,
> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |req: openidconnect::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let mut builder = openidconnect::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            let body = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?.to_vec();
            builder.body(body).map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// What a portal ends up with after a successful login.
#[derive(Debug)]
pub struct PortalLogin {
    pub access_token: String,
    pub refresh_token: String,
    pub id_token: String,
    /// The ID token's claims, after the library validated signature,
    /// issuer, audience, expiry and nonce.
    pub claims: serde_json::Value,
}

pub fn decode_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// An authorization request in flight.
pub struct Pending {
    pub url: String,
    state: CsrfToken,
    nonce: Nonce,
    verifier: openidconnect::PkceCodeVerifier,
}

pub struct Rp {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect: String,
    pub alg: CoreJwsSigningAlgorithm,
}

impl Rp {
    pub fn confidential(client_id: &str, secret: &str, redirect: &str) -> Self {
        Self {
            client_id: client_id.into(),
            secret: Some(secret.into()),
            redirect: redirect.into(),
            alg: CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        }
    }

    pub fn public(client_id: &str, redirect: &str) -> Self {
        Self {
            client_id: client_id.into(),
            secret: None,
            redirect: redirect.into(),
            alg: CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        }
    }

    /// Runs the whole code flow: discovery, authorization URL with PKCE and
    /// nonce, the browser's login, state check, code exchange and ID-token
    /// validation — all by the client library.
    pub async fn login(&self, app: &TestApp, browser: &Browser, username: &str, password: &str) -> PortalLogin {
        let pending = self.begin(app).await;
        let done = browser.login(app, &pending.url, username, password).await;
        self.finish(app, pending, done).await
    }

    /// Discovery and the authorization URL (with PKCE, state and nonce).
    pub async fn begin(&self, app: &TestApp) -> Pending {
        let client = self.client(app).await;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        Pending {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    async fn client(
        &self,
        app: &TestApp,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http_client())
            .await
            .expect("discovery");
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect.clone()).unwrap())
    }

    /// Takes the browser's final redirect back to the portal: checks state
    /// and iss, exchanges the code and validates the ID token.
    pub async fn finish(&self, app: &TestApp, pending: Pending, done: Page) -> PortalLogin {
        let http = http_client();
        let client = self.client(app).await;
        assert_eq!(done.status, 303, "login did not complete: {}", done.body);
        assert!(done.location().starts_with(&self.redirect), "{}", done.location());
        assert_eq!(
            done.location_param("state").as_deref(),
            Some(pending.state.secret().as_str()),
            "state echoed"
        );
        assert_eq!(
            done.location_param("iss").as_deref(),
            Some(app.base.as_str()),
            "RFC 9207 iss"
        );
        let code = done.location_param("code").expect("code");

        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(pending.verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("id_token").clone();
        let verifier = client.id_token_verifier().set_allowed_algs(vec![self.alg.clone()]);
        let claims = id_token.claims(&verifier, &pending.nonce).expect("ID token validates");
        // at_hash binds the access token to the ID token.
        let at_hash = claims.access_token_hash().expect("at_hash");
        let expected = openidconnect::AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(at_hash, &expected);

        // The library checked these; the custom claims are read from the
        // validated token's payload.
        let jwt = id_token.to_string();
        PortalLogin {
            access_token: tokens.access_token().secret().clone(),
            refresh_token: tokens.refresh_token().expect("refresh token").secret().clone(),
            claims: decode_claims(&jwt),
            id_token: jwt,
        }
    }

    /// A refresh through the library.
    /// A refresh whose new ID token the library validates (signature,
    /// issuer, audience, expiry; a refreshed ID token carries no nonce);
    /// returns its claims and the new refresh token.
    pub async fn refresh_id_token(&self, app: &TestApp, refresh_token: &str) -> (serde_json::Value, String) {
        let http = http_client();
        let client = self.client(app).await;
        let rt = openidconnect::RefreshToken::new(refresh_token.to_string());
        let t = client
            .exchange_refresh_token(&rt)
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh");
        let id_token = t.id_token().expect("a refreshed ID token").clone();
        let verifier = client.id_token_verifier().set_allowed_algs(vec![self.alg.clone()]);
        id_token
            .claims(&verifier, |_: Option<&openidconnect::Nonce>| Ok(()))
            .expect("refreshed ID token validates");
        (
            decode_claims(&id_token.to_string()),
            t.refresh_token().expect("rotated refresh token").secret().clone(),
        )
    }

    pub async fn refresh(&self, app: &TestApp, refresh_token: &str) -> Result<(String, String), String> {
        let http = http_client();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.secret.clone().map(ClientSecret::new),
        );
        let rt = openidconnect::RefreshToken::new(refresh_token.to_string());
        match client.exchange_refresh_token(&rt).unwrap().request_async(&http).await {
            Ok(t) => Ok((
                t.access_token().secret().clone(),
                t.refresh_token().map(|r| r.secret().clone()).unwrap_or_default(),
            )),
            Err(e) => Err(match e {
                openidconnect::RequestTokenError::ServerResponse(r) => r.error().to_string(),
                other => other.to_string(),
            }),
        }
    }
}
