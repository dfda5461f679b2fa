//! ID-token validation as a pure function of the token, the IdP's key set
//! and what this login expects. Order: structure, algorithm allow-list, key,
//! signature, issuer, audience, nonce, then time — so the first failure
//! reported is the most fundamental one.

use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JwsSigningAlgorithm};
use serde_json::{Map, Value};

use super::error::Error;
use crate::crypto;

pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub allowed_skew: i64,
    pub algs: &'a [String],
    pub now: i64,
    /// The IdP's clock as read from the token response's `Date` header.
    pub idp_date: Option<i64>,
}

pub struct Parsed<'a> {
    pub alg: String,
    pub kid: Option<String>,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    pub claims: Map<String, Value>,
}

pub fn parse(jwt: &str) -> Result<Parsed<'_>, Error> {
    let malformed = |reason: &str| Error::Malformed {
        reason: reason.to_string(),
    };
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("not a compact JWS (three dot-separated parts)"));
    };
    let header: Value = crypto::b64url_decode(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("header is not base64url JSON"))?;
    let claims: Map<String, Value> = crypto::b64url_decode(c)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("payload is not a base64url JSON object"))?;
    let signature = crypto::b64url_decode(s).ok_or_else(|| malformed("signature is not base64url"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("header has no alg"))?;
    if header.get("crit").is_some() {
        return Err(malformed("critical header extensions are not supported"));
    }
    Ok(Parsed {
        alg: alg.to_string(),
        kid: header.get("kid").and_then(Value::as_str).map(String::from),
        signing_input: &jwt[..h.len() + 1 + c.len()],
        signature,
        claims,
    })
}

fn key_for<'k>(
    jwks: &'k CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Option<&'k CoreJsonWebKey> {
    let usable = |k: &&CoreJsonWebKey| {
        k.key_use()
            .is_none_or(|u| format!("{u:?}").to_ascii_lowercase().contains("sig"))
            && alg.key_type().is_some_and(|t| *k.key_type() == t)
    };
    match kid {
        Some(kid) => jwks
            .keys()
            .iter()
            .filter(usable)
            .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid)),
        // Without a kid, only an unambiguous key set is acceptable.
        None => {
            let candidates: Vec<&CoreJsonWebKey> = jwks.keys().iter().filter(usable).collect();
            (candidates.len() == 1).then(|| candidates[0])
        }
    }
}

pub fn known_kids(jwks: &CoreJsonWebKeySet) -> Vec<String> {
    jwks.keys()
        .iter()
        .filter_map(|k| k.key_id().map(|id| id.as_str().to_string()))
        .collect()
}

/// Checks signature and algorithm only. `KeyUnknown` tells the caller to
/// refresh the key set once and try again.
pub fn verify_signature(p: &Parsed<'_>, jwks: &CoreJsonWebKeySet, allowed: &[String]) -> Result<(), Error> {
    if !allowed.contains(&p.alg) || p.alg == "none" || p.alg.starts_with("HS") {
        return Err(Error::AlgorithmNotAllowed {
            alg: p.alg.clone(),
            allowed: allowed.to_vec(),
        });
    }
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(Value::String(p.alg.clone())).map_err(|_| Error::AlgorithmNotAllowed {
            alg: p.alg.clone(),
            allowed: allowed.to_vec(),
        })?;
    let key = key_for(jwks, p.kid.as_deref(), &alg).ok_or_else(|| Error::KeyUnknown {
        kid: p.kid.clone(),
        known: known_kids(jwks),
    })?;
    key.verify_signature(&alg, p.signing_input.as_bytes(), &p.signature)
        .map_err(|e| Error::SignatureInvalid {
            kid: p.kid.clone(),
            reason: e.to_string(),
        })
}

