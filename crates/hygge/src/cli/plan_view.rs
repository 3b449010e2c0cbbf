//! `hygge go --dry-run`: the plan, per entity, without reading or writing any data.

use crate::config::Project;
use crate::plan::EntityPlan;
use hygge_core::RunType;

use super::incremental::Start;

/// Prints the plan. One line per entity; with `verbose`, a block with every setting
/// (including the watermark column, which the original's verbose plan never showed: B5).
pub fn print(
    project: &Project,
    plans: &[EntityPlan],
    starts: &[Start],
    concurrency: usize,
    verbose: bool,
) {
    println!(
        "Plan for project {} · {} entit{} · concurrency {} · dry run: no data is read or written",
        project.name,
        plans.len(),
        if plans.len() == 1 { "y" } else { "ies" },
        concurrency
    );
    for (p, start) in plans.iter().zip(starts) {
        let run_type = start.run_type;
        let action = p.store.preview(&p.entity, &p.name, run_type);
        let watermark = match (&p.watermark, run_type) {
            (Some(w), _) => format!(
                "column `{}`, primary key `{}`; {}",
                w.watermark_column, w.primary_key, start.note
            ),
            (None, RunType::Incremental) => {
                "none: every row the home holds is appended".to_string()
            }
            (None, RunType::FullDrop) => "none".to_string(),
        };
        if verbose {
            println!();
            println!("{}", p.name);
            println!("  home:      {}", p.home.summary(&p.entity));
            println!("  store:     {}", p.store.summary(&p.entity));
            println!("  run type:  {run_type} — {action}");
            println!("  watermark: {watermark}");
            match &p.journal {
                Some(j) => println!("  journal:   {}", j.describe()),
                None => println!("  journal:   none"),
            }
            println!(
                "  queue:     {} batches between home and store, {} MiB at most",
                p.queue_size, p.queue_memory_mb
            );
            match p.timeout {
                Some(t) => println!("  timeout:   {}s per entity run", t.as_secs()),
                None => println!("  timeout:   none"),
            }
        } else {
            println!(
                "✓ {}  {} → {}  ({run_type}: {action})",
                p.name, p.home_type, p.store_type
            );
            if let Some(w) = &p.watermark {
                println!("    watermark {}: {}", w.watermark_column, start.note);
            }
            if run_type == RunType::Incremental && p.watermark.is_none() {
                println!(
                    "    warning: incremental without a watermark appends every row the home holds"
                );
            }
        }
        print_drift(p, start, if verbose { "  " } else { "    " });
    }
}

/// The schema drift the entity would meet, where there is a baseline and the home gives
/// its schema without reading rows (local Parquet files: the first file's footer); other
/// homes are checked when the run reads.
fn print_drift(p: &EntityPlan, start: &Start, indent: &str) {
    use hygge_core::schema::{Verdict, diff, table};
    let policy = p.schema_policy(start.run_type, start.reload, start.schema.clone());
    let Some(base) = &policy.baseline else { return };
    let Some((schema, file)) = p
        .home
        .local_path(&p.entity)
        .and_then(|path| first_parquet(&path))
        .and_then(|f| parquet_schema(&f).map(|s| (s, f)))
    else {
        println!(
            "{indent}schema: checked against {} when the run reads (mode {})",
            policy.baseline_from, policy.mode
        );
        return;
    };
    let changes = diff(base, &schema);
    if changes.is_empty() {
        println!(
            "{indent}schema: as {} ({})",
            policy.baseline_from,
            file.display()
        );
        return;
    }
    let what = match policy.check(&schema) {
        Verdict::Fails(_) => "the entity would fail before writing",
        _ => "the run would go on",
    };
    println!(
        "{indent}schema: {} change(s) against {} in {} (mode {}: {what}):",
        changes.len(),
        policy.baseline_from,
        file.display(),
        policy.mode
    );
    for line in table(&changes).lines() {
        println!("{indent}{line}");
    }
}

/// The first Parquet file (by name) at `path`: the file itself, or the first in its
/// folders.
fn first_parquet(path: &std::path::Path) -> Option<std::path::PathBuf> {
    if path.is_file() {
        return (path.extension().is_some_and(|e| e == "parquet")).then(|| path.to_path_buf());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries.into_iter().find_map(|e| {
        let hidden = e
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(['.', '_']));
        if hidden { None } else { first_parquet(&e) }
    })
}

/// The Arrow schema in a Parquet file's footer (no rows read).
fn parquet_schema(file: &std::path::Path) -> Option<arrow::datatypes::SchemaRef> {
    let f = std::fs::File::open(file).ok()?;
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .ok()
        .map(|b| b.schema().clone())
}
