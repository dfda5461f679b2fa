//! Organization health, incidents and the certificate watch: the stateful
//! side of `diagnostics`. Login outcomes of organizations arrive from the
//! audit sink on a channel and are judged off the request path, one at a
//! time, so an incident is raised once (the store's unique index guards it
//! across instances too), updated while failures continue, and closed after
//! successes resume. Notices go to the log, an audit event, a metric and the
//! webhooks (the organization's and the operator's).

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::audit::{Audit, Event, Recorded, RequestContext};
use crate::clock::{SharedClock, rfc3339};
use crate::config::Config;
use crate::crypto;
use crate::diagnostics::FailureCode;
use crate::diagnostics::certs::{self, Standing, Watched};
use crate::diagnostics::explain;
use crate::diagnostics::incidents::{self, CodeCount, Outcome, Thresholds, Verdict};
use crate::federation::Federation;
use crate::store::sql::{AuditRecord, IncidentRow, Sql};
use crate::store::{self};

/// Codes that say something about an organization's sign-in. The "start
/// again" family (state, nonce, InResponseTo, replay, unsolicited) is about
/// one browser's journey, and can be produced by anyone without the IdP:
/// it never makes an incident.
fn counts_toward_incidents(code: FailureCode) -> bool {
    use FailureCode::*;
    code.as_str().starts_with("sso_")
        && !matches!(
            code,
            SsoStateMismatch
                | SsoNonceMismatch
                | SsoInResponseToMismatch
                | SsoReplay
                | SsoUnsolicited
                | SsoRedirectLoop
        )
}

/// How many outcomes of one org the verdict reads at most.
const OUTCOME_LIMIT: i64 = 5000;

#[derive(Clone, Debug)]
pub struct Health {
    sql: Sql,
    clock: SharedClock,
    cfg: Arc<Config>,
    http: reqwest::Client,
    audit: Audit,
    /// The operator's maintenance notice, cached from the store.
    notice: Arc<std::sync::RwLock<Option<String>>>,
}

const NOTICE_SETTING: &str = "maintenance_notice";

#[derive(Debug, Clone, Serialize)]
pub struct OrgHealth {
    pub org_id: String,
    pub name: String,
    pub connection: &'static str,
    pub last_success_at: Option<i64>,
    pub last_hour: Vec<CodeCount>,
    pub last_day: Vec<CodeCount>,
    pub users_failing_last_hour: u32,
    pub verdict: Verdict,
    pub incidents: Vec<IncidentRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    #[serde(flatten)]
    pub cert: Watched,
    pub standing: Standing,
    pub seconds_left: i64,
}

/// Who an outcome belongs to, for counting distinct users: the account,
/// else the name typed or asserted, else the network address — never a
/// browser cookie, which anyone can mint as many of as they like.
fn who(r: &AuditRecord) -> String {
    r.account_id
        .clone()
        .or_else(|| r.username.clone())
        .or_else(|| r.ip.clone().map(|ip| format!("ip:{ip}")))
        .unwrap_or_else(|| format!("event:{}", r.id))
}

fn outcomes(records: &[AuditRecord]) -> Vec<Outcome> {
    records
        .iter()
        .map(|r| Outcome {
            at: r.at,
            code: if r.kind == "login_success" {
                None
            } else {
                r.code.clone()
            },
            who: who(r),
        })
        .collect()
}

impl Health {
    pub fn new(sql: Sql, clock: SharedClock, cfg: Arc<Config>, http: reqwest::Client, audit: Audit) -> Self {
        Self {
            sql,
            clock,
            cfg,
            http,
            audit,
            notice: Arc::default(),
        }
    }

    /// The maintenance notice shown on login pages and in `/readyz`: the
    /// one set from the console, else the configured one.
    pub fn maintenance(&self) -> Option<String> {
        self.notice
            .read()
            .ok()
            .and_then(|n| n.clone())
            .or_else(|| self.cfg.diagnostics.maintenance_notice.clone())
    }

    /// Sets (or with `None` clears) the notice for every instance.
    pub async fn set_maintenance(&self, text: Option<&str>, by: &str) -> Result<(), store::Error> {
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        self.sql.put_setting(NOTICE_SETTING, text, self.clock.now(), by).await?;
        if let Ok(mut n) = self.notice.write() {
            *n = text.map(str::to_string);
        }
        Ok(())
    }

    /// Keeps the cached notice in step with the store (other instances may
    /// change it).
    pub fn spawn_notice_refresh(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match me.sql.setting(NOTICE_SETTING).await {
                    Ok(v) => {
                        if let Ok(mut n) = me.notice.write() {
                            *n = v;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the maintenance notice"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(15)).await;
            }
        });
    }

