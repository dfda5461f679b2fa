//! Judging a SAML Response, as a function of the response, the IdP's
//! metadata and what this sign-in expects (including the instant to judge
//! at, so an admin can replay a captured response "as of" the user's time).
//!
//! Order: structure (one Response, one Assertion, unique IDs, each
//! signature enveloped in the element it references — this alone defeats the
//! XSW family), status, signature presence, algorithms, the signing
//! certificate against the metadata, the signature itself (samael/xmlsec,
//! which also reduces the document to what was signed), the certificate's
//! validity, then issuer, destination, subject confirmation, conditions,
//! audience and attributes — all read from the signed content only. Replay
//! is the caller's (it needs the shared store).

use libxml::tree::{Document, Node};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode};

use super::error::Error;
use super::metadata::{Cert, IdpMetadata, SAMLP, parse_untrusted, xpath};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

pub struct Expect<'a> {
    pub idp: &'a IdpMetadata,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The AuthnRequest this response should answer, when one is pending.
    pub request_id: Option<&'a str>,
    /// When that AuthnRequest was sent (tells IdP clock skew from slowness).
    pub request_sent_at: Option<i64>,
    pub allow_idp_initiated: bool,
    pub now: i64,
    pub skew: i64,
    pub allow_sha1: bool,
    pub accept_expired_cert: bool,
    pub want_assertions_signed: bool,
    pub required_attributes: &'a [String],
    /// The SP key, for EncryptedAssertion.
    pub decryption_key: Option<&'a openssl::pkey::PKey<openssl::pkey::Private>>,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: String,
    pub friendly_name: Option<String>,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub assertion_id: String,
    pub issuer: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub attributes: Vec<Attribute>,
    pub authn_context: Option<String>,
    /// The assertion is unusable from this instant (the replay cache keeps
    /// its ID until then).
    pub not_on_or_after: i64,
    pub signing_cert: Cert,
    pub warnings: Vec<String>,
}

impl Verified {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name == name || a.friendly_name.as_deref() == Some(name))
    }
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed { reason: reason.into() }
}

fn wrapping(reason: impl Into<String>) -> Error {
    Error::SignatureInvalid {
        reason: format!("signature wrapping: {}", reason.into()),
    }
}

fn find(ctx: &mut libxml::xpath::Context, path: &str, at: Option<&Node>) -> Result<Vec<Node>, Error> {
    ctx.findnodes(path, at)
        .map_err(|_| malformed(format!("XPath {path} failed")))
}

fn first(ctx: &mut libxml::xpath::Context, path: &str, at: Option<&Node>) -> Result<Option<Node>, Error> {
    Ok(find(ctx, path, at)?.into_iter().next())
}

fn time(value: Option<String>, what: &str) -> Result<Option<i64>, Error> {
    match value {
        None => Ok(None),
        Some(v) => humantime::parse_rfc3339_weak(v.trim())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| Some(d.as_secs() as i64))
            .ok_or_else(|| malformed(format!("{what} `{v}` is not an xs:dateTime in UTC"))),
    }
}

fn is_weak(alg: &str) -> bool {
    let a = alg.to_ascii_lowercase();
    a.ends_with("sha1") || a.contains("md5")
}

fn same_node(a: &Node, b: &Node) -> bool {
    a.node_ptr() == b.node_ptr()
}

const STRONG: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

fn check_status(ctx: &mut libxml::xpath::Context) -> Result<(), Error> {
    let status = first(ctx, "/samlp:Response/samlp:Status/samlp:StatusCode", None)?
        .and_then(|n| n.get_attribute("Value"))
        .unwrap_or_default();
    if status == SUCCESS {
        return Ok(());
    }
    let sub = first(
        ctx,
        "/samlp:Response/samlp:Status/samlp:StatusCode/samlp:StatusCode",
        None,
    )?
    .and_then(|n| n.get_attribute("Value"));
    let message = first(ctx, "/samlp:Response/samlp:Status/samlp:StatusMessage", None)?.map(|n| n.get_content());
    Err(Error::IdpStatus {
        status: if status.is_empty() {
            "(no StatusCode)".into()
        } else {
            status
        },
        sub_status: sub,
        message,
    })
}

fn open(xml: &str) -> Result<(Document, libxml::xpath::Context, Node), Error> {
    let doc = parse_untrusted(xml).map_err(malformed)?;
    let ctx = xpath(&doc).map_err(malformed)?;
    let root = doc.get_root_element().ok_or_else(|| malformed("empty document"))?;
    if root.get_name() != "Response" || root.get_namespace().map(|n| n.get_href()).as_deref() != Some(SAMLP) {
        return Err(malformed(format!(
            "the root element is {}, not samlp:Response",
            root.get_name()
        )));
    }
    Ok((doc, ctx, root))
}

