//! The typed configuration tree.
//!
//! `RawConfig` mirrors `config/gatehouse.toml` one to one; `Config::load` reads
//! the file, applies `GATEHOUSE__SECTION__KEY` environment overrides, records
//! every unknown key, and `validate` turns the raw tree into a `Config` whose
//! values are already parsed (durations, URLs, enums) — or into the complete
//! list of problems, each named by its key, so `check-config` can report them
//! all at once. Secrets are wrapped in `Secret`, whose `Debug` redacts.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

/// The configuration shipped in the repository; also the embedded default
/// when no file exists, so `gatehouse serve` works on a fresh checkout.
pub const SHIPPED: &str = include_str!("../config/gatehouse.toml");

/// A secret value from configuration. Never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

// ---------------------------------------------------------------------------
// Raw tree: what the file says.

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RawConfig {
    pub server: RawServer,
    pub log: RawLog,
    pub session: RawSession,
    pub store: RawStore,
    pub keys: RawKeys,
    pub tokens: RawTokens,
    pub login: RawLogin,
    pub lockout: RawLockout,
    pub password: RawPassword,
    pub mfa: RawMfa,
    pub email: RawEmail,
    pub sms: RawSms,
    pub diagnostics: RawDiagnostics,
    pub portal: Vec<RawPortal>,
    pub org: Vec<RawOrg>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawDiagnostics {
    pub incident_users: u32,
    pub incident_window: String,
    pub incident_close_successes: u32,
    pub webhook: Option<String>,
    pub webhook_timeout: String,
    pub certificate_warn_days: Vec<u32>,
    pub certificate_check_interval: String,
    pub loop_threshold: u32,
    pub loop_window: String,
    pub maintenance_notice: Option<String>,
}
impl Default for RawDiagnostics {
    fn default() -> Self {
        Self {
            incident_users: 3,
            incident_window: "15m".into(),
            incident_close_successes: 2,
            webhook: None,
            webhook_timeout: "5s".into(),
            certificate_warn_days: vec![30, 7, 1],
            certificate_check_interval: "1h".into(),
            loop_threshold: 6,
            loop_window: "30s".into(),
            maintenance_notice: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawMfa {
    pub totp_issuer: String,
    pub remember_device_days: u32,
    pub code_lifetime: String,
    pub code_attempts: u32,
    pub resend_cooldown: String,
    pub sends_per_hour: u32,
}
impl Default for RawMfa {
    fn default() -> Self {
        Self {
            totp_issuer: "gatehouse".into(),
            remember_device_days: 30,
            code_lifetime: "5m".into(),
            code_attempts: 5,
            resend_cooldown: "30s".into(),
            sends_per_hour: 5,
        }
    }
}

/// Outgoing mail (email one-time codes).
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawEmail {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub tls: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub timeout: String,
}
impl Default for RawEmail {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            tls: "starttls".into(),
            username: None,
            password: None,
            from: "gatehouse <no-reply@localhost>".into(),
            timeout: "10s".into(),
        }
    }
}

/// Outgoing SMS: a Twilio-compatible Messages API or a JSON webhook.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawSms {
    pub provider: Option<String>,
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Option<Secret>,
    pub from: String,
    pub webhook_url: Option<String>,
    pub timeout: String,
}
impl Default for RawSms {
    fn default() -> Self {
        Self {
            provider: None,
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: None,
            from: String::new(),
            webhook_url: None,
            timeout: "5s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawServer {
    pub listen: String,
    pub public_url: String,
}
impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}
impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawSession {
    pub store: String,
    pub redis_url: String,
    pub key_prefix: String,
    pub idle_timeout: String,
    pub absolute_timeout: String,
    pub redis_timeout: String,
}
impl Default for RawSession {
    fn default() -> Self {
        Self {
            store: "memory".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "gatehouse:".into(),
            idle_timeout: "30m".into(),
            absolute_timeout: "12h".into(),
            redis_timeout: "2s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawStore {
    pub url: String,
    pub account_cache: String,
}
impl Default for RawStore {
    fn default() -> Self {
        Self {
            url: "sqlite://data/gatehouse.db".into(),
            account_cache: "1s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawKeys {
    pub dir: String,
}
impl Default for RawKeys {
    fn default() -> Self {
        Self { dir: "certs".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawTokens {
    pub code_lifetime: String,
    pub access_token_lifetime: String,
    pub id_token_lifetime: String,
    pub refresh_token_lifetime: String,
}
impl Default for RawTokens {
    fn default() -> Self {
        Self {
            code_lifetime: "60s".into(),
            access_token_lifetime: "10m".into(),
            id_token_lifetime: "10m".into(),
            refresh_token_lifetime: "12h".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawLogin {
    pub transaction_lifetime: String,
}
impl Default for RawLogin {
    fn default() -> Self {
        Self {
            transaction_lifetime: "15m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawLockout {
    pub max_failures: u32,
    pub window: String,
    pub duration: String,
    pub per_ip_failures: u32,
}
impl Default for RawLockout {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: "15m".into(),
            duration: "15m".into(),
            per_ip_failures: 50,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawPassword {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    pub min_length: usize,
    pub min_classes: usize,
    pub max_age: Option<String>,
    pub history: usize,
}
impl Default for RawPassword {
    fn default() -> Self {
        // OWASP's recommended argon2id floor: 19 MiB, 2 passes, 1 lane.
        Self {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            min_length: 12,
            min_classes: 0,
            max_age: None,
            history: 5,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RawPortal {
    pub client_id: String,
    pub name: String,
    pub client_secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub account_types: Vec<String>,
    pub mfa: String,
    pub id_token_signed_response_alg: String,
    pub login_url: Option<String>,
    /// With `mfa = "required"`: the assurance the second factor must reach
    /// (2 by default; 1 also accepts email codes).
    pub mfa_aal: Option<u8>,
    /// Roles of which the account must hold at least one (empty: any).
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RawOrg {
    pub id: String,
    pub name: String,
    pub tins: Vec<String>,
    pub npis: Vec<String>,
    pub email_domains: Vec<String>,
    pub mfa: String,
    pub jit_provisioning: bool,
    pub default_roles: Vec<String>,
    pub account_type: String,
    pub connection: Option<RawConnection>,
    /// Stricter (or looser) password rules for this organization's accounts.
    pub password: Option<RawPasswordOverride>,
    /// Lockout for usernames that are addresses in `email_domains`.
    pub lockout: Option<RawLockoutOverride>,
    /// The organization IT's endpoint for incident and certificate notices.
    pub webhook: Option<String>,
    /// Roles of the organization's own, beside access_manager, office_admin,
    /// billing and clinician.
    pub roles: Vec<String>,
    /// "allow" (default), "end_others" or "refuse".
    pub concurrent_sessions: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLockoutOverride {
    pub max_failures: Option<u32>,
    pub window: Option<String>,
    pub duration: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPasswordOverride {
    pub min_length: Option<usize>,
    pub min_classes: Option<usize>,
    pub history: Option<usize>,
    pub max_age: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct RawConnection {
    pub kind: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub token_endpoint_auth: String,
    pub scopes: Vec<String>,
    pub allowed_clock_skew: String,
    pub signing_algs: Vec<String>,
    pub userinfo: bool,
    pub required_claims: Vec<String>,
    pub claims: RawClaimMap,
    pub discovery_refresh: String,
    pub http_timeout: String,
    // SAML
    pub idp_metadata_url: Option<String>,
    pub idp_metadata_file: Option<String>,
    pub metadata_refresh: String,
    pub sp_entity_id: Option<String>,
    pub acs_url: Option<String>,
    pub nameid_format: String,
    pub required_attributes: Vec<String>,
    pub attributes: RawAttributeMap,
    pub sign_requests: bool,
    pub want_assertions_signed: bool,
    pub allow_sha1: bool,
    pub accept_expired_certificate: bool,
    pub allow_idp_initiated: bool,
}

/// Which SAML attribute feeds which account attribute (by Name or
/// FriendlyName); the subject is the NameID unless `subject` names an
/// attribute.
#[derive(Debug, Deserialize, Clone)]
#[serde(default)]
pub struct RawAttributeMap {
    pub subject: Option<String>,
    pub email: String,
    pub name: String,
    pub roles: Option<String>,
}
impl Default for RawAttributeMap {
    fn default() -> Self {
        Self {
            subject: None,
            email: "email".into(),
            name: "displayName".into(),
            roles: None,
        }
    }
}
impl Default for RawConnection {
    fn default() -> Self {
        Self {
            kind: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            token_endpoint_auth: "client_secret_basic".into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            allowed_clock_skew: "2m".into(),
            signing_algs: vec!["RS256".into(), "PS256".into(), "ES256".into()],
            userinfo: false,
            required_claims: vec!["email".into()],
            claims: RawClaimMap::default(),
            discovery_refresh: "1h".into(),
            http_timeout: "10s".into(),
            idp_metadata_url: None,
            idp_metadata_file: None,
            metadata_refresh: "1h".into(),
            sp_entity_id: None,
            acs_url: None,
            nameid_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            required_attributes: vec!["email".into()],
            attributes: RawAttributeMap::default(),
            sign_requests: false,
            want_assertions_signed: false,
            allow_sha1: false,
            accept_expired_certificate: false,
            allow_idp_initiated: false,
        }
    }
}

/// Which upstream claim feeds which account attribute.
#[derive(Debug, Deserialize, Clone)]
#[serde(default)]
pub struct RawClaimMap {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub roles: Option<String>,
}
impl Default for RawClaimMap {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            name: "name".into(),
            roles: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Validated tree: what the gateway runs on.

#[derive(Debug, Clone)]
pub struct Config {
    pub source: String,
    pub server: Server,
    pub log: Log,
    pub session: Session,
    pub store: Store,
    pub keys: Keys,
    pub tokens: Tokens,
    pub login: Login,
    pub lockout: Lockout,
    pub password: Password,
    pub mfa: MfaSettings,
    pub diagnostics: Diagnostics,
    pub portals: Vec<Portal>,
    pub orgs: Vec<Org>,
}

/// What turns failure events into incidents, warnings and loop stops.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// Distinct users of one organization failing with the same `sso_*`
    /// code within `incident_window` that make an organization-wide incident.
    pub incident_users: u32,
    pub incident_window: Duration,
    /// Successful logins after the latest failure that close an incident.
    pub incident_close_successes: u32,
    /// Receives every incident and certificate notice (the operator's).
    pub webhook: Option<Url>,
    pub webhook_timeout: Duration,
    /// Days before notAfter at which a certificate warning is raised.
    pub certificate_warn_days: Vec<u32>,
    pub certificate_check_interval: Duration,
    /// Authorizations by one browser for one portal within `loop_window`
    /// past which the loop is stopped.
    pub loop_threshold: u32,
    pub loop_window: Duration,
    pub maintenance_notice: Option<String>,
}

/// The client id of the gateway's own administration console.
pub const ADMIN_CLIENT_ID: &str = "gatehouse-admin";

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub public_url: Url,
}

impl Server {
    /// The issuer identifier: `public_url` without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_string()
    }
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionBackend {
    Memory,
    Redis { url: String },
}

#[derive(Debug, Clone)]
pub struct Session {
    pub backend: SessionBackend,
    pub key_prefix: String,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    pub redis_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub url: String,
    /// How long the token endpoints may reuse an account read from SQL.
    /// Writes by this process take effect at once; writes by another
    /// process (the command line) within this time. Zero: no cache.
    pub account_cache: Duration,
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub code_lifetime: Duration,
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct Login {
    pub transaction_lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct Lockout {
    pub max_failures: u32,
    /// Wrong passwords from one network address, across all usernames,
    /// within `window` before that address is refused (`too_many_attempts`).
    pub per_ip_failures: u32,
    pub window: Duration,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct Password {
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Characters (Unicode scalar values), at least.
    pub min_length: usize,
    /// How many of lower case, upper case, digits and symbols, at least.
    pub min_classes: usize,
    /// Past this age a correct password must be changed before the login
    /// continues (`password_expired`).
    pub max_age: Option<Duration>,
    /// How many earlier passwords may not be reused.
    pub history: usize,
}

#[derive(Debug, Clone)]
pub struct MfaSettings {
    pub totp_issuer: String,
    /// 0 turns "remember this device" off.
    pub remember_device_days: u32,
    pub code_lifetime: Duration,
    pub code_attempts: u32,
    pub resend_cooldown: Duration,
    pub sends_per_hour: u32,
    pub email: Option<EmailSettings>,
    pub sms: Option<SmsSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum SmsProvider {
    Twilio {
        base_url: String,
        account_sid: String,
        auth_token: Secret,
        from: String,
    },
    Webhook {
        url: String,
    },
}

#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub provider: SmsProvider,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountType {
    Member,
    Provider,
    Employer,
}

impl AccountType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "provider" => Some(Self::Provider),
            "employer" => Some(Self::Employer),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Provider => "provider",
            Self::Employer => "employer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalMfa {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    Es256,
    Rs256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Portal {
    pub client_id: String,
    pub name: String,
    pub client_secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub account_types: Vec<AccountType>,
    pub mfa: PortalMfa,
    pub mfa_aal: u8,
    pub signing_alg: SigningAlg,
    pub login_url: Option<String>,
    /// The account must hold one of these roles (empty: no requirement).
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgMfa {
    /// A second factor at every login (a remembered device counts).
    Always,
    /// Accept the IdP's MFA when its `amr`/AuthnContext says so.
    TrustIdp,
    /// A second factor on a device not remembered.
    RiskBased,
    /// No rule of the organization's own: each portal's `mfa` decides.
    Portal,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub tins: Vec<String>,
    pub npis: Vec<String>,
    pub email_domains: Vec<String>,
    pub mfa: OrgMfa,
    pub jit_provisioning: bool,
    pub default_roles: Vec<String>,
    /// The account type given to accounts provisioned from this org's IdP.
    pub account_type: AccountType,
    pub connection: Option<Connection>,
    pub password: PasswordOverride,
    /// The lockout for usernames in this org's email domains, when it
    /// differs from the global one. Keyed on what was typed, never on the
    /// account, so it answers the same whether or not the account exists.
    pub lockout: Option<Lockout>,
    pub webhook: Option<Url>,
    /// Roles an access manager may grant here: the built-in ones and these.
    pub roles: Vec<String>,
    pub concurrent_sessions: ConcurrentSessions,
}

/// What a new login does while the account has a live session elsewhere
/// (another address or browser): accounts are individual, not shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrentSessions {
    /// Allowed; reported as a likely shared login.
    Allow,
    /// The new login ends the others.
    EndOthers,
    /// The new login is refused (`concurrent_session`) until the other ends.
    Refuse,
}

/// Roles every organization has.
pub const ORG_ROLES: &[&str] = &["access_manager", "office_admin", "billing", "clinician"];

impl Org {
    /// Roles an access manager may grant in this organization (never
    /// `gatehouse_admin`).
    pub fn grantable_roles(&self) -> Vec<String> {
        ORG_ROLES
            .iter()
            .map(|r| r.to_string())
            .chain(self.roles.iter().cloned())
            .collect()
    }
}

/// An organization's changes to the global `[password]` policy.
#[derive(Debug, Clone, Default)]
pub struct PasswordOverride {
    pub min_length: Option<usize>,
    pub min_classes: Option<usize>,
    pub history: Option<usize>,
    pub max_age: Option<Duration>,
}

impl Password {
    /// This policy with an organization's overrides applied.
    pub fn with(&self, o: &PasswordOverride) -> Password {
        let mut p = self.clone();
        if let Some(v) = o.min_length {
            p.min_length = v;
        }
        if let Some(v) = o.min_classes {
            p.min_classes = v;
        }
        if let Some(v) = o.history {
            p.history = v;
        }
        if o.max_age.is_some() {
            p.max_age = o.max_age;
        }
        p
    }
}

#[derive(Debug, Clone)]
pub enum Connection {
    Oidc(OidcConnection),
    Saml(SamlConnection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    Url(String),
    File(PathBuf),
}

/// An organization's SAML 2.0 identity provider; the gateway is its SP.
#[derive(Debug, Clone)]
pub struct SamlConnection {
    pub metadata: MetadataSource,
    pub metadata_refresh: Duration,
    /// None: derived from public_url as {public_url}/sso/saml/{org}/metadata.
    pub sp_entity_id: Option<String>,
    pub acs_url: Option<String>,
    pub nameid_format: String,
    pub required_attributes: Vec<String>,
    pub attributes: RawAttributeMap,
    pub allowed_clock_skew: Duration,
    pub sign_requests: bool,
    pub want_assertions_signed: bool,
    pub allow_sha1: bool,
    pub accept_expired_certificate: bool,
    pub allow_idp_initiated: bool,
    pub http_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenEndpointAuth {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

/// An organization's OpenID Connect identity provider.
#[derive(Debug, Clone)]
pub struct OidcConnection {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub token_endpoint_auth: TokenEndpointAuth,
    pub scopes: Vec<String>,
    pub allowed_clock_skew: Duration,
    pub signing_algs: Vec<String>,
    pub userinfo: bool,
    pub required_claims: Vec<String>,
    pub claims: RawClaimMap,
    pub discovery_refresh: Duration,
    pub http_timeout: Duration,
}

/// Signature algorithms an upstream ID token may use. `none` and the HMAC
/// family are never accepted: with a public JWKS they would let anyone forge.
pub const UPSTREAM_ALGS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"];

impl Config {
    pub fn portal(&self, client_id: &str) -> Option<&Portal> {
        self.portals.iter().find(|p| p.client_id == client_id)
    }
    pub fn org(&self, id: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.id == id)
    }
    /// The organization that owns an email domain (home-realm discovery).
    pub fn org_for_domain(&self, domain: &str) -> Option<&Org> {
        let d = domain.to_ascii_lowercase();
        self.orgs.iter().find(|o| o.email_domains.contains(&d))
    }
}

// ---------------------------------------------------------------------------
// Loading.

/// One thing wrong with a configuration, named by where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {} problem(s) in the configuration", problems.len())]
pub struct Invalid {
    pub source_name: String,
    pub problems: Vec<Problem>,
}

impl Invalid {
    pub fn report(&self) -> String {
        let mut out = String::new();
        for p in &self.problems {
            out.push_str(&format!("{}: {}\n", self.source_name, p));
        }
        out
    }
}

impl Config {
    /// Loads `path`, or the embedded shipped configuration when `path` is
    /// `None` and the default file does not exist, then applies environment
    /// overrides from `env` and validates.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, Invalid> {
        let default_path = Path::new("config/gatehouse.toml");
        let (source_name, text) = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(t) => (p.display().to_string(), t),
                Err(e) => {
                    return Err(Invalid {
                        source_name: p.display().to_string(),
                        problems: vec![Problem {
                            key: "(file)".into(),
                            message: format!("cannot read the file: {e}"),
                        }],
                    });
                }
            },
            None if default_path.exists() => match std::fs::read_to_string(default_path) {
                Ok(t) => (default_path.display().to_string(), t),
                Err(e) => {
                    return Err(Invalid {
                        source_name: default_path.display().to_string(),
                        problems: vec![Problem {
                            key: "(file)".into(),
                            message: format!("cannot read the file: {e}"),
                        }],
                    });
                }
            },
            None => ("(embedded defaults)".to_string(), SHIPPED.to_string()),
        };
        Self::from_toml_str(&source_name, &text, env)
    }

    pub fn from_toml_str(
        source_name: &str,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, Invalid> {
        let fail = |problems| Invalid {
            source_name: source_name.to_string(),
            problems,
        };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            fail(vec![Problem {
                key: "(syntax)".into(),
                message: e.to_string().trim().replace('\n', " "),
            }])
        })?;
        let mut problems = Vec::new();
        apply_env_overrides(&mut table, env, &mut problems);

        let mut unknown = Vec::new();
        let raw: RawConfig =
            serde_ignored::deserialize(toml::Value::Table(table), |path| unknown.push(path.to_string())).map_err(
                |e: toml::de::Error| {
                    let mut p = problems.clone();
                    p.push(Problem {
                        key: "(types)".into(),
                        message: e.to_string().trim().replace('\n', " "),
                    });
                    fail(p)
                },
            )?;
        for path in unknown {
            // serde_ignored says `portal.0.typo`; the rest of the report
            // says `portal[0].typo`.
            let mut key = String::new();
            for segment in path.split('.') {
                if segment.bytes().all(|b| b.is_ascii_digit()) && !key.is_empty() {
                    key.push_str(&format!("[{segment}]"));
                } else {
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(segment);
                }
            }
            problems.push(Problem {
                key,
                message: "unknown key (misspelt, or not supported by this version)".into(),
            });
        }
        match raw.validate(source_name) {
            Ok(cfg) if problems.is_empty() => Ok(cfg),
            Ok(_) => Err(fail(problems)),
            Err(mut more) => {
                problems.append(&mut more);
                Err(fail(problems))
            }
        }
    }
}

/// `GATEHOUSE__SESSION__REDIS_URL=...` sets `session.redis_url`. A value that
/// parses as a TOML scalar or array (`true`, `5`, `["a"]`) keeps that type;
/// anything else is taken as a string.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<Problem>,
) {
    let mut vars: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("GATEHOUSE__")).collect();
    vars.sort();
    for (name, raw_value) in vars {
        let path: Vec<String> = name["GATEHOUSE__".len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.len() < 2 || path.iter().any(|s| s.is_empty()) {
            problems.push(Problem {
                key: name.clone(),
                message: "environment override must be GATEHOUSE__SECTION__KEY".into(),
            });
            continue;
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw_value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(|v| !v.is_table())
            .unwrap_or_else(|| toml::Value::String(raw_value.clone()));
        if let Err(message) = set_path(table, &path, value) {
            problems.push(Problem {
                key: name.clone(),
                message,
            });
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut cursor = table;
    for segment in parents {
        let entry = cursor
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cursor = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "cannot override inside `{segment}`: it is not a single table (lists such as [[portal]] are set in the file)"
                ));
            }
        };
    }
    cursor.insert(last.clone(), value);
    Ok(())
}

fn duration(problems: &mut Vec<Problem>, key: &str, value: &str) -> Duration {
    match humantime::parse_duration(value) {
        Ok(d) if d.as_secs() > 0 => d,
        Ok(_) => {
            problems.push(Problem {
                key: key.into(),
                message: format!("`{value}` must be at least one second"),
            });
            Duration::from_secs(1)
        }
        Err(e) => {
            problems.push(Problem {
                key: key.into(),
                message: format!("`{value}` is not a duration such as \"90s\", \"30m\" or \"12h\" ({e})"),
            });
            Duration::from_secs(1)
        }
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A redirect target a portal may register: absolute, no fragment, https —
/// or http on a loopback host for development.
fn check_redirect_uri(problems: &mut Vec<Problem>, key: &str, value: &str) {
    match Url::parse(value) {
        Ok(u) => {
            if u.fragment().is_some() {
                problems.push(Problem {
                    key: key.into(),
                    message: format!("`{value}` must not contain a #fragment"),
                });
            }
            let scheme_ok = u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u));
            if !scheme_ok {
                problems.push(Problem {
                    key: key.into(),
                    message: format!("`{value}` must use https (http is allowed only for localhost/127.0.0.1)"),
                });
            }
        }
        Err(e) => problems.push(Problem {
            key: key.into(),
            message: format!("`{value}` is not an absolute URL ({e})"),
        }),
    }
}

fn validate_connection(problems: &mut Vec<Problem>, key: &str, c: RawConnection) -> Option<Connection> {
    let k = |f: &str| format!("{key}.{f}");
    match c.kind.as_str() {
        "oidc" => {}
        "saml" => return validate_saml(problems, key, c),
        other => {
            problems.push(Problem {
                key: k("kind"),
                message: format!("`{other}` must be \"oidc\" or \"saml\""),
            });
            return None;
        }
    }
    match Url::parse(&c.issuer) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u)) => {}
        Ok(_) => problems.push(Problem {
            key: k("issuer"),
            message: format!("`{}` must be https (http only on a loopback host)", c.issuer),
        }),
        Err(e) => problems.push(Problem {
            key: k("issuer"),
            message: format!("`{}` is not an absolute URL ({e})", c.issuer),
        }),
    }
    if c.client_id.is_empty() {
        problems.push(Problem {
            key: k("client_id"),
            message: "is required".into(),
        });
    }
    let auth = match c.token_endpoint_auth.as_str() {
        "client_secret_basic" => TokenEndpointAuth::ClientSecretBasic,
        "client_secret_post" => TokenEndpointAuth::ClientSecretPost,
        "private_key_jwt" => TokenEndpointAuth::PrivateKeyJwt,
        other => {
            problems.push(Problem {
                key: k("token_endpoint_auth"),
                message: format!(
                    "`{other}` must be \"client_secret_basic\", \"client_secret_post\" or \"private_key_jwt\""
                ),
            });
            TokenEndpointAuth::ClientSecretBasic
        }
    };
    if auth != TokenEndpointAuth::PrivateKeyJwt && c.client_secret.is_none() {
        problems.push(Problem {
            key: k("client_secret"),
            message: "is required for client_secret_basic/client_secret_post".into(),
        });
    }
    if !c.scopes.iter().any(|s| s == "openid") {
        problems.push(Problem {
            key: k("scopes"),
            message: "must include \"openid\"".into(),
        });
    }
    if c.signing_algs.is_empty() {
        problems.push(Problem {
            key: k("signing_algs"),
            message: "needs at least one algorithm".into(),
        });
    }
    for a in &c.signing_algs {
        if !UPSTREAM_ALGS.contains(&a.as_str()) {
            problems.push(Problem {
                key: k("signing_algs"),
                message: format!("`{a}` is not accepted; use some of {}", UPSTREAM_ALGS.join(", ")),
            });
        }
    }
    let allowed_clock_skew = duration(problems, &k("allowed_clock_skew"), &c.allowed_clock_skew);
    let discovery_refresh = duration(problems, &k("discovery_refresh"), &c.discovery_refresh);
    let http_timeout = duration(problems, &k("http_timeout"), &c.http_timeout);
    Some(Connection::Oidc(OidcConnection {
        issuer: c.issuer.trim_end_matches('/').to_string(),
        client_id: c.client_id,
        client_secret: c.client_secret,
        token_endpoint_auth: auth,
        scopes: c.scopes,
        allowed_clock_skew,
        signing_algs: c.signing_algs,
        userinfo: c.userinfo,
        required_claims: c.required_claims,
        claims: c.claims,
        discovery_refresh,
        http_timeout,
    }))
}

fn validate_saml(problems: &mut Vec<Problem>, key: &str, c: RawConnection) -> Option<Connection> {
    let k = |f: &str| format!("{key}.{f}");
    let metadata = match (&c.idp_metadata_url, &c.idp_metadata_file) {
        (Some(u), None) => {
            match Url::parse(u) {
                Ok(url) if url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url)) => {}
                _ => problems.push(Problem {
                    key: k("idp_metadata_url"),
                    message: format!("`{u}` must be an https URL (http only on a loopback host)"),
                }),
            }
            MetadataSource::Url(u.clone())
        }
        (None, Some(f)) => {
            // A file can be checked now: refuse metadata without a signing
            // key, which would let an unsigned response through.
            match std::fs::read_to_string(f) {
                Ok(xml) => match crate::federation::saml::metadata::IdpMetadata::parse(&xml) {
                    Ok(m) if m.certs.is_empty() => problems.push(Problem {
                        key: k("idp_metadata_file"),
                        message: format!(
                            "`{f}` has no signing certificate: refused, since no signature could be checked"
                        ),
                    }),
                    Ok(_) => {}
                    Err(e) => problems.push(Problem {
                        key: k("idp_metadata_file"),
                        message: format!("`{f}` is not usable IdP metadata: {e}"),
                    }),
                },
                Err(e) => problems.push(Problem {
                    key: k("idp_metadata_file"),
                    message: format!("cannot read `{f}`: {e}"),
                }),
            }
            MetadataSource::File(PathBuf::from(f))
        }
        (Some(_), Some(_)) => {
            problems.push(Problem {
                key: k("idp_metadata_url"),
                message: "set idp_metadata_url or idp_metadata_file, not both".into(),
            });
            return None;
        }
        (None, None) => {
            problems.push(Problem {
                key: k("idp_metadata_url"),
                message: "a SAML connection needs idp_metadata_url or idp_metadata_file".into(),
            });
            return None;
        }
    };
    for (name, value) in [("sp_entity_id", &c.sp_entity_id), ("acs_url", &c.acs_url)] {
        if let Some(v) = value
            && Url::parse(v).is_err()
        {
            problems.push(Problem {
                key: k(name),
                message: format!("`{v}` is not an absolute URL"),
            });
        }
    }
    let allowed_clock_skew = duration(problems, &k("allowed_clock_skew"), &c.allowed_clock_skew);
    let metadata_refresh = duration(problems, &k("metadata_refresh"), &c.metadata_refresh);
    let http_timeout = duration(problems, &k("http_timeout"), &c.http_timeout);
    Some(Connection::Saml(SamlConnection {
        metadata,
        metadata_refresh,
        sp_entity_id: c.sp_entity_id,
        acs_url: c.acs_url,
        nameid_format: c.nameid_format,
        required_attributes: c.required_attributes,
        attributes: c.attributes,
        allowed_clock_skew,
        sign_requests: c.sign_requests,
        want_assertions_signed: c.want_assertions_signed,
        allow_sha1: c.allow_sha1,
        accept_expired_certificate: c.accept_expired_certificate,
        allow_idp_initiated: c.allow_idp_initiated,
        http_timeout,
    }))
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

impl RawConfig {
    pub fn validate(self, source_name: &str) -> Result<Config, Vec<Problem>> {
        let mut p = Vec::new();
        let problems = &mut p;

        let listen = self.server.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
            problems.push(Problem {
                key: "server.listen".into(),
                message: format!(
                    "`{}` is not an address such as 127.0.0.1:8080 ({e})",
                    self.server.listen
                ),
            });
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let public_url = match Url::parse(&self.server.public_url) {
            Ok(u) => {
                if u.scheme() != "https" && !(u.scheme() == "http" && is_loopback_host(&u)) {
                    problems.push(Problem {
                        key: "server.public_url".into(),
                        message: format!(
                            "`{}` must be https (http is allowed only on a loopback host)",
                            self.server.public_url
                        ),
                    });
                }
                if u.query().is_some() || u.fragment().is_some() {
                    problems.push(Problem {
                        key: "server.public_url".into(),
                        message: "must not carry a query or fragment: it is the OIDC issuer".into(),
                    });
                }
                u
            }
            Err(e) => {
                problems.push(Problem {
                    key: "server.public_url".into(),
                    message: format!("`{}` is not an absolute URL ({e})", self.server.public_url),
                });
                #[allow(clippy::expect_used)]
                Url::parse("http://127.0.0.1/").expect("literal URL")
            }
        };

        let format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                problems.push(Problem {
                    key: "log.format".into(),
                    message: format!("`{other}` must be \"text\" or \"json\""),
                });
                LogFormat::Text
            }
        };

        let backend = match self.session.store.as_str() {
            "memory" => SessionBackend::Memory,
            "redis" => {
                match Url::parse(&self.session.redis_url) {
                    Ok(u) if ["redis", "rediss", "redis+unix", "unix"].contains(&u.scheme()) => {}
                    _ => problems.push(Problem {
                        key: "session.redis_url".into(),
                        message: format!("`{}` is not a redis:// or rediss:// URL", self.session.redis_url),
                    }),
                }
                SessionBackend::Redis {
                    url: self.session.redis_url.clone(),
                }
            }
            other => {
                problems.push(Problem {
                    key: "session.store".into(),
                    message: format!("`{other}` must be \"memory\" or \"redis\""),
                });
                SessionBackend::Memory
            }
        };
        let idle_timeout = duration(problems, "session.idle_timeout", &self.session.idle_timeout);
        let absolute_timeout = duration(problems, "session.absolute_timeout", &self.session.absolute_timeout);
        if idle_timeout > absolute_timeout {
            problems.push(Problem {
                key: "session.idle_timeout".into(),
                message: "is longer than session.absolute_timeout".into(),
            });
        }
        let redis_timeout = duration(problems, "session.redis_timeout", &self.session.redis_timeout);

        let account_cache = match humantime::parse_duration(&self.store.account_cache) {
            Ok(d) if d <= Duration::from_secs(60) => d,
            Ok(_) => {
                problems.push(Problem {
                    key: "store.account_cache".into(),
                    message: "must be at most 60s: changes made by another process wait this long".into(),
                });
                Duration::ZERO
            }
            Err(e) => {
                problems.push(Problem {
                    key: "store.account_cache".into(),
                    message: format!("`{}`: {e}", self.store.account_cache),
                });
                Duration::ZERO
            }
        };
        if !(self.store.url.starts_with("sqlite:")) {
            problems.push(Problem {
                key: "store.url".into(),
                message: format!("`{}`: only sqlite:// URLs are supported by this build", self.store.url),
            });
        }

        let tokens = Tokens {
            code_lifetime: duration(problems, "tokens.code_lifetime", &self.tokens.code_lifetime),
            access_token_lifetime: duration(
                problems,
                "tokens.access_token_lifetime",
                &self.tokens.access_token_lifetime,
            ),
            id_token_lifetime: duration(problems, "tokens.id_token_lifetime", &self.tokens.id_token_lifetime),
            refresh_token_lifetime: duration(
                problems,
                "tokens.refresh_token_lifetime",
                &self.tokens.refresh_token_lifetime,
            ),
        };
        if tokens.code_lifetime > Duration::from_secs(600) {
            problems.push(Problem {
                key: "tokens.code_lifetime".into(),
                message: "must be at most 10 minutes (RFC 6749 §4.1.2)".into(),
            });
        }
        let login = Login {
            transaction_lifetime: duration(problems, "login.transaction_lifetime", &self.login.transaction_lifetime),
        };
        if self.lockout.max_failures == 0 {
            problems.push(Problem {
                key: "lockout.max_failures".into(),
                message: "must be at least 1".into(),
            });
        }
        if self.lockout.per_ip_failures == 0 {
            problems.push(Problem {
                key: "lockout.per_ip_failures".into(),
                message: "must be at least 1".into(),
            });
        }
        let lockout = Lockout {
            per_ip_failures: self.lockout.per_ip_failures,
            max_failures: self.lockout.max_failures,
            window: duration(problems, "lockout.window", &self.lockout.window),
            duration: duration(problems, "lockout.duration", &self.lockout.duration),
        };
        if self.password.argon2_memory_kib < 8 * self.password.argon2_parallelism.max(1)
            || self.password.argon2_iterations == 0
            || self.password.argon2_parallelism == 0
        {
            problems.push(Problem {
                key: "password".into(),
                message: "argon2 parameters out of range (memory ≥ 8×parallelism KiB, iterations ≥ 1, parallelism ≥ 1)"
                    .into(),
            });
        }

        let mut portals = Vec::new();
        let mut seen_clients = HashSet::new();
        for (i, rp) in self.portal.into_iter().enumerate() {
            let k = |f: &str| format!("portal[{i}].{f}");
            if rp.client_id.is_empty() {
                problems.push(Problem {
                    key: k("client_id"),
                    message: "is required".into(),
                });
            } else if !seen_clients.insert(rp.client_id.clone()) {
                problems.push(Problem {
                    key: k("client_id"),
                    message: format!("`{}` is declared twice", rp.client_id),
                });
            }
            if let Some(s) = &rp.client_secret
                && s.expose().len() < 16
            {
                problems.push(Problem {
                    key: k("client_secret"),
                    message: "is shorter than 16 characters; omit it for a public (PKCE-only) client".into(),
                });
            }
            if rp.redirect_uris.is_empty() {
                problems.push(Problem {
                    key: k("redirect_uris"),
                    message: "needs at least one URI".into(),
                });
            }
            for (j, u) in rp.redirect_uris.iter().enumerate() {
                check_redirect_uri(problems, &format!("portal[{i}].redirect_uris[{j}]"), u);
            }
            for (j, u) in rp.post_logout_redirect_uris.iter().enumerate() {
                check_redirect_uri(problems, &format!("portal[{i}].post_logout_redirect_uris[{j}]"), u);
            }
            let mut account_types = Vec::new();
            if rp.account_types.is_empty() {
                problems.push(Problem {
                    key: k("account_types"),
                    message: "needs at least one of \"member\", \"provider\", \"employer\"".into(),
                });
            }
            for t in &rp.account_types {
                match AccountType::parse(t) {
                    Some(t) => account_types.push(t),
                    None => problems.push(Problem {
                        key: k("account_types"),
                        message: format!("`{t}` is not one of \"member\", \"provider\", \"employer\""),
                    }),
                }
            }
            let mfa = match rp.mfa.as_str() {
                "required" => PortalMfa::Required,
                "optional" | "" => PortalMfa::Optional,
                other => {
                    problems.push(Problem {
                        key: k("mfa"),
                        message: format!("`{other}` must be \"required\" or \"optional\""),
                    });
                    PortalMfa::Optional
                }
            };
            let mfa_aal = match rp.mfa_aal {
                None | Some(2) => 2,
                Some(1) => 1,
                Some(other) => {
                    problems.push(Problem {
                        key: k("mfa_aal"),
                        message: format!("`{other}` must be 1 or 2"),
                    });
                    2
                }
            };
            let signing_alg = match rp.id_token_signed_response_alg.as_str() {
                "" | "ES256" => SigningAlg::Es256,
                "RS256" => SigningAlg::Rs256,
                other => {
                    problems.push(Problem {
                        key: k("id_token_signed_response_alg"),
                        message: format!("`{other}` must be \"ES256\" or \"RS256\""),
                    });
                    SigningAlg::Es256
                }
            };
            if let Some(u) = &rp.login_url {
                check_redirect_uri(problems, &k("login_url"), u);
            }
            portals.push(Portal {
                name: if rp.name.is_empty() {
                    rp.client_id.clone()
                } else {
                    rp.name
                },
                client_id: rp.client_id,
                client_secret: rp.client_secret,
                redirect_uris: rp.redirect_uris,
                post_logout_redirect_uris: rp.post_logout_redirect_uris,
                account_types,
                mfa,
                signing_alg,
                mfa_aal,
                login_url: rp.login_url,
                roles: rp.roles,
            });
        }

        let mut orgs = Vec::new();
        let mut seen_orgs = HashSet::new();
        let mut seen_domains = BTreeSet::new();
        for (i, ro) in self.org.into_iter().enumerate() {
            let k = |f: &str| format!("org[{i}].{f}");
            if !is_slug(&ro.id) {
                problems.push(Problem {
                    key: k("id"),
                    message: format!("`{}` must be a slug: lowercase letters, digits and dashes", ro.id),
                });
            } else if !seen_orgs.insert(ro.id.clone()) {
                problems.push(Problem {
                    key: k("id"),
                    message: format!("`{}` is declared twice", ro.id),
                });
            }
            for d in &ro.email_domains {
                if d.is_empty() || d.contains('@') || d.contains(' ') || d.to_ascii_lowercase() != *d {
                    problems.push(Problem {
                        key: k("email_domains"),
                        message: format!("`{d}` must be a lowercase domain such as clinic.example"),
                    });
                } else if !seen_domains.insert(d.clone()) {
                    problems.push(Problem {
                        key: k("email_domains"),
                        message: format!("`{d}` belongs to two organizations"),
                    });
                }
            }
            let mfa = match ro.mfa.as_str() {
                "always" | "" => OrgMfa::Always,
                "trust_idp" => OrgMfa::TrustIdp,
                "risk_based" => OrgMfa::RiskBased,
                "portal" => OrgMfa::Portal,
                other => {
                    problems.push(Problem {
                        key: k("mfa"),
                        message: format!("`{other}` must be \"always\", \"trust_idp\", \"risk_based\" or \"portal\""),
                    });
                    OrgMfa::Always
                }
            };
            let account_type = match ro.account_type.as_str() {
                "" => AccountType::Provider,
                t => AccountType::parse(t).unwrap_or_else(|| {
                    problems.push(Problem {
                        key: k("account_type"),
                        message: format!("`{t}` is not one of \"member\", \"provider\", \"employer\""),
                    });
                    AccountType::Provider
                }),
            };
            let connection = ro
                .connection
                .and_then(|c| validate_connection(problems, &format!("org[{i}].connection"), c));
            let password = match ro.password {
                None => PasswordOverride::default(),
                Some(po) => {
                    if po.min_length.is_some_and(|n| !(8..=256).contains(&n)) {
                        problems.push(Problem {
                            key: format!("org[{i}].password.min_length"),
                            message: "must be between 8 and 256".into(),
                        });
                    }
                    if po.min_classes.is_some_and(|n| n > 4) {
                        problems.push(Problem {
                            key: format!("org[{i}].password.min_classes"),
                            message: "must be between 0 and 4".into(),
                        });
                    }
                    PasswordOverride {
                        min_length: po.min_length,
                        min_classes: po.min_classes,
                        history: po.history,
                        max_age: po
                            .max_age
                            .as_deref()
                            .map(|v| duration(problems, &format!("org[{i}].password.max_age"), v)),
                    }
                }
            };
            let org_lockout = match ro.lockout {
                None => None,
                Some(lo) => {
                    if lo.max_failures == Some(0) {
                        problems.push(Problem {
                            key: format!("org[{i}].lockout.max_failures"),
                            message: "must be at least 1".into(),
                        });
                    }
                    let window = match lo.window.as_deref() {
                        Some(w) => duration(problems, &format!("org[{i}].lockout.window"), w),
                        None => lockout.window,
                    };
                    let length = match lo.duration.as_deref() {
                        Some(d) => duration(problems, &format!("org[{i}].lockout.duration"), d),
                        None => lockout.duration,
                    };
                    Some(Lockout {
                        max_failures: lo.max_failures.unwrap_or(lockout.max_failures),
                        per_ip_failures: lockout.per_ip_failures,
                        window,
                        duration: length,
                    })
                }
            };
            if ro.id == "gatehouse" {
                problems.push(Problem {
                    key: k("id"),
                    message: "`gatehouse` is reserved (the gateway's own certificates and notices)".into(),
                });
            }
            let webhook = ro
                .webhook
                .as_deref()
                .and_then(|u| webhook_url(problems, &format!("org[{i}].webhook"), u));
            let concurrent_sessions = match ro.concurrent_sessions.as_str() {
                "" | "allow" => ConcurrentSessions::Allow,
                "end_others" => ConcurrentSessions::EndOthers,
                "refuse" => ConcurrentSessions::Refuse,
                other => {
                    problems.push(Problem {
                        key: k("concurrent_sessions"),
                        message: format!("`{other}` must be \"allow\", \"end_others\" or \"refuse\""),
                    });
                    ConcurrentSessions::Allow
                }
            };
            for r in &ro.roles {
                if r == "gatehouse_admin"
                    || r.is_empty()
                    || !r
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
                {
                    problems.push(Problem {
                        key: k("roles"),
                        message: format!("`{r}` must be lowercase letters, digits and _ (and not gatehouse_admin)"),
                    });
                }
            }
            orgs.push(Org {
                roles: ro.roles,
                concurrent_sessions,
                webhook,
                lockout: org_lockout,
                password,
                account_type,
                connection,
                name: if ro.name.is_empty() { ro.id.clone() } else { ro.name },
                id: ro.id,
                tins: ro.tins,
                npis: ro.npis,
                email_domains: ro.email_domains,
                mfa,
                jit_provisioning: ro.jit_provisioning,
                default_roles: ro.default_roles,
            });
        }

        let diagnostics = self.diagnostics.validate(&mut p);
        if !portals.iter().any(|x: &Portal| x.client_id == ADMIN_CLIENT_ID) {
            portals.push(admin_portal(&public_url));
        } else {
            p.push(Problem {
                key: "portal".into(),
                message: format!(
                    "`{ADMIN_CLIENT_ID}` is the gateway's own administration console: choose another client_id"
                ),
            });
        }
        let password_max_age = self
            .password
            .max_age
            .as_deref()
            .map(|v| duration(&mut p, "password.max_age", v));
        let mfa_code_lifetime = duration(&mut p, "mfa.code_lifetime", &self.mfa.code_lifetime);
        let mfa_resend_cooldown = duration(&mut p, "mfa.resend_cooldown", &self.mfa.resend_cooldown);
        let email = match &self.email.smtp_host {
            None => None,
            Some(host) => {
                let tls = match self.email.tls.as_str() {
                    "starttls" => SmtpTls::StartTls,
                    "tls" => SmtpTls::Tls,
                    "none" => SmtpTls::None,
                    other => {
                        p.push(Problem {
                            key: "email.tls".into(),
                            message: format!("`{other}` must be \"starttls\", \"tls\" or \"none\""),
                        });
                        SmtpTls::StartTls
                    }
                };
                if !self.email.from.contains('@') {
                    p.push(Problem {
                        key: "email.from".into(),
                        message: "needs an address, e.g. \"Portal sign-in <no-reply@clinic.example>\"".into(),
                    });
                }
                let timeout = duration(&mut p, "email.timeout", &self.email.timeout);
                Some(EmailSettings {
                    smtp_host: host.clone(),
                    smtp_port: self.email.smtp_port,
                    tls,
                    username: self.email.username.clone(),
                    password: self.email.password.clone(),
                    from: self.email.from.clone(),
                    timeout,
                })
            }
        };
        let sms = match self.sms.provider.as_deref() {
            None => None,
            Some(kind) => {
                let timeout = duration(&mut p, "sms.timeout", &self.sms.timeout);
                let provider = match kind {
                    "twilio" => match &self.sms.auth_token {
                        Some(token) if !self.sms.account_sid.is_empty() && self.sms.from.starts_with('+') => {
                            Some(SmsProvider::Twilio {
                                base_url: self.sms.base_url.trim_end_matches('/').to_string(),
                                account_sid: self.sms.account_sid.clone(),
                                auth_token: token.clone(),
                                from: self.sms.from.clone(),
                            })
                        }
                        _ => {
                            p.push(Problem {
                                key: "sms".into(),
                                message: "twilio needs account_sid, auth_token and an E.164 `from` number".into(),
                            });
                            None
                        }
                    },
                    "webhook" => match &self.sms.webhook_url {
                        Some(u) if Url::parse(u).is_ok() => Some(SmsProvider::Webhook { url: u.clone() }),
                        _ => {
                            p.push(Problem {
                                key: "sms.webhook_url".into(),
                                message: "the webhook provider needs an absolute webhook_url".into(),
                            });
                            None
                        }
                    },
                    other => {
                        p.push(Problem {
                            key: "sms.provider".into(),
                            message: format!("`{other}` must be \"twilio\" or \"webhook\""),
                        });
                        None
                    }
                };
                provider.map(|provider| SmsSettings { provider, timeout })
            }
        };

        if !p.is_empty() {
            return Err(p);
        }
        Ok(Config {
            source: source_name.to_string(),
            server: Server { listen, public_url },
            log: Log {
                format,
                level: self.log.level,
            },
            session: Session {
                backend,
                key_prefix: self.session.key_prefix,
                idle_timeout,
                absolute_timeout,
                redis_timeout,
            },
            store: Store {
                url: self.store.url,
                account_cache,
            },
            keys: Keys {
                dir: PathBuf::from(self.keys.dir),
            },
            tokens,
            login,
            lockout,
            password: Password {
                argon2_memory_kib: self.password.argon2_memory_kib,
                argon2_iterations: self.password.argon2_iterations,
                argon2_parallelism: self.password.argon2_parallelism,
                min_length: self.password.min_length.max(8),
                min_classes: self.password.min_classes.min(4),
                max_age: password_max_age,
                history: self.password.history,
            },
            mfa: MfaSettings {
                totp_issuer: self.mfa.totp_issuer,
                remember_device_days: self.mfa.remember_device_days,
                code_lifetime: mfa_code_lifetime,
                code_attempts: self.mfa.code_attempts.max(1),
                resend_cooldown: mfa_resend_cooldown,
                sends_per_hour: self.mfa.sends_per_hour.max(1),
                email,
                sms,
            },
            diagnostics,
            portals,
            orgs,
        })
    }
}

/// The administration console is a portal of the gateway's own: a public
/// client whose only redirect is `/admin/callback`, open to every account
/// type, and always behind a second factor of assurance level 2.
fn admin_portal(public_url: &Url) -> Portal {
    let base = public_url.as_str().trim_end_matches('/');
    Portal {
        client_id: ADMIN_CLIENT_ID.into(),
        name: "gatehouse administration".into(),
        client_secret: None,
        redirect_uris: vec![format!("{base}/admin/callback")],
        post_logout_redirect_uris: vec![format!("{base}/admin")],
        account_types: vec![AccountType::Provider, AccountType::Member, AccountType::Employer],
        mfa: PortalMfa::Required,
        mfa_aal: 2,
        signing_alg: SigningAlg::Es256,
        login_url: Some(format!("{base}/admin")),
        roles: Vec::new(),
    }
}

fn webhook_url(problems: &mut Vec<Problem>, key: &str, value: &str) -> Option<Url> {
    match Url::parse(value) {
        Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback_host(&u)) => Some(u),
        _ => {
            problems.push(Problem {
                key: key.into(),
                message: format!("`{value}` must be an https URL (http is allowed only on a loopback host)"),
            });
            None
        }
    }
}

impl RawDiagnostics {
    fn validate(self, problems: &mut Vec<Problem>) -> Diagnostics {
        if self.incident_users < 2 {
            problems.push(Problem {
                key: "diagnostics.incident_users".into(),
                message: "must be at least 2 (one user failing is not an incident)".into(),
            });
        }
        if self.loop_threshold < 2 {
            problems.push(Problem {
                key: "diagnostics.loop_threshold".into(),
                message: "must be at least 2".into(),
            });
        }
        let mut warn_days = self.certificate_warn_days;
        warn_days.sort_unstable_by(|a, b| b.cmp(a));
        warn_days.dedup();
        Diagnostics {
            incident_users: self.incident_users.max(2),
            incident_window: duration(problems, "diagnostics.incident_window", &self.incident_window),
            incident_close_successes: self.incident_close_successes.max(1),
            webhook: self
                .webhook
                .as_deref()
                .filter(|u| !u.is_empty())
                .and_then(|u| webhook_url(problems, "diagnostics.webhook", u)),
            webhook_timeout: duration(problems, "diagnostics.webhook_timeout", &self.webhook_timeout),
            certificate_warn_days: warn_days,
            certificate_check_interval: duration(
                problems,
                "diagnostics.certificate_check_interval",
                &self.certificate_check_interval,
            ),
            loop_threshold: self.loop_threshold.max(2),
            loop_window: duration(problems, "diagnostics.loop_window", &self.loop_window),
            maintenance_notice: self.maintenance_notice.filter(|n| !n.trim().is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, Invalid> {
        Config::from_toml_str(
            "test.toml",
            text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn shipped_config_is_valid() {
        let cfg = load(SHIPPED, &[]).map_err(|e| e.report()).unwrap();
        assert!(!cfg.portals.is_empty());
        assert_eq!(cfg.session.backend, SessionBackend::Memory);
    }

    #[test]
    fn env_overrides_apply_with_types() {
        let cfg = load(
            SHIPPED,
            &[
                ("GATEHOUSE__SESSION__STORE", "redis"),
                ("GATEHOUSE__SESSION__REDIS_URL", "redis://127.0.0.1:7777"),
                ("GATEHOUSE__LOCKOUT__MAX_FAILURES", "9"),
                ("GATEHOUSE__SERVER__LISTEN", "127.0.0.1:9999"),
            ],
        )
        .unwrap();
        assert_eq!(
            cfg.session.backend,
            SessionBackend::Redis {
                url: "redis://127.0.0.1:7777".into()
            }
        );
        assert_eq!(cfg.lockout.max_failures, 9);
        assert_eq!(cfg.server.listen.port(), 9999);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
            [server]
            listen = "nope"
            public_url = "http://portal.example"
            [session]
            store = "disk"
            idle_timeout = "forever"
            colour = "blue"
            [[portal]]
            client_id = "a"
            client_secret = "short"
            redirect_uris = ["http://evil.example/cb", "https://ok.example/cb#frag"]
            account_types = ["alien"]
            [[portal]]
            client_id = "a"
            redirect_uris = []
            account_types = ["member"]
        "#;
        let err = load(text, &[]).unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "server.listen",
            "server.public_url",
            "session.store",
            "session.idle_timeout",
            "session.colour",
            "portal[0].client_secret",
            "portal[0].redirect_uris[0]",
            "portal[0].redirect_uris[1]",
            "portal[0].account_types",
            "portal[1].client_id",
            "portal[1].redirect_uris",
        ] {
            assert!(keys.contains(&expected), "missing {expected} in {keys:?}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let cfg = load(SHIPPED, &[]).unwrap();
        let dump = format!("{cfg:?}");
        for p in &cfg.portals {
            if let Some(s) = &p.client_secret {
                assert!(!dump.contains(s.expose()));
            }
        }
    }
}
