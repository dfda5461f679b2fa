//! Identity records for activation, imported from CSV: members (member id,
//! date of birth, name, email/phone) and providers (NPI, TIN, name,
//! email/phone). Every row is checked; bad rows are reported by line and the
//! good ones kept.

use super::{EmailAddress, PhoneNumber};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Member,
    Provider,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Member => "member",
            RecordKind::Provider => "provider",
        }
    }
    fn columns(self) -> &'static [&'static str] {
        match self {
            RecordKind::Member => &["member_id", "date_of_birth", "name", "email", "phone"],
            RecordKind::Provider => &["npi", "tin", "name", "email", "phone"],
        }
    }
}

/// One person the operator vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRecord {
    pub kind: RecordKind,
    /// Member id or NPI: the key a person types first.
    pub key: String,
    /// Date of birth (members) or TIN (providers).
    pub proof: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn fields(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    out.push(cur.trim().to_string());
    Ok(out)
}

/// NPI: ten digits with the Luhn check digit over the prefix 80840.
pub fn valid_npi(s: &str) -> bool {
    if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = format!("80840{s}").bytes().map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// TIN: nine digits; dashes and spaces are ignored.
pub fn normalize_tin(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    (d.len() == 9 && d.bytes().all(|b| b.is_ascii_digit())).then_some(d)
}

/// A calendar date YYYY-MM-DD between 1900-01-01 and `today` (same form).
pub fn valid_date(s: &str, today: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1900 && (1..=days).contains(&d) && s <= today
}

/// Normalises a typed member id: trimmed, upper case, no spaces or dashes.
pub fn normalize_member_id(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .to_uppercase()
}

/// Parses a whole CSV file. The header names the columns (any order).
pub fn parse(kind: RecordKind, text: &str, today: &str) -> Result<(Vec<IdentityRecord>, Vec<Rejected>), String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err("the file is empty".into());
    };
    let header = fields(header.trim_start_matches('\u{feff}')).map_err(|e| format!("header: {e}"))?;
    let mut index = Vec::new();
    for col in kind.columns() {
        match header.iter().position(|h| h.eq_ignore_ascii_case(col)) {
            Some(i) => index.push(i),
            None => {
                return Err(format!(
                    "the header has no `{col}` column (expected: {})",
                    kind.columns().join(",")
                ));
            }
        }
    }
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in lines {
        let line_no = n + 1;
        let row = match fields(line) {
            Ok(r) => r,
            Err(e) => {
                bad.push(Rejected {
                    line: line_no,
                    reason: e.into(),
                });
                continue;
            }
        };
        let get = |i: usize| row.get(index[i]).map(String::as_str).unwrap_or("");
        match record(kind, [get(0), get(1), get(2), get(3), get(4)], today) {
            Ok(r) if !seen.insert(r.key.clone()) => bad.push(Rejected {
                line: line_no,
                reason: format!("{} `{}` appears twice in this file", kind.columns()[0], r.key),
            }),
            Ok(r) => ok.push(r),
            Err(reason) => bad.push(Rejected { line: line_no, reason }),
        }
    }
    Ok((ok, bad))
}

fn record(
    kind: RecordKind,
    [key, proof, name, email, phone]: [&str; 5],
    today: &str,
) -> Result<IdentityRecord, String> {
    let mut problems = Vec::new();
    let (key, proof) = match kind {
        RecordKind::Member => {
            let id = normalize_member_id(key);
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                problems.push(format!("member_id `{key}` must be 1-32 letters and digits"));
            }
            if !valid_date(proof, today) {
                problems.push(format!("date_of_birth `{proof}` is not a past date in YYYY-MM-DD form"));
            }
            (id, proof.to_string())
        }
        RecordKind::Provider => {
            if !valid_npi(key) {
                problems.push(format!("npi `{key}` is not ten digits with a valid check digit"));
            }
            let tin = normalize_tin(proof);
            if tin.is_none() {
                problems.push(format!("tin `{proof}` is not nine digits"));
            }
            (key.to_string(), tin.unwrap_or_default())
        }
    };
    if name.is_empty() || name.len() > 200 {
        problems.push("name is missing".into());
    }
    let email = (!email.is_empty()).then(|| EmailAddress::parse(email).map(|e| e.as_str().to_string()));
    let phone = (!phone.is_empty()).then(|| PhoneNumber::parse(phone).map(|p| p.as_str().to_string()));
    if let Some(Err(e)) = &email {
        problems.push(format!("email: {e}"));
    }
    if let Some(Err(e)) = &phone {
        problems.push(format!("phone: {e}"));
    }
    if email.is_none() && phone.is_none() {
        problems.push("an email or a phone is needed (activation codes go there)".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(IdentityRecord {
        kind,
        key,
        proof,
        name: name.to_string(),
        email: email.and_then(Result::ok),
        phone: phone.and_then(Result::ok),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_check_digits_and_dates() {
        assert!(valid_npi("1234567893"));
        assert!(!valid_npi("1234567890"));
        assert!(!valid_npi("123456789"));
        assert!(valid_date("2000-02-29", "2026-11-25"));
        assert!(!valid_date("1900-02-29", "2026-11-25"));
        assert!(!valid_date("2030-01-01", "2026-11-25"));
        assert!(!valid_date("1990-13-01", "2026-11-25"));
        assert_eq!(normalize_tin("12-3456789").as_deref(), Some("123456789"));
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_good_ones_kept() {
        let csv = "member_id,date_of_birth,name,email,phone\n\
                   M-1001,1980-04-01,\"Doe, Jane\",jane@example.org,\n\
                   M1002,1980-02-30,Bad Date,bad@example.org,\n\
                   \n\
                   M1003,1975-06-15,No Contact,,\n\
                   m1001,1981-01-01,Dup,dup@example.org,\n";
        let (ok, bad) = parse(RecordKind::Member, csv, "2026-11-25").unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].key, "M1001");
        assert_eq!(ok[0].name, "Doe, Jane");
        let lines: Vec<usize> = bad.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 5, 6], "{bad:?}");
        assert!(bad[0].reason.contains("date_of_birth"));
        assert!(
            parse(RecordKind::Provider, csv, "2026-11-25")
                .unwrap_err()
                .contains("npi")
        );
    }
}
