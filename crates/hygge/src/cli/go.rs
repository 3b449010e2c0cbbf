//! `hygge go`: validate, select, run, report.

use std::sync::Arc;

use hygge_core::{Coordinator, RunReport, RunType};
use tokio_util::sync::CancellationToken;

use super::incremental::{JournalObserver, Journals, Start};
use super::output::{Printer, print_summary};
use super::{Cli, CliError, GoArgs, Outcome, OutputFormat, load_project, logging, plan_project};
use crate::config::{self, Project};
use crate::plan::{self, EntityPlan, Overrides};

pub fn run(cli: &Cli, args: &GoArgs) -> Result<Outcome, CliError> {
    let overrides = overrides(args)?;
    let cli_vars = cli_vars(args)?;
    let (project, mut diags) = load_project(cli, &cli_vars)?;
    let plans = plan_project(&project, &overrides, &mut diags)?;
    let plans = select(plans, &args.flows, &args.entities).map_err(CliError::CommandLine)?;
    let concurrency = concurrency(args, &project)?;
    let starts = starts(&plans)?;
    if args.dry_run {
        super::plan_view::print(&project, &plans, &starts, concurrency, cli.verbose > 0);
        return Ok(Outcome::Succeeded);
    }
    logging::init(
        cli.verbose,
        cli.quiet,
        project.options.log_level.as_deref(),
        plan::log_file(&project).as_deref(),
    );
    let runtime = super::runtime()?;
    let json = args.output == OutputFormat::Json;
    let report = runtime.block_on(run_flows(&project, &plans, &starts, concurrency, json));
    // A read stuck in the kernel (a dead network mount, a FIFO) must not keep hygge from
    // exiting once every flow has reported.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    Ok(print_report(&project, &report, json))
}

/// `--incremental` or `--full-drop`, at most one of them.
fn overrides(args: &GoArgs) -> Result<Overrides, CliError> {
    let run_type = match (args.incremental, args.full_drop) {
        (true, true) => {
            return Err(CliError::CommandLine(
                "--incremental and --full-drop cannot be used together; pick one.".into(),
            ));
        }
        (true, false) => Some(RunType::Incremental),
        (false, true) => Some(RunType::FullDrop),
        (false, false) => None,
    };
    Ok(Overrides { run_type })
}

/// The `--var` overrides, parsed.
fn cli_vars(args: &GoArgs) -> Result<Vec<config::vars::CliVar>, CliError> {
    args.vars
        .iter()
        .map(|raw| config::vars::parse(raw).map_err(CliError::CommandLine))
        .collect()
}

/// Entity flows run at once: `--concurrency`, else `options.concurrency`, else (as the
/// original) the largest SQL Server `pool_size`, else the default. Warns of each
/// connection whose pool is smaller, so entities wait for it.
fn concurrency(args: &GoArgs, project: &Project) -> Result<usize, CliError> {
    // The connections whose pool bounds what runs at once (SQL Server's `pool_size`).
    let bounding_pools = project
        .connection_configs
        .all
        .iter()
        .filter_map(|(name, c)| c.bounds_concurrency().map(|n| (name, n)));
    let concurrency = args
        .concurrency
        .or(project.options.concurrency)
        .or(bounding_pools.clone().map(|(_, n)| n).max())
        .unwrap_or(hygge_core::coordinator::DEFAULT_CONCURRENCY);
    for (name, n) in bounding_pools {
        if n < concurrency {
            eprintln!(
                "warning: connection {name} has pool_size {n}, less than the concurrency {concurrency}: entities reading or writing through it wait for a free connection"
            );
        }
    }
    if concurrency == 0 {
        return Err(CliError::CommandLine(
            "concurrency must be at least 1".into(),
        ));
    }
    Ok(concurrency)
}

/// Where each entity starts, from its journal; an unreadable journal stops the run.
fn starts(plans: &[EntityPlan]) -> Result<Vec<Start>, CliError> {
    let mut journals = Journals::default();
    plans
        .iter()
        .map(|p| {
            let mut s = super::incremental::start(p, &mut journals)
                .map_err(|m| CliError::Journal(vec![m]))?;
            s.schema = super::incremental::last_schema(p, &mut journals);
            Ok(s)
        })
        .collect()
}

