//! The PostgreSQL <-> Arrow type mapping and the binary COPY codecs, against the real server
//! (`hygge_testkit::pg`): every mapped type read from PostgreSQL, Arrow batches written and
//! read back unchanged, the documented widenings, errors, and chunking.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal128Builder,
    Decimal256Array, DictionaryArray, FixedSizeBinaryBuilder, FixedSizeListArray, Float16Array,
    Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, Int64Builder,
    IntervalDayTimeArray, IntervalMonthDayNanoArray, IntervalYearMonthArray, LargeListArray,
    LargeStringArray, ListArray, ListBuilder, StringArray, StringBuilder, StringViewArray,
    StructArray, Time32MillisecondArray, Time64MicrosecondArray, Time64NanosecondArray,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, TimestampMillisecondArray,
    TimestampNanosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::array::{Date64Array, DurationMicrosecondArray, DurationSecondArray};
use arrow::datatypes::{
    DataType, Field, Int16Type, Int32Type, IntervalDayTime, IntervalMonthDayNano, IntervalUnit,
    Schema, SchemaRef, TimeUnit, i256,
};
use arrow::record_batch::RecordBatch;
use bytes::{Bytes, BytesMut};
use chrono::NaiveDate;
use futures::{SinkExt, TryStreamExt};
use hygge_connectors::postgres::decode::{CopyDecoder, DecodeError};
use hygge_connectors::postgres::encode::CopyEncoder;
use hygge_connectors::postgres::types::{
    PgColumn, ReadTypeOptions, UnconstrainedNumeric, arrow_schema, pg_column_type,
};
use hygge_testkit::pg::TestDb;
use tokio_postgres::{Client, NoTls};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn connect(db: &TestDb) -> Client {
    let (client, conn) = tokio_postgres::connect(&db.conn_str(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

async fn columns(client: &Client, sql: &str) -> Vec<PgColumn> {
    let stmt = client.prepare(sql).await.expect(sql);
    stmt.columns()
        .iter()
        .map(|c| PgColumn {
            name: c.name().to_string(),
            ty: c.type_().clone(),
            typmod: c.type_modifier(),
        })
        .collect()
}

/// The raw CopyData chunks of `COPY (sql) TO STDOUT (FORMAT binary)`.
async fn copy_chunks(client: &Client, sql: &str) -> Vec<Bytes> {
    let stream = client
        .copy_out(&format!("COPY ({sql}) TO STDOUT (FORMAT binary)"))
        .await
        .expect("copy out");
    stream.try_collect().await.expect("copy out stream")
}

/// Decodes chunks with `batch_size`; every batch but the last must be full.
fn decode(
    schema: &SchemaRef,
    cols: &[PgColumn],
    chunks: impl IntoIterator<Item = impl AsRef<[u8]>>,
    batch_size: usize,
) -> Result<Vec<RecordBatch>, DecodeError> {
    let mut dec = CopyDecoder::new(schema.clone(), cols, batch_size)?;
    let mut out = vec![];
    for c in chunks {
        dec.push(c.as_ref())?;
        while let Some(b) = dec.take_full()? {
            assert_eq!(b.num_rows(), batch_size, "take_full returns full batches");
            out.push(b);
        }
    }
    if let Some(b) = dec.finish()? {
        assert!(b.num_rows() > 0 && b.num_rows() <= batch_size);
        out.push(b);
    }
    Ok(out)
}

/// Reads `sql` through the mapping and the decoder (batches of 3 rows), as one batch.
async fn copy_out(
    client: &Client,
    sql: &str,
    opts: ReadTypeOptions,
) -> Result<RecordBatch, String> {
    let cols = columns(client, sql).await;
    let schema: SchemaRef = Arc::new(arrow_schema(&cols, &opts).map_err(|e| e.to_string())?);
    let chunks = copy_chunks(client, sql).await;
    let batches = decode(&schema, &cols, chunks, 3).map_err(|e| e.to_string())?;
    Ok(arrow::compute::concat_batches(&schema, &batches).unwrap())
}

/// Creates `table` from the batches' schema and writes them with binary COPY.
async fn copy_in(
    client: &Client,
    table: &str,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<(), String> {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| Ok(format!("\"{}\" {}", f.name(), pg_column_type(f)?)))
        .collect::<Result<_, hygge_connectors::postgres::types::TypeError>>()
        .map_err(|e| e.to_string())?;
    client
        .batch_execute(&format!("CREATE TABLE {table} ({})", cols.join(", ")))
        .await
        .map_err(|e| e.to_string())?;
    let mut enc = CopyEncoder::new(schema).map_err(|e| e.to_string())?;
    let sink = client
        .copy_in::<_, Bytes>(&format!("COPY {table} FROM STDIN (FORMAT binary)"))
        .await
        .map_err(|e| e.to_string())?;
    futures::pin_mut!(sink);
    let mut buf = BytesMut::new();
    enc.header(&mut buf);
    for b in batches {
        enc.encode(b, &mut buf).map_err(|e| e.to_string())?;
        sink.send(buf.split().freeze())
            .await
            .map_err(|e| e.to_string())?;
    }
    enc.trailer(&mut buf);
    sink.send(buf.split().freeze())
        .await
        .map_err(|e| e.to_string())?;
    sink.finish().await.map_err(|e| format!("{e:?}"))?;
    Ok(())
}

fn ext(name: &str) -> HashMap<String, String> {
    HashMap::from([("ARROW:extension:name".to_string(), name.to_string())])
}

fn micros(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

fn days(y: i32, m: u32, d: u32) -> i32 {
    (NaiveDate::from_ymd_opt(y, m, d).unwrap() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32
}

fn uuid(s: &str) -> Vec<u8> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn uuids(values: &[Option<&str>]) -> ArrayRef {
    let mut b = FixedSizeBinaryBuilder::new(16);
    for v in values {
        match v {
            Some(s) => b.append_value(uuid(s)).unwrap(),
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

fn dec128(values: &[Option<i128>], p: u8, s: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

fn dec256(values: &[Option<&str>], p: u8, s: i8) -> ArrayRef {
    let v: Vec<Option<i256>> = values
        .iter()
        .map(|x| x.map(|x| i256::from_string(x).unwrap()))
        .collect();
    Arc::new(
        Decimal256Array::from(v)
            .with_precision_and_scale(p, s)
            .unwrap(),
    )
}

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn ts_utc(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values.to_vec()).with_timezone("UTC"))
}

fn mdn(values: &[Option<(i32, i32, i64)>]) -> ArrayRef {
    Arc::new(IntervalMonthDayNanoArray::from(
        values
            .iter()
            .map(|v| v.map(|(m, d, n)| IntervalMonthDayNano::new(m, d, n)))
            .collect::<Vec<_>>(),
    ))
}

fn assert_column(batch: &RecordBatch, name: &str, expected: ArrayRef) {
    let actual = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    assert_eq!(
        actual.data_type(),
        expected.data_type(),
        "type of column {name}"
    );
    assert_eq!(actual.as_ref(), expected.as_ref(), "column {name}");
}

// ---------------------------------------------------------------------------------------
// 1. PostgreSQL -> Arrow
// ---------------------------------------------------------------------------------------

const ALL_TYPES_DDL: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE t (
  id int, b boolean, i2 smallint, i4 integer, i8 bigint, o oid, f4 real, f8 double precision,
  n38 numeric(38,10), n50 numeric(50,5), n12 numeric(12,4), nu numeric,
  t text, vc varchar(10), bp char(5), nm name, ci citext, e mood, dom posint,
  by bytea, dt date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
  u uuid, j json, jb jsonb, ip inet, cd cidr, mac macaddr, mac8 macaddr8,
  ai int[], at text[], an numeric(10,2)[], ats timestamptz[], au uuid[]
);
INSERT INTO t VALUES
(1, true, -32768, 2147483647, -9223372036854775808, 4294967295, 1.5, -2.25,
 9999999999999999999999999999.9999999999, 12345678901234567890123456789012345678901234.56789,
 0, 123.4500,
 '😀 日本語 ü', 'abc', 'ab', 'pg_name', 'MiXeD', 'happy', 42,
 '\x000102ff00', '2024-02-29', '13:45:00.123456', '13:45:00.123456+02',
 '2024-02-29 13:45:00.123456', '2024-02-29 13:45:00.123456+02',
 '1 year 2 months 3 days 04:05:06.789012',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2, {"c": null}], "a": 1}',
 '{"b": 1, "a": "x"}', '192.168.1.5', '10.0.0.0/8', '08:00:2b:01:02:03',
 '08:00:2b:01:02:03:04:05',
 '{1,NULL,3}', '{"a",NULL,"","😀"}', '{1.50,NULL,-2}',
 '{"2000-01-01 00:00:00+00","infinity",NULL}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'),
(2, false, 32767, -2147483648, 9223372036854775807, 0, 'NaN', 'Infinity',
 -9999999999999999999999999999.9999999999, -999999999999999999999999999999999999999999999.99999,
 12.3400, -0.0000000001,
 '', '', '', '', '', 'sad', 1,
 '', 'infinity', '00:00:00', '00:00:00-05:30',
 'infinity', '-infinity',
 '-1 months -2 days -00:00:00.000001',
 '00000000-0000-0000-0000-000000000000', '[]', 'null', '2001:db8::1', '2001:db8::/32',
 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff',
 '{}', '{}', '{}', '{}', '{}'),
(3, NULL, NULL, NULL, NULL, NULL, '-Infinity', 'NaN',
 0.0000000001, 0.00001, -0.0001, 0,
 'tab	and ''quote''', NULL, 'abcde', NULL, NULL, NULL, NULL,
 '\x00', '-infinity', '24:00:00', '23:59:59.999999-14',
 '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999+00',
 '0 seconds',
 NULL, NULL, NULL, '::ffff:1.2.3.4', '192.168.0.0/16', NULL, NULL,
 '{NULL}', NULL, NULL, NULL, NULL),
(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, '10.1.2.3/24', '::/0', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"#;

#[tokio::test]
async fn every_postgres_type_reads_as_documented() {
    let db = TestDb::create("pgtypes_read");
    let client = connect(&db).await;
    // citext ships with PostgreSQL's contrib package, which the test server has.
    client.batch_execute(ALL_TYPES_DDL).await.expect("setup");
    let batch = copy_out(
        &client,
        "SELECT * FROM t ORDER BY id",
        ReadTypeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(batch.num_rows(), 5);
    for f in batch.schema().fields() {
        assert!(f.is_nullable(), "{} is nullable", f.name());
    }

    assert_column(
        &batch,
        "id",
        Arc::new(Int32Array::from(vec![1, 2, 3, 4, 5])),
    );
    assert_column(
        &batch,
        "b",
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "i2",
        Arc::new(Int16Array::from(vec![
            Some(-32768),
            Some(32767),
            None,
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "i4",
        Arc::new(Int32Array::from(vec![
            Some(i32::MAX),
            Some(i32::MIN),
            None,
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "i8",
        Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(i64::MAX),
            None,
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "o",
        Arc::new(UInt32Array::from(vec![
            Some(u32::MAX),
            Some(0),
            None,
            None,
            None,
        ])),
    );
    // Floats: NaN is compared by bits (arrays compare their buffers).
    let f4 = batch
        .column_by_name("f4")
        .unwrap()
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap();
    assert_eq!(f4.value(0), 1.5);
    assert!(f4.value(1).is_nan());
    assert_eq!(f4.value(2), f32::NEG_INFINITY);
    assert_eq!(f4.null_count(), 2);
    let f8 = batch
        .column_by_name("f8")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    assert_eq!(f8.value(0), -2.25);
    assert_eq!(f8.value(1), f64::INFINITY);
    assert!(f8.value(2).is_nan());
    assert!(f8.is_null(3) && f8.is_null(4));

    let max38 = 10i128.pow(38) - 1;
    assert_column(
        &batch,
        "n38",
        dec128(&[Some(max38), Some(-max38), Some(1), None, None], 38, 10),
    );
    assert_column(
        &batch,
        "n50",
        dec256(
            &[
                Some("1234567890123456789012345678901234567890123456789"),
                Some(&format!("-{}", "9".repeat(50))),
                Some("1"),
                None,
                None,
            ],
            50,
            5,
        ),
    );
    assert_column(
        &batch,
        "n12",
        dec128(&[Some(0), Some(123_400), Some(-1), None, None], 12, 4),
    );
    assert_column(
        &batch,
        "nu",
        dec128(
            &[Some(1_234_500_000_000), Some(-1), Some(0), None, None],
            38,
            10,
        ),
    );

    assert_column(
        &batch,
        "t",
        strings(&[
            Some("😀 日本語 ü"),
            Some(""),
            Some("tab\tand 'quote'"),
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "vc",
        strings(&[Some("abc"), Some(""), None, None, None]),
    );
    assert_column(
        &batch,
        "bp",
        strings(&[Some("ab   "), Some("     "), Some("abcde"), None, None]),
    );
    assert_column(
        &batch,
        "nm",
        strings(&[Some("pg_name"), Some(""), None, None, None]),
    );
    assert_column(
        &batch,
        "ci",
        strings(&[Some("MiXeD"), Some(""), None, None, None]),
    );
    assert_column(
        &batch,
        "e",
        strings(&[Some("happy"), Some("sad"), None, None, None]),
    );
    assert_column(
        &batch,
        "dom",
        Arc::new(Int32Array::from(vec![Some(42), Some(1), None, None, None])),
    );
    assert_column(
        &batch,
        "by",
        Arc::new(BinaryArray::from(vec![
            Some(&[0u8, 1, 2, 0xff, 0][..]),
            Some(&[][..]),
            Some(&[0u8][..]),
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "dt",
        Arc::new(Date32Array::from(vec![
            Some(days(2024, 2, 29)),
            Some(i32::MAX),
            Some(i32::MIN),
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "tm",
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(49_500_123_456),
            Some(0),
            Some(86_400_000_000),
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "ttz",
        strings(&[
            Some("13:45:00.123456+02:00"),
            Some("00:00:00-05:30"),
            Some("23:59:59.999999-14:00"),
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "ts",
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(micros(2024, 2, 29, 13, 45, 0, 123_456)),
            Some(i64::MAX),
            Some(micros(1, 1, 1, 0, 0, 0, 0)),
            None,
            None,
        ])),
    );
    assert_column(
        &batch,
        "tstz",
        ts_utc(&[
            Some(micros(2024, 2, 29, 11, 45, 0, 123_456)),
            Some(i64::MIN),
            Some(micros(9999, 12, 31, 23, 59, 59, 999_999)),
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "iv",
        mdn(&[
            Some((14, 3, 14_706_789_012_000)),
            Some((-1, -2, -1000)),
            Some((0, 0, 0)),
            None,
            None,
        ]),
    );
    let u = batch.column_by_name("u").unwrap();
    assert_eq!(
        u.as_ref(),
        uuids(&[
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some("00000000-0000-0000-0000-000000000000"),
            None,
            None,
            None
        ])
        .as_ref()
    );
    let schema = batch.schema();
    assert_eq!(
        schema.field_with_name("u").unwrap().metadata(),
        &ext("arrow.uuid")
    );
    assert_eq!(
        schema.field_with_name("j").unwrap().metadata(),
        &ext("arrow.json")
    );
    assert_eq!(
        schema.field_with_name("jb").unwrap().metadata(),
        &ext("arrow.json")
    );
    assert_column(
        &batch,
        "j",
        strings(&[
            Some(r#"{"b": [1, 2, {"c": null}], "a": 1}"#),
            Some("[]"),
            None,
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "jb",
        strings(&[
            Some(r#"{"a": "x", "b": 1}"#),
            Some("null"),
            None,
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "ip",
        strings(&[
            Some("192.168.1.5"),
            Some("2001:db8::1"),
            Some("::ffff:1.2.3.4"),
            Some("10.1.2.3/24"),
            None,
        ]),
    );
    assert_column(
        &batch,
        "cd",
        strings(&[
            Some("10.0.0.0/8"),
            Some("2001:db8::/32"),
            Some("192.168.0.0/16"),
            Some("::/0"),
            None,
        ]),
    );
    assert_column(
        &batch,
        "mac",
        strings(&[
            Some("08:00:2b:01:02:03"),
            Some("ff:ff:ff:ff:ff:ff"),
            None,
            None,
            None,
        ]),
    );
    assert_column(
        &batch,
        "mac8",
        strings(&[
            Some("08:00:2b:01:02:03:04:05"),
            Some("ff:ff:ff:ff:ff:ff:ff:ff"),
            None,
            None,
            None,
        ]),
    );

    // Arrays: NULL elements kept, empty arrays are empty lists, NULL arrays are NULL lists.
    let ai = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), None, Some(3)]),
        Some(vec![]),
        Some(vec![None]),
        None,
        None,
    ]);
    assert_column(&batch, "ai", Arc::new(ai));
    let mut at = ListBuilder::new(StringBuilder::new());
    at.append_value([Some("a"), None, Some(""), Some("😀")]);
    at.append_value(Vec::<Option<&str>>::new());
    at.append_null();
    at.append_null();
    at.append_null();
    assert_column(&batch, "at", Arc::new(at.finish()));
    let mut an = ListBuilder::new(
        Decimal128Builder::new()
            .with_precision_and_scale(10, 2)
            .unwrap(),
    );
    an.append_value([Some(150), None, Some(-200)]);
    an.append_value([]);
    an.append_null();
    an.append_null();
    an.append_null();
    assert_column(&batch, "an", Arc::new(an.finish()));
    let mut ats = ListBuilder::new(TimestampMicrosecondBuilder::new().with_timezone("UTC"));
    ats.append_value([Some(micros(2000, 1, 1, 0, 0, 0, 0)), Some(i64::MAX), None]);
    ats.append_value([]);
    ats.append_null();
    ats.append_null();
    ats.append_null();
    assert_column(&batch, "ats", Arc::new(ats.finish()));
    let au = batch.column_by_name("au").unwrap();
    let DataType::List(item) = au.data_type() else {
        panic!("au is a list")
    };
    assert_eq!(item.data_type(), &DataType::FixedSizeBinary(16));
    assert_eq!(item.metadata(), &ext("arrow.uuid"));
    let au = au.as_any().downcast_ref::<ListArray>().unwrap();
    assert_eq!(
        au.value(0).as_ref(),
        uuids(&[Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]).as_ref()
    );
    assert_eq!(au.value(1).len(), 0);
    assert_eq!(au.null_count(), 3);
}

#[tokio::test]
async fn domains_and_arrays_of_enums_and_domains() {
    let db = TestDb::create("pgtypes_domains");
    let client = connect(&db).await;
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
             CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
             CREATE DOMAIN price AS numeric(10,2);
             CREATE DOMAIN label AS text;
             CREATE TABLE d (p price, l label, ae mood[], adom posint[], pa price[], j json[]);
             INSERT INTO d VALUES
               (12.5, 'x', '{sad,NULL,happy}', '{1,NULL}', '{1.25,NULL}', ARRAY['{\"a\": 1}'::json]),
               (NULL, NULL, NULL, NULL, NULL, NULL);",
        )
        .await
        .unwrap();
    let b = copy_out(&client, "SELECT * FROM d", ReadTypeOptions::default())
        .await
        .unwrap();
    // The server describes a domain column by its base type and typmod.
    assert_column(&b, "p", dec128(&[Some(1250), None], 10, 2));
    assert_column(&b, "l", strings(&[Some("x"), None]));
    let mut ae = ListBuilder::new(StringBuilder::new());
    ae.append_value([Some("sad"), None, Some("happy")]);
    ae.append_null();
    assert_column(&b, "ae", Arc::new(ae.finish()));
    assert_column(
        &b,
        "adom",
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
        ])),
    );
    let pa = b.column_by_name("pa").unwrap();
    let DataType::List(item) = pa.data_type() else {
        panic!("pa is a list")
    };
    let scale = match item.data_type() {
        DataType::Decimal128(_, s) => *s,
        other => panic!("pa items are {other}"),
    };
    let pa = pa.as_any().downcast_ref::<ListArray>().unwrap();
    let first = pa.value(0);
    let first = first.as_any().downcast_ref::<Decimal128Array>().unwrap();
    assert_eq!(first.value(0), 125 * 10i128.pow(scale as u32) / 100);
    assert!(first.is_null(1));
    let j = b.column_by_name("j").unwrap();
    let DataType::List(item) = j.data_type() else {
        panic!("j is a list")
    };
    assert_eq!(item.metadata(), &ext("arrow.json"));
}

#[tokio::test]
async fn text_forms_match_what_postgres_prints() {
    // inet/cidr/macaddr/numeric (text policy): the decoder's text equals PostgreSQL's output
    // function for many values.
    let db = TestDb::create("pgtypes_text");
    let client = connect(&db).await;
    let sql = r#"SELECT ip, ip::cidr AS cd, n, m FROM (VALUES
        ('1.2.3.4'::inet, '0'::numeric, '08:00:2b:01:02:03'::macaddr),
        ('1.2.3.4/0', '-0.000', '00:00:00:00:00:00'),
        ('255.255.255.255/31', '1e-20', 'ab:cd:ef:01:23:45'),
        ('::', '1e20', NULL),
        ('::1', 'NaN', NULL),
        ('::1.2.3.4', 'Infinity', NULL),
        ('::ffff:0:0', '-Infinity', NULL),
        ('1::', '123456789.000100', NULL),
        ('1:0:0:2:0:0:0:3', '-0.5', NULL),
        ('fe80::1:2:3:4/64', '10000.0001', NULL),
        ('2001:db8:0:1:1:1:1:1', '99999999999999999999999999999999999999999999.1234567890123', NULL),
        ('1:2:3:4:5:6:7:8/128', '0.1000', NULL),
        ('0:0:1::/48', '1.0', NULL),
        ('::ffff:1.2.3.0/120', '100', NULL)
    ) v(ip, n, m)"#;
    let opts = ReadTypeOptions {
        unconstrained_numeric: UnconstrainedNumeric::Text,
    };
    let batch = copy_out(&client, sql, opts).await.unwrap();
    assert_eq!(batch.schema().field(2).data_type(), &DataType::Utf8);
    let expected = db.query(sql);
    assert_eq!(expected.len(), batch.num_rows());
    for (c, name) in ["ip", "cd", "n", "m"].iter().enumerate() {
        let col = batch
            .column(c)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for (r, row) in expected.iter().enumerate() {
            let got = col.is_valid(r).then(|| col.value(r).to_string());
            assert_eq!(got, row[c], "column {name}, row {r}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. Arrow -> PostgreSQL -> Arrow
// ---------------------------------------------------------------------------------------

fn identity_schema() -> SchemaRef {
    let item = |dt| Arc::new(Field::new("item", dt, true));
    Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("d18", DataType::Decimal128(18, 4), true),
        Field::new("d38", DataType::Decimal128(38, 10), true),
        Field::new("d50", DataType::Decimal256(50, 5), true),
        Field::new("s", DataType::Utf8, true),
        Field::new("j", DataType::Utf8, true).with_metadata(ext("arrow.json")),
        Field::new("bin", DataType::Binary, true),
        Field::new("u", DataType::FixedSizeBinary(16), true).with_metadata(ext("arrow.uuid")),
        Field::new("d32", DataType::Date32, true),
        Field::new("t64", DataType::Time64(TimeUnit::Microsecond), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "tstz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("iv", DataType::Interval(IntervalUnit::MonthDayNano), true),
        Field::new("li", DataType::List(item(DataType::Int64)), true),
        Field::new("ls", DataType::List(item(DataType::Utf8)), true),
    ]))
}

fn identity_batch(schema: &SchemaRef, first: bool) -> RecordBatch {
    let max38 = 10i128.pow(38) - 1;
    let big = "9".repeat(50);
    let neg_big = format!("-{big}");
    let mut li = ListBuilder::new(Int64Builder::new());
    let mut ls = ListBuilder::new(StringBuilder::new());
    let columns: Vec<ArrayRef> = if first {
        li.append_value([Some(1), None, Some(3)]);
        li.append_value([]);
        li.append_null();
        li.append_value([Some(i64::MAX), Some(i64::MIN)]);
        ls.append_value([Some("a"), None, Some(""), Some("😀 日本")]);
        ls.append_null();
        ls.append_value(Vec::<Option<&str>>::new());
        ls.append_value([Some("x")]);
        vec![
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(i16::MAX),
                None,
                Some(0),
            ])),
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(i32::MAX),
                None,
                Some(-1),
            ])),
            Arc::new(Int64Array::from(vec![
                Some(i64::MIN),
                Some(i64::MAX),
                None,
                Some(7),
            ])),
            Arc::new(Float32Array::from(vec![
                Some(f32::NAN),
                Some(f32::INFINITY),
                None,
                Some(f32::NEG_INFINITY),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(f64::NEG_INFINITY),
                Some(f64::NAN),
                None,
                Some(0.1),
            ])),
            dec128(
                &[Some(999_999_999_999_999_999), Some(-1), None, Some(0)],
                18,
                4,
            ),
            dec128(&[Some(max38), Some(-max38), None, Some(1)], 38, 10),
            dec256(&[Some(&big), Some(&neg_big), None, Some("-1")], 50, 5),
            strings(&[Some("😀 日本語 ü"), Some(""), None, Some("tab\t\"q\"\\n")]),
            strings(&[
                Some(r#"{"a": 1, "b": [true, null]}"#),
                Some("[]"),
                None,
                Some("\"x\""),
            ]),
            Arc::new(BinaryArray::from(vec![
                Some(&[0u8, 1, 0xff][..]),
                Some(&[][..]),
                None,
                Some(&[0u8][..]),
            ])),
            uuids(&[
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                Some("00000000-0000-0000-0000-000000000000"),
                None,
                Some("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            ]),
            Arc::new(Date32Array::from(vec![
                Some(i32::MAX),
                Some(i32::MIN),
                None,
                Some(-719_162),
            ])),
            Arc::new(Time64MicrosecondArray::from(vec![
                Some(0),
                Some(86_400_000_000),
                None,
                Some(49_500_123_456),
            ])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(i64::MAX),
                Some(i64::MIN),
                None,
                Some(micros(1, 1, 1, 0, 0, 0, 0)),
            ])),
            ts_utc(&[
                Some(micros(9999, 12, 31, 23, 59, 59, 999_999)),
                Some(i64::MIN),
                None,
                Some(i64::MAX),
            ]),
            mdn(&[
                Some((14, 3, 14_706_789_012_000)),
                Some((-1, -2, -1000)),
                None,
                Some((0, 0, 0)),
            ]),
            Arc::new(li.finish()),
            Arc::new(ls.finish()),
        ]
    } else {
        li.append_value([None]);
        li.append_null();
        ls.append_value([None::<&str>]);
        ls.append_null();
        vec![
            Arc::new(BooleanArray::from(vec![None, Some(false)])),
            Arc::new(Int16Array::from(vec![None, Some(5)])),
            Arc::new(Int32Array::from(vec![None, Some(5)])),
            Arc::new(Int64Array::from(vec![None, Some(5)])),
            Arc::new(Float32Array::from(vec![None, Some(-0.5)])),
            Arc::new(Float64Array::from(vec![None, Some(1e300)])),
            dec128(&[None, Some(1)], 18, 4),
            dec128(&[None, Some(-10_000_000_000)], 38, 10),
            dec256(&[None, Some("100000")], 50, 5),
            strings(&[None, Some("b")]),
            strings(&[None, Some("null")]),
            Arc::new(BinaryArray::from(vec![None, Some(&b"bytes"[..])])),
            uuids(&[None, Some("01234567-89ab-cdef-0123-456789abcdef")]),
            Arc::new(Date32Array::from(vec![None, Some(days(2024, 2, 29))])),
            Arc::new(Time64MicrosecondArray::from(vec![None, Some(1)])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                None,
                Some(micros(2024, 2, 29, 1, 2, 3, 4)),
            ])),
            ts_utc(&[None, Some(micros(1969, 12, 31, 23, 59, 59, 999_999))]),
            mdn(&[None, Some((0, 0, 1_000))]),
            Arc::new(li.finish()),
            Arc::new(ls.finish()),
        ]
    };
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

#[tokio::test]
async fn arrow_batches_round_trip_unchanged() {
    let db = TestDb::create("pgtypes_identity");
    let client = connect(&db).await;
    let schema = identity_schema();
    let batches = vec![
        identity_batch(&schema, true),
        identity_batch(&schema, false),
    ];
    copy_in(&client, "rt", &schema, &batches).await.unwrap();
    assert_eq!(db.count("rt"), 6);
    // The DDL the mapping chose.
    let types = db.query(
        "SELECT string_agg(format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'rt'::regclass AND attnum > 0",
    );
    assert_eq!(
        types[0][0].as_deref().unwrap(),
        "boolean, smallint, integer, bigint, real, double precision, numeric(18,4), numeric(38,10), numeric(50,5), text, jsonb, bytea, uuid, date, time without time zone, timestamp without time zone, timestamp with time zone, interval, bigint[], text[]"
    );
    let back = copy_out(&client, "SELECT * FROM rt", ReadTypeOptions::default())
        .await
        .unwrap();
    assert_eq!(back.schema(), schema, "schema");
    let expected = arrow::compute::concat_batches(&schema, &batches).unwrap();
    for (i, f) in schema.fields().iter().enumerate() {
        assert_eq!(
            back.column(i).as_ref(),
            expected.column(i).as_ref(),
            "column {}",
            f.name()
        );
    }
    assert_eq!(back, expected);
}

#[tokio::test]
async fn wider_arrow_types_come_back_as_their_postgres_mapping() {
    let db = TestDb::create("pgtypes_widen");
    let client = connect(&db).await;
    let item = |dt| Arc::new(Field::new("item", dt, true));
    let paris = Some("Europe/Paris".into());
    let schema = Arc::new(Schema::new(vec![
        Field::new("i8", DataType::Int8, true),
        Field::new("u8", DataType::UInt8, true),
        Field::new("u16", DataType::UInt16, true),
        Field::new("u32", DataType::UInt32, true),
        Field::new("u64", DataType::UInt64, true),
        Field::new("f16", DataType::Float16, true),
        Field::new("ls", DataType::LargeUtf8, true),
        Field::new("sv", DataType::Utf8View, true),
        Field::new(
            "tsns",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        ),
        Field::new(
            "tsms",
            DataType::Timestamp(TimeUnit::Millisecond, paris),
            true,
        ),
        Field::new("d64", DataType::Date64, true),
        Field::new(
            "dict",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
        Field::new("dur", DataType::Duration(TimeUnit::Microsecond), true),
        Field::new("durs", DataType::Duration(TimeUnit::Second), true),
        Field::new("t32", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new("t64ns", DataType::Time64(TimeUnit::Nanosecond), true),
        Field::new("ym", DataType::Interval(IntervalUnit::YearMonth), true),
        Field::new("dt", DataType::Interval(IntervalUnit::DayTime), true),
        Field::new(
            "fsl",
            DataType::FixedSizeList(item(DataType::Int32), 2),
            true,
        ),
        Field::new("ll", DataType::LargeList(item(DataType::Int16)), true),
        Field::new("nul", DataType::Null, true),
    ]));
    let ts = micros(2024, 2, 29, 13, 45, 0, 123_456);
    let dict: DictionaryArray<Int32Type> = vec![Some("x"), None, Some("x")].into_iter().collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int8Array::from(vec![Some(i8::MIN), None, Some(i8::MAX)])),
            Arc::new(UInt8Array::from(vec![Some(0), None, Some(u8::MAX)])),
            Arc::new(UInt16Array::from(vec![Some(0), None, Some(u16::MAX)])),
            Arc::new(UInt32Array::from(vec![Some(0), None, Some(u32::MAX)])),
            Arc::new(UInt64Array::from(vec![Some(0), None, Some(u64::MAX)])),
            Arc::new(Float16Array::from(vec![
                Some(half_f16(1.5)),
                None,
                Some(half_f16(f32::INFINITY)),
            ])),
            Arc::new(LargeStringArray::from(vec![Some("large"), None, Some("")])),
            Arc::new(StringViewArray::from(vec![
                Some("a view longer than twelve bytes"),
                None,
                Some("v"),
            ])),
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(ts * 1000),
                None,
                Some(i64::MAX),
            ])),
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(ts / 1000), None, Some(i64::MIN)])
                    .with_timezone("Europe/Paris"),
            ),
            Arc::new(Date64Array::from(vec![
                Some(days(2024, 2, 29) as i64 * 86_400_000),
                None,
                Some(-62_135_596_800_000),
            ])),
            Arc::new(dict),
            Arc::new(DurationMicrosecondArray::from(vec![
                Some(-1),
                None,
                Some(90_061_000_001),
            ])),
            Arc::new(DurationSecondArray::from(vec![Some(3600), None, Some(0)])),
            Arc::new(Time32MillisecondArray::from(vec![
                Some(49_500_123),
                None,
                Some(0),
            ])),
            Arc::new(Time64NanosecondArray::from(vec![
                Some(49_500_123_456_000),
                None,
                Some(0),
            ])),
            Arc::new(IntervalYearMonthArray::from(vec![Some(14), None, Some(-1)])),
            Arc::new(IntervalDayTimeArray::from(vec![
                Some(IntervalDayTime::new(3, 1_500)),
                None,
                Some(IntervalDayTime::new(-1, -1)),
            ])),
            Arc::new(FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(
                vec![
                    Some(vec![Some(1), None]),
                    None,
                    Some(vec![Some(3), Some(4)]),
                ],
                2,
            )),
            Arc::new(LargeListArray::from_iter_primitive::<Int16Type, _, _>(
                vec![Some(vec![Some(1i16)]), None, Some(vec![])],
            )),
            Arc::new(arrow::array::NullArray::new(3)),
        ],
    )
    .unwrap();
    // Two batches: the second a slice (offsets into shared buffers).
    copy_in(
        &client,
        "w",
        &schema,
        &[batch.slice(0, 1), batch.slice(1, 2)],
    )
    .await
    .unwrap();
    let back = copy_out(&client, "SELECT * FROM w", ReadTypeOptions::default())
        .await
        .unwrap();
    assert_column(
        &back,
        "i8",
        Arc::new(Int16Array::from(vec![Some(-128), None, Some(127)])),
    );
    assert_column(
        &back,
        "u8",
        Arc::new(Int16Array::from(vec![Some(0), None, Some(255)])),
    );
    assert_column(
        &back,
        "u16",
        Arc::new(Int32Array::from(vec![Some(0), None, Some(65535)])),
    );
    assert_column(
        &back,
        "u32",
        Arc::new(Int64Array::from(vec![Some(0), None, Some(u32::MAX as i64)])),
    );
    assert_column(
        &back,
        "u64",
        dec128(&[Some(0), None, Some(u64::MAX as i128)], 20, 0),
    );
    assert_column(
        &back,
        "f16",
        Arc::new(Float32Array::from(vec![
            Some(1.5),
            None,
            Some(f32::INFINITY),
        ])),
    );
    assert_column(&back, "ls", strings(&[Some("large"), None, Some("")]));
    assert_column(
        &back,
        "sv",
        strings(&[Some("a view longer than twelve bytes"), None, Some("v")]),
    );
    assert_column(
        &back,
        "tsns",
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(ts),
            None,
            Some(i64::MAX),
        ])),
    );
    assert_column(
        &back,
        "tsms",
        ts_utc(&[Some(ts / 1000 * 1000), None, Some(i64::MIN)]),
    );
    assert_column(
        &back,
        "d64",
        Arc::new(Date32Array::from(vec![
            Some(days(2024, 2, 29)),
            None,
            Some(-719_162),
        ])),
    );
    assert_column(&back, "dict", strings(&[Some("x"), None, Some("x")]));
    assert_column(
        &back,
        "dur",
        mdn(&[Some((0, 0, -1000)), None, Some((0, 0, 90_061_000_001_000))]),
    );
    assert_column(
        &back,
        "durs",
        mdn(&[Some((0, 0, 3_600_000_000_000)), None, Some((0, 0, 0))]),
    );
    assert_column(
        &back,
        "t32",
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(49_500_123_000),
            None,
            Some(0),
        ])),
    );
    assert_column(
        &back,
        "t64ns",
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(49_500_123_456),
            None,
            Some(0),
        ])),
    );
    assert_column(
        &back,
        "ym",
        mdn(&[Some((14, 0, 0)), None, Some((-1, 0, 0))]),
    );
    assert_column(
        &back,
        "dt",
        mdn(&[Some((0, 3, 1_500_000_000)), None, Some((0, -1, -1_000_000))]),
    );
    assert_column(
        &back,
        "fsl",
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), None]),
            None,
            Some(vec![Some(3), Some(4)]),
        ])),
    );
    assert_column(
        &back,
        "ll",
        Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(vec![
            Some(vec![Some(1i16)]),
            None,
            Some(vec![]),
        ])),
    );
    assert_column(&back, "nul", strings(&[None, None, None]));
}

