//! tracing-subscriber setup: text or JSON lines on stderr.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter used when neither `--log` nor `PN_LOG` is given. Dovecot writes dlog lines
/// unconditionally, so configuring dlog means wanting to see them: its target is on by default.
pub(crate) const DEFAULT_FILTER: &str = "info,pn_driver_dlog=debug";

pub(crate) fn init(filter: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter.unwrap_or(DEFAULT_FILTER))
        .map_err(|e| anyhow::anyhow!("invalid log filter: {e}"))?;
    // Colours only for a terminal (and never with NO_COLOR): piped logs stay greppable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
