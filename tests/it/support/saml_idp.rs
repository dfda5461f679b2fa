//! A real upstream SAML IdP: PyPI `pysaml2` (tests/peers/saml-idp.py), run
//! from the pinned virtualenv on an ephemeral loopback port. It stops when
//! this handle is dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct SamlIdp {
    pub port: u16,
    child: Option<Child>,
}

impl SamlIdp {
    pub fn start(sp_metadata: &Path, users: &Value, sign: &str, encrypt: bool) -> Self {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new(format!("{root}/tests/peers/.venv/bin/python"))
            .arg(format!("{root}/tests/peers/saml-idp.py"))
            .env("IDP_SP_METADATA", sp_metadata)
            .env("IDP_USERS", users.to_string())
            .env("IDP_SIGN", sign)
            .env("PYTHONWARNINGS", "ignore")
            .env("IDP_ENCRYPT", if encrypt { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tests/peers/.venv exists (scripts/deps.sh test creates it)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("pysaml2 IdP did not start");
        let port = line.strip_prefix("READY ").expect("READY line").trim().parse().unwrap();
        Self {
            port,
            child: Some(child),
        }
    }

    pub fn metadata_url(&self) -> String {
        format!("http://127.0.0.1:{}/metadata", self.port)
    }
}

impl Drop for SamlIdp {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
