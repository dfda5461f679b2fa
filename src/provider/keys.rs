//! ID-token signing keys: ES256 by default (about 30 µs a signature), RS256
//! for portals that need it. Keys live in `keys.dir` as PKCS#8 PEM files
//! named `oidc-<alg>-<created>-<kid>.pem`; missing ones are generated on first
//! start. Rotation adds a newer key, which becomes the active one; older keys
//! stay in the JWKS so tokens they signed keep validating until removed.
//!
//! Signing goes through `ring` only (the `rsa` crate is used to generate RSA
//! keys, never to sign).

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use crate::config::SigningAlg;
use crate::crypto;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} is not a usable {alg} PKCS#8 key: {reason}")]
    BadKey {
        path: PathBuf,
        alg: &'static str,
        reason: String,
    },
    #[error("could not generate a key: {0}")]
    Generate(String),
    #[error("signing failed")]
    Sign,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa { pair: RsaKeyPair, n: Vec<u8>, e: Vec<u8> },
}

pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created: i64,
    pub path: PathBuf,
    pair: Pair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created", &self.created)
            .finish()
    }
}

impl SigningKey {
    fn public_jwk(&self) -> Value {
        match &self.pair {
            Pair::Ec(p) => {
                let point = p.public_key().as_ref();
                json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
                    "x": crypto::b64url(&point[1..33]), "y": crypto::b64url(&point[33..65]),
                })
            }
            Pair::Rsa { n, e, .. } => json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": crypto::b64url(n), "e": crypto::b64url(e),
            }),
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.pair {
            Pair::Ec(p) => {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p.public_key().as_ref())
                    .verify(message, sig)
                    .is_ok()
            }
            Pair::Rsa { pair, .. } => {
                signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
                    .verify(message, sig)
                    .is_ok()
            }
        }
    }
}

#[derive(Debug)]
pub struct KeySet {
    /// Newest first.
    keys: Vec<SigningKey>,
    rng: SystemRandom,
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()
}

fn alg_slug(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::Es256 => "es256",
        SigningAlg::Rs256 => "rs256",
    }
}

fn load_pair(alg: SigningAlg, der: &[u8], path: &Path) -> Result<Pair, Error> {
    let bad = |reason: String| Error::BadKey {
        path: path.to_path_buf(),
        alg: alg.as_str(),
        reason,
    };
    match alg {
        SigningAlg::Es256 => {
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .map(Pair::Ec)
                .map_err(|e| bad(e.to_string()))
        }
        SigningAlg::Rs256 => {
            use rsa::pkcs8::DecodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
            let parsed = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| bad(e.to_string()))?;
            Ok(Pair::Rsa {
                pair,
                n: parsed.n().to_bytes_be(),
                e: parsed.e().to_bytes_be(),
            })
        }
    }
}

fn kid_for(pair: &Pair) -> String {
    let public: Vec<u8> = match pair {
        Pair::Ec(p) => p.public_key().as_ref().to_vec(),
        Pair::Rsa { n, .. } => n.clone(),
    };
    crypto::b64url(&crypto::sha256(&public)[..12])
}

