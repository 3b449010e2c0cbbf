//! `hygge debug`: find and validate the project, list its flows and entities, and check
//! that every home can be read and every store written, with a fix-it hint per failure.
//! A home whose data is not there yet (a missing or empty folder) is a warning, as in the
//! original hygge, whose users' scripts expect `hygge debug` to succeed then; `--strict`
//! fails on any warning.

use std::process::ExitCode;

use hygge_connectors::registry;

use hygge_connectors::FileError;
use hygge_core::error::chain;

use super::{Cli, load_project, print_diagnostics};
use crate::plan::{self, Overrides};

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
fn data_not_there_yet(e: &hygge_core::BoxError) -> bool {
    matches!(
        e.downcast_ref::<FileError>(),
        Some(FileError::NotFound { .. } | FileError::NoFiles { .. })
    )
}

pub fn run(cli: &Cli, args: &DebugArgs) -> ExitCode {
    let Some((project, mut diags)) = load_project(cli, &[]) else {
        return super::invalid();
    };
    println!("project   {} ({})", project.name, project.file.display());
    let plans = plan::plan(&project, &Overrides::default(), &mut diags);
    print_diagnostics(&diags);
    if diags.has_errors() {
        println!("configuration: invalid (see above)");
        return super::invalid();
    }
    println!("configuration: valid");
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
    let mut failed = 0;
    let mut warnings = diags.warnings().count();
    let Some(runtime) = super::runtime() else {
        return ExitCode::from(1);
    };
    // A connection's credential warning, unless the configuration's warnings (above) said it.
    let warned: std::collections::BTreeSet<String> =
        diags.warnings().map(|d| d.key.clone()).collect();
    let warn = |name: &str, warning: Option<String>, warnings: &mut usize| {
        if let Some(w) = warning
            && !warned.contains(&format!("connections.{name}"))
        {
            *warnings += 1;
            println!("  warning: {w}");
        }
    };
    for (name, ty) in &project.connections {
        match project.connection_configs.all.get(name) {
            Some(cfg) => {
                warn(name, cfg.credential_warning(name), &mut warnings);
                let (checked, fix) = runtime.block_on(cfg.check(name));
                match checked {
                    Ok(what) => println!("✓ connection {name} ({}): {what}", cfg.describe()),
                    Err(e) => {
                        failed += 1;
                        println!("✗ connection {name} ({}): {e}", cfg.describe());
                        println!("    fix:   {fix}");
                    }
                }
            }
            None => {
                failed += 1;
                println!(
                    "✗ connection {name} ({ty}): cannot be checked: the {ty} connector is not in this build of hygge"
                );
            }
        }
    }
    runtime.block_on(async {
        for p in &plans {
            let job = p.job(None, p.run_type, false);
            let home = job.home.check(&p.entity).await;
            let store = p.store.check(&p.entity, &p.name).await;
            let home_waits = home.as_ref().err().is_some_and(data_not_there_yet);
            let mark = |ok: bool| if ok { "✓" } else { "✗" };
            let home_mark = if home_waits { "⚠" } else { mark(home.is_ok()) };
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
            if let Err(e) = &home
                && home_waits
            {
                warnings += 1;
                println!("    home:  warning: {}", chain(e.as_ref()));
                println!(
                    "    note:  a run fails for this entity until its data is there; put it there, or check `home` in flows/{}/flow.yml (and the entity's file)",
                    p.flow
                );
            } else if let Err(e) = home {
                failed += 1;
                println!("    home:  {}", chain(e.as_ref()));
                let remote = registry::kind(registry::HOMES, &p.home_type).is_some_and(|k| k.remote);
                if remote {
                    println!(
                        "    fix:   check `home` in flows/{}/flow.yml (and the entity's file): the connection must work and the table or query must exist and be readable",
                        p.flow
                    );
                } else {
                    println!(
                        "    fix:   check `home` in flows/{}/flow.yml (and the entity's file): the path must exist and hold {} data",
                        p.flow, p.home_type
                    );
                }
            }
            if let Err(e) = store {
                failed += 1;
                println!("    store: {}", chain(e.as_ref()));
                let remote = registry::kind(registry::STORES, &p.store_type).is_some_and(|k| k.remote);
                if remote {
                    println!(
                        "    fix:   check `store` in flows/{}/flow.yml: the connection must work and its user must be allowed to create tables in the schema",
                        p.flow
                    );
                } else {
                    println!(
                        "    fix:   check `store` in flows/{}/flow.yml: its folder (or the nearest existing parent) must be writable by this user",
                        p.flow
                    );
                }
            }
        }
    });
    let noted = match warnings {
        0 => String::new(),
        1 => " (1 warning)".to_string(),
        n => format!(" ({n} warnings)"),
    };
    if failed == 0 && args.strict && warnings > 0 {
        println!("All checks passed{noted}; --strict counts warnings as failures.");
        ExitCode::from(1)
    } else if failed == 0 {
        println!("All checks passed{noted}.");
        ExitCode::SUCCESS
    } else {
        println!(
            "{failed} check{} failed.",
            if failed == 1 { "" } else { "s" }
        );
        ExitCode::from(1)
    }
}