fn half_f16(
    v: f32,
) -> <arrow::datatypes::Float16Type as arrow::datatypes::ArrowPrimitiveType>::Native {
    <arrow::datatypes::Float16Type as arrow::datatypes::ArrowPrimitiveType>::Native::from_f32(v)
}

// ---------------------------------------------------------------------------------------
// 3. Errors
// ---------------------------------------------------------------------------------------

fn encode_error(field: Field, array: ArrayRef) -> String {
    let schema = Arc::new(Schema::new(vec![field]));
    let batch = RecordBatch::try_new(schema.clone(), vec![array]).unwrap();
    let mut enc = CopyEncoder::new(&schema).unwrap();
    let mut out = BytesMut::new();
    enc.encode(&batch, &mut out).unwrap_err().to_string()
}

#[test]
fn values_postgres_cannot_hold_are_encode_errors() {
    let e = encode_error(
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Arc::new(TimestampNanosecondArray::from(vec![
            Some(1_000),
            Some(1_700_000_000_123_456_789),
        ])),
    );
    assert!(
        e.contains("`ts`") && e.contains("row 2") && e.contains("1700000000123456789"),
        "{e}"
    );
    assert!(
        e.contains("PostgreSQL keeps microseconds; this value would be truncated"),
        "{e}"
    );

    let e = encode_error(
        Field::new("t", DataType::Time64(TimeUnit::Nanosecond), true),
        Arc::new(Time64NanosecondArray::from(vec![1_001])),
    );
    assert!(
        e.contains("`t`") && e.contains("1001") && e.contains("truncated"),
        "{e}"
    );

    let e = encode_error(
        Field::new("name", DataType::Utf8, true),
        strings(&[Some("ok"), None, Some("a\0b")]),
    );
    assert!(
        e.contains("`name`") && e.contains("row 3") && e.contains("NUL"),
        "{e}"
    );

    let e = encode_error(
        Field::new("d", DataType::Date64, true),
        Arc::new(Date64Array::from(vec![86_400_001])),
    );
    assert!(e.contains("`d`") && e.contains("86400001"), "{e}");

    let e = encode_error(
        Field::new("ts", DataType::Timestamp(TimeUnit::Second, None), true),
        Arc::new(arrow::array::TimestampSecondArray::from(vec![i64::MAX - 1])),
    );
    assert!(
        e.contains("`ts`") && e.contains(&(i64::MAX - 1).to_string()),
        "{e}"
    );
}

