#!/usr/bin/env python3
"""The cloud object storage side of the benchmark (run_cloud.sh calls it), with
bench/.venv-cloud's Python.

    python bench/bench_cloud.py --data bench/data/rows_10000000 [--scale-data bench/data/rows_2500000] \\
        --targets azurite,s3 --tools hygge,polars,duckdb --runs 3 --warmup 1 \\
        --hygge-bin target/release/hygge --azurite-url http://127.0.0.1:10300/devstoreaccount1 \\
        --s3-endpoint http://127.0.0.1:5300 [--azurite-pid N] [--moto-pid N]

Per target (Azurite for Azure Blob / ADLS, a moto server for S3), one scenario: every tool
writes the data set (written by generate.py) as snappy Parquet, one object per entity, into
its own container or bucket `bench-<tool>`:

  hygge   a generated project: Parquet home -> `type: adls` store (account_url of Azurite,
          `credential: storage_key` with its key) or `type: s3` store (`endpoint`, keys,
          region), path `{entity}/`, `compression: snappy`, `batch_size` = rows per entity
          (one file), concurrency 4 (`HYGGE_CONCURRENCY`), the default row-group copy;
  polars  / duckdb: see cloud_peers.py.

--scale-data adds, per target, hygge alone on a second data set (its peak RSS next to the
one at --data shows whether memory grows with the data).

Rounds, timing and checks as bench.py: --warmup rounds then --runs rounds, every tool once per
round in an order rotated from round to round; each run is one whole process under
`/usr/bin/time -f '%e %M %U %S'`. Before each run every object in the tool's container is
deleted (the container is created when missing). A run counts only when the process exits 0
and, read back from the server (listing, then Polars reading the Parquet footers through the
same object_store options), every entity has exactly the input's rows and columns in its
`.parquet` objects (objects under `_`-prefixed folders, hygge's `_hygge/` state, are not
data); otherwise it is recorded as failed, not timed. The emulators' CPU seconds during each
run are recorded when their process ids are given (server_cpu_s).

Writes bench/results/<time>-cloud-<rows>.json. Exit status 3 when a measured run failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import bench as base  # bench/bench.py: machine info, versions, log
import cloud_peers as cp

HERE = base.HERE
TIME = base.TIME
log = base.log
TOOLS = ("hygge", "polars", "duckdb")
PEER_SCRIPT = os.path.join(HERE, "cloud_peers.py")
TARGET_TITLE = {"azurite": "Azurite (Azure Blob)", "s3": "moto (S3)"}


# ----------------------------------------------------------------------------- the servers


class Azurite:
    def __init__(self, account_url: str):
        from azure.storage.blob import BlobServiceClient

        self.account_url = account_url
        self.client = BlobServiceClient(
            account_url=account_url,
            credential={"account_name": cp.AZURITE_ACCOUNT, "account_key": cp.AZURITE_KEY},
        )

    def reset(self, container: str) -> None:
        """The container exists and is empty."""
        c = self.client.get_container_client(container)
        if not c.exists():
            c.create_container()
            return
        for b in list(c.list_blobs()):
            c.delete_blob(b.name)

    def objects(self, container: str) -> list[tuple[str, int]]:
        c = self.client.get_container_client(container)
        return [(b.name, b.size) for b in c.list_blobs()]


class S3:
    def __init__(self, endpoint: str):
        from urllib.parse import urlsplit

        import pyarrow.fs as pafs

        u = urlsplit(endpoint)
        self.fs = pafs.S3FileSystem(
            access_key=cp.S3_KEY_ID, secret_key=cp.S3_SECRET, region=cp.S3_REGION,
            endpoint_override=u.netloc, scheme=u.scheme, allow_bucket_creation=True,
        )

    def reset(self, bucket: str) -> None:
        import pyarrow.fs as pafs

        if self.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            self.fs.create_dir(bucket)
        else:
            self.fs.delete_dir_contents(bucket)

    def objects(self, bucket: str) -> list[tuple[str, int]]:
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(bucket, recursive=True))
        return [(i.path.split("/", 1)[1], i.size) for i in infos if i.type == pafs.FileType.File]


def process_cpu(pid: int | None) -> float | None:
    """user + system seconds of a process and of its reaped children."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- tools


def write_hygge_project(project: str, target: str, container: str, sc: dict, args) -> None:
    entities = list(sc["manifest"]["entities"])
    file_rows = int(os.environ.get("HYGGE_FILE_ROWS") or max(e["rows"] for e in sc["manifest"]["entities"].values()))
    concurrency = int(os.environ.get("HYGGE_CONCURRENCY") or len(entities))
    shutil.rmtree(project, ignore_errors=True)
    os.makedirs(os.path.join(project, "flows", "to_cloud"))
    with open(os.path.join(project, "hygge.yml"), "w") as f:
        f.write(f"name: bench_cloud\noptions:\n  concurrency: {concurrency}\n")
    if target == "azurite":
        store = (
            "store:\n  type: adls\n"
            f"  account_url: {args.azurite_url}\n"
            f"  filesystem: {container}\n"
            "  credential: storage_key\n"
            f"  storage_account_key: {json.dumps(cp.AZURITE_KEY)}\n"
        )
    else:
        store = (
            "store:\n  type: s3\n"
            f"  bucket: {container}\n"
            f"  endpoint: {args.s3_endpoint}\n"
            f"  region: {cp.S3_REGION}\n"
            f"  access_key_id: {cp.S3_KEY_ID}\n"
            f"  secret_access_key: {cp.S3_SECRET}\n"
        )
    store += f"  path: \"{{entity}}/\"\n  compression: snappy\n  batch_size: {file_rows}\n"
    with open(os.path.join(project, "flows", "to_cloud", "flow.yml"), "w") as f:
        f.write(f"home:\n  type: parquet\n  path: {json.dumps(sc['data'])}\n" + store
                + f"entities: [{', '.join(entities)}]\n")


