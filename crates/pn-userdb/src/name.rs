//! Which user names can reach a path.
//!
//! Userdb templates put `%n` and `%d` into paths (`home=/var/mail/%d/%n`), so a name whose
//! domain is `.` or `..` would point outside the mail root. Dovecot's LDA and LMTP parse the
//! name as an SMTP address first and refuse such domains (`Invalid domain`, `Empty
//! sub-domain`); its doveadm and its local part do not (`..@example.com` becomes
//! `/var/mail/example.com/..`). pn refuses all of them everywhere, before any lookup.

/// Why a user name can never be a mail user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    /// `alice@`: Dovecot's "Missing domain after '@'".
    #[error("Missing domain after '@'")]
    MissingDomain,
    /// `alice@.`, `alice@..`, `alice@.x`: Dovecot's "Invalid domain".
    #[error("Invalid domain")]
    InvalidDomain,
    /// `alice@example..com`, `alice@x.`: Dovecot's "Empty sub-domain".
    #[error("Empty sub-domain")]
    EmptySubDomain,
    /// A domain or local part holding `/`, or a local part that is `.` or `..` (pn only:
    /// Dovecot accepts these where `auth_username_chars` allows them).
    #[error("{0}")]
    PathLike(&'static str),
}

/// Checks a user name the way Dovecot's LDA parses `-d` as an SMTP address (the domain after
/// the last `@`), plus what would turn `%n`/`%d`/`%u` into a path traversal.
pub fn check_username(username: &str) -> Result<(), InvalidName> {
    if username.is_empty() || username == "." || username == ".." {
        return Err(InvalidName::PathLike("Invalid username"));
    }
    let Some((local, domain)) = username.rsplit_once('@') else {
        return check_local(username);
    };
    if domain.is_empty() {
        return Err(InvalidName::MissingDomain);
    }
    if domain.starts_with('.') {
        return Err(InvalidName::InvalidDomain);
    }
    if domain.split('.').any(str::is_empty) {
        return Err(InvalidName::EmptySubDomain);
    }
    if domain.contains('/') {
        return Err(InvalidName::PathLike("Invalid character in domain"));
    }
    check_local(local)
}

fn check_local(local: &str) -> Result<(), InvalidName> {
    if local == "." || local == ".." {
        return Err(InvalidName::PathLike("Invalid local part"));
    }
    if local.contains('/') {
        return Err(InvalidName::PathLike("Invalid character in local part"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecots_domain_errors() {
        assert_eq!(check_username("alice@"), Err(InvalidName::MissingDomain));
        assert_eq!(check_username("alice@."), Err(InvalidName::InvalidDomain));
        assert_eq!(check_username("alice@.."), Err(InvalidName::InvalidDomain));
        assert_eq!(check_username("alice@.x"), Err(InvalidName::InvalidDomain));
        assert_eq!(
            check_username("alice@example..com"),
            Err(InvalidName::EmptySubDomain)
        );
        assert_eq!(check_username("alice@x."), Err(InvalidName::EmptySubDomain));
    }

    #[test]
    fn traversal_shaped_local_parts_are_refused() {
        for name in [
            "..@example.com",
            ".@example.com",
            "../x@example.com",
            "..",
            "a/b",
        ] {
            assert!(check_username(name).is_err(), "{name}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "alice",
            "alice@example.com",
            "a.b@x-y.example",
            "a@b@c.com",
            "..a@x",
        ] {
            assert_eq!(check_username(name), Ok(()), "{name}");
        }
    }
}
