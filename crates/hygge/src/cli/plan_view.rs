//! `hygge go --dry-run`: the plan, per entity, without reading or writing any data.

use crate::config::Project;
use crate::plan::EntityPlan;
use hygge_core::RunType;

/// Prints the plan. One line per entity; with `verbose`, a block with every setting
/// (including the watermark column, which the original's verbose plan never showed: B5).
pub fn print(project: &Project, plans: &[EntityPlan], concurrency: usize, verbose: bool) {
    println!(
        "Plan for project {} · {} entit{} · concurrency {} · dry run: no data is read or written",
        project.name,
        plans.len(),
        if plans.len() == 1 { "y" } else { "ies" },
        concurrency
    );
    for p in plans {
        let action = p.store.preview(&p.entity, &p.name, p.run_type);
        let watermark = match (&p.watermark, p.run_type) {
            (Some(w), _) => format!(
                "column `{}`, primary key `{}`; starts from the beginning (no journal yet)",
                w.watermark_column, w.primary_key
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
            println!("  run type:  {} — {action}", p.run_type);
            println!("  watermark: {watermark}");
            println!(
                "  queue:     {} batches between home and store",
                p.queue_size
            );
            match p.timeout {
                Some(t) => println!("  timeout:   {}s per entity run", t.as_secs()),
                None => println!("  timeout:   none"),
            }
        } else {
            println!(
                "✓ {}  {} → {}  ({}: {action})",
                p.name, p.home_type, p.store_type, p.run_type
            );
            if p.run_type == RunType::Incremental && p.watermark.is_none() {
                println!(
                    "    warning: incremental without a watermark appends every row the home holds"
                );
            }
        }
    }
}