def command(tool: str, target: str, container: str, sc: dict, args, project: str) -> list[str]:
    if tool == "hygge":
        return [args.hygge_bin, "go", "--project-dir", project, "--output", "json"]
    return [sys.executable, PEER_SCRIPT, tool, "--target", target, "--data", sc["data"],
            "--container", container, "--azurite-url", args.azurite_url, "--s3-endpoint", args.s3_endpoint]


def verify(server, target: str, container: str, sc: dict, args) -> dict:
    """Read back from the server: every entity's rows and columns in its .parquet objects."""
    import polars as pl

    cp.object_store_env(target, args)
    opts = cp.storage_options(target, args)
    objects = server.objects(container)
    data = [(k, n) for k, n in objects
            if k.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in k.split("/"))]
    problems, rows, n_files, size = [], 0, 0, 0
    for entity, want in sc["manifest"]["entities"].items():
        mine = [(k, n) for k, n in data if k == f"{entity}.parquet" or k.startswith(f"{entity}/")]
        if not mine:
            problems.append(f"{entity}: no output object")
            continue
        urls = [cp.url(target, container, k) for k, _ in mine]
        try:
            lf = pl.scan_parquet(urls, storage_options=opts)
            names = lf.collect_schema().names()
            got = lf.select(pl.len()).collect().item()
        except Exception as e:  # noqa: BLE001 - any unreadable output is a failure
            problems.append(f"{entity}: unreadable: {str(e).splitlines()[0][:300]}")
            continue
        if names != sc["columns"]:
            problems.append(f"{entity}: columns {names} != {sc['columns']}")
        if got != want["rows"]:
            problems.append(f"{entity}: {got:,} rows written, {want['rows']:,} expected")
        rows += got
        n_files += len(mine)
        size += sum(n for _, n in mine)
    leftovers = [k for k, _ in objects if (k, _) not in data and "/_hygge/" not in f"/{k}"]
    return {"rows_written": rows, "files_written": n_files, "bytes_written": size,
            "objects": len(objects), "other_objects": leftovers[:10], "problems": problems}


def run_one(tool: str, target: str, server, sc: dict, args, round_no: int, warmup: bool) -> dict:
    container = f"bench-{tool}"
    server.reset(container)
    subprocess.run(["sync"], check=False)
    project = os.path.join(args.out_root, "projects", f"cloud_{target}_{tool}_{sc['rows']}")
    if tool == "hygge":
        write_hygge_project(project, target, container, sc, args)
    else:
        os.makedirs(project, exist_ok=True)
    cmd = command(tool, target, container, sc, args, project)
    logs = os.path.join(args.out_root, "logs")
    os.makedirs(logs, exist_ok=True)
    tag = f"cloud_{target}_{sc['rows']}_{tool}_{'warmup' if warmup else 'run'}{round_no}"
    timing = os.path.join(logs, f"{tag}.time")
    stdout_path, stderr_path = os.path.join(logs, f"{tag}.out"), os.path.join(logs, f"{tag}.err")
    server_pid = args.azurite_pid if target == "azurite" else args.moto_pid
    cpu0 = process_cpu(server_pid)
    with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
        proc = subprocess.run([TIME, "-f", "%e %M %U %S", "-o", timing, *cmd], stdout=so, stderr=se, cwd=project)
    cpu1 = process_cpu(server_pid)
    rec = {"tool": tool, "round": round_no, "warmup": warmup, "exit_code": proc.returncode,
           "command": [c if c != cp.AZURITE_KEY else "<key>" for c in cmd],
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
            tail = f.read().strip().splitlines()[-5:]
        problems.append(f"exit code {proc.returncode}: " + " | ".join(tail)[:800])
    if rec["wall_s"] is None:
        problems.append("no timing from /usr/bin/time")
    check = verify(server, target, container, sc, args)
    problems += check.pop("problems")
    rec.update(check)
    if tool == "hygge" and proc.returncode == 0:
        try:
            with open(stdout_path) as f:
                report = json.load(f)
            rec["hygge_report"] = {"duration_secs": report["report"]["duration_secs"],
                                   "totals": report["report"]["totals"]}
        except (OSError, ValueError, KeyError, TypeError):
            pass
    rec["status"] = "ok" if not problems else "failed"
    rec["problems"] = problems
    server.reset(container)  # the emulators keep objects in memory: free them
    return rec


def load_scenario(data: str, target: str, tools: list[str], kind: str) -> dict:
    import pyarrow.parquet as pq

    with open(os.path.join(data, "_manifest.json")) as f:
        manifest = json.load(f)
    first = next(iter(manifest["entities"].items()))
    sample = os.path.join(data, first[0], first[1]["files"][0]["file"])
    return {
        "name": f"parquet_to_{target}_{manifest['rows']}",
        "kind": kind,  # compare | scale
        "target": target,
        "title": f"Parquet → {TARGET_TITLE[target]}",
        "rows": manifest["rows"],
        "data": os.path.abspath(data),
        "manifest": manifest,
        "columns": pq.read_schema(sample).names,
        "input_bytes": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data)
                           for f in fs if f.endswith(".parquet")),
        "tools": tools,
        "runs": [],
    }


