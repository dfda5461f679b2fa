//! Security events: the one place that records them. Every failure the
//! user sees gets a reference code here, stored with the failure code and the
//! admin-facing details (expected vs actual, attempts left, ...). Secrets
//! never enter an event: callers pass facts, not credentials.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::clock::SharedClock;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::store::sql::{AuditRecord, Sql};

/// Where a request came from, as the HTTP edge saw it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The browser's "remember this device" cookie, if any.
    pub remembered_device: Option<String>,
}

/// A security event under construction.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub code: Option<FailureCode>,
    pub account_id: Option<String>,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub org_id: Option<String>,
    pub detail: Value,
}

impl Event {
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            code: None,
            account_id: None,
            username: None,
            client_id: None,
            org_id: None,
            detail: Value::Object(Default::default()),
        }
    }
    pub fn failure(code: FailureCode) -> Self {
        let mut e = Self::new("login_failure");
        e.code = Some(code);
        e
    }
    pub fn account(mut self, id: impl Into<String>) -> Self {
        self.account_id = Some(id.into());
        self
    }
    pub fn username(mut self, u: impl Into<String>) -> Self {
        self.username = Some(u.into());
        self
    }
    pub fn client(mut self, c: impl Into<String>) -> Self {
        self.client_id = Some(c.into());
        self
    }
    pub fn org(mut self, o: Option<String>) -> Self {
        self.org_id = o;
        self
    }
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(m) = &mut self.detail {
            m.insert(key.to_string(), value.into());
        }
        self
    }
}

/// What a listener hears about a login outcome of an organization (the
/// incident watch); the full record stays in the store.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub org_id: String,
    pub code: Option<FailureCode>,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct Audit {
    sql: Sql,
    clock: SharedClock,
    listener: Arc<OnceLock<mpsc::Sender<Recorded>>>,
}

impl Audit {
    pub fn new(sql: Sql, clock: SharedClock) -> Self {
        Self {
            sql,
            clock,
            listener: Arc::default(),
        }
    }

    /// The events stored under a reference code (normally one).
    pub async fn by_reference(&self, reference: &str) -> Result<Vec<AuditRecord>, crate::store::Error> {
        self.sql.audit_by_reference(reference).await
    }

    /// Recent events, optionally of one organization, newest first.
    pub async fn recent(&self, org_id: Option<&str>, limit: i64) -> Result<Vec<AuditRecord>, crate::store::Error> {
        self.sql.recent_audit_for(org_id, limit).await
    }

    /// Login outcomes of organizations are sent to `tx` once stored (set
    /// once; every clone of this `Audit` shares it). The channel is bounded:
    /// when the listener falls behind (a flood of failures), outcomes are
    /// dropped and counted rather than queued without limit.
    pub fn listen(&self, tx: mpsc::Sender<Recorded>) {
        let _ = self.listener.set(tx);
    }

    /// Records the event and returns its reference code. A database failure
    /// is logged, not propagated: the user still gets their page and the
    /// reference still appears in the log line.
    pub async fn record(&self, event: Event, ctx: &RequestContext) -> String {
        let reference = crypto::reference_code();
        let record = AuditRecord {
            id: crypto::hex(&crypto::random_bytes::<16>()),
            reference: reference.clone(),
            at: self.clock.now(),
            kind: event.kind.to_string(),
            code: event.code.map(|c| c.as_str().to_string()),
            account_id: event.account_id,
            username: event.username,
            client_id: event.client_id,
            org_id: event.org_id,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            request_id: ctx.request_id.clone(),
            detail: event.detail.to_string(),
        };
        if record.code.is_some() {
            tracing::warn!(
                target: "gatehouse::audit",
                kind = %record.kind,
                code = record.code.as_deref().unwrap_or(""),
                reference = %reference,
                account_id = record.account_id.as_deref().unwrap_or(""),
                client_id = record.client_id.as_deref().unwrap_or(""),
                detail = %record.detail,
                "security event"
            );
        } else {
            tracing::info!(
                target: "gatehouse::audit",
                kind = %record.kind,
                reference = %reference,
                account_id = record.account_id.as_deref().unwrap_or(""),
                client_id = record.client_id.as_deref().unwrap_or(""),
                "security event"
            );
        }
        if let Err(e) = self.sql.insert_audit(&record).await {
            tracing::error!(error = %e, reference = %reference, "could not store audit event");
        } else if let (Some(tx), Some(org_id)) = (self.listener.get(), record.org_id.clone())
            && (record.kind == "login_success" || record.kind == "login_failure")
        {
            let sent = tx.try_send(Recorded {
                org_id,
                code: event.code,
                at: record.at,
            });
            if sent.is_err() {
                metrics::counter!("gatehouse_incident_watch_dropped_total").increment(1);
            }
        }
        reference
    }
}
