//! `grant_type=authorization_code` with mandatory PKCE (S256).

use crate::accounts::Status;
use crate::audit::{Event, RequestContext};
use crate::config::Portal;
use crate::provider::codes::{self, Redeemed};
use crate::provider::{Provider, TokenError, TokenResponse};

use super::super::token::Params;

pub async fn exchange(
    p: &Provider,
    portal: &Portal,
    params: &Params<'_>,
    ctx: &RequestContext,
) -> Result<TokenResponse, TokenError> {
    let code = params.required("code")?;
    let redirect_uri = params.required("redirect_uri")?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| TokenError::invalid_grant("code_verifier is required (PKCE)"))?;

    let grant = match codes::redeem(&p.kv, code).await? {
        Redeemed::Fresh(g) => g,
        Redeemed::Reused(family) => {
            // A code presented twice may have been intercepted: whatever it
            // produced is revoked (RFC 6749 §4.1.2).
            if let Some(f) = &family {
                p.revoke_family(f).await?;
            }
            p.audit
                .record(
                    Event::new("authorization_code_reuse")
                        .client(portal.client_id.clone())
                        .detail("revoked_family", family.clone().unwrap_or_default()),
                    ctx,
                )
                .await;
            return Err(TokenError::invalid_grant(
                "the authorization code was already used; tokens issued from it are revoked",
            ));
        }
        Redeemed::Unknown => {
            return Err(TokenError::invalid_grant(
                "the authorization code is unknown or expired",
            ));
        }
    };
    if grant.client_id != portal.client_id {
        return Err(TokenError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(TokenError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !codes::verify_pkce(verifier, &grant.code_challenge) {
        return Err(TokenError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let account = p
        .accounts
        .by_id(&grant.account_id)
        .await?
        .filter(|a| a.status == Status::Active)
        .ok_or_else(|| TokenError::invalid_grant("the account is no longer active"))?;
    // The sign-in the code came from must still be live: a logout, a
    // password reset or an admin's "end every session" between the
    // redirect and the exchange leaves the code worthless.
    let sid = crate::session::SessionHandle(grant.sid.clone());
    if p.sessions.get_by_handle(&sid).await?.is_none() {
        return Err(TokenError::invalid_grant(
            "the sign-in this code was issued for has ended",
        ));
    }

    let family = p.new_family(&grant).await?;
    codes::mark_redeemed(
        &p.kv,
        code,
        &family.id,
        p.cfg
            .tokens
            .refresh_token_lifetime
            .min(std::time::Duration::from_secs(3600)),
    )
    .await?;
    p.mint(family, portal, &account, grant.nonce.as_deref(), None, None)
        .await
}
