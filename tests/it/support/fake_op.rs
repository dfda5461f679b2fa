//! A hand-made OpenID Provider stand-in, only for faults a real provider
//! will not produce on request: an ID token with the wrong issuer, audience
//! or nonce, signed by an unpublished key, with `alg: none`, HS256, or a
//! tampered payload. Tokens are signed with the `openidconnect` crate's own
//! RSA signer, independent of the gateway's code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    WrongIssuer,
    WrongAudience,
    WrongNonce,
    UnpublishedKey,
    AlgNone,
    Hs256,
    TamperedPayload,
}

struct Inner {
    issuer: String,
    client_id: String,
    fault: Fault,
    key: CoreRsaPrivateSigningKey,
    other_key: CoreRsaPrivateSigningKey,
    /// code -> nonce
    codes: HashMap<String, String>,
}

#[derive(Clone)]
pub struct FakeOp {
    inner: Arc<Mutex<Inner>>,
    pub issuer: String,
}

fn rsa_key(kid: &str) -> CoreRsaPrivateSigningKey {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

fn b64(v: &[u8]) -> String {
    gatehouse::crypto::b64url(v)
}

impl FakeOp {
    pub async fn start(client_id: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            fault: Fault::None,
            key: rsa_key("published-key"),
            other_key: rsa_key("unpublished-key"),
            codes: HashMap::new(),
        }));
        let op = Self { inner, issuer };
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(op.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        op
    }

    pub fn set_fault(&self, f: Fault) {
        self.inner.lock().unwrap().fault = f;
    }
}

async fn discovery(State(op): State<FakeOp>) -> Json<Value> {
    let i = &op.issuer;
    Json(json!({
        "issuer": i, "authorization_endpoint": format!("{i}/authorize"), "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"), "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(op): State<FakeOp>) -> Json<Value> {
    let inner = op.inner.lock().unwrap();
    Json(
        serde_json::to_value(openidconnect::core::CoreJsonWebKeySet::new(vec![
            inner.key.as_verification_key(),
        ]))
        .unwrap(),
    )
}

async fn authorize(State(op): State<FakeOp>, Query(q): Query<HashMap<String, String>>) -> Response {
    let code = gatehouse::crypto::random_token();
    op.inner
        .lock()
        .unwrap()
        .codes
        .insert(code.clone(), q.get("nonce").cloned().unwrap_or_default());
    let target = format!(
        "{}?code={code}&state={}",
        q.get("redirect_uri").cloned().unwrap_or_default(),
        q.get("state").cloned().unwrap_or_default()
    );
    Redirect::to(&target).into_response()
}

async fn token(State(op): State<FakeOp>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut inner = op.inner.lock().unwrap();
    let Some(nonce) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fault = inner.fault;
    let mut claims = json!({
        "iss": inner.issuer, "aud": inner.client_id, "sub": "fake-user-1", "email": "eve@fake.example",
        "iat": now, "exp": now + 300, "nonce": nonce,
    });
    match fault {
        Fault::WrongIssuer => claims["iss"] = json!("https://login.someone-else.example"),
        Fault::WrongAudience => claims["aud"] = json!("another-application"),
        Fault::WrongNonce => claims["nonce"] = json!("a-nonce-from-another-login"),
        _ => {}
    }
    let (alg, kid, signer) = match fault {
        Fault::UnpublishedKey => ("RS256", "unpublished-key", Some(&inner.other_key)),
        Fault::AlgNone => ("none", "published-key", None),
        Fault::Hs256 => ("HS256", "published-key", None),
        _ => ("RS256", "published-key", Some(&inner.key)),
    };
    let header = b64(json!({"alg": alg, "kid": kid, "typ": "JWT"}).to_string().as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = match signer {
        Some(k) => b64(&k
            .sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes())
            .unwrap()),
        None if alg == "HS256" => {
            // Keyed with the public modulus, the classic RS/HS confusion.
            let jwk = serde_json::to_value(inner.key.as_verification_key()).unwrap();
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwk["n"].as_str().unwrap().as_bytes());
            b64(ring::hmac::sign(&key, input.as_bytes()).as_ref())
        }
        None => String::new(),
    };
    let mut id_token = format!("{input}.{sig}");
    if fault == Fault::TamperedPayload {
        claims["sub"] = json!("admin");
        id_token = format!("{header}.{}.{sig}", b64(claims.to_string().as_bytes()));
    }
    drop(inner);
    Json(json!({"access_token": "fake-at", "token_type": "Bearer", "id_token": id_token})).into_response()
}
