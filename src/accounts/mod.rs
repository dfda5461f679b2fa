//! Accounts: who can log in, with what password, in which organizations and
//! roles, and whether they are locked. Owns the password and lockout rules;
//! knows nothing of HTTP, sessions or OIDC.

pub mod lockout;
pub mod policy;
pub mod records;
pub mod password;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::{self, AccountType};
use crate::crypto;
use crate::store::{self, sql::AccountRecord, sql::MembershipRecord, sql::Sql};

pub use password::Password;

/// Stable account identifier (the `sub` of ID tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn generate() -> Self {
        Self(crypto::hex(&crypto::random_bytes::<16>()))
    }
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A username as the user types it, normalised for lookups and counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Trims and lowercases; accepts letters, digits and `._-@+`, 1–128 long.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let t = s.trim().to_lowercase();
        if t.is_empty() {
            return Err("enter your username or email");
        }
        if t.chars().count() > 128 {
            return Err("a username is at most 128 characters");
        }
        if !t.chars().all(|c| c.is_alphanumeric() || "._-@+".contains(c)) {
            return Err("a username contains only letters, digits and . _ - @ +");
        }
        Ok(Self(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A syntactically plausible email address (one `@`, a dotted domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let t = s.trim();
        let (local, domain) = t.split_once('@').ok_or("an email address needs an @")?;
        if local.is_empty() || local.len() > 64 || domain.len() > 253 || t.contains(char::is_whitespace) {
            return Err("not a valid email address");
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') || domain.contains('@') {
            return Err("the email domain is not valid");
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit('@').next().unwrap_or("")
    }
}

/// An E.164 phone number such as +15551234567.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let t: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = t
            .strip_prefix('+')
            .ok_or("a phone number starts with + and the country code")?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err("a phone number has 8 to 15 digits after the +");
        }
        Ok(Self(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    PendingActivation,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::PendingActivation => "pending_activation",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            "pending_activation" => Some(Self::PendingActivation),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub org_id: String,
    pub role: String,
    /// Empty: the whole organization; else the one TIN the role covers.
    pub tin: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    pub account_type: AccountType,
    pub status: Status,
    pub memberships: Vec<Membership>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub password_changed_at: Option<i64>,
    password_hash: Option<String>,
}

impl Account {
    /// The organization the account belongs to (the first membership's).
    pub fn org(&self) -> Option<&str> {
        self.memberships
            .iter()
            .map(|m| m.org_id.as_str())
            .find(|o| !o.is_empty())
    }
    pub fn roles(&self) -> Vec<String> {
        let mut r: Vec<String> = self.memberships.iter().map(|m| m.role.clone()).collect();
        r.sort();
        r.dedup();
        r
    }
    /// Roles limited to one TIN, as `role@tin` (the `roles` list names each
    /// role once, whatever its scope).
    pub fn tin_roles(&self) -> Vec<String> {
        let mut r: Vec<String> = self
            .memberships
            .iter()
            .filter(|m| !m.tin.is_empty())
            .map(|m| format!("{}@{}", m.role, m.tin))
            .collect();
        r.sort();
        r.dedup();
        r
    }
    fn from_records(rec: AccountRecord, memberships: Vec<MembershipRecord>) -> Result<Self, store::Error> {
        Ok(Self {
            id: AccountId::parse(&rec.id).ok_or_else(|| store::Error::Corrupt(format!("account id {}", rec.id)))?,
            account_type: AccountType::parse(&rec.account_type)
                .ok_or_else(|| store::Error::Corrupt(format!("account type {}", rec.account_type)))?,
            status: Status::parse(&rec.status)
                .ok_or_else(|| store::Error::Corrupt(format!("status {}", rec.status)))?,
            username: rec.username,
            email: rec.email,
            phone: rec.phone,
            memberships: memberships
                .into_iter()
                .map(|m| Membership {
                    org_id: m.org_id,
                    role: m.role,
                    tin: m.tin,
                })
                .collect(),
            created_at: rec.created_at,
            last_login_at: rec.last_login_at,
            password_changed_at: rec.password_changed_at,
            password_hash: rec.password_hash,
        })
    }
}

/// Why a password login did not produce an account.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid credentials ({attempts_left} attempts left, unknown user: {unknown_user})")]
    InvalidCredentials { attempts_left: i64, unknown_user: bool },
    #[error("locked until {until}")]
    Locked {
        until: i64,
        failures: i64,
        unknown_user: bool,
    },
    #[error("account disabled")]
    Disabled { account: Box<Account> },
    #[error("account not activated")]
    NotActivated { account: Box<Account> },
    #[error(transparent)]
    Store(#[from] store::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Invalid(String),
    #[error("username `{0}` is taken")]
    UsernameTaken(String),
    #[error(transparent)]
    Hash(#[from] password::Error),
    #[error(transparent)]
    Store(store::Error),
}

#[derive(Debug)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub phone: Option<String>,
    pub account_type: AccountType,
    pub org: Option<String>,
    pub roles: Vec<String>,
    pub password: Password,
}

/// An upstream identity vouched for by an organization's IdP.
#[derive(Debug)]
pub struct FederatedIdentity<'a> {
    pub org: &'a config::Org,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
}

#[derive(Debug)]
pub enum Federated {
    /// An account already linked, or linked now by a matching email.
    Linked(Account),
    /// Created just in time.
    Provisioned(Account),
    /// No account, and the policy does not allow one: why.
    Unknown(String),
}

#[derive(Clone, Debug)]
pub struct Accounts {
    sql: Sql,
    hasher: Arc<password::Hasher>,
    lockout: config::Lockout,
    policy: config::Password,
    /// Organizations' policies where they override the global one.
    org_policies: Arc<std::collections::HashMap<String, config::Password>>,
    /// Email domain → lockout, for organizations that override it.
    domain_lockouts: Arc<std::collections::HashMap<String, config::Lockout>>,
    clock: SharedClock,
}

/// An invitation to create an account from an emailed link.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: String,
    pub account_type: AccountType,
    pub org: Option<String>,
    pub roles: Vec<String>,
    /// The TIN the roles are limited to (an organization with several).
    pub tin: Option<String>,
    pub invited_by: String,
    pub valid_for: std::time::Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password does not meet the policy")]
    Policy(Vec<String>),
    #[error(transparent)]
    Store(store::Error),
}

