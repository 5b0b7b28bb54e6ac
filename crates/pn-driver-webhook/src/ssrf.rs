//! The SSRF guard for per-user endpoints: a user (or whoever can set their METADATA) must not
//! make the server post to its own loopback, private or link-local networks.
//!
//! Only the URL is looked at: resolving a name here would be network work inside a mail
//! transaction, and a check at enqueue time cannot see what the name resolves to when the
//! request is sent. Names other than `localhost` therefore pass; see docs/webhook.md.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host part of a URL after its `scheme://` (brackets kept for IPv6, lowercase as given).
pub(crate) fn host_of(rest: &str) -> &str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    if hostport.starts_with('[') {
        return hostport
            .find(']')
            .map_or(hostport, |close| &hostport[..=close]);
    }
    hostport.split(':').next().unwrap_or(hostport)
}

/// Why `url` may not be a per-user destination, if it may not.
pub fn refusal(url: &str) -> Option<&'static str> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let host = host_of(rest).trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("loopback");
    }
    let ip = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }?;
    classify(ip)
}

fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else {
                None
            }
        }
    }
}

fn classify_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.is_unspecified() || v4.is_broadcast() {
        Some("unspecified")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_destinations() {
        for (url, why) in [
            ("http://127.0.0.1:8080/x", "loopback"),
            ("https://LOCALHOST/x", "loopback"),
            ("http://a.localhost./", "loopback"),
            ("http://user:pw@10.1.2.3/", "private"),
            ("http://192.168.0.1/", "private"),
            ("http://172.16.5.5/", "private"),
            ("http://100.64.0.1/", "private"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://[::1]:80/", "loopback"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[fd00::5]/", "private"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
        ] {
            assert_eq!(refusal(url), Some(why), "{url}");
        }
        for url in [
            "https://hooks.example.com/mail",
            "http://93.184.216.34/",
            "http://[2001:db8::1]/",
            "https://ntfy.sh/",
        ] {
            assert_eq!(refusal(url), None, "{url}");
        }
    }
}
