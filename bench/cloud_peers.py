#!/usr/bin/env python3
"""The peers' side of the cloud benchmark (bench_cloud.py runs it): one process per run.

    python bench/cloud_peers.py {polars|duckdb} --target {azurite|s3} --data <data dir> \\
        --container <container or bucket> --azurite-url http://127.0.0.1:10300/devstoreaccount1 \\
        --s3-endpoint http://127.0.0.1:5300

Each writes every entity <data>/<e>/*.parquet as one snappy Parquet object
<container>/<e>.parquet on the server, entity after entity, in one process, with the tool's
default threading, the way a user would write it:

  polars  pl.scan_parquet('<data>/<e>/*.parquet').sink_parquet('s3://<bucket>/<e>.parquet'
            | 'az://<container>/<e>.parquet', compression='snappy', storage_options=...)
          (Polars' cloud writes go through the Rust object_store crate, as hygge's do)
  duckdb  COPY (SELECT * FROM read_parquet('<data>/<e>/*.parquet'))
            TO 's3://<bucket>/<e>.parquet' | 'az://<container>/<e>.parquet'
            (FORMAT parquet, COMPRESSION snappy)
          with the httpfs (S3) or azure extension, loaded from the files the PyPI packages
          duckdb-extension-httpfs / duckdb-extension-azure ship (DuckDB cannot download them here)

The library's import is part of the measured process (as hygge's start-up is).
Also used by bench_cloud.py (imported) for the storage options and the extension paths.
"""

from __future__ import annotations

import argparse
import glob
import os
from urllib.parse import urlsplit

ENTITIES = ["e0", "e1", "e2", "e3"]
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known key (public, in Microsoft's documentation).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# moto accepts any keys; every tool is given these.
S3_KEY_ID = "testing"
S3_SECRET = "testing-secret"
S3_REGION = "us-east-1"


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def azurite_blob_url(account_url: str) -> str:
    """http://127.0.0.1:10300/devstoreaccount1 -> http://127.0.0.1:10300 (what object_store's
    emulator mode takes through AZURITE_BLOB_STORAGE_URL)."""
    u = urlsplit(account_url)
    return f"{u.scheme}://{u.netloc}"


def storage_options(target: str, a) -> dict:
    """object_store options (Polars' storage_options) for the target."""
    if target == "s3":
        return {
            "aws_access_key_id": S3_KEY_ID,
            "aws_secret_access_key": S3_SECRET,
            "aws_region": S3_REGION,
            "aws_endpoint_url": a.s3_endpoint,
            "aws_allow_http": "true",
        }
    # object_store's emulator mode: devstoreaccount1, its key, http://127.0.0.1:10000 unless
    # AZURITE_BLOB_STORAGE_URL says otherwise (set by object_store_env below).
    return {
        "account_name": AZURITE_ACCOUNT,
        "account_key": AZURITE_KEY,
        "use_emulator": "true",
    }


def object_store_env(target: str, a) -> None:
    if target == "azurite":
        os.environ["AZURITE_BLOB_STORAGE_URL"] = azurite_blob_url(a.azurite_url)


def url(target: str, container: str, key: str) -> str:
    return f"{'s3' if target == 's3' else 'az'}://{container}/{key}"


def extension(package: str, name: str) -> str:
    """The extension file a duckdb-extension-* package ships, for the installed DuckDB."""
    import importlib

    import duckdb

    root = os.path.dirname(importlib.import_module(package).__file__)
    want = os.path.join(root, "extensions", f"v{duckdb.__version__}", f"{name}.duckdb_extension")
    if os.path.isfile(want):
        return want
    found = glob.glob(os.path.join(root, "**", f"{name}.duckdb_extension"), recursive=True)
    if not found:
        raise SystemExit(f"no {name}.duckdb_extension under {root}")
    return found[0]


def run_polars(a) -> None:
    import polars as pl

    object_store_env(a.target, a)
    opts = storage_options(a.target, a)
    for e in ENTITIES:
        pl.scan_parquet(os.path.join(a.data, e, "*.parquet")).sink_parquet(
            url(a.target, a.container, f"{e}.parquet"), compression="snappy", storage_options=opts
        )


def run_duckdb(a) -> None:
    import duckdb

    con = duckdb.connect()  # in-memory database, default threads and memory limit
    if a.target == "s3":
        con.execute(f"LOAD {sql_str(extension('duckdb_extension_httpfs', 'httpfs'))}")
        endpoint = urlsplit(a.s3_endpoint)
        con.execute(
            f"CREATE SECRET moto (TYPE s3, KEY_ID {sql_str(S3_KEY_ID)}, SECRET {sql_str(S3_SECRET)}, "
            f"REGION {sql_str(S3_REGION)}, ENDPOINT {sql_str(endpoint.netloc)}, URL_STYLE 'path', "
            f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'})"
        )
    else:
        con.execute(f"LOAD {sql_str(extension('duckdb_extension_azure', 'azure'))}")
        conn = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={a.azurite_url};"
        )
        con.execute(f"CREATE SECRET azurite (TYPE azure, CONNECTION_STRING {sql_str(conn)})")
    for e in ENTITIES:
        src = os.path.join(a.data, e, "*.parquet")
        con.execute(
            f"COPY (SELECT * FROM read_parquet({sql_str(src)})) TO "
            f"{sql_str(url(a.target, a.container, f'{e}.parquet'))} (FORMAT parquet, COMPRESSION snappy)"
        )
    con.close()


TOOLS = {"polars": run_polars, "duckdb": run_duckdb}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tool", choices=sorted(TOOLS))
    p.add_argument("--target", choices=["azurite", "s3"], required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--container", required=True)
    p.add_argument("--azurite-url", default=f"http://127.0.0.1:10300/{AZURITE_ACCOUNT}")
    p.add_argument("--s3-endpoint", default="http://127.0.0.1:5300")
    a = p.parse_args()
    a.data = os.path.abspath(a.data)
    TOOLS[a.tool](a)


if __name__ == "__main__":
    main()
