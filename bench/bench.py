#!/usr/bin/env python3
"""Runs the measured processes side by side and records the raw timings (run.sh calls it).

    python bench/bench.py --mode compare --data bench/data/rows_10000000 \\
        --tools hygge,duckdb,polars,pyarrow --runs 3 --warmup 1 --hygge-bin target/release/hygge
    python bench/bench.py --mode scale --data bench/data/rows_10000000 \\
        --data bench/data/rows_100000000 --tools hygge --runs 3 --warmup 1 ...

Every --data folder (written by generate.py, with its _manifest.json) is one scenario.
Per scenario: --warmup rounds, then --runs rounds; a round runs every tool once, in an
order rotated from round to round so that no tool always goes first. Each run is one whole
process timed by `/usr/bin/time -f '%e %M %U %S'` (wall s, peak RSS KiB, user s, system s),
its output folder deleted (and `sync`ed) before it starts. A run counts only when the
process exits 0 and its output holds, per entity, exactly the input's rows with the
input's columns (counted from the Parquet footers); otherwise it is recorded as failed and
left out of the timings.

Writes one JSON file (--results) with the machine, the tool versions and every run.
Exit status 3 when any measured run failed (1 is left to crashes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = "/usr/bin/time"
PEERS = ("duckdb", "polars", "pyarrow")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {
        "hostname": platform.node(),
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_mib": round(mem_kib / 1024) if mem_kib else None,
        "kernel": platform.release(),
        "os": platform.platform(),
    }


def first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def versions(hygge_bin: str) -> dict:
    v = {
        "hygge": first_line([hygge_bin, "--version"]),
        "hygge_git": first_line(["git", "-C", HERE, "describe", "--always", "--dirty"]),
        "rustc": first_line(["rustc", "--version"]),
        "python": platform.python_version(),
    }
    for pkg in ("duckdb", "polars", "pyarrow", "numpy"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    return v


# ----------------------------------------------------------------------------- tools


def write_hygge_project(
    project: str, data: str, out: str, manifest: dict, fsync: bool = True, copy: bool = True
) -> None:
    """A one-flow project: Parquet -> snappy Parquet, one output file per entity.

    `fsync: false` (tool `hygge_nofsync`) is hygge without flushing files to disk before
    publishing, which is what the peers do; the default `hygge` row is durable.
    `copy_row_groups: false` (tool `hygge_reencode`) decodes and encodes every value, as the
    peers do, instead of copying the source's row groups page by page (the default)."""
    entities = list(manifest["entities"])
    file_rows = int(os.environ.get("HYGGE_FILE_ROWS") or max(
        e["rows"] for e in manifest["entities"].values()
    ))
    read_batch = os.environ.get("HYGGE_READ_BATCH")  # unset: hygge's default
    concurrency = int(os.environ.get("HYGGE_CONCURRENCY") or len(entities))
    shutil.rmtree(project, ignore_errors=True)
    os.makedirs(os.path.join(project, "flows", "p2p"))
    with open(os.path.join(project, "hygge.yml"), "w") as f:
        f.write(f"name: bench\noptions:\n  concurrency: {concurrency}\n")
    home = f"home:\n  type: parquet\n  path: {json.dumps(data)}\n"
    if read_batch:
        home += f"  batch_size: {int(read_batch)}\n"
    row_group = os.environ.get("HYGGE_ROW_GROUP")  # unset: hygge's default
    store = (
        f"store:\n  type: parquet\n  path: {json.dumps(out)}\n"
        f"  compression: snappy\n  batch_size: {file_rows}\n"
    )
    if not fsync:
        store += "  fsync: false\n"
    if not copy:
        store += "  copy_row_groups: false\n"
    if row_group:
        store += f"  row_group_size: {int(row_group)}\n"
    with open(os.path.join(project, "flows", "p2p", "flow.yml"), "w") as f:
        f.write(home + store + f"entities: [{', '.join(entities)}]\n")


