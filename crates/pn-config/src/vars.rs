//! Dovecot's `%` variables in setting values, expanded per user.
//!
//! Short forms `%u %n %d %h %s %l %r %p %i %%` and long forms `%{user}`, `%{username}`,
//! `%{domain}`, `%{home}`, `%{service}`, `%{local_ip}`, `%{remote_ip}`, `%{pid}`, `%{uid}`,
//! `%{hostname}`, `%{env:NAME}`, with the modifiers `L` (lower case) and `U` (upper case).
//! Anything else is an error naming the variable, never silently empty.

use thiserror::Error;

/// The values one user's settings are expanded with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserVars {
    /// The full user name (`%u`, `%{user}`), e.g. `alice@example.com`.
    pub user: String,
    /// The home directory (`%h`, `%{home}`), if known.
    pub home: Option<String>,
    /// The service or protocol (`%s`, `%{service}`), e.g. `lmtp`.
    pub service: Option<String>,
    /// The local IP address (`%l`, `%{local_ip}`), if known.
    pub local_ip: Option<String>,
    /// The remote IP address (`%r`, `%{remote_ip}`), if known.
    pub remote_ip: Option<String>,
}

impl UserVars {
    /// Variables for `user`; the other values are unknown until set.
    pub fn new(user: impl Into<String>) -> UserVars {
        UserVars {
            user: user.into(),
            ..UserVars::default()
        }
    }

    /// Sets the home directory.
    pub fn with_home(mut self, home: impl Into<String>) -> UserVars {
        self.home = Some(home.into());
        self
    }

    /// Sets the service (protocol).
    pub fn with_service(mut self, service: impl Into<String>) -> UserVars {
        self.service = Some(service.into());
        self
    }

    /// The user part (`%n`, `%{username}`): the user name up to the last `@`.
    pub fn username(&self) -> &str {
        self.user
            .rsplit_once('@')
            .map_or(self.user.as_str(), |(n, _)| n)
    }

    /// The domain (`%d`, `%{domain}`): the part after the last `@`, empty without one.
    pub fn domain(&self) -> &str {
        self.user.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// A `%` variable that cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    /// A variable pn does not know.
    #[error(
        "unknown variable {0} (known: %u %n %d %h %s %l %r %p %i %%, %{{user}} %{{username}} \
         %{{domain}} %{{home}} %{{service}} %{{local_ip}} %{{remote_ip}} %{{pid}} %{{uid}} \
         %{{hostname}} %{{env:NAME}}; modifiers L and U)"
    )]
    Unknown(String),
    /// A known variable whose value is not known for this user.
    #[error("variable {0} is used but its value is not known for this user")]
    NoValue(String),
    /// `%{` without the closing `}`, or `%` at the end of the value.
    #[error("unterminated variable {0}")]
    Unterminated(String),
}

/// Expands every `%` variable of `value` for `user`.
pub fn expand(value: &str, user: &UserVars) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let mut chars = after.char_indices();
        let mut upper = None;
        let (name, written, consumed) = loop {
            match chars.next() {
                None => return Err(ExpandError::Unterminated(rest[pos..].to_owned())),
                Some((_, 'L')) => upper = Some(false),
                Some((_, 'U')) => upper = Some(true),
                Some((i, '{')) => {
                    let body = &after[i + 1..];
                    let Some(end) = body.find('}') else {
                        return Err(ExpandError::Unterminated(rest[pos..].to_owned()));
                    };
                    let name = &body[..end];
                    let consumed = i + 1 + end + 1;
                    break (long_name(name), format!("%{{{name}}}"), consumed);
                }
                Some((i, c)) => {
                    let consumed = i + c.len_utf8();
                    break (short_name(c), format!("%{c}"), consumed);
                }
            }
        };
        let Some(name) = name else {
            return Err(ExpandError::Unknown(written));
        };
        let value = lookup(name, user).ok_or_else(|| ExpandError::NoValue(written.clone()))?;
        match upper {
            Some(true) => out.push_str(&value.to_uppercase()),
            Some(false) => out.push_str(&value.to_lowercase()),
            None => out.push_str(&value),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A variable, by its long name (`env:` keeps its argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var<'a> {
    Percent,
    User,
    Username,
    Domain,
    Home,
    Service,
    LocalIp,
    RemoteIp,
    Pid,
    Uid,
    Hostname,
    Env(&'a str),
}

fn short_name(c: char) -> Option<Var<'static>> {
    Some(match c {
        '%' => Var::Percent,
        'u' => Var::User,
        'n' => Var::Username,
        'd' => Var::Domain,
        'h' => Var::Home,
        's' => Var::Service,
        'l' => Var::LocalIp,
        'r' => Var::RemoteIp,
        'p' => Var::Pid,
        'i' => Var::Uid,
        _ => return None,
    })
}

fn long_name(name: &str) -> Option<Var<'_>> {
    if let Some(env) = name.strip_prefix("env:") {
        return Some(Var::Env(env));
    }
    Some(match name {
        "user" => Var::User,
        "username" => Var::Username,
        "domain" => Var::Domain,
        "home" => Var::Home,
        "service" => Var::Service,
        "local_ip" | "lip" => Var::LocalIp,
        "remote_ip" | "rip" => Var::RemoteIp,
        "pid" => Var::Pid,
        "uid" => Var::Uid,
        "hostname" => Var::Hostname,
        _ => return None,
    })
}