/// The single occurrence of `node`'s element in `xml`, as a byte range from
/// its start tag to the end of its end tag.
fn element_span(xml: &str, node: &Node) -> Result<std::ops::Range<usize>, Error> {
    let name = match node.get_namespace().map(|n| n.get_prefix()).filter(|p| !p.is_empty()) {
        Some(prefix) => format!("{prefix}:{}", node.get_name()),
        None => node.get_name(),
    };
    let open_tag = format!("<{name}");
    let close_tag = format!("</{name}>");
    let starts: Vec<usize> = xml
        .match_indices(&open_tag)
        .filter(|(i, _)| xml[i + open_tag.len()..].starts_with([' ', '>', '\n', '\t', '\r', '/']))
        .map(|(i, _)| i)
        .collect();
    let ends: Vec<usize> = xml.match_indices(&close_tag).map(|(i, _)| i).collect();
    match (starts.as_slice(), ends.as_slice()) {
        ([s], [e]) if s < e => Ok(*s..e + close_tag.len()),
        _ => Err(wrapping(format!("{name} must appear exactly once"))),
    }
}

/// Judges `xml` (the decoded SAMLResponse). Blocking: run it off the async
/// executor.
pub fn judge(xml: &str, e: &Expect<'_>) -> Result<Verified, Error> {
    let (doc, mut ctx, root) = open(xml)?;
    check_status(&mut ctx)?;
    let encrypted = find(&mut ctx, "//saml:EncryptedAssertion", None)?;
    if encrypted.is_empty() {
        return judge_plain(xml, e, None, Vec::new());
    }
    // Encrypted: the Response signature (if any) covers the ciphertext, so
    // it is checked first; then the Assertion is decrypted into place and
    // judged like a plain one (with its own signature, if it has one).
    if encrypted.len() != 1 || !find(&mut ctx, "//saml:Assertion", None)?.is_empty() {
        return Err(wrapping("more than one assertion (encrypted or not)"));
    }
    let enc = &encrypted[0];
    if !enc.get_parent().is_some_and(|p| same_node(&p, &root)) {
        return Err(wrapping("the EncryptedAssertion is not a direct child of the Response"));
    }
    let key = e
        .decryption_key
        .ok_or_else(|| malformed("the assertion is encrypted but this SP has no decryption key"))?;
    let signatures = find(&mut ctx, "//ds:Signature", None)?;
    let mut outer = None;
    let mut sig_span = None;
    if let Some(sig) = signatures.first() {
        if signatures.len() != 1 || !sig.get_parent().is_some_and(|p| same_node(&p, &root)) {
            return Err(wrapping("a Signature outside the Response"));
        }
        let refs = find(&mut ctx, "ds:SignedInfo/ds:Reference", Some(sig))?;
        let id = root.get_attribute("ID").unwrap_or_default();
        if refs.len() != 1 || refs[0].get_attribute("URI").as_deref() != Some(format!("#{id}").as_str()) {
            return Err(wrapping("the Response Signature does not reference the Response"));
        }
        let (cert, _) = verify_signatures(xml, &mut ctx, std::slice::from_ref(sig), e)?;
        outer = Some(cert);
        sig_span = Some(element_span(xml, sig)?);
    }
    let enc_span = element_span(xml, enc)?;
    let (plain, warnings) = super::decrypt::decrypt(&mut ctx, enc, key, outer.is_some())?;
    drop(ctx);
    drop(doc);
    // Splice from the back so the earlier range stays valid.
    let mut edits = vec![(enc_span, plain)];
    if let Some(span) = sig_span {
        edits.push((span, String::new()));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut spliced = xml.to_string();
    for (range, with) in edits {
        spliced.replace_range(range, &with);
    }
    judge_plain(&spliced, e, outer, warnings)
}

/// Checks each signature's algorithms and certificate against the metadata,
/// then verifies (samael/xmlsec); returns the verifying certificate and the
/// document reduced to its signed content.
fn verify_signatures(
    xml: &str,
    ctx: &mut libxml::xpath::Context,
    signatures: &[Node],
    e: &Expect<'_>,
) -> Result<(Cert, String), Error> {
    let mut presented = Vec::new();
    for sig in signatures {
        let mut algs: Vec<String> = find(ctx, "ds:SignedInfo/ds:SignatureMethod", Some(sig))?
            .iter()
            .filter_map(|n| n.get_attribute("Algorithm"))
            .collect();
        algs.extend(
            find(ctx, "ds:SignedInfo/ds:Reference/ds:DigestMethod", Some(sig))?
                .iter()
                .filter_map(|n| n.get_attribute("Algorithm")),
        );
        if let Some(weak) = algs.iter().find(|a| is_weak(a))
            && !e.allow_sha1
        {
            return Err(Error::WeakAlgorithm {
                algorithm: weak.clone(),
            });
        }
        for c in find(ctx, "ds:KeyInfo/ds:X509Data/ds:X509Certificate", Some(sig))? {
            presented.push(Cert::from_base64(&c.get_content()).map_err(malformed)?);
        }
    }
    if let Some(stranger) = presented.iter().find(|p| !e.idp.certs.iter().any(|c| c.der == p.der)) {
        return Err(Error::CertNotInMetadata {
            presented: Box::new(stranger.clone()),
            expected: e.idp.certs.clone(),
        });
    }
    if e.idp.certs.is_empty() {
        return Err(Error::SignatureInvalid {
            reason: "the metadata lists no signing certificate".into(),
        });
    }
    // The presented certificate first, then the others (a rotation lists
    // several).
    let mut order: Vec<&Cert> = e
        .idp
        .certs
        .iter()
        .filter(|c| presented.iter().any(|p| p.der == c.der))
        .collect();
    order.extend(e.idp.certs.iter().filter(|c| !presented.iter().any(|p| p.der == c.der)));
    let allowed = if e.allow_sha1 { None } else { Some(STRONG) };
    for cert in order {
        let der = [CertificateDer::from(cert.der.clone())];
        if let Ok(reduced) = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            &der,
            ReduceMode::ValidateAndMarkNoAncestors,
            allowed,
        ) {
            return Ok((cert.clone(), reduced));
        }
    }
    Err(Error::SignatureInvalid {
        reason: format!(
            "no certificate in the metadata verifies the signature (tried {})",
            e.idp.certs.len()
        ),
    })
}

