//! The application shell: builds every component from a `Config`, binds the
//! listener and serves. `App::build` is what `gatehouse serve` and the
//! integration tests both use, so tests exercise the real wiring.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::accounts::{Accounts, password};
use crate::audit::Audit;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, SessionBackend, SigningAlg};
use crate::crypto::Mac;
use crate::federation::{self, Federation};
use crate::flow::health::Health;
use crate::provider::{Provider, keys};
use crate::session::SessionStore;
use crate::store::{self, kv::Kv, sql::Sql};
use crate::telemetry;

/// Shared state handed to every handler: one `Arc`, so the per-request
/// clone axum makes is a reference count, not a copy of every component
/// (the profile of `/auth/verify` showed that copy at 5% of the time).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shared {
    pub provider: Provider,
    pub federation: Federation,
    pub sql: Sql,
    pub mac: Mac,
    pub https: bool,
    pub metrics: PrometheusHandle,
    pub health: Health,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("keys: {0}")]
    Keys(#[from] keys::Error),
    #[error("password hashing: {0}")]
    Password(#[from] password::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("start-up task failed")]
    Join,
    #[error("MFA delivery: {0}")]
    Delivery(String),
    #[error("SAML SP key: {0}")]
    SamlKey(String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The stores and domain services, without HTTP: what CLI commands need.
#[derive(Clone, Debug)]
pub struct Components {
    pub cfg: Arc<Config>,
    pub sql: Sql,
    pub kv: Kv,
    pub accounts: Accounts,
    pub sessions: SessionStore,
    pub audit: Audit,
    pub clock: SharedClock,
}

impl Components {
    pub async fn open(cfg: Config, clock: SharedClock) -> Result<Self, BuildError> {
        let cfg = Arc::new(cfg);
        let sql = Sql::connect(&cfg.store.url)
            .await?
            .with_account_cache(cfg.store.account_cache);
        let kv = match &cfg.session.backend {
            SessionBackend::Memory => Kv::memory(&cfg.session.key_prefix),
            SessionBackend::Redis { url } => Kv::redis(url, &cfg.session.key_prefix, cfg.session.redis_timeout)?,
        };
        let pw_cfg = cfg.password.clone();
        let hasher = tokio::task::spawn_blocking(move || password::Hasher::new(&pw_cfg))
            .await
            .map_err(|_| BuildError::Join)??;
        let accounts = Accounts::new(
            sql.clone(),
            hasher,
            cfg.lockout.clone(),
            cfg.password.clone(),
            clock.clone(),
        )
        .with_org_policies(&cfg.orgs);
        let sessions = SessionStore::new(
            kv.clone(),
            sql.clone(),
            cfg.session.idle_timeout,
            cfg.session.absolute_timeout,
            clock.clone(),
        )
        // A code redeemed at the session's last moment starts a family
        // that lives a refresh lifetime, and its last access token beyond.
        .with_token_lifetime(
            cfg.tokens.code_lifetime + cfg.tokens.refresh_token_lifetime + cfg.tokens.access_token_lifetime,
        );
        let audit = Audit::new(sql.clone(), clock.clone());
        Ok(Self {
            cfg,
            sql,
            kv,
            accounts,
            sessions,
            audit,
            clock,
        })
    }
}

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
}

/// Redacts the password in a redis URL for logging.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparseable url)".into(),
    }
}

