//! IdP metadata: the entity id, the SSO endpoint, and every signing
//! certificate (several during a rotation), with what an admin needs to know
//! about each (subject, serial, validity, fingerprint).

use base64::Engine;
use libxml::parser::{Parser, ParserOptions};
use libxml::tree::Document;
use libxml::xpath::Context;

pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// A certificate as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    pub der: Vec<u8>,
    pub subject: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    pub sha256: String,
}

impl Cert {
    #[allow(deprecated)] // as_utf8: subject values with NULs are not a concern for display
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let x = openssl::x509::X509::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let subject = x
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().as_utf8().map(|s| s.to_string()).unwrap_or_default();
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let serial = x
            .serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|h| h.to_string()))
            .unwrap_or_default();
        let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
        let unix = |t: &openssl::asn1::Asn1TimeRef| -> Result<i64, String> {
            let d = epoch.diff(t).map_err(|e| e.to_string())?;
            Ok(d.days as i64 * 86_400 + d.secs as i64)
        };
        let digest = crate::crypto::sha256(der);
        Ok(Self {
            der: der.to_vec(),
            subject,
            serial,
            not_before: unix(x.not_before())?,
            not_after: unix(x.not_after())?,
            sha256: digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"),
        })
    }

    pub fn from_base64(text: &str) -> Result<Self, String> {
        let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(clean)
            .map_err(|e| format!("certificate is not base64: {e}"))?;
        Self::from_der(&der)
    }

    /// The admin-facing summary used in diagnostics.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject, "serial": self.serial,
            "not_before": crate::clock::rfc3339(self.not_before),
            "not_after": crate::clock::rfc3339(self.not_after),
            "sha256": self.sha256,
        })
    }
}

#[derive(Debug, Clone)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_redirect: Option<String>,
    pub certs: Vec<Cert>,
}

/// Parses untrusted XML with libxml2 safely: no DTDs (so no entity
/// expansion or external entities), no network.
pub fn parse_untrusted(xml: &str) -> Result<Document, String> {
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err("document type declarations are not allowed".into());
    }
    let options = ParserOptions {
        recover: false,
        no_def_dtd: true,
        no_error: true,
        no_warning: true,
        no_net: true,
        ..Default::default()
    };
    Parser::default()
        .parse_string_with_options(xml, options)
        .map_err(|e| format!("not well-formed XML: {e:?}"))
}

pub fn xpath(doc: &Document) -> Result<Context, String> {
    let ctx = Context::new(doc).map_err(|_| "cannot evaluate XPath".to_string())?;
    for (p, ns) in [("md", MD), ("ds", DS), ("samlp", SAMLP), ("saml", SAML), ("xenc", XENC)] {
        ctx.register_namespace(p, ns)
            .map_err(|_| "cannot register namespace".to_string())?;
    }
    Ok(ctx)
}

impl IdpMetadata {
    pub fn parse(xml: &str) -> Result<Self, String> {
        let doc = parse_untrusted(xml)?;
        let mut ctx = xpath(&doc)?;
        let entity = ctx
            .findnodes("//md:EntityDescriptor[md:IDPSSODescriptor]", None)
            .map_err(|_| "XPath failed".to_string())?
            .into_iter()
            .next()
            .ok_or("no EntityDescriptor with an IDPSSODescriptor")?;
        let entity_id = entity
            .get_attribute("entityID")
            .ok_or("EntityDescriptor has no entityID")?;
        let mut certs = Vec::new();
        let nodes = ctx
            .findnodes(
                "md:IDPSSODescriptor/md:KeyDescriptor[not(@use) or @use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate",
                Some(&entity),
            )
            .map_err(|_| "XPath failed".to_string())?;
        for n in nodes {
            let cert = Cert::from_base64(&n.get_content())?;
            if !certs.contains(&cert) {
                certs.push(cert);
            }
        }
        let sso_redirect = ctx
            .findnodes(
                &format!("md:IDPSSODescriptor/md:SingleSignOnService[@Binding='{REDIRECT_BINDING}']"),
                Some(&entity),
            )
            .map_err(|_| "XPath failed".to_string())?
            .into_iter()
            .next()
            .and_then(|n| n.get_attribute("Location"));
        Ok(Self {
            entity_id,
            sso_redirect,
            certs,
        })
    }
}