impl Accounts {
    pub fn new(
        sql: Sql,
        hasher: password::Hasher,
        lockout: config::Lockout,
        policy: config::Password,
        clock: SharedClock,
    ) -> Self {
        Self {
            sql,
            hasher: Arc::new(hasher),
            lockout,
            policy,
            org_policies: Arc::default(),
            domain_lockouts: Arc::default(),
            clock,
        }
    }

    /// Applies each organization's `password` overrides for its accounts.
    pub fn with_org_policies(mut self, orgs: &[config::Org]) -> Self {
        let map = orgs
            .iter()
            .map(|o| (o.id.clone(), self.policy.with(&o.password)))
            .collect();
        self.org_policies = Arc::new(map);
        let lockouts = orgs
            .iter()
            .filter_map(|o| o.lockout.as_ref().map(|l| (o, l)))
            .flat_map(|(o, l)| o.email_domains.iter().map(move |d| (d.to_ascii_lowercase(), l.clone())))
            .collect();
        self.domain_lockouts = Arc::new(lockouts);
        self
    }

    /// The lockout for what was typed: an organization's own when the
    /// username is an address in its email domains, else the global one.
    /// It depends only on the username, never on whether the account
    /// exists, so a real and an unknown name lock alike.
    pub fn lockout_for(&self, username: &str) -> &config::Lockout {
        username
            .rsplit_once('@')
            .and_then(|(_, domain)| self.domain_lockouts.get(&domain.to_ascii_lowercase()))
            .unwrap_or(&self.lockout)
    }

    /// The password policy for an account of `org` (or none).
    pub fn policy_for(&self, org: Option<&str>) -> &config::Password {
        org.and_then(|o| self.org_policies.get(o)).unwrap_or(&self.policy)
    }

