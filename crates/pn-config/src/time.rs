//! Dovecot's time intervals and unsigned integers (spec §3.3), with Dovecot's exact messages.
//!
//! [`parse_interval_secs`] is `settings_get_time()`, [`parse_interval_msecs`] is
//! `settings_get_time_msecs()`, and [`parse_uint`] is `str_to_uint()` with the
//! `"Invalid number <s>: <reason>"` message of the settings parser.

use thiserror::Error;

/// A time interval or number that Dovecot would reject. `Display` gives Dovecot's message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TimeError {
    /// Not a number followed by a known unit: `Invalid time interval: <str>`.
    #[error("Invalid time interval: {0}")]
    Invalid(String),
    /// A non-zero number without a unit.
    #[error("Time interval '{0}' is missing units (add e.g. 's' for seconds)")]
    MissingUnits(String),
    /// Milliseconds that are not whole seconds where seconds are wanted.
    #[error("Milliseconds not supported for this setting: {0}")]
    MillisecondsNotSupported(String),
    /// The result does not fit into 32 bits (`UINT_MAX`).
    #[error("Time interval is too large: {0}")]
    TooLarge(String),
}

/// An unsigned integer that Dovecot's `str_to_uint()` would reject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Invalid number {value}: {reason}")]
pub struct UintError {
    /// The text as written.
    pub value: String,
    /// `Not a valid number`, `Number too large` or `Number too small` (Dovecot's words).
    pub reason: &'static str,
}

/// Parses a time interval where seconds are wanted (`settings_get_time`): `"59 s"` = 59,
/// `"2 mins"` = 120, `"1000ms"` = 1, `"0"` = 0.
pub fn parse_interval_secs(s: &str) -> Result<u32, TimeError> {
    parse_interval(s, false)
}

/// Parses a time interval where milliseconds are wanted (`settings_get_time_msecs`):
/// `"5s"` = 5000, `"250ms"` = 250.
pub fn parse_interval_msecs(s: &str) -> Result<u32, TimeError> {
    parse_interval(s, true)
}

/// Case-insensitive "`rest` is a prefix of `word`" (`strncasecmp(p, word, strlen(p)) == 0`).
fn is_prefix_of(rest: &str, word: &str) -> bool {
    rest.len() <= word.len() && word.as_bytes()[..rest.len()].eq_ignore_ascii_case(rest.as_bytes())
}

fn parse_interval(s: &str, milliseconds: bool) -> Result<u32, TimeError> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(TimeError::Invalid(s.to_owned()));
    }
    // str_parse_uintmax: more than 64 bits is a parse failure, not an overflow.
    let mut num: u64 = s[..digits]
        .parse()
        .map_err(|_| TimeError::Invalid(s.to_owned()))?;
    let rest = s[digits..].trim_start_matches(' ');
    if rest.is_empty() && num != 0 {
        return Err(TimeError::MissingUnits(s.to_owned()));
    }
    let mut multiply: u64 = if milliseconds { 1000 } else { 1 };
    let mut matched = rest.is_empty();
    match rest.bytes().next().map(|b| b.to_ascii_uppercase()) {
        Some(b'S') => {
            matched = is_prefix_of(rest, "secs") || is_prefix_of(rest, "seconds");
        }
        Some(b'M') => {
            multiply *= 60;
            if is_prefix_of(rest, "mins") || is_prefix_of(rest, "minutes") {
                matched = true;
            } else if ["msecs", "mseconds", "millisecs", "milliseconds"]
                .iter()
                .any(|w| is_prefix_of(rest, w))
            {
                if !milliseconds {
                    if !num.is_multiple_of(1000) {
                        return Err(TimeError::MillisecondsNotSupported(s.to_owned()));
                    }
                    num /= 1000;
                }
                multiply = 1;
                matched = true;
            }
        }
        Some(b'H') => {
            multiply *= 60 * 60;
            matched = is_prefix_of(rest, "hours");
        }
        Some(b'D') => {
            multiply *= 60 * 60 * 24;
            matched = is_prefix_of(rest, "days");
        }
        Some(b'W') => {
            multiply *= 60 * 60 * 24 * 7;
            matched = is_prefix_of(rest, "weeks");
        }
        _ => {}
    }
    if !matched {
        return Err(TimeError::Invalid(s.to_owned()));
    }
    if num > u64::from(u32::MAX) / multiply {
        return Err(TimeError::TooLarge(s.to_owned()));
    }
    u32::try_from(num * multiply).map_err(|_| TimeError::TooLarge(s.to_owned()))
}

