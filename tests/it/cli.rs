//! The command line, run as a real process.

use std::io::Write;
use std::process::{Command, Stdio};

fn gatehouse() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

#[test]
fn check_config_lists_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = "localhost"
[session]
store = "disk"
idle_timeout = "soon"
[[portal]]
client_id = "p"
redirect_uris = ["http://evil.example/cb"]
account_types = ["robot"]
typo = 1
"#,
    )
    .unwrap();
    let out = gatehouse().args(["check-config", "-c"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "server.listen",
        "session.store",
        "session.idle_timeout",
        "portal[0].redirect_uris[0]",
        "portal[0].account_types",
        "portal[0].typo",
    ] {
        assert!(err.contains(key), "missing {key} in:\n{err}");
    }
    assert!(err.contains("bad.toml"), "names the file");

    let ok = gatehouse()
        .args([
            "check-config",
            "-c",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml"),
        ])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    // Environment overrides are validated too.
    let out = gatehouse()
        .args([
            "check-config",
            "-c",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/gatehouse.toml"),
        ])
        .env("GATEHOUSE__SESSION__STORE", "floppy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("session.store"));
}

#[test]
fn account_commands_create_list_show_unlock_disable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{0}/db.sqlite\"\n[keys]\ndir = \"{0}/certs\"\n[[org]]\nid = \"northside-clinic\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = gatehouse();
        c.arg("account").arg("-c").arg(&cfg).args(args);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "create",
            "--username",
            "ann.admin",
            "--email",
            "ann@northside.example",
            "--type",
            "provider",
            "--org",
            "northside-clinic",
            "--role",
            "access_manager",
        ],
        Some("a long enough password\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Duplicate usernames and short passwords are refused with a reason.
    let dup = run(
        &[
            "create",
            "--username",
            "ANN.ADMIN",
            "--email",
            "x@northside.example",
            "--type",
            "provider",
        ],
        Some("a long enough password"),
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("taken"));
    let short = run(
        &[
            "create",
            "--username",
            "bob",
            "--email",
            "b@northside.example",
            "--type",
            "member",
        ],
        Some("short"),
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 characters"));
    let badorg = run(
        &[
            "create",
            "--username",
            "cy",
            "--email",
            "c@x.example",
            "--type",
            "member",
            "--org",
            "nowhere",
        ],
        Some("a long enough password"),
    );
    assert!(String::from_utf8_lossy(&badorg.stderr).contains("nowhere"));

    let list = run(&["list", "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["roles"], serde_json::json!(["access_manager"]));
    let show = run(&["show", "ann.admin", "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["status"], "active");
    assert!(run(&["unlock", "ann.admin"], None).status.success());
    let dis = run(&["disable", "ann.admin"], None);
    assert!(dis.status.success());
    let show = run(&["show", "ann.admin", "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["status"], "disabled");
    let missing = run(&["show", "nobody"], None);
    assert!(!missing.status.success());
}
