//! One organization's SAML 2.0 IdP, with the gateway as SP: metadata by URL
//! (refreshed on a schedule, last good copy kept) or by file, AuthnRequests,
//! and judging responses (`validate`). Metadata without a signing
//! certificate is refused: with it, nothing could be verified.

pub mod decrypt;
pub mod error;
pub mod explain;
pub mod metadata;
pub mod sp;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use crate::config::{MetadataSource, SamlConnection};

pub use error::Error;
use metadata::IdpMetadata;

#[derive(Debug)]
pub struct Connection {
    pub org_id: String,
    pub cfg: SamlConnection,
    pub sp_entity_id: String,
    pub acs_url: String,
    http: reqwest::Client,
    current: RwLock<Option<(Arc<IdpMetadata>, Instant)>>,
}

impl Connection {
    pub fn new(org_id: &str, cfg: SamlConnection, public_url: &str, http: reqwest::Client) -> Self {
        let sp_entity_id = cfg
            .sp_entity_id
            .clone()
            .unwrap_or_else(|| format!("{public_url}/sso/saml/{org_id}/metadata"));
        let acs_url = cfg
            .acs_url
            .clone()
            .unwrap_or_else(|| format!("{public_url}/sso/saml/{org_id}/acs"));
        Self {
            org_id: org_id.to_string(),
            cfg,
            sp_entity_id,
            acs_url,
            http,
            current: RwLock::new(None),
        }
    }

    pub fn refresh_interval(&self) -> Duration {
        self.cfg.metadata_refresh
    }

    fn source_name(&self) -> String {
        match &self.cfg.metadata {
            MetadataSource::Url(u) => u.clone(),
            MetadataSource::File(f) => f.display().to_string(),
        }
    }

    /// Loads the metadata afresh. A copy without signing certificates is
    /// refused and the last good one kept.
    pub async fn refresh(&self) -> Result<Arc<IdpMetadata>, Error> {
        let unavailable = |cause: String| Error::MetadataUnavailable {
            source_of: self.source_name(),
            cause,
        };
        let xml = match &self.cfg.metadata {
            MetadataSource::Url(u) => {
                let resp = self.http.get(u).send().await.map_err(|e| unavailable(e.to_string()))?;
                if !resp.status().is_success() {
                    return Err(unavailable(format!("HTTP {}", resp.status())));
                }
                resp.text().await.map_err(|e| unavailable(e.to_string()))?
            }
            MetadataSource::File(f) => tokio::fs::read_to_string(f)
                .await
                .map_err(|e| unavailable(e.to_string()))?,
        };
        let parsed = tokio::task::spawn_blocking(move || IdpMetadata::parse(&xml))
            .await
            .map_err(|_| unavailable("metadata parsing did not complete".into()))?
            .map_err(unavailable)?;
        if parsed.certs.is_empty() {
            return Err(unavailable(
                "the metadata has no signing certificate; refused (no signature could be checked)".into(),
            ));
        }
        let fresh = Arc::new(parsed);
        let mut current = self.current.write().await;
        if let Some((old, _)) = current.as_ref() {
            let added: Vec<&str> = fresh
                .certs
                .iter()
                .filter(|c| !old.certs.contains(c))
                .map(|c| c.sha256.as_str())
                .collect();
            let removed: Vec<&str> = old
                .certs
                .iter()
                .filter(|c| !fresh.certs.contains(c))
                .map(|c| c.sha256.as_str())
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                tracing::warn!(org = %self.org_id, ?added, ?removed, "IdP signing certificates changed in metadata");
            }
        }
        *current = Some((fresh.clone(), Instant::now()));
        tracing::info!(org = %self.org_id, entity_id = %fresh.entity_id, certs = fresh.certs.len(), "SAML IdP metadata loaded");
        Ok(fresh)
    }

    /// The cached metadata, reloaded when older than `metadata_refresh`;
    /// while the source is down the last good copy is used.
    pub async fn metadata(&self) -> Result<Arc<IdpMetadata>, Error> {
        if let Some((m, at)) = self.current.read().await.clone()
            && at.elapsed() < self.cfg.metadata_refresh
        {
            return Ok(m);
        }
        match self.refresh().await {
            Ok(m) => Ok(m),
            Err(e) => match self.current.read().await.clone() {
                Some((m, _)) => {
                    tracing::warn!(org = %self.org_id, error = %e, "metadata refresh failed; using the last good copy");
                    Ok(m)
                }
                None => Err(e),
            },
        }
    }
}
