//! `%` templates and system user/group names.

use std::path::Path;

use crate::UserDbError;

/// Expands `%u %n %d %h …` in `template` for `username` (and `home`, once known).
pub(crate) fn expand(
    what: &str,
    template: &str,
    username: &str,
    home: Option<&str>,
) -> Result<String, UserDbError> {
    let mut vars = pn_config::UserVars::new(username);
    if let Some(h) = home {
        vars = vars.with_home(h);
    }
    pn_config::vars::expand(template, &vars).map_err(|source| UserDbError::Expand {
        what: what.to_owned(),
        source,
    })
}

/// A uid: a number, or a user name from `/etc/passwd`.
pub(crate) fn parse_uid(value: &str) -> Option<u32> {
    value
        .parse()
        .ok()
        .or_else(|| lookup_name(Path::new("/etc/passwd"), value))
}

/// A gid: a number, or a group name from `/etc/group`.
pub(crate) fn parse_gid(value: &str) -> Option<u32> {
    value
        .parse()
        .ok()
        .or_else(|| lookup_name(Path::new("/etc/group"), value))
}

/// The third field of the line whose first field is `name` (`/etc/passwd`, `/etc/group`).
fn lookup_name(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_parse_without_system_files() {
        assert_eq!(parse_uid("1000"), Some(1000));
        assert_eq!(parse_gid("0"), Some(0));
    }

    #[test]
    fn root_name_resolves_from_etc_passwd() {
        assert_eq!(parse_uid("root"), Some(0));
        assert_eq!(parse_uid("no-such-user-pn"), None);
    }
}
