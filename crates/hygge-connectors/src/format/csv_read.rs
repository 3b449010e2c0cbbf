//! CSV decoding as Polars (the original hygge's reader) decodes: the same type inference,
//! the same NULLs (an unquoted empty field is NULL, a quoted one `""` is the empty string),
//! the same names for duplicate headers (`a`, `a_duplicated_0`).
//!
//! Inference over the first `infer_schema_length` rows, per column, as Polars 2.x:
//! `true`/`false` (any case) → Boolean; `-?\d+` → Int64, or Decimal128(38, 0) beyond i64
//! (Polars says Int128, which its Parquet writer stores as an INT128 no other reader takes);
//! floats (`1.5`, `.5`, `1.`, `1e5`, `inf`, `NaN`) → Float64; with `try_parse_dates`, ISO
//! dates → Date32 and ISO date-times → Timestamp(µs) (with an offset or `Z`: in UTC);
//! everything else, and a column of NULLs only, → Utf8. Integers and floats mix to Float64,
//! Int64 and the wide integers to Decimal128(38, 0), anything else to Utf8.

use std::io::BufRead;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::input::InputRead;

/// How records are split.
#[derive(Debug, Clone)]
pub struct Dialect {
    /// Field separator.
    pub separator: u8,
    /// Quote character, if quoting is on.
    pub quote: Option<u8>,
    /// Escape character inside quoted fields.
    pub escape: Option<u8>,
    /// Lines starting with this byte are skipped.
    pub comment: Option<u8>,
}

/// One record: the fields' bytes, where each ends, and whether each was quoted.
#[derive(Debug, Default)]
pub struct Record {
    buf: Vec<u8>,
    ends: Vec<usize>,
    quoted: Vec<bool>,
}

