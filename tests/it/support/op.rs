//! A real upstream OpenID Provider: npm `oidc-provider`, run by
//! `tests/peers/oidc-op.mjs` on an ephemeral loopback port. It stops when
//! this handle is dropped (its stdin closes), so none outlives the tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub struct OpOptions {
    pub port: u16,
    pub clients: Value,
    pub accounts: Value,
    pub clock_offset: i64,
}

pub struct Op {
    pub port: u16,
    pub kid: String,
    child: Option<Child>,
}

pub const OP_CLIENT_ID: &str = "gatehouse";
pub const OP_CLIENT_SECRET: &str = "gatehouse-upstream-secret-0123456789";

/// The usual accounts at the upstream IdP.
pub fn accounts() -> Value {
    json!({
        "alice@lakeside.example": {
            "sub": "alice-001", "email": "alice@lakeside.example", "email_verified": true,
            "name": "Alice Nguyen", "groups": ["billing"], "amr": ["pwd", "mfa"], "acr": "urn:lakeside:mfa"
        },
        "bob@lakeside.example": {
            "sub": "bob-002", "email": "bob@lakeside.example", "name": "Bob Okafor", "groups": []
        },
        "noemail@lakeside.example": { "sub": "noemail-003", "name": "No Email" }
    })
}

impl Op {
    pub fn start(opts: &OpOptions) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/oidc-op.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("OP_PORT", opts.port.to_string())
            .env("OP_CLIENT", opts.clients.to_string())
            .env("OP_ACCOUNTS", opts.accounts.to_string())
            .env("OP_CLOCK_OFFSET", opts.clock_offset.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is installed (scripts/test.sh installs the peers)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("oidc-provider did not start (is tests/peers/node_modules installed?)");
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("READY"), "unexpected output: {line}");
        let port = parts.next().unwrap().parse().unwrap();
        let kid = parts.next().unwrap().to_string();
        Self {
            port,
            kid,
            child: Some(child),
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Client metadata for the gateway at the upstream OP.
pub fn client(gateway_port: u16, org: &str) -> Value {
    json!({
        "client_id": OP_CLIENT_ID,
        "client_secret": OP_CLIENT_SECRET,
        "redirect_uris": [format!("http://127.0.0.1:{gateway_port}/sso/oidc/{org}/callback")],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

/// The `[[org]]` block for an organization federated to `issuer`.
pub fn org_toml(org: &str, domain: &str, issuer: &str, extra_org: &str, extra_conn: &str) -> String {
    format!(
        r#"
[[org]]
id = "{org}"
name = "Lakeside Health"
email_domains = ["{domain}"]
{extra_org}
[org.connection]
kind = "oidc"
issuer = "{issuer}"
client_id = "{OP_CLIENT_ID}"
client_secret = "{OP_CLIENT_SECRET}"
scopes = ["openid", "email", "profile", "groups"]
allowed_clock_skew = "2m"
{extra_conn}
[org.connection.claims]
roles = "groups"
"#
    )
}
