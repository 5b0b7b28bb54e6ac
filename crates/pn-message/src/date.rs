//! The `Date` header as Dovecot's `message_date_parse` reads it.
//!
//! Own code (mail-parser accepts other shapes and reports no Dovecot-style offset):
//! `[weekday ","] dd month [yy]yy hh:mi[:ss] [zone]` where `.` also separates the time, a
//! two-digit year below 70 is 20xx, a year below 1900 is invalid, an unknown zone is UTC, and
//! military zones follow Dovecot's arithmetic. Out-of-range fields are invalid (no
//! normalisation), a leap second `60` counts as `59`.

use crate::rfc822::Parser;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `(UTC seconds, offset in minutes)`, or `None` when the value is not a date Dovecot accepts.
pub(crate) fn parse_date(value: &[u8]) -> Option<(i64, i32)> {
    let mut p = Parser::new(value, false);
    let mut tok = Vec::new();
    p.skip_lwsp();

    // optional weekday
    if next_token(&mut p, &mut tok) <= 0 {
        return None;
    }
    if tok.len() == 3 {
        if p.cur() != b',' {
            return None;
        }
        p.pos += 1;
        p.skip_lwsp();
        if next_token(&mut p, &mut tok) <= 0 {
            return None;
        }
    }
    // dd
    let mday = digits(&tok, 1, 2)?;
    // month
    if next_token(&mut p, &mut tok) <= 0 || tok.len() < 3 {
        return None;
    }
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(&tok[..3]))?;
    // [yy]yy
    if next_token(&mut p, &mut tok) <= 0 || (tok.len() != 2 && tok.len() != 4) {
        return None;
    }
    let mut year = digits(&tok, 2, 4)?;
    if tok.len() == 2 {
        year += if year < 70 { 2000 } else { 1900 };
    } else if year < 1900 {
        return None;
    }
    // hh
    if next_token(&mut p, &mut tok) <= 0 {
        return None;
    }
    let hour = digits(&tok, 1, 2)?;
    // :mm
    if !is_time_sep(p.cur()) {
        return None;
    }
    p.pos += 1;
    p.skip_lwsp();
    if next_token(&mut p, &mut tok) < 0 || tok.len() != 2 {
        return None;
    }
    let min = digits(&tok, 2, 2)?;
    // [:ss]
    let mut sec = 0;
    if !p.at_end() && is_time_sep(p.cur()) {
        p.pos += 1;
        p.skip_lwsp();
        if next_token(&mut p, &mut tok) <= 0 || tok.len() != 2 {
            return None;
        }
        sec = digits(&tok, 2, 2)?;
    }
    let ret = next_token(&mut p, &mut tok);
    if ret < 0 {
        return None;
    }
    let tz = if ret == 0 { 0 } else { parse_timezone(&tok) };

    if sec == 60 {
        sec = 59;
    }
    if month > 11
        || mday < 1
        || mday > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(year, month as i64 + 1, mday);
    let t = days * 86400 + hour * 3600 + min * 60 + sec - i64::from(tz) * 60;
    // Dovecot keeps the sent date as a 32-bit unsigned number.
    Some((i64::from(t as u32), tz))
}

fn is_time_sep(c: u8) -> bool {
    c == b':' || c == b'.'
}

/// The next atom; `1` with a non-empty token, `0` at the end, `-1` on error.
fn next_token(p: &mut Parser<'_>, tok: &mut Vec<u8>) -> i32 {
    tok.clear();
    let ret = if p.at_end() { 0 } else { p.parse_atom(tok) };
    if ret < 0 {
        -1
    } else {
        i32::from(!tok.is_empty())
    }
}

/// A number of `min..=max` ASCII digits.
fn digits(tok: &[u8], min: usize, max: usize) -> Option<i64> {
    if tok.len() < min || tok.len() > max || !tok.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(tok.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn parse_timezone(s: &[u8]) -> i32 {
    match s.len() {
        5 if matches!(s[0], b'+' | b'-') => {
            if !s[1..].iter().all(u8::is_ascii_digit) {
                return 0;
            }
            let d = |i: usize| i32::from(s[i] - b'0');
            let offset = (d(1) * 10 + d(2)) * 60 + d(3) * 10 + d(4);
            if s[0] == b'+' { offset } else { -offset }
        }
        1 => {
            // Military zones, with Dovecot's arithmetic on the byte as written.
            let c = s[0].to_ascii_uppercase();
            let raw = i32::from(s[0]);
            let a = i32::from(b'A');
            if c < b'J' {
                (raw - a + 1) * 60
            } else if c == b'J' {
                0
            } else if c <= b'M' {
                (raw - a) * 60
            } else if c < b'Z' {
                (i32::from(b'M') - raw) * 60
            } else {
                0
            }
        }
        3 if s[2] == b'T' => {
            let base = match s[0].to_ascii_uppercase() {
                b'E' => -5 * 60,
                b'C' => -6 * 60,
                b'M' => -7 * 60,
                b'P' => -8 * 60,
                _ => return 0,
            };
            match s[1].to_ascii_uppercase() {
                b'D' => base + 60,
                b'S' => base,
                _ => 0,
            }
        }
        _ => 0,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(year: i64, month0: usize) -> i64 {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if month0 == 1 && is_leap(year) {
        29
    } else {
        DAYS[month0]
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_date_with_offset() {
        assert_eq!(
            parse_date(b"Mon, 01 Jan 2024 09:01:00 +0100"),
            Some((1_704_096_060, 60))
        );
        assert_eq!(
            parse_date(b"Tue, 2 Jan 2024 11:30:00 -0500"),
            Some((1_704_213_000, -300))
        );
    }

    #[test]
    fn lenient_forms() {
        assert_eq!(parse_date(b"1 jan 24 9.00"), Some((1_704_099_600, 0)));
        assert_eq!(
            parse_date(b"01 Jan 2024 09:00:00 EDT"),
            Some((1_704_099_600 + 4 * 3600, -240))
        );
        assert_eq!(
            parse_date(b"01 Jan 2024 09:00:00 XYZ"),
            Some((1_704_099_600, 0))
        );
    }

    #[test]
    fn invalid_dates() {
        assert_eq!(parse_date(b"yesterday"), None);
        assert_eq!(parse_date(b"31 Feb 2024 10:00:00 +0000"), None);
        assert_eq!(parse_date(b"01 Jan 1800 10:00:00 +0000"), None);
        assert_eq!(parse_date(b"01 Jan 2024 25:00:00 +0000"), None);
        assert_eq!(parse_date(b""), None);
    }
}
