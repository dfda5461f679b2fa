//! Live preflight of an organization's IdP: fetches what the IdP publishes
//! and checks, one named row each, what a sign-in will need — certificates
//! and their expiry, algorithms, that endpoints answer, the IdP's clock
//! against ours (HTTP `Date`), and that our own URLs match the IdP's
//! configuration where it can be observed. Read-only: nothing is cached or
//! stored, so it can run against a live connection at any time.

use serde::Serialize;
use serde_json::Value;

use crate::clock::rfc3339;
use crate::config::{Config, Connection, MetadataSource, TokenEndpointAuth};
use crate::diagnostics::certs::{self, Standing};
use crate::diagnostics::checks::{Check, Result as R};
use crate::federation::saml::metadata::{Cert, IdpMetadata};
use crate::federation::{self, Federation};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub org: String,
    pub kind: String,
    pub at: String,
    /// `fail` if any check failed, else `warn` if any warned, else `pass`.
    pub verdict: R,
    pub checks: Vec<Check>,
}

fn verdict(checks: &[Check]) -> R {
    if checks.iter().any(|c| c.result == R::Fail) {
        R::Fail
    } else if checks.iter().any(|c| c.result == R::Warn) {
        R::Warn
    } else {
        R::Pass
    }
}

/// The most of a response body the preflight reads.
const BODY_LIMIT: usize = 1 << 20;

async fn body(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        out.extend_from_slice(&chunk);
        if out.len() > BODY_LIMIT {
            return Err(format!("the answer is larger than {} KiB", BODY_LIMIT / 1024));
        }
    }
    Ok(out)
}

fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast()
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    }
}

async fn resolves_internal(url: &url::Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::net::lookup_host((host.trim_matches(['[', ']']), port)).await {
        Ok(addrs) => addrs.into_iter().any(|a| is_internal(a.ip())),
        Err(_) => false,
    }
}

/// Where the IdP's own documents may send the preflight: the IdP decides
/// those URLs, so they must not lead the gateway into its private network
/// (or off https) unless the configured address itself lives there.
async fn may_fetch(target: &str, anchor: &str) -> Result<(), String> {
    let t = url::Url::parse(target).map_err(|e| format!("`{target}` is not a URL ({e})"))?;
    let a = url::Url::parse(anchor).map_err(|e| format!("`{anchor}` is not a URL ({e})"))?;
    if t.scheme() != "https" && !(t.scheme() == "http" && a.scheme() == "http") {
        return Err(format!("`{target}` is not https"));
    }
    if resolves_internal(&t).await && !resolves_internal(&a).await {
        return Err(format!(
            "`{target}` leads to a private address while the IdP is configured at a public one: not fetched"
        ));
    }
    Ok(())
}

