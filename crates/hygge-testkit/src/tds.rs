//! A real third-party TDS (SQL Server wire protocol) peer for the mssql tests: pysqlbridge
//! 2.1.3 (PyPI, MIT, pure Python), a read-only "SQL Server" over CSV files.
//!
//! `scripts/test.sh` installs it into a venv and sets `HYGGE_PYSQLBRIDGE` to its executable;
//! without that variable the executable is looked for on `PATH`. A test that cannot find
//! it fails, saying to run `scripts/test.sh`; it is never skipped.
//!
//! # What pysqlbridge 2.1.3 does (probed with tiberius 0.13, rustls, `Required` + `trust_cert`)
//!
//! Start-up: `pysqlbridge --config cfg.json --host 127.0.0.1 --port 0 --log bridge.log`.
//! `--port 0` binds a free port, and the log then says `listening on 127.0.0.1:<port>`
//! (that is how [`Bridge::start`] learns the port, with no race for it). The config is
//! `{"tables":[{"name":..,"csv":<path>}],"logins":[{"user":"sa","password":"${BRIDGE_PW}"}]}`;
//! a `${VAR}` password is read from the environment at start-up. Every source is loaded into
//! memory at start-up ("warmed"). The database is called `pysqlbridge` (`DB_NAME()`), but any
//! database name in a login or a three-part name (`[master].[dbo].[t]`) is accepted.
//! The log has one line per `connection from 127.0.0.1:<p>`, `... logged in as ...`,
//! `... query: <sql>` and `... closed the connection`.
//!
//! TLS: the login is always tunnelled through TLS 1.2 (TDS 7.x, in PRELOGIN packets) with a
//! self-signed certificate; with `Encrypt=Required` the whole session stays encrypted.
//! Through hygge: `encrypt: yes` (+ `trust_cert: yes`) and `encrypt: no` (login only) work;
//! `trust_cert: no` fails with `UnknownIssuer`; `encrypt: off` (no TLS at all) fails, since
//! the bridge insists on TLS for the login (`InvalidContentType`); `encrypt: strict` (TDS 8.0,
//! TLS before any TDS) fails: the bridge has no TDS 8.0 (`unknown TDS packet type 0x16`).
//! A wrong password or unknown user: error 18456 `Login failed for user 'sa'.` A SQL login
//! is logged as `logged in as an unnamed principal (app 'hygge', database 'master')`.
//!
//! CSV type inference, per column over every value (`source.py`):
//! * an empty cell is NULL, so an empty string cannot be written in a CSV;
//! * all values integers spelled canonically (`007`, `+1`, `-0` are not) → `int` (`Int4`),
//!   or `bigint` (`Int8`) when one is at or past ±2^31; past ±2^63 → text;
//! * else all values floats whose text equals Python's `repr` of the f64 numerically →
//!   `float` (`Float8`); `inf` and `-0.0` count, `nan` does not, and neither does a value
//!   exactly halfway between two 17-digit decimals written the other way (Rust writes
//!   `2204200162539908.3`, Python `...908.2`: the column becomes text);
//! * else `nvarchar(n)` sized to the longest value, or `nvarchar(max)` past 4000 chars.
//!
//! So from a CSV only int, bigint, float and nvarchar arrive: dates, GUIDs and `true`/`0`
//! are text or int. `bit` and `datetime` come only from expressions (`CAST(x AS bit)`,
//! `CAST(x AS datetime)`; `date`/`datetime2` casts also arrive as legacy `datetime`,
//! `decimal`/`real` as `float`, `smallint`/`tinyint`/`bigint` casts of small values as
//! `int`). `uniqueidentifier` and `binary` cannot be produced at all (no `NEWID()`, and
//! `CAST(.. AS uniqueidentifier|varbinary)` is refused); `smallint` never reaches the wire.
//!
//! The SQL hygge's mssql home sends:
//! * `SELECT TOP 0 * FROM [dbo].[t]`: works; COLMETADATA with every column, no rows (the
//!   bridge still evaluates the whole table: ~0.3 s for 500,000 rows).
//! * `SELECT [c1], [c2] FROM [dbo].[t]`: works (brackets, `dbo.` schema, also
//!   `[master].[dbo].[t]`), as do `WHERE [wm] > 15`, `ORDER BY`, `MAX([wm])`.
//! * `SELECT TOP 0 * FROM (<query>) AS q`, also inside `EXEC sp_executesql N'...'`: works.
//! * `EXEC sp_describe_first_result_set @tsql = N'...'` (also `sys.`-qualified):
//!   **not supported**: error 2812 `could not find stored procedure
//!   'sp_describe_first_result_set'`. `SET FMTONLY ON` is ignored (rows still come).
//! * A missing table: error 208 `invalid object name 'nope'. This server has: t, ...`
//!   (the bare name, without the schema).
//! * No writes to real tables and no bulk load: it can only be a home, never a store.
//!
//! Speed: a 500,000-row CSV (3 columns, ~60 MB) loads in ~3.5 s and streams in ~9 s (one
//! Python thread per connection). Every table is held in memory by the bridge.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The login every bridge admits (with the password given to [`Bridge::start`]).
pub const USER: &str = "sa";

/// How long a bridge may take to load its tables and listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The pysqlbridge executable: `HYGGE_PYSQLBRIDGE`, else `pysqlbridge` on `PATH`.
/// Panics (never skips) when there is none.
pub fn executable() -> PathBuf {
    if let Some(p) = std::env::var_os("HYGGE_PYSQLBRIDGE").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "HYGGE_PYSQLBRIDGE={} is not a file; run scripts/test.sh, which installs pysqlbridge",
            p.display()
        );
        return p;
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("pysqlbridge"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "pysqlbridge (the TDS test server) is not installed: HYGGE_PYSQLBRIDGE is unset \
                 and there is no pysqlbridge on PATH. Run scripts/test.sh (it installs \
                 pysqlbridge==2.1.3 into a venv and sets HYGGE_PYSQLBRIDGE)"
            )
        })
}

