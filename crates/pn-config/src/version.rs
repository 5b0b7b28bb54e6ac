//! Which Dovecot a configuration is written for: 2.4 configurations start with
//! `dovecot_config_version`, 2.3 has no such setting.

use crate::model::Settings;

/// The Dovecot release line whose behaviour pn follows where 2.3 and 2.4 differ (Lua's
/// `script_init` arguments, the Lua user table, 2.4's named-filter settings).
///
/// Decided by `dovecot_config_version`: Dovecot 2.4 requires it as the first setting of every
/// configuration and 2.3 does not know it, so its presence (any non-empty value) means 2.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum DovecotVersion {
    /// Dovecot 2.3 (no `dovecot_config_version`).
    #[default]
    V2_3,
    /// Dovecot 2.4 (`dovecot_config_version = 2.4.x`).
    V2_4,
}

impl DovecotVersion {
    /// The version a `dovecot_config_version` value (or its absence) stands for.
    pub fn from_config_version(value: Option<&str>) -> DovecotVersion {
        match value.map(str::trim) {
            Some(v) if !v.is_empty() => DovecotVersion::V2_4,
            _ => DovecotVersion::V2_3,
        }
    }
}

impl std::fmt::Display for DovecotVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DovecotVersion::V2_3 => "2.3",
            DovecotVersion::V2_4 => "2.4",
        })
    }
}

impl Settings {
    /// The Dovecot version these settings are written for (see [`DovecotVersion`]).
    pub fn dovecot_version(&self) -> DovecotVersion {
        DovecotVersion::from_config_version(
            self.get("dovecot_config_version")
                .map(|s| s.value.to_string())
                .as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_of_dovecot_config_version_means_2_4() {
        assert_eq!(
            DovecotVersion::from_config_version(None),
            DovecotVersion::V2_3
        );
        assert_eq!(
            DovecotVersion::from_config_version(Some(" ")),
            DovecotVersion::V2_3
        );
        assert_eq!(
            DovecotVersion::from_config_version(Some("2.4.1")),
            DovecotVersion::V2_4
        );
    }
}