fn lookup(var: Var<'_>, user: &UserVars) -> Option<String> {
    match var {
        Var::Percent => Some("%".to_owned()),
        Var::User => Some(user.user.clone()),
        Var::Username => Some(user.username().to_owned()),
        Var::Domain => Some(user.domain().to_owned()),
        Var::Home => user.home.clone(),
        Var::Service => user.service.clone(),
        Var::LocalIp => user.local_ip.clone(),
        Var::RemoteIp => user.remote_ip.clone(),
        Var::Pid => Some(std::process::id().to_string()),
        Var::Uid => Some(current_uid()),
        Var::Hostname => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned()),
        Var::Env(name) => Some(std::env::var(name).unwrap_or_default()),
    }
}

fn current_uid() -> String {
    // /proc/self/status: "Uid:\t<real>\t<effective>…"; no libc dependency for one number.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserVars {
        UserVars::new("Alice@Example.com").with_home("/home/alice")
    }

    #[test]
    fn short_forms_expand() {
        assert_eq!(
            expand("%u|%n|%d|%h|100%%", &alice()).unwrap(),
            "Alice@Example.com|Alice|Example.com|/home/alice|100%"
        );
    }

    #[test]
    fn long_forms_and_modifiers_expand() {
        assert_eq!(
            expand(
                "%{user} %{username} %{domain} %{home} %Lu %U{domain}",
                &alice()
            )
            .unwrap(),
            "Alice@Example.com Alice Example.com /home/alice alice@example.com EXAMPLE.COM"
        );
    }

    #[test]
    fn user_without_domain_has_empty_domain() {
        let u = UserVars::new("bob");
        assert_eq!(expand("%n@%d", &u).unwrap(), "bob@");
    }

    #[test]
    fn unknown_variables_are_errors_that_name_them() {
        let e = expand("x%zy", &alice()).unwrap_err();
        assert_eq!(e, ExpandError::Unknown("%z".into()));
        assert!(e.to_string().starts_with("unknown variable %z (known: %u"));
        assert_eq!(
            expand("%{nope}", &alice()).unwrap_err(),
            ExpandError::Unknown("%{nope}".into())
        );
    }

    #[test]
    fn unterminated_and_unknown_values_are_errors() {
        assert_eq!(
            expand("a%", &alice()).unwrap_err(),
            ExpandError::Unterminated("%".into())
        );
        assert_eq!(
            expand("%{user", &alice()).unwrap_err(),
            ExpandError::Unterminated("%{user".into())
        );
        assert_eq!(
            expand("%s", &alice()).unwrap_err().to_string(),
            "variable %s is used but its value is not known for this user"
        );
    }

    #[test]
    fn text_without_percent_is_unchanged() {
        assert_eq!(
            expand("ox:url=http://h/ä", &alice()).unwrap(),
            "ox:url=http://h/ä"
        );
    }
}
