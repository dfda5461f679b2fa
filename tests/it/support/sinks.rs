//! Where codes go in tests: a real SMTP server (PyPI `aiosmtpd`) and an
//! HTTP server speaking Twilio's Messages API that records what it is asked
//! to send — and can be told to refuse or to hang, as providers do.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::peer;

pub struct SmtpSink {
    pub port: u16,
    file: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mail.jsonl");
        let root = env!("CARGO_MANIFEST_DIR");
        let mut cmd = Command::new(format!("{root}/tests/peers/.venv/bin/python"));
        cmd.arg(format!("{root}/tests/peers/smtp-sink.py"))
            .env("SMTP_SINK_FILE", &file)
            .env("PYTHONWARNINGS", "ignore");
        let (child, words) = peer::spawn_ready(cmd, "aiosmtpd sink");
        Self {
            port: words[0].parse().unwrap(),
            file,
            child: Some(child),
            _dir: dir,
        }
    }

    pub fn messages(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded) for the `n`-th message and returns it.
    pub async fn wait_for(&self, n: usize) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let all = self.messages();
            if all.len() >= n {
                return all[n - 1].clone();
            }
            assert!(Instant::now() < deadline, "no email #{n} arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        peer::stop(&mut self.child);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsMode {
    Accept,
    Refuse,
    Hang,
}

#[derive(Clone)]
pub struct SmsSink {
    pub base_url: String,
    pub sent: Arc<Mutex<Vec<(String, String)>>>,
    mode: Arc<Mutex<SmsMode>>,
}

async fn messages(State(sink): State<SmsSink>, Path(sid): Path<String>, headers: HeaderMap, body: String) -> Response {
    // Twilio authenticates with the account SID and auth token.
    let auth_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    if !auth_ok || sid != "AC0123456789" {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"code":20003,"message":"Authenticate","status":401}"#,
        )
            .into_response();
    }
    let mode = *sink.mode.lock().unwrap();
    match mode {
        SmsMode::Hang => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        SmsMode::Refuse => (
            StatusCode::BAD_REQUEST,
            r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#,
        )
            .into_response(),
        SmsMode::Accept => {
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
            sink.sent.lock().unwrap().push((
                form.get("To").cloned().unwrap_or_default(),
                form.get("Body").cloned().unwrap_or_default(),
            ));
            (StatusCode::CREATED, r#"{"sid":"SM0001","status":"queued"}"#).into_response()
        }
    }
}

impl SmsSink {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            base_url: format!("http://{}", listener.local_addr().unwrap()),
            sent: Arc::default(),
            mode: Arc::new(Mutex::new(SmsMode::Accept)),
        };
        let app = axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                axum::routing::post(messages),
            )
            .with_state(sink.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sink
    }

    pub fn set_mode(&self, m: SmsMode) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn last_code(&self) -> String {
        let sent = self.sent.lock().unwrap();
        let (_, body) = sent.last().expect("an SMS was sent");
        body.chars().take_while(|c| c.is_ascii_digit()).collect()
    }
}

/// The six-digit code in an email body.
pub fn code_in(body: &str) -> String {
    let i = body.find("code is ").expect("code in the email") + "code is ".len();
    body[i..i + 6].to_string()
}

/// An HTTP endpoint that records the JSON bodies POSTed to it: where an
/// organization's IT would receive incident and certificate notices.
#[derive(Clone)]
pub struct WebhookSink {
    pub url: String,
    pub received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookSink {
    pub async fn start() -> Self {
        let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let store = received.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<serde_json::Value>| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push(body.0);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, received }
    }

    /// The notices received so far with this `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["event"] == event)
            .cloned()
            .collect()
    }

    /// Waits (at most 10 s) until `n` notices with this `event` arrived.
    pub async fn wait_for(&self, event: &str, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.events(event);
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
