//! Failpoints: named places where a test makes hygge fail on purpose, to prove that a
//! failure at that exact point loses nothing (a reader that panics, a crash between
//! publishing and journaling, a slow publish).
//!
//! Inert unless the environment variable `HYGGE_FAILPOINTS` is set when the process starts:
//! `name=action[;name=action...]`, where `action` is
//!
//! - `panic`: panics (as a bug would);
//! - `error`: [`hit`] returns an error naming the failpoint;
//! - `abort`: the process dies at once (as `kill -9` at that point would);
//! - `sleep(<ms>)`: says so on stderr (`failpoint <name>: sleeping <ms> ms`), waits (blocking
//!   the thread) that long, then goes on;
//!
//! optionally followed by `@<n>`: act on the n-th time the point is reached (1-based) only,
//! or `@<n>+`: from the n-th time on. Without it, every time.
//!
//! A point costs one lookup in an empty list when the variable is unset. The names in use
//! are listed in ARCHITECTURE.md ("Failpoints").

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable read at start.
pub const ENV: &str = "HYGGE_FAILPOINTS";

#[derive(Debug, Clone, PartialEq)]
enum Action {
    Panic,
    Error,
    Abort,
    Sleep(u64),
}

#[derive(Debug)]
struct Point {
    action: Action,
    /// Act on hit number `from` (1-based) ...
    from: u64,
    /// ... and every later one (`@n+`, or no `@` at all), or only that one.
    onwards: bool,
    hits: AtomicU64,
}

static POINTS: LazyLock<HashMap<String, Point>> = LazyLock::new(|| {
    std::env::var(ENV)
        .ok()
        .map(|spec| parse(&spec))
        .unwrap_or_default()
});

fn parse(spec: &str) -> HashMap<String, Point> {
    let mut out = HashMap::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, rest)) = part.split_once('=') else {
            eprintln!("{ENV}: `{part}` is not name=action; ignored");
            continue;
        };
        let (action, when) = match rest.split_once('@') {
            Some((a, w)) => (a.trim(), Some(w.trim())),
            None => (rest.trim(), None),
        };
        let action = match action {
            "panic" => Action::Panic,
            "error" => Action::Error,
            "abort" => Action::Abort,
            a if a.starts_with("sleep(") && a.ends_with(')') => {
                match a["sleep(".len()..a.len() - 1].parse() {
                    Ok(ms) => Action::Sleep(ms),
                    Err(_) => {
                        eprintln!("{ENV}: bad sleep in `{part}`; ignored");
                        continue;
                    }
                }
            }
            _ => {
                eprintln!("{ENV}: unknown action in `{part}`; ignored");
                continue;
            }
        };
        let (from, onwards) = match when {
            None => (1, true),
            Some(w) => {
                let (n, onwards) = match w.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (w, false),
                };
                match n.parse::<u64>() {
                    Ok(n) if n >= 1 => (n, onwards),
                    _ => {
                        eprintln!("{ENV}: bad @count in `{part}`; ignored");
                        continue;
                    }
                }
            }
        };
        out.insert(
            name.trim().to_string(),
            Point {
                action,
                from,
                onwards,
                hits: AtomicU64::new(0),
            },
        );
    }
    out
}

/// Marks the failpoint `name`: does what `HYGGE_FAILPOINTS` says for it, if anything.
/// `Err` only for the `error` action.
pub fn hit(name: &str) -> Result<(), String> {
    if POINTS.is_empty() {
        return Ok(());
    }
    let Some(p) = POINTS.get(name) else {
        return Ok(());
    };
    let n = p.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let acts = if p.onwards { n >= p.from } else { n == p.from };
    if !acts {
        return Ok(());
    }
    match p.action {
        Action::Panic => panic!("failpoint {name} (hit {n})"),
        Action::Error => Err(format!("failpoint {name} (hit {n})")),
        Action::Abort => {
            eprintln!("failpoint {name}: aborting the process");
            std::process::abort()
        }
        Action::Sleep(ms) => {
            // Said first, so a test that waits for this line can kill the process exactly
            // here.
            eprintln!("failpoint {name}: sleeping {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(ms));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_counts() {
        let p = parse("a=panic@3; b=sleep(20)@2+ ;c=error;bad;d=explode");
        assert_eq!(p["a"].action, Action::Panic);
        assert_eq!((p["a"].from, p["a"].onwards), (3, false));
        assert_eq!(p["b"].action, Action::Sleep(20));
        assert_eq!((p["b"].from, p["b"].onwards), (2, true));
        assert_eq!((p["c"].from, p["c"].onwards), (1, true));
        assert!(!p.contains_key("bad") && !p.contains_key("d"));
    }

    #[test]
    fn an_unset_point_does_nothing() {
        assert_eq!(hit("no.such.point"), Ok(()));
    }
}