/// A running pysqlbridge on `127.0.0.1:<port>`, serving CSV tables to one SQL login
/// ([`USER`] and the given password). Killed, and its files removed, when dropped.
pub struct Bridge {
    /// The port it listens on.
    pub port: u16,
    child: Child,
    dir: PathBuf,
    log_path: PathBuf,
}

impl Bridge {
    /// Starts a bridge serving `tables` (name, CSV text with a header line), with the login
    /// `sa` / `password`. Returns once it accepts TCP connections; panics with its log if it
    /// does not within two minutes or exits.
    pub fn start(tables: &[(&str, String)], password: &str) -> Bridge {
        let exe = executable();
        let dir = fresh_dir();
        let mut config_tables = Vec::new();
        for (i, (name, csv)) in tables.iter().enumerate() {
            let file = dir.join(format!("table_{i}.csv"));
            std::fs::write(&file, csv).expect("write a bridge CSV");
            config_tables.push(format!(
                "{{\"name\": {}, \"csv\": {}}}",
                json_string(name),
                json_string(&file.to_string_lossy())
            ));
        }
        let config = format!(
            "{{\"tables\": [{}], \"logins\": [{{\"user\": \"{USER}\", \"password\": \"${{BRIDGE_PW}}\"}}]}}",
            config_tables.join(", ")
        );
        let config_path = dir.join("bridge.json");
        std::fs::write(&config_path, config).expect("write the bridge config");
        let log_path = dir.join("bridge.log");
        let console = std::fs::File::create(dir.join("console.log")).expect("console log");
        let child = Command::new(&exe)
            .arg("--config")
            .arg(&config_path)
            .args(["--host", "127.0.0.1", "--port", "0", "--log"])
            .arg(&log_path)
            .env("BRIDGE_PW", password)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(console.try_clone().expect("console log"))
            .stderr(console)
            .current_dir(&dir)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start pysqlbridge ({}): {e}; run scripts/test.sh",
                    exe.display()
                )
            });
        let mut bridge = Bridge {
            port: 0,
            child,
            dir,
            log_path,
        };
        bridge.port = bridge.wait_listening();
        bridge
    }

    /// `127.0.0.1,<port>`, as a `server:` value.
    pub fn server(&self) -> String {
        format!("127.0.0.1,{}", self.port)
    }

    /// Everything the bridge logged so far (its `--log` file, then its console output).
    pub fn log(&self) -> String {
        let mut text = read_lossy(&self.log_path);
        let console = read_lossy(&self.dir.join("console.log"));
        if !console.trim().is_empty() && !text.contains(console.trim()) {
            text.push_str("\n--- console ---\n");
            text.push_str(&console);
        }
        text
    }

    /// The number of `connection from` lines in the log: connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        read_lossy(&self.log_path)
            .lines()
            .filter(|l| l.contains("connection from"))
            .count()
    }

    /// Waits for `listening on 127.0.0.1:<port>` in the log, then for a TCP connect.
    fn wait_listening(&mut self) -> u16 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll pysqlbridge") {
                panic!(
                    "pysqlbridge exited ({status}) before listening; its log:\n{}",
                    self.log()
                );
            }
            let port = read_lossy(&self.log_path).lines().find_map(|l| {
                l.split_once("listening on 127.0.0.1:")
                    .and_then(|(_, p)| p.trim().parse::<u16>().ok())
            });
            if let Some(port) = port {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return port;
                }
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "pysqlbridge did not accept connections within {START_TIMEOUT:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Established TCP connections (IPv4 and IPv6) whose remote port is `port`: the client
/// ends of connections to a local server on that port, whoever opened them.
pub fn client_connections(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .map(|f| {
            read_lossy(Path::new(f))
                .lines()
                .skip(1)
                .filter(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    // sl local_address rem_address st ...; addresses are HEXIP:HEXPORT.
                    cols.len() > 3
                        && cols[3] == "01"
                        && cols[2]
                            .rsplit_once(':')
                            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                            == Some(port)
                })
                .count()
        })
        .sum()
}

/// Samples [`client_connections`] to `port` every 20 ms while `run` runs; returns the
/// most seen at once, and what `run` returned.
pub fn max_client_connections<T>(port: u16, run: impl FnOnce() -> T) -> (usize, T) {
    let done = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, max) = (done.clone(), max.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                max.fetch_max(client_connections(port), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let out = run();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("connection sampler");
    (max.load(Ordering::Relaxed), out)
}

fn fresh_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hygge-tds-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the bridge's folder");
    dir
}

fn read_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\u000ad\"");
    }

    #[test]
    fn a_bridge_starts_listens_logs_and_stops() {
        let bridge = Bridge::start(&[("t", "id,name\n1,a\n2,b\n".to_string())], "pw-1");
        assert_ne!(bridge.port, 0);
        let log = bridge.log();
        assert!(log.contains("serving 1 table(s): t"), "{log}");
        assert!(log.contains("admitting 1 SQL login(s): sa"), "{log}");
        assert!(!log.contains("pw-1"), "the password was logged: {log}");
        let before = bridge.connections_accepted();
        let (max, ()) = max_client_connections(bridge.port, || {
            let _c = TcpStream::connect(("127.0.0.1", bridge.port)).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        assert_eq!(max, 1, "the sampler saw the one connection");
        let start = Instant::now();
        while bridge.connections_accepted() == before && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(bridge.connections_accepted() > before, "{}", bridge.log());
        let port = bridge.port;
        drop(bridge);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "still listening after drop"
        );
    }
}
