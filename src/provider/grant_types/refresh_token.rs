//! `grant_type=refresh_token` with rotation and reuse detection.

use crate::accounts::Status;
use crate::audit::{Event, RequestContext};
use crate::config::Portal;
use crate::provider::{Provider, TokenError, TokenResponse};

use super::super::token::Params;

pub async fn refresh(
    p: &Provider,
    portal: &Portal,
    params: &Params<'_>,
    ctx: &RequestContext,
) -> Result<TokenResponse, TokenError> {
    let token = params.required("refresh_token")?;
    let Some((family_id, carried)) = p.take_refresh(token).await? else {
        if let Some(family_id) = p.used_refresh_family(token).await? {
            // Someone holds a token that was already rotated: either the
            // portal or an attacker has a stale copy. End the family for both.
            let family = p.family(&family_id).await?;
            p.revoke_family(&family_id).await?;
            p.audit
                .record(
                    Event::new("refresh_token_reuse")
                        .client(portal.client_id.clone())
                        .detail("family", family_id)
                        .detail("account_id", family.map(|f| f.account_id).unwrap_or_default()),
                    ctx,
                )
                .await;
            return Err(TokenError::invalid_grant(
                "the refresh token was already used; its token family is revoked",
            ));
        }
        return Err(TokenError::invalid_grant(
            "the refresh token is unknown, expired or revoked",
        ));
    };
    // The token carries its family; a revocation since is caught when the
    // successor is written (only while the family still exists).
    let family = match carried {
        Some(f) if f.id == family_id => f,
        _ => match p.family(&family_id).await? {
            Some(f) => f,
            None => return Err(TokenError::invalid_grant("the refresh token has been revoked")),
        },
    };
    if family.client_id != portal.client_id {
        p.revoke_family(&family.id).await?;
        return Err(TokenError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }

    let mut narrower = None;
    if let Some(requested) = params.get("scope") {
        let asked: Vec<String> = requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if asked.iter().any(|s| !family.scope.contains(s)) {
            p.revoke_family(&family.id).await?;
            return Err(TokenError::new(
                "invalid_scope",
                "a refresh cannot widen the granted scope",
            ));
        }
        narrower = Some(asked);
    }
    let account = match p.accounts.for_tokens(&family.account_id).await? {
        Some(a) if a.status == Status::Active => a,
        _ => {
            p.revoke_family(&family.id).await?;
            return Err(TokenError::invalid_grant("the account is no longer active"));
        }
    };
    // A portal that requires roles re-checks them at every refresh: a
    // revoked role ends the portal's tokens at their next use.
    if !portal.roles.is_empty() && !account.roles().iter().any(|r| portal.roles.contains(r)) {
        p.revoke_family(&family.id).await?;
        return Err(TokenError::invalid_grant(
            "the account no longer holds a role this portal requires",
        ));
    }
    p.mint(family, portal, &account, None, narrower, Some(token)).await
}
