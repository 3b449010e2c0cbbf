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
    }
}
