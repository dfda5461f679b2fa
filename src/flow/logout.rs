//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//!
//! The post-logout redirect is followed only when it is registered, exactly,
//! for the portal named by a valid `id_token_hint` or `client_id`. Without a
//! hint that proves the portal speaks for this browser's session, the user
//! confirms first (a CSRF-protected POST), so a third-party page cannot log
//! people out behind their backs.

use crate::audit::{Event, RequestContext};
use crate::diagnostics::FailureCode;
use crate::provider::Provider;
use crate::provider::authorize::append_query;
use crate::session::SessionId;

use super::{Failure, log_store_error};

#[derive(Debug, Default, Clone)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl LogoutRequest {
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        Self {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
        }
    }
}

#[derive(Debug)]
pub enum LogoutOutcome {
    /// Ask the user to confirm; carries the portal's display name.
    Confirm {
        portal_name: Option<String>,
    },
    /// Signed out: go here, or show the signed-out page when `None`.
    Done {
        redirect: Option<String>,
    },
    Page(Failure),
}

pub async fn logout(
    p: &Provider,
    req: &LogoutRequest,
    session: Option<SessionId>,
    confirmed: bool,
    ctx: &RequestContext,
) -> LogoutOutcome {
    let reject = |code: FailureCode, reason: String| async move {
        let reference = p
            .audit
            .record(
                Event::failure(code)
                    .detail("reason", reason)
                    .client(req.client_id.clone().unwrap_or_default()),
                ctx,
            )
            .await;
        LogoutOutcome::Page(Failure::new(code, reference))
    };

    let hint = match &req.id_token_hint {
        None => None,
        Some(jwt) => match p.keys.verify(jwt) {
            Some(c) => Some(c),
            None => {
                return reject(
                    FailureCode::InvalidRequest,
                    "id_token_hint is not a token this gateway signed".into(),
                )
                .await;
            }
        },
    };
    let hint_aud = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| a.as_str())
        .map(String::from);
    let hint_sid = hint
        .as_ref()
        .and_then(|c| c.get("sid"))
        .and_then(|a| a.as_str())
        .map(String::from);
    if let (Some(a), Some(c)) = (&hint_aud, &req.client_id)
        && a != c
    {
        return reject(
            FailureCode::InvalidRequest,
            format!("client_id `{c}` differs from the id_token_hint audience `{a}`"),
        )
        .await;
    }
    let client_id = hint_aud.or_else(|| req.client_id.clone());
    let portal = match &client_id {
        Some(c) => match p.cfg.portal(c) {
            Some(portal) => Some(portal),
            None => return reject(FailureCode::UnknownClient, format!("no portal `{c}`")).await,
        },
        None => None,
    };
    let redirect = match (&req.post_logout_redirect_uri, portal) {
        (None, _) => None,
        (Some(uri), None) => {
            return reject(
                FailureCode::PostLogoutRedirectUriMismatch,
                format!("post_logout_redirect_uri `{uri}` given without id_token_hint or client_id"),
            )
            .await;
        }
        (Some(uri), Some(portal)) => {
            if !portal.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return reject(
                    FailureCode::PostLogoutRedirectUriMismatch,
                    format!("`{uri}` is not registered for `{}`", portal.client_id),
                )
                .await;
            }
            let mut pairs = Vec::new();
            if let Some(s) = &req.state {
                pairs.push(("state", s.clone()));
            }
            Some(append_query(uri, &pairs))
        }
    };

    let current = match &session {
        Some(id) => match p.sessions.get(id).await {
            Ok(s) => s,
            Err(e) => {
                log_store_error(&e);
                return reject(FailureCode::ServiceUnavailable, e.to_string()).await;
            }
        },
        None => None,
    };
    // A hint for this very session proves the portal acts for this browser.
    let hint_matches = match (&hint_sid, &current) {
        (Some(sid), Some((handle, _))) => *sid == handle.0,
        (Some(_), None) => true,
        _ => false,
    };
    if current.is_some() && !confirmed && !hint_matches {
        return LogoutOutcome::Confirm {
            portal_name: portal.map(|p| p.name.clone()),
        };
    }
    if let Some((handle, s)) = current {
        let ended = async {
            p.sessions.delete(&handle).await?;
            p.revoke_session_families(&handle.0).await
        }
        .await;
        match ended {
            Ok(families) => {
                p.audit
                    .record(
                        Event::new("logout")
                            .account(s.account_id)
                            .client(client_id.clone().unwrap_or_default())
                            .detail("revoked_token_families", families),
                        ctx,
                    )
                    .await;
            }
            Err(e) => {
                log_store_error(&e);
                return reject(FailureCode::ServiceUnavailable, e.to_string()).await;
            }
        }
    }
    LogoutOutcome::Done { redirect }
}
