//! Test support: real Redis, the real gateway, a browser, a real OIDC client.

pub mod admin;
pub mod app;
pub mod browser;
pub mod fake_op;
pub mod op;
pub mod peer;
pub mod redis;
pub mod rp;
pub mod saml_idp;
pub mod sinks;

/// A PKCE pair for tests that drive the endpoints by hand.
pub fn pkce() -> (String, String) {
    let verifier = gatehouse::crypto::random_token();
    let challenge = gatehouse::crypto::b64url(&gatehouse::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// An authorization URL for `client_id` built by hand (for bad-input tests).
pub fn authorize_url(
    app: &app::TestApp,
    client_id: &str,
    redirect: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut u = url::Url::parse(&app.url("/oauth2/authorize")).unwrap();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email")
            .append_pair("state", "st-123")
            .append_pair("nonce", "n-456")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

/// What an authenticator app shows at `at` for a base32 secret.
pub fn totp_code(secret_base32: &str, at: i64) -> String {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(totp_rs::Secret::try_from_base32(secret_base32).unwrap())
        .build()
        .unwrap()
        .generate(at as u64)
        .to_string()
}

/// Runs a Node script from tests/peers (a browser or peer driver) with the
/// given environment, off the async runtime; returns its output.
pub async fn run_node(script: &str, env: Vec<(&'static str, String)>) -> std::process::Output {
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(path)
            .envs(env)
            .output()
            .expect("node runs (scripts/deps.sh test installs chromium and playwright-core)")
    })
    .await
    .unwrap()
}
