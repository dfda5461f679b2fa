//! We are the relying party / service provider upstream: each organization
//! may bring its own identity provider. This module owns the connections
//! (discovery, keys, token exchange, validation) and turns an IdP's answer
//! into a verified `Assertion` — or an error that names what was expected and
//! what arrived. It knows nothing of HTTP handlers, sessions or portals.

pub mod oidc;
pub mod saml;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, Connection};

/// What an upstream IdP vouched for, after every check passed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Assertion {
    /// "oidc" or "saml".
    pub via: String,
    pub org_id: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub auth_time: Option<i64>,
}

/// Every organization's connection, by org id.
#[derive(Clone, Debug, Default)]
pub struct Federation {
    oidc: HashMap<String, Arc<oidc::Connection>>,
    saml: HashMap<String, Arc<saml::Connection>>,
    sp: Option<Arc<saml::sp::SpIdentity>>,
}

impl Federation {
    pub fn new(cfg: &Config, http: reqwest::Client, sp: Option<Arc<saml::sp::SpIdentity>>) -> Self {
        let mut oidc = HashMap::new();
        let mut saml = HashMap::new();
        for org in &cfg.orgs {
            match &org.connection {
                Some(Connection::Oidc(c)) => {
                    oidc.insert(
                        org.id.clone(),
                        Arc::new(oidc::Connection::new(&org.id, c.clone(), http.clone())),
                    );
                }
                Some(Connection::Saml(c)) => {
                    saml.insert(
                        org.id.clone(),
                        Arc::new(saml::Connection::new(
                            &org.id,
                            c.clone(),
                            &cfg.server.issuer(),
                            http.clone(),
                        )),
                    );
                }
                None => {}
            }
        }
        Self { oidc, saml, sp }
    }

    pub fn saml(&self, org_id: &str) -> Option<&Arc<saml::Connection>> {
        self.saml.get(org_id)
    }

    /// Every SAML connection, by org id.
    pub fn saml_connections(&self) -> impl Iterator<Item = (&String, &Arc<saml::Connection>)> {
        self.saml.iter()
    }

    pub fn sp(&self) -> Option<&Arc<saml::sp::SpIdentity>> {
        self.sp.as_ref()
    }

    /// Whether any organization federates over SAML (then the gateway needs
    /// an SP key).
    pub fn needs_sp(cfg: &Config) -> bool {
        cfg.orgs
            .iter()
            .any(|o| matches!(o.connection, Some(Connection::Saml(_))))
    }

    pub fn oidc(&self, org_id: &str) -> Option<&Arc<oidc::Connection>> {
        self.oidc.get(org_id)
    }

    pub fn has_connection(&self, org_id: &str) -> bool {
        self.oidc.contains_key(org_id) || self.saml.contains_key(org_id)
    }

    /// Keeps discovery documents and key sets fresh in the background, each
    /// on its connection's own schedule; failures are logged and the last
    /// good copy kept.
    pub fn spawn_refresh(&self) {
        for conn in self.oidc.values() {
            let conn = conn.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = conn.refresh().await {
                        tracing::warn!(org = %conn.org_id, error = %e, "IdP discovery refresh failed; keeping the last good copy");
                    }
                    tokio::time::sleep(conn.refresh_interval()).await;
                }
            });
        }
        for conn in self.saml.values() {
            let conn = conn.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = conn.refresh().await {
                        tracing::error!(org = %conn.org_id, error = %e, "SAML metadata refresh failed; keeping the last good copy");
                    }
                    tokio::time::sleep(conn.refresh_interval()).await;
                }
            });
        }
    }
}

/// The upstream HTTP client: ring-backed rustls, no redirects followed (an
/// IdP endpoint that redirects is misconfigured, and following it would let
/// it point us anywhere), bounded time.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
}
