//! `pn webpush keygen`: a new VAPID (RFC 8292) key pair for the `webpush` driver, printed as
//! the two plugin settings to paste into the configuration. The public key is also what
//! browsers need as `applicationServerKey` when they subscribe.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::exit::{EX_SOFTWARE, Failure};

/// Arguments of `pn webpush`.
#[derive(Debug, Args)]
pub(crate) struct WebpushArgs {
    #[command(subcommand)]
    command: WebpushCommand,
}

#[derive(Debug, Subcommand)]
enum WebpushCommand {
    /// Make a VAPID key pair and print it as `plugin { }` settings.
    Keygen,
}

/// Runs `pn webpush …`.
pub(crate) fn run(args: &WebpushArgs) -> Result<ExitCode, Failure> {
    match args.command {
        WebpushCommand::Keygen => keygen(),
    }
}

fn keygen() -> Result<ExitCode, Failure> {
    let (private, public) = pn_driver_push::webpush::vapid::keygen()
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("pn webpush keygen: {e}")))?;
    let text = format!(
        "# VAPID keys for the webpush driver (made by pn webpush keygen); keep the private one secret.\n\
         {} = {private}\n{} = {public}\n",
        pn_driver_push::webpush::PRIVATE_KEY_SETTING,
        pn_driver_push::webpush::PUBLIC_KEY_SETTING,
    );
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("pn webpush keygen: stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
