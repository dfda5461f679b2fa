//! The password policy: length, character classes, the 10,000 most common
//! passwords (shipped in the binary), not containing the username, and not
//! one of the account's recent passwords. Every violation is reported at
//! once, so the form can list them together.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::config;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// What is wrong with a candidate password, in the user's words.
pub fn violations(policy: &config::Password, candidate: &str, username: &str) -> Vec<String> {
    let mut out = Vec::new();
    let length = candidate.chars().count();
    if length < policy.min_length {
        out.push(format!(
            "Use at least {} characters (this one has {length}).",
            policy.min_length
        ));
    }
    if length > 256 {
        out.push("Use at most 256 characters.".into());
    }
    let classes = [
        candidate.chars().any(|c| c.is_lowercase()),
        candidate.chars().any(|c| c.is_uppercase()),
        candidate.chars().any(|c| c.is_ascii_digit()),
        candidate.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if classes < policy.min_classes {
        out.push(format!(
            "Mix at least {} of: lower case, upper case, digits, symbols.",
            policy.min_classes
        ));
    }
    let lower = candidate.to_lowercase();
    if COMMON.contains(lower.as_str())
        || COMMON.contains(lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!'))
    {
        out.push("This password is among the most commonly used ones: choose something less predictable.".into());
    }
    let name = username.to_lowercase();
    let local = name.split('@').next().unwrap_or(&name);
    if local.chars().count() >= 3 && lower.contains(local) {
        out.push("Do not include your username.".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> config::Password {
        config::Password {
            argon2_memory_kib: 8,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            min_length: 12,
            min_classes: 3,
            max_age: None,
            history: 5,
        }
    }

    #[test]
    fn every_violation_is_listed() {
        assert!(COMMON.len() >= 10_000 - 10, "the shipped list is loaded");
        let v = violations(&policy(), "password", "jane.doe");
        assert_eq!(v.len(), 3, "{v:?}");
        let v = violations(&policy(), "Jane.Doe-2026-spring", "jane.doe");
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(violations(&policy(), "Correct-Horse-7-battery", "jane.doe").is_empty());
        assert!(
            !violations(&policy(), "qwertyuiop123", "x").is_empty(),
            "common + digits"
        );
    }
}
