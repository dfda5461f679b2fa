//! The offline explainers: every SAML fixture run through
//! `diagnose saml-response` names exactly the one check that fails (or none
//! for the valid ones), and the command keeps its exit-code contract.

use std::process::Command;

use gatehouse::config::Config;
use gatehouse::diagnostics::checks::Result as R;
use gatehouse::flow::explain;
use serde_json::Value;

use crate::saml_fixtures::unix;

const ORG: &str = "lakeside-health";

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saml")
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap()).unwrap()
}

/// A configuration whose SAML connection is the fixtures' SP and IdP.
fn config_text(dir: &std::path::Path) -> String {
    let m = manifest();
    format!(
        r#"
[server]
public_url = "https://gatehouse.example"
[store]
url = "sqlite://{d}/gatehouse.db"
[keys]
dir = "{d}/certs"
[[org]]
id = "{ORG}"
name = "Lakeside Health"
email_domains = ["lakeside.example"]
[org.connection]
kind = "saml"
idp_metadata_file = "{md}"
sp_entity_id = "{sp}"
acs_url = "{acs}"
allowed_clock_skew = "{skew}s"
required_attributes = ["email"]
[org.connection.attributes]
email = "email"
"#,
        d = dir.display(),
        md = fixtures().join(m["metadata"].as_str().unwrap()).display(),
        sp = m["sp_entity_id"].as_str().unwrap(),
        acs = m["acs_url"].as_str().unwrap(),
        skew = m["allowed_clock_skew_seconds"].as_i64().unwrap(),
    )
}

/// The check each rejected fixture must be blamed on, written out here
/// rather than derived from the code under test.
fn expected_check(name: &str) -> &'static str {
    match name {
        "unsigned" => "signature present",
        "sha1" => "signature algorithm",
        "expired_cert" => "signing certificate validity",
        "cert_not_in_metadata" => "signing certificate in metadata",
        "tampered_after_signing" => "signature verifies",
        "wrong_audience" | "no_audience" => "audience",
        "wrong_destination" => "destination",
        "wrong_recipient" => "recipient",
        "wrong_issuer" => "issuer",
        "expired_assertion" | "not_yet_valid" => "validity period (clock)",
        "in_response_to_mismatch" | "unsolicited" => "InResponseTo",
        "missing_attribute" => "required attributes",
        "status_responder" => "IdP status",
        n if n.starts_with("xsw") || n == "comment_in_nameid" => "structure (one Response, one Assertion, no wrapping)",
        other => panic!("no expected check written for fixture {other}"),
    }
}

#[tokio::test]
async fn every_saml_fixture_is_explained_with_the_one_check_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_toml_str("test", &config_text(dir.path()), Vec::new())
        .map_err(|e| e.report())
        .unwrap();
    let m = manifest();
    let at = unix(m["judged_at"].as_str().unwrap());
    let request_id = m["request_id"].as_str();
    let mut wrong = Vec::new();
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let xml = std::fs::read_to_string(fixtures().join(format!("{name}.xml"))).unwrap();
        let r = explain::saml_response(&cfg, ORG, &xml, at, request_id).await.unwrap();
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| c.result == R::Fail)
            .map(|c| c.name.as_str())
            .collect();
        match case["verdict"].as_str().unwrap() {
            "accept" => {
                if r.verdict != "accept" || !failed.is_empty() {
                    wrong.push(format!("{name}: expected accept, got {} with {failed:?}", r.verdict));
                }
                let replay = r.checks.iter().find(|c| c.name == "replay").unwrap();
                assert_eq!(replay.result, R::Skipped, "replay needs the live cache");
            }
            _ => {
                let want = expected_check(name);
                if r.verdict != "reject" || failed != [want] {
                    wrong.push(format!("{name}: expected only `{want}` to fail, got {failed:?}"));
                }
                if r.code.as_deref() != case["code"].as_str() {
                    wrong.push(format!("{name}: code {:?} != {}", r.code, case["code"]));
                }
                let f = r.checks.iter().find(|c| c.result == R::Fail).unwrap();
                if f.actual.is_none() || f.fix.is_none() {
                    wrong.push(format!("{name}: the failed check lacks actual/fix: {f:?}"));
                }
                // Checks before the failure passed; after it were not reached.
                let at_fail = r.checks.iter().position(|c| c.result == R::Fail).unwrap();
                if r.checks[..at_fail]
                    .iter()
                    .any(|c| c.result != R::Pass && c.result != R::Skipped)
                    || r.checks[at_fail + 1..].iter().any(|c| c.result != R::Skipped)
                {
                    wrong.push(format!("{name}: checks around the failure are not pass/skipped"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "explained wrongly:\n{}", wrong.join("\n"));
}

fn gatehouse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

#[test]
fn the_saml_explainer_command_keeps_its_contract() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gatehouse.toml");
    std::fs::write(&cfg, config_text(dir.path())).unwrap();
    let m = manifest();
    let at = m["judged_at"].as_str().unwrap();
    let run = |fixture: &str, extra: &[&str]| {
        let out = gatehouse()
            .arg("diagnose")
            .arg("-c")
            .arg(&cfg)
            .args(["saml-response", "--org", ORG, "--at", at])
            .args(extra)
            .arg(fixtures().join(format!("{fixture}.xml")))
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (code, json, err) = run("wrong_audience", &["--json", "--request-id", "_req-0001"]);
    assert_eq!(code, Some(1), "rejected → exit 1: {err}");
    assert_eq!(json["verdict"], "reject");
    assert_eq!(json["code"], "sso_audience_mismatch");
    let audience = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "audience")
        .unwrap();
    assert_eq!(audience["result"], "fail");
    assert_eq!(audience["expected"], m["sp_entity_id"]);
    assert!(audience["actual"].as_str().unwrap().contains("other"), "{audience}");

    let (code, json, err) = run("valid_response_signed", &["--json", "--request-id", "_req-0001"]);
    assert_eq!(code, Some(0), "accepted → exit 0: {err}");
    assert_eq!(json["verdict"], "accept");
    assert_eq!(json["code"], Value::Null);

    // Without --request-id the InResponseTo check is skipped, not failed:
    // the answer to another request is then judged on everything else.
    let (code, json, _) = run("in_response_to_mismatch", &["--json"]);
    assert_eq!(code, Some(0));
    let irt = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "InResponseTo")
        .unwrap();
    assert_eq!(irt["result"], "skipped");

    // Base64 on standard input (as captured from the browser's form post).
    let xml = std::fs::read(fixtures().join("wrong_recipient.xml")).unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, xml);
    let mut child = gatehouse()
        .arg("diagnose")
        .arg("-c")
        .arg(&cfg)
        .args([
            "saml-response",
            "--org",
            ORG,
            "--at",
            at,
            "--request-id",
            "_req-0001",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b64.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reject (sso_recipient_mismatch)"), "{text}");
    assert!(text.contains("FAIL    recipient"), "{text}");
    assert!(text.contains("fix:"), "{text}");

    // Usage errors exit 2.
    let out = gatehouse()
        .arg("diagnose")
        .arg("-c")
        .arg(&cfg)
        .args(["saml-response", "--org", "nobody", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
    let (code, _, err) = run("wrong_audience", &["--at", "yesterday"]);
    assert_eq!(code, Some(2), "{err}");
    // Nothing was written: no keys generated, no database created.
    assert!(!dir.path().join("certs").exists());
    assert!(!dir.path().join("gatehouse.db").exists());
}
