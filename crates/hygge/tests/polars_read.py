"""Reads files with Polars (the original hygge's reader) and prints, per file, one JSON line:
{"file": ..., "columns": [[name, type], ...], "rows": [[value, ...], ...]} or
{"file": ..., "error": "..."}. Used by crates/hygge/tests/polars_differential.rs.

Usage: python polars_read.py FILE...   (format from the extension; format_options from
FILE's sibling <stem>.options.json, passed to Polars as keyword arguments). Files are read
as the original hygge reads them: CSV with scan_csv, NDJSON with read_ndjson.

Types: String, Int64, Int128, Float64, Boolean, Date, Datetime(<unit>,<zone or None>), or
Polars' own name. Values are strings, so that nothing is rounded on the way: integers and
decimals in full, floats as Python's repr, dates ISO, date-times as microseconds since
1970-01-01 (in UTC when zoned), booleans "true"/"false", lists and structs as compact JSON
of their items' strings; NULL is null.
"""
import datetime as dt
import io
import json
import os
import sys

import polars as pl

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_UTC = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def type_name(t):
    if isinstance(t, pl.Datetime):
        return f"Datetime({t.time_unit},{t.time_zone})"
    return str(t)


def value(v):
    if v is None:
        return None
    if isinstance(v, list):
        return json.dumps([value(x) for x in v], separators=(",", ":"), ensure_ascii=False)
    if isinstance(v, dict):
        return json.dumps(
            {k: value(x) for k, x in v.items()}, separators=(",", ":"), ensure_ascii=False
        )
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dt.datetime):
        base = EPOCH_UTC if v.tzinfo is not None else EPOCH
        return str((v - base) // dt.timedelta(microseconds=1))
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def read(path):
    stem, ext = os.path.splitext(path)
    options = {}
    if os.path.exists(stem + ".options.json"):
        with open(stem + ".options.json") as f:
            options = json.load(f)
    if "schema_overrides" in options:  # type names, as in YAML
        options["schema_overrides"] = {
            c: getattr(pl, t) for c, t in options["schema_overrides"].items()
        }
    # As the original hygge reads them (src/hygge/core/formats.py): CSV through scan_csv,
    # NDJSON through read_ndjson over the file's non-blank lines, stripped.
    if ext == ".csv":
        return pl.scan_csv(path, **options).collect()
    with open(path, "rb") as f:
        lines = [line.strip() for line in f if line.strip()]
    return pl.read_ndjson(io.BytesIO(b"\n".join(lines)), **options)


def main():
    for path in sys.argv[1:]:
        name = os.path.basename(path)
        try:
            df = read(path)
        except Exception as e:  # Polars' failure is a result too
            print(json.dumps({"file": name, "error": f"{type(e).__name__}: {e}"}))
            continue
        print(
            json.dumps(
                {
                    "file": name,
                    "polars": pl.__version__,
                    "columns": [[n, type_name(t)] for n, t in df.schema.items()],
                    "rows": [[value(v) for v in row] for row in df.rows()],
                }
            )
        )


main()
