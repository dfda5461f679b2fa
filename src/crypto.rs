//! Small, audited building blocks: random tokens, digests, MACs and
//! constant-time comparison. Everything that needs randomness or a hash of a
//! secret goes through here so there is one place to review.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};
use subtle::ConstantTimeEq;

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source at all, in
    // which case continuing would be worse than stopping.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    buf
}

/// A 256-bit random token, base64url without padding (43 characters).
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A random six-digit one-time code (SMS/email codes, recovery, activation).
/// The modulo bias over 2^32 is below 2^-12 per value.
pub fn six_digit_code() -> String {
    format!("{:06}", u32::from_be_bytes(random_bytes::<4>()) % 1_000_000)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The storage handle of a bearer secret: the hex SHA-256 of the token. Stores
/// only ever see this, so a dump of Redis yields no usable session or code.
pub fn token_digest(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 keyed with the gateway's cookie secret.
#[derive(Clone)]
pub struct Mac {
    key: hmac::Key,
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mac(<redacted>)")
    }
}

impl Mac {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn sign(&self, purpose: &str, data: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(data.as_bytes());
        b64url(ctx.sign().as_ref())
    }

    pub fn verify(&self, purpose: &str, data: &str, tag: &str) -> bool {
        constant_time_eq(self.sign(purpose, data).as_bytes(), tag.as_bytes())
    }
}

/// Alphabet for reference codes: Crockford base32 without I, L, O, U, so a
/// code read over the phone cannot be misheard as another.
const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A support reference such as `7F3K-92QD`: 40 random bits, shown on failure
/// pages and stored with the audit event.
pub fn reference_code() -> String {
    let bytes = random_bytes::<5>();
    let mut v: u64 = 0;
    for b in bytes {
        v = (v << 8) | b as u64;
    }
    let mut chars = [0u8; 8];
    for c in chars.iter_mut().rev() {
        *c = REFERENCE_ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    format!(
        "{}-{}",
        std::str::from_utf8(&chars[..4]).unwrap_or("0000"),
        std::str::from_utf8(&chars[4..]).unwrap_or("0000")
    )
}

/// Normalises a typed reference code (case, missing dash, O/I/L look-alikes).
pub fn normalize_reference(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if cleaned.len() != 8 || !cleaned.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(format!("{}-{}", &cleaned[..4], &cleaned[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_codes_round_trip_through_normalisation() {
        for _ in 0..100 {
            let code = reference_code();
            assert_eq!(code.len(), 9);
            assert_eq!(
                normalize_reference(&code.to_lowercase()).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(normalize_reference("7f3k92qd").as_deref(), Some("7F3K-92QD"));
        assert_eq!(normalize_reference(" 7f3k 92oL ").as_deref(), Some("7F3K-9201"));
        assert_eq!(normalize_reference("7F3K-92QU"), None);
        assert_eq!(normalize_reference("short"), None);
    }

    #[test]
    fn mac_rejects_other_purpose_and_tampering() {
        let mac = Mac::new(b"secret");
        let tag = mac.sign("csrf", "abc");
        assert!(mac.verify("csrf", "abc", &tag));
        assert!(!mac.verify("other", "abc", &tag));
        assert!(!mac.verify("csrf", "abd", &tag));
    }
}
