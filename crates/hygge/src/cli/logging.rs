//! `tracing` to stderr, as `HH:MM:SS LEVEL [flow_entity] message`, never garbling the
//! progress bar.

use std::io::Write;
use std::sync::OnceLock;

use indicatif::ProgressBar;
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The live progress bar, if any: log lines are written around it.
pub static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Sets up logging. `RUST_LOG` wins; then `-v`/`-q`; then the project's `options.log_level`.
pub fn init(verbose: u8, quiet: bool, project_level: Option<&str>) {
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
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::try_new(format!(
            "warn,hygge={level},hygge_core={level},hygge_connectors={level}"
        ))
        .unwrap_or_else(|_| EnvFilter::new("info"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(StderrAroundBar)
        .event_format(Lines)
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

#[derive(Clone, Copy)]
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter(Vec::new())
    }
}

/// Buffers one event and writes it whole, with the bar cleared around it.
struct LineWriter(Vec<u8>);

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
        let out = || {
            let _ = std::io::stderr().write_all(&self.0);
        };
        match BAR.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(out),
            _ => out(),
        }
    }
}
