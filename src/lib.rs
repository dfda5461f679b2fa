//! gatehouse: an identity gateway for health-care portals.
//!
//! Modules are listed in reading order: configuration and the application
//! shell first, then the HTTP edge, the login flows that orchestrate the
//! domains, the domains themselves, and the storage they sit on.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod app;
pub mod http;
pub mod flow;
pub mod provider;
pub mod federation;
pub mod session;
pub mod accounts;
pub mod mfa;
pub mod diagnostics;
pub mod audit;
pub mod store;
pub mod clock;
pub mod crypto;
pub mod telemetry;
