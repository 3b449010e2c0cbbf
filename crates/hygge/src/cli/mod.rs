//! The command line: the only place that prints.

mod debug;
pub mod error;
mod go;
mod incremental;
mod init;
mod journal_view;
mod logging;
mod output;
mod plan_view;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Diagnostics, Project};
use crate::plan::{self, EntityPlan, Overrides};
pub use error::{CliError, EXIT_FAILED, EXIT_INVALID, Outcome};

/// hygge moves tables and files from homes (sources) to stores (destinations), one entity
/// at a time, many entities in parallel.
#[derive(Debug, Parser)]
#[command(name = "hygge", version, about, long_about = None)]
pub struct Cli {
    /// The project folder (default: the nearest folder with a hygge.yml, from the current one up).
    #[arg(long, global = true, env = "HYGGE_PROJECT_DIR", value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// More output: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less output: warnings and errors only.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the project's flows.
    #[command(visible_alias = "start")]
    Go(GoArgs),
    /// Create a new project that runs at once, with a tiny sample dataset.
    Init(init::InitArgs),
    /// Validate the project, list its flows and entities, and check every home and store.
    Debug(debug::DebugArgs),
    /// Show the journal: the recent runs of each entity (status, rows, watermark).
    Journal(journal_view::JournalArgs),
}

/// How the run report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Lines for people (and a progress bar on a terminal).
    #[default]
    Text,
    /// The run report as JSON on stdout; lines for people go to stderr.
    Json,
}

/// `hygge go`.
#[derive(Debug, clap::Args)]
pub struct GoArgs {
    /// Run only these flows: base flow names (`users_to_lake`) or entity flow names
    /// (`users_to_lake_users`); repeatable and comma-separated.
    #[arg(short, long = "flow", value_name = "NAME", value_delimiter = ',')]
    flows: Vec<String>,
    /// Run only these entities, as `flow.entity`; repeatable and comma-separated.
    #[arg(
        short,
        long = "entity",
        value_name = "FLOW.ENTITY",
        value_delimiter = ','
    )]
    entities: Vec<String>,
    /// Entity flows that run at once (overrides options.concurrency; default 8).
    #[arg(short, long, value_name = "N")]
    concurrency: Option<usize>,
    /// Run every selected flow as incremental (append).
    #[arg(short, long)]
    incremental: bool,
    /// Run every selected flow as full_drop (replace).
    #[arg(short = 'd', long)]
    full_drop: bool,
    /// How to print the run report.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    /// Override a flow's configuration: flow.<flow>.<key>[.<key>...]=<value> (repeatable;
    /// the value is a YAML scalar, so `=1` is the number 1).
    #[arg(long = "var", value_name = "flow.FLOW.KEY=VALUE")]
    vars: Vec<String>,
    /// Print the plan (what each entity would read, write, replace or append) and stop:
    /// nothing is opened for writing and nothing is written. With --verbose, every setting.
    #[arg(long)]
    dry_run: bool,
}

/// Parses arguments, runs the command, and maps how it ended to an exit code (the table in
/// [`error`]). The one place that prints a [`CliError`].
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            let message = e.to_string();
            if !message.is_empty() {
                eprintln!("{message}");
            }
            if let Some(verdict) = e.verdict() {
                println!("{verdict}");
            }
            e.exit_code()
        }
    }
}

/// Runs the command.
fn run(cli: &Cli) -> Result<Outcome, CliError> {
    match &cli.command {
        Command::Go(args) => go::run(cli, args),
        Command::Init(args) => init::run(args),
        Command::Debug(args) => debug::run(cli, args),
        Command::Journal(args) => journal_view::run(cli, args),
    }
}

/// Finds and loads the project: the project and its diagnostics so far, which planning adds
/// to (see [`plan_project`]).
fn load_project(
    cli: &Cli,
    cli_vars: &[config::vars::CliVar],
) -> Result<(Project, Diagnostics), CliError> {
    let start = cli
        .project_dir
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    let hygge_yml = config::discover(&start).map_err(CliError::NoProject)?;
    let mut diags = Diagnostics::default();
    let env = |name: &str| std::env::var(name).ok();
    match config::load(&hygge_yml, &env, cli_vars, &mut diags) {
        Some(project) => Ok((project, diags)),
        None => Err(diags.into()),
    }
}

/// Plans every entity of the project. Valid: the plans, the configuration's warnings
/// printed. Invalid: every diagnostic, for the caller's error.
fn plan_project(
    project: &Project,
    overrides: &Overrides,
    diags: &mut Diagnostics,
) -> Result<Vec<EntityPlan>, Diagnostics> {
    let plans = plan::plan(project, overrides, diags);
    if diags.has_errors() {
        return Err(std::mem::take(diags));
    }
    for d in diags.warnings() {
        eprintln!("{d}");
    }
    Ok(plans)
}

/// The async runtime of a command.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}
