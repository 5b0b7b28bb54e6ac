//! `pn config`: print and check the configuration.
//!
//! * `pn config [-p PROTOCOL]`: the settings that matter to pn, like `doveconf -n`.
//! * `pn config check`: exit 0 (warnings on stderr) or 64 with the located errors.
//! * `pn config drivers [-p PROTOCOL]`: driver instances with parsed arguments, URL
//!   passwords masked.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use pn_config::{Config, DriverSpec, SettingPath, Warning, mask_url_secrets};

use crate::Cli;
use crate::exit::{EX_SOFTWARE, Failure};
use crate::settings;

/// Arguments of `pn config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Only the settings in effect for this protocol (lmtp, lda, imap, …).
    #[arg(short = 'p', long = "protocol", global = true)]
    pub(crate) protocol: Option<String>,

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
    let config = settings::load(cli)?;
    let mut out = String::new();
    match args.action {
        None => print_settings(&config, args.protocol.as_deref(), &mut out),
        Some(ConfigAction::Check) => check(&config, &mut out)?,
        Some(ConfigAction::Drivers) => {
            drivers(
                &config,
                args.protocol.as_deref().unwrap_or("lmtp"),
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

fn print_settings(config: &Config, protocol: Option<&str>, out: &mut String) {
    out.push_str(&format!("# pn config: {}\n", config.source().display()));
    let keep = |p: &SettingPath| p.is_relevant_to_pn();
    match protocol {
        None => out.push_str(&config.render(&keep)),
        Some(protocol) => {
            let settings = config.effective(protocol);
            out.push_str(&format!("# effective settings for protocol {protocol}\n"));
            out.push_str(&settings.render(&keep));
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

fn check(config: &Config, out: &mut String) -> Result<(), Failure> {
    let warnings = config.check().map_err(settings::failure)?;
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
    warn_all(&warnings);
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

fn drivers(config: &Config, protocol: &str, out: &mut String) -> Result<(), Failure> {
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
        write_spec(spec, out);
    }
    if !backends.is_empty() {
        out.push_str("# legacy push_notification_backend list (used only if no driver loads)\n");
        for spec in &backends {
            write_spec(spec, out);
        }
    }
    Ok(())
}

fn write_spec(spec: &DriverSpec, out: &mut String) {
    let at = spec
        .location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    out.push_str(&format!("{}{at}\n  driver: {}\n", spec.key, spec.name));
    match &spec.raw_args {
        None => out.push_str("  args: (none)\n"),
        Some(raw) => {
            out.push_str(&format!("  args: {:?}\n", mask_url_secrets(raw)));
            for (key, value) in spec.args.iter() {
                if value.is_empty() {
                    out.push_str(&format!("    {key} (flag)\n"));
                } else {
                    out.push_str(&format!("    {key} = {}\n", mask_url_secrets(value)));
                }
            }
        }
    }
}
