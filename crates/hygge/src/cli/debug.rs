//! `hygge debug`: find and validate the project, list its flows and entities, and check
//! that every home can be read and every store written, with a fix-it hint per failure.

use std::process::ExitCode;

use hygge_core::error::chain;

use super::{Cli, load_project, print_diagnostics};
use crate::plan::{self, Overrides};

pub fn run(cli: &Cli) -> ExitCode {
    let Some((project, mut diags)) = load_project(cli, &[]) else {
        return ExitCode::from(1);
    };
    println!("project   {} ({})", project.name, project.file.display());
    let plans = plan::plan(&project, &Overrides::default(), &mut diags);
    print_diagnostics(&diags);
    if diags.has_errors() {
        println!("configuration: invalid (see above)");
        return ExitCode::from(1);
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
    let Some(runtime) = super::runtime() else {
        return ExitCode::from(1);
    };
    // A connection's credential warning, unless the configuration's warnings (above) said it.
    let warned: std::collections::BTreeSet<String> =
        diags.warnings().map(|d| d.key.clone()).collect();
    let warn = |name: &str, warning: Option<String>| {
        if let Some(w) = warning
            && !warned.contains(&format!("connections.{name}"))
        {
            println!("  warning: {w}");
        }
    };
    for (name, ty) in &project.connections {
        let pg = project.connection_configs.postgres.get(name);
        match pg {
            Some(cfg) => {
                warn(name, cfg.credential_warning(name));
                match runtime.block_on(hygge_connectors::postgres::connection::check(name, cfg)) {
                    Ok(server) => println!("✓ connection {name} ({}): {server}", cfg.describe()),
                    Err(e) => {
                        failed += 1;
                        println!("✗ connection {name} ({}): {e}", cfg.describe());
                        println!(
                            "    fix:   check connections.{name} in hygge.yml: host, port, database, user, password (use ${{VAR}}), sslmode"
                        );
                    }
                }
            }
            None if project.connection_configs.mssql.contains_key(name) => {
                let cfg = &project.connection_configs.mssql[name];
                warn(name, cfg.credential_warning(name));
                let checked = hygge_connectors::mssql::connection::pool(
                    name,
                    cfg,
                    hygge_connectors::mssql::connection::Role::Home,
                )
                .map(|p| runtime.block_on(async move { p.check().await }));
                match checked {
                    Ok(Ok(source)) => println!(
                        "✓ connection {name} ({}): logged in with {source}",
                        cfg.describe()
                    ),
                    Ok(Err(e)) | Err(e) => {
                        failed += 1;
                        println!("✗ connection {name} ({}): {e}", cfg.describe());
                        println!(
                            "    fix:   check connections.{name} in hygge.yml: server, database, encrypt, trust_cert; user/password for a SQL login, or for Entra ID an access_token, AZURE_* variables, a managed identity or `az login`"
                        );
                    }
                }
            }
            None => {
                failed += 1;
                println!(
                    "✗ connection {name} ({ty}): cannot be checked: the {ty} connector is not in this version of hygge yet"
                );
            }
        }
    }
    runtime.block_on(async {
        for p in &plans {
            let job = p.job(None, p.run_type, false);
            let home = job.home.check(&p.entity).await;
            let store = job.store.check(&p.entity).await;
            let mark = |ok: bool| if ok { "✓" } else { "✗" };
            println!(
                "{} {}  home {}  store {}",
                mark(home.is_ok() && store.is_ok()),
                p.name,
                mark(home.is_ok()),
                mark(store.is_ok())
            );
            if let Err(e) = home {
                failed += 1;
                println!("    home:  {}", chain(e.as_ref()));
                if p.home_type == "postgres" || p.home_type == "mssql" {
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
                if p.store_type == "postgres" || p.store_type == "mssql" {
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
    if failed == 0 {
        println!("All checks passed.");
        ExitCode::SUCCESS
    } else {
        println!(
            "{failed} check{} failed.",
            if failed == 1 { "" } else { "s" }
        );
        ExitCode::from(1)
    }
}
