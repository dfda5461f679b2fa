//! The offline explainers behind `gatehouse diagnose saml-response` and
//! `diagnose id-token`: build the same expectations as the live callback
//! from the configuration (as of `--at`), judge, and report. Nothing is
//! written: no replay-cache entry, no audit event, no key generated.

use serde::Serialize;

use crate::config::{Config, Connection};
use crate::diagnostics::checks::Check;
use crate::federation::{self, oidc, saml};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub org: String,
    pub at: String,
    /// "accept" or "reject".
    pub verdict: &'static str,
    /// The failure code the live path would show, when rejected.
    pub code: Option<String>,
    pub checks: Vec<Check>,
    /// What the response asserted, when accepted.
    pub subject: Option<String>,
}

/// A problem with the command itself (exit 2), not with the response.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("organization `{0}` is not in the configuration")]
    UnknownOrg(String),
    #[error("organization `{org}` has no {kind} connection")]
    WrongConnection { org: String, kind: &'static str },
    #[error("{0}")]
    Input(String),
    #[error("the IdP could not be read: {0}")]
    Idp(String),
}

pub async fn saml_response(
    cfg: &Config,
    org_id: &str,
    input: &str,
    at: i64,
    request_id: Option<&str>,
) -> Result<Report, UsageError> {
    let org = cfg.org(org_id).ok_or_else(|| UsageError::UnknownOrg(org_id.into()))?;
    let Some(Connection::Saml(c)) = &org.connection else {
        return Err(UsageError::WrongConnection {
            org: org_id.into(),
            kind: "SAML",
        });
    };
    let xml = saml::explain::decode_input(input).map_err(UsageError::Input)?;
    let http = federation::http_client(c.http_timeout).map_err(|e| UsageError::Idp(e.to_string()))?;
    let conn = saml::Connection::new(org_id, c.clone(), &cfg.server.issuer(), http);
    let md = conn.metadata().await.map_err(|e| UsageError::Idp(e.to_string()))?;
    let sp = saml::sp::SpIdentity::load(&cfg.keys.dir).map_err(UsageError::Idp)?;
    let explained = saml::explain::explain(
        &xml,
        &saml::validate::Expect {
            idp: &md,
            sp_entity_id: &conn.sp_entity_id,
            acs_url: &conn.acs_url,
            request_id,
            request_sent_at: None,
            allow_idp_initiated: c.allow_idp_initiated,
            now: at,
            skew: c.allowed_clock_skew.as_secs() as i64,
            allow_sha1: c.allow_sha1,
            accept_expired_cert: c.accept_expired_certificate,
            want_assertions_signed: c.want_assertions_signed,
            required_attributes: &c.required_attributes,
            decryption_key: sp.as_ref().map(|s| &s.key),
        },
    );
    Ok(Report {
        org: org_id.into(),
        at: crate::clock::rfc3339(at),
        verdict: if explained.result.is_ok() { "accept" } else { "reject" },
        code: explained.result.as_ref().err().map(|e| e.code().as_str().to_string()),
        subject: explained.result.as_ref().ok().map(|v| v.name_id.clone()),
        checks: explained.checks,
    })
}

pub async fn id_token(
    cfg: &Config,
    org_id: &str,
    input: &str,
    at: i64,
    nonce: Option<&str>,
) -> Result<Report, UsageError> {
    let org = cfg.org(org_id).ok_or_else(|| UsageError::UnknownOrg(org_id.into()))?;
    let Some(Connection::Oidc(c)) = &org.connection else {
        return Err(UsageError::WrongConnection {
            org: org_id.into(),
            kind: "OpenID Connect",
        });
    };
    let http = federation::http_client(c.http_timeout).map_err(|e| UsageError::Idp(e.to_string()))?;
    let conn = oidc::Connection::new(org_id, c.clone(), http);
    let d = conn.discovered().await.map_err(|e| UsageError::Idp(e.to_string()))?;
    let token = input.trim().trim_start_matches("id_token=");
    let explained = oidc::explain::explain(&conn, &d, token, nonce, at);
    Ok(Report {
        org: org_id.into(),
        at: crate::clock::rfc3339(at),
        verdict: if explained.result.is_ok() { "accept" } else { "reject" },
        code: explained.result.as_ref().err().map(|e| e.code().as_str().to_string()),
        subject: explained
            .result
            .as_ref()
            .ok()
            .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_string)),
        checks: explained.checks,
    })
}
