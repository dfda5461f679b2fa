//! A real upstream OpenID Provider: npm `oidc-provider`, run by
//! `tests/peers/oidc-op.mjs` on an ephemeral loopback port. It stops when
//! this handle is dropped (its stdin closes), so none outlives the tests.

use std::process::{Child, Command};

use super::peer;

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
        let mut cmd = Command::new("node");
        cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/oidc-op.mjs"))
            .env("OP_PORT", opts.port.to_string())
            .env("OP_CLIENT", opts.clients.to_string())
            .env("OP_ACCOUNTS", opts.accounts.to_string())
            .env("OP_CLOCK_OFFSET", opts.clock_offset.to_string());
        let (child, words) = peer::spawn_ready(cmd, "oidc-provider");
        Self {
            port: words[0].parse().unwrap(),
            kid: words[1].clone(),
            child: Some(child),
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        peer::stop(&mut self.child);
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
    // Unless a test sets the org's MFA policy, the portals decide.
    let policy = if extra_org.contains("mfa") {
        ""
    } else {
        "mfa = \"portal\""
    };
    format!(
        r#"
[[org]]
id = "{org}"
name = "Lakeside Health"
email_domains = ["{domain}"]
{policy}
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
