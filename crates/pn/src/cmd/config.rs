//! `pn config`: print and check the configuration.
//!
//! * `pn config [-p PROTOCOL] [-P]`: the settings that matter to pn, like `doveconf -n`;
//!   secrets hidden as doveconf hides them unless `-P` is given.
//! * `pn config check`: exit 0 (warnings on stderr) or 64 with the located errors.
//! * `pn config drivers [-p PROTOCOL]`: driver instances with parsed arguments, URL
//!   URL passwords masked unless `-P` is given.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pn_config::{Config, DriverSpec, Secrets, SettingPath, Warning, mask_url_secrets};

use crate::Cli;
use crate::exit::{EX_SOFTWARE, EX_USAGE, Failure};
use crate::settings;
use pn_userdb::{UserDb, UserDbBackend};

/// Arguments of `pn config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Only the settings in effect for this protocol (lmtp, lda, imap, …).
    #[arg(short = 'p', long = "protocol", global = true)]
    pub(crate) protocol: Option<String>,

    /// Show secrets (passwords, keys, the user part of HTTP URLs), which are hidden by
    /// default as `doveconf` hides them.
    #[arg(short = 'P', long = "show-secrets", global = true)]
    pub(crate) show_secrets: bool,

    #[command(subcommand)]
    pub(crate) action: Option<ConfigAction>,
}

/// What `pn config` does besides printing.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Parse the configuration; exit 64 with located errors, or 0 and print warnings.
    Check,
    /// List the push-notification driver instances and their parsed arguments.
    Drivers,
}