/// Judges a response whose assertion is in the clear. `outer` is the
/// certificate that verified the Response before its assertion was
/// decrypted into place (that signature was removed with the ciphertext).
fn judge_plain(xml: &str, e: &Expect<'_>, outer: Option<Cert>, mut warnings: Vec<String>) -> Result<Verified, Error> {
    let (_doc, mut ctx, root) = open(xml)?;
    check_status(&mut ctx)?;

    // 2. Structure.
    if find(&mut ctx, "//samlp:Response", None)?.len() != 1 {
        return Err(wrapping("more than one Response element"));
    }
    if !find(&mut ctx, "//saml:EncryptedAssertion", None)?.is_empty() {
        return Err(wrapping("an EncryptedAssertion next to a plain Assertion"));
    }
    let assertions = find(&mut ctx, "//saml:Assertion", None)?;
    if assertions.len() != 1 {
        return Err(if assertions.is_empty() {
            malformed("no Assertion")
        } else {
            wrapping(format!("{} Assertion elements", assertions.len()))
        });
    }
    let assertion = &assertions[0];
    if !assertion.get_parent().is_some_and(|p| same_node(&p, &root)) {
        return Err(wrapping("the Assertion is not a direct child of the Response"));
    }
    // Comments split text nodes; a parser reading only the first one would
    // take `admin@x<!---->.evil` for `admin@x`. No IdP needs them: refuse.
    if !find(&mut ctx, "//saml:Assertion//comment()", None)?.is_empty() {
        return Err(Error::SignatureInvalid {
            reason: "an XML comment inside the Assertion (comment injection); IdPs do not emit these".into(),
        });
    }
    let mut ids = std::collections::HashSet::new();
    for n in find(&mut ctx, "//*[@ID]", None)? {
        if !ids.insert(n.get_attribute("ID").unwrap_or_default()) {
            return Err(wrapping("two elements share one ID"));
        }
    }
    let signatures = find(&mut ctx, "//ds:Signature", None)?;
    let mut response_signed = outer.is_some();
    let mut assertion_signed = false;
    for sig in &signatures {
        let parent = sig.get_parent().ok_or_else(|| wrapping("detached Signature"))?;
        let is_response = same_node(&parent, &root);
        let is_assertion = same_node(&parent, assertion);
        if !(is_response || is_assertion) {
            return Err(wrapping(format!("a Signature inside {}", parent.get_name())));
        }
        let refs = find(&mut ctx, "ds:SignedInfo/ds:Reference", Some(sig))?;
        let id = parent.get_attribute("ID").unwrap_or_default();
        if refs.len() != 1 || refs[0].get_attribute("URI").as_deref() != Some(format!("#{id}").as_str()) {
            return Err(wrapping(format!(
                "the Signature in {} does not reference exactly that element",
                parent.get_name()
            )));
        }
        response_signed |= is_response;
        assertion_signed |= is_assertion;
    }
    if (signatures.is_empty() && outer.is_none()) || (e.want_assertions_signed && !assertion_signed) {
        return Err(Error::Unsigned {
            want_assertions_signed: e.want_assertions_signed,
        });
    }

    // Algorithms, the certificate against the metadata, the signature. An
    // assertion decrypted out of a verified Response needs none of its own.
    let (cert, reduced) = match (signatures.is_empty(), outer) {
        (true, Some(cert)) => (cert, xml.to_string()),
        _ => verify_signatures(xml, &mut ctx, &signatures, e)?,
    };
    if e.now >= cert.not_after {
        if !e.accept_expired_cert {
            return Err(Error::CertExpired {
                cert: Box::new(cert),
                now: e.now,
            });
        }
        warnings.push(format!(
            "signed with an expired certificate (notAfter {}), accepted by policy",
            crate::clock::rfc3339(cert.not_after)
        ));
    }

    // 6. Everything below reads the signed content; the Response envelope
    // is consulted only to refuse (it may be unsigned shell).
    let signed: Document = parse_untrusted(&reduced).map_err(malformed)?;
    let mut sctx = xpath(&signed).map_err(malformed)?;
    let signed_assertions = find(&mut sctx, "//saml:Assertion", None)?;
    if signed_assertions.len() != 1 {
        return Err(wrapping(format!(
            "the signed content holds {} assertions",
            signed_assertions.len()
        )));
    }
    let a = &signed_assertions[0];
    if !response_signed && !assertion_signed {
        return Err(Error::Unsigned {
            want_assertions_signed: e.want_assertions_signed,
        });
    }

    // Issuers.
    if let Some(issuer) = first(&mut ctx, "/samlp:Response/saml:Issuer", None)? {
        let actual = issuer.get_content().trim().to_string();
        if actual != e.idp.entity_id {
            return Err(Error::IssuerMismatch {
                expected: e.idp.entity_id.clone(),
                actual,
                element: "Response",
            });
        }
    }
    let issuer = first(&mut sctx, "saml:Issuer", Some(a))?
        .map(|n| n.get_content().trim().to_string())
        .unwrap_or_default();
    if issuer != e.idp.entity_id {
        return Err(Error::IssuerMismatch {
            expected: e.idp.entity_id.clone(),
            actual: if issuer.is_empty() {
                "(no Issuer)".into()
            } else {
                issuer
            },
            element: "Assertion",
        });
    }

    // Destination: required on a signed Response (SAML Bindings §3.5.5.2).
    match root.get_attribute("Destination") {
        Some(d) if d != e.acs_url => {
            return Err(Error::DestinationMismatch {
                expected: e.acs_url.to_string(),
                actual: d,
            });
        }
        None if response_signed => {
            return Err(Error::DestinationMismatch {
                expected: e.acs_url.to_string(),
                actual: "(no Destination on a signed Response)".into(),
            });
        }
        _ => {}
    }

    // Subject confirmation (bearer).
    let scd = first(
        &mut sctx,
        &format!("saml:Subject/saml:SubjectConfirmation[@Method='{BEARER}']/saml:SubjectConfirmationData"),
        Some(a),
    )?
    .ok_or_else(|| malformed("no bearer SubjectConfirmationData"))?;

    // InResponseTo: the signed one in SubjectConfirmationData decides; an
    // envelope value that disagrees is refused too.
    let irt = scd.get_attribute("InResponseTo");
    let envelope_irt = root.get_attribute("InResponseTo");
    if let (Some(x), Some(y)) = (&irt, &envelope_irt)
        && x != y
    {
        return Err(Error::InResponseToMismatch {
            expected: x.clone(),
            actual: format!("{y} (Response envelope)"),
        });
    }
    // The envelope's value counts only when the Response itself is signed.
    let irt = irt.or(if response_signed { envelope_irt } else { None });
    match (e.request_id, irt) {
        (Some(expected), Some(actual)) if expected == actual => {}
        (Some(expected), Some(actual)) => {
            return Err(Error::InResponseToMismatch {
                expected: expected.to_string(),
                actual,
            });
        }
        (None, Some(actual)) => {
            return Err(Error::InResponseToMismatch {
                expected: "(no sign-in in progress for this browser)".into(),
                actual,
            });
        }
        (_, None) if !e.allow_idp_initiated => return Err(Error::Unsolicited),
        (_, None) => {}
    }

    // Time.
    let issue = time(a.get_attribute("IssueInstant"), "IssueInstant")?
        .ok_or_else(|| malformed("Assertion has no IssueInstant"))?;
    let conditions = first(&mut sctx, "saml:Conditions", Some(a))?;
    let not_before = time(
        conditions.as_ref().and_then(|c| c.get_attribute("NotBefore")),
        "NotBefore",
    )?;
    let cond_noa = time(
        conditions.as_ref().and_then(|c| c.get_attribute("NotOnOrAfter")),
        "NotOnOrAfter",
    )?;
    let scd_noa = time(
        scd.get_attribute("NotOnOrAfter"),
        "SubjectConfirmationData NotOnOrAfter",
    )?
    .ok_or_else(|| malformed("bearer SubjectConfirmationData has no NotOnOrAfter"))?;
    let (not_on_or_after, element) = match cond_noa {
        Some(c) if c < scd_noa => (c, "Conditions"),
        _ => (scd_noa, "SubjectConfirmationData"),
    };
    let skew = e.skew;
    if issue > e.now + skew || not_before.is_some_and(|nb| nb > e.now + skew) {
        return Err(Error::ClockSkew {
            offset: issue - e.now,
            allowed: skew,
            measured_from: "the assertion's IssueInstant against the gateway's clock",
        });
    }
    if not_on_or_after <= e.now - skew {
        if let Some(sent) = e.request_sent_at
            && issue < sent - skew
        {
            return Err(Error::ClockSkew {
                offset: issue - sent,
                allowed: skew,
                measured_from: "the assertion's IssueInstant against when the gateway sent the AuthnRequest",
            });
        }
        return Err(Error::Expired {
            not_on_or_after,
            now: e.now,
            allowed: skew,
            element,
        });
    }

    // Recipient and audience.
    let recipient = scd.get_attribute("Recipient").unwrap_or_default();
    if recipient != e.acs_url {
        return Err(Error::RecipientMismatch {
            expected: e.acs_url.to_string(),
            actual: if recipient.is_empty() {
                "(no Recipient)".into()
            } else {
                recipient
            },
        });
    }
    let audiences: Vec<String> = match &conditions {
        Some(c) => find(&mut sctx, "saml:AudienceRestriction/saml:Audience", Some(c))?
            .iter()
            .map(|n| n.get_content().trim().to_string())
            .collect(),
        None => Vec::new(),
    };
    if !audiences.iter().any(|x| x == e.sp_entity_id) {
        return Err(Error::AudienceMismatch {
            expected: e.sp_entity_id.to_string(),
            actual: if audiences.is_empty() {
                "(no AudienceRestriction)".into()
            } else {
                audiences.join(", ")
            },
        });
    }

    // Subject and attributes. get_content joins every text node and skips
    // comments: a comment injected into NameID cannot truncate it.
    let name_id_node = first(&mut sctx, "saml:Subject/saml:NameID", Some(a))?.ok_or_else(|| malformed("no NameID"))?;
    let name_id = name_id_node.get_content().trim().to_string();
    if name_id.is_empty() {
        return Err(malformed("empty NameID"));
    }
    let mut attributes = Vec::new();
    for n in find(&mut sctx, "saml:AttributeStatement/saml:Attribute", Some(a))? {
        let values = find(&mut sctx, "saml:AttributeValue", Some(&n))?
            .iter()
            .map(|v| v.get_content().trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        attributes.push(Attribute {
            name: n.get_attribute("Name").unwrap_or_default(),
            friendly_name: n.get_attribute("FriendlyName"),
            values,
        });
    }
    let verified = Verified {
        assertion_id: a.get_attribute("ID").unwrap_or_default(),
        issuer: e.idp.entity_id.clone(),
        name_id,
        name_id_format: name_id_node.get_attribute("Format"),
        authn_context: first(
            &mut sctx,
            "saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef",
            Some(a),
        )?
        .map(|n| n.get_content().trim().to_string()),
        attributes,
        not_on_or_after,
        signing_cert: cert,
        warnings,
    };
    for required in e.required_attributes {
        if verified.attribute(required).is_none_or(|x| x.values.is_empty()) {
            return Err(Error::AttributeMissing {
                attribute: required.clone(),
                present: verified
                    .attributes
                    .iter()
                    .map(|x| {
                        x.friendly_name
                            .clone()
                            .map(|f| format!("{} ({f})", x.name))
                            .unwrap_or_else(|| x.name.clone())
                    })
                    .collect(),
            });
        }
    }
    Ok(verified)
}
