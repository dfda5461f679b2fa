//! The gateway as a SAML service provider: its key and certificate (one per
//! installation, in `keys.dir`, generated on first start), AuthnRequests over
//! HTTP-Redirect (signed when configured), and SP metadata.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

use super::metadata::Cert;

pub struct SpIdentity {
    pub key: PKey<Private>,
    pub cert: Cert,
}

impl std::fmt::Debug for SpIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpIdentity").field("cert", &self.cert.subject).finish()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

impl SpIdentity {
    /// Loads `saml-sp.key` / `saml-sp.crt` from `dir`, generating an RSA-2048
    /// key and a ten-year self-signed certificate when absent (SAML uses
    /// certificates as key containers; their CA is irrelevant).
    pub fn load_or_generate(dir: &Path, name: &str) -> Result<Self, String> {
        let key_path = dir.join("saml-sp.key");
        let cert_path = dir.join("saml-sp.crt");
        if !key_path.exists() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let rsa = openssl::rsa::Rsa::generate(2048).map_err(|e| e.to_string())?;
            let key = PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
            let mut subject = openssl::x509::X509NameBuilder::new().map_err(|e| e.to_string())?;
            subject.append_entry_by_text("CN", name).map_err(|e| e.to_string())?;
            let subject = subject.build();
            let mut b = openssl::x509::X509Builder::new().map_err(|e| e.to_string())?;
            b.set_version(2).map_err(|e| e.to_string())?;
            let serial = openssl::bn::BigNum::from_slice(&crate::crypto::random_bytes::<16>())
                .and_then(|bn| bn.to_asn1_integer())
                .map_err(|e| e.to_string())?;
            b.set_serial_number(&serial).map_err(|e| e.to_string())?;
            b.set_subject_name(&subject).map_err(|e| e.to_string())?;
            b.set_issuer_name(&subject).map_err(|e| e.to_string())?;
            b.set_pubkey(&key).map_err(|e| e.to_string())?;
            let nb = openssl::asn1::Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
            let na = openssl::asn1::Asn1Time::days_from_now(3650).map_err(|e| e.to_string())?;
            b.set_not_before(&nb).map_err(|e| e.to_string())?;
            b.set_not_after(&na).map_err(|e| e.to_string())?;
            b.sign(&key, MessageDigest::sha256()).map_err(|e| e.to_string())?;
            let cert = b.build();
            write_private(&key_path, &key.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", key_path.display()))?;
            std::fs::write(&cert_path, cert.to_pem().map_err(|e| e.to_string())?)
                .map_err(|e| format!("{}: {e}", cert_path.display()))?;
        }
        Self::load(dir)?.ok_or_else(|| format!("{}: missing", key_path.display()))
    }

    /// Loads the SP key and certificate from `dir` if they exist; never
    /// creates them (for commands that must not change anything).
    pub fn load(dir: &Path) -> Result<Option<Self>, String> {
        let key_path = dir.join("saml-sp.key");
        let cert_path = dir.join("saml-sp.crt");
        if !key_path.exists() {
            return Ok(None);
        }
        let key_pem = std::fs::read(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let cert_pem = std::fs::read(&cert_path).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let key = PKey::private_key_from_pem(&key_pem).map_err(|e| format!("{}: {e}", key_path.display()))?;
        let x = openssl::x509::X509::from_pem(&cert_pem).map_err(|e| format!("{}: {e}", cert_path.display()))?;
        let cert = Cert::from_der(&x.to_der().map_err(|e| e.to_string())?)?;
        Ok(Some(Self { key, cert }))
    }

    fn cert_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert.der)
    }

    /// SP metadata for one organization's connection.
    pub fn metadata(
        &self,
        entity_id: &str,
        acs_url: &str,
        nameid_format: &str,
        sign_requests: bool,
        want_assertions_signed: bool,
    ) -> String {
        let cert = self.cert_b64();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="{sign_requests}" WantAssertionsSigned="{want_assertions_signed}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>
      <md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
    </md:KeyDescriptor>
    <md:NameIDFormat>{nameid_format}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs_url}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
            entity_id = xml_escape(entity_id),
            acs_url = xml_escape(acs_url),
            nameid_format = xml_escape(nameid_format),
        )
    }

    /// The HTTP-Redirect binding URL for an AuthnRequest (SAML Bindings
    /// §3.4): DEFLATE, base64, URL-encode; signed over the query string when
    /// `sign` is set.
    #[allow(clippy::too_many_arguments)]
    pub fn authn_request_url(
        &self,
        sso_url: &str,
        entity_id: &str,
        acs_url: &str,
        nameid_format: &str,
        request_id: &str,
        issue_instant: &str,
        relay_state: &str,
        sign: bool,
    ) -> Result<String, String> {
        let xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{request_id}" Version="2.0" IssueInstant="{issue_instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="{fmt}" AllowCreate="true"/></samlp:AuthnRequest>"#,
            dest = xml_escape(sso_url),
            acs = xml_escape(acs_url),
            issuer = xml_escape(entity_id),
            fmt = xml_escape(nameid_format),
        );
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(xml.as_bytes()).map_err(|e| e.to_string())?;
        let deflated = enc.finish().map_err(|e| e.to_string())?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(deflated);
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut query = format!("SAMLRequest={}&RelayState={}", enc(&b64), enc(relay_state));
        if sign {
            let alg = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
            query.push_str(&format!("&SigAlg={}", enc(alg)));
            let mut signer = Signer::new(MessageDigest::sha256(), &self.key).map_err(|e| e.to_string())?;
            signer.update(query.as_bytes()).map_err(|e| e.to_string())?;
            let sig = signer.sign_to_vec().map_err(|e| e.to_string())?;
            query.push_str(&format!(
                "&Signature={}",
                enc(&base64::engine::general_purpose::STANDARD.encode(sig))
            ));
        }
        let sep = if sso_url.contains('?') { '&' } else { '?' };
        Ok(format!("{sso_url}{sep}{query}"))
    }
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}
