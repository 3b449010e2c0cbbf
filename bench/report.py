#!/usr/bin/env python3
"""Writes bench/RESULTS.md from the raw results in bench/results/*.json (run.sh calls it).

    python bench/report.py                 # the newest compare, scale and pg results
    python bench/report.py FILE.json ...   # these result files, in this order

Per scenario: median wall time over the successful measured runs, rows/s, peak RSS
(median over runs of each run's peak), CPU seconds, output size, and hygge's ratio to
each peer (time ratio < 1: hygge is faster; RSS ratio < 1: hygge uses less memory).
Runs that failed (exit code, or wrong rows/columns in the output) are listed, not timed.
PostgreSQL results (bench_pg.py, mode `pg`) get one section per scenario, with the
PostgreSQL server's CPU seconds and hygge's ratio to the fastest peer and to the raw
single-stream psql COPY. Cloud results (bench_cloud.py, mode `cloud`) get one section: per
target (Azurite, moto) the tools side by side with the emulator's CPU seconds, and hygge's
peak RSS at two data sizes. DuckDB results (bench_duckdb.py, mode `duckdb`) get one section:
per scenario (Parquet → DuckDB, DuckDB → Parquet) hygge and DuckDB side by side, with
hygge's ratio to DuckDB.
Uses only the standard library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))


def newest(mode: str) -> str | None:
    files = sorted(glob.glob(os.path.join(HERE, "results", f"*-{mode}-*.json")))
    return files[-1] if files else None


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec: str, none: str = "–") -> str:
    return none if x is None else format(x, spec)


def mib(x: float) -> str:
    """MiB, with a decimal below 100."""
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def summarize(scenario: dict) -> dict[str, dict]:
    """Per tool: the measured runs' statistics."""
    out = {}
    for tool in scenario["tools"]:
        runs = [r for r in scenario["runs"] if r["tool"] == tool and not r["warmup"]]
        ok = [r for r in runs if r["status"] == "ok"]
        walls = [r["wall_s"] for r in ok]
        out[tool] = {
            "runs": len(runs),
            "ok": len(ok),
            "wall": median(walls),
            "wall_min": min(walls) if walls else None,
            "wall_max": max(walls) if walls else None,
            "rows_s": scenario["rows"] / median(walls) if walls and median(walls) > 0 else None,
            "rss_mib": median([r["max_rss_kib"] / 1024 for r in ok]),
            "rss_max_mib": max([r["max_rss_kib"] / 1024 for r in ok], default=None),
            "cpu_s": median([r["user_s"] + r["sys_s"] for r in ok]),
            "server_cpu_s": median([r["server_cpu_s"] for r in ok if r.get("server_cpu_s") is not None]),
            "types": next((r["types"] for r in ok if r.get("types")), None),
            "out_mib": median([r["bytes_written"] / 2**20 for r in ok]),
            "files": median([r["files_written"] for r in ok]),
            "failures": [r for r in runs if r["status"] != "ok"],
            "warmup_failures": [
                r for r in scenario["runs"] if r["tool"] == tool and r["warmup"] and r["status"] != "ok"
            ],
        }
    return out


def header(result: dict, source: str) -> list[str]:
    m, v = result["machine"], result["versions"]
    mem = f"{m['mem_total_mib'] / 1024:.1f} GiB" if m.get("mem_total_mib") else "unknown"
    lines = [
        f"- Measured: {result['started_utc']} → {result.get('finished_utc', '?')} (UTC), "
        f"raw runs in `{os.path.relpath(source, HERE)}`",
        f"- Machine: {m['cpu_model']}, nproc {m['nproc']}, {mem} memory, Linux {m['kernel']}",
        f"- Versions: {v.get('hygge') or 'hygge ?'} (git {v.get('hygge_git') or '?'}, "
        f"{v.get('rustc') or 'rustc ?'}); "
        + ", ".join(f"{name} {v[k]}" for k, name in (("duckdb", "DuckDB"), ("polars", "Polars"),
                                                        ("pyarrow", "pyarrow")) if v.get(k))
        + f" (Python {v.get('python')}, numpy {v.get('numpy')})",
        f"- Runs: {result['warmup_rounds']} warm-up round(s), then {result['runs_per_tool']} measured "
        "round(s); a round runs every tool once, in an order rotated from round to round",
    ]
    settings = {k: x for k, x in (result.get("settings") or {}).items() if x}
    if settings:
        lines.append("- Settings: " + ", ".join(f"`{k}={x}`" for k, x in settings.items()))
    return lines


