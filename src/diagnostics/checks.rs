//! The pass/warn/fail list that the preflight and the offline explainers
//! print: one row per check, with expected vs actual and the fix.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Result {
    Pass,
    Warn,
    Fail,
    Skipped,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Pass => "pass",
            Result::Warn => "warn",
            Result::Fail => "fail",
            Result::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub result: Result,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: &str, result: Result) -> Self {
        Self {
            name: name.into(),
            result,
            expected: None,
            actual: None,
            fix: None,
        }
    }
    pub fn pass(name: &str) -> Self {
        Self::new(name, Result::Pass)
    }
    pub fn expected(mut self, v: impl Into<String>) -> Self {
        self.expected = Some(v.into());
        self
    }
    pub fn actual(mut self, v: impl Into<String>) -> Self {
        self.actual = Some(v.into());
        self
    }
    pub fn fix(mut self, v: impl Into<String>) -> Self {
        self.fix = Some(v.into());
        self
    }
}

/// Prints checks as an aligned text list.
pub fn render_text(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!("{:<7} {:<width$}", c.result.as_str().to_uppercase(), c.name));
        if let Some(a) = &c.actual {
            out.push_str(&format!("  actual: {a}"));
        }
        if let Some(e) = &c.expected {
            out.push_str(&format!("  expected: {e}"));
        }
        out.push('\n');
        if let Some(f) = c.fix.as_ref().filter(|_| c.result != Result::Pass) {
            out.push_str(&format!("        fix: {f}\n"));
        }
    }
    out
}

/// A failed check from a failure's admin detail (`expected`, `actual`,
/// `fix`); `fallback` stands in for a missing `actual`.
pub fn failed(name: &str, detail: &serde_json::Value, fallback: String) -> Check {
    let text = |k: &str| {
        detail.get(k).filter(|v| !v.is_null()).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    Check {
        name: name.into(),
        result: Result::Fail,
        expected: text("expected"),
        actual: Some(text("actual").unwrap_or(fallback)),
        fix: text("fix"),
    }
}

/// An ordered validation as checks: before the failed one, what
/// `passing(name)` says (normally a pass); the failure; after it, not
/// reached. A failure outside `names` (the IdP could not be read) leads the
/// list and nothing else is claimed to have passed.
pub fn ordered(names: &[&str], failure: Option<Check>, passing: impl Fn(&str) -> Check) -> Vec<Check> {
    let at = failure.as_ref().and_then(|f| names.iter().position(|n| *n == f.name));
    let outside = failure.is_some() && at.is_none();
    let mut out: Vec<Check> = names
        .iter()
        .enumerate()
        .map(|(i, name)| match at {
            Some(a) if i > a => Check::new(name, Result::Skipped).actual("not reached: an earlier check failed"),
            None if outside => Check::new(name, Result::Skipped).actual("not reached: an earlier check failed"),
            _ => passing(name),
        })
        .collect();
    match (failure, at) {
        (Some(f), Some(a)) => out[a] = f,
        (Some(f), None) => out.insert(0, f),
        (None, _) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_marks_before_after_and_outside_failures() {
        let names = ["a", "b", "c"];
        let got = ordered(&names, Some(Check::new("b", Result::Fail)), Check::pass);
        let r: Vec<Result> = got.iter().map(|c| c.result).collect();
        assert_eq!(r, [Result::Pass, Result::Fail, Result::Skipped]);
        // A failure no named check covers claims nothing passed.
        let got = ordered(&names, Some(Check::new("metadata", Result::Fail)), Check::pass);
        assert_eq!(got[0].name, "metadata");
        assert!(got[1..].iter().all(|c| c.result == Result::Skipped));
        assert!(
            ordered(&names, None, Check::pass)
                .iter()
                .all(|c| c.result == Result::Pass)
        );
    }
}
