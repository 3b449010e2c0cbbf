#!/usr/bin/env python3
"""The peer tools' side of the benchmark: one process per measured run.

    python bench/peers.py {duckdb|polars|pyarrow} --data <data dir> --out <out dir>

Each copies every entity <data>/<e>/*.parquet to snappy Parquet, entity after entity,
in one process, with the tool's default threading, the way a user would write it:

  duckdb   COPY (SELECT * FROM read_parquet('<data>/<e>/*.parquet'))
             TO '<out>/<e>.parquet' (FORMAT parquet, COMPRESSION snappy)
  polars   pl.scan_parquet('<data>/<e>/*.parquet').sink_parquet('<out>/<e>.parquet',
             compression='snappy')
  pyarrow  ds.write_dataset(ds.dataset('<data>/<e>', format='parquet'), '<out>/<e>',
             format='parquet', file_options=<snappy>)

The import of the library is part of the measured process (as hygge's start-up is).
"""

from __future__ import annotations

import argparse
import os

ENTITIES = ["e0", "e1", "e2", "e3"]


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def run_duckdb(data: str, out: str) -> None:
    import duckdb

    con = duckdb.connect()  # in-memory database, default threads and memory limit
    for e in ENTITIES:
        src = os.path.join(data, e, "*.parquet")
        dst = os.path.join(out, f"{e}.parquet")
        con.execute(
            f"COPY (SELECT * FROM read_parquet({sql_str(src)})) TO {sql_str(dst)} "
            "(FORMAT parquet, COMPRESSION snappy)"
        )
    con.close()


def run_polars(data: str, out: str) -> None:
    import polars as pl

    for e in ENTITIES:
        pl.scan_parquet(os.path.join(data, e, "*.parquet")).sink_parquet(
            os.path.join(out, f"{e}.parquet"), compression="snappy"
        )


def run_pyarrow(data: str, out: str) -> None:
    import pyarrow.dataset as ds

    fmt = ds.ParquetFileFormat()
    options = fmt.make_write_options(compression="snappy")
    for e in ENTITIES:
        ds.write_dataset(
            ds.dataset(os.path.join(data, e), format=fmt),
            os.path.join(out, e),
            format=fmt,
            file_options=options,
            existing_data_behavior="overwrite_or_ignore",
        )


TOOLS = {"duckdb": run_duckdb, "polars": run_polars, "pyarrow": run_pyarrow}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tool", choices=sorted(TOOLS))
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    TOOLS[a.tool](os.path.abspath(a.data), os.path.abspath(a.out))


if __name__ == "__main__":
    main()