#[test]
fn nested_types_are_type_errors() {
    let s = StructArray::from(vec![(
        Arc::new(Field::new("a", DataType::Int32, true)),
        Arc::new(Int32Array::from(vec![1])) as ArrayRef,
    )]);
    let field = Field::new("st", s.data_type().clone(), true);
    let e = pg_column_type(&field).unwrap_err();
    assert_eq!(e.column, "st");
    assert!(
        e.to_string()
            .contains("flatten it or cast it to a JSON string first"),
        "{e}"
    );
    let e = CopyEncoder::new(&Schema::new(vec![field])).err().unwrap();
    assert_eq!(e.column, "st");
    let nested = DataType::List(Arc::new(Field::new(
        "item",
        DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
        true,
    )));
    assert!(pg_column_type(&Field::new("n", nested, true)).is_err());
}

#[tokio::test]
async fn read_errors_name_the_column_and_suggest_a_fix() {
    let db = TestDb::create("pgtypes_errors");
    let client = connect(&db).await;
    // Unconstrained numeric beyond decimal(38,10): an error, never rounded ...
    let sql = "SELECT x AS amount FROM (VALUES (1.5::numeric), (1.123456789012)) v(x)";
    let e = copy_out(&client, sql, ReadTypeOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.contains("`amount`") && e.contains("1.123456789012"),
        "{e}"
    );
    assert!(e.contains("unconstrained_numeric: text"), "{e}");
    for v in ["'NaN'::numeric", "'Infinity'::numeric", "1e28::numeric"] {
        let e = copy_out(
            &client,
            &format!("SELECT {v} AS n"),
            ReadTypeOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("`n`") && e.contains("unconstrained_numeric: text"),
            "{v}: {e}"
        );
    }
    // ... and exact text with the text policy.
    let text = ReadTypeOptions {
        unconstrained_numeric: UnconstrainedNumeric::Text,
    };
    let b = copy_out(&client, sql, text).await.unwrap();
    assert_column(
        &b,
        "amount",
        strings(&[Some("1.5"), Some("1.123456789012")]),
    );
    // NaN in a constrained numeric.
    let e = copy_out(
        &client,
        "SELECT 'NaN'::numeric(10,2) AS c",
        ReadTypeOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(e.contains("`c`") && e.contains("NaN"), "{e}");
    // Unsupported types.
    for (sql, name, ty) in [
        ("SELECT point(1,2) AS p", "`p`", "point"),
        ("SELECT 12.5::money AS m", "`m`", "money"),
        ("SELECT int4range(1, 5) AS r", "`r`", "int4range"),
        ("SELECT ROW(1, 'a') AS rec", "`rec`", "record"),
        ("SELECT B'101' AS bits", "`bits`", "bit"),
    ] {
        let e = copy_out(&client, sql, ReadTypeOptions::default())
            .await
            .unwrap_err();
        assert!(
            e.contains(name) && e.contains(ty) && e.contains("::text"),
            "{sql}: {e}"
        );
    }
    // Multi-dimensional arrays.
    let e = copy_out(
        &client,
        "SELECT '{{1,2},{3,4}}'::int[] AS grid",
        ReadTypeOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("`grid`") && e.contains("2-dimensional") && e.contains("cast"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Chunking
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn any_chunking_decodes_the_same() {
    let db = TestDb::create("pgtypes_chunks");
    let client = connect(&db).await;
    client.batch_execute(ALL_TYPES_DDL).await.expect("setup");
    client
        .batch_execute("INSERT INTO t SELECT * FROM t; INSERT INTO t SELECT * FROM t;")
        .await
        .unwrap();
    let sql = "SELECT * FROM t ORDER BY id";
    let cols = columns(&client, sql).await;
    let schema: SchemaRef = Arc::new(arrow_schema(&cols, &ReadTypeOptions::default()).unwrap());
    let chunks = copy_chunks(&client, sql).await;
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let reference =
        arrow::compute::concat_batches(&schema, &decode(&schema, &cols, &chunks, 4).unwrap())
            .unwrap();
    assert_eq!(reference.num_rows(), 20);
    let bytes: Vec<&[u8]> = all.chunks(1).collect();
    let odd: Vec<&[u8]> = all.chunks(7).collect();
    let rows_and_a_bit: Vec<&[u8]> = all.chunks(1001).collect();
    for (what, batches) in [
        ("1-byte chunks", decode(&schema, &cols, bytes, 4).unwrap()),
        ("7-byte chunks", decode(&schema, &cols, odd, 4).unwrap()),
        (
            "1001-byte chunks",
            decode(&schema, &cols, rows_and_a_bit, 4).unwrap(),
        ),
        ("one chunk", decode(&schema, &cols, [&all[..]], 4).unwrap()),
    ] {
        assert_eq!(batches.len(), 5, "{what}");
        let got = arrow::compute::concat_batches(&schema, &batches).unwrap();
        assert_eq!(got, reference, "{what}");
    }
    // One batch of everything, and a stream cut short.
    let one = decode(&schema, &cols, [&all[..]], 1000).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0], reference);
    let e = decode(&schema, &cols, [&all[..all.len() - 2]], 4).unwrap_err();
    assert!(e.to_string().contains("end-of-data"), "{e}");
    let e = decode(&schema, &cols, [&all[..all.len() - 5]], 4).unwrap_err();
    assert!(e.to_string().contains("end-of-data"), "{e}");
}

#[tokio::test]
async fn an_empty_result_decodes_to_no_batches() {
    let db = TestDb::create("pgtypes_empty");
    let client = connect(&db).await;
    let sql = "SELECT 1::int AS a, 'x'::text AS b WHERE false";
    let cols = columns(&client, sql).await;
    let schema: SchemaRef = Arc::new(arrow_schema(&cols, &ReadTypeOptions::default()).unwrap());
    let chunks = copy_chunks(&client, sql).await;
    assert!(decode(&schema, &cols, chunks, 3).unwrap().is_empty());
}

/// Batches end at the byte cap as well as at `batch_size`: on the rows' COPY size, and on
/// the text of values rendered as text (a numeric's text can be thousands of times its
/// binary value), so no column can grow past Arrow's 2 GiB in one batch.
#[tokio::test]
async fn batches_end_at_the_byte_cap_as_well_as_at_batch_size() {
    let db = TestDb::create("pgtypes_bytecap");
    let client = connect(&db).await;
    let rows_of = |sql: &'static str, opts: ReadTypeOptions, cap: usize| {
        let client = &client;
        async move {
            let cols = columns(client, sql).await;
            let schema: SchemaRef = Arc::new(arrow_schema(&cols, &opts).unwrap());
            let mut dec = CopyDecoder::new(schema, &cols, 1000)
                .unwrap()
                .with_max_bytes(cap);
            let mut sizes = vec![];
            for c in copy_chunks(client, sql).await {
                dec.push(&c).unwrap();
                while let Some(b) = dec.take_full().unwrap() {
                    sizes.push(b.num_rows());
                }
            }
            if let Some(b) = dec.finish().unwrap() {
                sizes.push(b.num_rows());
            }
            sizes
        }
    };
    // A row is 2 + (4 + 4) + (4 + 100) = 114 bytes: the 9th reaches 1,000.
    let sizes = rows_of(
        "SELECT i, repeat('x', 100) AS s FROM generate_series(1, 100) i",
        ReadTypeOptions::default(),
        1000,
    )
    .await;
    assert_eq!(sizes, [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1]);
    // Without a cap in reach, `batch_size` rules.
    let sizes = rows_of(
        "SELECT i, repeat('x', 100) AS s FROM generate_series(1, 2500) i",
        ReadTypeOptions::default(),
        usize::MAX,
    )
    .await;
    assert_eq!(sizes, [1000, 1000, 500]);
    // 1e5000 is 10 bytes in binary, 5,001 characters as text: 2 + (4 + 10) + 5001 bytes
    // per row, so the cap of 10,000 is reached at the 2nd row.
    let sizes = rows_of(
        "SELECT 1e5000::numeric AS n FROM generate_series(1, 6)",
        ReadTypeOptions {
            unconstrained_numeric: UnconstrainedNumeric::Text,
        },
        10_000,
    )
    .await;
    assert_eq!(sizes, [2, 2, 2]);
}

// ---------------------------------------------------------------------------------------
// Throughput (run with `cargo nextest run --release -p hygge-connectors --test
// postgres_types --run-ignored only throughput --no-capture`)
// ---------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "a measurement, not a test"]
async fn throughput() {
    let db = TestDb::create("pgtypes_speed");
    let client = connect(&db).await;
    let n = 2_000_000;
    client
        .batch_execute(&format!(
            "CREATE TABLE s AS SELECT i::bigint AS id, (i % 1000)::int AS k, i * 0.5::float8 AS f,
                ((i % 100000)::numeric / 7)::numeric(18,4) AS amount, md5(i::text) AS s,
                timestamptz '2020-01-01' + i * interval '1 second' AS ts,
                (i % 2 = 0) AS flag, date '2020-01-01' + (i % 1000) AS d
             FROM generate_series(1, {n}) i"
        ))
        .await
        .unwrap();
    let sql = "SELECT * FROM s";
    let cols = columns(&client, sql).await;
    let schema: SchemaRef = Arc::new(arrow_schema(&cols, &ReadTypeOptions::default()).unwrap());
    let chunks = copy_chunks(&client, sql).await;
    let bytes: usize = chunks.iter().map(|c| c.len()).sum();
    let mut batches = vec![];
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        let start = std::time::Instant::now();
        batches = decode(&schema, &cols, &chunks, 100_000).unwrap();
        best = best.min(start.elapsed());
    }
    println!(
        "decode: {n} rows, {} MB in {best:?}: {:.1} M rows/s",
        bytes / 1_000_000,
        n as f64 / best.as_secs_f64() / 1e6
    );
    // As a store does: one buffer, sent (here: dropped) after every batch.
    let mut best = std::time::Duration::MAX;
    let mut total = 0;
    let mut first = BytesMut::new();
    for round in 0..3 {
        let mut enc = CopyEncoder::new(&schema).unwrap();
        let mut out = BytesMut::new();
        total = 0;
        let start = std::time::Instant::now();
        enc.header(&mut out);
        for b in &batches {
            enc.encode(b, &mut out).unwrap();
            total += out.len();
            if round == 0 {
                first.extend_from_slice(&out);
            }
            out.clear();
        }
        enc.trailer(&mut out);
        total += out.len();
        if round == 0 {
            first.extend_from_slice(&out);
        }
        best = best.min(start.elapsed());
    }
    println!(
        "encode: {n} rows, {} MB in {best:?}: {:.1} M rows/s",
        total / 1_000_000,
        n as f64 / best.as_secs_f64() / 1e6
    );
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    assert!(
        first[..] == all[..],
        "re-encoding gives PostgreSQL's own bytes"
    );
}
