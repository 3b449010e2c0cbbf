//! How a command ends: an [`Outcome`] when it ran to its end and printed its report, or a
//! [`CliError`] when it stopped. [`super::main`] is the one place that prints a `CliError`
//! and maps both to the process's exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success ([`Outcome::Succeeded`]) |
//! | 1 ([`EXIT_FAILED`]) | something failed: an entity (or its journal entry could not be written), a check of `hygge debug` ([`Outcome::Failed`]: the report says which); the runtime could not start, a journal could not be read, `hygge init` could not write ([`CliError`]); retrying later may help |
//! | 2 ([`EXIT_INVALID`]) | the configuration or the command line is invalid: nothing ran ([`CliError`]); fix the YAML or the arguments |

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Diagnostics;

/// Exit code: something failed (see the module's table).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the configuration or the command line is invalid; nothing ran.
pub const EXIT_INVALID: u8 = 2;

/// How a command that ran to its end went. What failed is in the report it printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Succeeded,
    /// Exit 1: an entity or a check failed, and the command's report says which.
    Failed,
}

impl Outcome {
    /// `Succeeded` when `ok`, else `Failed`.
    pub fn from_ok(ok: bool) -> Self {
        if ok { Self::Succeeded } else { Self::Failed }
    }

    /// The process's exit code.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Succeeded => ExitCode::SUCCESS,
            Self::Failed => ExitCode::from(EXIT_FAILED),
        }
    }
}

/// Why a command stopped. Its `Display` is the whole message as printed on stderr (prefix
/// included); [`CliError::exit_code`] says 2 (invalid) or 1 (failed).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid (2): arguments that cannot go together or name nothing.
    #[error("Error: {0}")]
    CommandLine(String),
    /// Invalid (2): no project was found.
    #[error("Configuration error: {0}")]
    NoProject(String),
    /// Invalid (2): the configuration has errors. Printed as every diagnostic (warnings
    /// first, errors last) and a count; then `verdict`, if any, on stdout (`hygge debug`
    /// ends its report with it).
    #[error("{}", diagnostics_text(diags))]
    Config {
        /// Every diagnostic found, errors among them.
        diags: Diagnostics,
        /// The command's last line of report, said after the errors.
        verdict: Option<&'static str>,
    },
    /// Invalid (2): `hygge init` was given a folder that exists, without `--force`.
    #[error(
        "Error: {} already exists; choose another name, or use --force to write into it",
        .0.display()
    )]
    ProjectExists(PathBuf),
    /// Failed (1): the async runtime could not start.
    #[error("Error: cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// Failed (1): journals that could not be read, or hold what hygge cannot use; one
    /// message each, naming the entity.
    #[error("{}", error_lines(.0))]
    Journal(Vec<String>),
    /// Failed (1): `hygge init` could not write the project.
    #[error("Error: cannot create the project in {}: {message}", path.display())]
    CreateProject {
        /// The project folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl CliError {
    /// The process's exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::CommandLine(_)
            | Self::NoProject(_)
            | Self::Config { .. }
            | Self::ProjectExists(_) => EXIT_INVALID,
            Self::Runtime(_) | Self::Journal(_) | Self::CreateProject { .. } => EXIT_FAILED,
        })
    }

    /// A line the command says on stdout after the error (see [`CliError::Config`]).
    pub fn verdict(&self) -> Option<&'static str> {
        match self {
            Self::Config { verdict, .. } => *verdict,
            _ => None,
        }
    }
}

impl From<Diagnostics> for CliError {
    fn from(diags: Diagnostics) -> Self {
        Self::Config {
            diags,
            verdict: None,
        }
    }
}

/// Diagnostics as printed, errors last, with a count when there are errors.
fn diagnostics_text(diags: &Diagnostics) -> String {
    let mut lines: Vec<String> = diags.warnings().map(ToString::to_string).collect();
    let errors: Vec<String> = diags.errors().map(ToString::to_string).collect();
    if !errors.is_empty() {
        let count = format!(
            "Configuration error: {} problem{} found; nothing was run.",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        lines.extend(errors);
        lines.push(count);
    }
    lines.join("\n")
}

/// `Error: <message>`, one line each.
fn error_lines(messages: &[String]) -> String {
    messages
        .iter()
        .map(|m| format!("Error: {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}
