#!/usr/bin/env python3
"""Parquet -> SQLite (run_sqlite.sh calls it, with bench/.venv's Python).

    python bench/bench_sqlite.py --data bench/data/rows_10000000 --runs 3 --warmup 1 \\
        --hygge-bin target/release/hygge [--sqlite3 /usr/bin/sqlite3]

One scenario: the data set written by generate.py (4 entities) loaded into one SQLite
database file, a table per entity, by:

  hygge    a generated project: Parquet home -> `type: sqlite` store (`path` the database
           file, `table: {entity}`, the default batch_size), concurrency 4; every column
           keeps its exact type (README, "SQLite types");
  sqlite3  the `sqlite3` shell importing the same rows as CSV (written once from the
           Parquet by pyarrow, not timed): `CREATE TABLE` with the columns' natural types,
           then `.import --csv --skip 1` per entity, in one process (the issue's peer: the
           shell's own bulk path).

Rounds, timing and checks as bench.py: --warmup rounds, then --runs rounds, every tool once
per round in an order rotated from round to round; each run is one whole process under
`/usr/bin/time -f '%e %M %U %S'`; the database file is deleted (and `sync`ed) before each
run. A run counts only when the process exits 0 and every table has exactly the input's
rows (`SELECT count(*)`) and columns.

Writes bench/results/<time>-sqlite-<rows>.json. Exit status 3 when a measured run failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys

import bench as base  # bench/bench.py: machine info, versions, log

HERE = base.HERE
TIME = base.TIME
log = base.log
TOOLS = ("hygge", "sqlite3")
COLUMNS = "id INTEGER, customer_id INTEGER, amount REAL, price NUMERIC, status TEXT, note TEXT, created_at TEXT, is_paid INTEGER"


def csv_files(data: str, manifest: dict, out_root: str) -> dict[str, str]:
    """Each entity as one CSV file (header line), written once by pyarrow."""
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    out = {}
    folder = os.path.join(data, "_csv")
    os.makedirs(folder, exist_ok=True)
    for e, info in manifest["entities"].items():
        path = os.path.join(folder, f"{e}.csv")
        out[e] = path
        stamp = path + ".rows"
        if os.path.exists(stamp) and open(stamp).read().strip() == str(info["rows"]):
            continue
        log(f"writing {path}")
        table = ds.dataset(os.path.join(data, e), format="parquet")
        with pacsv.CSVWriter(path, table.schema) as w:
            for batch in table.to_batches():
                w.write_batch(batch)
        with open(stamp, "w") as f:
            f.write(str(info["rows"]))
    return out


def hygge_project(project: str, data: str, db: str, entities: list[str]) -> None:
    os.makedirs(os.path.join(project, "flows", "load"), exist_ok=True)
    with open(os.path.join(project, "hygge.yml"), "w") as f:
        f.write(f"name: bench\noptions:\n  concurrency: {int(os.environ.get('HYGGE_CONCURRENCY') or 4)}\n")
    with open(os.path.join(project, "flows", "load", "flow.yml"), "w") as f:
        f.write(
            f"home:\n  type: parquet\n  path: {json.dumps(data)}\n"
            f"store:\n  type: sqlite\n  path: {json.dumps(db)}\n  table: \"{{entity}}\"\n"
            f"entities: [{', '.join(entities)}]\n"
        )


def sqlite3_script(script: str, csvs: dict[str, str]) -> None:
    with open(script, "w") as f:
        for e, path in csvs.items():
            f.write(f'CREATE TABLE "{e}" ({COLUMNS});\n')
            f.write(f'.import --csv --skip 1 {path} "{e}"\n')


def verify(db: str, manifest: dict, columns: list[str]) -> list[str]:
    problems = []
    try:
        c = sqlite3.connect(db)
        for e, info in manifest["entities"].items():
            n = c.execute(f'SELECT count(*) FROM "{e}"').fetchone()[0]
            cols = [r[1] for r in c.execute(f'PRAGMA table_info("{e}")')]
            if n != info["rows"]:
                problems.append(f"{e}: {n} rows, expected {info['rows']}")
            if cols != columns:
                problems.append(f"{e}: columns {cols}, expected {columns}")
        c.close()
    except sqlite3.Error as err:
        problems.append(f"cannot read {db}: {err}")
    return problems


def run_one(tool: str, args, scenario: dict, round_no: int, warmup: bool) -> dict:
    out = os.path.join(args.out_root, "sqlite", tool)
    os.makedirs(out, exist_ok=True)
    db = os.path.join(out, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    subprocess.run(["sync"], check=False)
    if tool == "hygge":
        project = os.path.join(args.out_root, "projects", "sqlite_hygge")
        hygge_project(project, scenario["data"], db, list(scenario["manifest"]["entities"]))
        cmd, cwd = [args.hygge_bin, "go", "--project-dir", project, "--output", "json"], project
    else:
        script = os.path.join(out, "import.sql")
        sqlite3_script(script, scenario["csv"])
        cmd, cwd = [args.sqlite3, db, f".read {script}"], out
    tag = f"sqlite_{scenario['rows']}_{tool}_{'warmup' if warmup else 'run'}{round_no}"
    logs = os.path.join(args.out_root, "logs")
    os.makedirs(logs, exist_ok=True)
    timing = os.path.join(logs, f"{tag}.time")
    with open(os.path.join(logs, f"{tag}.out"), "w") as so, open(os.path.join(logs, f"{tag}.err"), "w") as se:
        proc = subprocess.run([TIME, "-f", "%e %M %U %S", "-o", timing, *cmd], stdout=so, stderr=se, cwd=cwd)
    rec = {"tool": tool, "round": round_no, "warmup": warmup, "exit_code": proc.returncode, "command": cmd}
    try:
        last = open(timing).read().strip().splitlines()[-1].split()
        rec.update(wall_s=float(last[0]), max_rss_kib=int(last[1]), user_s=float(last[2]), sys_s=float(last[3]))
    except (OSError, IndexError, ValueError):
        rec.update(wall_s=None, max_rss_kib=None, user_s=None, sys_s=None)
    problems = [] if proc.returncode == 0 else [f"exit code {proc.returncode}"]
    if rec["wall_s"] is None:
        problems.append("no timing from /usr/bin/time")
    if proc.returncode == 0:
        problems += verify(db, scenario["manifest"], scenario["columns"])
    rec["bytes_written"] = sum(os.path.getsize(db + s) for s in ("", "-wal") if os.path.exists(db + s))
    rec["files_written"] = 1
    rec["rows"] = scenario["rows"]
    rec["status"] = "ok" if not problems else "failed"
    rec["problems"] = problems
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--hygge-bin", default=os.path.join(HERE, "..", "target", "release", "hygge"))
    p.add_argument("--sqlite3", default="sqlite3")
    p.add_argument("--out-root", default=os.path.join(HERE, "out"))
    args = p.parse_args()
    args.data, args.out_root = os.path.abspath(args.data), os.path.abspath(args.out_root)
    if os.path.sep in args.hygge_bin:
        args.hygge_bin = os.path.abspath(args.hygge_bin)
    tools = [t for t in args.tools.split(",") if t]
    manifest = json.load(open(os.path.join(args.data, "_manifest.json")))
    import pyarrow.dataset as ds

    e0 = next(iter(manifest["entities"]))
    columns = ds.dataset(os.path.join(args.data, e0), format="parquet").schema.names
    scenario = {
        "title": "Parquet → SQLite",
        "data": os.path.abspath(args.data),
        "rows": manifest["rows"],
        "manifest": manifest,
        "columns": columns,
        "csv": csv_files(args.data, manifest, args.out_root),
    }
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    runs = []
    for r in range(args.warmup + args.runs):
        warm = r < args.warmup
        order = tools[r % len(tools):] + tools[: r % len(tools)]
        for tool in order:
            rec = run_one(tool, args, scenario, r, warm)
            log(f"{'warm-up' if warm else 'run'} {r}: {tool}: {rec['status']} {rec.get('wall_s')} s {rec['problems']}")
            runs.append(rec)
    sqlite_version = base.first_line([args.sqlite3, "--version"])
    result = {
        "mode": "sqlite",
        "started_utc": started,
        "finished_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "warmup_rounds": args.warmup,
        "runs_per_tool": args.runs,
        "settings": {"HYGGE_CONCURRENCY": os.environ.get("HYGGE_CONCURRENCY")},
        "machine": base.machine_info(),
        "versions": {**base.versions(args.hygge_bin), "sqlite3": sqlite_version},
        "scenarios": [
            {"title": scenario["title"], "rows": scenario["rows"], "kind": "compare", "tools": tools, "runs": runs}
        ],
    }
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(HERE, "results", f"{stamp}-sqlite-{scenario['rows']}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(path)
    failed = any(r["status"] != "ok" for r in runs if not r["warmup"])
    sys.exit(3 if failed else 0)


if __name__ == "__main__":
    main()
