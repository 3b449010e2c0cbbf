//! `hygge journal`: the recent runs of each entity, from its journal.

use super::incremental::Journals;
use super::{Cli, CliError, Outcome, load_project, plan_project};
use crate::journal::JournalEntry;
use crate::plan::{EntityPlan, Overrides};

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
    /// Show each entity's schema history instead: the columns of its first snapshot, then
    /// what changed run by run (newest first).
    #[arg(long)]
    pub schema: bool,
}

/// Prints each selected entity's recent runs; the journals that cannot be read are named
/// after the others are shown.
pub fn run(cli: &Cli, args: &JournalArgs) -> Result<Outcome, CliError> {
    let (project, mut diags) = load_project(cli, &[])?;
    let plans = plan_project(&project, &Overrides::default(), &mut diags)?;
    let plans =
        super::go::select(plans, &args.flows, &args.entities).map_err(CliError::CommandLine)?;
    let mut journals = Journals::default();
    let mut unreadable = Vec::new();
    if !args.schema {
        println!(
            "{:<32} {:<8} {:<12} {:>12} {:>9}  {:<26} watermark",
            "entity", "status", "run type", "rows", "seconds", "finished"
        );
    }
    for p in &plans {
        let Some(dir) = &p.journal else {
            println!("{:<32} (no journal configured)", p.name);
            continue;
        };
        let all;
        let entries = if args.all {
            all = dir.journal().read_all().map_err(|e| e.to_string());
            all.as_deref().map_err(Clone::clone)
        } else {
            journals.read(dir)
        };
        match entries {
            Ok(entries) if args.schema => print_schemas(p, entries, args.last),
            Ok(entries) => print_runs(p, entries, args.last),
            Err(e) => unreadable.push(format!("{}: {e}", p.name)),
        }
    }
    if unreadable.is_empty() {
        Ok(Outcome::Succeeded)
    } else {
        Err(CliError::Journal(unreadable))
    }
}

/// The entity's schema snapshots (successful runs), newest first: what changed from the
/// snapshot before, and the whole first one.
fn print_schemas(p: &EntityPlan, entries: &[JournalEntry], last: usize) {
    use hygge_core::schema::{diff, from_json, table};
    let snaps: Vec<(String, arrow::datatypes::Schema)> = entries
        .iter()
        .filter(|e| e.flow == p.flow && e.entity == p.entity && e.status == "success")
        .filter_map(|e| {
            let v = serde_json::from_str(e.arrow_schema.as_deref()?).ok()?;
            Some((
                e.finish_time.chars().take(26).collect(),
                from_json(&v).ok()?,
            ))
        })
        .collect();
    println!("{}", p.name);
    if snaps.is_empty() {
        println!("  (no schema snapshot yet)");
    }
    for i in (0..snaps.len()).rev().take(last) {
        let (at, schema) = &snaps[i];
        if i == 0 {
            println!("  {at}  first snapshot, {} columns:", schema.fields().len());
            for f in schema.fields() {
                let null = if f.is_nullable() { "" } else { " not null" };
                println!("    {}  {}{null}", f.name(), f.data_type());
            }
            continue;
        }
        let changes = diff(&snaps[i - 1].1, schema);
        if changes.is_empty() {
            println!("  {at}  unchanged ({} columns)", schema.fields().len());
        } else {
            println!("  {at}  {} change(s):", changes.len());
            for line in table(&changes).lines() {
                println!("  {line}");
            }
        }
    }
}

/// The entity's last `last` runs in the journal, newest first.
fn print_runs(p: &EntityPlan, entries: &[JournalEntry], last: usize) {
    let mine: Vec<_> = entries
        .iter()
        .filter(|e| e.flow == p.flow && e.entity == p.entity)
        .collect();
    if mine.is_empty() {
        println!("{:<32} (no runs yet)", p.name);
    }
    for e in mine.iter().rev().take(last) {
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
