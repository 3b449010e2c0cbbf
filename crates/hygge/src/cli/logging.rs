//! `tracing` to stderr, as `HH:MM:SS LEVEL [flow_entity] message`, never garbling the
//! progress bar.

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// The live progress bar, if any: log lines are written around it.
pub static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// The run's log file (`options.log_file`, default `logs/hygge.log`), if any.
static LOG_FILE: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Appends a line to the log file (the console's lines are copied there too).
pub fn to_file(line: &str) {
    if let Some(f) = LOG_FILE.get()
        && let Ok(mut f) = f.lock()
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Opens (appending) the log file; a failure is reported and the run goes on without it.
fn open_log_file(path: &Path) {
    let opened = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
        });
    match opened {
        Ok(f) => {
            let _ = LOG_FILE.set(Mutex::new(f));
        }
        Err(e) => eprintln!("warning: cannot write the log file {}: {e}", path.display()),
    }
}

/// Sets up logging. `RUST_LOG` wins; then `-v`/`-q`; then the project's `options.log_level`.
/// Events also go to `log_file` (at the console's level, at least INFO).
pub fn init(verbose: u8, quiet: bool, project_level: Option<&str>, log_file: Option<&Path>) {
    if let Some(path) = log_file {
        open_log_file(path);
    }
    let level = match (verbose, quiet) {
        (0, true) => "warn".to_string(),
        (1, _) => "debug".to_string(),
        (v, _) if v >= 2 => "trace".to_string(),
        _ => project_level
            .map(|l| match l.to_ascii_lowercase().as_str() {
                "warning" => "warn".to_string(),
                "critical" => "error".to_string(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "info".into()),
    };
    // tiberius logs every server error itself, untagged; hygge reports them per entity.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!(
            "warn,tiberius=off,hygge={level},hygge_core={level},hygge_connectors={level}"
        ))
        .unwrap_or_else(|_| EnvFilter::new("info"))
    });
    let console = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(StderrAroundBar)
        .event_format(Lines)
        .with_filter(filter);
    let file = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(FileLines)
        .event_format(Lines)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file)
        .try_init();
}

struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        write!(w, "{} ", chrono::Local::now().format("%H:%M:%S"))?;
        let level = *event.metadata().level();
        if level != tracing::Level::INFO {
            write!(w, "{level} ")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if span.name() == "flow"
                    && let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                {
                    let name = fields.fields.trim_start_matches("name=");
                    write!(w, "[{name}] ")?;
                }
            }
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Where a log line goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// stderr, with the progress bar cleared around the line.
    Console,
    /// The log file.
    File,
}

#[derive(Clone, Copy)]
struct FileLines;

impl<'a> MakeWriter<'a> for FileLines {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Vec::new(), Sink::File)
    }
}

#[derive(Clone, Copy)]
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Vec::new(), Sink::Console)
    }
}

/// Buffers one event and writes it whole when dropped, so lines never interleave.
struct LineWriter(Vec<u8>, Sink);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        match self.1 {
            Sink::File => {
                if let Some(f) = LOG_FILE.get()
                    && let Ok(mut f) = f.lock()
                {
                    let _ = f.write_all(&self.0);
                }
            }
            Sink::Console => {
                let out = || {
                    let _ = std::io::stderr().write_all(&self.0);
                };
                match BAR.get() {
                    Some(bar) if !bar.is_hidden() => bar.suspend(out),
                    _ => out(),
                }
            }
        }
    }
}
