//! Loading the configuration for any subcommand: `-c FILE` / `PN_CONFIG` or the embedded
//! default, then `-o key=value` overrides. Configuration errors become messages and exit
//! codes here.

use pn_config::{Config, ConfigError};

use crate::Cli;
use crate::exit::{EX_NOINPUT, EX_USAGE, Failure};

/// The configuration the command line selects, with its overrides applied. A value of the
/// wrong type anywhere (`first_valid_uid = PH_FIRST_VALID_UID`) is refused here, for every
/// command, as Dovecot refuses to start on one.
pub(crate) fn load(cli: &Cli) -> Result<Config, Failure> {
    let config = load_unchecked(cli)?;
    config.check_values().map_err(failure)?;
    Ok(config)
}

/// [`load`] without the type check, for `pn config check`, which reports those errors
/// together with the rest.
pub(crate) fn load_unchecked(cli: &Cli) -> Result<Config, Failure> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path),
        None => Config::embedded_default(),
    }
    .map_err(failure)?;
    config.apply_overrides(&cli.overrides);
    Ok(config)
}

/// How a configuration error is reported: an unreadable file is EX_NOINPUT, everything
/// else (syntax, includes, values) is EX_USAGE with the located messages.
pub(crate) fn failure(e: ConfigError) -> Failure {
    match e {
        ConfigError::Read { .. } => Failure::new(EX_NOINPUT, format!("pn: {e}")),
        ConfigError::Invalid(diagnostics) => Failure::new(
            EX_USAGE,
            diagnostics
                .iter()
                .map(|d| format!("pn: {d}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        e => Failure::new(EX_USAGE, format!("pn: {e}")),
    }
}
