//! Hiding passwords in URLs before a value is printed.

use crate::url::{Authority, authority_end};

/// Replaces the password of every `scheme://user:password@host` in `value` with `***`, so
/// driver arguments can be printed and logged. Text without such URLs is returned unchanged.
pub fn mask_url_secrets(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends where the URL parser ends it, or at a space (the next
        // driver argument).
        let end = authority_end(tail).min(tail.find(' ').unwrap_or(tail.len()));
        let authority = &tail[..end];
        match Authority::split(authority) {
            Authority {
                user: Some(user),
                password: Some(_),
                host_port,
            } => {
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(host_port);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_url_secrets;

    #[test]
    fn password_is_masked_and_the_rest_kept() {
        assert_eq!(
            mask_url_secrets("url=https://ox:s3cr3t@push.example.com:8443/x?a=b cache_lifetime=1m"),
            "url=https://ox:***@push.example.com:8443/x?a=b cache_lifetime=1m"
        );
    }

    #[test]
    fn several_urls_and_passwords_with_at_signs() {
        assert_eq!(
            mask_url_secrets("a=http://u:p@ss@h/ b=http://v:w@i"),
            "a=http://u:***@h/ b=http://v:***@i"
        );
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        for s in ["http://h:80/x", "http://user@h/", "no url here", "x://", ""] {
            assert_eq!(mask_url_secrets(s), s);
        }
    }
}
