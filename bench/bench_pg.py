#!/usr/bin/env python3
"""The PostgreSQL side of the benchmark (run_pg.sh calls it), with bench/.venv-pg's Python.

    python bench/bench_pg.py --data bench/data/rows_10000000 --runs 3 --warmup 1 \\
        --hygge-bin target/release/hygge [--scenarios read,write] \\
        [--read-tools hygge,hygge_nofsync,duckdb,connectorx,psql] [--write-tools hygge,duckdb,psql]

1. Source: the data set (written by generate.py) is loaded into the tables public.<entity>
   of the database --db (created if missing; no other database is touched), with the
   Parquet schema's exact column types (bigint, integer, double precision, numeric(18,4),
   text, text, timestamp, boolean; NOT NULL where the Parquet field is required), a primary
   key on id, then VACUUM (FREEZE, ANALYZE). A comment on each table names the data set;
   when every table carries it and holds the right row count, the load is skipped.
2. Scenario "read" (PostgreSQL -> Parquet, snappy, one file per table): hygge; DuckDB's
   postgres extension; ConnectorX + pyarrow; and the raw single-stream limit, psql
   `\\copy (SELECT * FROM public.<e>) TO '/dev/null' WITH (FORMAT binary)` for the tables
   one after the other in one psql process.
3. Scenario "write" (Parquet -> PostgreSQL): hygge (run_type full_drop); DuckDB's postgres
   extension (CREATE TABLE pg.<schema>.<e> AS SELECT * FROM read_parquet(...)); and the raw
   limit, psql `CREATE TABLE <schema>.<e> (LIKE public.<e>)` + `\\copy <schema>.<e> FROM
   '<file>' WITH (FORMAT binary)` from binary COPY files made beforehand (untimed). Each
   tool writes into its own schema `<tool>_out`, dropped and created empty before every run
   (and dropped again once the run is checked).

Rounds, timing and checks as bench.py: --warmup rounds then --runs rounds, every tool once
per round in a rotated order; each run is one whole process under `/usr/bin/time`; before
each run the output is deleted, `sync` and a PostgreSQL CHECKPOINT are done. A run counts
only when the process exits 0 and every entity's output has the source's row count, its
column names in order, and the source's fingerprint (sums over id, amount, price, note and
status lengths, created_at as epoch microseconds, is_paid; null counts); otherwise it is
recorded as failed, not timed. When PostgreSQL runs on this machine, the CPU seconds its
processes spent during the run are recorded too (server_cpu_s).

Writes bench/results/<time>-pg-<rows>.json. Exit status 3 when a measured run failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from importlib import metadata

import pyarrow as pa
import pyarrow.parquet as pq

import bench as base  # bench/bench.py: machine info, versions, Parquet output checks

HERE = base.HERE
TIME = base.TIME
log = base.log
READ_TOOLS = ("hygge", "hygge_nofsync", "duckdb", "connectorx", "psql")
WRITE_TOOLS = ("hygge", "duckdb", "psql")
PEER_SCRIPT = os.path.join(HERE, "pg_peers.py")
FINGERPRINT = (
    "rows", "sum_id", "n_amount", "sum_amount", "sum_price", "n_note", "len_note",
    "len_status", "sum_created_us", "n_paid",
)


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# ----------------------------------------------------------------------------- PostgreSQL


class Pg:
    """psql as the bench's client (nothing to install beyond psql itself)."""

    def __init__(self, host: str, port: int, user: str, db: str, sslmode: str):
        self.host, self.port, self.user, self.db, self.sslmode = host, port, user, db, sslmode

    def dsn(self) -> str:
        return f"dbname={self.db} host={self.host} port={self.port} user={self.user} sslmode={self.sslmode}"

    def base_cmd(self, db: str | None = None) -> list[str]:
        return ["psql", "-X", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db or self.db,
                "-v", "ON_ERROR_STOP=1"]

    def query(self, sql: str, db: str | None = None) -> list[list[str]]:
        """Rows of the last statement, as strings (NULL as '')."""
        out = subprocess.run(
            [*self.base_cmd(db), "-q", "-t", "-A", "-F", "\t", "-c", sql],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed ({out.returncode}): {out.stderr.strip()}\n  SQL: {sql[:300]}")
        return [line.split("\t") for line in out.stdout.splitlines() if line != ""]

    def run(self, sql: str, db: str | None = None) -> None:
        self.query(sql, db)

    def ensure_database(self) -> None:
        if not self.query(f"SELECT 1 FROM pg_database WHERE datname = {sql_str(self.db)}", db="postgres"):
            log(f"creating database {self.db}")
            self.run(f"CREATE DATABASE {ident(self.db)}", db="postgres")

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.query(f"SELECT to_regclass({sql_str(ident(schema) + '.' + ident(table))}) IS NOT NULL")
                    [0][0] == "t")

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(name, type) in column order; the type as format_type() writes it."""
        rows = self.query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            f"WHERE a.attrelid = {sql_str(ident(schema) + '.' + ident(table))}::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )
        return [(r[0], r[1]) for r in rows]

    def fingerprint(self, schema: str, table: str) -> dict:
        t = f"{ident(schema)}.{ident(table)}"
        row = self.query(
            "SELECT count(*), sum(id), count(amount), sum(amount), sum(price), count(note), "
            "coalesce(sum(length(note)), 0), sum(length(status)), "
            "sum(extract(epoch from created_at) * 1000000), sum(is_paid::int) "
            f"FROM {t}"
        )[0]
        return fingerprint_from(row)

    def server_version(self) -> str | None:
        try:
            return self.query("SELECT version()")[0][0]
        except RuntimeError:
            return None


def fingerprint_from(row) -> dict:
    """Typed fingerprint values from a result row (strings from psql, or DuckDB values)."""
    fp = {}
    for key, v in zip(FINGERPRINT, row):
        if v is None or v == "":
            fp[key] = None
        elif key in ("sum_amount", "sum_price"):
            fp[key] = float(v)
        else:
            fp[key] = int(Decimal(str(v)))
    return fp


def fingerprint_problems(entity: str, got: dict, want: dict) -> list[str]:
    problems = []
    for key in FINGERPRINT:
        g, w = got.get(key), want.get(key)
        if key in ("sum_amount", "sum_price") and g is not None and w is not None:
            same = math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-6)
        else:
            same = g == w
        if not same:
            problems.append(f"{entity}: {key} = {g} (source: {w})")
    return problems


def parquet_fingerprint(con, files: list[str]) -> dict:
    """The same fingerprint over Parquet files, with DuckDB (in this process)."""
    lst = "[" + ", ".join(sql_str(f) for f in files) + "]"
    row = con.execute(
        "SELECT count(*), sum(id), count(amount), sum(amount), sum(price), count(note), "
        "coalesce(sum(length(note)), 0), sum(length(status)), sum(epoch_us(created_at)), "
        f"sum(is_paid::int) FROM read_parquet({lst})"
    ).fetchone()
    return fingerprint_from(row)


# PostgreSQL CPU: the postgres processes' user + system time, plus what the postmaster has
# reaped from backends that exited (cutime + cstime). The difference over a run is the
# server's CPU during the run, whether its backends lived through it or not.
def pg_cpu_seconds() -> float | None:
    ticks = os.sysconf("SC_CLK_TCK")
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        if comm != "postgres":
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields from #3 (state) on
        procs[int(pid)] = (int(fields[1]), [int(x) for x in fields[11:15]])  # ppid; utime stime cutime cstime
    if not procs:
        return None
    total = 0
    for ppid, (ut, st, cut, cst) in procs.values():
        total += ut + st
        if ppid not in procs:  # the postmaster
            total += cut + cst
    return total / ticks


# ----------------------------------------------------------------------------- source


PG_TYPES = {
    pa.int64(): "bigint", pa.int32(): "integer", pa.int16(): "smallint", pa.float64(): "double precision",
    pa.float32(): "real", pa.string(): "text", pa.large_string(): "text", pa.bool_(): "boolean",
}


def pg_type(t: pa.DataType) -> str:
    if t in PG_TYPES:
        return PG_TYPES[t]
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    raise SystemExit(f"no PostgreSQL type for {t}")


def source_ddl(schema: pa.Schema) -> str:
    cols = [f"{ident(f.name)} {pg_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in schema]
    return "(" + ", ".join(cols) + ")"


def load_source(pg: Pg, sc: dict, args) -> None:
    """public.<entity> hold the data set, loaded once (see the module's docstring)."""
    manifest, marker = sc["manifest"], sc["marker"]
    fresh = True
    for e, want in manifest["entities"].items():
        if not pg.table_exists(args.source_schema, e):
            fresh = False
            break
        row = pg.query(
            f"SELECT obj_description({sql_str(ident(args.source_schema) + '.' + ident(e))}::regclass, 'pg_class'), "
            f"(SELECT count(*) FROM {ident(args.source_schema)}.{ident(e)})"
        )[0]
        if row[0] != marker or int(row[1]) != want["rows"]:
            fresh = False
            break
    if fresh:
        log(f"source tables {args.source_schema}.{{{','.join(manifest['entities'])}}} already hold {marker!r}")
        return
    log(f"loading {sc['rows']:,} rows into {pg.db}.{args.source_schema} (untimed)")
    started = time.monotonic()
    ddl = source_ddl(sc["schema"])
    pg.run(f"CREATE SCHEMA IF NOT EXISTS {ident(args.source_schema)}")
    for e in manifest["entities"]:
        t = f"{ident(args.source_schema)}.{ident(e)}"
        pg.run(f"DROP TABLE IF EXISTS {t}; CREATE TABLE {t} {ddl}")
    subprocess.run(
        [sys.executable, PEER_SCRIPT, "duckdb_load", "--dsn", pg.dsn(), "--entities", ",".join(manifest["entities"]),
         "--data", sc["data"], "--schema", args.source_schema],
        check=True,
    )
    for e, want in manifest["entities"].items():
        t = f"{ident(args.source_schema)}.{ident(e)}"
        pg.run(f"ALTER TABLE {t} ADD PRIMARY KEY (id)")
        pg.run(f"VACUUM (FREEZE, ANALYZE) {t}")
        got = int(pg.query(f"SELECT count(*) FROM {t}")[0][0])
        if got != want["rows"]:
            raise SystemExit(f"loading {e}: {got:,} rows in PostgreSQL, {want['rows']:,} in the data set")
        fp = pg.fingerprint(args.source_schema, e)
        problems = fingerprint_problems(e, fp, sc["fingerprints"][e])
        if problems:
            raise SystemExit("the loaded source differs from the Parquet data: " + "; ".join(problems))
        pg.run(f"COMMENT ON TABLE {t} IS {sql_str(marker)}")
    log(f"  loaded in {time.monotonic() - started:.1f} s")


def ensure_copy_files(pg: Pg, sc: dict, args) -> str:
    """Binary COPY files of the source tables, for the raw write limit (made once, untimed)."""
    folder = os.path.join(args.out_root, "pg", f"copy_rows_{sc['rows']}")
    stamp = os.path.join(folder, "_source")
    if os.path.isfile(stamp) and open(stamp).read() == sc["marker"]:
        return folder
    log(f"writing binary COPY files into {os.path.relpath(folder)} (untimed)")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for e in sc["manifest"]["entities"]:
        path = os.path.join(folder, f"{e}.bin")
        pg.run(f"\\copy {ident(args.source_schema)}.{ident(e)} TO {sql_str(path)} WITH (FORMAT binary)")
    with open(stamp, "w") as f:
        f.write(sc["marker"])
    return folder


# ----------------------------------------------------------------------------- tools


def write_hygge_project(project: str, kind: str, sc: dict, pg: Pg, args, out: str, fsync: bool) -> str:
    """A one-flow project; returns the flow's name."""
    entities = list(sc["manifest"]["entities"])
    concurrency = int(os.environ.get("HYGGE_CONCURRENCY") or len(entities))
    pool = int(os.environ.get("HYGGE_PG_POOL") or 4)
    # Unset: each home's own default batch_size (postgres 50,000 rows, parquet 10,000).
    batch = os.environ.get("HYGGE_PG_BATCH")
    batch_line = f"  batch_size: {int(batch)}\n" if batch else ""
    shutil.rmtree(project, ignore_errors=True)
    flow = "pg_to_parquet" if kind == "read" else "parquet_to_pg"
    os.makedirs(os.path.join(project, "flows", flow))
    with open(os.path.join(project, "hygge.yml"), "w") as f:
        f.write(
            "name: bench_pg\n"
            "connections:\n"
            "  pg:\n"
            "    type: postgres\n"
            f"    host: {pg.host}\n"
            f"    port: {pg.port}\n"
            f"    database: {pg.db}\n"
            f"    user: {pg.user}\n"
            f"    sslmode: {pg.sslmode}\n"
            f"    pool_size: {pool}\n"
            "options:\n"
            f"  concurrency: {concurrency}\n"
        )
    if kind == "read":
        file_rows = int(os.environ.get("HYGGE_FILE_ROWS") or max(e["rows"] for e in sc["manifest"]["entities"].values()))
        text = (
            "home:\n  type: postgres\n  connection: pg\n"
            f"  table: \"{args.source_schema}.{{entity}}\"\n{batch_line}"
            f"store:\n  type: parquet\n  path: {json.dumps(out)}\n  compression: snappy\n"
            f"  batch_size: {file_rows}\n"
        )
        if not fsync:
            text += "  fsync: false\n"
    else:
        text = (
            f"home:\n  type: parquet\n  path: {json.dumps(sc['data'])}\n{batch_line}"
            f"store:\n  type: postgres\n  connection: pg\n  schema: {out}\n  table: \"{{entity}}\"\n"
            "run_type: full_drop\n"
        )
    text += f"entities: [{', '.join(entities)}]\n"
    with open(os.path.join(project, "flows", flow, "flow.yml"), "w") as f:
        f.write(text)
    return flow


def psql_script(path: str, lines: list[str]) -> str:
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def command(tool: str, kind: str, sc: dict, pg: Pg, args, out: str, project: str) -> list[str]:
    entities = list(sc["manifest"]["entities"])
    if tool.startswith("hygge"):
        flow = write_hygge_project(project, kind, sc, pg, args, out, fsync=tool != "hygge_nofsync")
        return [args.hygge_bin, "go", "--project-dir", project, "--flow", flow, "--output", "json"]
    if tool == "psql":
        os.makedirs(project, exist_ok=True)
        src = args.source_schema
        if kind == "read":
            lines = [
                f"\\copy (SELECT * FROM {ident(src)}.{ident(e)}) TO '/dev/null' WITH (FORMAT binary)"
                for e in entities
            ]
        else:
            lines = []
            for e in entities:
                t = f"{ident(out)}.{ident(e)}"
                lines += [
                    f"CREATE TABLE {t} (LIKE {ident(src)}.{ident(e)});",
                    f"\\copy {t} FROM {sql_str(os.path.join(sc['copy_files'], e + '.bin'))} WITH (FORMAT binary)",
                ]
        script = psql_script(os.path.join(project, f"{kind}.sql"), lines)
        return [*pg.base_cmd(), "-f", script]
    peer = {("read", "duckdb"): "duckdb_read", ("read", "connectorx"): "connectorx_read",
            ("write", "duckdb"): "duckdb_write"}.get((kind, tool))
    if not peer:
        raise SystemExit(f"unknown {kind} tool {tool!r}")
    cmd = [sys.executable, PEER_SCRIPT, peer, "--dsn", pg.dsn(), "--entities", ",".join(entities),
           "--source-schema", args.source_schema]
    return cmd + (["--out", out] if kind == "read" else ["--data", sc["data"], "--schema", out])


# ----------------------------------------------------------------------------- checks


def verify_read(tool: str, out: str, sc: dict, stdout_path: str, con) -> dict:
    """Parquet outputs (or, for psql into /dev/null, the row counts psql reports)."""
    manifest = sc["manifest"]
    if tool == "psql":
        with open(stdout_path, errors="replace") as f:
            counts = [int(line.split()[1]) for line in f if line.startswith("COPY ")]
        want = [e["rows"] for e in manifest["entities"].values()]
        problems = [] if counts == want else [f"psql reported COPY {counts}, expected {want}"]
        return {"rows_written": sum(counts), "files_written": 0, "bytes_written": 0, "problems": problems}
    check = base.verify(out, manifest, sc["columns"])
    if check["problems"]:
        return check
    types = None
    for e in manifest["entities"]:
        files = base.parquet_files(out, e)
        check["problems"] += fingerprint_problems(e, parquet_fingerprint(con, files), sc["fingerprints"][e])
        if types is None:
            types = [f"{f.name}: {f.type}" for f in pq.read_schema(files[0])]
    check["types"] = types
    return check


def verify_write(out_schema: str, sc: dict, pg: Pg) -> dict:
    problems, rows, size, types = [], 0, 0, None
    for e, want in sc["manifest"]["entities"].items():
        if not pg.table_exists(out_schema, e):
            problems.append(f"{e}: no table {out_schema}.{e}")
            continue
        cols = pg.columns(out_schema, e)
        names = [c[0] for c in cols]
        if names != sc["columns"]:
            problems.append(f"{e}: columns {names} != {sc['columns']}")
            continue
        types = types or [f"{n}: {t}" for n, t in cols]
        fp = pg.fingerprint(out_schema, e)
        rows += fp["rows"] or 0
        if fp["rows"] != want["rows"]:
            problems.append(f"{e}: {fp['rows']:,} rows written, {want['rows']:,} expected")
        else:
            problems += fingerprint_problems(e, fp, sc["fingerprints"][e])
        size += int(pg.query(
            f"SELECT pg_total_relation_size({sql_str(ident(out_schema) + '.' + ident(e))}::regclass)")[0][0])
    return {"rows_written": rows, "files_written": 0, "bytes_written": size, "types": types, "problems": problems}


# ----------------------------------------------------------------------------- runs


def run_one(tool: str, kind: str, sc: dict, pg: Pg, args, round_no: int, warmup: bool, con) -> dict:
    project = os.path.join(args.out_root, "projects", f"pg_{kind}_{tool}_{sc['rows']}")
    if kind == "read":
        out = os.path.join(args.out_root, "pg", f"read_{tool}")
        shutil.rmtree(out, ignore_errors=True)
    else:
        out = f"{tool}_out"  # the target schema
        pg.run(f"DROP SCHEMA IF EXISTS {ident(out)} CASCADE; CREATE SCHEMA {ident(out)}")
    cmd = command(tool, kind, sc, pg, args, out, project)
    subprocess.run(["sync"], check=False)
    pg.run("CHECKPOINT")
    logs = os.path.join(args.out_root, "logs")
    os.makedirs(logs, exist_ok=True)
    tag = f"pg_{kind}_{sc['rows']}_{tool}_{'warmup' if warmup else 'run'}{round_no}"
    timing = os.path.join(logs, f"{tag}.time")
    stdout_path, stderr_path = os.path.join(logs, f"{tag}.out"), os.path.join(logs, f"{tag}.err")
    time.sleep(0.2)  # let the backends of the bench's own psql calls exit
    cpu0 = pg_cpu_seconds()
    with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
        proc = subprocess.run(
            [TIME, "-f", "%e %M %U %S", "-o", timing, *cmd], stdout=so, stderr=se,
            cwd=project if os.path.isdir(project) else args.out_root,
        )
    time.sleep(0.2)  # the tool's backends exit after it closes its connections
    cpu1 = pg_cpu_seconds()
    rec = {"tool": tool, "round": round_no, "warmup": warmup, "exit_code": proc.returncode, "command": cmd,
           "server_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None}
    try:
        with open(timing) as f:
            last = f.read().strip().splitlines()[-1].split()
        rec.update(wall_s=float(last[0]), max_rss_kib=int(last[1]), user_s=float(last[2]), sys_s=float(last[3]))
    except (OSError, IndexError, ValueError):
        rec.update(wall_s=None, max_rss_kib=None, user_s=None, sys_s=None)
    problems = []
    if proc.returncode != 0:
        with open(stderr_path, errors="replace") as f:
            tail = [line.strip()[:240] for line in f.read().strip().splitlines() if line.strip()][-4:]
        problems.append(f"exit code {proc.returncode}: " + " | ".join(tail))
    if rec["wall_s"] is None:
        problems.append("no timing from /usr/bin/time")
    if proc.returncode == 0:
        try:
            check = verify_read(tool, out, sc, stdout_path, con) if kind == "read" else verify_write(out, sc, pg)
        except Exception as e:  # noqa: BLE001 - a check that cannot run is a failed run
            check = {"problems": [f"check failed: {e}"]}
        problems += check.pop("problems")
        rec.update(check)
    if tool.startswith("hygge") and proc.returncode == 0:
        try:
            with open(stdout_path) as f:
                report = json.load(f)
            rec["hygge_report"] = {"duration_secs": report["report"]["duration_secs"],
                                   "totals": report["report"]["totals"]}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    rec["status"] = "ok" if not problems else "failed"
    rec["problems"] = problems
    if kind == "read":
        if not args.keep_output:
            shutil.rmtree(out, ignore_errors=True)
    elif not args.keep_output:
        pg.run(f"DROP SCHEMA IF EXISTS {ident(out)} CASCADE")
    return rec


def run_scenario(kind: str, tools: list[str], sc: dict, pg: Pg, args, con) -> dict:
    title = "PostgreSQL → Parquet" if kind == "read" else "Parquet → PostgreSQL"
    scen = {
        "name": f"{'pg_to_parquet' if kind == 'read' else 'parquet_to_pg'}_{sc['rows']}",
        "kind": kind,
        "title": title,
        "rows": sc["rows"],
        "data": sc["data"],
        "columns": sc["columns"],
        "input_bytes": sc["input_bytes"] if kind == "write" else sc["source_bytes"],
        "tools": tools,
        "runs": [],
    }
    rounds = [(i + 1, True) for i in range(args.warmup)] + [(i + 1, False) for i in range(args.runs)]
    for k, (round_no, warmup) in enumerate(rounds):
        order = tools[k % len(tools):] + tools[: k % len(tools)]
        for tool in order:
            log(f"{title} · {sc['rows']:,} rows · {tool:13s} · {'warm-up' if warmup else 'run'} {round_no} ...")
            rec = run_one(tool, kind, sc, pg, args, round_no, warmup, con)
            scen["runs"].append(rec)
            if rec["status"] == "ok":
                srv = f", server {rec['server_cpu_s']:.1f} CPU s" if rec.get("server_cpu_s") is not None else ""
                log(f"    {rec['wall_s']:.2f} s, {rec['max_rss_kib'] / 1024:,.0f} MiB peak RSS, "
                    f"{rec['rows_written']:,} rows{srv}")
            else:
                log(f"    FAILED: {'; '.join(rec['problems'])}")
    return scen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a generated data folder")
    p.add_argument("--scenarios", default="read,write")
    p.add_argument("--read-tools", default=",".join(READ_TOOLS))
    p.add_argument("--write-tools", default=",".join(WRITE_TOOLS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--hygge-bin", default=os.path.join(HERE, "..", "target", "release", "hygge"))
    p.add_argument("--out-root", default=os.path.join(HERE, "out"))
    p.add_argument("--results", help="the JSON file to write (default bench/results/<time>-pg-<rows>.json)")
    p.add_argument("--keep-output", action="store_true", help="leave the last output of each tool")
    p.add_argument("--host", default=os.environ.get("PG_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PG_PORT", "5432")))
    p.add_argument("--user", default=os.environ.get("PG_USER", "postgres"))
    p.add_argument("--db", default=os.environ.get("PG_DB", "hygge_bench"))
    p.add_argument("--sslmode", default=os.environ.get("PG_SSLMODE", "disable"),
                   help="every tool's sslmode (default disable: no TLS on the local connection)")
    p.add_argument("--source-schema", default="public")
    args = p.parse_args()
    split = lambda s: [t.strip() for t in s.split(",") if t.strip()]  # noqa: E731
    scenarios = split(args.scenarios)
    args.hygge_bin = os.path.abspath(args.hygge_bin)
    args.out_root = os.path.abspath(args.out_root)
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} is needed (apt-get install time)")
    os.makedirs(args.out_root, exist_ok=True)

    import duckdb

    con = duckdb.connect()
    data = os.path.abspath(args.data)
    with open(os.path.join(data, "_manifest.json")) as f:
        manifest = json.load(f)
    first = next(iter(manifest["entities"].items()))
    schema = pq.read_schema(os.path.join(data, first[0], first[1]["files"][0]["file"]))
    sc = {
        "rows": manifest["rows"],
        "data": data,
        "manifest": manifest,
        "schema": schema,
        "columns": schema.names,
        "marker": f"hygge bench source: {os.path.basename(data)}, {manifest['rows']} rows, seed {manifest.get('seed')}",
        "input_bytes": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs
                           if f.endswith(".parquet")),
        "fingerprints": {
            e: parquet_fingerprint(con, [os.path.join(data, e, x["file"]) for x in m["files"]])
            for e, m in manifest["entities"].items()
        },
    }
    pg = Pg(args.host, args.port, args.user, args.db, args.sslmode)
    os.environ["PGSSLMODE"] = args.sslmode  # psql (and any libpq client) started from here
    pg.ensure_database()
    load_source(pg, sc, args)
    sc["source_bytes"] = sum(
        int(pg.query(f"SELECT pg_total_relation_size({sql_str(ident(args.source_schema) + '.' + ident(e))}::regclass)")[0][0])
        for e in manifest["entities"]
    )
    if "write" in scenarios and "psql" in split(args.write_tools):
        sc["copy_files"] = ensure_copy_files(pg, sc, args)

    started = dt.datetime.now(dt.timezone.utc)
    v = base.versions(args.hygge_bin)
    # the commit of the tree the binary was built in (HYGGE_BIN may come from another checkout)
    v["hygge_git"] = base.first_line(
        ["git", "-C", os.path.dirname(args.hygge_bin), "describe", "--always", "--dirty"]) or v["hygge_git"]
    for pkg in ("connectorx", "duckdb-extension-postgres-scanner"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    v["psql"] = base.first_line(["psql", "--version"])
    v["postgres_server"] = pg.server_version()
    result = {
        "mode": "pg",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": base.machine_info(),
        "versions": v,
        "runs_per_tool": args.runs,
        "warmup_rounds": args.warmup,
        "settings": {k: os.environ.get(k) for k in ("HYGGE_PG_POOL", "HYGGE_PG_BATCH", "HYGGE_CONCURRENCY",
                                                    "HYGGE_FILE_ROWS", "CX_PARTITIONS")},
        "postgres": {"host": pg.host, "port": pg.port, "database": pg.db, "sslmode": pg.sslmode,
                     "server_cpu_measured": pg_cpu_seconds() is not None},
        "scenarios": [],
    }
    for kind in scenarios:
        if kind not in ("read", "write"):
            raise SystemExit(f"unknown scenario {kind!r} (read, write)")
        tools = split(args.read_tools if kind == "read" else args.write_tools)
        result["scenarios"].append(run_scenario(kind, tools, sc, pg, args, con))
    result["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = args.results or os.path.join(HERE, "results", f"{started.strftime('%Y%m%dT%H%M%SZ')}-pg-{sc['rows']}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    log(f"raw results: {os.path.relpath(path)}")
    print(path)
    failed = [r for s in result["scenarios"] for r in s["runs"] if r["status"] != "ok" and not r["warmup"]]
    sys.exit(3 if failed else 0)


if __name__ == "__main__":
    main()