fn int(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims
        .get(name)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// Checks the claims of a token whose signature already verified.
pub fn check_claims(claims: &Map<String, Value>, e: &Expect<'_>) -> Result<(), Error> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != e.issuer {
        return Err(Error::IssuerMismatch {
            expected: e.issuer.to_string(),
            actual: if iss.is_empty() {
                "(no iss claim)".into()
            } else {
                iss.to_string()
            },
        });
    }
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| a == e.client_id) {
        return Err(Error::AudienceMismatch {
            expected: e.client_id.to_string(),
            actual: if auds.is_empty() {
                "(no aud claim)".into()
            } else {
                auds.join(", ")
            },
        });
    }
    // OIDC Core §3.1.3.7: with several audiences, azp must name us.
    let azp = claims.get("azp").and_then(Value::as_str);
    if (auds.len() > 1 || azp.is_some()) && azp != Some(e.client_id) {
        return Err(Error::AudienceMismatch {
            expected: format!("azp = {}", e.client_id),
            actual: format!("azp = {}", azp.unwrap_or("(none)")),
        });
    }
    let nonce = claims.get("nonce").and_then(Value::as_str);
    if !nonce.is_some_and(|n| crypto::constant_time_eq(n.as_bytes(), e.nonce.as_bytes())) {
        return Err(Error::NonceMismatch {
            expected: e.nonce.to_string(),
            actual: nonce.map(String::from),
        });
    }

    let skew = e.allowed_skew;
    let Some(exp) = int(claims, "exp") else {
        return Err(Error::ClaimMissing {
            claim: "exp".into(),
            present: claims.keys().cloned().collect(),
        });
    };
    let iat = int(claims, "iat");
    let nbf = int(claims, "nbf");
    let from_future = iat.is_some_and(|t| t > e.now + skew) || nbf.is_some_and(|t| t > e.now + skew);
    let expired = exp <= e.now - skew;
    if !(from_future || expired) {
        return Ok(());
    }
    // Tell clock trouble from a genuinely stale token: the token response's
    // Date header is the IdP's clock, read a moment ago.
    if let Some(date) = e.idp_date {
        let offset = date - e.now;
        if offset.abs() > skew {
            return Err(Error::ClockSkew {
                offset,
                allowed: skew,
                source_of_time: "the Date header of the IdP's token response",
            });
        }
    }
    if from_future {
        let t = iat.into_iter().chain(nbf).max().unwrap_or(e.now);
        return Err(Error::ClockSkew {
            offset: t - e.now,
            allowed: skew,
            source_of_time: "the token's iat/nbf",
        });
    }
    Err(Error::Expired {
        exp,
        now: e.now,
        allowed: skew,
        iat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn expect(now: i64, idp_date: Option<i64>) -> Expect<'static> {
        static ALGS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| vec!["RS256".to_string()]);
        Expect {
            issuer: "https://idp.example",
            client_id: "gw",
            nonce: "n1",
            allowed_skew: 120,
            algs: &ALGS,
            now,
            idp_date,
        }
    }

    fn good(now: i64) -> Value {
        json!({"iss": "https://idp.example", "aud": "gw", "nonce": "n1", "iat": now, "exp": now + 300, "sub": "u"})
    }

    #[test]
    fn accepts_within_skew() {
        let now = 1_000_000;
        assert!(check_claims(&claims(good(now)), &expect(now, Some(now))).is_ok());
        let mut v = good(now);
        v["iat"] = json!(now + 100);
        assert!(
            check_claims(&claims(v), &expect(now, None)).is_ok(),
            "100s ahead is within 120s"
        );
    }

    #[test]
    fn time_failures_are_classified_by_the_idps_http_clock() {
        let now = 1_000_000;
        // Gateway 10 minutes ahead: the token looks expired, the Date header
        // shows the offset.
        let v = good(now - 600);
        match check_claims(&claims(v.clone()), &expect(now, Some(now - 600))) {
            Err(Error::ClockSkew { offset, .. }) => assert_eq!(offset, -600),
            other => panic!("{other:?}"),
        }
        // Same token, but the IdP's HTTP clock agrees with ours: stale token.
        assert!(matches!(
            check_claims(&claims(v.clone()), &expect(now, Some(now))),
            Err(Error::Expired { .. })
        ));
        // No Date header and an iat from the future: skew from iat.
        let v = good(now + 900);
        match check_claims(&claims(v), &expect(now, None)) {
            Err(Error::ClockSkew {
                offset, source_of_time, ..
            }) => {
                assert_eq!(offset, 900);
                assert!(source_of_time.contains("iat"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn audience_rules() {
        let now = 1_000_000;
        let mut v = good(now);
        v["aud"] = json!(["gw", "other"]);
        assert!(
            matches!(
                check_claims(&claims(v.clone()), &expect(now, None)),
                Err(Error::AudienceMismatch { .. })
            ),
            "several audiences need azp"
        );
        v["azp"] = json!("gw");
        assert!(check_claims(&claims(v), &expect(now, None)).is_ok());
        let mut v = good(now);
        v.as_object_mut().unwrap().remove("nonce");
        assert!(matches!(
            check_claims(&claims(v), &expect(now, None)),
            Err(Error::NonceMismatch { actual: None, .. })
        ));
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30.",
            "eyJhbGciOiJSUzI1NiJ9.bm90LWpzb24.c2ln",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
