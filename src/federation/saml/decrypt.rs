//! EncryptedAssertion (XML Encryption 1.0/1.1) decrypted with the SP key.
//!
//! Key transport: RSA-OAEP only; RSA PKCS#1 v1.5 is refused (it is open to
//! padding-oracle attacks, and samael cannot switch it off). Content: AES-CBC
//! and AES-GCM; Triple-DES-CBC is accepted with a warning because some IdPs
//! (pysaml2 among them) still default to it.

use base64::Engine;
use libxml::tree::Node;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

use super::error::Error;

fn b64(text: &str) -> Result<Vec<u8>, Error> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| Error::Malformed {
            reason: "CipherValue is not base64".into(),
        })
}

fn malformed(reason: &str) -> Error {
    Error::Malformed {
        reason: format!("EncryptedAssertion: {reason}"),
    }
}

/// Decrypts the EncryptedAssertion `node`; returns the Assertion XML and any
/// warning about the algorithms used.
/// One answer for every failure after the key transport starts, so the
/// errors cannot serve as a padding or format oracle.
fn opaque() -> Error {
    Error::Malformed {
        reason: "EncryptedAssertion: it could not be decrypted with this SP's key".into(),
    }
}

/// `response_signed`: the Response signature over the ciphertext verified.
/// Without it only AES-GCM (authenticated) content is accepted: CBC without
/// integrity would let an attacker probe the decryption (XML Encryption
/// CBC attack).
pub fn decrypt(
    ctx: &mut libxml::xpath::Context,
    node: &Node,
    key: &PKey<Private>,
    response_signed: bool,
) -> Result<(String, Vec<String>), Error> {
    let one = |ctx: &mut libxml::xpath::Context, path: &str| -> Result<Option<Node>, Error> {
        Ok(ctx
            .findnodes(path, Some(node))
            .map_err(|_| malformed("XPath failed"))?
            .into_iter()
            .next())
    };
    let key_alg = one(ctx, ".//xenc:EncryptedKey/xenc:EncryptionMethod")?
        .and_then(|n| n.get_attribute("Algorithm"))
        .ok_or_else(|| malformed("no EncryptedKey EncryptionMethod"))?;
    let wrapped = one(ctx, ".//xenc:EncryptedKey/xenc:CipherData/xenc:CipherValue")?
        .map(|n| n.get_content())
        .ok_or_else(|| malformed("no EncryptedKey CipherValue"))?;
    let data_alg = one(ctx, "xenc:EncryptedData/xenc:EncryptionMethod")?
        .and_then(|n| n.get_attribute("Algorithm"))
        .ok_or_else(|| malformed("no EncryptedData EncryptionMethod"))?;
    let data = one(ctx, "xenc:EncryptedData/xenc:CipherData/xenc:CipherValue")?
        .map(|n| n.get_content())
        .ok_or_else(|| malformed("no EncryptedData CipherValue"))?;

    match key_alg.as_str() {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" => {}
        "http://www.w3.org/2001/04/xmlenc#rsa-1_5" => {
            return Err(Error::WeakAlgorithm {
                algorithm: format!("{key_alg} (key transport)"),
            });
        }
        other => {
            return Err(malformed(&format!(
                "key transport {other} is not supported; use rsa-oaep-mgf1p"
            )));
        }
    }
    if !response_signed && !data_alg.contains("-gcm") {
        return Err(Error::SignatureInvalid {
            reason: format!("an unsigned Response may carry only AES-GCM encrypted assertions, not {data_alg}"),
        });
    }
    let rsa = key.rsa().map_err(|_| malformed("the SP key is not RSA"))?;
    let wrapped = b64(&wrapped)?;
    let mut session = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&wrapped, &mut session, Padding::PKCS1_OAEP)
        .map_err(|_| opaque())?;
    session.truncate(n);

    let mut warnings = Vec::new();
    let (cipher, iv_len, gcm) = match data_alg.as_str() {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), 16, false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), 16, false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), 16, false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), 12, true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), 12, true),
        "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" => {
            warnings.push("the IdP encrypts with Triple-DES; ask it to use AES-GCM".to_string());
            (Cipher::des_ede3_cbc(), 8, false)
        }
        other => return Err(malformed(&format!("content encryption {other} is not supported"))),
    };
    if session.len() != cipher.key_len() {
        return Err(opaque());
    }
    let data = b64(&data)?;
    let tag_len = if gcm { 16 } else { 0 };
    if data.len() < iv_len + tag_len + 1 {
        return Err(opaque());
    }
    let (iv, rest) = data.split_at(iv_len);
    let (body, tag) = rest.split_at(rest.len() - tag_len);
    let mut c = Crypter::new(cipher, Mode::Decrypt, &session, Some(iv)).map_err(|_| opaque())?;
    c.pad(false);
    if gcm {
        c.set_tag(tag).map_err(|_| opaque())?;
    }
    let mut out = vec![0u8; body.len() + cipher.block_size()];
    let mut len = c.update(body, &mut out).map_err(|_| opaque())?;
    len += c.finalize(&mut out[len..]).map_err(|_| opaque())?;
    out.truncate(len);
    if !gcm {
        // XML Encryption padding: the last byte says how many to drop.
        let pad = *out.last().ok_or_else(opaque)? as usize;
        if pad == 0 || pad > cipher.block_size() || pad > out.len() {
            return Err(opaque());
        }
        out.truncate(out.len() - pad);
    }
    let text = String::from_utf8(out).map_err(|_| opaque())?;
    let start = text.find('<').ok_or_else(opaque)?;
    let end = text.rfind('>').ok_or_else(opaque)?;
    Ok((text[start..=end].to_string(), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_1_5_key_transport_is_refused_before_any_decryption() {
        let xml = r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedData><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-1_5"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#;
        let doc = super::super::metadata::parse_untrusted(xml).unwrap();
        let mut ctx = super::super::metadata::xpath(&doc).unwrap();
        let node = doc.get_root_element().unwrap();
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        match decrypt(&mut ctx, &node, &key, true) {
            Err(Error::WeakAlgorithm { algorithm }) => assert!(algorithm.contains("rsa-1_5")),
            other => panic!("{other:?}"),
        }
    }
}
