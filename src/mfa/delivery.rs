//! Getting a one-time code to the user: email over SMTP (lettre) and SMS
//! over HTTP (a Twilio-compatible Messages API, or a JSON webhook). A
//! failure carries the provider's answer for the admin — never the code.

use std::sync::Arc;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{EmailSettings, SmsProvider, SmsSettings, SmtpTls};

#[derive(Clone, Default)]
pub struct Delivery {
    email: Option<Arc<EmailSender>>,
    sms: Option<Arc<SmsSender>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("email", &self.email.is_some())
            .field("sms", &self.sms.is_some())
            .finish()
    }
}

struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

struct SmsSender {
    settings: SmsSettings,
    http: reqwest::Client,
}

impl Delivery {
    pub fn new(email: Option<&EmailSettings>, sms: Option<&SmsSettings>) -> Result<Self, String> {
        let email = match email {
            None => None,
            Some(e) => {
                let builder = match e.tls {
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.smtp_host).map_err(|x| x.to_string())?
                    }
                    SmtpTls::Tls => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(&e.smtp_host).map_err(|x| x.to_string())?
                    }
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.smtp_host),
                };
                let mut builder = builder.port(e.smtp_port).timeout(Some(e.timeout));
                if let (Some(u), Some(p)) = (&e.username, &e.password) {
                    builder = builder.credentials(Credentials::new(u.clone(), p.expose().to_string()));
                }
                let from: Mailbox = e.from.parse().map_err(|x| format!("email.from: {x}"))?;
                Some(Arc::new(EmailSender {
                    transport: builder.build(),
                    from,
                }))
            }
        };
        let sms = match sms {
            None => None,
            Some(s) => Some(Arc::new(SmsSender {
                settings: s.clone(),
                http: reqwest::Client::builder()
                    .timeout(s.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())?,
            })),
        };
        Ok(Self { email, sms })
    }

    pub fn has_email(&self) -> bool {
        self.email.is_some()
    }

    pub fn has_sms(&self) -> bool {
        self.sms.is_some()
    }

    pub async fn email(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let sender = self.email.as_ref().ok_or("email delivery is not configured")?;
        let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(sender.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_string())
            .map_err(|e| e.to_string())?;
        sender
            .transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    pub async fn sms(&self, to: &str, body: &str) -> Result<(), String> {
        let sender = self.sms.as_ref().ok_or("SMS delivery is not configured")?;
        let request = match &sender.settings.provider {
            SmsProvider::Twilio {
                base_url,
                account_sid,
                auth_token,
                from,
            } => sender
                .http
                .post(format!("{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"))
                .basic_auth(account_sid, Some(auth_token.expose()))
                .form(&[("To", to), ("From", from.as_str()), ("Body", body)]),
            SmsProvider::Webhook { url } => sender
                .http
                .post(url)
                .json(&serde_json::json!({ "to": to, "body": body })),
        };
        let resp = request.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {}s", sender.settings.timeout.as_secs_f32())
            } else {
                format!("unreachable: {e}")
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>()))
    }
}
