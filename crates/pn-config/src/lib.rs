//! Dovecot's configuration language as far as pn needs it.
//!
//! * [`Config::load`] reads a `dovecot.conf` (2.3 or 2.4 syntax) with its `!include`s;
//!   [`Config::embedded_default`] is the configuration pn uses without one.
//! * [`Config::effective`] gives the [`Settings`] in effect for a protocol, each value with its
//!   [`Location`].
//! * [`Settings::for_user`] (or [`Config::user_settings`]) gives one user's plugin settings
//!   with `%` variables expanded and the [`DriverSpec`] lists (spec §3.1/§3.2, and 2.4's
//!   `push_notification NAME { }` filters mapped to the same specs).
//! * [`time`] has Dovecot's time intervals and unsigned integers (spec §3.3), [`value`] its
//!   booleans, sizes, ports, modes, uids and gids, [`url`] lib-http's URLs: the one set of
//!   value parsers every part of pn uses.
//! * [`types`] says which setting has which type; [`Config::check_values`] refuses a value
//!   Dovecot would refuse, at its `file:line:col`.
//! * [`Config::check`] gives the warnings `pn config check` prints.
//!
//! Architecture invariant: this crate never logs and never exits; every problem is a value
//! ([`ConfigError`], [`Diagnostic`], [`Warning`]) with the position it comes from.

mod check;
pub mod driver;
mod error;
mod grammar;
mod loader;
mod location;
mod mask;
mod model;
mod named;
mod plugin;
mod print;
pub mod tabescape;
pub mod time;
pub mod types;
pub mod url;
pub mod value;
pub mod vars;
mod version;

use std::fmt;
use std::path::{Path, PathBuf};

pub use driver::{DriverArgs, DriverSpec, driver_specs, parse_driver_value};
pub use error::{ConfigError, Diagnostic, Warning};
pub use loader::ParseOptions;
pub use location::Location;
pub use mask::{HIDDEN_USERINFO, HIDDEN_VALUE, Secrets, mask_url_secrets};
pub use model::{
    Assignment, Filter, ProtocolFilter, SectionId, SectionStart, Setting, SettingPath, Settings,
    Value,
};
pub use plugin::{KNOWN_DRIVERS, UserSettings};
pub use types::{TYPED_SETTINGS, TypedSetting, ValueType};
pub use url::{HttpUrl, UrlError};
pub use value::ValueError;
pub use vars::{ExpandError, UserVars};
pub use version::DovecotVersion;

/// The configuration pn uses when no file is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.conf");

/// The name the embedded default configuration is shown under in locations.
pub const DEFAULT_CONFIG_NAME: &str = "<embedded default>";

/// A parsed configuration: every assignment with its filters, sections and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    source: PathBuf,
    assignments: Vec<Assignment>,
    sections: Vec<SectionStart>,
    warnings: Vec<Warning>,
    files: Vec<PathBuf>,
    /// Index of the first `-o` override in `assignments` (they come after the files' lines).
    overrides_from: Option<usize>,
    /// Per assignment (same index): where its value starts and the source line, for
    /// diagnostics about the value.
    value_sites: Vec<(Location, String)>,
}

