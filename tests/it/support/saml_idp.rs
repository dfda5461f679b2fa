//! A real upstream SAML IdP: PyPI `pysaml2` (tests/peers/saml-idp.py), run
//! from the pinned virtualenv on an ephemeral loopback port. It stops when
//! this handle is dropped.

use std::path::Path;
use std::process::{Child, Command};

use super::peer;

use serde_json::Value;

pub struct SamlIdp {
    pub port: u16,
    child: Option<Child>,
}

impl SamlIdp {
    pub fn start(sp_metadata: &Path, users: &Value, sign: &str, encrypt: bool) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut cmd = Command::new(format!("{root}/tests/peers/.venv/bin/python"));
        cmd.arg(format!("{root}/tests/peers/saml-idp.py"))
            .env("IDP_SP_METADATA", sp_metadata)
            .env("IDP_USERS", users.to_string())
            .env("IDP_SIGN", sign)
            .env("PYTHONWARNINGS", "ignore")
            .env("IDP_ENCRYPT", if encrypt { "1" } else { "0" });
        let (child, words) = peer::spawn_ready(cmd, "pysaml2 IdP");
        Self {
            port: words[0].parse().unwrap(),
            child: Some(child),
        }
    }

    pub fn metadata_url(&self) -> String {
        format!("http://127.0.0.1:{}/metadata", self.port)
    }
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        peer::stop(&mut self.child);
    }
}