def run_scenario(sc: dict, server, args) -> dict:
    tools = sc["tools"]
    rounds = [(i + 1, True) for i in range(args.warmup)] + [(i + 1, False) for i in range(args.runs)]
    for k, (round_no, warmup) in enumerate(rounds):
        order = tools[k % len(tools):] + tools[: k % len(tools)]
        for tool in order:
            label = f"{'warm-up' if warmup else 'run'} {round_no}"
            log(f"{sc['target']} · {sc['rows']:,} rows · {tool:7s} · {label} ...")
            rec = run_one(tool, sc["target"], server, sc, args, round_no, warmup)
            sc["runs"].append(rec)
            if rec["status"] == "ok":
                log(f"    {rec['wall_s']:.2f} s, {rec['max_rss_kib'] / 1024:,.0f} MiB peak RSS, "
                    f"server CPU {rec['server_cpu_s']} s, {rec['rows_written']:,} rows in {rec['files_written']} objects")
            else:
                log(f"    FAILED: {'; '.join(rec['problems'])}")
    sc.pop("manifest")
    return sc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the generated data set of the comparison")
    p.add_argument("--scale-data", help="a second data set: hygge alone on it, per target")
    p.add_argument("--targets", default="azurite,s3")
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--hygge-bin", default=os.path.join(HERE, "..", "target", "release", "hygge"))
    p.add_argument("--azurite-url", default=f"http://127.0.0.1:10300/{cp.AZURITE_ACCOUNT}")
    p.add_argument("--s3-endpoint", default="http://127.0.0.1:5300")
    p.add_argument("--azurite-pid", type=int)
    p.add_argument("--moto-pid", type=int)
    p.add_argument("--out-root", default=os.path.join(HERE, "out"))
    p.add_argument("--results", help="the JSON file to write (default bench/results/<time>-cloud-<rows>.json)")
    args = p.parse_args()
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in args.tools:
        if t not in TOOLS:
            raise SystemExit(f"unknown tool {t!r} (known: {', '.join(TOOLS)})")
    for t in args.targets:
        if t not in TARGET_TITLE:
            raise SystemExit(f"unknown target {t!r} (known: {', '.join(TARGET_TITLE)})")
    args.hygge_bin = os.path.abspath(args.hygge_bin)
    args.out_root = os.path.abspath(args.out_root)
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} is needed (apt-get install time)")
    started = dt.datetime.now(dt.timezone.utc)
    versions = base.versions(args.hygge_bin)
    for pkg in ("duckdb-extension-httpfs", "duckdb-extension-azure", "azure-storage-blob"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    for name, cmd in (("azurite", ["node", "-p", f"require('{os.path.expanduser(os.environ.get('HYGGE_AZURITE_DIR', '~/.cache/hygge/azurite'))}/node_modules/azurite/package.json').version"]),
                      ("moto", [os.path.expanduser(os.path.join(os.environ.get("HYGGE_MOTO_VENV", "~/.cache/hygge/venv-moto"), "bin", "python")),
                                "-c", "import importlib.metadata as m; print(m.version('moto'))"])):
        versions[name] = base.first_line(cmd)
    result = {
        "mode": "cloud",
        "started_utc": started.isoformat(timespec="seconds"),
        "machine": base.machine_info(),
        "versions": versions,
        "runs_per_tool": args.runs,
        "warmup_rounds": args.warmup,
        "servers": {"azurite": args.azurite_url, "s3": args.s3_endpoint},
        "settings": {k: os.environ.get(k) for k in ("HYGGE_FILE_ROWS", "HYGGE_CONCURRENCY")},
        "scenarios": [],
    }
    for target in args.targets:
        server = Azurite(args.azurite_url) if target == "azurite" else S3(args.s3_endpoint)
        result["scenarios"].append(run_scenario(load_scenario(args.data, target, args.tools, "compare"), server, args))
        if args.scale_data and "hygge" in args.tools:
            result["scenarios"].append(run_scenario(load_scenario(args.scale_data, target, ["hygge"], "scale"), server, args))
    result["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = result["scenarios"][0]["rows"] if result["scenarios"] else 0
    path = args.results or os.path.join(HERE, "results", f"{started.strftime('%Y%m%dT%H%M%SZ')}-cloud-{rows}.json")
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
