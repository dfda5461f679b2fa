//! WebAuthn / passkeys (webauthn-rs): registration and authentication
//! ceremonies whose state waits in the ephemeral store between the two round
//! trips, credentials kept as JSON in the method's row, the signature
//! counter updated after every use, and a counter that goes backwards
//! reported as a possible clone.

use std::time::Duration;

use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::{Error, Kind, MAX_FAILURES, Mfa};
use crate::crypto;
use crate::store::sql::MfaMethodRecord;

const CEREMONY_TTL: Duration = Duration::from_secs(300);

fn reg_key(account_id: &str) -> String {
    format!("webauthn-reg:{account_id}")
}
fn auth_key(account_id: &str) -> String {
    format!("webauthn-auth:{account_id}")
}

/// The relying party, from the gateway's public URL (WebAuthn needs a
/// domain name: browsers refuse an IP-address origin).
pub fn relying_party(public_url: &url::Url, name: &str) -> Result<Webauthn, String> {
    let Some(url::Host::Domain(rp_id)) = public_url.host() else {
        return Err(format!("{public_url} is not on a domain name"));
    };
    WebauthnBuilder::new(rp_id, public_url)
        .map_err(|e| format!("WebAuthn relying party {rp_id}: {e}"))?
        .rp_name(name)
        .build()
        .map_err(|e| e.to_string())
}

fn user_uuid(account_id: &str) -> Uuid {
    let bytes =
        crypto::b64url_decode(&crypto::b64url(&crypto::sha256(account_id.as_bytes())[..16])).unwrap_or_default();
    Uuid::from_slice(&bytes).unwrap_or_else(|_| Uuid::nil())
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Store(crate::store::Error::Corrupt(e.to_string()))
}

impl Mfa {
    async fn passkeys(&self, account_id: &str) -> Result<Vec<(MfaMethodRecord, Passkey)>, Error> {
        let mut out = Vec::new();
        for m in self.sql.mfa_methods(account_id).await? {
            if m.confirmed
                && m.kind == Kind::WebAuthn.as_str()
                && let Some(json) = &m.secret
            {
                out.push((m.clone(), serde_json::from_str(json).map_err(corrupt)?));
            }
        }
        Ok(out)
    }

    pub async fn begin_webauthn_registration(
        &self,
        wa: &Webauthn,
        account_id: &str,
        username: &str,
    ) -> Result<CreationChallengeResponse, Error> {
        let existing: Vec<_> = self
            .passkeys(account_id)
            .await?
            .into_iter()
            .map(|(_, p)| p.cred_id().clone())
            .collect();
        let (challenge, state) = wa
            .start_passkey_registration(user_uuid(account_id), username, username, Some(existing))
            .map_err(corrupt)?;
        let json = serde_json::to_string(&state).map_err(corrupt)?;
        self.kv.set_ex(&reg_key(account_id), &json, CEREMONY_TTL).await?;
        Ok(challenge)
    }

    /// Completes a registration and stores the credential (confirmed).
    pub async fn finish_webauthn_registration(
        &self,
        wa: &Webauthn,
        account_id: &str,
        response: &RegisterPublicKeyCredential,
        nickname: &str,
    ) -> Result<(), Error> {
        let state = self.kv.get_del(&reg_key(account_id)).await?.ok_or(Error::CodeExpired)?;
        let state: PasskeyRegistration = serde_json::from_str(&state).map_err(corrupt)?;
        let passkey = wa
            .finish_passkey_registration(response, &state)
            .map_err(|e| Error::CodeInvalid {
                attempts_left: MAX_FAILURES,
                detail: webauthn_detail(&e),
            })?;
        let id = crypto::hex(&crypto::random_bytes::<16>());
        let label: String = nickname.trim().chars().take(64).collect();
        self.sql
            .insert_mfa_method(&MfaMethodRecord {
                id: id.clone(),
                account_id: account_id.to_string(),
                kind: Kind::WebAuthn.as_str().into(),
                label: if label.is_empty() { "Passkey".into() } else { label },
                secret: Some(serde_json::to_string(&passkey).map_err(corrupt)?),
                target: None,
                confirmed: false,
                preferred: false,
                last_step: None,
                failures: 0,
                created_at: self.clock.now(),
                last_used_at: None,
            })
            .await?;
        self.sql
            .confirm_mfa_method(&id, account_id, 0, self.clock.now())
            .await?;
        Ok(())
    }

    pub async fn begin_webauthn_authentication(
        &self,
        wa: &Webauthn,
        account_id: &str,
    ) -> Result<RequestChallengeResponse, Error> {
        let keys: Vec<Passkey> = self.passkeys(account_id).await?.into_iter().map(|(_, p)| p).collect();
        if keys.is_empty() {
            return Err(Error::NotEnrolled);
        }
        let (challenge, state) = wa.start_passkey_authentication(&keys).map_err(corrupt)?;
        let json = serde_json::to_string(&state).map_err(corrupt)?;
        self.kv.set_ex(&auth_key(account_id), &json, CEREMONY_TTL).await?;
        Ok(challenge)
    }

    /// Verifies an assertion; updates the stored counter. A counter that
    /// went backwards fails as a possible clone.
    pub async fn finish_webauthn_authentication(
        &self,
        wa: &Webauthn,
        account_id: &str,
        response: &PublicKeyCredential,
    ) -> Result<(), Error> {
        let state = self
            .kv
            .get_del(&auth_key(account_id))
            .await?
            .ok_or(Error::CodeExpired)?;
        let state: PasskeyAuthentication = serde_json::from_str(&state).map_err(corrupt)?;
        let result = wa.finish_passkey_authentication(response, &state);
        let keys = self.passkeys(account_id).await?;
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                if let Some((m, _)) = keys.first() {
                    self.sql.mfa_failure(&m.id).await?;
                }
                return Err(Error::CodeInvalid {
                    attempts_left: MAX_FAILURES,
                    detail: webauthn_detail(&e),
                });
            }
        };
        for (m, mut passkey) in keys {
            if passkey.cred_id() == result.cred_id() {
                if passkey.update_credential(&result) == Some(true) {
                    self.sql
                        .update_mfa_secret(&m.id, &serde_json::to_string(&passkey).map_err(corrupt)?)
                        .await?;
                }
                self.sql.mfa_used(&m.id, self.clock.now()).await?;
                return Ok(());
            }
        }
        Err(Error::NotEnrolled)
    }
}

fn webauthn_detail(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::CredentialPossibleCompromise => {
            "the authenticator's signature counter went backwards: possible cloned key"
        }
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            "the browser answered for another site (origin or RP ID mismatch)"
        }
        WebauthnError::UserNotVerified => "the authenticator did not verify the user (PIN or biometric)",
        WebauthnError::MismatchedChallenge => "the answer belongs to another ceremony (stale or replayed)",
        _ => "the authenticator's answer did not verify",
    }
}
