//! Server-rendered pages. Templates are compiled into the binary and
//! rendered with auto-escaping; the environment is built once (it is
//! constant data, not configuration).

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value, context};

use crate::flow::Failure;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_filter("datetime", |unix: i64| crate::clock::rfc3339(unix));
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("admin.html", include_str!("../../templates/admin.html")),
        ("admin_ref.html", include_str!("../../templates/admin_ref.html")),
        ("admin_org.html", include_str!("../../templates/admin_org.html")),
        ("admin_people.html", include_str!("../../templates/admin_people.html")),
        ("admin_history.html", include_str!("../../templates/admin_history.html")),
        ("admin_review.html", include_str!("../../templates/admin_review.html")),
        ("identify.html", include_str!("../../templates/identify.html")),
        ("password.html", include_str!("../../templates/password.html")),
        ("error.html", include_str!("../../templates/error.html")),
        (
            "logout_confirm.html",
            include_str!("../../templates/logout_confirm.html"),
        ),
        ("signed_out.html", include_str!("../../templates/signed_out.html")),
        ("mfa.html", include_str!("../../templates/mfa.html")),
        ("mfa_enroll.html", include_str!("../../templates/mfa_enroll.html")),
        ("backup_codes.html", include_str!("../../templates/backup_codes.html")),
        ("mfa_oob.html", include_str!("../../templates/mfa_oob.html")),
        (
            "account_people.html",
            include_str!("../../templates/account_people.html"),
        ),
        ("activate.html", include_str!("../../templates/activate.html")),
        ("activate_code.html", include_str!("../../templates/activate_code.html")),
        (
            "activate_account.html",
            include_str!("../../templates/activate_account.html"),
        ),
        ("activate_done.html", include_str!("../../templates/activate_done.html")),
        ("recover.html", include_str!("../../templates/recover.html")),
        ("recover_reset.html", include_str!("../../templates/recover_reset.html")),
        ("recover_done.html", include_str!("../../templates/recover_done.html")),
        (
            "recover_username.html",
            include_str!("../../templates/recover_username.html"),
        ),
        (
            "password_change.html",
            include_str!("../../templates/password_change.html"),
        ),
        (
            "account_security.html",
            include_str!("../../templates/account_security.html"),
        ),
    ] {
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

/// A JSON value as a template value (the template engine is built without
/// serde, so structured data crosses as JSON).
pub fn json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.to_string())),
        J::String(s) => Value::from(s.clone()),
        J::Array(a) => a.iter().map(json_value).collect(),
        J::Object(m) => Value::from_object(
            m.iter()
                .map(|(k, v)| (k.clone(), json_value(v)))
                .collect::<std::collections::BTreeMap<String, Value>>(),
        ),
    }
}

/// Renders `name` with `ctx` and the given status.
pub fn render(status: StatusCode, name: &str, ctx: Value) -> Response {
    match ENV.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page could not be rendered").into_response()
        }
    }
}

pub fn failure_context(f: &Failure) -> Value {
    context! {
        code => f.code.as_str(),
        reference => f.reference.clone(),
        title => f.code.title(),
        next_step => f.code.next_step(),
        detail => f.user_detail.clone(),
        at => now_utc(),
    }
}

/// The wall-clock time shown beside a reference, for support.
fn now_utc() -> String {
    use crate::clock::Clock;
    crate::clock::rfc3339(crate::clock::SystemClock.now())
        .replace('T', " ")
        .replace('Z', " UTC")
}

pub fn failure_page(f: &Failure) -> Response {
    let status = StatusCode::from_u16(f.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let (link_label, link_url) = f.link.clone().unzip();
    render(
        status,
        "error.html",
        context! {
            code => f.code.as_str(),
            reference => f.reference.clone(),
            at => now_utc(),
            title => f.code.title(),
            next_step => f.code.next_step(),
            detail => f.user_detail.clone(),
            link_label => link_label,
            link_url => link_url,
        },
    )
}
