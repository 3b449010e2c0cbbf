//! `hygge journal`: the recent runs of each entity, from its journal.

use std::process::ExitCode;

use super::{Cli, load_project, print_diagnostics};
use crate::plan::{self, Overrides};

/// `hygge journal` options.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// Only these flows (repeatable, or comma-separated).
    #[arg(long = "flow", value_delimiter = ',')]
    pub flows: Vec<String>,
    /// Only this entity (`flow.entity`).
    #[arg(long = "entity", value_delimiter = ',')]
    pub entities: Vec<String>,
    /// Runs shown per entity (newest first).
    #[arg(short = 'n', long, default_value_t = 5)]
    pub last: usize,
    /// Read the archives too (`journal-archive-*.parquet`: older runs the journal moved
    /// out of `journal.parquet` to keep it small), not only the recent runs.
    #[arg(long)]
    pub all: bool,
}

pub fn run(cli: &Cli, args: &JournalArgs) -> ExitCode {
    let Some((project, mut diags)) = load_project(cli, &[]) else {
        return super::invalid();
    };
    let plans = plan::plan(&project, &Overrides::default(), &mut diags);
    print_diagnostics(&diags);
    if diags.has_errors() {
        return super::invalid();
    }
    let plans = match super::go::select(plans, &args.flows, &args.entities) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("Error: {msg}");
            return super::invalid();
        }
    };
    let mut journals = super::incremental::Journals::default();
    let mut failed = false;
    println!(
        "{:<32} {:<8} {:<12} {:>12} {:>9}  {:<26} watermark",
        "entity", "status", "run type", "rows", "seconds", "finished"
    );
    for p in &plans {
        let Some(dir) = &p.journal else {
            println!("{:<32} (no journal configured)", p.name);
            continue;
        };
        let all;
        let entries = match if args.all {
            all = crate::journal::Journal::at(dir)
                .read_all()
                .map_err(|e| e.to_string());
            all.as_deref().map_err(Clone::clone)
        } else {
            journals.read(dir)
        } {
            Ok(e) => e,
            Err(e) => {
                eprintln!("Error: {}: {e}", p.name);
                failed = true;
                continue;
            }
        };
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| e.flow == p.flow && e.entity == p.entity)
            .collect();
        if mine.is_empty() {
            println!("{:<32} (no runs yet)", p.name);
        }
        for e in mine.iter().rev().take(args.last) {
            println!(
                "{:<32} {:<8} {:<12} {:>12} {:>9.2}  {:<26} {}",
                p.name,
                e.status,
                e.run_type,
                e.row_count,
                e.duration,
                e.finish_time.chars().take(26).collect::<String>(),
                e.watermark.as_deref().unwrap_or("-")
            );
            if let Some(m) = e.message.as_deref().filter(|m| !m.is_empty()) {
                println!("{:<32}   {m}", "");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
