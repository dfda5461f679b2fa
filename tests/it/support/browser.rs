//! A browser stand-in for the HTML steps: a real HTTP client with a cookie
//! jar that does not follow redirects, so every hop can be inspected.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION};

use super::app::TestApp;

/// What the stand-in browser calls itself (support staff read it back).
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) gatehouse-test-browser";

pub struct Browser {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
}

#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .unwrap_or_else(|| panic!("no Location on {} response: {}", self.status, self.body))
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Value of a hidden form field such as `tx` or `csrf`.
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in page: {}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }

    fn attr(&self, name: &str) -> Option<String> {
        let marker = format!("{name}=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].split('"').next()?.to_string())
    }

    /// `data-error-code` of a failure page or banner.
    pub fn error_code(&self) -> Option<String> {
        self.attr("data-error-code")
    }

    pub fn reference(&self) -> Option<String> {
        self.attr("data-reference")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// Query parameter of the Location header.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(&self.location()).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

impl Browser {
    pub fn new() -> Self {
        Self::with_user_agent(USER_AGENT)
    }

    /// A browser that calls itself something else (another device).
    pub fn with_user_agent(user_agent: &str) -> Self {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        Self { http, jar }
    }

    async fn page(r: reqwest::Response) -> Page {
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::page(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::page(self.http.post(url).form(form).send().await.unwrap()).await
    }

    pub fn cookie(&self, app: &TestApp, name: &str) -> Option<String> {
        let url = url::Url::parse(&app.base).unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// From an authorization URL to the login form: returns the identify page.
    pub async fn start(&self, app: &TestApp, authorize_url: &str) -> Page {
        let r = self.get(authorize_url).await;
        assert_eq!(r.status, 303, "authorize should redirect to the login page: {}", r.body);
        let loc = r.location();
        assert!(loc.starts_with("/login?tx="), "unexpected redirect {loc}");
        self.get(&app.url(&loc)).await
    }

    /// Identify + password on an identify page; returns the response to the
    /// password POST (a redirect to the portal on success).
    pub async fn submit_credentials(&self, app: &TestApp, identify: &Page, username: &str, password: &str) -> Page {
        assert_eq!(identify.status, 200, "{}", identify.body);
        let tx = identify.field("tx");
        let csrf = identify.field("csrf");
        let r = self
            .post(
                &app.url("/login/identify"),
                &[("tx", &tx), ("csrf", &csrf), ("username", username)],
            )
            .await;
        assert_eq!(r.status, 303, "identify: {}", r.body);
        let pw_page = self.get(&app.url(&r.location())).await;
        assert_eq!(pw_page.status, 200, "{}", pw_page.body);
        self.post(
            &app.url("/login/password"),
            &[
                ("tx", &pw_page.field("tx")),
                ("csrf", &pw_page.field("csrf")),
                ("password", password),
            ],
        )
        .await
    }

    /// Follows redirects (across hosts: gateway, IdP, back) until one points
    /// at `stop_prefix` or a page is shown. At most 20 hops.
    pub async fn follow(&self, first: Page, base: &str, stop_prefix: &str) -> Page {
        let mut page = first;
        let mut current = url::Url::parse(base).unwrap();
        for _ in 0..20 {
            if !(300..400).contains(&page.status) {
                return page;
            }
            let loc = page.location();
            if loc.starts_with(stop_prefix) {
                return page;
            }
            let next = current.join(&loc).unwrap();
            page = self.get(next.as_str()).await;
            current = next;
        }
        panic!("more than 20 redirects");
    }

    /// Identify with a work email and follow the federation round trip
    /// until the browser is sent back to `stop_prefix` (or shown a page).
    pub async fn login_federated(&self, app: &TestApp, authorize_url: &str, email: &str, stop_prefix: &str) -> Page {
        let identify = self.start(app, authorize_url).await;
        let r = self
            .post(
                &app.url("/login/identify"),
                &[
                    ("tx", &identify.field("tx")),
                    ("csrf", &identify.field("csrf")),
                    ("username", email),
                ],
            )
            .await;
        // A failure before the IdP (unreachable, misconfigured) is a page.
        self.follow(r, &app.base, stop_prefix).await
    }

    /// The whole browser side of a login: authorize → identify → password.
    pub async fn login(&self, app: &TestApp, authorize_url: &str, username: &str, password: &str) -> Page {
        let identify = self.start(app, authorize_url).await;
        self.submit_credentials(app, &identify, username, password).await
    }
}
