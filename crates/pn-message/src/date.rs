//! The `Date` header as Dovecot's `message_date_parse` reads it.
//!
//! Own code (mail-parser accepts other shapes and reports no Dovecot-style offset), a small
//! grammar over [`Lexer`] atoms: `[weekday ","] dd month [yy]yy hh:mi[:ss] [zone]` where `.`
//! also separates the time, a two-digit year below 70 is 20xx, a year below 1900 is invalid,
//! an unknown zone is UTC, and military zones follow Dovecot's arithmetic. Out-of-range fields
//! are invalid (no normalisation), a leap second `60` counts as `59`. Whatever follows the zone
//! is ignored, except a broken comment right after it.

use crate::rfc822::{Lexer, Token, WordChars};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// `(UTC seconds, offset in minutes)`, or `None` when the value is not a date Dovecot accepts.
pub(crate) fn parse_date(value: &[u8]) -> Option<(i64, i32)> {
    let mut tokens = Lexer::new(value, WordChars::Atext);
    let first = word(&mut tokens)?;
    // A three-letter first word is a weekday (any three, unchecked), and needs its comma.
    let day = if first.len() == 3 {
        special(&mut tokens, |c| c == b',')?;
        word(&mut tokens)?
    } else {
        first
    };
    let mday = number(day, 1..=2)?;
    let month = word(&mut tokens)?;
    let month = MONTHS
        .iter()
        .position(|m| month.get(..3).is_some_and(|p| m.eq_ignore_ascii_case(p)))?;
    let year = word(&mut tokens)?;
    let year = match (year.len(), number(year, 2..=4)?) {
        (2, yy) if yy < 70 => 2000 + yy,
        (2, yy) => 1900 + yy,
        (4, yyyy) if yyyy >= 1900 => yyyy,
        _ => return None,
    };
    let hour = number(word(&mut tokens)?, 1..=2)?;
    special(&mut tokens, is_time_separator)?;
    let min = number(word(&mut tokens)?, 2..=2)?;
    let sec = if tokens.peek().ok()?.is_some_and(is_time_separator) {
        tokens.bump();
        number(word(&mut tokens)?, 2..=2)?
    } else {
        0
    };
    let tz = match tokens.next() {
        None => 0,
        Some(Ok(Token::Word(zone))) => {
            // Dovecot skips the CFWS after every atom, so a broken comment here is an error.
            tokens.skip_cfws().ok()?;
            zone_offset(zone)
        }
        Some(_) => return None,
    };

    // A leap second is read as the second before it; nothing else is normalised.
    let sec = if sec == 60 { 59 } else { sec };
    if !(1..=days_in_month(year, month)).contains(&mday) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let days = days_from_civil(year, month as i64 + 1, mday);
    let t = days * 86400 + hour * 3600 + min * 60 + sec - i64::from(tz) * 60;
    // Dovecot keeps the sent date as a 32-bit unsigned number.
    Some((i64::from(t as u32), tz))
}

fn is_time_separator(c: u8) -> bool {
    c == b':' || c == b'.'
}

/// The next token, when it is a word.
fn word<'a>(tokens: &mut Lexer<'a>) -> Option<&'a [u8]> {
    match tokens.next()? {
        Ok(Token::Word(w)) => Some(w),
        _ => None,
    }
}

/// The next token, when it is a special byte accepted by `accept`.
fn special(tokens: &mut Lexer<'_>, accept: impl Fn(u8) -> bool) -> Option<()> {
    match tokens.next()? {
        Ok(Token::Special(c)) if accept(c) => Some(()),
        _ => None,
    }
}