/// Parses an unsigned 32-bit integer as Dovecot's `str_to_uint()`: decimal digits only, no
/// sign, no spaces.
pub fn parse_uint(s: &str) -> Result<u32, UintError> {
    let error = |reason| UintError {
        value: s.to_owned(),
        reason,
    };
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("Not a valid number"));
    }
    if negative {
        return Err(error("Number too small"));
    }
    digits.parse().map_err(|_| error("Number too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dovecots_test_vectors() {
        assert_eq!(parse_interval_secs("0"), Ok(0));
        assert_eq!(parse_interval_secs("0 "), Ok(0));
        assert_eq!(parse_interval_secs("59 s"), Ok(59));
        assert_eq!(parse_interval_secs("59s"), Ok(59));
        assert_eq!(parse_interval_secs("59 secs"), Ok(59));
        assert_eq!(parse_interval_secs("59 SeConDs"), Ok(59));
        assert_eq!(parse_interval_secs("123 minu"), Ok(7380));
        assert_eq!(parse_interval_secs("1m"), Ok(60), "bare m is minutes");
        assert_eq!(parse_interval_secs("2 h"), Ok(7200));
        assert_eq!(parse_interval_secs("1 day"), Ok(86400));
        assert_eq!(parse_interval_secs("3 wee"), Ok(3 * 604800));
        assert_eq!(parse_interval_secs("1000ms"), Ok(1));
        assert_eq!(parse_interval_secs("2000 millisecs"), Ok(2));
        assert_eq!(parse_interval_secs("3000 mil"), Ok(3));
        assert_eq!(parse_interval_secs("4294967295 s"), Ok(u32::MAX));
    }

    #[test]
    fn rejects_with_dovecots_messages() {
        let msg = |s: &str| parse_interval_secs(s).unwrap_err().to_string();
        assert_eq!(
            msg("1"),
            "Time interval '1' is missing units (add e.g. 's' for seconds)"
        );
        assert_eq!(msg("1ss"), "Invalid time interval: 1ss");
        assert_eq!(msg("1ma"), "Invalid time interval: 1ma");
        assert_eq!(msg("1s "), "Invalid time interval: 1s ");
        assert_eq!(msg(" 1s"), "Invalid time interval:  1s");
        assert_eq!(msg("-1s"), "Invalid time interval: -1s");
        assert_eq!(msg(""), "Invalid time interval: ");
        assert_eq!(msg("5x"), "Invalid time interval: 5x");
        assert_eq!(
            msg("999ms"),
            "Milliseconds not supported for this setting: 999ms"
        );
        assert_eq!(msg("7102 w"), "Time interval is too large: 7102 w");
        assert_eq!(
            msg("4294967296 s"),
            "Time interval is too large: 4294967296 s"
        );
        assert_eq!(
            msg("99999999999999999999999 s"),
            "Invalid time interval: 99999999999999999999999 s"
        );
    }

    #[test]
    fn milliseconds_setting_keeps_millisecond_precision() {
        assert_eq!(parse_interval_msecs("999ms"), Ok(999));
        assert_eq!(parse_interval_msecs("5s"), Ok(5000));
        assert_eq!(parse_interval_msecs("1 min"), Ok(60000));
        assert_eq!(parse_interval_msecs("0"), Ok(0));
        assert_eq!(
            parse_interval_msecs("4294968 s").unwrap_err().to_string(),
            "Time interval is too large: 4294968 s"
        );
        assert!(parse_interval_msecs("10").is_err());
    }

    #[test]
    fn uint_follows_str_to_uint() {
        assert_eq!(parse_uint("0"), Ok(0));
        assert_eq!(parse_uint("4294967295"), Ok(u32::MAX));
        let msg = |s: &str| parse_uint(s).unwrap_err().to_string();
        assert_eq!(
            msg("4294967296"),
            "Invalid number 4294967296: Number too large"
        );
        assert_eq!(msg("-1"), "Invalid number -1: Number too small");
        assert_eq!(msg("1x"), "Invalid number 1x: Not a valid number");
        assert_eq!(msg(""), "Invalid number : Not a valid number");
        assert_eq!(msg("+1"), "Invalid number +1: Not a valid number");
        assert_eq!(msg(" 1"), "Invalid number  1: Not a valid number");
    }
}
