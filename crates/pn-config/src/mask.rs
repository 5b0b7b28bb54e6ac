//! Hiding secrets before a value is printed: passwords in URLs for logs and driver listings
//! ([`mask_url_secrets`]), and doveconf's rules for printed settings ([`Secrets`]).

/// Whether printed settings show their secrets (doveconf's `-P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// doveconf's default: the value of a setting named `…_password` or `…_key` (and
    /// `ssl_dh`) is replaced by [`HIDDEN_VALUE`], and the user part of every `http://` and
    /// `https://` URL by [`HIDDEN_USERINFO`].
    Hide,
    /// Everything as configured (`-P`).
    Show,
}

/// What a hidden setting prints instead of its value (doveconf's text; a comment, so the
/// output still parses, with the setting empty).
pub const HIDDEN_VALUE: &str = "# hidden, use -P to show it";

/// What replaces the `user:password` of an HTTP URL (doveconf's text).
pub const HIDDEN_USERINFO: &str = "#hidden_use-P_to_show#";

/// doveconf's secret setting names: `…_password`, `…_key` and `ssl_dh` (a bare `password`
/// or `key` is not one).
pub(crate) fn is_secret_key(key: &str) -> bool {
    key.ends_with("_password") || key.ends_with("_key") || key == "ssl_dh"
}

/// A setting's printed value (already quoted) under `secrets`.
pub(crate) fn shown(key: &str, printed: String, secrets: Secrets) -> String {
    match secrets {
        Secrets::Show => printed,
        Secrets::Hide if printed.is_empty() => printed,
        Secrets::Hide if is_secret_key(key) => HIDDEN_VALUE.to_owned(),
        Secrets::Hide => hide_http_userinfo(&printed),
    }
}

/// Replaces the user part of every `http://` and `https://` URL in `value` with
/// [`HIDDEN_USERINFO`], as doveconf does: the user part is everything between the scheme
/// and the first `@`, provided it is not empty and holds no `/` or white space. Other
/// schemes (`ldap://`, …) are left alone, as doveconf leaves them.
pub(crate) fn hide_http_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    loop {
        let found = ["http://", "https://"]
            .iter()
            .filter_map(|scheme| rest.find(scheme).map(|at| at + scheme.len()))
            .min();
        let Some(start) = found else { break };
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest
            .find(|c: char| c == '@' || c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        if end > 0 && rest[end..].starts_with('@') {
            out.push_str(HIDDEN_USERINFO);
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

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
    use super::{Secrets, hide_http_userinfo, is_secret_key, mask_url_secrets, shown};

    /// Pairs checked against Debian's doveconf 2.3.19 (`doveconf -n` on the same values).
    #[test]
    fn http_user_parts_are_hidden_like_doveconf() {
        let h = "#hidden_use-P_to_show#";
        for (value, want) in [
            (
                "ox:url=http://login:pass@127.0.0.1:8080/notify cache_lifetime=1m",
                format!("ox:url=http://{h}@127.0.0.1:8080/notify cache_lifetime=1m"),
            ),
            ("http://user@h/", format!("http://{h}@h/")),
            (
                "x http://u:p@h/ y https://a:b@c:1/",
                format!("x http://{h}@h/ y https://{h}@c:1/"),
            ),
            ("http://:p@h/", format!("http://{h}@h/")),
            ("http://u:p@h@x/", format!("http://{h}@h@x/")),
            ("http://h?x@y", format!("http://{h}@y")),
            ("xhttp://u:p@h/", format!("xhttp://{h}@h/")),
            ("http://u:p@", format!("http://{h}@")),
            ("<http://u:p@h>", format!("<http://{h}@h>")),
            ("ldap://u:p@h", "ldap://u:p@h".to_owned()),
            ("HTTP://u:p@h/", "HTTP://u:p@h/".to_owned()),
            ("http://h/p@x", "http://h/p@x".to_owned()),
            ("http://h p@q", "http://h p@q".to_owned()),
            ("http://@h", "http://@h".to_owned()),
            ("http://u:p/x@h", "http://u:p/x@h".to_owned()),
            ("nourl u:p@h", "nourl u:p@h".to_owned()),
        ] {
            assert_eq!(hide_http_userinfo(value), want, "{value}");
        }
    }

    #[test]
    fn secret_names_are_doveconfs() {
        for key in [
            "ssl_key",
            "ssl_client_key",
            "ssl_key_password",
            "b_key",
            "x_password",
            "ssl_dh",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "key", "password", "pass", "a_pass", "c_secret", "ssl_keyx", "key_file", "ssl_cert",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
        assert_eq!(
            shown("ssl_key_password", "x".into(), Secrets::Hide),
            "# hidden, use -P to show it"
        );
        assert_eq!(shown("ssl_key_password", String::new(), Secrets::Hide), "");
        assert_eq!(shown("ssl_key_password", "x".into(), Secrets::Show), "x");
        assert_eq!(
            shown("url", "http://u:p@h".into(), Secrets::Show),
            "http://u:p@h"
        );
    }

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
