//! Organization health as a pure function of failure and success facts:
//! one person failing is about their account; several distinct people of
//! one organization failing with the same `sso_*` code inside a window is an
//! organization-wide incident.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// A login outcome, reduced to what the verdict needs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub at: i64,
    /// Failure code, or `None` for a success.
    pub code: Option<String>,
    /// Who (account id, else the username typed or asserted, else the
    /// browser's address): distinct users are counted on this.
    pub who: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub users: u32,
    pub window: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    /// Failures, but from fewer people than an incident needs.
    SingleUser {
        code: String,
        users: u32,
    },
    OrganizationWide {
        code: String,
        users: u32,
        first_at: i64,
        latest_at: i64,
    },
}

/// The verdict over the window ending at `now`: the `sso_*` code with the
/// most distinct users, and whether they reach the threshold.
pub fn verdict(outcomes: &[Outcome], now: i64, t: Thresholds) -> Verdict {
    let mut by_code: BTreeMap<&str, (BTreeSet<&str>, i64, i64)> = BTreeMap::new();
    let mut any_failure: Option<(&str, BTreeSet<&str>)> = None;
    for o in outcomes.iter().filter(|o| o.at > now - t.window && o.at <= now) {
        let Some(code) = o.code.as_deref() else { continue };
        if code.starts_with("sso_") {
            let e = by_code.entry(code).or_insert((BTreeSet::new(), o.at, o.at));
            e.0.insert(&o.who);
            e.1 = e.1.min(o.at);
            e.2 = e.2.max(o.at);
        }
        let f = any_failure.get_or_insert((code, BTreeSet::new()));
        f.1.insert(&o.who);
    }
    let worst = by_code
        .iter()
        .max_by_key(|(code, (users, _, latest))| (users.len(), *latest, std::cmp::Reverse(**code)));
    match worst {
        Some((code, (users, first, latest))) if users.len() as u32 >= t.users => Verdict::OrganizationWide {
            code: (*code).to_string(),
            users: users.len() as u32,
            first_at: *first,
            latest_at: *latest,
        },
        Some((code, (users, _, _))) => Verdict::SingleUser {
            code: (*code).to_string(),
            users: users.len() as u32,
        },
        None => match any_failure {
            Some((code, users)) => Verdict::SingleUser {
                code: code.to_string(),
                users: users.len() as u32,
            },
            None => Verdict::Healthy,
        },
    }
}

/// Per-code counts and distinct users over `[now - span, now]`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CodeCount {
    pub code: String,
    pub failures: u32,
    pub users: u32,
}

pub fn counts(outcomes: &[Outcome], now: i64, span: i64) -> Vec<CodeCount> {
    let mut by_code: BTreeMap<&str, (u32, BTreeSet<&str>)> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.at > now - span && o.at <= now) {
        if let Some(code) = o.code.as_deref() {
            let e = by_code.entry(code).or_default();
            e.0 += 1;
            e.1.insert(&o.who);
        }
    }
    let mut v: Vec<CodeCount> = by_code
        .into_iter()
        .map(|(code, (failures, users))| CodeCount {
            code: code.to_string(),
            failures,
            users: users.len() as u32,
        })
        .collect();
    v.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.code.cmp(&b.code)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(at: i64, code: &str, who: &str) -> Outcome {
        Outcome {
            at,
            code: Some(code.into()),
            who: who.into(),
        }
    }

    #[test]
    fn one_person_failing_many_times_is_not_an_incident() {
        let t = Thresholds { users: 3, window: 900 };
        let same: Vec<_> = (0..10).map(|i| fail(100 + i, "sso_audience_mismatch", "ann")).collect();
        assert_eq!(
            verdict(&same, 200, t),
            Verdict::SingleUser {
                code: "sso_audience_mismatch".into(),
                users: 1
            }
        );
        let mut three = same.clone();
        three.push(fail(150, "sso_audience_mismatch", "bob"));
        three.push(fail(160, "sso_audience_mismatch", "cy"));
        assert_eq!(
            verdict(&three, 200, t),
            Verdict::OrganizationWide {
                code: "sso_audience_mismatch".into(),
                users: 3,
                first_at: 100,
                latest_at: 160
            }
        );
        // Outside the window, the same failures no longer count.
        assert_eq!(verdict(&three, 100 + 901 + 60, t), Verdict::Healthy);
        // Different codes do not add up to one incident.
        let mixed = vec![
            fail(100, "sso_audience_mismatch", "a"),
            fail(101, "sso_clock_skew", "b"),
            fail(102, "sso_replay", "c"),
        ];
        assert!(matches!(verdict(&mixed, 200, t), Verdict::SingleUser { users: 1, .. }));
        assert_eq!(counts(&three, 200, 3600)[0].failures, 12);
        assert_eq!(counts(&three, 200, 3600)[0].users, 3);
    }
}
