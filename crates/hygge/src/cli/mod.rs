//! The command line: the only place that prints.

mod debug;
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

/// Parses arguments, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Go(ref args) => go::run(&cli, args),
        Command::Init(ref args) => init::run(args),
        Command::Debug(ref args) => debug::run(&cli, args),
        Command::Journal(ref args) => journal_view::run(&cli, args),
    }
}

/// Exit codes: 0 success; 1 an entity failed (or its journal entry could not be written), or
/// the run could not start (no runtime, an unreadable journal); 2 the configuration or the
/// command line is invalid: nothing ran.
pub const EXIT_FAILED: u8 = 1;
/// See [`EXIT_FAILED`].
pub const EXIT_INVALID: u8 = 2;

/// The exit code of an invalid configuration or command line.
fn invalid() -> ExitCode {
    ExitCode::from(EXIT_INVALID)
}

/// Finds and loads the project. `None` (after printing why) when there is no project;
/// otherwise the project and its diagnostics so far, printed by the caller.
fn load_project(cli: &Cli, cli_vars: &[config::vars::CliVar]) -> Option<(Project, Diagnostics)> {
    let start = cli
        .project_dir
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    let hygge_yml = match config::discover(&start) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("Configuration error: {msg}");
            return None;
        }
    };
    let mut diags = Diagnostics::default();
    let env = |name: &str| std::env::var(name).ok();
    match config::load(&hygge_yml, &env, cli_vars, &mut diags) {
        Some(project) => Some((project, diags)),
        None => {
            print_diagnostics(&diags);
            None
        }
    }
}

/// The async runtime of a command; `None` (after saying why) if it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            None
        }
    }
}

/// Prints diagnostics to stderr, errors last, with a count.
fn print_diagnostics(diags: &Diagnostics) {
    for d in diags.warnings() {
        eprintln!("{d}");
    }
    let errors: Vec<_> = diags.errors().collect();
    for d in &errors {
        eprintln!("{d}");
    }
    if !errors.is_empty() {
        eprintln!(
            "Configuration error: {} problem{} found; nothing was run.",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
    }
}