impl KeySet {
    /// Loads every key in `dir`, generating one for each algorithm in `needed`
    /// that has none. The folder is created (mode 0700) when missing.
    pub fn load_or_generate(dir: &Path, needed: &[SigningAlg], now: i64) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut set = Self::load(dir)?;
        for alg in needed {
            if !set.keys.iter().any(|k| k.alg == *alg) {
                Self::generate(dir, *alg, now)?;
                set = Self::load(dir)?;
            }
        }
        Ok(set)
    }

    pub fn load(dir: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(rest) = name.strip_prefix("oidc-").and_then(|r| r.strip_suffix(".pem")) else {
                continue;
            };
            let mut parts = rest.splitn(3, '-');
            let (Some(alg), Some(created), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let alg = match alg {
                "es256" => SigningAlg::Es256,
                "rs256" => SigningAlg::Rs256,
                _ => continue,
            };
            let created: i64 = created.parse().unwrap_or(0);
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let der = pem_decode(&text).ok_or_else(|| Error::BadKey {
                path: path.clone(),
                alg: alg.as_str(),
                reason: "no PRIVATE KEY PEM block".into(),
            })?;
            let pair = load_pair(alg, &der, &path)?;
            keys.push(SigningKey {
                kid: kid_for(&pair),
                alg,
                created,
                path,
                pair,
            });
        }
        keys.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.kid.cmp(&b.kid)));
        Ok(Self {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// Writes a new key for `alg`; it becomes the active one at next load.
    pub fn generate(dir: &Path, alg: SigningAlg, now: i64) -> Result<PathBuf, Error> {
        let der: Vec<u8> = match alg {
            SigningAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|e| Error::Generate(e.to_string()))?
                    .as_ref()
                    .to_vec()
            }
            SigningAlg::Rs256 => {
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .map_err(|e| Error::Generate(e.to_string()))?;
                key.to_pkcs8_der()
                    .map_err(|e| Error::Generate(e.to_string()))?
                    .as_bytes()
                    .to_vec()
            }
        };
        let tmp = dir.join(".new-key.pem");
        let pair = load_pair(alg, &der, &tmp)?;
        let path = dir.join(format!("oidc-{}-{}-{}.pem", alg_slug(alg), now, kid_for(&pair)));
        write_private(&path, pem_encode(&der).as_bytes())?;
        Ok(path)
    }

    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The newest key for `alg`.
    pub fn active(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.alg == alg)
    }

    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() })
    }

    /// Signs `claims` as a compact JWS with the active key for `alg`.
    pub fn sign(&self, alg: SigningAlg, claims: &Value) -> Result<String, Error> {
        let key = self.active(alg).ok_or(Error::Sign)?;
        let header = json!({ "alg": alg.as_str(), "typ": "JWT", "kid": key.kid });
        let signing_input = format!(
            "{}.{}",
            crypto::b64url(header.to_string().as_bytes()),
            crypto::b64url(claims.to_string().as_bytes())
        );
        let sig = match &key.pair {
            Pair::Ec(p) => p
                .sign(&self.rng, signing_input.as_bytes())
                .map_err(|_| Error::Sign)?
                .as_ref()
                .to_vec(),
            Pair::Rsa { pair, .. } => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    signing_input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| Error::Sign)?;
                sig
            }
        };
        Ok(format!("{signing_input}.{}", crypto::b64url(&sig)))
    }

    /// Verifies a JWT this gateway signed (any published key) and returns its
    /// claims. Expiry is the caller's decision: logout accepts an expired
    /// `id_token_hint`.
    pub fn verify(&self, jwt: &str) -> Option<Value> {
        let mut parts = jwt.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&crypto::b64url_decode(h)?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let alg = header.get("alg")?.as_str()?;
        let key = self.keys.iter().find(|k| k.kid == kid && k.alg.as_str() == alg)?;
        let sig = crypto::b64url_decode(s)?;
        if !key.verify(format!("{h}.{c}").as_bytes(), &sig) {
            return None;
        }
        serde_json::from_slice(&crypto::b64url_decode(c)?).ok()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    f.write_all(bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The cookie/CSRF MAC secret: 32 random bytes in `cookie-secret.key`,
/// generated on first start and shared by every instance that shares `dir`.
pub fn load_or_generate_secret(dir: &Path) -> Result<Vec<u8>, Error> {
    load_or_generate_named_secret(dir, "cookie-secret.key")
}

/// A 32-byte secret in `dir/name` (base64url), generated when absent.
pub fn load_or_generate_named_secret(dir: &Path, name: &str) -> Result<Vec<u8>, Error> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => crypto::b64url_decode(text.trim())
            .filter(|b| b.len() >= 32)
            .ok_or(Error::BadKey {
                path,
                alg: "HMAC",
                reason: "expected 32+ bytes, base64url".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let secret = crypto::random_bytes::<32>();
            write_private(&path, crypto::b64url(&secret).as_bytes())?;
            Ok(secret.to_vec())
        }
        Err(source) => Err(Error::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify_and_rotation_keeps_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let set = KeySet::load_or_generate(dir.path(), &[SigningAlg::Es256, SigningAlg::Rs256], 100).unwrap();
        assert_eq!(set.keys().len(), 2);
        let claims = json!({"sub": "x"});
        let es = set.sign(SigningAlg::Es256, &claims).unwrap();
        let rs = set.sign(SigningAlg::Rs256, &claims).unwrap();
        assert_eq!(set.verify(&es), Some(claims.clone()));
        assert_eq!(set.verify(&rs), Some(claims.clone()));
        // Tampering breaks it.
        let mut forged = es.clone();
        forged.replace_range(es.find('.').unwrap() + 1..es.find('.').unwrap() + 3, "ey");
        assert!(set.verify(&forged).is_none() || forged == es);

        let old_kid = set.active(SigningAlg::Es256).unwrap().kid.clone();
        KeySet::generate(dir.path(), SigningAlg::Es256, 200).unwrap();
        let rotated = KeySet::load(dir.path()).unwrap();
        assert_ne!(rotated.active(SigningAlg::Es256).unwrap().kid, old_kid);
        assert!(rotated.verify(&es).is_some(), "old tokens still verify after rotation");
        let kids: Vec<String> = rotated.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert!(kids.contains(&old_kid));
        assert_eq!(kids.len(), 3);
    }
}