impl Record {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`'s bytes and whether it was quoted.
    pub fn get(&self, i: usize) -> (&[u8], bool) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (&self.buf[start..self.ends[i]], self.quoted[i])
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.quoted.clear();
    }
}

/// Splits a byte stream into records (quotes may hold separators and line breaks; `\r\n`
/// ends a line as `\n` does; a UTF-8 byte-order mark at the start is skipped; blank lines
/// are skipped).
pub struct Records<R> {
    input: R,
    dialect: Dialect,
    started: bool,
    /// 1-based line number where the last record started.
    pub line: u64,
    next_line: u64,
}

impl<R: BufRead> Records<R> {
    /// Reads records from `input`.
    pub fn new(input: R, dialect: Dialect) -> Self {
        Records {
            input,
            dialect,
            started: false,
            line: 0,
            next_line: 1,
        }
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.input.fill_buf()?.first().copied())
    }

    /// Reads the next record into `rec`; false at the end of the input.
    pub fn read(&mut self, rec: &mut Record) -> std::io::Result<bool> {
        if !self.started {
            self.started = true;
            let b = self.input.fill_buf()?;
            if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.input.consume(3);
            }
        }
        loop {
            rec.clear();
            let Some(first) = self.peek()? else {
                return Ok(false);
            };
            self.line = self.next_line;
            if Some(first) == self.dialect.comment || first == b'\n' || first == b'\r' {
                // A comment or a blank line: skip to its end.
                let mut skipped = Vec::new();
                self.input.read_until(b'\n', &mut skipped)?;
                self.next_line += 1;
                if Some(first) == self.dialect.comment
                    || skipped.iter().all(|b| *b == b'\r' || *b == b'\n')
                {
                    continue;
                }
            }
            self.read_fields(rec)?;
            return Ok(true);
        }
    }

    fn read_fields(&mut self, rec: &mut Record) -> std::io::Result<()> {
        let d = self.dialect.clone();
        let mut in_quotes = false;
        let mut quote_pending = false;
        let mut escaped = false;
        let mut field_quoted = false;
        let mut at_field_start = true;
        // Where an unquoted `\r` was kept: dropped if the line ends right after it.
        let mut cr_at = None;
        'outer: loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let len = buf.len();
            for (i, &b) in buf.iter().enumerate() {
                if quote_pending {
                    quote_pending = false;
                    if Some(b) == d.quote {
                        rec.buf.push(b);
                        continue;
                    }
                    in_quotes = false;
                }
                if in_quotes {
                    if escaped {
                        rec.buf.push(b);
                        escaped = false;
                    } else if Some(b) == d.escape && d.escape != d.quote {
                        escaped = true;
                    } else if Some(b) == d.quote {
                        quote_pending = true;
                    } else {
                        if b == b'\n' {
                            self.next_line += 1;
                        }
                        rec.buf.push(b);
                    }
                } else if b == d.separator {
                    rec.ends.push(rec.buf.len());
                    rec.quoted.push(field_quoted);
                    field_quoted = false;
                    at_field_start = true;
                } else if b == b'\n' {
                    self.next_line += 1;
                    self.input.consume(i + 1);
                    break 'outer;
                } else if at_field_start && Some(b) == d.quote {
                    in_quotes = true;
                    field_quoted = true;
                    at_field_start = false;
                } else {
                    if b == b'\r' {
                        cr_at = Some(rec.buf.len());
                    }
                    rec.buf.push(b);
                    at_field_start = false;
                }
            }
            self.input.consume(len);
        }
        // `\r\n`: the `\r` is not data.
        if cr_at.is_some_and(|at| at + 1 == rec.buf.len()) {
            rec.buf.pop();
        }
        rec.ends.push(rec.buf.len());
        rec.quoted.push(field_quoted);
        Ok(())
    }
}

/// The column names from a header record, as Polars names them: a repeated name `a`
/// becomes `a_duplicated_0`, `a_duplicated_1`, ... (where Polars fails because that name
/// is taken too, the next free number is used).
pub fn header_names(rec: &Record) -> Vec<String> {
    let raw: Vec<String> = (0..rec.len())
        .map(|i| String::from_utf8_lossy(rec.get(i).0).into_owned())
        .collect();
    let mut taken: std::collections::HashSet<String> = raw.iter().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for name in raw {
        if seen.insert(name.clone()) {
            out.push(name);
            continue;
        }
        let mut n = 0;
        let fresh = loop {
            let candidate = format!("{name}_duplicated_{n}");
            if !taken.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        taken.insert(fresh.clone());
        seen.insert(fresh.clone());
        out.push(fresh);
    }
    out
}

/// What a column's values look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Bool,
    Int,
    Wide,
    Float,
    Date,
    Naive,
    Zoned,
    Text,
}

fn is_int(s: &[u8]) -> bool {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn is_float(s: &str) -> bool {
    // Polars: ^[-+]?((\d*\.\d+)([eE][-+]?\d+)?|inf|NaN|(\d+)[eE][-+]?\d+|\d+\.)$
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^[-+]?((\d*\.\d+)([eE][-+]?\d+)?|inf|NaN|(\d+)[eE][-+]?\d+|\d+\.)$")
            .expect("valid")
    })
    .is_match(s)
}

fn kind_of(s: &str, try_dates: bool) -> Kind {
    let b = s.as_bytes();
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        Kind::Bool
    } else if is_int(b) {
        let digits = b.len() - usize::from(b[0] == b'-');
        if s.parse::<i64>().is_ok() {
            Kind::Int
        } else if digits <= 38 {
            Kind::Wide
        } else {
            Kind::Text
        }
    } else if is_float(s) {
        Kind::Float
    } else if try_dates {
        if parse_date(s).is_some() {
            Kind::Date
        } else if let Some((_, zoned)) = parse_datetime(s) {
            if zoned { Kind::Zoned } else { Kind::Naive }
        } else {
            Kind::Text
        }
    } else {
        Kind::Text
    }
}

fn merge(a: Option<Kind>, b: Kind) -> Kind {
    use Kind::*;
    match (a, b) {
        (None, k) => k,
        (Some(a), b) if a == b => a,
        (Some(Int | Float), Int | Float) => Float,
        (Some(Int | Wide), Int | Wide) => Wide,
        (Some(Wide | Float), Wide | Float) => Float,
        _ => Text,
    }
}

fn data_type(k: Option<Kind>) -> DataType {
    match k {
        Some(Kind::Bool) => DataType::Boolean,
        Some(Kind::Int) => DataType::Int64,
        Some(Kind::Wide) => DataType::Decimal128(38, 0),
        Some(Kind::Float) => DataType::Float64,
        Some(Kind::Date) => DataType::Date32,
        Some(Kind::Naive) => DataType::Timestamp(TimeUnit::Microsecond, None),
        Some(Kind::Zoned) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Some(Kind::Text) | None => DataType::Utf8,
    }
}

/// The Arrow type hygge reads for a Polars type name in `schema_overrides`.
pub fn polars_type(name: &str) -> Result<DataType, String> {
    Ok(match name {
        "String" | "Utf8" | "str" => DataType::Utf8,
        "Int64" | "int" => DataType::Int64,
        "Int128" => DataType::Decimal128(38, 0),
        "Float64" | "float" => DataType::Float64,
        "Boolean" | "bool" => DataType::Boolean,
        "Date" => DataType::Date32,
        "Datetime" => DataType::Timestamp(TimeUnit::Microsecond, None),
        other => {
            return Err(format!(
                "`schema_overrides`: {other:?} is not a type hygge reads CSV columns as; use \
                 String, Int64, Int128, Float64, Boolean, Date or Datetime"
            ));
        }
    })
}

/// A date as Polars' `try_parse_dates` reads one (`2024-01-02`, `2024/01/02`,
/// `2024.01.02`, and day first: `02-01-2024`, `02/01/2024`, `02.01.2024`) as days since
/// 1970-01-01.
fn parse_date(s: &str) -> Option<i32> {
    if s.len() != 10 {
        return None;
    }
    let b = s.as_bytes();
    let format = match ((b[4], b[7]), (b[2], b[5])) {
        ((b'-', b'-'), _) => "%Y-%m-%d",
        ((b'/', b'/'), _) => "%Y/%m/%d",
        ((b'.', b'.'), _) => "%Y.%m.%d",
        (_, (b'-', b'-')) => "%d-%m-%Y",
        (_, (b'/', b'/')) => "%d/%m/%Y",
        (_, (b'.', b'.')) => "%d.%m.%Y",
        _ => return None,
    };
    let d = chrono::NaiveDate::parse_from_str(s, format).ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// An ISO date-time (`T` or space; seconds and fraction optional; `Z` or `±hh:mm` makes it
/// zoned) as microseconds since the epoch (in UTC when zoned), and whether it was zoned.
fn parse_datetime(s: &str) -> Option<(i64, bool)> {
    if s.len() < 16 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, f) {
            return Some((t.timestamp_micros(), true));
        }
    }
    if let Some(rest) = s.strip_suffix('Z') {
        return parse_naive(rest).map(|t| (t, true));
    }
    parse_naive(s).map(|t| (t, false))
}

fn parse_naive(s: &str) -> Option<i64> {
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Reading options, resolved.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// How records are split.
    pub dialect: Dialect,
    /// Whether the first record names the columns.
    pub has_header: bool,
    /// Texts read as NULL besides the unquoted empty field.
    pub null_values: Vec<String>,
    /// A text read as NULL in one column.
    pub column_nulls: std::collections::BTreeMap<String, String>,
    /// Records skipped before the header.
    pub skip_rows: usize,
    /// Lines skipped (by line breaks only) before anything else.
    pub skip_lines: usize,
    /// Column types given instead of inferred.
    pub overrides: std::collections::BTreeMap<String, DataType>,
    /// Rows used for inference (None: all; Some(0): every column is text).
    pub infer_rows: Option<usize>,
    /// Infer dates and date-times.
    pub try_parse_dates: bool,
    /// More fields than columns: drop the rest instead of failing (fewer are always NULL).
    pub truncate_ragged_lines: bool,
}

impl ReadSpec {
    /// Whether a field of the column `column` is NULL.
    fn is_null(&self, s: &[u8], quoted: bool, column: &str) -> bool {
        (s.is_empty() && !quoted)
            || self.null_values.iter().any(|n| n.as_bytes() == s)
            || self
                .column_nulls
                .get(column)
                .is_some_and(|n| n.as_bytes() == s)
    }

    fn records(&self, mut input: InputRead) -> Result<Records<InputRead>, ArrowError> {
        let mut skipped = Vec::new();
        let mut lines = 0;
        for _ in 0..self.skip_lines {
            skipped.clear();
            if input
                .read_until(b'\n', &mut skipped)
                .map_err(|e| ArrowError::IoError(e.to_string(), e))?
                == 0
            {
                break;
            }
            lines += 1;
        }
        let mut records = Records::new(input, self.dialect.clone());
        records.next_line += lines;
        let mut rec = Record::default();
        for _ in 0..self.skip_rows {
            if !records
                .read(&mut rec)
                .map_err(|e| ArrowError::IoError(e.to_string(), e))?
            {
                break;
            }
        }
        Ok(records)
    }

    /// Infers the schema of a file read from its start.
    pub fn infer_schema(&self, input: InputRead) -> Result<SchemaRef, ArrowError> {
        let mut records = self.records(input)?;
        let mut rec = Record::default();
        let io = |e: std::io::Error| ArrowError::IoError(e.to_string(), e);
        let mut names = Vec::new();
        let mut kinds: Vec<Option<Kind>> = Vec::new();
        if self.has_header && records.read(&mut rec).map_err(io)? {
            names = header_names(&rec);
            kinds = vec![None; names.len()];
        }
        let limit = self.infer_rows.unwrap_or(usize::MAX);
        let mut rows = 0;
        while rows < limit && records.read(&mut rec).map_err(io)? {
            rows += 1;
            while kinds.len() < rec.len() && !self.has_header {
                kinds.push(None);
                names.push(format!("column_{}", kinds.len() - 1));
            }
            for (i, kind) in kinds.iter_mut().enumerate().take(rec.len()) {
                let (v, quoted) = rec.get(i);
                if self.is_null(v, quoted, &names[i]) || *kind == Some(Kind::Text) {
                    continue;
                }
                let k = match std::str::from_utf8(v) {
                    Ok(s) => kind_of(s, self.try_parse_dates),
                    Err(_) => Kind::Text,
                };
                *kind = Some(merge(*kind, k));
            }
        }
        let fields: Vec<Field> = names
            .into_iter()
            .zip(kinds)
            .map(|(n, k)| {
                let t = if let Some(t) = self.overrides.get(&n) {
                    t.clone()
                } else if self.infer_rows == Some(0) {
                    DataType::Utf8
                } else {
                    data_type(k)
                };
                Field::new(n, t, true)
            })
            .collect();
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Decodes a file read from its start with `schema`, `batch_size` rows at a time.
    pub fn open(
        &self,
        input: InputRead,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<Decoder, ArrowError> {
        let mut records = self.records(input)?;
        let mut rec = Record::default();
        if self.has_header {
            records
                .read(&mut rec)
                .map_err(|e| ArrowError::IoError(e.to_string(), e))?;
        }
        Ok(Decoder {
            spec: self.clone(),
            records,
            rec,
            schema,
            batch_size: batch_size.max(1),
            done: false,
        })
    }
}

/// Decodes a CSV file into batches.
pub struct Decoder {
    spec: ReadSpec,
    records: Records<InputRead>,
    rec: Record,
    schema: SchemaRef,
    batch_size: usize,
    done: bool,
}

enum Col {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Wide(Decimal128Builder),
    Float(Float64Builder),
    Date(Date32Builder),
    Time(TimestampMicrosecondBuilder, bool),
    Text(StringBuilder),
}

impl Col {
    fn new(t: &DataType, cap: usize) -> Result<Col, ArrowError> {
        Ok(match t {
            DataType::Boolean => Col::Bool(BooleanBuilder::with_capacity(cap)),
            DataType::Int64 => Col::Int(Int64Builder::with_capacity(cap)),
            DataType::Decimal128(38, 0) => {
                Col::Wide(Decimal128Builder::with_capacity(cap).with_precision_and_scale(38, 0)?)
            }
            DataType::Float64 => Col::Float(Float64Builder::with_capacity(cap)),
            DataType::Date32 => Col::Date(Date32Builder::with_capacity(cap)),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => Col::Time(
                TimestampMicrosecondBuilder::with_capacity(cap).with_timezone_opt(tz.clone()),
                tz.is_some(),
            ),
            DataType::Utf8 => Col::Text(StringBuilder::with_capacity(cap, cap * 8)),
            other => {
                return Err(ArrowError::CsvError(format!(
                    "CSV columns cannot be read as {other}"
                )));
            }
        })
    }

    fn push_null(&mut self) {
        match self {
            Col::Bool(b) => b.append_null(),
            Col::Int(b) => b.append_null(),
            Col::Wide(b) => b.append_null(),
            Col::Float(b) => b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::Time(b, _) => b.append_null(),
            Col::Text(b) => b.append_null(),
        }
    }

    /// Appends `s`; false if it is not a value of this column's type.
    fn push(&mut self, s: &str) -> bool {
        match self {
            Col::Bool(b) => {
                if s.eq_ignore_ascii_case("true") {
                    b.append_value(true)
                } else if s.eq_ignore_ascii_case("false") {
                    b.append_value(false)
                } else {
                    return false;
                }
            }
            Col::Int(b) => match is_int(s.as_bytes())
                .then(|| s.parse::<i64>().ok())
                .flatten()
            {
                Some(v) => b.append_value(v),
                None => return false,
            },
            Col::Wide(b) => {
                let digits = s.len() - usize::from(s.starts_with('-'));
                match (is_int(s.as_bytes()) && digits <= 38)
                    .then(|| s.parse::<i128>().ok())
                    .flatten()
                {
                    Some(v) => b.append_value(v),
                    None => return false,
                }
            }
            Col::Float(b) => match (is_float(s) || is_int(s.as_bytes()))
                .then(|| s.parse::<f64>().ok())
                .flatten()
            {
                Some(v) => b.append_value(v),
                None => return false,
            },
            Col::Date(b) => match parse_date(s) {
                Some(v) => b.append_value(v),
                None => return false,
            },
            Col::Time(b, zoned) => match parse_datetime(s) {
                Some((v, z)) if z == *zoned => b.append_value(v),
                _ => return false,
            },
            Col::Text(b) => b.append_value(s),
        }
        true
    }

    fn finish(self) -> ArrayRef {
        match self {
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Int(mut b) => Arc::new(b.finish()),
            Col::Wide(mut b) => Arc::new(b.finish()),
            Col::Float(mut b) => Arc::new(b.finish()),
            Col::Date(mut b) => Arc::new(b.finish()),
            Col::Time(mut b, _) => Arc::new(b.finish()),
            Col::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

impl Decoder {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.done {
            return Ok(None);
        }
        let fields = self.schema.fields().clone();
        let mut cols = fields
            .iter()
            .map(|f| Col::new(f.data_type(), self.batch_size))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows = 0;
        while rows < self.batch_size {
            let more = self
                .records
                .read(&mut self.rec)
                .map_err(|e| ArrowError::IoError(e.to_string(), e))?;
            if !more {
                self.done = true;
                break;
            }
            let line = self.records.line;
            let n = self.rec.len();
            // Fewer fields: the missing ones are NULL, as in Polars. More: an error, unless
            // `truncate_ragged_lines` drops them.
            if n > cols.len() && !self.spec.truncate_ragged_lines {
                return Err(ArrowError::CsvError(format!(
                    "line {line} has {n} fields where the header has {}; set \
                     `truncate_ragged_lines: true` to drop the extra ones",
                    cols.len()
                )));
            }
            for (i, col) in cols.iter_mut().enumerate() {
                if i >= n {
                    col.push_null();
                    continue;
                }
                let (v, quoted) = self.rec.get(i);
                if self.spec.is_null(v, quoted, fields[i].name()) {
                    col.push_null();
                    continue;
                }
                let s = std::str::from_utf8(v).map_err(|_| {
                    ArrowError::CsvError(format!(
                        "line {line}, column `{}`: the value is not valid UTF-8",
                        fields[i].name()
                    ))
                })?;
                if !col.push(s) {
                    return Err(ArrowError::CsvError(format!(
                        "line {line}, column `{}`: {s:?} is not a {} (the type inferred from \
                         the first rows); raise `infer_schema_length` (0 reads every column \
                         as text)",
                        fields[i].name(),
                        fields[i].data_type()
                    )));
                }
            }
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let columns: Vec<ArrayRef> = cols.into_iter().map(Col::finish).collect();
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map(Some)
    }
}

impl Iterator for Decoder {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn records(text: &str, cap: usize) -> Vec<Vec<(String, bool)>> {
        let d = Dialect {
            separator: b',',
            quote: Some(b'"'),
            escape: None,
            comment: None,
        };
        let mut r = Records::new(BufReader::with_capacity(cap, text.as_bytes()), d);
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read(&mut rec).unwrap() {
            out.push(
                (0..rec.len())
                    .map(|i| {
                        let (v, q) = rec.get(i);
                        (String::from_utf8(v.to_vec()).unwrap(), q)
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn records_split_as_polars_splits_them_whatever_the_buffer_size() {
        let text = "\u{feff}a,b\r\n\"x,\"\"y\"\"\nz\",\"\"\r\n\n,q\n\"end\"";
        let want = vec![
            vec![("a".into(), false), ("b".into(), false)],
            vec![("x,\"y\"\nz".into(), true), ("".into(), true)],
            vec![("".into(), false), ("q".into(), false)],
            vec![("end".into(), true)],
        ];
        for cap in [1, 2, 3, 5, 8, 64] {
            // The byte-order mark is looked for in the first buffer (1 MiB in use).
            let text = if cap < 3 { &text[3..] } else { text };
            assert_eq!(records(text, cap), want, "buffer of {cap}");
        }
    }

    #[test]
    fn schema_overrides_take_polars_type_names() {
        assert_eq!(polars_type("Utf8"), Ok(DataType::Utf8));
        assert_eq!(polars_type("Int128"), Ok(DataType::Decimal128(38, 0)));
        let e = polars_type("Int8").unwrap_err();
        assert!(e.contains("\"Int8\" is not a type"), "{e}");
    }

    #[test]
    fn duplicate_headers_are_named_as_polars_names_them() {
        let mut rec = Record::default();
        for (i, n) in ["a", "a", "b", "a", "a_duplicated_1"].iter().enumerate() {
            rec.buf.extend_from_slice(n.as_bytes());
            rec.ends.push(rec.buf.len());
            rec.quoted.push(i == 0);
        }
        assert_eq!(
            header_names(&rec),
            [
                "a",
                "a_duplicated_0",
                "b",
                "a_duplicated_2",
                "a_duplicated_1"
            ]
        );
    }

    #[test]
    fn kinds_follow_polars() {
        let k = |s: &str| kind_of(s, false);
        assert_eq!(k("TRUE"), Kind::Bool);
        assert_eq!(k("-0"), Kind::Int);
        assert_eq!(k("+1"), Kind::Text);
        assert_eq!(k(" 1"), Kind::Text);
        assert_eq!(k("99999999999999999999"), Kind::Wide);
        assert_eq!(k(&"9".repeat(39)), Kind::Text);
        for f in ["1.", ".5", "1e5", "inf", "NaN", "-1.5E-3"] {
            assert_eq!(k(f), Kind::Float, "{f}");
        }
        assert_eq!(k("2024-01-02"), Kind::Text);
        assert_eq!(k("2024-01-02T03:04:05"), Kind::Text);
        let d = |s: &str| kind_of(s, true);
        assert_eq!(d("2024-01-02"), Kind::Date);
        assert_eq!(parse_date("2024/01/02"), parse_date("02-01-2024"));
        assert_eq!(parse_date("02.01.2024"), Some(19724));
        assert_eq!(d("20240102"), Kind::Int);
        assert_eq!(d("2024-01-02T03:04:05"), Kind::Naive);
        assert_eq!(d("2024-01-02 03:04:05.123456789"), Kind::Naive);
        assert_eq!(d("2024-01-02T03:04:05Z"), Kind::Zoned);
        assert_eq!(d("2024-01-02 03:04:05.123+02:00"), Kind::Zoned);
        assert_eq!(merge(Some(Kind::Int), Kind::Float), Kind::Float);
        assert_eq!(merge(Some(Kind::Int), Kind::Wide), Kind::Wide);
        assert_eq!(merge(Some(Kind::Date), Kind::Naive), Kind::Text);
        assert_eq!(merge(Some(Kind::Int), Kind::Bool), Kind::Text);
        assert_eq!(
            parse_datetime("2024-01-02 03:04:05.123+02:00"),
            Some((1_704_157_445_123_000, true))
        );
    }
}
