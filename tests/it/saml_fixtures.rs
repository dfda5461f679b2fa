//! The crafted SAML response corpus (tests/fixtures/saml, signed by Debian's
//! xmlsec1): every fixture must get its stated verdict and failure code, and
//! every refusal must say what was expected and what arrived.

use std::path::Path;

use gatehouse::federation::saml::metadata::IdpMetadata;
use gatehouse::federation::saml::validate::{Expect, judge};
use serde_json::Value;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml"))
}

fn manifest() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap()
}

pub(crate) fn unix(rfc3339: &str) -> i64 {
    humantime::parse_rfc3339(rfc3339)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn every_fixture_gets_its_verdict_code_and_explanation() {
    let m = manifest();
    let idp =
        IdpMetadata::parse(&std::fs::read_to_string(dir().join(m["metadata"].as_str().unwrap())).unwrap()).unwrap();
    assert_eq!(idp.certs.len(), 3, "current, next and expired certificates");
    let required: Vec<String> = m["required_attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let expect = Expect {
        idp: &idp,
        sp_entity_id: m["sp_entity_id"].as_str().unwrap(),
        acs_url: m["acs_url"].as_str().unwrap(),
        request_id: m["request_id"].as_str(),
        request_sent_at: None,
        allow_idp_initiated: false,
        now: unix(m["judged_at"].as_str().unwrap()),
        skew: m["allowed_clock_skew_seconds"].as_i64().unwrap(),
        allow_sha1: false,
        accept_expired_cert: false,
        want_assertions_signed: false,
        required_attributes: &required,
        decryption_key: None,
    };
    let mut wrong = Vec::new();
    let cases = m["cases"].as_array().unwrap();
    assert!(cases.len() >= 29);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let xml = std::fs::read_to_string(dir().join(format!("{name}.xml"))).unwrap();
        let got = judge(&xml, &expect);
        match (case["verdict"].as_str().unwrap(), &got) {
            ("accept", Ok(v)) => {
                if v.name_id != "carol@lakeside.example" {
                    wrong.push(format!("{name}: NameID read as {:?}", v.name_id));
                }
            }
            ("reject", Err(e)) => {
                let code = e.code().as_str();
                if Some(code) != case["code"].as_str() {
                    wrong.push(format!("{name}: expected {}, got {code} ({e})", case["code"]));
                }
                if name.starts_with("xsw") && !e.to_string().contains("wrapping") {
                    wrong.push(format!("{name}: refused, but not as signature wrapping: {e}"));
                }
                let d = e.detail();
                if d.get("actual").is_none() || d.get("fix").is_none() {
                    wrong.push(format!("{name}: detail lacks actual/fix: {d}"));
                }
            }
            (verdict, got) => wrong.push(format!("{name}: expected {verdict}, got {got:?}")),
        }
    }
    assert!(wrong.is_empty(), "fixtures judged wrongly:\n{}", wrong.join("\n"));
}

#[test]
fn policy_switches_change_the_verdict_they_name() {
    let m = manifest();
    let idp = IdpMetadata::parse(&std::fs::read_to_string(dir().join("idp-metadata.xml")).unwrap()).unwrap();
    let required = vec!["email".to_string()];
    let base = || Expect {
        idp: &idp,
        sp_entity_id: m["sp_entity_id"].as_str().unwrap(),
        acs_url: m["acs_url"].as_str().unwrap(),
        request_id: Some("_req-0001"),
        request_sent_at: None,
        allow_idp_initiated: false,
        now: unix(m["judged_at"].as_str().unwrap()),
        skew: 120,
        allow_sha1: false,
        accept_expired_cert: false,
        want_assertions_signed: false,
        required_attributes: &required,
        decryption_key: None,
    };
    let read = |n: &str| std::fs::read_to_string(dir().join(format!("{n}.xml"))).unwrap();
    // IdP-initiated allowed: the unsolicited response is accepted.
    assert!(
        judge(
            &read("unsolicited"),
            &Expect {
                allow_idp_initiated: true,
                ..base()
            }
        )
        .is_ok()
    );
    // SHA-1 allowed explicitly.
    assert!(
        judge(
            &read("sha1"),
            &Expect {
                allow_sha1: true,
                ..base()
            }
        )
        .is_ok()
    );
    // Expired certificate accepted by policy, with a warning.
    let v = judge(
        &read("expired_cert"),
        &Expect {
            accept_expired_cert: true,
            ..base()
        },
    )
    .unwrap();
    assert!(v.warnings[0].contains("expired"));
    // Assertions must be signed: a Response-only signature is not enough.
    let e = judge(
        &read("valid_response_signed"),
        &Expect {
            want_assertions_signed: true,
            ..base()
        },
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "sso_unsigned");
    assert!(
        judge(
            &read("valid_assertion_signed"),
            &Expect {
                want_assertions_signed: true,
                ..base()
            }
        )
        .is_ok()
    );
    // Knowing when the AuthnRequest left tells clock skew from slowness: an
    // assertion issued an hour before the request means the IdP clock lags.
    let sent = unix(m["judged_at"].as_str().unwrap()) - 30;
    let e = judge(
        &read("expired_assertion"),
        &Expect {
            request_sent_at: Some(sent),
            ..base()
        },
    )
    .unwrap_err();
    assert_eq!(e.code().as_str(), "sso_clock_skew");
    assert!((-3630..=-3570).contains(&e.detail()["offset_seconds"].as_i64().unwrap()));
    // Judged at the time it was valid, the expired assertion passes.
    let then = unix("2026-06-01T11:00:30Z");
    assert!(judge(&read("expired_assertion"), &Expect { now: then, ..base() }).is_ok());
}

#[test]
fn metadata_without_signing_keys_is_refused_by_check_config() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[org]]\nid = \"x\"\n[org.connection]\nkind = \"saml\"\nidp_metadata_file = \"{}\"\n",
            dir().join("idp-metadata-no-keys.xml").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check-config", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing certificate"));
}
