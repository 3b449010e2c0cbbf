//! Batches cross between hygge's Arrow (59) and the Arrow the `duckdb` crate is built on
//! (58) as Arrow IPC: written by one side into a buffer, decoded by the other without a
//! further copy. (The C Data Interface would hand buffers over without copying, but needs
//! unsafe code, which this workspace forbids; one copy is small next to DuckDB's own
//! conversion into its vectors.)

use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use duckdb::arrow::buffer::Buffer as Buffer58;
use duckdb::arrow::datatypes::SchemaRef as SchemaRef58;
use duckdb::arrow::record_batch::RecordBatch as RecordBatch58;

fn err(e: impl std::fmt::Display) -> String {
    format!("moving a batch to DuckDB's Arrow: {e}")
}

/// `batch` as the `duckdb` crate's Arrow.
pub fn to_duck(batch: &RecordBatch) -> Result<RecordBatch58, String> {
    let mut w =
        arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema()).map_err(err)?;
    w.write(batch).map_err(err)?;
    w.finish().map_err(err)?;
    let bytes = w.into_inner().map_err(err)?;
    let mut buf = Buffer58::from_vec(bytes);
    let mut d = duckdb_arrow_ipc::reader::StreamDecoder::new();
    let mut out = None;
    while !buf.is_empty() {
        if let Some(b) = d.decode(&mut buf).map_err(err)? {
            out = Some(b);
        }
    }
    d.finish().map_err(err)?;
    match out {
        Some(b) => Ok(b),
        None => Err(err("no batch decoded")),
    }
}

/// The `duckdb` crate's batches (one schema) as hygge's Arrow, in order.
pub fn from_duck(
    schema: &SchemaRef58,
    batches: &[RecordBatch58],
) -> Result<Vec<RecordBatch>, String> {
    let err = |e: &dyn std::fmt::Display| format!("moving a batch from DuckDB's Arrow: {e}");
    let mut w =
        duckdb_arrow_ipc::writer::StreamWriter::try_new(Vec::new(), schema).map_err(|e| err(&e))?;
    for b in batches {
        w.write(b).map_err(|e| err(&e))?;
    }
    w.finish().map_err(|e| err(&e))?;
    let bytes = w.into_inner().map_err(|e| err(&e))?;
    let mut buf = Buffer::from_vec(bytes);
    let mut d = arrow::ipc::reader::StreamDecoder::new();
    let mut out = Vec::with_capacity(batches.len());
    while !buf.is_empty() {
        if let Some(b) = d.decode(&mut buf).map_err(|e| err(&e))? {
            out.push(b);
        }
    }
    d.finish().map_err(|e| err(&e))?;
    Ok(out)
}

/// The `duckdb` crate's schema as hygge's Arrow.
pub fn schema_from_duck(schema: &SchemaRef58) -> Result<SchemaRef, String> {
    let err = |e: &dyn std::fmt::Display| format!("reading DuckDB's Arrow schema: {e}");
    let mut w =
        duckdb_arrow_ipc::writer::StreamWriter::try_new(Vec::new(), schema).map_err(|e| err(&e))?;
    w.finish().map_err(|e| err(&e))?;
    let bytes = w.into_inner().map_err(|e| err(&e))?;
    let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| err(&e))?;
    Ok(r.schema())
}
