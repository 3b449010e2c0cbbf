#!/usr/bin/env python3
"""The peer tools' side of the PostgreSQL benchmark: one process per measured run.

    python bench/pg_peers.py duckdb_read      --dsn DSN --entities e0,e1 --out <dir>
    python bench/pg_peers.py connectorx_read  --dsn DSN --entities e0,e1 --out <dir>
    python bench/pg_peers.py duckdb_write     --dsn DSN --entities e0,e1 --data <dir> --schema S
    python bench/pg_peers.py duckdb_load      --dsn DSN --entities e0,e1 --data <dir> --schema S

DSN is a libpq key/value string
(`dbname=hygge_bench host=127.0.0.1 port=5432 user=postgres sslmode=disable`).
Each tool handles the entities one after the other, in one process, with its default
threading, the way a user would write it:

  duckdb_read      ATTACH '<dsn>' AS pg (TYPE postgres);
                   COPY (SELECT * FROM pg.public.<e>) TO '<out>/<e>.parquet'
                     (FORMAT parquet, COMPRESSION snappy)
  connectorx_read  cx.read_sql('postgresql://...', 'SELECT * FROM public.<e>',
                     return_type='arrow', partition_on='id', partition_num=<CX_PARTITIONS>)
                   then pq.write_table(<table>, '<out>/<e>.parquet', compression='snappy')
                   (CX_PARTITIONS=1: a single query, no partitioning)
  duckdb_write     ATTACH ...; CREATE TABLE pg.<schema>.<e> AS
                     SELECT * FROM read_parquet('<data>/<e>/*.parquet')
  duckdb_load      (the untimed loading of the source tables, not a measured tool)
                   INSERT INTO pg.<schema>.<e> SELECT * FROM read_parquet(...) into tables
                   created beforehand with the exact column types

DuckDB's postgres extension cannot be downloaded here: it is loaded from the file that the
PyPI package `duckdb-extension-postgres-scanner==<duckdb version>` ships (or from
$DUCKDB_PG_EXTENSION). The import of the libraries is part of the measured process.
"""

from __future__ import annotations

import argparse
import glob
import os
import urllib.parse


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def postgres_extension() -> str:
    """The path of the postgres_scanner extension file matching the installed DuckDB."""
    path = os.environ.get("DUCKDB_PG_EXTENSION")
    if path:
        return path
    import duckdb
    import duckdb_extension_postgres_scanner as pkg

    root = os.path.dirname(pkg.__file__)
    want = os.path.join(root, "extensions", f"v{duckdb.__version__}", "postgres_scanner.duckdb_extension")
    if os.path.isfile(want):
        return want
    found = glob.glob(os.path.join(root, "**", "postgres_scanner.duckdb_extension"), recursive=True)
    if not found:
        raise SystemExit(f"no postgres_scanner.duckdb_extension under {root}")
    return found[0]


def duckdb_attached(dsn: str):
    import duckdb

    con = duckdb.connect()  # in-memory database, default threads and memory limit
    con.execute(f"LOAD {sql_str(postgres_extension())}")
    con.execute(f"ATTACH {sql_str(dsn)} AS pg (TYPE postgres)")
    return con


def run_duckdb_read(a) -> None:
    con = duckdb_attached(a.dsn)
    for e in a.entities:
        dst = os.path.join(a.out, f"{e}.parquet")
        con.execute(
            f"COPY (SELECT * FROM pg.{ident(a.source_schema)}.{ident(e)}) TO {sql_str(dst)} "
            "(FORMAT parquet, COMPRESSION snappy)"
        )
    con.close()


def dsn_to_url(dsn: str) -> str:
    """`dbname=d host=h port=p user=u [password=x] [sslmode=m]` -> postgresql://u:x@h:p/d?sslmode=m."""
    kv = dict(part.split("=", 1) for part in dsn.split())
    user = urllib.parse.quote(kv.get("user", "postgres"))
    if kv.get("password"):
        user += ":" + urllib.parse.quote(kv["password"])
    url = f"postgresql://{user}@{kv.get('host', 'localhost')}:{kv.get('port', '5432')}/{kv['dbname']}"
    return url + (f"?sslmode={kv['sslmode']}" if kv.get("sslmode") else "")


def run_connectorx_read(a) -> None:
    import connectorx as cx
    import pyarrow.parquet as pq

    url = dsn_to_url(a.dsn)
    parts = int(os.environ.get("CX_PARTITIONS") or os.cpu_count() or 1)
    for e in a.entities:
        query = f"SELECT * FROM {ident(a.source_schema)}.{ident(e)}"
        if parts > 1:
            table = cx.read_sql(url, query, return_type="arrow", partition_on="id", partition_num=parts)
        else:
            table = cx.read_sql(url, query, return_type="arrow")
        pq.write_table(table, os.path.join(a.out, f"{e}.parquet"), compression="snappy")
        del table


def run_duckdb_write(a) -> None:
    con = duckdb_attached(a.dsn)
    for e in a.entities:
        src = os.path.join(a.data, e, "*.parquet")
        con.execute(
            f"CREATE TABLE pg.{ident(a.schema)}.{ident(e)} AS SELECT * FROM read_parquet({sql_str(src)})"
        )
    con.close()


def run_duckdb_load(a) -> None:
    con = duckdb_attached(a.dsn)
    for e in a.entities:
        src = os.path.join(a.data, e, "*.parquet")
        con.execute(f"INSERT INTO pg.{ident(a.schema)}.{ident(e)} SELECT * FROM read_parquet({sql_str(src)})")
    con.close()


TOOLS = {
    "duckdb_read": run_duckdb_read,
    "connectorx_read": run_connectorx_read,
    "duckdb_write": run_duckdb_write,
    "duckdb_load": run_duckdb_load,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tool", choices=sorted(TOOLS))
    p.add_argument("--dsn", required=True)
    p.add_argument("--entities", required=True, help="comma-separated table/entity names")
    p.add_argument("--out", help="output folder (reads)")
    p.add_argument("--data", help="the Parquet data set (writes)")
    p.add_argument("--schema", default="public", help="the target schema (writes)")
    p.add_argument("--source-schema", default="public", help="the source schema (reads)")
    a = p.parse_args()
    a.entities = [e for e in a.entities.split(",") if e]
    if a.out:
        a.out = os.path.abspath(a.out)
        os.makedirs(a.out, exist_ok=True)
    if a.data:
        a.data = os.path.abspath(a.data)
    TOOLS[a.tool](a)


if __name__ == "__main__":
    main()
