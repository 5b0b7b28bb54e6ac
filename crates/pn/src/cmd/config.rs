//! `pn config`: print and check the configuration.

use std::process::ExitCode;

use clap::Args;

use crate::Cli;
use crate::exit::{EX_NOINPUT, Failure};

/// Arguments of `pn config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Only the settings in effect for this protocol (lmtp, lda, imap, …).
    #[arg(short = 'p', long = "protocol")]
    pub(crate) protocol: Option<String>,
}

pub(crate) fn run(cli: &Cli, _args: &ConfigArgs) -> Result<ExitCode, Failure> {
    match &cli.config {
        Some(path) if !path.exists() => Err(Failure::new(
            EX_NOINPUT,
            format!("pn: {}: no such file", path.display()),
        )),
        _ => Ok(ExitCode::SUCCESS),
    }
}