    /// Whether a correct password is past the policy's maximum age.
    pub fn password_expired(&self, account: &Account) -> bool {
        match (self.policy_for(account.org()).max_age, account.password_changed_at) {
            (Some(max), Some(changed)) => self.clock.now() - changed > max.as_secs() as i64,
            _ => false,
        }
    }

    /// Sets a new password after checking the policy and the account's
    /// recent passwords; every problem is returned at once.
    pub async fn change_password(
        &self,
        account: &Account,
        new: &Password,
        confirm: &Password,
    ) -> Result<(), PasswordRejected> {
        let policy = self.policy_for(account.org());
        let mut problems = policy::violations(policy, new.expose(), &account.username);
        if new.expose() != confirm.expose() {
            problems.push("The two passwords differ.".into());
        }
        if problems.is_empty() {
            let mut recent = self
                .sql
                .recent_password_hashes(account.id.as_str(), policy.history as i64)
                .await
                .map_err(PasswordRejected::Store)?;
            recent.extend(account.password_hash.clone());
            for old in recent {
                if self.hasher.verify(Some(&old), new).await {
                    problems.push(format!(
                        "This is one of your last {} passwords: choose a new one.",
                        policy.history.max(1)
                    ));
                    break;
                }
            }
        }
        if !problems.is_empty() {
            return Err(PasswordRejected::Policy(problems));
        }
        let hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|e| PasswordRejected::Store(store::Error::Corrupt(e.to_string())))?;
        self.sql
            .set_password(account.id.as_str(), &account.username, &hash, self.clock.now())
            .await
            .map_err(PasswordRejected::Store)
    }

    /// Imports a CSV of identity records: returns how many were stored and
    /// the rows refused (line 0: refused as a whole, e.g. already activated).
    /// `Err` when the file as a whole is unusable (no header, wrong columns).
    pub async fn import_records(
        &self,
        kind: records::RecordKind,
        text: &str,
    ) -> Result<(usize, Vec<records::Rejected>), String> {
        let now = self.clock.now();
        let today = crate::clock::rfc3339(now);
        let (ok, mut bad) = records::parse(kind, text, today.get(..10).unwrap_or(""))?;
        let mut imported = 0;
        for r in &ok {
            let row = store::sql::IdentityRecordRow {
                id: crate::crypto::hex(&crate::crypto::random_bytes::<16>()),
                kind: kind.as_str().into(),
                key: r.key.clone(),
                proof: r.proof.clone(),
                name: r.name.clone(),
                email: r.email.clone(),
                phone: r.phone.clone(),
                account_id: None,
            };
            if self
                .sql
                .upsert_identity_record(&row, now)
                .await
                .map_err(|e| e.to_string())?
            {
                imported += 1;
            } else {
                bad.push(records::Rejected {
                    line: 0,
                    reason: format!("`{}` is already activated: left unchanged", r.key),
                });
            }
        }
        Ok((imported, bad))
    }

    /// Records an invitation and returns the secret token for its link.
    pub async fn invite(&self, inv: &Invitation, orgs: &[config::Org]) -> Result<String, CreateError> {
        let email = EmailAddress::parse(&inv.email).map_err(|e| CreateError::Invalid(format!("email: {e}")))?;
        if let Some(org) = &inv.org
            && !orgs.iter().any(|o| &o.id == org)
        {
            return Err(CreateError::Invalid(format!(
                "org: `{org}` is not declared in the configuration"
            )));
        }
        let token = crate::crypto::random_token();
        let now = self.clock.now();
        self.sql
            .insert_invitation(&store::sql::InvitationRow {
                digest: crate::crypto::token_digest(&token),
                email: email.as_str().to_string(),
                account_type: inv.account_type.as_str().to_string(),
                org_id: inv.org.clone(),
                roles: inv.roles.clone(),
                invited_by: inv.invited_by.clone(),
                created_at: now,
                expires_at: now + inv.valid_for.as_secs() as i64,
                used_at: None,
                tin: inv.tin.clone(),
                revoked_at: None,
            })
            .await
            .map_err(CreateError::Store)?;
        Ok(token)
    }

    /// The account database (identity records live beside the accounts).
    pub fn sql(&self) -> &Sql {
        &self.sql
    }

    pub fn hasher(&self) -> &password::Hasher {
        &self.hasher
    }

    pub async fn create(&self, new: NewAccount, orgs: &[config::Org], actor: &str) -> Result<Account, CreateError> {
        self.create_in_tin(new, None, orgs, actor).await
    }

    /// `create`, with the roles limited to one TIN of the organization (an
    /// invitation that named one): written with the account, in one
    /// transaction, so the account is never org-wide even for a moment.
    pub async fn create_in_tin(
        &self,
        new: NewAccount,
        tin: Option<&str>,
        orgs: &[config::Org],
        actor: &str,
    ) -> Result<Account, CreateError> {
        let username = Username::parse(&new.username).map_err(|e| CreateError::Invalid(format!("username: {e}")))?;
        let email = EmailAddress::parse(&new.email).map_err(|e| CreateError::Invalid(format!("email: {e}")))?;
        let phone = new
            .phone
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .map_err(|e| CreateError::Invalid(format!("phone: {e}")))?;
        if let Some(org) = &new.org
            && !orgs.iter().any(|o| &o.id == org)
        {
            return Err(CreateError::Invalid(format!(
                "org: `{org}` is not declared in the configuration"
            )));
        }
        let problems = policy::violations(
            self.policy_for(new.org.as_deref()),
            new.password.expose(),
            &new.username,
        );
        if !problems.is_empty() {
            return Err(CreateError::Invalid(format!("password: {}", problems.join(" "))));
        }
        for r in &new.roles {
            if r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            {
                return Err(CreateError::Invalid(format!(
                    "role: `{r}` must be lowercase letters, digits and _"
                )));
            }
        }
        let hash = self.hasher.hash(&new.password).await?;
        let now = self.clock.now();
        let id = AccountId::generate();
        let record = AccountRecord {
            id: id.as_str().to_string(),
            username: username.as_str().to_string(),
            email: email.as_str().to_string(),
            phone: phone.map(|p| p.as_str().to_string()),
            account_type: new.account_type.as_str().to_string(),
            status: Status::Active.as_str().to_string(),
            password_hash: Some(hash),
            password_changed_at: Some(now),
            created_at: now,
            last_login_at: None,
        };
        let org_id = new.org.clone().unwrap_or_default();
        let memberships: Vec<MembershipRecord> = if new.roles.is_empty() && !org_id.is_empty() {
            vec![MembershipRecord {
                org_id: org_id.clone(),
                role: "member".into(),
                tin: tin.unwrap_or_default().to_string(),
            }]
        } else {
            new.roles
                .iter()
                .map(|r| MembershipRecord {
                    org_id: org_id.clone(),
                    role: r.clone(),
                    tin: tin.unwrap_or_default().to_string(),
                })
                .collect()
        };
        match self.sql.insert_account(&record, &memberships, actor).await {
            Ok(()) => {}
            Err(store::Error::Conflict(_)) => {
                return Err(CreateError::UsernameTaken(record.username));
            }
            Err(e) => return Err(CreateError::Store(e)),
        }
        Account::from_records(record, memberships).map_err(CreateError::Store)
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<Account>, store::Error> {
        match self.sql.account_with_memberships(id).await? {
            None => Ok(None),
            Some((rec, m)) => Account::from_records(rec, m).map(Some),
        }
    }

    /// `by_id` for the token endpoints (refresh, userinfo): may be up to
    /// `store.account_cache` old for changes made by another process.
    pub async fn for_tokens(&self, id: &str) -> Result<Option<Account>, store::Error> {
        match self.sql.account_for_tokens(id).await? {
            None => Ok(None),
            Some((rec, m)) => Account::from_records(rec, m).map(Some),
        }
    }

    pub async fn by_username(&self, username: &Username) -> Result<Option<Account>, store::Error> {
        match self.sql.account_by_username(username.as_str()).await? {
            None => Ok(None),
            Some(rec) => {
                let m = self.sql.memberships(&rec.id).await?;
                Account::from_records(rec, m).map(Some)
            }
        }
    }

    /// Active and inactive accounts using this email address.
    pub async fn by_email(&self, email: &EmailAddress) -> Result<Vec<Account>, store::Error> {
        let mut out = Vec::new();
        for rec in self.sql.accounts_by_email(email.as_str()).await? {
            let m = self.sql.memberships(&rec.id).await?;
            out.push(Account::from_records(rec, m)?);
        }
        Ok(out)
    }

    /// Looks up by username, or by id when the argument is an account id.
    pub async fn find(&self, who: &str) -> Result<Option<Account>, store::Error> {
        if AccountId::parse(who).is_some()
            && let Some(a) = self.by_id(who).await?
        {
            return Ok(Some(a));
        }
        match Username::parse(who) {
            Ok(u) => self.by_username(&u).await,
            Err(_) => Ok(None),
        }
    }

    pub async fn list(&self) -> Result<Vec<Account>, store::Error> {
        let mut out = Vec::new();
        for rec in self.sql.list_accounts().await? {
            let m = self.sql.memberships(&rec.id).await?;
            out.push(Account::from_records(rec, m)?);
        }
        Ok(out)
    }

    /// Password login. Counters are kept per normalised username whether or
    /// not the account exists, and an unknown username is verified against
    /// a dummy hash, so neither the answer nor its timing tells an attacker
    /// which usernames exist.
    pub async fn authenticate(&self, username: &Username, password: &Password) -> Result<Account, AuthError> {
        let now = self.clock.now();
        let policy = self.lockout_for(username.as_str());
        let failures = self.sql.failures(username.as_str()).await?;
        let account = self.by_username(username).await?;
        let unknown_user = account.is_none();
        if let Some(until) = lockout::locked_until(&failures, now) {
            // Same work as a real attempt, so a lock cannot be told apart by timing.
            let _ = self.hasher.verify(None, password).await;
            return Err(AuthError::Locked {
                until,
                failures: failures.failures,
                unknown_user,
            });
        }
        let ok = self
            .hasher
            .verify(account.as_ref().and_then(|a| a.password_hash.as_deref()), password)
            .await;
        let account = match (ok, account) {
            (true, Some(a)) => a,
            _ => {
                let next = lockout::after_failure(&failures, now, policy);
                self.sql.put_failures(username.as_str(), &next).await?;
                if let Some(until) = lockout::locked_until(&next, now) {
                    return Err(AuthError::Locked {
                        until,
                        failures: next.failures,
                        unknown_user,
                    });
                }
                return Err(AuthError::InvalidCredentials {
                    attempts_left: lockout::attempts_left(&next, policy),
                    unknown_user,
                });
            }
        };
        if failures.failures > 0 {
            self.sql.clear_failures(username.as_str()).await?;
        }
        match account.status {
            Status::Active => {
                self.sql.record_login(account.id.as_str(), now).await?;
                Ok(account)
            }
            Status::Disabled => Err(AuthError::Disabled {
                account: Box::new(account),
            }),
            Status::PendingActivation => Err(AuthError::NotActivated {
                account: Box::new(account),
            }),
        }
    }

    /// The local account for an upstream identity: the linked one; else an
    /// existing member of the organization whose email the IdP asserts (the
    /// IdP is authoritative for its organization's domains); else, when the
    /// organization allows it, a new account provisioned just in time.
    pub async fn federated(&self, id: &FederatedIdentity<'_>) -> Result<Federated, store::Error> {
        let now = self.clock.now();
        if let Some(account_id) = self.sql.linked_account(&id.org.id, id.issuer, id.subject).await? {
            self.sql.touch_identity(&id.org.id, id.issuer, id.subject, now).await?;
            self.sql.record_login(&account_id, now).await?;
            return match self.by_id(&account_id).await? {
                Some(a) => Ok(Federated::Linked(a)),
                None => Ok(Federated::Unknown(format!(
                    "linked account {account_id} no longer exists"
                ))),
            };
        }
        let email = id.email.map(EmailAddress::parse).and_then(Result::ok);
        let in_org_domain = email
            .as_ref()
            .is_some_and(|e| id.org.email_domains.iter().any(|d| d == e.domain()));
        if let Some(email) = email.as_ref().filter(|_| in_org_domain)
            && let Ok(username) = Username::parse(email.as_str())
            && let Some(existing) = self.by_username(&username).await?
        {
            if !existing.memberships.iter().any(|m| m.org_id == id.org.id) {
                return Ok(Federated::Unknown(format!(
                    "username {} exists but is not a member of {}; link it by hand",
                    existing.username, id.org.id
                )));
            }
            self.sql
                .link_identity(&id.org.id, id.issuer, id.subject, existing.id.as_str(), now)
                .await?;
            self.sql.record_login(existing.id.as_str(), now).await?;
            return Ok(Federated::Linked(existing));
        }
        if !id.org.jit_provisioning {
            return Ok(Federated::Unknown(
                "no account is linked to this identity and jit_provisioning is off".into(),
            ));
        }
        let Some(email) = email else {
            return Ok(Federated::Unknown(
                "jit provisioning needs a valid email claim to name the account".into(),
            ));
        };
        let username = match Username::parse(email.as_str()) {
            Ok(u) => u,
            Err(e) => return Ok(Federated::Unknown(format!("email cannot be a username: {e}"))),
        };
        let account_id = AccountId::generate();
        let record = AccountRecord {
            id: account_id.as_str().to_string(),
            username: username.as_str().to_string(),
            email: email.as_str().to_string(),
            phone: None,
            account_type: id.org.account_type.as_str().to_string(),
            status: Status::Active.as_str().to_string(),
            // Federated accounts have no local password.
            password_hash: None,
            password_changed_at: None,
            created_at: now,
            last_login_at: Some(now),
        };
        let roles = if id.org.default_roles.is_empty() {
            vec!["member".to_string()]
        } else {
            id.org.default_roles.clone()
        };
        let memberships: Vec<MembershipRecord> = roles
            .into_iter()
            .map(|role| MembershipRecord {
                org_id: id.org.id.clone(),
                role,
                tin: String::new(),
            })
            .collect();
        match self
            .sql
            .insert_account(&record, &memberships, &format!("jit:{}", id.org.id))
            .await
        {
            Ok(()) => {}
            Err(store::Error::Conflict(_)) => {
                return Ok(Federated::Unknown(format!(
                    "username {} is taken by another account",
                    record.username
                )));
            }
            Err(e) => return Err(e),
        }
        self.sql
            .link_identity(&id.org.id, id.issuer, id.subject, account_id.as_str(), now)
            .await?;
        Ok(Federated::Provisioned(Account::from_records(record, memberships)?))
    }

    /// Clears the failure counter of a username (admin unlock).
    pub async fn unlock(&self, username: &str) -> Result<bool, store::Error> {
        self.sql.clear_failures(username).await
    }

    pub async fn set_status(&self, id: &AccountId, status: Status) -> Result<bool, store::Error> {
        self.sql.set_account_status(id.as_str(), status.as_str()).await
    }

    pub async fn failure_record(&self, username: &str) -> Result<store::sql::FailureRecord, store::Error> {
        self.sql.failures(username).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_and_reject() {
        assert_eq!(Username::parse("  Alice.Smith ").unwrap().as_str(), "alice.smith");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert_eq!(
            EmailAddress::parse("Jo@North.Example").unwrap().as_str(),
            "Jo@north.example"
        );
        assert!(EmailAddress::parse("jo@localhost").is_err());
        assert!(EmailAddress::parse("nope").is_err());
        assert_eq!(
            PhoneNumber::parse("+1 (555) 123-4567").unwrap().as_str(),
            "+15551234567"
        );
        assert!(PhoneNumber::parse("5551234567").is_err());
        assert!(AccountId::parse("zz").is_none());
    }
}
