//! Client (portal) authentication at the token, revocation and
//! introspection endpoints: `client_secret_basic`, `client_secret_post`, or
//! none for public clients, which are bound by PKCE instead.

use crate::config::{Config, Portal};
use crate::crypto;

use super::TokenError;

/// Credentials as presented by the caller.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    /// From `Authorization: Basic`, already decoded.
    pub basic: Option<(String, String)>,
    pub form_client_id: Option<String>,
    pub form_client_secret: Option<String>,
}

impl Presented {
    /// Decodes an `Authorization: Basic` header value. Per RFC 6749 §2.3.1
    /// the id and secret are form-urlencoded before base64.
    pub fn parse_basic(header: &str) -> Option<(String, String)> {
        use base64::Engine;
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        Some((decode(id)?, decode(secret)?))
    }
}

/// The portal these credentials authenticate, or `invalid_client`.
pub fn authenticate<'a>(cfg: &'a Config, p: &Presented) -> Result<&'a Portal, TokenError> {
    if p.basic.is_some() && p.form_client_secret.is_some() {
        return Err(TokenError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    let (client_id, secret) = match (&p.basic, &p.form_client_id) {
        (Some((id, secret)), form_id) => {
            if form_id.as_ref().is_some_and(|f| f != id) {
                return Err(TokenError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            (id.clone(), Some(secret.clone()))
        }
        (None, Some(id)) => (id.clone(), p.form_client_secret.clone()),
        (None, None) => {
            return Err(TokenError::invalid_client("client authentication is required"));
        }
    };
    let portal = cfg
        .portal(&client_id)
        .ok_or_else(|| TokenError::invalid_client("unknown client"))?;
    match (&portal.client_secret, secret) {
        (Some(expected), Some(given)) => {
            // Compare digests so the comparison time does not depend on length.
            if crypto::constant_time_eq(
                &crypto::sha256(expected.expose().as_bytes()),
                &crypto::sha256(given.as_bytes()),
            ) {
                Ok(portal)
            } else {
                Err(TokenError::invalid_client("client authentication failed"))
            }
        }
        (Some(_), None) => Err(TokenError::invalid_client(
            "this client must authenticate with its secret",
        )),
        (None, Some(_)) => Err(TokenError::invalid_client("this is a public client: send no secret")),
        (None, None) => Ok(portal),
    }
}