    fn thresholds(&self) -> Thresholds {
        Thresholds {
            users: self.cfg.diagnostics.incident_users,
            window: self.cfg.diagnostics.incident_window.as_secs() as i64,
        }
    }

    /// Subscribes to the audit sink and judges each outcome in turn.
    pub fn spawn(&self) {
        let (tx, mut rx) = mpsc::channel(4096);
        self.audit.listen(tx);
        let me = self.clone();
        tokio::spawn(async move {
            while let Some(r) = rx.recv().await {
                if let Err(e) = me.outcome(&r).await {
                    tracing::error!(org = %r.org_id, error = %e, "incident watch could not judge an outcome");
                }
            }
        });
    }

    async fn outcome(&self, r: &Recorded) -> Result<(), store::Error> {
        let Some(code) = r.code else {
            let closed = self
                .sql
                .incident_success(
                    &r.org_id,
                    i64::from(self.cfg.diagnostics.incident_close_successes),
                    r.at,
                )
                .await?;
            for i in closed {
                self.closed(&i).await;
            }
            return Ok(());
        };
        if !counts_toward_incidents(code) {
            return Ok(());
        }
        let t = self.thresholds();
        // Failures from before the last incident of this code closed belong
        // to that incident, not to a new one.
        let since = match self.sql.last_closed_incident(&r.org_id, code.as_str()).await? {
            Some(closed) => (r.at - t.window).max(closed + 1),
            None => r.at - t.window,
        };
        let records = self.sql.org_outcomes(&r.org_id, since, OUTCOME_LIMIT).await?;
        let outs: Vec<Outcome> = outcomes(&records)
            .into_iter()
            .filter(|o| o.code.as_deref() == Some(code.as_str()))
            .collect();
        let users = incidents::counts(&outs, r.at, t.window)
            .into_iter()
            .next()
            .map_or(1, |c| c.users);
        if let Some(open) = self.sql.open_incident_for(&r.org_id, code.as_str()).await? {
            self.sql.update_incident(&open.id, i64::from(users), 1, r.at).await?;
            metrics::gauge!("gatehouse_incident_users", "org" => r.org_id.clone(), "code" => code.as_str())
                .set(f64::from(users));
            return Ok(());
        }
        // This code's own verdict: another code with more users does not
        // hide it.
        let Verdict::OrganizationWide {
            users,
            first_at,
            latest_at,
            ..
        } = incidents::verdict(&outs, r.at, t)
        else {
            return Ok(());
        };
        let failures = outs.iter().filter(|o| o.at > r.at - t.window).count() as i64;
        let row = IncidentRow {
            id: crypto::hex(&crypto::random_bytes::<12>()),
            org_id: r.org_id.clone(),
            code: code.as_str().to_string(),
            status: "open".into(),
            users: i64::from(users),
            failures,
            first_at,
            latest_at,
            opened_at: r.at,
            closed_at: None,
            successes_since: 0,
        };
        match self.sql.open_incident(&row).await {
            Ok(()) => self.opened(&row, code).await,
            // Another instance raised it first: it is theirs to announce.
            Err(store::Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn incident_json(&self, event: &str, i: &IncidentRow) -> Value {
        let code = FailureCode::parse(&i.code);
        json!({
            "event": event,
            "org": i.org_id,
            "org_name": self.cfg.org(&i.org_id).map(|o| o.name.clone()),
            "incident": i.id,
            "code": i.code,
            "users": i.users,
            "failures": i.failures,
            "first_at": rfc3339(i.first_at),
            "latest_at": rfc3339(i.latest_at),
            "closed_at": i.closed_at.map(rfc3339),
            "step": code.map(explain::step),
            "fix": code.map(explain::fix),
            "admin_url": format!("{}/admin/orgs/{}", self.cfg.server.issuer(), i.org_id),
        })
    }

    async fn opened(&self, i: &IncidentRow, code: FailureCode) {
        tracing::warn!(
            target: "gatehouse::diagnostics",
            org = %i.org_id, code = %i.code, users = i.users, failures = i.failures,
            first_at = %rfc3339(i.first_at), "organization-wide incident opened"
        );
        metrics::gauge!("gatehouse_incident_open", "org" => i.org_id.clone(), "code" => code.as_str()).set(1.0);
        metrics::gauge!("gatehouse_incident_users", "org" => i.org_id.clone(), "code" => code.as_str())
            .set(i.users as f64);
        metrics::counter!("gatehouse_incidents_total", "org" => i.org_id.clone(), "code" => code.as_str()).increment(1);
        self.audit
            .record(
                Event::new("incident_opened")
                    .org(Some(i.org_id.clone()))
                    .detail("incident", i.id.clone())
                    .detail("failure_code", i.code.clone())
                    .detail("users", i.users),
                &RequestContext::default(),
            )
            .await;
        self.notify(&i.org_id, self.incident_json("incident_opened", i));
    }

    async fn closed(&self, i: &IncidentRow) {
        tracing::info!(
            target: "gatehouse::diagnostics",
            org = %i.org_id, code = %i.code, failures = i.failures, "organization-wide incident closed: logins succeed again"
        );
        metrics::gauge!("gatehouse_incident_open", "org" => i.org_id.clone(), "code" => i.code.clone()).set(0.0);
        self.audit
            .record(
                Event::new("incident_closed")
                    .org(Some(i.org_id.clone()))
                    .detail("incident", i.id.clone())
                    .detail("failure_code", i.code.clone()),
                &RequestContext::default(),
            )
            .await;
        self.notify(&i.org_id, self.incident_json("incident_closed", i));
    }

    /// POSTs `body` to the organization's webhook and the operator's, off
    /// the caller's path; one retry on a connection error or a 5xx.
    pub fn notify(&self, org_id: &str, body: Value) {
        let targets: Vec<url::Url> = self
            .cfg
            .org(org_id)
            .and_then(|o| o.webhook.clone())
            .into_iter()
            .chain(self.cfg.diagnostics.webhook.clone())
            .collect();
        for url in targets {
            let http = self.http.clone();
            let body = body.clone();
            let timeout = self.cfg.diagnostics.webhook_timeout;
            tokio::spawn(async move {
                for attempt in 1..=2 {
                    let r = http.post(url.clone()).timeout(timeout).json(&body).send().await;
                    match r {
                        Ok(resp) if resp.status().is_success() => return,
                        Ok(resp) if resp.status().is_client_error() => {
                            tracing::warn!(webhook = %url.origin().ascii_serialization(), status = %resp.status(), "webhook refused the notice");
                            return;
                        }
                        Ok(resp) => {
                            tracing::warn!(webhook = %url.origin().ascii_serialization(), status = %resp.status(), attempt, "webhook failed")
                        }
                        Err(e) => {
                            tracing::warn!(webhook = %url.origin().ascii_serialization(), error = %e, attempt, "webhook unreachable")
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
        }
    }

    pub async fn incidents(&self, org_id: Option<&str>) -> Result<Vec<IncidentRow>, store::Error> {
        self.sql.incidents(org_id, 100).await
    }

    /// An organization's health now.
    pub async fn org(&self, org_id: &str, federation: &Federation) -> Result<OrgHealth, store::Error> {
        let now = self.clock.now();
        let records = self.sql.org_outcomes(org_id, now - 86_400, OUTCOME_LIMIT).await?;
        let outs = outcomes(&records);
        let last_hour = incidents::counts(&outs, now, 3600);
        let users_failing_last_hour = {
            let mut who: Vec<&str> = outs
                .iter()
                .filter(|o| o.code.is_some() && o.at > now - 3600)
                .map(|o| o.who.as_str())
                .collect();
            who.sort_unstable();
            who.dedup();
            who.len() as u32
        };
        Ok(OrgHealth {
            org_id: org_id.to_string(),
            name: self.cfg.org(org_id).map(|o| o.name.clone()).unwrap_or_default(),
            connection: if federation.saml(org_id).is_some() {
                "saml"
            } else if federation.oidc(org_id).is_some() {
                "oidc"
            } else {
                "local"
            },
            last_success_at: self.sql.last_success(org_id).await?,
            last_hour,
            last_day: incidents::counts(&outs, now, 86_400),
            users_failing_last_hour,
            verdict: incidents::verdict(&outs, now, self.thresholds()),
            incidents: self.sql.incidents(Some(org_id), 20).await?,
        })
    }

    /// Every certificate the gateway depends on: each SAML connection's
    /// metadata signing certificates and the gateway's own SP certificate.
    pub async fn certificates(&self, federation: &Federation) -> Vec<CertView> {
        let now = self.clock.now();
        let warn = &self.cfg.diagnostics.certificate_warn_days;
        let mut out = Vec::new();
        let mut push = |org: &str, usage: &str, c: &crate::federation::saml::metadata::Cert| {
            out.push(CertView {
                cert: Watched {
                    org: org.to_string(),
                    usage: usage.to_string(),
                    subject: c.subject.clone(),
                    serial: c.serial.clone(),
                    sha256: c.sha256.clone(),
                    not_after: c.not_after,
                },
                standing: certs::standing(c.not_after, now, warn),
                seconds_left: c.not_after - now,
            })
        };
        let mut conns: Vec<_> = federation.saml_connections().collect();
        conns.sort_by(|a, b| a.0.cmp(b.0));
        for (org, conn) in conns {
            match conn.metadata().await {
                Ok(md) => {
                    for c in &md.certs {
                        push(org, "idp-signing", c);
                    }
                }
                Err(e) => tracing::warn!(org = %org, error = %e, "certificate watch: metadata unavailable"),
            }
        }
        if let Some(sp) = federation.sp() {
            push("gatehouse", "sp-signing", &sp.cert);
        }
        out
    }

    /// One pass of the certificate watch: metrics for every certificate; a
    /// notice (event, log, webhook) when one crosses a threshold or a new
    /// certificate appears for a connection that had others (rotation).
    pub async fn check_certificates(&self, federation: &Federation) -> Result<Vec<CertView>, store::Error> {
        let views = self.certificates(federation).await;
        let mut soonest: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for v in &views {
            let e = soonest
                .entry((v.cert.org.clone(), v.cert.usage.clone()))
                .or_insert(v.seconds_left);
            *e = (*e).min(v.seconds_left);
        }
        for ((org, usage), left) in soonest {
            metrics::gauge!("gatehouse_certificate_expiry_seconds", "org" => org, "use" => usage).set(left as f64);
        }
        let now = self.clock.now();
        // What was known before this pass, per organization and use: a
        // certificate new to a connection that had others is a rotation.
        let mut known: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
        for v in &views {
            let key = (v.cert.org.clone(), v.cert.usage.clone());
            if let std::collections::btree_map::Entry::Vacant(e) = known.entry(key) {
                e.insert(self.sql.certificate_fingerprints(&v.cert.org, &v.cert.usage).await?);
            }
        }
        for v in &views {
            let c = &v.cert;
            let level = v.standing.level();
            let previous = self.sql.certificate_notice(&c.org, &c.usage, &c.sha256).await?;
            if previous.as_deref() == Some(level.as_str()) {
                continue;
            }
            let before = known
                .get(&(c.org.clone(), c.usage.clone()))
                .cloned()
                .unwrap_or_default();
            if previous.is_none() && !before.is_empty() {
                self.certificate_notice("certificate_changed", v, Some(&before)).await;
            }
            if v.standing != Standing::Valid {
                let kind = if v.standing == Standing::Expired {
                    "certificate_expired"
                } else {
                    "certificate_expiring"
                };
                self.certificate_notice(kind, v, None).await;
            }
            self.sql
                .put_certificate_notice(&c.org, &c.usage, &c.sha256, &level, now)
                .await?;
        }
        Ok(views)
    }

    async fn certificate_notice(&self, kind: &'static str, v: &CertView, previous: Option<&[String]>) {
        let c = &v.cert;
        let days_left = v.seconds_left.div_euclid(86_400);
        tracing::warn!(
            target: "gatehouse::diagnostics",
            org = %c.org, r#use = %c.usage, subject = %c.subject, not_after = %rfc3339(c.not_after),
            days_left, kind, "certificate notice"
        );
        let fix = match kind {
            "certificate_changed" => {
                "a new certificate appeared in the metadata: confirm the IdP announced this rotation"
            }
            _ if c.org == "gatehouse" => {
                "roll the gateway's SP certificate over and send the new metadata to every IdP"
            }
            _ => "ask the IdP to roll over to a new certificate and publish it in the metadata before notAfter",
        };
        let body = json!({
            "event": kind, "org": c.org, "use": c.usage, "subject": c.subject, "serial": c.serial,
            "sha256": c.sha256, "not_after": rfc3339(c.not_after), "days_left": days_left,
            "standing": v.standing, "previous_certificates": previous, "fix": fix,
        });
        let org = (c.org != "gatehouse").then(|| c.org.clone());
        let mut e = Event::new(kind).org(org);
        if let Value::Object(m) = &body {
            for (k, val) in m {
                if k != "event" {
                    e = e.detail(k, val.clone());
                }
            }
        }
        self.audit.record(e, &RequestContext::default()).await;
        self.notify(&c.org, body);
    }

    /// Runs the certificate watch now and then every
    /// `certificate_check_interval`.
    pub fn spawn_certificate_watch(&self, federation: Federation) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.check_certificates(&federation).await {
                    tracing::error!(error = %e, "certificate watch failed");
                }
                tokio::time::sleep(me.cfg.diagnostics.certificate_check_interval).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_again_codes_never_make_an_incident() {
        assert!(counts_toward_incidents(FailureCode::SsoAudienceMismatch));
        assert!(counts_toward_incidents(FailureCode::SsoCertExpired));
        assert!(!counts_toward_incidents(FailureCode::SsoStateMismatch));
        assert!(!counts_toward_incidents(FailureCode::SsoReplay));
        assert!(!counts_toward_incidents(FailureCode::InvalidCredentials));
    }
}