def command(tool: str, data: str, out: str, hygge_bin: str, project: str) -> list[str]:
    if tool.startswith("hygge"):
        return [hygge_bin, "go", "--project-dir", project, "--output", "json"]
    if tool in PEERS:
        return [sys.executable, os.path.join(HERE, "peers.py"), tool, "--data", data, "--out", out]
    raise SystemExit(f"unknown tool {tool!r}")


def parquet_files(out: str, entity: str) -> list[str]:
    """The output files of an entity: <out>/<e>.parquet or <out>/<e>/**/*.parquet."""
    files = []
    single = os.path.join(out, f"{entity}.parquet")
    if os.path.isfile(single):
        files.append(single)
    folder = os.path.join(out, entity)
    if os.path.isdir(folder):
        files += sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))
    return files


def verify(out: str, manifest: dict, columns: list[str]) -> dict:
    """Rows, files and bytes written, and the problems found (empty when all is right)."""
    problems, rows, n_files, size = [], 0, 0, 0
    for entity, want in manifest["entities"].items():
        got = 0
        files = parquet_files(out, entity)
        if not files:
            problems.append(f"{entity}: no output file")
        for path in files:
            try:
                md = pq.read_metadata(path)
            except Exception as e:  # noqa: BLE001 - any unreadable file is a failure
                problems.append(f"{entity}: unreadable {os.path.relpath(path, out)}: {e}")
                continue
            got += md.num_rows
            names = md.schema.to_arrow_schema().names
            if names != columns:
                problems.append(f"{entity}: columns {names} != {columns}")
            size += os.path.getsize(path)
        n_files += len(files)
        rows += got
        if got != want["rows"]:
            problems.append(f"{entity}: {got:,} rows written, {want['rows']:,} expected")
    return {"rows_written": rows, "files_written": n_files, "bytes_written": size, "problems": problems}


def run_one(tool: str, scenario: dict, args, round_no: int, warmup: bool) -> dict:
    out = os.path.join(args.out_root, tool)
    shutil.rmtree(out, ignore_errors=True)  # for hygge, with its staging area out/.hygge
    subprocess.run(["sync"], check=False)
    project = os.path.join(args.out_root, "projects", f"{tool}_{scenario['rows']}")
    if tool.startswith("hygge"):
        write_hygge_project(
            project,
            scenario["data"],
            out,
            scenario["manifest"],
            fsync=tool != "hygge_nofsync",
            copy=tool != "hygge_reencode",
        )
    cmd = command(tool, scenario["data"], out, args.hygge_bin, project)
    logs = os.path.join(args.out_root, "logs")
    os.makedirs(logs, exist_ok=True)
    tag = f"{scenario['rows']}_{tool}_{'warmup' if warmup else 'run'}{round_no}"
    timing = os.path.join(logs, f"{tag}.time")
    stdout_path, stderr_path = os.path.join(logs, f"{tag}.out"), os.path.join(logs, f"{tag}.err")
    with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
        proc = subprocess.run(
            [TIME, "-f", "%e %M %U %S", "-o", timing, *cmd],
            stdout=so,
            stderr=se,
            cwd=project if tool.startswith("hygge") else args.out_root,
        )
    rec = {
        "tool": tool,
        "round": round_no,
        "warmup": warmup,
        "exit_code": proc.returncode,
        "command": cmd,
    }
    try:
        with open(timing) as f:
            last = f.read().strip().splitlines()[-1].split()
        rec.update(
            wall_s=float(last[0]), max_rss_kib=int(last[1]), user_s=float(last[2]), sys_s=float(last[3])
        )
    except (OSError, IndexError, ValueError):
        rec.update(wall_s=None, max_rss_kib=None, user_s=None, sys_s=None)
    problems = []
    if proc.returncode != 0:
        with open(stderr_path, errors="replace") as f:
            tail = f.read().strip().splitlines()[-5:]
        problems.append(f"exit code {proc.returncode}: " + " | ".join(tail))
    if rec["wall_s"] is None:
        problems.append("no timing from /usr/bin/time")
    check = verify(out, scenario["manifest"], scenario["columns"])
    problems += check.pop("problems")
    rec.update(check)
    if tool.startswith("hygge") and proc.returncode == 0:
        try:
            with open(stdout_path) as f:
                report = json.load(f)
            # hygge's own view of the run (its in-process duration excludes start-up)
            rec["hygge_report"] = {
                "duration_secs": report["report"]["duration_secs"],
                "totals": report["report"]["totals"],
            }
        except (OSError, ValueError, KeyError, TypeError):
            pass
    rec["status"] = "ok" if not problems else "failed"
    rec["problems"] = problems
    if not args.keep_output:
        shutil.rmtree(out, ignore_errors=True)
    return rec