impl App {
    /// Builds the gateway and binds `server.listen`.
    pub async fn build(cfg: Config) -> Result<Self, BuildError> {
        let addr = cfg.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BuildError::Bind { addr, source })?;
        Self::build_with(cfg, listener, Arc::new(SystemClock)).await
    }

    /// Builds on an already-bound listener with the given clock (tests bind
    /// port 0 and inject a manual clock).
    pub async fn build_with(cfg: Config, listener: TcpListener, clock: SharedClock) -> Result<Self, BuildError> {
        let started = Instant::now();
        // One TLS crypto provider for every client (ring; see ARCHITECTURE.md).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = Components::open(cfg, clock.clone()).await?;
        let mut needed = vec![SigningAlg::Es256];
        if c.cfg.portals.iter().any(|p| p.signing_alg == SigningAlg::Rs256) {
            needed.push(SigningAlg::Rs256);
        }
        let dir = c.cfg.keys.dir.clone();
        let now = clock.now();
        let (keyset, secret, seal) = tokio::task::spawn_blocking(move || -> Result<_, keys::Error> {
            Ok((
                keys::KeySet::load_or_generate(&dir, &needed, now)?,
                keys::load_or_generate_secret(&dir)?,
                keys::load_or_generate_named_secret(&dir, "mfa-seal.key")?,
            ))
        })
        .await
        .map_err(|_| BuildError::Join)??;

        match &c.cfg.session.backend {
            SessionBackend::Memory => tracing::warn!(
                "session store: in-process memory — single node only, sessions are lost on restart; set [session] store = \"redis\" for production"
            ),
            SessionBackend::Redis { url } => {
                tracing::info!(url = %redact_url(url), prefix = %c.cfg.session.key_prefix, "session store: redis");
                if let Err(e) = c.kv.ping().await {
                    tracing::warn!(error = %e, "redis is not reachable yet; /readyz will report it until it is");
                }
            }
        }
        let https = c.cfg.server.is_https();
        let mut seal_key = [0u8; 32];
        seal_key.copy_from_slice(&seal[..32]);
        let delivery = crate::mfa::delivery::Delivery::new(c.cfg.mfa.email.as_ref(), c.cfg.mfa.sms.as_ref())
            .map_err(BuildError::Delivery)?;
        let limits = crate::mfa::otp::Limits {
            lifetime: c.cfg.mfa.code_lifetime,
            attempts: c.cfg.mfa.code_attempts,
            cooldown: c.cfg.mfa.resend_cooldown,
            per_hour: c.cfg.mfa.sends_per_hour,
            per_ip_hour: c.cfg.mfa.sends_per_hour.saturating_mul(4),
        };
        let mfa = crate::mfa::Mfa::new(
            c.sql.clone(),
            c.kv.clone(),
            delivery,
            limits,
            crate::mfa::Sealer::new(&seal_key),
            Mac::new(&secret),
            clock.clone(),
            c.cfg.mfa.totp_issuer.clone(),
        );
        let webauthn = match crate::mfa::webauthn::relying_party(&c.cfg.server.public_url, "gatehouse") {
            Ok(w) => Some(Arc::new(w)),
            Err(e) => {
                tracing::warn!(error = %e, "passkeys are off: WebAuthn needs public_url on a domain name (e.g. http://localhost:8080)");
                None
            }
        };
        let provider = Provider {
            webauthn,
            mfa,
            cfg: c.cfg.clone(),
            keys: Arc::new(keyset),
            kv: c.kv.clone(),
            accounts: c.accounts.clone(),
            sessions: c.sessions.clone(),
            audit: c.audit.clone(),
            clock,
        };
        let http = federation::http_client(std::time::Duration::from_secs(10))?;
        let sp = if Federation::needs_sp(&c.cfg) {
            let dir = c.cfg.keys.dir.clone();
            let name = c.cfg.server.issuer();
            let sp =
                tokio::task::spawn_blocking(move || federation::saml::sp::SpIdentity::load_or_generate(&dir, &name))
                    .await
                    .map_err(|_| BuildError::Join)?
                    .map_err(BuildError::SamlKey)?;
            Some(Arc::new(sp))
        } else {
            None
        };
        let federation = Federation::new(&c.cfg, http.clone(), sp);
        federation.spawn_refresh();
        let health = Health::new(c.sql.clone(), c.clock.clone(), c.cfg.clone(), http, c.audit.clone());
        health.spawn();
        health.spawn_notice_refresh();
        health.spawn_certificate_watch(federation.clone());
        let state = AppState(Arc::new(Shared {
            federation,
            provider,
            sql: c.sql.clone(),
            mac: Mac::new(&secret),
            https,
            metrics: telemetry::metrics_handle(),
            health,
        }));
        let router = crate::http::router(state.clone());
        let app = Self {
            listener,
            router,
            state,
        };
        tracing::info!(
            listen = %app.local_addr(),
            issuer = %c.cfg.server.issuer(),
            store = %c.cfg.store.url,
            keys = app.state.provider.keys.keys().len(),
            password_hashing = %c.accounts.hasher().describe(),
            startup_ms = started.elapsed().as_millis() as u64,
            "gatehouse ready"
        );
        Ok(app)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