/// A number written with a count of ASCII digits in `len`.
fn number(word: &[u8], len: std::ops::RangeInclusive<usize>) -> Option<i64> {
    if !len.contains(&word.len()) || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(word.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

/// The offset in minutes of a zone word; unknown zones are UTC.
fn zone_offset(zone: &[u8]) -> i32 {
    match *zone {
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let digits = [h1, h2, m1, m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return 0;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i32::from(d - b'0'));
            // no range check: `+9999` is 99 hours and 99 minutes
            let minutes = (h1 * 10 + h2) * 60 + m1 * 10 + m2;
            if sign == b'+' { minutes } else { -minutes }
        }
        [letter] => military_zone(letter) * 60,
        [a, b, b'T'] => {
            let standard = match a.to_ascii_uppercase() {
                b'E' => -5,
                b'C' => -6,
                b'M' => -7,
                b'P' => -8,
                _ => return 0,
            };
            match b.to_ascii_uppercase() {
                b'S' => standard * 60,
                b'D' => (standard + 1) * 60,
                _ => 0,
            }
        }
        _ => 0,
    }
}

/// RFC 822 military zones in hours, as Dovecot computes them: the letter is compared
/// case-insensitively, but the arithmetic uses the byte as written, so lower-case letters (and
/// other single bytes below `J`) give offsets far outside ±12 hours.
fn military_zone(byte: u8) -> i32 {
    let as_written = i32::from(byte);
    let from_a = as_written - i32::from(b'A');
    match byte.to_ascii_uppercase() {
        ..b'J' => from_a + 1,
        b'J' => 0,
        b'K'..=b'M' => from_a,
        b'N'..b'Z' => i32::from(b'M') - as_written,
        _ => 0,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// The length of a month (`month0` counts from 0).
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

    #[test]
    fn weekday_needs_its_comma_and_is_not_checked() {
        assert_eq!(
            parse_date(b"Xyz, 01 Jan 2024 09:00:00 +0000"),
            Some((1_704_099_600, 0))
        );
        assert_eq!(parse_date(b"Mon 01 Jan 2024 09:00:00 +0000"), None);
    }

    #[test]
    fn seconds_are_optional_and_a_leap_second_is_59() {
        assert_eq!(parse_date(b"1 Jan 2024 09:00"), Some((1_704_099_600, 0)));
        assert_eq!(
            parse_date(b"31 Dec 2016 23:59:60 +0000"),
            Some((1_483_228_799, 0))
        );
        assert_eq!(parse_date(b"31 Dec 2016 23:59:61 +0000"), None);
        assert_eq!(parse_date(b"1 Jan 2024 9:0"), None);
    }

    #[test]
    fn zones() {
        let base = 1_704_099_600;
        let tz = |zone: &str| parse_date(format!("1 Jan 2024 09:00 {zone}").as_bytes());
        assert_eq!(tz("+0530"), Some((base - 330 * 60, 330)));
        assert_eq!(tz("+9999"), Some((base - 6039 * 60, 6039)));
        assert_eq!(tz("+05a0"), Some((base, 0)));
        assert_eq!(tz("PST"), Some((base + 8 * 3600, -480)));
        assert_eq!(tz("GMT"), Some((base, 0)));
        assert_eq!(tz("A"), Some((base - 3600, 60)));
        assert_eq!(tz("M"), Some((base - 12 * 3600, 720)));
        assert_eq!(tz("N"), Some((base + 3600, -60)));
        assert_eq!(tz("Z"), Some((base, 0)));
        // the lower-case letter counts with its own byte value
        assert_eq!(tz("a"), Some((base - 33 * 3600, 33 * 60)));
        // what follows the zone is ignored, unless it cannot be lexed
        assert_eq!(tz("+0000 (UTC) junk"), Some((base, 0)));
        assert_eq!(tz("+0000 (UTC"), None);
        assert_eq!(tz(", x"), None);
    }

    #[test]
    fn two_digit_years_and_32_bit_wrap() {
        assert_eq!(parse_date(b"1 Jan 69 00:00"), Some((3_124_224_000, 0)));
        assert_eq!(parse_date(b"1 Jan 70 00:00"), Some((0, 0)));
        assert_eq!(
            parse_date(b"1 Jan 1969 00:00 +0000"),
            Some((i64::from(u32::MAX) + 1 - 365 * 86400, 0))
        );
    }
}
