//! The `gatehouse` command line. Parses arguments and calls into the
//! library; no logic of its own beyond printing.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use gatehouse::accounts::{NewAccount, Password, Status};
use gatehouse::app::{App, Components};
use gatehouse::clock::{Clock, SystemClock, rfc3339};
use gatehouse::config::{AccountType, Config, SessionBackend, SigningAlg};
use gatehouse::provider::keys::KeySet;
use gatehouse::telemetry;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "Identity gateway for health-care portals")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct ConfigArg {
    /// Configuration file (default: config/gatehouse.toml, or the embedded
    /// defaults when that file does not exist).
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ConfigArg),
    /// Validate a configuration file and list every problem.
    CheckConfig(ConfigArg),
    /// Manage accounts.
    Account {
        #[command(flatten)]
        cfg: ConfigArg,
        #[command(subcommand)]
        action: AccountCmd,
    },
    /// Import identity records people activate accounts against:
    /// `import members FILE.csv` (member_id,date_of_birth,name,email,phone)
    /// or `import providers FILE.csv` (npi,tin,name,email,phone).
    Import {
        #[command(flatten)]
        cfg: ConfigArg,
        #[arg(value_enum)]
        kind: ImportKind,
        file: std::path::PathBuf,
    },
    /// Explain sign-in failures and check organizations' IdPs:
    /// `diagnose connection ORG`, `diagnose saml-response --org ORG FILE|-`,
    /// `diagnose id-token --org ORG FILE|-`, `diagnose ref CODE`.
    Diagnose {
        #[command(flatten)]
        cfg: ConfigArg,
        #[command(subcommand)]
        action: DiagnoseCmd,
    },
    /// Manage ID-token signing keys.
    Keys {
        #[command(flatten)]
        cfg: ConfigArg,
        #[command(subcommand)]
        action: KeysCmd,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ImportKind {
    Members,
    Providers,
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long = "type", value_parser = ["provider", "member", "employer"])]
        account_type: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Invite someone by email: they choose their username and password
    /// from the link (sent when `[email]` is configured, printed always).
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long = "type", value_parser = ["provider", "member", "employer"])]
        account_type: String,
        #[arg(long)]
        org: Option<String>,
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Who is inviting (recorded with the account).
        #[arg(long, default_value = "operator")]
        by: String,
        #[arg(long, default_value_t = 7)]
        valid_days: u32,
    },
    /// List accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one account (username or id).
    Show {
        who: String,
        #[arg(long)]
        json: bool,
    },
    /// Clear a username's failed-login lock.
    Unlock { who: String },
    /// Disable an account and end its sessions.
    Disable { who: String },
    /// Remove every second factor of an account (it enrolls again at its
    /// next sign-in) and end its sessions; recorded in its organization's
    /// delegation history.
    ResetMfa {
        who: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum DiagnoseCmd {
    /// Live preflight of an organization's IdP: metadata or discovery,
    /// certificates, algorithms, endpoints, clock, our URLs.
    Connection {
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Explain a captured SAMLResponse (XML, base64 or URL-encoded; `-`
    /// reads standard input). Exit 0 accept, 1 reject, 2 usage error.
    SamlResponse {
        #[arg(long)]
        org: String,
        file: String,
        /// Judge as of this instant (RFC 3339), e.g. the user's failure time.
        #[arg(long)]
        at: Option<String>,
        /// The AuthnRequest ID the response should answer.
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Explain a captured ID token (`-` reads standard input).
    IdToken {
        #[arg(long)]
        org: String,
        file: String,
        #[arg(long)]
        at: Option<String>,
        /// The nonce of the login the token answers.
        #[arg(long)]
        nonce: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Look up the event behind a reference code a user quoted.
    Ref {
        code: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// List signing keys (newest first; the newest per algorithm signs).
    List,
    /// Generate a new signing key; restart instances to start using it.
    Rotate {
        #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256"])]
        alg: String,
    },
}

fn load(cfg: &ConfigArg) -> Result<Config, ExitCode> {
    Config::load(cfg.config.as_deref(), std::env::vars()).map_err(|e| {
        eprint!("{}", e.report());
        ExitCode::from(2)
    })
}

/// jemalloc instead of glibc's malloc: under load glibc's arenas kept up to
/// 180 MiB (argon2id's 19 MiB blocks stay in the arena of each thread that
/// hashed) and its arena locks showed in every hot-path profile; jemalloc
/// returns freed pages to the system as they decay. ARCHITECTURE.md
/// ("Performance") has the numbers.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match run(cli).await {
            Ok(code) => code,
            Err(code) => code,
        }
    })
}

async fn run(cli: Cli) -> Result<ExitCode, ExitCode> {
    match cli.command {
        Command::CheckConfig(c) => {
            let cfg = load(&c)?;
            println!(
                "{}: ok — {} portal(s) and the admin console, {} organization(s), session store {}",
                cfg.source,
                cfg.portals
                    .iter()
                    .filter(|p| p.client_id != gatehouse::config::ADMIN_CLIENT_ID)
                    .count(),
                cfg.orgs.len(),
                match cfg.session.backend {
                    SessionBackend::Memory => "memory",
                    SessionBackend::Redis { .. } => "redis",
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(c) => {
            let cfg = load(&c)?;
            telemetry::init_logging(&cfg.log);
            // Listen for SIGTERM before anything else, so a stop request
            // during start-up is not lost.
            let stop = shutdown_signal();
            let app = App::build(cfg).await.map_err(|e| {
                tracing::error!(error = %e, "gatehouse could not start");
                ExitCode::FAILURE
            })?;
            app.run_until(stop).await.map_err(|e| {
                tracing::error!(error = %e, "server error");
                ExitCode::FAILURE
            })?;
            tracing::info!("gatehouse stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Account { cfg, action } => {
            let cfg = load(&cfg)?;
            let c = Components::open(cfg, Arc::new(SystemClock)).await.map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            })?;
            account(c, action).await
        }
        Command::Keys { cfg, action } => {
            let cfg = load(&cfg)?;
            keys(&cfg, action)
        }
        Command::Diagnose { cfg, action } => {
            let cfg = load(&cfg)?;
            diagnose(cfg, action).await
        }
        Command::Import { cfg, kind, file } => {
            let cfg = load(&cfg)?;
            let c = Components::open(cfg, Arc::new(SystemClock)).await.map_err(fail)?;
            import(c, kind, &file).await
        }
    }
}

/// Imports a CSV of identity records: every bad row is reported by line,
/// the good ones are kept. Exit status 1 when any row was refused.
async fn import(c: Components, kind: ImportKind, file: &std::path::Path) -> Result<ExitCode, ExitCode> {
    use gatehouse::accounts::records::RecordKind;
    let kind = match kind {
        ImportKind::Members => RecordKind::Member,
        ImportKind::Providers => RecordKind::Provider,
    };
    let text = std::fs::read_to_string(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
    let (imported, bad) = c
        .accounts
        .import_records(kind, &text)
        .await
        .map_err(|e| fail(format!("{}: {e}", file.display())))?;
    for r in &bad {
        if r.line > 0 {
            eprintln!("{}:{}: {}", file.display(), r.line, r.reason);
        } else {
            eprintln!("{}: {}", file.display(), r.reason);
        }
    }
    println!("{imported} {} record(s) imported, {} refused", kind.as_str(), bad.len());
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

fn read_input(file: &str) -> Result<String, ExitCode> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(usage)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| usage(format!("{file}: {e}")))
    }
}

fn instant(at: Option<&str>) -> Result<i64, ExitCode> {
    match at {
        None => Ok(SystemClock.now()),
        Some(t) => humantime::parse_rfc3339_weak(t)
            .map_err(|e| usage(format!("--at {t}: {e} (use e.g. 2026-06-01T12:00:30Z)")))?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .map_err(|_| usage("--at is before 1970")),
    }
}

fn print_checks(
    json: bool,
    value: &serde_json::Value,
    headline: &str,
    checks: &[gatehouse::diagnostics::checks::Check],
) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        println!("{headline}");
        print!("{}", gatehouse::diagnostics::checks::render_text(checks));
    }
}

/// Prints an explainer's report; exit 0 when accepted, 1 when rejected.
fn explained(r: &gatehouse::flow::explain::Report, json: bool) -> ExitCode {
    let headline = format!(
        "{}: {}{}",
        r.org,
        r.verdict,
        r.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
    );
    print_checks(json, &serde_json::json!(r), &headline, &r.checks);
    if r.verdict == "accept" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn diagnose(cfg: Config, action: DiagnoseCmd) -> Result<ExitCode, ExitCode> {
    use gatehouse::flow::{admin, explain, preflight};
    match action {
        DiagnoseCmd::SamlResponse {
            org,
            file,
            at,
            request_id,
            json,
        } => {
            let input = read_input(&file)?;
            let at = instant(at.as_deref())?;
            let r = explain::saml_response(&cfg, &org, &input, at, request_id.as_deref())
                .await
                .map_err(usage)?;
            Ok(explained(&r, json))
        }
        DiagnoseCmd::IdToken {
            org,
            file,
            at,
            nonce,
            json,
        } => {
            let input = read_input(&file)?;
            let at = instant(at.as_deref())?;
            let r = explain::id_token(&cfg, &org, &input, at, nonce.as_deref())
                .await
                .map_err(usage)?;
            Ok(explained(&r, json))
        }
        DiagnoseCmd::Connection { org, json } => {
            if cfg.org(&org).is_none() {
                return Err(usage(format!("organization `{org}` is not in the configuration")));
            }
            let fed = gatehouse::federation::Federation::new(
                &cfg,
                gatehouse::federation::http_client(std::time::Duration::from_secs(10)).map_err(usage)?,
                None,
            );
            let r = preflight::run(&cfg, &fed, &org, SystemClock.now()).await;
            let headline = format!("{} ({}): {}", r.org, r.kind, r.verdict.as_str());
            print_checks(json, &serde_json::json!(r), &headline, &r.checks);
            Ok(if r.verdict == gatehouse::diagnostics::checks::Result::Fail {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        DiagnoseCmd::Ref { code, json } => {
            let Some(reference) = gatehouse::crypto::normalize_reference(&code) else {
                return Err(usage(format!("`{code}` is not a reference (they look like 7F3K-92QD)")));
            };
            let c = Components::open(cfg, Arc::new(SystemClock)).await.map_err(fail)?;
            let events: Vec<_> = c
                .audit
                .by_reference(&reference)
                .await
                .map_err(fail)?
                .iter()
                .map(admin::view)
                .collect();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "reference": reference, "events": events }))
                        .unwrap_or_default()
                );
            } else if events.is_empty() {
                println!("no event with reference {reference}");
            }
            if !json {
                for e in &events {
                    let x = &e.explanation;
                    println!("{} at {}: {}", e.reference, e.at, x.what);
                    println!("  step:     {}", x.step);
                    if let Some(v) = &x.expected {
                        println!("  expected: {v}");
                    }
                    if let Some(v) = &x.actual {
                        println!("  actual:   {v}");
                    }
                    println!("  fix:      {}", x.fix);
                    for (k, v) in [
                        ("org", &e.org),
                        ("portal", &e.portal),
                        ("user", &e.username),
                        ("ip", &e.ip),
                        ("agent", &e.user_agent),
                    ] {
                        if let Some(v) = v {
                            println!("  {k:<9} {v}");
                        }
                    }
                    for f in &x.facts {
                        println!("  {}: {}", f.name, f.value);
                    }
                }
            }
            Ok(if events.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// Registers the SIGTERM handler now; the returned future resolves on
/// SIGTERM or Ctrl-C.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn account_json(a: &gatehouse::accounts::Account) -> serde_json::Value {
    serde_json::json!({
        "id": a.id.as_str(), "username": a.username, "email": a.email, "phone": a.phone,
        "type": a.account_type.as_str(), "status": a.status.as_str(), "org": a.org(), "roles": a.roles(),
        "created_at": rfc3339(a.created_at), "last_login_at": a.last_login_at.map(rfc3339),
    })
}

/// Ends every session of an account and revokes the portal token families
/// started under each, as the running gateway does. Tokens that could not
/// be revoked make it an error: running the command again retries them.
async fn end_sessions(c: &Components, account_id: &str) -> Result<(usize, usize), ExitCode> {
    let ended = gatehouse::provider::tokens::end_every_session(&c.kv, &c.sessions, account_id)
        .await
        .map_err(fail)?;
    if ended.unrevoked > 0 {
        return Err(fail(format!(
            "{} session(s) ended, but the portal tokens of {} could not be revoked: run the command again",
            ended.sessions, ended.unrevoked
        )));
    }
    Ok((ended.sessions, ended.families))
}

async fn account(c: Components, action: AccountCmd) -> Result<ExitCode, ExitCode> {
    match action {
        AccountCmd::Create {
            username,
            email,
            phone,
            account_type,
            org,
            roles,
        } => {
            let mut pw = String::new();
            std::io::stdin().read_to_string(&mut pw).map_err(fail)?;
            let pw = pw.trim_end_matches(['\n', '\r']).to_string();
            let account_type = AccountType::parse(&account_type).ok_or_else(|| fail("unknown account type"))?;
            let new = NewAccount {
                username,
                email,
                phone,
                account_type,
                org,
                roles,
                password: Password::new(pw),
            };
            let a = c.accounts.create(new, &c.cfg.orgs, "cli").await.map_err(fail)?;
            println!(
                "created {} ({}), id {}",
                a.username,
                a.account_type.as_str(),
                a.id.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::Invite {
            email,
            account_type,
            org,
            roles,
            by,
            valid_days,
        } => {
            let account_type = AccountType::parse(&account_type).ok_or_else(|| fail("unknown account type"))?;
            let invitation = gatehouse::accounts::Invitation {
                email,
                account_type,
                org,
                roles,
                tin: None,
                invited_by: by,
                valid_for: std::time::Duration::from_secs(u64::from(valid_days.clamp(1, 30)) * 86_400),
            };
            let token = c.accounts.invite(&invitation, &c.cfg.orgs).await.map_err(fail)?;
            let link = format!(
                "{}/activate/invite?t={token}",
                c.cfg.server.public_url.as_str().trim_end_matches('/')
            );
            let delivery = gatehouse::mfa::delivery::Delivery::new(c.cfg.mfa.email.as_ref(), c.cfg.mfa.sms.as_ref())
                .map_err(fail)?;
            if delivery.has_email() {
                let body = format!(
                    "{} invited you to create your sign-in account.\n\nOpen this link to choose your username and password (valid {valid_days} days, once):\n{link}\n",
                    invitation.invited_by
                );
                match delivery.email(&invitation.email, "Your invitation", &body).await {
                    Ok(()) => println!("invitation emailed to {}", invitation.email),
                    Err(e) => eprintln!("warning: could not email the invitation: {e}"),
                }
            }
            println!("{link}");
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::List { json } => {
            let all = c.accounts.list().await.map_err(fail)?;
            if json {
                println!("{}", serde_json::Value::Array(all.iter().map(account_json).collect()));
            } else {
                println!("{:<24} {:<9} {:<9} {:<20} ROLES", "USERNAME", "TYPE", "STATUS", "ORG");
                for a in all {
                    println!(
                        "{:<24} {:<9} {:<9} {:<20} {}",
                        a.username,
                        a.account_type.as_str(),
                        a.status.as_str(),
                        a.org().unwrap_or("-"),
                        a.roles().join(",")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::Show { who, json } => {
            let a = c
                .accounts
                .find(&who)
                .await
                .map_err(fail)?
                .ok_or_else(|| fail(format!("no account `{who}`")))?;
            let failures = c.accounts.failure_record(&a.username).await.map_err(fail)?;
            let mut v = account_json(&a);
            let now = c.clock.now();
            v["failed_logins"] = serde_json::json!(failures.failures);
            v["locked_until"] = serde_json::json!(failures.locked_until.filter(|u| *u > now).map(rfc3339));
            if json {
                println!("{v}");
            } else if let Some(obj) = v.as_object() {
                for (k, val) in obj {
                    println!("{k:>15}: {val}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::Unlock { who } => {
            let name = match c.accounts.find(&who).await.map_err(fail)? {
                Some(a) => a.username,
                None => who.trim().to_lowercase(),
            };
            let cleared = c.accounts.unlock(&name).await.map_err(fail)?;
            println!(
                "{name}: {}",
                if cleared {
                    "failure counter cleared, unlocked"
                } else {
                    "was not locked"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::Disable { who } => {
            let a = c
                .accounts
                .find(&who)
                .await
                .map_err(fail)?
                .ok_or_else(|| fail(format!("no account `{who}`")))?;
            c.accounts.set_status(&a.id, Status::Disabled).await.map_err(fail)?;
            match c.kv.backend_name() {
                "memory" => println!(
                    "{}: disabled. Sessions and portal tokens live in the running server's memory: no new login is granted, refresh and userinfo stop within `store.account_cache`, and the sessions end at its next restart.",
                    a.username
                ),
                _ => {
                    let (ended, families) = end_sessions(&c, a.id.as_str()).await?;
                    println!(
                        "{}: disabled, {ended} session(s) ended, {families} portal token famil{} revoked",
                        a.username,
                        if families == 1 { "y" } else { "ies" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountCmd::ResetMfa { who, reason } => {
            if reason.trim().is_empty() {
                return Err(usage("--reason must say why (it goes into the delegation history)"));
            }
            let a = c
                .accounts
                .find(&who)
                .await
                .map_err(fail)?
                .ok_or_else(|| fail(format!("no account `{who}`")))?;
            c.accounts.sql().reset_mfa(a.id.as_str()).await.map_err(fail)?;
            // With the in-process session store the sessions are in the
            // running server's memory: this process cannot end them, and
            // must not drop the index rows the server will need to.
            let ended = if c.kv.backend_name() == "memory" {
                println!(
                    "{}: sessions and portal tokens live in the running server's memory: end them from the console (people page) or restart it (remembered devices end now)",
                    a.username
                );
                0
            } else {
                end_sessions(&c, a.id.as_str()).await?.0
            };
            if let Some(org) = a.org() {
                c.accounts
                    .sql()
                    .record_delegation(&gatehouse::store::org::DelegationRow {
                        id: gatehouse::crypto::hex(&gatehouse::crypto::random_bytes::<12>()),
                        at: SystemClock.now(),
                        org_id: org.to_string(),
                        action: "mfa_reset".into(),
                        actor: "cli".into(),
                        subject: a.username.clone(),
                        subject_id: Some(a.id.as_str().to_string()),
                        role: None,
                        tin: None,
                        reason: reason.trim().to_string(),
                    })
                    .await
                    .map_err(fail)?;
            }
            println!(
                "{}: second factors removed, {ended} session(s) ended with their portal tokens; the next sign-in enrolls again",
                a.username
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keys(cfg: &Config, action: KeysCmd) -> Result<ExitCode, ExitCode> {
    match action {
        KeysCmd::List => {
            let set = KeySet::load(&cfg.keys.dir).map_err(fail)?;
            let mut seen = Vec::new();
            for k in set.keys() {
                let active = !seen.contains(&k.alg);
                seen.push(k.alg);
                println!(
                    "{:<6} kid={} created={} {}",
                    k.alg.as_str(),
                    k.kid,
                    rfc3339(k.created),
                    if active {
                        "(active)"
                    } else {
                        "(published for verification)"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Rotate { alg } => {
            let alg = if alg == "RS256" {
                SigningAlg::Rs256
            } else {
                SigningAlg::Es256
            };
            std::fs::create_dir_all(&cfg.keys.dir).map_err(fail)?;
            let path = KeySet::generate(&cfg.keys.dir, alg, SystemClock.now()).map_err(fail)?;
            println!(
                "new {} key {}; restart instances to sign with it. Older keys stay published; delete their files once tokens they signed have expired ({}).",
                alg.as_str(),
                path.display(),
                humantime::format_duration(cfg.tokens.id_token_lifetime.max(cfg.tokens.access_token_lifetime))
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
