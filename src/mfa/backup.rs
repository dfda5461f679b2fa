//! Backup codes: ten single-use look-up secrets, shown once, stored as
//! keyed hashes, spent by one atomic UPDATE.

use super::{Error, Mfa};
use crate::crypto;

const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            o => o,
        })
        .collect()
}

impl Mfa {
    fn backup_hash(&self, account_id: &str, code: &str) -> String {
        self.mac
            .sign("backup-code", &format!("{account_id}:{}", normalize(code)))
    }

    /// Issues a fresh set (replacing any earlier one) and returns the codes
    /// for display, once. 50 bits each, formatted `XXXXX-XXXXX`.
    pub async fn new_backup_codes(&self, account_id: &str) -> Result<Vec<String>, Error> {
        let mut codes = Vec::with_capacity(COUNT);
        for _ in 0..COUNT {
            let bytes = crypto::random_bytes::<10>();
            let chars: String = bytes.iter().map(|b| ALPHABET[(b & 31) as usize] as char).collect();
            codes.push(format!("{}-{}", &chars[..5], &chars[5..]));
        }
        let hashes: Vec<String> = codes.iter().map(|c| self.backup_hash(account_id, c)).collect();
        self.sql
            .replace_backup_codes(account_id, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    pub async fn use_backup_code(&self, account_id: &str, code: &str) -> Result<i64, Error> {
        if normalize(code).len() != 10 {
            return Err(Error::CodeInvalid {
                attempts_left: super::MAX_FAILURES,
                detail: "a backup code has ten letters and digits",
            });
        }
        if self
            .sql
            .spend_backup_code(account_id, &self.backup_hash(account_id, code), self.clock.now())
            .await?
        {
            Ok(self.sql.backup_codes_left(account_id).await?)
        } else {
            Err(Error::CodeInvalid {
                attempts_left: super::MAX_FAILURES,
                detail: "unknown or already used backup code",
            })
        }
    }
}