def run_scenario(data: str, args) -> dict:
    with open(os.path.join(data, "_manifest.json")) as f:
        manifest = json.load(f)
    first = next(iter(manifest["entities"].items()))
    sample = os.path.join(data, first[0], first[1]["files"][0]["file"])
    columns = pq.read_schema(sample).names
    scenario = {
        "name": f"parquet_to_parquet_{manifest['rows']}",
        "rows": manifest["rows"],
        "data": os.path.abspath(data),
        "manifest": manifest,
        "columns": columns,
        "input_bytes": sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs if f.endswith(".parquet")
        ),
        "tools": args.tools,
        "runs": [],
    }
    rounds = [(i + 1, True) for i in range(args.warmup)] + [(i + 1, False) for i in range(args.runs)]
    for k, (round_no, warmup) in enumerate(rounds):
        order = args.tools[k % len(args.tools):] + args.tools[: k % len(args.tools)]
        for tool in order:
            label = f"{'warm-up' if warmup else 'run'} {round_no}"
            log(f"{manifest['rows']:,} rows · {tool:8s} · {label} ...")
            rec = run_one(tool, scenario, args, round_no, warmup)
            scenario["runs"].append(rec)
            if rec["status"] == "ok":
                log(
                    f"    {rec['wall_s']:.2f} s, {rec['max_rss_kib'] / 1024:,.0f} MiB peak RSS, "
                    f"{rec['rows_written']:,} rows in {rec['files_written']} files"
                )
            else:
                log(f"    FAILED: {'; '.join(rec['problems'])}")
    scenario.pop("manifest")
    return scenario


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["compare", "scale"], default="compare")
    p.add_argument("--data", action="append", required=True, help="a generated data folder (repeatable)")
    p.add_argument("--tools", default="hygge,hygge_nofsync,hygge_reencode,duckdb,polars,pyarrow")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--hygge-bin", default=os.path.join(HERE, "..", "target", "release", "hygge"))
    p.add_argument("--out-root", default=os.path.join(HERE, "out"))
    p.add_argument("--results", help="the JSON file to write (default bench/results/<time>-<mode>.json)")
    p.add_argument("--keep-output", action="store_true", help="leave the last output of each tool")
    args = p.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.hygge_bin = os.path.abspath(args.hygge_bin)
    args.out_root = os.path.abspath(args.out_root)
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} is needed (apt-get install time)")
    os.makedirs(args.out_root, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    result = {
        "mode": args.mode,
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(args.hygge_bin),
        "runs_per_tool": args.runs,
        "warmup_rounds": args.warmup,
        "settings": {
            k: os.environ.get(k)
            for k in ("HYGGE_FILE_ROWS", "HYGGE_READ_BATCH", "HYGGE_ROW_GROUP", "HYGGE_CONCURRENCY")
        },
        "scenarios": [],
    }
    for data in args.data:
        result["scenarios"].append(run_scenario(data, args))
    result["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = args.results or os.path.join(
        HERE, "results", f"{started.strftime('%Y%m%dT%H%M%SZ')}-{args.mode}-"
        + "-".join(str(s["rows"]) for s in result["scenarios"]) + ".json"
    )
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
