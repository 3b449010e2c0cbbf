#!/usr/bin/env python3
"""Parquet -> DuckDB and DuckDB -> Parquet (run_duckdb.sh calls it, with bench/.venv-duckdb's Python).

    python bench/bench_duckdb.py --data bench/data/rows_10000000 --runs 3 --warmup 1 \\
        --hygge-bin target/release/hygge [--tools hygge,duckdb] [--scenarios load,export]

Two scenarios on the data set written by generate.py (4 entities, zstd Parquet), each
hygge against DuckDB itself (the Python `duckdb` package, pinned by run_duckdb.sh to the
version bundled in hygge, 1.5.6):

  load    Parquet -> DuckDB, into one fresh database file, a table per entity.
          hygge   a generated project: Parquet home (the data folder) -> `type: duckdb`
                  store (`path` the database file, `table: "{entity}"`), `run_type:
                  full_drop`, `hygge go --concurrency 4`;
          duckdb  one Python process: `CREATE TABLE "<e>" AS SELECT * FROM
                  read_parquet('<data>/<e>/*.parquet')` per entity, then close.
          The database file (and its .wal) is deleted and `sync`ed before each run. Checked
          afterwards with the duckdb module (untimed): every table has the input's rows,
          its columns in order, and the same fingerprint of the values as the input
          (sums of id, customer_id, amount in cents, price, string lengths, created_at in
          epoch microseconds, is_paid, and the null counts).
  export  DuckDB -> Parquet. The source is one DuckDB file built once (untimed, reused while
          its stamp matches the rows and the duckdb version) by DuckDB's CTAS from the same
          Parquet: <data>/_duckdb/source.duckdb.
          hygge   `type: duckdb` home (`path` the source, `table: "{entity}"`, the default
                  batch_size) -> `type: parquet` store, `compression: snappy` (the store's
                  default, README "Parquet"; written out so that both tools surely use the
                  same codec), store `batch_size` = rows per entity (one file per entity, as
                  DuckDB writes; `HYGGE_FILE_ROWS` overrides), concurrency 4;
          duckdb  one Python process opening the source read-only: `COPY "<e>" TO
                  '<out>/<e>.parquet' (FORMAT parquet, COMPRESSION snappy)` per entity
                  (snappy is also DuckDB's own default).
          The output folder is deleted and `sync`ed before each run. Checked with pyarrow
          (the footers: rows and columns per entity) and the same fingerprint as above read
          back by the duckdb module. Nothing opens the source file while a tool runs
          (DuckDB locks its file).

Rounds, timing and checks as bench_sqlite.py: per scenario --warmup rounds, then --runs
rounds, every tool once per round in an order rotated from round to round; each run is one
whole process under `/usr/bin/time -f '%e %M %U %S'` (wall s, peak RSS KiB, user s, system
s). A run counts only when the process exits 0 and its output passes the checks above.
Both tools use their default threading; hygge runs the 4 entities concurrently.

The DuckDB peer runs as `python bench/bench_duckdb.py peer load|export ...`: this file's
peer mode imports only the standard library and duckdb, so the peer pays its own start-up
(Python, duckdb) and nothing of the harness.

Writes bench/results/<time>-duckdb-<rows>.json. Exit status 3 when a measured run failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = ("hygge", "duckdb")
SCENARIOS = {"load": "Parquet → DuckDB", "export": "DuckDB → Parquet"}
CODEC = "snappy"  # hygge's parquet store default (README, "Parquet"); DuckDB's COPY uses the same


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ----------------------------------------------------------------------------- the peer


def peer(argv: list[str]) -> None:
    """DuckDB itself, one process: the timed side of the `duckdb` tool."""
    p = argparse.ArgumentParser(prog="bench_duckdb.py peer")
    p.add_argument("scenario", choices=list(SCENARIOS))
    p.add_argument("--db", required=True, help="load: the database to create; export: the source")
    p.add_argument("--data", help="load: the Parquet data folder")
    p.add_argument("--out", help="export: the output folder")
    p.add_argument("--entities", required=True, help="comma-separated")
    a = p.parse_args(argv)
    import duckdb

    entities = [e for e in a.entities.split(",") if e]
    if a.scenario == "load":
        con = duckdb.connect(a.db)
        for e in entities:
            src = os.path.join(a.data, e, "*.parquet")
            con.execute(f"CREATE TABLE {ident(e)} AS SELECT * FROM read_parquet({lit(src)})")
        con.close()
    else:
        os.makedirs(a.out, exist_ok=True)
        con = duckdb.connect(a.db, read_only=True)
        for e in entities:
            dst = os.path.join(a.out, f"{e}.parquet")
            con.execute(f"COPY {ident(e)} TO {lit(dst)} (FORMAT parquet, COMPRESSION {CODEC})")
        con.close()


# ----------------------------------------------------------------------------- checks

FINGERPRINT = (
    "SELECT count(*), sum(id), sum(customer_id), count(amount), sum(round(amount * 100)::BIGINT), "
    "sum(price), sum(length(status)), count(note), sum(length(note)), "
    "sum(epoch_us(created_at)), sum(is_paid::INTEGER) FROM {rel}"
)


def fingerprint(con, rel: str) -> list[str]:
    return [str(x) for x in con.execute(FINGERPRINT.format(rel=rel)).fetchone()]


def parquet_rel(paths: list[str]) -> str:
    return "read_parquet([" + ", ".join(lit(p) for p in paths) + "])"


def source_fingerprints(data: str, manifest: dict) -> dict[str, list[str]]:
    import duckdb

    con = duckdb.connect()
    out = {e: fingerprint(con, f"read_parquet({lit(os.path.join(data, e, '*.parquet'))})") for e in manifest["entities"]}
    con.close()
    return out


def source_db(data: str, manifest: dict) -> str:
    """The export scenario's source: <data>/_duckdb/source.duckdb, built once by DuckDB's CTAS."""
    import duckdb

    folder = os.path.join(data, "_duckdb")
    os.makedirs(folder, exist_ok=True)
    db = os.path.join(folder, "source.duckdb")
    stamp = db + ".stamp"
    want = json.dumps({"rows": manifest["rows"], "duckdb": duckdb.__version__})
    if os.path.exists(db) and os.path.exists(stamp) and open(stamp).read().strip() == want:
        return db
    base.log(f"building {db} (DuckDB {duckdb.__version__}, CREATE TABLE ... AS SELECT * FROM read_parquet)")
    for path in (db, db + ".wal", stamp):
        if os.path.exists(path):
            os.remove(path)
    con = duckdb.connect(db)
    for e in manifest["entities"]:
        src = os.path.join(data, e, "*.parquet")
        con.execute(f"CREATE TABLE {ident(e)} AS SELECT * FROM read_parquet({lit(src)})")
    con.execute("CHECKPOINT")
    con.close()
    with open(stamp, "w") as f:
        f.write(want)
    return db


def verify_load(db: str, scenario: dict) -> tuple[list[str], dict]:
    """The tables of a loaded database: rows, columns, fingerprint; and the column types."""
    import duckdb

    problems, types = [], {}
    try:
        con = duckdb.connect(db, read_only=True)
    except duckdb.Error as err:
        return [f"cannot open {db}: {err}"], types
    try:
        for e, info in scenario["manifest"]["entities"].items():
            cols = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                [e],
            ).fetchall()
            if not cols:
                problems.append(f"{e}: no table")
                continue
            types = types or {c: t for c, t in cols}
            names = [c for c, _ in cols]
            if names != scenario["columns"]:
                problems.append(f"{e}: columns {names}, expected {scenario['columns']}")
                continue
            fp = fingerprint(con, f"main.{ident(e)}")
            if int(fp[0]) != info["rows"]:
                problems.append(f"{e}: {int(fp[0]):,} rows, expected {info['rows']:,}")
            elif fp != scenario["fingerprints"][e]:
                problems.append(f"{e}: values differ from the input (fingerprint {fp} != {scenario['fingerprints'][e]})")
    except duckdb.Error as err:
        problems.append(f"cannot read {db}: {err}")
    finally:
        con.close()
    return problems, types


def verify_export(out: str, scenario: dict) -> tuple[list[str], dict, dict]:
    """The Parquet files written: rows and columns from the footers (pyarrow), then values."""
    import duckdb
    import pyarrow.parquet as pq

    check = base.verify(out, scenario["manifest"], scenario["columns"])
    problems = check.pop("problems")
    types = {}
    if not problems:
        con = duckdb.connect()
        try:
            for e in scenario["manifest"]["entities"]:
                files = base.parquet_files(out, e)
                if not types:
                    types = {f.name: str(f.type) for f in pq.read_schema(files[0])}
                fp = fingerprint(con, parquet_rel(files))
                if fp != scenario["fingerprints"][e]:
                    problems.append(f"{e}: values differ from the input (fingerprint {fp} != {scenario['fingerprints'][e]})")
        except duckdb.Error as err:
            problems.append(f"cannot read the output: {err}")
        finally:
            con.close()
    return problems, check, types


# ----------------------------------------------------------------------------- runs


def hygge_project(project: str, key: str, scenario: dict, target: str) -> None:
    """A one-flow project: Parquet -> DuckDB (load) or DuckDB -> Parquet (export)."""
    shutil.rmtree(project, ignore_errors=True)
    os.makedirs(os.path.join(project, "flows", key))
    entities = list(scenario["manifest"]["entities"])
    with open(os.path.join(project, "hygge.yml"), "w") as f:
        f.write(f"name: bench\noptions:\n  concurrency: {concurrency()}\n")
    if key == "load":
        home = f"home:\n  type: parquet\n  path: {json.dumps(scenario['data'])}\n"
        store = f"store:\n  type: duckdb\n  path: {json.dumps(target)}\n  table: \"{{entity}}\"\n"
    else:
        home = f"home:\n  type: duckdb\n  path: {json.dumps(scenario['source_db'])}\n  table: \"{{entity}}\"\n"
        read_batch = os.environ.get("HYGGE_READ_BATCH")  # unset: the duckdb home's default
        if read_batch:
            home += f"  batch_size: {int(read_batch)}\n"
        file_rows = int(os.environ.get("HYGGE_FILE_ROWS") or max(
            e["rows"] for e in scenario["manifest"]["entities"].values()
        ))
        store = (
            f"store:\n  type: parquet\n  path: {json.dumps(target)}\n"
            f"  compression: {CODEC}\n  batch_size: {file_rows}\n"
        )
    with open(os.path.join(project, "flows", key, "flow.yml"), "w") as f:
        f.write(home + store + f"run_type: full_drop\nentities: [{', '.join(entities)}]\n")


def concurrency() -> int:
    return int(os.environ.get("HYGGE_CONCURRENCY") or 4)


def run_one(tool: str, args, key: str, scenario: dict, round_no: int, warmup: bool) -> dict:
    out = os.path.join(args.out_root, "duckdb", key, tool)
    shutil.rmtree(out, ignore_errors=True)  # the database file and its .wal, or the Parquet folder
    os.makedirs(out)
    subprocess.run(["sync"], check=False)
    target = os.path.join(out, "bench.duckdb") if key == "load" else os.path.join(out, "parquet")
    entities = ",".join(scenario["manifest"]["entities"])
    if tool == "hygge":
        project = os.path.join(args.out_root, "projects", f"duckdb_{key}_hygge")
        hygge_project(project, key, scenario, target)
        cmd = [args.hygge_bin, "go", "--project-dir", project, "--concurrency", str(concurrency()),
               "--output", "json"]
        cwd = project
    elif tool == "duckdb":
        cmd = [sys.executable, os.path.abspath(__file__), "peer", key, "--entities", entities]
        if key == "load":
            cmd += ["--db", target, "--data", scenario["data"]]
        else:
            cmd += ["--db", scenario["source_db"], "--out", target]
        cwd = out
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    tag = f"duckdb_{key}_{scenario['rows']}_{tool}_{'warmup' if warmup else 'run'}{round_no}"
    logs = os.path.join(args.out_root, "logs")
    os.makedirs(logs, exist_ok=True)
    timing = os.path.join(logs, f"{tag}.time")
    stdout_path, stderr_path = os.path.join(logs, f"{tag}.out"), os.path.join(logs, f"{tag}.err")
    with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
        proc = subprocess.run([base.TIME, "-f", "%e %M %U %S", "-o", timing, *cmd], stdout=so, stderr=se, cwd=cwd)
    rec = {"tool": tool, "round": round_no, "warmup": warmup, "exit_code": proc.returncode, "command": cmd}
    try:
        last = open(timing).read().strip().splitlines()[-1].split()
        rec.update(wall_s=float(last[0]), max_rss_kib=int(last[1]), user_s=float(last[2]), sys_s=float(last[3]))
    except (OSError, IndexError, ValueError):
        rec.update(wall_s=None, max_rss_kib=None, user_s=None, sys_s=None)
    problems = []
    if proc.returncode != 0:
        with open(stderr_path, errors="replace") as f:
            tail = f.read().strip().splitlines()[-5:]
        problems.append(f"exit code {proc.returncode}: " + " | ".join(tail))
    if rec["wall_s"] is None:
        problems.append("no timing from /usr/bin/time")
    types = {}
    if key == "load":
        if proc.returncode == 0:
            found, types = verify_load(target, scenario)
            problems += found
        rec["bytes_written"] = sum(os.path.getsize(target + s) for s in ("", ".wal") if os.path.exists(target + s))
        rec["files_written"] = 1
    else:
        if proc.returncode == 0:
            found, check, types = verify_export(target, scenario)
            problems += found
            rec.update(check)
        else:
            rec.update(rows_written=0, files_written=0, bytes_written=0)
    if tool == "hygge" and proc.returncode == 0:
        try:
            with open(stdout_path) as f:
                report = json.load(f)
            rec["hygge_report"] = {
                "duration_secs": report["report"]["duration_secs"],
                "totals": report["report"]["totals"],
            }
        except (OSError, ValueError, KeyError, TypeError):
            pass
    rec["types"] = types or None
    rec["rows"] = scenario["rows"]
    rec["status"] = "ok" if not problems else "failed"
    rec["problems"] = problems
    return rec


def hygge_duckdb_version() -> str | None:
    """The DuckDB bundled in hygge, from Cargo.lock's libduckdb-sys (1.MMmmpp.x: 1.10506.1 is 1.5.6)."""
    try:
        text = open(os.path.join(HERE, "..", "Cargo.lock")).read()
    except OSError:
        return None
    m = re.search(r'name = "libduckdb-sys"\nversion = "(1\.(\d+)\.\d+)"', text)
    if not m:
        return None
    n = int(m.group(2))
    return f"{n // 10000}.{n // 100 % 100}.{n % 100} (libduckdb-sys {m.group(1)})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--hygge-bin", default=os.path.join(HERE, "..", "target", "release", "hygge"))
    p.add_argument("--out-root", default=os.path.join(HERE, "out"))
    args = p.parse_args()
    args.data, args.out_root = os.path.abspath(args.data), os.path.abspath(args.out_root)
    if os.path.sep in args.hygge_bin:
        args.hygge_bin = os.path.abspath(args.hygge_bin)
    tools = [t for t in args.tools.split(",") if t]
    keys = [s for s in args.scenarios.split(",") if s]
    for t in tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r} (known: {', '.join(TOOLS)})")
    for k in keys:
        if k not in SCENARIOS:
            p.error(f"unknown scenario {k!r} (known: {', '.join(SCENARIOS)})")
    if not os.access(base.TIME, os.X_OK):
        raise SystemExit(f"{base.TIME} is needed (apt-get install time)")
    import duckdb
    import pyarrow.dataset as ds

    manifest = json.load(open(os.path.join(args.data, "_manifest.json")))
    e0 = next(iter(manifest["entities"]))
    common = {
        "data": args.data,
        "rows": manifest["rows"],
        "manifest": manifest,
        "columns": ds.dataset(os.path.join(args.data, e0), format="parquet").schema.names,
        "fingerprints": source_fingerprints(args.data, manifest),
    }
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    scenarios = []
    for key in keys:
        scenario = dict(common, title=SCENARIOS[key])
        if key == "export":
            scenario["source_db"] = source_db(args.data, manifest)
        runs = []
        for r in range(args.warmup + args.runs):
            warm = r < args.warmup
            order = tools[r % len(tools):] + tools[: r % len(tools)]
            for tool in order:
                rec = run_one(tool, args, key, scenario, r, warm)
                base.log(
                    f"{scenario['title']}: {'warm-up' if warm else 'run'} {r}: {tool}: {rec['status']} "
                    f"{rec.get('wall_s')} s, {(rec.get('max_rss_kib') or 0) / 1024:,.0f} MiB {rec['problems']}"
                )
                runs.append(rec)
        entry = {"name": key, "title": scenario["title"], "rows": scenario["rows"], "kind": "compare",
                 "tools": tools, "runs": runs}
        if key == "export":
            entry["source_db_bytes"] = os.path.getsize(scenario["source_db"])
        scenarios.append(entry)
    result = {
        "mode": "duckdb",
        "started_utc": started,
        "finished_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "warmup_rounds": args.warmup,
        "runs_per_tool": args.runs,
        "settings": {k: os.environ.get(k) for k in ("HYGGE_CONCURRENCY", "HYGGE_FILE_ROWS", "HYGGE_READ_BATCH")},
        "compression": CODEC,
        "machine": base.machine_info(),
        "versions": {**base.versions(args.hygge_bin), "duckdb": duckdb.__version__,
                     "hygge_duckdb": hygge_duckdb_version()},
        "scenarios": scenarios,
    }
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(HERE, "results", f"{stamp}-duckdb-{manifest['rows']}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    base.log(f"raw results: {os.path.relpath(path)}")
    print(path)
    failed = any(r["status"] != "ok" for s in scenarios for r in s["runs"] if not r["warmup"])
    sys.exit(3 if failed else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["peer"]:
        peer(sys.argv[2:])
    else:
        sys.path.insert(0, HERE)
        import bench as base  # bench/bench.py: machine info, versions, verify, TIME, log

        main()
