//! `hygge`: moves tables and files from homes to stores, entity by entity, in parallel.

// jemalloc: a long run allocates and frees batches of many sizes on many threads; glibc's
// per-thread arenas fragment so that peak memory grows with the data (measured: 10M rows
// 200 MiB, 100M rows 280 MiB). jemalloc keeps it flat.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    hygge::cli::main()
}
