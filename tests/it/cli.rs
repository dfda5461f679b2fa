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

    // Second factors reset from the command line: a reason is required and
    // the organization's delegation history records it.
    let no_reason = run(&["reset-mfa", "ann.admin", "--reason", " "], None);
    assert_eq!(no_reason.status.code(), Some(2));
    let reset = run(
        &[
            "reset-mfa",
            "ann.admin",
            "--reason",
            "lost phone, identity checked by phone call",
        ],
        None,
    );
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    assert!(String::from_utf8_lossy(&reset.stdout).contains("enrolls again"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let sql = gatehouse::store::sql::Sql::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
            .await
            .unwrap();
        sql.delegation_history("northside-clinic", &Default::default(), 10)
            .await
            .unwrap()
    });
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "mfa_reset");
    assert_eq!(rows[0].actor, "cli");
    assert_eq!(rows[0].subject, "ann.admin");
}

/// `gatehouse serve` on a fresh folder: generates its keys, says where it
/// listens and which session store it uses, answers, and stops on SIGTERM.
#[test]
fn serve_starts_on_defaults_and_says_where_it_listens() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut child = gatehouse()
        .current_dir(dir.path())
        .arg("serve")
        .env("GATEHOUSE__SERVER__LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let ready = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no ready line; got {lines:?}"));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        lines.push(v.clone());
        if v["message"] == "gatehouse ready" {
            break v;
        }
    };
    eprintln!("serve became ready in {:?}", started.elapsed());
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .contains("session store: in-process memory")
    }));
    let listen = ready["listen"].as_str().unwrap().to_string();
    assert!(listen.starts_with("127.0.0.1:"));
    assert!(dir.path().join("certs/cookie-secret.key").exists());
    assert!(dir.path().join("data/gatehouse.db").exists());

    let mut s = std::net::TcpStream::connect(&listen).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");

    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn import_reports_bad_rows_by_line_and_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{0}/db.sqlite\"\n[keys]\ndir = \"{0}/certs\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let members = dir.path().join("members.csv");
    std::fs::write(
        &members,
        "member_id,date_of_birth,name,email,phone\n\
         M1001,1980-04-01,\"Doe, Jane\",jane@example.org,\n\
         M1002,1980-02-30,Bad Date,bad@example.org,\n\
         M1003,1975-06-15,Sam Smith,,+15551234567\n\
         M1004,1990-01-01,No Contact,,\n",
    )
    .unwrap();
    let import = |kind: &str, file: &std::path::Path| {
        gatehouse()
            .args(["import", "-c"])
            .arg(&cfg)
            .arg(kind)
            .arg(file)
            .output()
            .unwrap()
    };
    let out = import("members", &members);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("2 member record(s) imported, 2 refused"), "{stdout}");
    assert!(stderr.contains("members.csv:3: date_of_birth `1980-02-30`"), "{stderr}");
    assert!(
        stderr.contains("members.csv:5: an email or a phone is needed"),
        "{stderr}"
    );

    // Importing again updates in place (no duplicates); a wrong header is
    // refused as a whole with the expected columns named.
    let again = import("members", &members);
    assert!(String::from_utf8_lossy(&again.stdout).contains("2 member record(s) imported"));
    let out = import("providers", &members);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no `npi` column"),
        "{:?}",
        out
    );

    let providers = dir.path().join("providers.csv");
    std::fs::write(
        &providers,
        "npi,tin,name,email,phone\n1234567893,12-3456789,Dr Who,who@clinic.example,\n1234567890,123456789,Bad Npi,x@clinic.example,\n",
    )
    .unwrap();
    let out = import("providers", &providers);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 provider record(s) imported, 1 refused"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.csv:3: npi `1234567890`"));

    // An invitation prints its one-time link (no [email] configured here).
    let out = gatehouse()
        .args(["account", "-c"])
        .arg(&cfg)
        .args(["invite", "--email", "new.member@example.org", "--type", "member"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let token = stdout.trim().rsplit("/activate/invite?t=").next().unwrap();
    assert_eq!(token.len(), 43, "{stdout}");
}
