//! `hygge debug`: find and validate the project, list its flows and entities, and check
//! that every home can be read and every store written, with a fix-it hint per failure.
//! A home whose data is not there yet (a missing or empty folder) is a warning, as in the
//! original hygge, whose users' scripts expect `hygge debug` to succeed then; `--strict`
//! fails on any warning. A cloud store is probed (its folder listed, a probe object
//! written, read back and deleted in its `_hygge/`) and says which credential it used.

use std::collections::BTreeSet;

use hygge_connectors::FileError;
use hygge_connectors::error::CheckFailed;
use hygge_connectors::registry;
use hygge_core::BoxError;
use hygge_core::error::chain;
use tokio::runtime::Runtime;

use super::{Cli, CliError, Outcome, load_project, plan_project};
use crate::config::{Diagnostics, Project};
use crate::plan::{EntityPlan, Overrides};

/// `hygge debug`.
#[derive(Debug, clap::Args)]
pub struct DebugArgs {
    /// Fail (exit 1) on warnings too: a home whose data is not there yet, a key that has no
    /// effect, a login sent to a server that is not verified.
    #[arg(long)]
    strict: bool,
}

/// A home check's failure that is worth knowing but not a failure: the data is not there
/// yet (the path does not exist, or the folder holds no files of the home's format).
fn data_not_there_yet(e: &BoxError) -> bool {
    matches!(
        e.downcast_ref::<FileError>(),
        Some(FileError::NotFound { .. } | FileError::NoFiles { .. })
    )
}

pub fn run(cli: &Cli, args: &DebugArgs) -> Result<Outcome, CliError> {
    let (project, mut diags) = load_project(cli, &[])?;
    println!("project   {} ({})", project.name, project.file.display());
    let plans = plan_project(&project, &Overrides::default(), &mut diags).map_err(|diags| {
        CliError::Config {
            diags,
            verdict: Some("configuration: invalid (see above)"),
        }
    })?;
    println!("configuration: valid");
    print_flows(&project);
    let mut tally = Tally {
        failed: 0,
        warnings: diags.warnings().count(),
    };
    let runtime = super::runtime()?;
    check_connections(&project, &runtime, &diags, &mut tally);
    runtime.block_on(check_entities(&plans, &mut tally));
    Ok(tally.verdict(args.strict))
}

/// Checks failed and warnings given so far.
struct Tally {
    failed: usize,
    warnings: usize,
}

impl Tally {
    /// Prints the last line: all passed (with the warnings counted), or how many failed.
    fn verdict(&self, strict: bool) -> Outcome {
        let noted = match self.warnings {
            0 => String::new(),
            1 => " (1 warning)".to_string(),
            n => format!(" ({n} warnings)"),
        };
        if self.failed == 0 && strict && self.warnings > 0 {
            println!("All checks passed{noted}; --strict counts warnings as failures.");
            Outcome::Failed
        } else if self.failed == 0 {
            println!("All checks passed{noted}.");
            Outcome::Succeeded
        } else {
            println!(
                "{} check{} failed.",
                self.failed,
                if self.failed == 1 { "" } else { "s" }
            );
            Outcome::Failed
        }
    }
}

/// One line per flow: its entities.
fn print_flows(project: &Project) {
    for flow in &project.flows {
        let names: Vec<&str> = flow.entities.iter().map(|e| e.entity.as_str()).collect();
        println!(
            "flow      {} ({} entit{}: {})",
            flow.name,
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", ")
        );
    }
}

/// Checks every named connection, with a fix-it hint per failure, and says its credential
/// warning unless the configuration's warnings (printed before) said it.
fn check_connections(project: &Project, runtime: &Runtime, diags: &Diagnostics, tally: &mut Tally) {
    let warned: BTreeSet<String> = diags.warnings().map(|d| d.key.clone()).collect();
    for (name, ty) in &project.connections {
        let Some(cfg) = project.connection_configs.all.get(name) else {
            tally.failed += 1;
            println!(
                "✗ connection {name} ({ty}): cannot be checked: the {ty} connector is not in this build of hygge"
            );
            continue;
        };
        if let Some(w) = cfg.credential_warning(name)
            && !warned.contains(&format!("connections.{name}"))
        {
            tally.warnings += 1;
            println!("  warning: {w}");
        }
        let (checked, fix) = runtime.block_on(cfg.check(name));
        match checked {
            Ok(what) => println!("✓ connection {name} ({}): {what}", cfg.describe()),
            Err(e) => {
                tally.failed += 1;
                println!("✗ connection {name} ({}): {e}", cfg.describe());
                println!("    fix:   {fix}");
            }
        }
    }
}

/// Checks each entity's home and store: a line per entity, then what failed and how to
/// fix it.
async fn check_entities(plans: &[EntityPlan], tally: &mut Tally) {
    for p in plans {
        let job = p.job(None, p.run_type, false, None);
        let home = job.home.check(&p.entity).await;
        let store = p.store.check(&p.entity, &p.name).await;
        let home_waits = home.as_ref().err().is_some_and(data_not_there_yet);
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let home_mark = if home_waits {
            "⚠"
        } else {
            mark(home.is_ok())
        };
        let entity_mark = match (home.is_ok() || home_waits, store.is_ok()) {
            (true, true) if home_waits => "⚠",
            (true, true) => "✓",
            _ => "✗",
        };
        println!(
            "{entity_mark} {}  home {home_mark}  store {}",
            p.name,
            mark(store.is_ok())
        );
        match home {
            Err(e) if home_waits => {
                tally.warnings += 1;
                println!("    home:  warning: {}", chain(e.as_ref()));
                println!(
                    "    note:  a run fails for this entity until its data is there; put it there, or check `home` in flows/{}/flow.yml (and the entity's file)",
                    p.flow
                );
            }
            Err(e) => {
                tally.failed += 1;
                println!("    home:  {}", chain(e.as_ref()));
                println!("    fix:   {}", home_fix(p));
            }
            Ok(_) => {}
        }
        match store {
            Ok(lines) => {
                for line in lines {
                    println!("    store: {line}");
                }
            }
            Err(e) => {
                tally.failed += 1;
                println!("    store: {}", chain(e.as_ref()));
                // A check that knows what to do says it; else the generic hint.
                match e.downcast_ref::<CheckFailed>() {
                    Some(c) => println!("    fix:   {}", c.fix),
                    None => println!("    fix:   {}", store_fix(p)),
                }
            }
        }
    }
}

/// What to check when a home cannot be read.
fn home_fix(p: &EntityPlan) -> String {
    let what = if remote(registry::HOMES, &p.home_type) {
        "the connection must work and the table or query must exist and be readable".to_string()
    } else {
        format!("the path must exist and hold {} data", p.home_type)
    };
    format!(
        "check `home` in flows/{}/flow.yml (and the entity's file): {what}",
        p.flow
    )
}

/// What to check when a store cannot be written.
fn store_fix(p: &EntityPlan) -> String {
    let what = if remote(registry::STORES, &p.store_type) {
        "the connection must work and its user must be allowed to create tables in the schema"
    } else {
        "its folder (or the nearest existing parent) must be writable by this user"
    };
    format!("check `store` in flows/{}/flow.yml: {what}", p.flow)
}

/// Whether the kind named `ty` is reached over a connection.
fn remote<C>(kinds: &[registry::Kind<C>], ty: &str) -> bool {
    registry::kind(kinds, ty).is_some_and(|k| k.remote)
}
