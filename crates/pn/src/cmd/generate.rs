//! `pn completions SHELL` and `pn generate-man DIR`: shell completions and man pages made from
//! the clap definition itself, so they never drift from what the binary accepts. `cargo xtask
//! dist` and `cargo xtask deb` call these on the built binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};

use crate::Cli;
use crate::exit::{EX_SOFTWARE, Failure};

/// A shell pn writes completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// GNU bash (`/usr/share/bash-completion/completions/pn`).
    Bash,
    /// zsh (`/usr/share/zsh/vendor-completions/_pn`).
    Zsh,
    /// fish (`/usr/share/fish/vendor_completions.d/pn.fish`).
    Fish,
}

/// Arguments of `pn completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write a completion script for (on stdout).
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `pn generate-man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Directory to write `pn.1` and one `pn-COMMAND.1` per subcommand into (created).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Writes the completion script for the chosen shell to stdout.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<ExitCode, Failure> {
    use clap_complete::Generator;
    use std::io::Write;

    let mut command = Cli::command();
    command.set_bin_name("pn");
    command.build();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // `clap_complete::generate` panics when stdout goes away (`| head`); this reports instead.
    let mut script = Vec::new();
    shell
        .try_generate(&command, &mut script)
        .and_then(|()| std::io::stdout().lock().write_all(&script))
        .map_err(|e| {
            Failure::new(
                EX_SOFTWARE,
                format!("pn: cannot write the completions: {e}"),
            )
        })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the man pages into the directory.
pub(crate) fn man(args: &ManArgs) -> Result<ExitCode, Failure> {
    std::fs::create_dir_all(&args.dir).map_err(|e| {
        Failure::new(
            EX_SOFTWARE,
            format!("pn: cannot create {}: {e}", args.dir.display()),
        )
    })?;
    let mut command = Cli::command();
    command.build();
    write_pages(&command, "pn", &args.dir)?;
    Ok(ExitCode::SUCCESS)
}

/// One page for `command` named `name`, then one per visible subcommand (`pn-mailbox-create.1`
/// …), the way git and doveadm name theirs.
fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> Result<(), Failure> {
    let page = command.clone().name(name.to_owned());
    let mut text = Vec::new();
    clap_mangen::Man::new(page).render(&mut text).map_err(|e| {
        Failure::new(
            EX_SOFTWARE,
            format!("pn: cannot render the man page of {name}: {e}"),
        )
    })?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, text).map_err(|e| {
        Failure::new(
            EX_SOFTWARE,
            format!("pn: cannot write {}: {e}", path.display()),
        )
    })?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
