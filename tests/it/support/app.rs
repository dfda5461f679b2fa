//! `TestApp`: the real gateway, built with `App::build_with` on port 0,
//! against a real Redis with its own key prefix, a temporary SQLite file and
//! key folder, and a manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use gatehouse::accounts::{Account, NewAccount, Password};
use gatehouse::app::{App, AppState};
use gatehouse::clock::ManualClock;
use gatehouse::config::{AccountType, Config};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::redis;

pub const PORTAL: &str = "test-portal";
pub const PORTAL_SECRET: &str = "test-portal-secret-0123456789";
pub const PORTAL_CALLBACK: &str = "http://127.0.0.1:9/callback";
pub const PORTAL_LOGOUT: &str = "http://127.0.0.1:9/signed-out";
pub const PUBLIC_PORTAL: &str = "public-portal";
pub const PUBLIC_CALLBACK: &str = "http://127.0.0.1:9/public/callback";
pub const MEMBER_PORTAL: &str = "member-portal";
pub const MEMBER_CALLBACK: &str = "http://127.0.0.1:9/member/callback";
pub const RSA_PORTAL: &str = "rsa-portal";
pub const RSA_CALLBACK: &str = "http://127.0.0.1:9/rsa/callback";
pub const SECURE_PORTAL: &str = "claims-portal";
pub const SECURE_SECRET: &str = "claims-portal-secret-0123456789";
pub const SECURE_CALLBACK: &str = "http://127.0.0.1:9/claims/callback";
pub const PASSWORD: &str = "correct horse battery staple";

/// Where the per-test files live; kept so a restarted app sees the same
/// database and keys.
pub struct Workspace {
    /// The host in public_url: 127.0.0.1, or localhost where WebAuthn is
    /// needed (browsers refuse it on an IP-address origin).
    pub public_host: &'static str,
    pub dir: tempfile::TempDir,
    pub prefix: String,
    pub redis_url: String,
}

impl Workspace {
    pub fn new() -> Self {
        Self::with_redis(redis::shared().url())
    }

    pub fn with_redis(redis_url: String) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        Self {
            public_host: "127.0.0.1",
            dir: tempfile::tempdir().unwrap(),
            prefix: format!("t{}-{}:", std::process::id(), N.fetch_add(1, Ordering::SeqCst)),
            redis_url,
        }
    }

    pub fn config(&self, port: u16, extra: &str) -> Config {
        Config::from_toml_str("test", &self.config_text(port, extra), Vec::new())
            .map_err(|e| e.report())
            .unwrap()
    }

    /// The configuration as a file would hold it (for the CLI against a
    /// running test app's store).
    pub fn config_text(&self, port: u16, extra: &str) -> String {
        let d = self.dir.path().display();
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://{host}:{port}"
[log]
level = "warn"
[session]
store = "redis"
redis_url = "{redis}"
key_prefix = "{prefix}"
idle_timeout = "30m"
absolute_timeout = "12h"
redis_timeout = "1s"
[store]
url = "sqlite://{d}/gatehouse.db"
[keys]
dir = "{d}/certs"
[password]
# Cheaper than production so the suite stays fast; the parameters are
# exercised the same way.
argon2_memory_kib = 4096
argon2_iterations = 1
argon2_parallelism = 1
[lockout]
max_failures = 3
window = "10m"
duration = "15m"

[[portal]]
client_id = "{PORTAL}"
name = "Provider Portal"
client_secret = "{PORTAL_SECRET}"
redirect_uris = ["{PORTAL_CALLBACK}"]
post_logout_redirect_uris = ["{PORTAL_LOGOUT}"]
account_types = ["provider"]

[[portal]]
client_id = "{PUBLIC_PORTAL}"
name = "Public Portal"
redirect_uris = ["{PUBLIC_CALLBACK}"]
account_types = ["provider", "member"]

[[portal]]
client_id = "{MEMBER_PORTAL}"
name = "Member Portal"
client_secret = "member-portal-secret-0123456789"
redirect_uris = ["{MEMBER_CALLBACK}"]
account_types = ["member"]
login_url = "http://127.0.0.1:9/member/"

[[portal]]
client_id = "{RSA_PORTAL}"
name = "Legacy Portal"
client_secret = "rsa-portal-secret-0123456789"
redirect_uris = ["{RSA_CALLBACK}"]
account_types = ["provider"]
id_token_signed_response_alg = "RS256"

[[portal]]
client_id = "{SECURE_PORTAL}"
name = "Claims Portal"
client_secret = "{SECURE_SECRET}"
redirect_uris = ["{SECURE_CALLBACK}"]
account_types = ["provider"]
mfa = "required"

[[org]]
id = "northside-clinic"
name = "Northside Clinic"
email_domains = ["northside.example"]
# The portals' own `mfa` settings decide in most tests; MFA tests use the
# claims portal (mfa = "required") and orgs with their own policies.
mfa = "portal"
{extra}
"#,
            redis = self.redis_url,
            host = self.public_host,
            prefix = self.prefix,
        )
    }
}

pub struct Bound {
    listener: TcpListener,
    pub port: u16,
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(ws: &Workspace) -> Self {
        Self::spawn_with(ws, "").await
    }

    pub async fn spawn_with(ws: &Workspace, extra: &str) -> Self {
        Self::start(ws, Self::bind().await, extra).await
    }

    /// Binds the gateway's port first, for peers that must know it before
    /// the gateway's configuration can be written (an upstream IdP's
    /// redirect URI).
    pub async fn bind() -> Bound {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Bound { listener, port }
    }

    pub async fn start(ws: &Workspace, bound: Bound, extra: &str) -> Self {
        let cfg = ws.config(bound.port, extra);
        Self::start_config(bound, cfg).await
    }

    /// Starts on a configuration the test has adjusted after parsing (for
    /// settings inside sections the base configuration already opens).
    pub async fn start_config(bound: Bound, cfg: Config) -> Self {
        let Bound { listener, .. } = bound;
        let clock = ManualClock::new();
        let app = App::build_with(cfg, listener, clock.clone()).await.unwrap();
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            state,
            clock,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops serving and waits for the server task to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s).await;
        }
    }

    pub async fn create_account(
        &self,
        username: &str,
        account_type: AccountType,
        org: Option<&str>,
        roles: &[&str],
    ) -> Account {
        self.state
            .provider
            .accounts
            .create(
                NewAccount {
                    username: username.into(),
                    email: if username.contains('@') {
                        username.to_string()
                    } else {
                        format!("{username}@northside.example")
                    },
                    phone: None,
                    account_type,
                    org: org.map(String::from),
                    roles: roles.iter().map(|r| r.to_string()).collect(),
                    password: Password::new(PASSWORD),
                },
                &self.state.provider.cfg.orgs,
                "test",
            )
            .await
            .unwrap()
    }

    pub async fn provider_account(&self, username: &str) -> Account {
        self.create_account(
            username,
            AccountType::Provider,
            Some("northside-clinic"),
            &["clinician", "billing"],
        )
        .await
    }

    /// Audit events with this reference, as stored.
    pub async fn events(&self, reference: &str) -> Vec<gatehouse::store::sql::AuditRecord> {
        self.state.sql.audit_by_reference(reference).await.unwrap()
    }

    pub async fn recent_events(&self) -> Vec<gatehouse::store::sql::AuditRecord> {
        self.state.sql.recent_audit(100).await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