/// The `Date` header of a response, as unix seconds.
fn http_date(resp: &reqwest::Response) -> Option<i64> {
    let v = resp.headers().get(reqwest::header::DATE)?.to_str().ok()?;
    httpdate::parse_http_date(v)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

fn clock_check(idp_date: Option<i64>, now: i64, allowed: i64) -> Check {
    let name = "IdP clock (HTTP Date) against the gateway's";
    match idp_date {
        None => Check::new(name, R::Skipped).actual("the IdP sent no Date header"),
        Some(d) => {
            // HTTP dates have one-second resolution; allow for the round trip.
            let offset = d - now;
            let c = Check::new(name, if offset.abs() <= allowed { R::Pass } else { R::Fail })
                .expected(format!("|offset| <= {allowed}s"))
                .actual(format!("{offset:+}s (IdP {} / gateway {})", rfc3339(d), rfc3339(now)));
            if offset.abs() > allowed {
                c.fix("fix NTP on the side that is off; sign-ins fail with sso_clock_skew until then")
            } else {
                c
            }
        }
    }
}

async fn answers(
    http: &reqwest::Client,
    name: &str,
    url: &str,
    anchor: &str,
    method: reqwest::Method,
) -> (Check, Option<i64>) {
    if let Err(why) = may_fetch(url, anchor).await {
        return (
            Check::new(name, R::Fail)
                .actual(why)
                .fix("the IdP publishes an endpoint the gateway will not call"),
            None,
        );
    }
    match http.request(method, url).send().await {
        // The probe carries no protocol message, so an IdP may well answer
        // it with an error; only a server error is worth a look.
        Ok(resp) if resp.status().is_server_error() => (
            Check::new(name, R::Warn)
                .expected("an answer below 500 (to a request without a protocol message)")
                .actual(format!("{} from {url}", resp.status()))
                .fix("if sign-ins fail with sso_idp_error too, the IdP endpoint is failing: ask the IdP's administrators"),
            http_date(&resp),
        ),
        Ok(resp) => (
            Check::pass(name).actual(format!("{} from {url}", resp.status())),
            http_date(&resp),
        ),
        Err(e) => (
            Check::new(name, R::Fail)
                .actual(format!("{url}: {e}"))
                .fix("check DNS, firewall and TLS between the gateway and the IdP"),
            None,
        ),
    }
}

/// Checks a certificate's expiry and strength.
pub fn cert_checks(label: &str, c: &Cert, now: i64, warn_days: &[u32]) -> Vec<Check> {
    let mut out = Vec::new();
    let name = format!("{label} {} (serial {}) validity", c.subject, c.serial);
    let s = certs::standing(c.not_after, now, warn_days);
    let days = (c.not_after - now).div_euclid(86_400);
    let base = Check::new(&name, R::Pass)
        .expected(format!(
            "valid now and for more than {} days",
            warn_days.iter().max().unwrap_or(&30)
        ))
        .actual(format!(
            "notBefore {} notAfter {} ({days} days left)",
            rfc3339(c.not_before),
            rfc3339(c.not_after)
        ));
    out.push(match s {
        _ if now < c.not_before => Check {
            result: R::Fail,
            ..base.fix("the certificate is not valid yet: check the IdP's clock or the certificate")
        },
        Standing::Expired => Check {
            result: R::Fail,
            ..base.fix("the certificate expired: the IdP must roll over and publish the new certificate")
        },
        Standing::Expiring { .. } => Check {
            result: R::Warn,
            ..base.fix("ask the IdP to publish its next certificate in the metadata now, so the rollover is seamless")
        },
        Standing::Valid => base,
    });
    if let Ok(x) = openssl::x509::X509::from_der(&c.der) {
        let alg = x
            .signature_algorithm()
            .object()
            .nid()
            .short_name()
            .unwrap_or("?")
            .to_string();
        let bits = x.public_key().map(|k| (k.id(), k.bits())).ok();
        let weak_sig = alg.to_ascii_lowercase().contains("sha1") || alg.to_ascii_lowercase().contains("md5");
        let weak_key = matches!(bits, Some((id, b)) if id == openssl::pkey::Id::RSA && b < 2048);
        let key = bits.map_or("?".to_string(), |(id, b)| {
            let kind = match id {
                openssl::pkey::Id::RSA => "RSA",
                openssl::pkey::Id::EC => "EC",
                openssl::pkey::Id::ED25519 => "Ed25519",
                _ => "other",
            };
            format!("{kind} {b} bits")
        });
        let c = Check::new(
            &format!("{label} key and signature algorithm"),
            if weak_key {
                R::Fail
            } else if weak_sig {
                R::Warn
            } else {
                R::Pass
            },
        )
        .expected("RSA ≥ 2048 bits or EC; certificate signed with SHA-256 or stronger")
        .actual(format!("{key}, {alg}"));
        out.push(if weak_key || weak_sig {
            c.fix("issue the IdP's signing certificate with a stronger key / hash")
        } else {
            c
        });
    }
    out
}

pub async fn run(cfg: &Config, fed: &Federation, org_id: &str, now: i64) -> Report {
    let kind;
    let mut checks = Vec::new();
    match cfg.org(org_id).and_then(|o| o.connection.as_ref()) {
        None => {
            kind = "none".to_string();
            checks.push(
                Check::new("connection configured", R::Fail)
                    .actual(format!("organization `{org_id}` has no IdP connection"))
                    .fix("add an [org.connection] (kind = \"saml\" or \"oidc\")"),
            );
        }
        Some(Connection::Saml(c)) => {
            kind = "saml".to_string();
            let timeout = c.http_timeout;
            match federation::http_client(timeout) {
                Ok(http) => saml(cfg, fed, org_id, c, &http, now, &mut checks).await,
                Err(e) => checks.push(Check::new("HTTP client", R::Fail).actual(e.to_string())),
            }
        }
        Some(Connection::Oidc(c)) => {
            kind = "oidc".to_string();
            match federation::http_client(c.http_timeout) {
                Ok(http) => oidc(cfg, org_id, c, &http, now, &mut checks).await,
                Err(e) => checks.push(Check::new("HTTP client", R::Fail).actual(e.to_string())),
            }
        }
    }
    Report {
        org: org_id.to_string(),
        kind,
        at: rfc3339(now),
        verdict: verdict(&checks),
        checks,
    }
}

async fn saml(
    cfg: &Config,
    fed: &Federation,
    org_id: &str,
    c: &crate::config::SamlConnection,
    http: &reqwest::Client,
    now: i64,
    checks: &mut Vec<Check>,
) {
    let skew = c.allowed_clock_skew.as_secs() as i64;
    let (xml, date) = match &c.metadata {
        MetadataSource::Url(u) => match http.get(u).send().await {
            Ok(resp) if resp.status().is_success() => {
                let date = http_date(&resp);
                match body(resp)
                    .await
                    .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8".to_string()))
                {
                    Ok(t) => {
                        checks.push(Check::pass("metadata answers").actual(format!("200 from {u}")));
                        (Some(t), date)
                    }
                    Err(e) => {
                        checks.push(Check::new("metadata answers", R::Fail).actual(e.to_string()));
                        (None, date)
                    }
                }
            }
            Ok(resp) => {
                checks.push(
                    Check::new("metadata answers", R::Fail)
                        .expected("200")
                        .actual(format!("{} from {u}", resp.status()))
                        .fix("check the metadata URL, or point idp_metadata_file at a current copy"),
                );
                (None, http_date(&resp))
            }
            Err(e) => {
                checks.push(
                    Check::new("metadata answers", R::Fail)
                        .actual(format!("{u}: {e}"))
                        .fix("check DNS, firewall and TLS, or use idp_metadata_file"),
                );
                (None, None)
            }
        },
        MetadataSource::File(p) => match std::fs::read_to_string(p) {
            Ok(t) => {
                checks.push(Check::pass("metadata file readable").actual(p.display().to_string()));
                (Some(t), None)
            }
            Err(e) => {
                checks.push(Check::new("metadata file readable", R::Fail).actual(format!("{}: {e}", p.display())));
                (None, None)
            }
        },
    };
    let Some(xml) = xml else { return };
    let md = match IdpMetadata::parse(&xml) {
        Ok(m) => {
            checks.push(Check::pass("metadata parses").actual(format!("entityID {}", m.entity_id)));
            m
        }
        Err(e) => {
            checks.push(
                Check::new("metadata parses", R::Fail)
                    .actual(e)
                    .fix("the document is not SAML 2.0 IdP metadata"),
            );
            return;
        }
    };
    if md.certs.is_empty() {
        checks.push(
            Check::new("signing certificates published", R::Fail)
                .actual("no KeyDescriptor for signing")
                .fix("the IdP must publish its signing certificate in the metadata"),
        );
    }
    for cert in &md.certs {
        checks.extend(cert_checks(
            "IdP signing certificate",
            cert,
            now,
            &cfg.diagnostics.certificate_warn_days,
        ));
    }
    if let Some(conn) = fed.saml(org_id)
        && let Ok(current) = conn.metadata().await
    {
        let known: Vec<&str> = current.certs.iter().map(|c| c.sha256.as_str()).collect();
        let fresh: Vec<&str> = md.certs.iter().map(|c| c.sha256.as_str()).collect();
        checks.push(if known == fresh {
            Check::pass("gateway's copy of the metadata is current")
        } else {
            Check::new("gateway's copy of the metadata is current", R::Warn)
                .expected(fresh.join(", "))
                .actual(known.join(", "))
                .fix("the IdP's certificates changed since the last refresh; it is picked up at the next metadata_refresh")
        });
    }
    if let Some(alg) = signing_methods(&xml).into_iter().find(|a| a.contains("sha1")) {
        checks.push(
            Check::new(
                "advertised signing algorithms",
                if c.allow_sha1 { R::Warn } else { R::Fail },
            )
            .expected("rsa-sha256 or stronger")
            .actual(alg)
            .fix("set the IdP to sign with SHA-256"),
        );
    }
    match &md.sso_redirect {
        Some(sso) => {
            let anchor = match &c.metadata {
                MetadataSource::Url(u) => u.clone(),
                // A file on the gateway's own disk: its endpoints are what
                // the operator put there.
                MetadataSource::File(_) => sso.clone(),
            };
            let (check, sso_date) = answers(
                http,
                "SingleSignOnService (HTTP-Redirect) answers",
                sso,
                &anchor,
                reqwest::Method::GET,
            )
            .await;
            checks.push(check);
            checks.push(clock_check(date.or(sso_date), now, skew));
        }
        None => {
            checks.push(
                Check::new("SingleSignOnService (HTTP-Redirect) published", R::Fail)
                    .fix("the IdP's metadata must list an HTTP-Redirect SingleSignOnService"),
            );
            checks.push(clock_check(date, now, skew));
        }
    }
    // Our own identifiers: an IdP publishes the SPs it knows only in an
    // aggregate; where it does, they must match.
    let (entity, acs) = fed
        .saml(org_id)
        .map(|s| (s.sp_entity_id.clone(), s.acs_url.clone()))
        .unwrap_or_default();
    match published_acs(&xml, &entity) {
        Some(locations) if locations.iter().any(|l| l == &acs) => {
            checks.push(Check::pass("our ACS URL at the IdP").expected(acs).actual(locations.join(", ")))
        }
        Some(locations) => checks.push(
            Check::new("our ACS URL at the IdP", R::Fail)
                .expected(acs)
                .actual(locations.join(", "))
                .fix("update the ACS URL registered at the IdP (sign-ins fail with sso_destination_mismatch)"),
        ),
        None => checks.push(
            Check::new("our entity ID and ACS URL at the IdP", R::Skipped)
                .expected(format!("{entity} / {acs}"))
                .actual("the IdP's metadata does not list its service providers; compare by hand with /sso/saml/ORG/metadata"),
        ),
    }
}

/// `alg:SigningMethod` values the metadata advertises, if any.
fn signing_methods(xml: &str) -> Vec<String> {
    xml.match_indices("SigningMethod")
        .filter_map(|(i, _)| {
            let rest = &xml[i..];
            let a = rest.find("Algorithm=\"")? + "Algorithm=\"".len();
            rest[a..].split('"').next().map(str::to_string)
        })
        .collect()
}

/// ACS locations of `entity` when the document also describes it as an SP.
fn published_acs(xml: &str, entity: &str) -> Option<Vec<String>> {
    let doc = crate::federation::saml::metadata::parse_untrusted(xml).ok()?;
    let mut ctx = crate::federation::saml::metadata::xpath(&doc).ok()?;
    let sp = ctx
        .findnodes("//md:EntityDescriptor[md:SPSSODescriptor]", None)
        .ok()?
        .into_iter()
        .find(|n| n.get_attribute("entityID").as_deref() == Some(entity))?;
    let acs = ctx
        .findnodes("md:SPSSODescriptor/md:AssertionConsumerService", Some(&sp))
        .ok()?;
    Some(acs.iter().filter_map(|n| n.get_attribute("Location")).collect())
}

async fn oidc(
    cfg: &Config,
    org_id: &str,
    c: &crate::config::OidcConnection,
    http: &reqwest::Client,
    now: i64,
    checks: &mut Vec<Check>,
) {
    let skew = c.allowed_clock_skew.as_secs() as i64;
    let url = format!("{}/.well-known/openid-configuration", c.issuer);
    let (doc, date): (Value, Option<i64>) = match http.get(&url).send().await {
        Ok(resp) if resp.status().is_success() => {
            let date = http_date(&resp);
            match body(resp)
                .await
                .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => {
                    checks.push(Check::pass("discovery document answers").actual(format!("200 from {url}")));
                    (v, date)
                }
                Err(e) => {
                    checks.push(Check::new("discovery document answers", R::Fail).actual(format!("not JSON: {e}")));
                    return;
                }
            }
        }
        Ok(resp) => {
            checks.push(
                Check::new("discovery document answers", R::Fail)
                    .expected("200")
                    .actual(format!("{} from {url}", resp.status()))
                    .fix("check the configured issuer: discovery lives at ISSUER/.well-known/openid-configuration"),
            );
            return;
        }
        Err(e) => {
            checks.push(
                Check::new("discovery document answers", R::Fail)
                    .actual(format!("{url}: {e}"))
                    .fix("check DNS, firewall and TLS between the gateway and the IdP"),
            );
            return;
        }
    };
    checks.push(clock_check(date, now, skew));
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        doc.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let issuer = field("issuer").unwrap_or_default();
    checks.push(if issuer == c.issuer {
        Check::pass("issuer").expected(c.issuer.clone()).actual(issuer)
    } else {
        Check::new("issuer", R::Fail)
            .expected(c.issuer.clone())
            .actual(issuer)
            .fix("set the connection's issuer to exactly the IdP's (trailing slash included); sign-ins fail with sso_issuer_mismatch")
    });
    let algs = list("id_token_signing_alg_values_supported");
    let usable: Vec<&String> = algs.iter().filter(|a| c.signing_algs.contains(a)).collect();
    checks.push(if usable.is_empty() {
        Check::new("ID token signing algorithms", R::Fail)
            .expected(c.signing_algs.join(", "))
            .actual(algs.join(", "))
            .fix("the IdP offers no algorithm the gateway accepts: configure RS256/ES256 at the IdP or signing_algs here")
    } else {
        Check::pass("ID token signing algorithms")
            .expected(c.signing_algs.join(", "))
            .actual(algs.join(", "))
    });
    let method = match c.token_endpoint_auth {
        TokenEndpointAuth::ClientSecretBasic => "client_secret_basic",
        TokenEndpointAuth::ClientSecretPost => "client_secret_post",
        TokenEndpointAuth::PrivateKeyJwt => "private_key_jwt",
    };
    let methods = list("token_endpoint_auth_methods_supported");
    checks.push(if methods.is_empty() || methods.iter().any(|m| m == method) {
        Check::pass("token endpoint authentication")
            .expected(method)
            .actual(if methods.is_empty() {
                "(not advertised: client_secret_basic assumed)".into()
            } else {
                methods.join(", ")
            })
    } else {
        Check::new("token endpoint authentication", R::Fail)
            .expected(method)
            .actual(methods.join(", "))
            .fix("choose a token_endpoint_auth the IdP supports")
    });
    let jwks_uri = match field("jwks_uri") {
        Some(j) => {
            let allowed = may_fetch(&j, &c.issuer).await;
            Some((j, allowed))
        }
        None => None,
    };
    match jwks_uri {
        Some((_, Err(why))) => checks.push(
            Check::new("signing keys (JWKS)", R::Fail)
                .actual(why)
                .fix("the IdP publishes a key URL the gateway will not call"),
        ),
        Some((jwks, Ok(()))) => match http.get(&jwks).send().await {
            Ok(resp) if resp.status().is_success() => {
                let keys = body(resp)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v.get("keys").and_then(Value::as_array).map(Vec::len))
                    .unwrap_or(0);
                checks.push(if keys > 0 {
                    Check::pass("signing keys (JWKS)").actual(format!("{keys} keys at {jwks}"))
                } else {
                    Check::new("signing keys (JWKS)", R::Fail)
                        .actual(format!("no keys at {jwks}"))
                        .fix("the IdP publishes no keys: ID tokens cannot be verified")
                });
            }
            Ok(resp) => {
                checks.push(Check::new("signing keys (JWKS)", R::Fail).actual(format!("{} from {jwks}", resp.status())))
            }
            Err(e) => checks.push(Check::new("signing keys (JWKS)", R::Fail).actual(format!("{jwks}: {e}"))),
        },
        None => checks.push(Check::new("signing keys (JWKS)", R::Fail).actual("no jwks_uri in discovery")),
    }
    match field("token_endpoint") {
        Some(t) => checks.push(
            answers(http, "token endpoint answers", &t, &c.issuer, reqwest::Method::POST)
                .await
                .0,
        ),
        None => checks.push(Check::new("token endpoint answers", R::Fail).actual("no token_endpoint in discovery")),
    }
    // Our redirect URI: the IdP's authorization endpoint refuses an
    // unregistered one before any login page, so a probe tells.
    let ours = format!("{}/sso/oidc/{org_id}/callback", cfg.server.issuer());
    match field("authorization_endpoint").and_then(|a| url::Url::parse(&a).ok()) {
        Some(mut a) => {
            a.query_pairs_mut()
                .append_pair("client_id", &c.client_id)
                .append_pair("redirect_uri", &ours)
                .append_pair("response_type", "code")
                .append_pair("scope", "openid")
                .append_pair("state", "gatehouse-preflight")
                .append_pair("nonce", "gatehouse-preflight")
                .append_pair(
                    "code_challenge",
                    &crate::crypto::b64url(&crate::crypto::sha256(crate::crypto::random_token().as_bytes())),
                )
                .append_pair("code_challenge_method", "S256");
            let name = "our client id and redirect URI at the IdP";
            if let Err(why) = may_fetch(a.as_str(), &c.issuer).await {
                checks.push(Check::new(name, R::Fail).actual(why));
                return;
            }
            match http.get(a.as_str()).send().await {
                Ok(resp) if resp.status().is_redirection() => {
                    let loc = resp
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    if loc.starts_with(&ours) && loc.contains("error=") {
                        // An IdP sends errors only to a registered redirect
                        // URI: ours is registered, something else is not right.
                        checks.push(
                            Check::new(name, R::Warn)
                                .expected("a login page for the gateway's client")
                                .actual(loc)
                                .fix("the redirect URI is registered, but the IdP refused the request itself: check the client's settings there (scopes, PKCE, response type)"),
                        );
                    } else {
                        checks.push(
                            Check::pass(name)
                                .expected(ours.clone())
                                .actual(format!("{} (accepted)", resp.status())),
                        );
                    }
                }
                Ok(resp) if resp.status().is_success() => checks.push(
                    Check::pass(name)
                        .expected(ours.clone())
                        .actual(format!("{} (login page)", resp.status())),
                ),
                // The body is not echoed: it is the IdP's page, not ours.
                Ok(resp) => {
                    checks.push(
                        Check::new(name, R::Fail)
                            .expected(format!("client `{}` with redirect URI {ours} registered", c.client_id))
                            .actual(format!("{} before any login page", resp.status()))
                            .fix("register exactly this redirect URI (and client id) at the IdP"),
                    );
                }
                Err(e) => checks.push(
                    Check::new("authorization endpoint answers", R::Fail)
                        .actual(e.to_string())
                        .fix("check DNS, firewall and TLS between the gateway and the IdP"),
                ),
            }
        }
        None => checks.push(Check::new("authorization endpoint", R::Fail).actual("none in discovery")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idp_published_urls_cannot_lead_into_the_private_network() {
        assert!(is_internal("10.1.2.3".parse().unwrap()));
        assert!(is_internal("169.254.169.254".parse().unwrap()));
        assert!(is_internal("::1".parse().unwrap()));
        assert!(!is_internal("93.184.216.34".parse().unwrap()));
        // A public IdP pointing at the metadata service or plain http: refused.
        assert!(
            may_fetch("http://169.254.169.254/latest", "https://93.184.216.34/")
                .await
                .is_err()
        );
        assert!(
            may_fetch("https://10.0.0.5/token", "https://93.184.216.34/")
                .await
                .is_err()
        );
        // An IdP configured on the private network may use it.
        assert!(
            may_fetch("http://127.0.0.1:9/token", "http://127.0.0.1:8/")
                .await
                .is_ok()
        );
    }
}