/// Runs every entity under the coordinator, printing progress, and returns the report
/// (with the entities whose journal entry could not be written marked).
async fn run_flows(
    project: &Project,
    plans: &[EntityPlan],
    starts: &[Start],
    concurrency: usize,
    json: bool,
) -> RunReport {
    let run_id = run_id();
    let printer = Arc::new(Printer::new(json, plans.len()));
    printer.header(&project.name, plans.len(), concurrency);
    let cancel = CancellationToken::new();
    stop_on_ctrl_c(cancel.clone());
    let ticker = printer.start_ticker();
    let jobs = plans
        .iter()
        .zip(starts)
        .map(|(p, s)| p.job(s.position.clone(), s.run_type, s.reload, s.schema.clone()))
        .collect();
    let runs: Vec<(EntityPlan, RunType)> = plans
        .iter()
        .zip(starts)
        .map(|(p, s)| (p.clone(), s.run_type))
        .collect();
    let observer = Arc::new(JournalObserver::new(
        printer.clone(),
        &runs,
        &project.name,
        &run_id,
    ));
    let mut report = Coordinator::new(concurrency, run_id.clone())
        .run(jobs, observer.clone(), cancel)
        .await;
    observer.mirror_journal().await;
    ticker.abort();
    printer.finish();
    for (name, e) in observer.failures() {
        if let Some(f) = report.flows.iter_mut().find(|f| f.name == name) {
            f.journal_error = Some(e);
        }
    }
    report
}

/// The first Ctrl-C cancels `cancel` (entities already publishing finish); the second
/// exits at once.
fn stop_on_ctrl_c(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!(
                "interrupted: stopping; entities already publishing finish, the others publish nothing (Ctrl-C again to exit at once)"
            );
            cancel.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            // Every publish is atomic: leaving now shows readers the old data or the
            // new, and the next run finds each destination's checkpoint.
            eprintln!("interrupted again: exiting now");
            std::process::exit(130);
        }
    });
}

/// Prints the summary (and, with `--output json`, the report as JSON on stdout); failed
/// unless every entity succeeded or `options.continue_on_error` is set.
fn print_report(project: &Project, report: &RunReport, json: bool) -> Outcome {
    let continue_on_error = project.options.continue_on_error.unwrap_or(false);
    print_summary(report, json, continue_on_error);
    if json {
        let doc = serde_json::json!({
            "project": project.name,
            "hygge_version": env!("CARGO_PKG_VERSION"),
            "report": report,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("report serialises")
        );
    }
    Outcome::from_ok(report.succeeded() || continue_on_error)
}

/// A sortable, file-name-safe id for this run.
fn run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{:x}",
        now.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    )
}

/// Keeps the entities named by `--flow` and `--entity` (all when neither is given).
pub fn select(
    plans: Vec<EntityPlan>,
    flows: &[String],
    entities: &[String],
) -> Result<Vec<EntityPlan>, String> {
    let flows: Vec<&str> = flows
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let entities: Vec<&str> = entities
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if flows.is_empty() && entities.is_empty() {
        return Ok(plans);
    }
    let mut wanted: Vec<&str> = Vec::new(); // entity flow names
    for f in &flows {
        let matches: Vec<&EntityPlan> = plans
            .iter()
            .filter(|p| p.flow == *f || p.name == *f)
            .collect();
        if matches.is_empty() {
            let mut names: Vec<&str> = plans.iter().map(|p| p.flow.as_str()).collect();
            names.dedup();
            let entity_flows: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
            return Err(format!(
                "no flow named `{f}`. Flows: {}. Entity flows: {}",
                names.join(", "),
                entity_flows.join(", ")
            ));
        }
        wanted.extend(matches.iter().map(|p| p.name.as_str()));
    }
    for e in &entities {
        // Flow and entity names may hold dots themselves: every split that names a
        // planned entity counts, and more than one is ambiguous.
        let found: Vec<&EntityPlan> = e
            .match_indices('.')
            .map(|(i, _)| (&e[..i], &e[i + 1..]))
            .filter(|(f, n)| !f.is_empty() && !n.is_empty())
            .flat_map(|(f, n)| plans.iter().filter(move |p| p.flow == f && p.entity == n))
            .collect();
        match found.as_slice() {
            [p] => wanted.push(p.name.as_str()),
            [] if !e.contains('.') => {
                return Err(format!(
                    "--entity `{e}` is not in the form flow.entity (for example users_to_lake.users)"
                ));
            }
            [] => {
                let valid: Vec<String> = plans
                    .iter()
                    .map(|p| format!("{}.{}", p.flow, p.entity))
                    .collect();
                return Err(format!("no entity `{e}`. Entities: {}", valid.join(", ")));
            }
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|p| format!("flow `{}` entity `{}`", p.flow, p.entity))
                    .collect();
                return Err(format!(
                    "--entity `{e}` could mean {}; use --flow to pick the flow",
                    names.join(" or ")
                ));
            }
        }
    }
    let wanted: Vec<String> = wanted.into_iter().map(String::from).collect();
    Ok(plans
        .into_iter()
        .filter(|p| wanted.contains(&p.name))
        .collect())
}
