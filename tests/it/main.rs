//! The integration suite: one binary, one file per capability. Every test
//! runs the real gateway against a real Redis and drives it over HTTP with a
//! real client library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod activation;
mod admin_browser;
mod cli;
mod diagnose_live;
mod diagnose_offline;
mod diagnostics;
mod federation_oidc;
mod federation_saml;
mod login;
mod mfa;
mod mfa_browser;
mod mfa_login;
mod mfa_oob;
mod mfa_settings;
mod mfa_webauthn;
mod oidc_flow;
mod org_admin;
mod recovery;
mod ops;
mod saml_fixtures;
mod sessions;
mod tokens;