impl Config {
    /// Reads and parses `path` and everything it includes.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with(path, &ParseOptions::default())
    }

    /// [`Config::load`] with explicit limits.
    pub fn load_with(path: &Path, options: &ParseOptions) -> Result<Config, ConfigError> {
        let text = loader::read_limited(path, options.max_file_size).map_err(|source| {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Config::parse_str(&text, path, options)
    }

    /// Parses `text` as if it were the file `name` (includes are relative to its directory).
    pub fn parse_str(
        text: &str,
        name: &Path,
        options: &ParseOptions,
    ) -> Result<Config, ConfigError> {
        let parsed = loader::Loader::new(options).run(text, name);
        if !parsed.errors.is_empty() {
            return Err(ConfigError::Invalid(parsed.errors));
        }
        Ok(Config {
            source: name.to_path_buf(),
            assignments: parsed.assignments,
            sections: parsed.sections,
            warnings: parsed.warnings,
            files: parsed.files,
            overrides_from: None,
            value_sites: parsed.value_sites,
        })
    }

    /// The embedded default configuration ([`DEFAULT_CONFIG`]): notify and push_notification
    /// for lmtp and lda, `push_notification_driver = dlog`, `mail_location = maildir:~/Maildir`.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        let options = ParseOptions {
            follow_includes: false,
            ..ParseOptions::default()
        };
        Config::parse_str(DEFAULT_CONFIG, Path::new(DEFAULT_CONFIG_NAME), &options)
    }

    /// Applies `-o key=value` overrides after everything else. As with doveadm's `-o`, an
    /// override wins over every line of the files, those under a `protocol` filter included.
    /// A key with `/` names a section setting: `plugin/push_notification_driver`.
    pub fn apply_overrides(&mut self, overrides: &[(String, String)]) {
        self.overrides_from.get_or_insert(self.assignments.len());
        for (key, value) in overrides {
            let n = self.assignments.len() + 1 - self.overrides_from.unwrap_or(0);
            let location = Location {
                file: PathBuf::from("-o"),
                line: u32::try_from(n).unwrap_or(u32::MAX),
                column: 1,
            };
            let value_column = u32::try_from(key.chars().count() + 2).unwrap_or(u32::MAX);
            self.value_sites.push((
                Location {
                    column: value_column,
                    ..location.clone()
                },
                format!("{key}={value}"),
            ));
            self.assignments.push(Assignment {
                filter: Filter::default(),
                path: SettingPath::parse(key),
                value: Value::Text(value.clone()),
                location,
            });
        }
    }

    fn is_override(&self, index: usize) -> bool {
        self.overrides_from.is_some_and(|from| index >= from)
    }

    /// The file it was loaded from (or [`DEFAULT_CONFIG_NAME`]).
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Every file read, the top-level one first.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// All assignments in file order (includes expanded in place).
    pub fn assignments(&self) -> &[Assignment] {
        &self.assignments
    }

    /// All section starts in file order.
    pub fn sections(&self) -> &[SectionStart] {
        &self.sections
    }

    /// Warnings found while parsing (e.g. an ambiguous `#`, an unset `$name`).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The settings in effect for `protocol`: global ones, then those of every matching
    /// `protocol` filter, later lines winning.
    pub fn effective(&self, protocol: &str) -> Settings {
        self.settings_for(Some(protocol))
    }

    /// The global settings only (no protocol filter applied).
    pub fn global(&self) -> Settings {
        self.settings_for(None)
    }

    fn settings_for(&self, protocol: Option<&str>) -> Settings {
        let mut settings = Settings {
            protocol: protocol.map(str::to_owned),
            ..Settings::default()
        };
        // Global first, then filtered: a filter overrides the global value wherever it is.
        // `-o` overrides come last and win over both.
        for pass in [Pass::Global, Pass::Filtered, Pass::Override] {
            for (seq, a) in self.assignments.iter().enumerate() {
                let this_pass = if self.is_override(seq) {
                    Pass::Override
                } else if a.filter.is_global() {
                    Pass::Global
                } else {
                    Pass::Filtered
                };
                if this_pass == pass && a.filter.applies_to(protocol) {
                    settings.map.insert(
                        a.path.clone(),
                        Setting {
                            value: a.value.clone(),
                            location: a.location.clone(),
                            seq,
                        },
                    );
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.sections {
            if s.filter.applies_to(protocol) && seen.insert(&s.sections) {
                settings
                    .sections
                    .push((s.sections.clone(), s.location.clone()));
            }
        }
        settings
    }

    /// The protocols this configuration mentions: `lmtp` and `lda` (where pn runs), the
    /// `protocols` setting, and every `protocol` filter.
    pub fn protocols(&self) -> Vec<String> {
        let mut out: Vec<String> = vec!["lmtp".to_owned(), "lda".to_owned()];
        let mut add = |p: &str| {
            if !p.is_empty() && !out.iter().any(|q| q == p) {
                out.push(p.to_owned());
            }
        };
        if let Some(s) = self.global().get("protocols") {
            for p in s.value.to_string().split([' ', ',']) {
                add(p);
            }
        }
        for a in &self.assignments {
            if let Some(ProtocolFilter::Is(p) | ProtocolFilter::Not(p)) = &a.filter.protocol {
                add(p);
            }
        }
        out
    }

    /// One user's plugin settings and drivers for `protocol` (see [`Settings::for_user`]).
    pub fn user_settings(
        &self,
        protocol: &str,
        user: &UserVars,
    ) -> Result<UserSettings, ConfigError> {
        self.effective(protocol).for_user(user)
    }
}

impl Config {
    /// Prints the assignments (and section starts) whose path `keep` accepts, in
    /// dovecot.conf syntax with filters and sections grouped; parsing the output gives the
    /// same settings. With [`Secrets::Hide`] secrets are hidden as doveconf hides them
    /// (then a hidden value reads back as empty).
    pub fn render(&self, keep: &dyn Fn(&SettingPath) -> bool, secrets: Secrets) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_filtered(&mut out, keep, secrets);
        out
    }

    fn write_filtered(
        &self,
        f: &mut impl fmt::Write,
        keep: &dyn Fn(&SettingPath) -> bool,
        secrets: Secrets,
    ) -> fmt::Result {
        let mut events: Vec<(&Location, Vec<String>, Option<&str>, String)> = Vec::new();
        let keep_section = |sections: &[SectionId]| {
            keep(&SettingPath {
                sections: sections.to_vec(),
                key: String::new(),
            })
        };
        let mut s = self
            .sections
            .iter()
            .filter(|st| keep_section(&st.sections))
            .peekable();
        for a in self.assignments.iter().filter(|a| keep(&a.path)) {
            while let Some(start) = s.next_if(|st| position_before(&st.location, &a.location)) {
                events.push((
                    &start.location,
                    print::frames(&start.filter, &start.sections),
                    None,
                    String::new(),
                ));
            }
            events.push((
                &a.location,
                print::frames(&a.filter, &a.path.sections),
                Some(a.path.key.as_str()),
                mask::shown(&a.path.key, print::quote_value(&a.value), secrets),
            ));
        }
        for start in s {
            events.push((
                &start.location,
                print::frames(&start.filter, &start.sections),
                None,
                String::new(),
            ));
        }
        print::write_items(f, events.into_iter().map(|(_, fr, k, v)| (fr, k, v)))
    }
}

/// Prints the whole configuration (see [`Config::render`]) after a comment naming its source.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# {}", self.source.display())?;
        self.write_filtered(f, &|_| true, Secrets::Show)
    }
}

