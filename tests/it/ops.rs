//! Liveness, readiness, metrics.

use crate::support::app::*;
use crate::support::browser::Browser;
use crate::support::rp::Rp;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let ws = Workspace::new();
    let app = TestApp::spawn(&ws).await;
    app.provider_account("metered").await;
    let b = Browser::new();
    assert_eq!(b.get(&app.url("/healthz")).await.body, "ok");
    let ready = b.get(&app.url("/readyz")).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["store"], "ok");

    Rp::confidential(PORTAL, PORTAL_SECRET, PORTAL_CALLBACK)
        .login(&app, &b, "metered", PASSWORD)
        .await;
    let m = b.get(&app.url("/metrics")).await;
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("gatehouse_http_request_duration_seconds_bucket"),
        "{}",
        m.body
    );
    assert!(m.body.contains("gatehouse_logins_total{outcome=\"success\"}"));

    let nf = b.get(&app.url("/no/such/path")).await;
    assert_eq!(nf.status, 404);
}