pub(crate) fn run(cli: &Cli, args: &ConfigArgs) -> Result<ExitCode, Failure> {
    let config = match args.action {
        Some(ConfigAction::Check) => settings::load_unchecked(cli)?,
        _ => settings::load(cli)?,
    };
    let mut out = String::new();
    let secrets = if args.show_secrets {
        Secrets::Show
    } else {
        Secrets::Hide
    };
    match args.action {
        None => print_settings(&config, args.protocol.as_deref(), secrets, &mut out),
        Some(ConfigAction::Check) => check(&config, &mut out)?,
        Some(ConfigAction::Drivers) => {
            drivers(
                &config,
                args.protocol.as_deref().unwrap_or("lmtp"),
                secrets,
                &mut out,
            )?;
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("pn: cannot write output: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

fn print_settings(config: &Config, protocol: Option<&str>, secrets: Secrets, out: &mut String) {
    out.push_str(&format!("# pn config: {}\n", config.source().display()));
    let keep = |p: &SettingPath| p.is_relevant_to_pn();
    match protocol {
        None => out.push_str(&config.render(&keep, secrets)),
        Some(protocol) => {
            let settings = config.effective(protocol);
            out.push_str(&format!("# effective settings for protocol {protocol}\n"));
            out.push_str(&settings.render(&keep, secrets));
            out.push_str(&format!(
                "# mail_plugins for {protocol}: {} (push notifications {})\n",
                settings.mail_plugins().join(" "),
                if settings.push_notification_loaded() {
                    "loaded"
                } else {
                    "NOT loaded"
                }
            ));
        }
    }
    warn_all(config.warnings());
}

fn warn_all(warnings: &[Warning]) {
    #[allow(clippy::print_stderr)]
    for w in warnings {
        eprintln!("pn: warning: {w}");
    }
}

pub(crate) fn check(config: &Config, out: &mut String) -> Result<(), Failure> {
    let mut warnings = config.check().map_err(settings::failure)?;
    check_userdb(config, &mut warnings)?;
    check_lua_files(config)?;
    // The outbox settings (pn_outbox, pn_retry_*, pn_endpoint_*, pn_deliver_push_wait).
    for protocol in ["lda", "lmtp"] {
        let effective = config.effective(protocol);
        crate::cmd::dispatch::check(|k| {
            effective
                .get(k)
                .map(|s| s.value.to_string())
                .filter(|v| !v.is_empty())
        })
        .map_err(|e| Failure::new(crate::exit::EX_USAGE, format!("pn: {e}")))?;
    }
    for protocol in ["lda", "lmtp", "bridge"] {
        let effective = config.effective(protocol);
        crate::metrics::listen_address(
            effective
                .get("pn_metrics_listen")
                .map(|s| s.value.to_string()),
        )
        .map_err(|e| Failure::new(crate::exit::EX_USAGE, format!("pn: {e}")))?;
    }
    warn_all(&warnings);
    check_webhook(config)?;
    out.push_str(&format!(
        "{}: OK ({} file{}, {} warning{})\n",
        config.source().display(),
        config.files().len(),
        if config.files().len() == 1 { "" } else { "s" },
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" },
    ));
    Ok(())
}

/// The webhook driver's arguments are pn's own, so a mistake is an error (the driver would not
/// load), reported at the line that has it.
fn check_webhook(config: &Config) -> Result<(), Failure> {
    let mut errors: Vec<String> = Vec::new();
    for protocol in config.protocols() {
        let settings = config.effective(&protocol);
        let specs = settings.drivers().map_err(settings::failure)?;
        let backends = settings.backends().map_err(settings::failure)?;
        for spec in specs.iter().chain(&backends) {
            let error = if spec.name.eq_ignore_ascii_case(pn_driver_webhook::NAME) {
                pn_driver_webhook::WebhookConfig::from_spec(spec)
                    .err()
                    .map(|e| e.to_string())
            } else if spec
                .name
                .eq_ignore_ascii_case(pn_driver_push::devicetoken::NAME)
            {
                pn_driver_push::devicetoken::DeviceTokenConfig::from_spec(spec)
                    .err()
                    .map(|e| e.to_string())
            } else {
                None
            };
            if let Some(e) = error {
                let at = spec
                    .location
                    .as_ref()
                    .map(|l| format!("{l}: "))
                    .unwrap_or_default();
                let line = format!("pn: {at}{}: {}: {e}", spec.key, spec.name);
                if !errors.contains(&line) {
                    errors.push(line);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(crate::exit::EX_USAGE, errors.join("\n")))
    }
}

/// The userdb a delivery would use: a `userdb { }` pn cannot use is an error (a delivery would
/// fail with it), a passwd-file that does not exist a warning (every user would be unknown).
fn check_userdb(config: &Config, warnings: &mut Vec<Warning>) -> Result<(), Failure> {
    let mut seen: Vec<String> = Vec::new();
    for protocol in ["lmtp", "lda"] {
        let settings = config.effective(protocol);
        let data_dir = crate::session::data_dir(None);
        let userdb = match UserDb::from_settings(&settings, &data_dir) {
            Ok(userdb) => userdb,
            // A Dovecot userdb driver pn does not implement (Debian's default `passwd`, sql,
            // ldap …) is a valid Dovecot configuration: pn warns that its users are unknown
            // to it. A malformed section stays an error.
            Err(e) if e.to_string().contains("unsupported userdb driver") => {
                let message =
                    format!("{e}: pn cannot look up these users (deliveries to them fail)");
                if !warnings.iter().any(|w| w.message == message) {
                    warnings.push(Warning {
                        location: None,
                        message,
                    });
                }
                continue;
            }
            Err(e) => return Err(Failure::new(EX_USAGE, format!("pn: {e}"))),
        };
        for backend in userdb.backends() {
            let UserDbBackend::PasswdFile(file) = backend else {
                continue;
            };
            let path = file.path();
            if path.contains('%') || seen.iter().any(|p| p == path) {
                continue;
            }
            seen.push(path.to_owned());
            if let Err(e) = std::fs::metadata(path) {
                warnings.push(Warning {
                    location: passwd_file_location(&settings, path),
                    message: format!(
                        "userdb passwd-file: {path}: {e} (every user would be unknown)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Dovecot 2.4 opens every `push_notification NAME { lua_file = … }` when it reads the
/// configuration and refuses to start without it; so does the check (a path with `%`
/// variables is left to delivery time).
fn check_lua_files(config: &Config) -> Result<(), Failure> {
    for protocol in config.protocols() {
        let settings = config.effective(&protocol);
        for (path, setting) in settings.iter() {
            let [filter] = path.sections.as_slice() else {
                continue;
            };
            if filter.kind != "push_notification" || filter.name.is_none() || path.key != "lua_file"
            {
                continue;
            }
            let file = setting.value.to_string();
            if file.contains('%') {
                continue;
            }
            if let Err(e) = std::fs::File::open(&file) {
                let e = e.to_string();
                let e = e.split(" (os error").next().unwrap_or(&e);
                return Err(Failure::new(
                    EX_USAGE,
                    format!(
                        "pn: {}: lua_file: open({file}) failed: {e}",
                        setting.location
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Where a userdb's passwd-file path was set.
fn passwd_file_location(settings: &pn_config::Settings, path: &str) -> Option<pn_config::Location> {
    settings
        .iter()
        .find(|(p, s)| {
            p.sections.first().is_some_and(|s| s.kind == "userdb")
                && matches!(p.key.as_str(), "args" | "passwd_file_path")
                && s.value.to_string().ends_with(path)
        })
        .map(|(_, s)| s.location.clone())
}

fn drivers(
    config: &Config,
    protocol: &str,
    secrets: Secrets,
    out: &mut String,
) -> Result<(), Failure> {
    let settings = config.effective(protocol);
    let drivers = settings.drivers().map_err(settings::failure)?;
    let backends = settings.backends().map_err(settings::failure)?;
    out.push_str(&format!(
        "# push-notification drivers for protocol {protocol}\n"
    ));
    if !settings.push_notification_loaded() {
        out.push_str(&format!(
            "# warning: notify and push_notification are not both in mail_plugins for {protocol}\n"
        ));
    }
    if drivers.is_empty() && backends.is_empty() {
        out.push_str("# (none configured)\n");
    }
    for spec in &drivers {
        write_spec(spec, secrets, out);
    }
    if !backends.is_empty() {
        out.push_str("# legacy push_notification_backend list (used only if no driver loads)\n");
        for spec in &backends {
            write_spec(spec, secrets, out);
        }
    }
    Ok(())
}

fn write_spec(spec: &DriverSpec, secrets: Secrets, out: &mut String) {
    let mask = |v: &str| match secrets {
        Secrets::Hide => mask_url_secrets(v),
        Secrets::Show => v.to_owned(),
    };
    let at = spec
        .location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    out.push_str(&format!("{}{at}\n  driver: {}\n", spec.key, spec.name));
    match &spec.raw_args {
        None => out.push_str("  args: (none)\n"),
        Some(raw) => {
            let raw = match secrets {
                Secrets::Hide => mask_args(raw),
                Secrets::Show => raw.clone(),
            };
            out.push_str(&format!(
                "  args: {:?}
",
                mask(&raw)
            ));
            for (key, value) in spec.args.iter() {
                if value.is_empty() {
                    out.push_str(&format!("    {key} (flag)\n"));
                } else if secrets == Secrets::Hide && SECRET_ARGS.contains(&key) {
                    out.push_str(&format!("    {key} = ***\n"));
                } else {
                    out.push_str(&format!("    {key} = {}\n", mask(value)));
                }
            }
        }
    }
}

/// Driver arguments whose values are secrets (the webhook driver's signing secrets and
/// notifier tokens): never printed.
const SECRET_ARGS: [&str; 2] = ["secret", "token"];

/// `raw` with the values of [`SECRET_ARGS`] replaced by `***`.
fn mask_args(raw: &str) -> String {
    raw.split(' ')
        .map(|token| match token.split_once('=') {
            Some((key, _)) if SECRET_ARGS.contains(&key) => format!("{key}=***"),
            _ => token.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}