/// The order in which assignments take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Global,
    Filtered,
    Override,
}

/// Orders section starts among assignments; both come from the same files in order, so
/// only the positions within one file are compared and anything else stays put.
fn position_before(a: &Location, b: &Location) -> bool {
    a.file == b.file && (a.line, a.column) < (b.line, b.column)
}

impl Settings {
    /// Prints the settings in effect whose path `keep` accepts, one block per section;
    /// secrets hidden or shown as [`Config::render`] does.
    pub fn render(&self, keep: &dyn Fn(&SettingPath) -> bool, secrets: Secrets) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_filtered(&mut out, keep, secrets);
        out
    }

    fn write_filtered(
        &self,
        f: &mut impl fmt::Write,
        keep: &dyn Fn(&SettingPath) -> bool,
        secrets: Secrets,
    ) -> fmt::Result {
        let mut items: Vec<(&SettingPath, &Setting)> =
            self.map.iter().filter(|(p, _)| keep(p)).collect();
        items.sort_by_key(|(p, _)| (p.sections.clone(), p.key.clone()));
        print::write_items(
            f,
            items.into_iter().map(|(p, s)| {
                (
                    print::frames(&Filter::default(), &p.sections),
                    Some(p.key.as_str()),
                    mask::shown(&p.key, print::quote_value(&s.value), secrets),
                )
            }),
        )
    }
}

/// Prints all settings in effect (see [`Settings::render`]).
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_filtered(f, &|_| true, Secrets::Show)
    }
}
