//! `hygge`: moves tables and files from homes to stores, entity by entity, in parallel.

fn main() -> std::process::ExitCode {
    hygge::cli::main()
}
