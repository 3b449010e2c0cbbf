#!/usr/bin/env python3
"""Generates the benchmark's input: N rows over 4 entities, as zstd Parquet.

    python bench/generate.py --rows 10000000 --out bench/data/rows_10000000

Layout: <out>/<entity>/part-00000.parquet, ... (entities e0..e3, rows split evenly,
at most --rows-per-file rows per file) and <out>/_manifest.json with the row counts.

Columns (8): id int64 (unique over all entities), customer_id int32, amount float64
(5 % nulls), price decimal(18,4), status string (8 values), note string of 10-40 random
characters (5 % nulls), created_at timestamp[us], is_paid bool.

The data is generated and written one chunk at a time (default 1,048,576 rows = 8 row
groups of 131,072), so memory stays flat whatever --rows is: 100,000,000 rows work.
The output is first written to <out>.tmp-<pid> and renamed into place when complete, so
an interrupted run never leaves a half-written data set that looks finished.
The data is deterministic for a given --rows and --seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ENTITIES = ["e0", "e1", "e2", "e3"]
STATUSES = ["new", "pending", "paid", "shipped", "delivered", "cancelled", "refunded", "on_hold"]
ALPHABET = np.frombuffer(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", dtype=np.uint8
)
NULL_FRACTION = 0.05
EPOCH_2020_US = 1_577_836_800 * 1_000_000  # 2020-01-01T00:00:00Z in microseconds
FIVE_YEARS_US = 5 * 365 * 86_400 * 1_000_000

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("customer_id", pa.int32(), nullable=False),
        pa.field("amount", pa.float64()),
        pa.field("price", pa.decimal128(18, 4), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("note", pa.string()),
        pa.field("created_at", pa.timestamp("us"), nullable=False),
        pa.field("is_paid", pa.bool_(), nullable=False),
    ]
)


def validity_buffer(valid: np.ndarray) -> pa.Buffer:
    """An Arrow validity bitmap (LSB first) from a bool array."""
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def decimal_array(unscaled: np.ndarray, typ: pa.Decimal128Type) -> pa.Array:
    """A decimal128 array from int64 unscaled values (two's complement, little endian)."""
    words = np.empty((len(unscaled), 2), dtype=np.int64)
    words[:, 0] = unscaled
    words[:, 1] = unscaled >> 63  # sign extension into the high word
    return pa.Array.from_buffers(typ, len(unscaled), [None, pa.py_buffer(words)])


def string_array(rng: np.random.Generator, n: int, valid: np.ndarray) -> pa.Array:
    """Random strings of 10-40 characters; null where not valid (those are empty)."""
    lengths = rng.integers(10, 41, size=n, dtype=np.int32)
    lengths[~valid] = 0
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    chars = ALPHABET[rng.integers(0, len(ALPHABET), size=int(offsets[-1]), dtype=np.uint8)]
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [validity_buffer(valid), pa.py_buffer(offsets), pa.py_buffer(chars)],
        null_count=int(n - valid.sum()),
    )


def make_chunk(rng: np.random.Generator, first_id: int, n: int) -> pa.Table:
    """One chunk of n rows with ids first_id .. first_id + n - 1."""
    amount_valid = rng.random(n) >= NULL_FRACTION
    amount = np.round(rng.gamma(2.0, 50.0, size=n), 2)
    note_valid = rng.random(n) >= NULL_FRACTION
    status_idx = rng.integers(0, len(STATUSES), size=n, dtype=np.int32)
    status = pa.DictionaryArray.from_arrays(pa.array(status_idx), pa.array(STATUSES)).cast(
        pa.string()
    )
    created = EPOCH_2020_US + rng.integers(0, FIVE_YEARS_US, size=n, dtype=np.int64)
    columns = [
        pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        pa.array(rng.integers(1, 1_000_000, size=n, dtype=np.int32)),
        pa.array(amount, mask=~amount_valid),
        decimal_array(rng.integers(1, 100_000_000, size=n, dtype=np.int64), SCHEMA.field("price").type),
        status,
        string_array(rng, n, note_valid),
        pa.array(created, type=pa.timestamp("us")),
        pa.array(rng.random(n) < 0.7),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def split(total: int, parts: int) -> list[int]:
    """total split into parts as evenly as possible (earlier parts take the remainder)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def progress(written: int, rows: int, started: float, overwrite: bool) -> None:
    """A progress line on stderr: rewritten in place on a terminal, one per file otherwise."""
    rate = written / max(time.monotonic() - started, 1e-9)
    line = f"  generated {written:,}/{rows:,} rows ({rate:,.0f} rows/s)"
    if overwrite:
        print("\r" + line, end="", file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def generate(
    rows: int,
    out: str,
    *,
    seed: int,
    chunk_rows: int,
    row_group_rows: int,
    rows_per_file: int,
    compression: str,
) -> dict:
    tmp = f"{out.rstrip('/')}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(seed)
    manifest = {
        "rows": rows,
        "seed": seed,
        "compression": compression,
        "row_group_rows": row_group_rows,
        "entities": {},
        "schema": [f"{f.name}: {f.type}" for f in SCHEMA],
    }
    tty = sys.stderr.isatty()
    next_id = 1
    started = time.monotonic()
    written = 0
    for entity, entity_rows in zip(ENTITIES, split(rows, len(ENTITIES))):
        os.makedirs(os.path.join(tmp, entity))
        n_files = max(1, -(-entity_rows // rows_per_file))
        files = []
        for file_no, file_rows in enumerate(split(entity_rows, n_files)):
            name = f"part-{file_no:05d}.parquet"
            path = os.path.join(tmp, entity, name)
            with pq.ParquetWriter(path, SCHEMA, compression=compression) as writer:
                left = file_rows
                while left > 0:
                    n = min(chunk_rows, left)
                    writer.write_table(make_chunk(rng, next_id, n), row_group_size=row_group_rows)
                    next_id += n
                    left -= n
                    written += n
                    if tty:
                        progress(written, rows, started, overwrite=True)
            files.append({"file": name, "rows": file_rows})
            if not tty:
                progress(written, rows, started, overwrite=False)
        manifest["entities"][entity] = {"rows": entity_rows, "files": files}
    if tty:
        print(file=sys.stderr)
    with open(os.path.join(tmp, "_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    os.rename(tmp, out)
    return manifest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="total rows (default 10,000,000)")
    p.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--chunk-rows", type=int, default=8 * 131_072, help="rows generated at a time")
    p.add_argument("--row-group-rows", type=int, default=131_072, help="rows per row group")
    p.add_argument(
        "--rows-per-file", type=int, default=10_000_000, help="at most this many rows per file"
    )
    p.add_argument("--compression", default="zstd")
    a = p.parse_args()
    if a.rows < len(ENTITIES):
        p.error(f"--rows must be at least {len(ENTITIES)}")
    started = time.monotonic()
    m = generate(
        a.rows,
        a.out,
        seed=a.seed,
        chunk_rows=a.chunk_rows,
        row_group_rows=a.row_group_rows,
        rows_per_file=a.rows_per_file,
        compression=a.compression,
    )
    size = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(a.out) for f in fs
    )
    n_files = sum(len(e["files"]) for e in m["entities"].values())
    print(
        f"wrote {a.rows:,} rows in {n_files} files ({size / 2**20:,.1f} MiB) to {a.out} "
        f"in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