def failures(stats: dict[str, dict]) -> list[str]:
    lines = []
    for tool, s in stats.items():
        for r in s["failures"] + s["warmup_failures"]:
            what = f"warm-up {r['round']}" if r["warmup"] else f"run {r['round']}"
            lines.append(f"- **{tool} {what} failed** (not timed): {'; '.join(r['problems'])}")
    return lines


def compare_section(result: dict, source: str) -> list[str]:
    lines = []
    for sc in result["scenarios"]:
        stats = summarize(sc)
        h = stats.get("hygge")
        n_in = sum(1 for _ in sc.get("columns", []))
        lines += [
            f"## Parquet → Parquet, {sc['rows']:,} rows",
            "",
            f"4 entities, {n_in} columns, zstd Parquet in ({mib(sc['input_bytes'] / 2**20)} MiB), "
            "snappy Parquet out, one output file per entity. Each run is one whole process "
            "(`/usr/bin/time`); its output is checked (rows and columns per entity) before it counts.",
            "",
            *header(result, source),
            "",
            "| tool | ok runs | median wall s | min–max s | rows/s | peak RSS MiB | CPU s | out MiB "
            "| hygge/peer time | hygge/peer RSS | hygge_nofsync/peer time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        hn = stats.get("hygge_nofsync")
        for tool, s in stats.items():
            if s["ok"] == 0:
                lines.append(f"| {tool} | 0/{s['runs']} | FAILED | | | | | | | | |")
                continue
            t_ratio = r_ratio = n_ratio = "–"
            if not tool.startswith("hygge") and h and h["ok"]:
                t_ratio = f"{h['wall'] / s['wall']:.2f}" if s["wall"] else "–"
                r_ratio = f"{h['rss_mib'] / s['rss_mib']:.2f}" if s["rss_mib"] else "–"
            if not tool.startswith("hygge") and hn and hn["ok"] and s["wall"]:
                n_ratio = f"{hn['wall'] / s['wall']:.2f}"
            lines.append(
                f"| {'**hygge**' if tool == 'hygge' else tool} | {s['ok']}/{s['runs']} | {s['wall']:.2f} "
                f"| {s['wall_min']:.2f}–{s['wall_max']:.2f} | {s['rows_s']:,.0f} | {mib(s['rss_mib'])} "
                f"| {s['cpu_s']:.1f} | {mib(s['out_mib'])} | {t_ratio} | {r_ratio} | {n_ratio} |"
            )
        peers = {t: s for t, s in stats.items() if not t.startswith("hygge") and s["ok"]}
        hr = stats.get("hygge_reencode")
        if peers and h and h["ok"]:
            best = min(peers, key=lambda t: peers[t]["wall"])
            summary = (
                f"**hygge / fastest peer ({best}): {h['wall'] / peers[best]['wall']:.2f}× the time, "
                f"{h['rss_mib'] / peers[best]['rss_mib']:.2f}× the peak RSS**"
            )
            if hr and hr["ok"]:
                summary += (
                    f"; hygge_reencode / {best}: {hr['wall'] / peers[best]['wall']:.2f}× the time, "
                    f"{hr['rss_mib'] / peers[best]['rss_mib']:.2f}× the peak RSS"
                )
            lines += ["", summary + "."]
        lines += [
            "",
            "Time ratio < 1: hygge is faster than that peer; RSS ratio < 1: hygge's peak memory is "
            "smaller. CPU s = user + system. `hygge` is the default, durable store (every file "
            "fsynced before the entity is published); `hygge_nofsync` sets `fsync: false`, like "
            "the peers, which never flush their output to disk. `hygge` copies the source's row "
            "groups page by page (decompressed and compressed again as snappy, never decoded), "
            "which it does by default wherever they fit the store's row groups and files; "
            "`hygge_reencode` sets `copy_row_groups: false` and decodes and encodes every value, "
            "as the peers do.",
        ]
        f = failures(stats)
        if f:
            lines += ["", *f]
        lines.append("")
    return lines


def scale_section(result: dict, source: str) -> list[str]:
    lines = [
        "## hygge at scale",
        "",
        "hygge alone on data sets of different sizes in one invocation (same data shape, "
        "one output file per entity): its peak memory should not grow with the data.",
        "",
        *header(result, source),
        "",
        "| rows | ok runs | median wall s | min–max s | rows/s | peak RSS MiB (median / max) | CPU s | out MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base, notes, fails = None, [], []
    for sc in sorted(result["scenarios"], key=lambda s: s["rows"]):
        stats = summarize(sc)
        s = stats.get("hygge")
        if not s:
            continue
        fails += failures(stats)
        if s["ok"] == 0:
            lines.append(f"| {sc['rows']:,} | 0/{s['runs']} | FAILED | | | | | |")
            continue
        lines.append(
            f"| {sc['rows']:,} | {s['ok']}/{s['runs']} | {s['wall']:.2f} | {s['wall_min']:.2f}–{s['wall_max']:.2f} "
            f"| {s['rows_s']:,.0f} | {mib(s['rss_mib'])} / {mib(s['rss_max_mib'])} | {s['cpu_s']:.1f} "
            f"| {mib(s['out_mib'])} |"
        )
        if base is None:
            base = (sc["rows"], s)
        else:
            notes.append(
                f"- {sc['rows']:,} vs {base[0]:,} rows ({sc['rows'] / base[0]:.0f}× the rows): "
                f"{s['rss_mib'] / base[1]['rss_mib']:.2f}× the peak RSS, "
                f"{s['wall'] / base[1]['wall']:.1f}× the wall time"
            )
    return lines + ["", *notes, *fails, ""]


PG_TOOL_LABELS = {
    "hygge": "**hygge**",
    "hygge_nofsync": "hygge_nofsync",
    "duckdb": "DuckDB postgres ext.",
    "connectorx": "ConnectorX + pyarrow",
    "psql": "psql binary COPY (raw limit)",
}
PG_SCENARIO_TEXT = {
    "read": (
        "4 tables `public.e0..e3` (loaded once from the generated data set, exact column types, "
        "primary key on id, `VACUUM (FREEZE, ANALYZE)`) → snappy Parquet, one file per table. "
        "hygge: `type: postgres` home (default `batch_size`, 50,000 rows) → snappy Parquet store, concurrency 4, pool 4 "
        "(unless the Settings line says otherwise). "
        "DuckDB: `ATTACH ... (TYPE postgres)` + `COPY (SELECT * FROM pg.public.<e>) TO '<e>.parquet'`, "
        "tables in sequence in one process. ConnectorX: `cx.read_sql(..., return_type='arrow')` + "
        "`pq.write_table`, per table. Raw limit: psql `\\copy (SELECT * FROM <e>) TO '/dev/null' "
        "WITH (FORMAT binary)`, the tables in sequence, one stream, nothing written."
    ),
    "write": (
        "The generated zstd Parquet data set → 4 new PostgreSQL tables, each tool into its own schema "
        "(dropped and created empty before every run). hygge: Parquet home (default `batch_size`, 10,000 rows) → `type: postgres` store, "
        "`run_type: full_drop`, concurrency 4, pool 4 (unless the Settings line says otherwise). DuckDB: `CREATE TABLE pg.<schema>.<e> AS "
        "SELECT * FROM read_parquet(...)`, tables in sequence. Raw limit: psql `CREATE TABLE (LIKE ...)` "
        "+ `\\copy <e> FROM '<file>' WITH (FORMAT binary)` of binary COPY files made beforehand "
        "(untimed), tables in sequence, one stream."
    ),
}


def pg_section(result: dict, source: str) -> list[str]:
    lines = []
    v = result["versions"]
    for sc in result["scenarios"]:
        stats = summarize(sc)
        kind = sc["kind"]
        h = stats.get("hygge")
        peers = {t: s for t, s in stats.items() if not t.startswith("hygge") and t != "psql" and s["ok"]}
        fastest = min(peers, key=lambda t: peers[t]["wall"]) if peers else None
        raw = stats.get("psql") if stats.get("psql", {}).get("ok") else None
        size_note = (
            f"source tables {mib(sc['input_bytes'] / 2**20)} MiB in PostgreSQL" if kind == "read"
            else f"zstd Parquet in ({mib(sc['input_bytes'] / 2**20)} MiB)"
        )
        out_col = "out MiB" if kind == "read" else "table MiB"
        lines += [
            f"## {sc['title']}, {sc['rows']:,} rows",
            "",
            PG_SCENARIO_TEXT[kind] + f" {size_note}. Each run is one whole process (`/usr/bin/time`); "
            "its output is checked (rows, column names and a fingerprint of the values per entity) "
            "before it counts. Before every run: output deleted, `sync`, PostgreSQL `CHECKPOINT`.",
            "",
            *header(result, source),
            f"- PostgreSQL: {(v.get('postgres_server') or '?').split(' on ')[0]} on the same machine "
            f"({result['postgres']['host']}:{result['postgres']['port']}, database "
            f"`{result['postgres']['database']}`, every tool with sslmode "
            f"`{result['postgres'].get('sslmode', '?')}`); DuckDB {v.get('duckdb')} with "
            f"duckdb-extension-postgres-scanner {v.get('duckdb-extension-postgres-scanner')}, "
            f"ConnectorX {v.get('connectorx')}, {v.get('psql')}",
            "",
            f"| tool | ok runs | median wall s | min–max s | rows/s | peak RSS MiB | client CPU s "
            f"| server CPU s | {out_col} | hygge/tool time | hygge/tool RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for tool, s in stats.items():
            label = PG_TOOL_LABELS.get(tool, tool)
            if s["ok"] == 0:
                lines.append(f"| {label} | 0/{s['runs']} | FAILED | | | | | | | | |")
                continue
            t_ratio = r_ratio = "–"
            if not tool.startswith("hygge") and h and h["ok"]:
                t_ratio = f"{h['wall'] / s['wall']:.2f}" if s["wall"] else "–"
                r_ratio = f"{h['rss_mib'] / s['rss_mib']:.2f}" if s["rss_mib"] else "–"
            out = mib(s["out_mib"]) if s["out_mib"] else "–"
            lines.append(
                f"| {label} | {s['ok']}/{s['runs']} | {s['wall']:.2f} | {s['wall_min']:.2f}–{s['wall_max']:.2f} "
                f"| {s['rows_s']:,.0f} | {mib(s['rss_mib'])} | {s['cpu_s']:.1f} "
                f"| {fmt(s['server_cpu_s'], '.1f')} | {out} | {t_ratio} | {r_ratio} |"
            )
        lines.append("")
        if h and h["ok"] and fastest:
            f = stats[fastest]
            lines.append(
                f"**hygge / fastest peer ({PG_TOOL_LABELS.get(fastest, fastest)}): "
                f"{h['wall'] / f['wall']:.2f}× the time, {h['rss_mib'] / f['rss_mib']:.2f}× the peak RSS**"
                + (f"; hygge / raw single-stream psql COPY: {h['wall'] / raw['wall']:.2f}× the time." if raw else ".")
            )
        elif fastest:
            f = stats[fastest]
            lines.append(
                f"Fastest peer: {PG_TOOL_LABELS.get(fastest, fastest)}, {f['wall']:.2f} s "
                f"({f['rows_s']:,.0f} rows/s, {mib(f['rss_mib'])} MiB); hygge: no successful run."
            )
        lines += [
            "",
            "Time ratio < 1: hygge is faster; RSS ratio < 1: hygge's peak memory is smaller. Client "
            "CPU s = user + system of the measured process; server CPU s = the PostgreSQL processes' "
            "CPU during the run (same machine, so both share its cores; it counts every client of "
            "the server, so other work on it during the run shows there too). The raw limit is not a "
            "peer: it moves the bytes with no conversion (and, reading, writes nothing).",
        ]
        typed = [(t, s["types"]) for t, s in stats.items() if s.get("types")]
        if typed:
            lines += ["", "Column types of the outputs:", ""]
            for t, types in typed:
                lines.append(f"- {PG_TOOL_LABELS.get(t, t)}: " + ", ".join(f"`{x}`" for x in types))
        fl = failures(stats)
        if fl:
            lines += ["", *fl]
        lines.append("")
    return lines


CLOUD_TOOL_LABELS = {
    "hygge": "**hygge**",
    "polars": "Polars `sink_parquet`",
    "duckdb": "DuckDB `COPY`",
}


def cloud_section(result: dict, source: str) -> list[str]:
    v, servers = result["versions"], result.get("servers", {})
    compare = [sc for sc in result["scenarios"] if sc.get("kind", "compare") == "compare"]
    rows = compare[0]["rows"] if compare else result["scenarios"][0]["rows"]
    lines = [
        f"## Parquet → cloud object storage (Azurite, moto), {rows:,} rows",
        "",
        "The generated zstd Parquet data set (4 entities, 8 columns) → snappy Parquet, one object per "
        "entity, written to an object store emulator on the same machine: Azurite (Azure Blob, "
        f"`{servers.get('azurite', '?')}`, in memory) and a moto S3 server (`{servers.get('s3', '?')}`). "
        "Each tool writes into its own container or bucket, emptied before every run. "
        "hygge: Parquet home → `type: adls` store (`account_url` of Azurite, `credential: storage_key`) "
        "or `type: s3` store (`endpoint`, keys, region), `compression: snappy`, `batch_size` = rows per "
        "entity, concurrency 4, the default row-group copy; as every hygge cloud store, it encodes each "
        "file into a local temporary file, uploads it into `_hygge/staging/` (8 MiB parts), then copies "
        "it server-side to its final name, commits `_hygge/state.json` and deletes the staging, so its "
        "time includes a server-side copy of every byte the peers do not make. Polars: "
        "`pl.scan_parquet(...).sink_parquet('s3://…' | 'az://…', compression='snappy', storage_options=…)` "
        "(object_store, like hygge). DuckDB: `COPY (SELECT * FROM read_parquet(...)) TO 's3://…' | "
        "'az://…' (FORMAT parquet, COMPRESSION snappy)` with the httpfs / azure extension. The peers "
        "write the entities one after the other in one process, with their default threading. Each run "
        "is one whole process (`/usr/bin/time`); it counts only if it exits 0 and, read back from the "
        "server (Polars over the same object_store options), every entity has the input's rows and "
        "columns. **The emulator runs on the same 2 cores** and is part of every tool's run alike: "
        "its CPU during the run is the `server CPU s` column; emulators are far slower than the real "
        "services, so these figures compare the tools' client cost and request pattern on one machine, "
        "not cloud throughput.",
        "",
        f"Reproduce: `bash bench/run_cloud.sh` (10M rows, hygge also at 2.5M; `ROWS`, `SCALE_ROWS`, "
        "`RUNS`, `TARGETS`, `TOOLS`: see `bench/README.md`).",
        "",
        *header(result, source),
        f"- Servers: Azurite {v.get('azurite') or '?'} (npm), moto {v.get('moto') or '?'} (PyPI, its "
        f"Flask server); peers' venv `bench/.venv-cloud`: DuckDB {v.get('duckdb')} with "
        f"duckdb-extension-httpfs {v.get('duckdb-extension-httpfs')} and duckdb-extension-azure "
        f"{v.get('duckdb-extension-azure')} (the newest DuckDB has no offline extension packages), "
        f"Polars {v.get('polars')}",
        "",
    ]
    for sc in compare:
        stats = summarize(sc)
        h = stats.get("hygge")
        peers = {t: s for t, s in stats.items() if t != "hygge" and s["ok"]}
        fastest = min(peers, key=lambda t: peers[t]["wall"]) if peers else None
        lines += [
            f"### {sc['title']}",
            "",
            "| tool | ok runs | median wall s | min–max s | rows/s | peak RSS MiB | client CPU s "
            "| server CPU s | out MiB | hygge/tool time | hygge/tool RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for tool, s in stats.items():
            label = CLOUD_TOOL_LABELS.get(tool, tool)
            if s["ok"] == 0:
                lines.append(f"| {label} | 0/{s['runs']} | FAILED | | | | | | | | |")
                continue
            t_ratio = r_ratio = "–"
            if tool != "hygge" and h and h["ok"]:
                t_ratio = f"{h['wall'] / s['wall']:.2f}"
                r_ratio = f"{h['rss_mib'] / s['rss_mib']:.2f}"
            lines.append(
                f"| {label} | {s['ok']}/{s['runs']} | {s['wall']:.2f} | {s['wall_min']:.2f}–{s['wall_max']:.2f} "
                f"| {s['rows_s']:,.0f} | {mib(s['rss_mib'])} | {s['cpu_s']:.1f} "
                f"| {fmt(s['server_cpu_s'], '.1f')} | {mib(s['out_mib'])} | {t_ratio} | {r_ratio} |"
            )
        lines.append("")
        if h and h["ok"] and fastest:
            f = stats[fastest]
            lines.append(
                f"**hygge / fastest peer ({CLOUD_TOOL_LABELS.get(fastest, fastest)}): "
                f"{h['wall'] / f['wall']:.2f}× the time, {h['rss_mib'] / f['rss_mib']:.2f}× the peak RSS.**"
            )
        elif fastest:
            f = stats[fastest]
            lines.append(f"Fastest peer: {CLOUD_TOOL_LABELS.get(fastest, fastest)}, {f['wall']:.2f} s; hygge: no successful run.")
        fl = failures(stats)
        if fl:
            lines += ["", *fl]
        lines.append("")
    # hygge's peak RSS at both sizes, per target
    by_target: dict[str, list] = {}
    for sc in result["scenarios"]:
        s = summarize(sc).get("hygge")
        if s and s["ok"]:
            by_target.setdefault(sc["target"], []).append((sc["rows"], s, sc["title"]))
    if any(len(x) > 1 for x in by_target.values()):
        lines += [
            "### hygge's peak memory as the data grows",
            "",
            "| target | rows | ok runs | median wall s | peak RSS MiB (median / max) | CPU s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        notes = []
        for target, xs in by_target.items():
            xs.sort(key=lambda x: x[0])
            for n, s, title in xs:
                lines.append(
                    f"| {title} | {n:,} | {s['ok']}/{s['runs']} | {s['wall']:.2f} "
                    f"| {mib(s['rss_mib'])} / {mib(s['rss_max_mib'])} | {s['cpu_s']:.1f} |"
                )
            if len(xs) > 1:
                (n0, s0, title), (n1, s1, _) = xs[0], xs[-1]
                notes.append(
                    f"- {title}: {n1:,} vs {n0:,} rows ({n1 / n0:.0f}× the rows): "
                    f"{s1['rss_mib'] / s0['rss_mib']:.2f}× the peak RSS, {s1['wall'] / s0['wall']:.1f}× the wall time"
                )
        scale_fails = [ln for sc in result["scenarios"] if sc.get("kind") == "scale" for ln in failures(summarize(sc))]
        lines += ["", *notes, *scale_fails, ""]
    lines += [
        "Time ratio < 1: hygge is faster; RSS ratio < 1: hygge's peak memory is smaller. Client CPU s = "
        "user + system of the measured process; server CPU s = the emulator process's CPU during the run "
        "(one process: when it comes near the wall time, the emulator, not the client, sets the pace; "
        "hygge's server-side copy of each staged file shows there too). hygge's output is larger "
        "because its copied row groups keep the encodings pyarrow chose for zstd (as in the Parquet → "
        "Parquet section). hygge's peak RSS is higher than on local disk (upload part buffers and the "
        "HTTP client; not broken down here) and the same at both data sizes.",
        "",
    ]
    return lines


def sqlite_section(result: dict, source: str) -> list[str]:
    v = result["versions"]
    sc = result["scenarios"][0]
    stats = summarize(sc)
    h, peer = stats.get("hygge"), stats.get("sqlite3")
    lines = [
        f"## Parquet → SQLite, {sc['rows']:,} rows",
        "",
        "The generated zstd Parquet data set (4 entities, 8 columns) loaded into one SQLite database "
        "file, a table per entity. hygge: Parquet home → `type: sqlite` store (`table: {entity}`, the "
        "default batch_size), concurrency 4, every column keeping its exact Arrow type (decimals as "
        "text, timestamps as integers in their unit; its rows are staged in a file of their own and "
        "published in one transaction per entity). The `sqlite3` shell: the same rows as CSV "
        "(written once by pyarrow, not timed), `CREATE TABLE` with natural types, then `.import "
        "--csv --skip 1` per entity in one process. Each run is one whole process (`/usr/bin/time`) "
        "on a deleted database file; it counts only if it exits 0 and every table has the input's "
        "rows and columns.",
        "",
        "Reproduce: `bash bench/run_sqlite.sh` (`ROWS`, `RUNS`: see `bench/README.md`).",
        "",
        *header(result, source),
        f"- sqlite3: {v.get('sqlite3') or '?'}",
        "",
        "| tool | ok runs | median wall s | min–max s | rows/s | peak RSS MiB | CPU s | database MiB | hygge/tool time | hygge/tool RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, s in stats.items():
        if s["ok"] == 0:
            lines.append(f"| {tool} | 0/{s['runs']} | FAILED | | | | | | | |")
            continue
        t_ratio = r_ratio = "–"
        if tool != "hygge" and h and h["ok"]:
            t_ratio = f"{h['wall'] / s['wall']:.2f}"
            r_ratio = f"{h['rss_mib'] / s['rss_mib']:.2f}"
        lines.append(
            f"| {tool} | {s['ok']}/{s['runs']} | {s['wall']:.2f} | {s['wall_min']:.2f}–{s['wall_max']:.2f} "
            f"| {s['rows_s']:,.0f} | {mib(s['rss_mib'])} | {s['cpu_s']:.1f} | {mib(s['out_mib'])} | {t_ratio} | {r_ratio} |"
        )
    lines.append("")
    if h and h["ok"] and peer and peer["ok"]:
        lines.append(
            f"**hygge / sqlite3 shell: {h['wall'] / peer['wall']:.2f}× the time, "
            f"{h['rss_mib'] / peer['rss_mib']:.2f}× the peak RSS.**"
        )
    fl = failures(stats)
    if fl:
        lines += ["", *fl]
    lines.append("")
    return lines


def duckdb_section(result: dict, source: str) -> list[str]:
    v = result["versions"]
    codec = result.get("compression", "snappy")
    lines = [
        f"## DuckDB: Parquet → DuckDB and DuckDB → Parquet, {result['scenarios'][0]['rows']:,} rows",
        "",
        "hygge against DuckDB itself (the Python `duckdb` package, the same DuckDB version as the one "
        "built into hygge), on the generated zstd Parquet data set (4 entities, 8 columns). "
        "**Parquet → DuckDB**: one fresh database file, a table per entity; hygge: Parquet home → "
        "`type: duckdb` store (`table: \"{entity}\"`, `run_type: full_drop`), `--concurrency 4` (one "
        "transaction per entity through DuckDB's appender); DuckDB: `CREATE TABLE \"<e>\" AS SELECT * "
        "FROM read_parquet('<data>/<e>/*.parquet')` per entity in one process. **DuckDB → Parquet**: the "
        "source is one DuckDB file built once (untimed) by DuckDB's CTAS from the same Parquet; hygge: "
        f"`type: duckdb` home (`table: \"{{entity}}\"`, default batch_size) → `type: parquet` store, "
        f"`compression: {codec}` (the store's default), one file per entity, concurrency 4; DuckDB: "
        f"`COPY \"<e>\" TO '<out>/<e>.parquet' (FORMAT parquet, COMPRESSION {codec})` per entity in one "
        "process on the source opened read-only. Both tools use their default threading. Each run is "
        "one whole process (`/usr/bin/time`) on a deleted output (database file, or folder); it counts "
        "only if it exits 0 and every entity's output has the input's rows and columns and the same "
        "fingerprint of the values (sums and null counts, read back with DuckDB; the Parquet outputs' "
        "rows and columns from their footers).",
        "",
        "Reproduce: `bash bench/run_duckdb.sh` (`ROWS`, `RUNS`, `SCENARIOS`: see `bench/README.md`).",
        "",
        *header(result, source),
        f"- DuckDB inside hygge: {v.get('hygge_duckdb') or '?'}; peer: the `duckdb` package "
        f"{v.get('duckdb') or '?'} (venv `bench/.venv-duckdb`)",
        "",
    ]
    for sc in result["scenarios"]:
        stats = summarize(sc)
        h, peer = stats.get("hygge"), stats.get("duckdb")
        out_label = "database MiB" if sc.get("name") == "load" else "out MiB"
        lines += [
            f"### {sc['title']}",
            "",
            f"| tool | ok runs | median wall s | min–max s | rows/s | ratio to DuckDB (time) | peak RSS MiB "
            f"| CPU s (user+sys) | {out_label} |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for tool, s in stats.items():
            if s["ok"] == 0:
                lines.append(f"| {tool} | 0/{s['runs']} | FAILED | | | | | | |")
                continue
            ratio = f"{s['wall'] / peer['wall']:.2f}" if peer and peer["ok"] else "–"
            lines.append(
                f"| {tool} | {s['ok']}/{s['runs']} | {s['wall']:.2f} | {s['wall_min']:.2f}–{s['wall_max']:.2f} "
                f"| {s['rows_s']:,.0f} | {ratio} | {mib(s['rss_mib'])} | {s['cpu_s']:.1f} | {mib(s['out_mib'])} |"
            )
        lines.append("")
        if h and h["ok"] and peer and peer["ok"]:
            lines.append(
                f"**{sc['title']}: hygge / DuckDB: {h['wall'] / peer['wall']:.2f}× the time, "
                f"{h['rss_mib'] / peer['rss_mib']:.2f}× the peak RSS, {h['cpu_s'] / peer['cpu_s']:.2f}× the CPU.**"
            )
            lines.append("")
        types = {t: s["types"] for t, s in stats.items() if s.get("types")}
        if types:
            for tool, ts in types.items():
                lines.append(f"- {tool} output types: " + ", ".join(f"`{c}` {t}" for c, t in ts.items()))
            ht, pt = types.get("hygge"), types.get("duckdb")
            if ht and pt and ht != pt:
                lines.append(
                    "- **output types differ**: "
                    + ", ".join(f"`{c}` hygge {ht.get(c)} / DuckDB {pt.get(c)}"
                                for c in dict.fromkeys([*pt, *ht]) if ht.get(c) != pt.get(c))
                )
            lines.append("")
        fl = failures(stats)
        if fl:
            lines += [*fl, ""]
    lines += [
        "Time ratio < 1: hygge is faster. CPU s = user + system of the measured process.",
        "",
    ]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="result files (default: newest compare, scale, pg, cloud, sqlite and duckdb)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    a = p.parse_args()
    files = a.files or [
        f for f in (newest("compare"), newest("scale"), newest("pg"), newest("cloud"), newest("sqlite"),
                   newest("duckdb")) if f
    ]
    if not files:
        raise SystemExit("no results in bench/results/: run bash bench/run.sh first")
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "# hygge benchmark results",
        "",
        f"Written {now} by `bench/report.py`. Produced by `bash bench/run.sh`, `run_pg.sh`, `run_cloud.sh`, `run_sqlite.sh` and `run_duckdb.sh` (see `bench/README.md`).",
        "Timings compare tools only within one invocation: the ratios are the result, the absolute",
        "seconds depend on the machine and on what else it was doing.",
        "",
    ]
    for path in files:
        with open(path) as f:
            result = json.load(f)
        if result["mode"] == "scale":
            lines += scale_section(result, path)
        elif result["mode"] == "pg":
            lines += pg_section(result, path)
        elif result["mode"] == "cloud":
            lines += cloud_section(result, path)
        elif result["mode"] == "sqlite":
            lines += sqlite_section(result, path)
        elif result["mode"] == "duckdb":
            lines += duckdb_section(result, path)
        else:
            lines += compare_section(result, path)
    with open(a.out, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(a.out)


if __name__ == "__main__":
    main()
