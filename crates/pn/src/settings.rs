//! Loading the configuration for any subcommand: `-c FILE` / `PN_CONFIG` or the embedded
//! default, then `-o key=value` overrides. Configuration errors become messages and exit
//! codes here.

use pn_config::{Config, ConfigError};

use crate::Cli;
use crate::exit::{EX_NOINPUT, EX_USAGE, Failure};

/// The configuration the command line selects, with its overrides applied.
pub(crate) fn load(cli: &Cli) -> Result<Config, Failure> {
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
