//! Exit codes (sysexits.h, as doveadm uses them) and the one place errors are printed.

use std::process::ExitCode;

/// Command line usage error.
pub(crate) const EX_USAGE: u8 = 64;
/// Input data was incorrect (doveadm's "not possible").
#[allow(dead_code)]
pub(crate) const EX_DATAERR: u8 = 65;
/// An input file did not exist or was not readable.
pub(crate) const EX_NOINPUT: u8 = 66;
/// The user does not exist (doveadm's "User doesn't exist").
pub(crate) const EX_NOUSER: u8 = 67;
/// Not found (doveadm's `DOVEADM_EX_NOTFOUND`, e.g. a missing mailbox).
pub(crate) const EX_NOHOST: u8 = 68;
/// Permission denied.
pub(crate) const EX_NOPERM: u8 = 77;
/// Internal software error.
pub(crate) const EX_SOFTWARE: u8 = 70;
/// Temporary failure; the caller may retry.
#[allow(dead_code)]
pub(crate) const EX_TEMPFAIL: u8 = 75;

/// A command's failure: what to tell the user and which exit code to return.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// Prints the message to stderr and gives the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{}", self.message);
            }
        }
        ExitCode::from(self.code)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::new(EX_SOFTWARE, format!("pn: {e:#}"))
    }
}
