//! `/oauth2/token`: authenticates the client, then hands the request to the
//! grant type's own module.

use std::collections::HashMap;

use crate::audit::RequestContext;
use crate::config::Portal;

use super::clients::{self, Presented};
use super::grant_types::{authorization_code, refresh_token};
use super::{Provider, TokenError, TokenResponse};

/// Form parameters with RFC 6749's rule that none may repeat.
pub struct Params<'a> {
    map: HashMap<&'a str, &'a str>,
}

impl<'a> Params<'a> {
    pub fn parse(pairs: &'a [(String, String)]) -> Result<Self, TokenError> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if map.insert(k.as_str(), v.as_str()).is_some() {
                return Err(TokenError::invalid_request(format!("parameter `{k}` is repeated")));
            }
        }
        Ok(Self { map })
    }
    pub fn get(&self, k: &str) -> Option<&'a str> {
        self.map.get(k).copied().filter(|v| !v.is_empty())
    }
    pub fn required(&self, k: &str) -> Result<&'a str, TokenError> {
        self.get(k)
            .ok_or_else(|| TokenError::invalid_request(format!("parameter `{k}` is required")))
    }
    pub fn presented(&self, basic: Option<(String, String)>) -> Presented {
        Presented {
            basic,
            form_client_id: self.get("client_id").map(String::from),
            form_client_secret: self.get("client_secret").map(String::from),
        }
    }
}

impl Provider {
    pub fn authenticate_client(
        &self,
        params: &Params<'_>,
        basic: Option<(String, String)>,
    ) -> Result<&Portal, TokenError> {
        clients::authenticate(&self.cfg, &params.presented(basic))
    }

    pub async fn token(
        &self,
        pairs: &[(String, String)],
        basic: Option<(String, String)>,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, TokenError> {
        let params = Params::parse(pairs)?;
        let portal = self.authenticate_client(&params, basic)?;
        let result = match params.required("grant_type")? {
            "authorization_code" => authorization_code::exchange(self, portal, &params, ctx).await,
            "refresh_token" => refresh_token::refresh(self, portal, &params, ctx).await,
            other => Err(TokenError::new(
                "unsupported_grant_type",
                format!("grant_type `{other}` is not supported"),
            )),
        };
        let outcome = match &result {
            Ok(_) => "issued",
            Err(e) => e.error,
        };
        metrics::counter!("gatehouse_token_requests_total", "client" => portal.client_id.clone(), "outcome" => outcome)
            .increment(1);
        result
    }
}
