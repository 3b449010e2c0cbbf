//! What a person sees: dbt-style START/OK/FAILED lines, a live progress bar on a terminal,
//! and a summary. With `--output json`, these go to stderr and stdout carries the report.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hygge_core::{Event, FlowStatus, Observer, RunReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::logging::BAR;

/// Prints run events.
pub struct Printer {
    to_stderr: bool,
    bar: ProgressBar,
    rows: AtomicU64,
    running: AtomicUsize,
    done: AtomicUsize,
    start: Instant,
}

fn time() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Printer {
    /// A printer; the bar shows only when stderr is a terminal.
    pub fn new(json: bool, total: usize) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b
        } else {
            ProgressBar::hidden()
        };
        let _ = BAR.set(bar.clone());
        Printer {
            to_stderr: json,
            bar,
            rows: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            start: Instant::now(),
        }
    }

    fn line(&self, text: &str) {
        super::logging::to_file(text);
        let out = || {
            if self.to_stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        if self.bar.is_hidden() {
            out();
        } else {
            self.bar.suspend(out);
        }
    }

    /// The first line of a run.
    pub fn header(&self, project: &str, entities: usize, concurrency: usize) {
        self.line(&format!(
            "{} hygge {} · project {project} · {entities} entit{} · concurrency {concurrency}",
            time(),
            env!("CARGO_PKG_VERSION"),
            if entities == 1 { "y" } else { "ies" },
        ));
    }

    /// Refreshes the bar's message every 100 ms while the run lasts.
    pub fn start_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            if me.bar.is_hidden() {
                return;
            }
            loop {
                let rows = me.rows.load(Ordering::Relaxed);
                let secs = me.start.elapsed().as_secs_f64().max(1e-3);
                me.bar.set_message(format!(
                    "{} rows · {} rows/s · {} running",
                    thousands(rows),
                    thousands((rows as f64 / secs) as u64),
                    me.running.load(Ordering::Relaxed)
                ));
                me.bar.tick();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Printer {
    fn on_event(&self, event: Event<'_>) {
        match event {
            Event::FlowStarted { index, total, name } => {
                self.running.fetch_add(1, Ordering::Relaxed);
                self.line(&format!("{} [{index} of {total}] START {name}", time()));
            }
            Event::BatchWritten { rows, .. } => {
                self.rows.fetch_add(rows, Ordering::Relaxed);
            }
            Event::FlowFinished {
                index,
                done,
                total,
                report,
            } => {
                self.running.fetch_sub(1, Ordering::Relaxed);
                self.done.fetch_max(done, Ordering::Relaxed);
                self.bar
                    .set_position(self.done.load(Ordering::Relaxed) as u64);
                let text = match report.status {
                    FlowStatus::Success => format!(
                        "[{index} of {total}] OK {} ({} rows, {:.2}s)",
                        report.name,
                        thousands(report.rows_written),
                        report.duration_secs
                    ),
                    FlowStatus::Skipped => format!(
                        "[{index} of {total}] SKIPPED {} (no rows, {:.2}s)",
                        report.name, report.duration_secs
                    ),
                    FlowStatus::Failed => format!(
                        "[{index} of {total}] FAILED {}: {}",
                        report.name,
                        report.error.as_deref().unwrap_or("unknown error")
                    ),
                };
                self.line(&format!("{} {text}", time()));
            }
        }
    }
}

/// The closing summary (stdout for text, stderr with `--output json`).
pub fn print_summary(report: &RunReport, json: bool, continue_on_error: bool) {
    let t = &report.totals;
    let mut out = vec![format!(
        "Finished {} entit{} in {:.2}s: {} ok, {} failed, {} skipped · {} rows · {} rows/s",
        t.entities,
        if t.entities == 1 { "y" } else { "ies" },
        report.duration_secs,
        t.ok,
        t.failed,
        t.skipped,
        thousands(t.rows),
        thousands(t.rows_per_sec as u64)
    )];
    let unjournaled: Vec<_> = report
        .flows
        .iter()
        .filter_map(|f| f.journal_error.as_deref().map(|e| (&f.name, e)))
        .collect();
    if t.failed == 0 && unjournaled.is_empty() {
        out.push("All flows completed successfully!".into());
    }
    if t.failed > 0 {
        for f in report
            .flows
            .iter()
            .filter(|f| f.status == FlowStatus::Failed)
        {
            let first = f
                .error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or("unknown error");
            out.push(format!("  FAILED {}: {first}", f.name));
        }
        out.push(
            "Their destinations are unchanged. Next steps: fix the cause, then rerun them with `hygge go --entity flow.entity`."
                .into(),
        );
    }
    // Published, but not recorded: the run did not succeed, though its data is there.
    for (name, e) in &unjournaled {
        out.push(format!(
            "  JOURNAL {name}: published, but its journal entry could not be written: {e}"
        ));
    }
    if !unjournaled.is_empty() {
        out.push(
            "Their data is published with its checkpoint: the next run neither skips nor repeats rows, and records the missing entries once the journal can be written again."
                .into(),
        );
    }
    if continue_on_error && (t.failed > 0 || !unjournaled.is_empty()) {
        out.push("options.continue_on_error is true: exiting 0 despite the failures.".into());
    }
    for line in out {
        super::logging::to_file(&line);
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
}
