//! Test data: a batch with every Arrow type the Parquet store carries (nulls in every
//! column but the non-nullable ones), shared by the type round-trip tests of every store.

use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;

/// Rows in [`all_types`].
pub const N: usize = 300;

/// Which rows keep a value (the others are null).
pub fn nulls() -> Vec<bool> {
    (0..N).map(|i| i % 3 != 1).collect()
}

/// `v` with [`nulls`] applied.
pub fn opt<T>(v: Vec<T>) -> Vec<Option<T>> {
    v.into_iter()
        .zip(nulls())
        .map(|(x, keep)| keep.then_some(x))
        .collect()
}

/// Every Arrow type the Parquet store carries, [`N`] rows.
pub fn all_types() -> RecordBatch {
    let i = |k: i64| (0..N as i64).map(move |x| x * k - 7).collect::<Vec<i64>>();
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(opt((0..N)
                .map(|x| ((x % 200) as i16 - 100) as i8)
                .collect()))),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(opt((0..N)
                .map(|x| x as i16 * -3)
                .collect()))),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(opt((0..N)
                .map(|x| x as i32 * 1000)
                .collect()))),
        ),
        ("i64", Arc::new(Int64Array::from(opt(i(i64::MAX / 1000))))),
        (
            "u8",
            Arc::new(UInt8Array::from(opt((0..N)
                .map(|x| (x % 256) as u8)
                .collect()))),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(opt((0..N)
                .map(|x| x as u16 * 200)
                .collect()))),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(opt((0..N)
                .map(|x| u32::MAX - x as u32)
                .collect()))),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(opt((0..N)
                .map(|x| u64::MAX - x as u64)
                .collect()))),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(opt((0..N)
                .map(|x| x as f32 / 3.0)
                .collect()))),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(opt((0..N)
                .map(|x| match x % 5 {
                    0 => f64::INFINITY,
                    2 => -0.0,
                    _ => x as f64 * 1.0e-300,
                })
                .collect()))),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from(opt((0..N)
                .map(|x| x % 2 == 0)
                .collect()))),
        ),
        (
            "utf8",
            Arc::new(StringArray::from(opt((0..N)
                .map(|x| {
                    if x % 4 == 0 {
                        String::new()
                    } else {
                        format!("héllo ✓ {x}")
                    }
                })
                .collect()))),
        ),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(opt((0..N)
                .map(|x| "x".repeat(x % 40))
                .collect()))),
        ),
        (
            "binary",
            Arc::new(BinaryArray::from(
                opt((0..N).map(|x| vec![x as u8, 0, 255]).collect())
                    .iter()
                    .map(|o| o.as_deref())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "large_binary",
            Arc::new(LargeBinaryArray::from(
                opt((0..N).map(|x| vec![0u8; x % 9]).collect())
                    .iter()
                    .map(|o| o.as_deref())
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "fixed_binary",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    opt((0..N).map(|x| [x as u8; 16]).collect()).into_iter(),
                    16,
                )
                .unwrap(),
            ),
        ),
        (
            "dec128",
            Arc::new(
                Decimal128Array::from(opt((0..N)
                    .map(|x| 99_999_999_999_999_999_999_999_999_999_999_999_999i128 - x as i128 * 7)
                    .collect()))
                .with_precision_and_scale(38, 10)
                .unwrap(),
            ),
        ),
        (
            "dec128_small",
            Arc::new(
                Decimal128Array::from(opt((0..N).map(|x| x as i128 * 12345 - 99).collect()))
                    .with_precision_and_scale(18, 4)
                    .unwrap(),
            ),
        ),
        (
            "dec256",
            Arc::new(
                Decimal256Array::from(opt((0..N)
                    .map(|x| {
                        i256::from_i128(x as i128 * -1_000_000_007)
                            * i256::from_i128(10i128.pow(30))
                    })
                    .collect()))
                .with_precision_and_scale(76, 20)
                .unwrap(),
            ),
        ),
        (
            "date32",
            Arc::new(Date32Array::from(opt((0..N)
                .map(|x| -719_162 + x as i32 * 997)
                .collect()))),
        ),
        (
            "time32_ms",
            Arc::new(Time32MillisecondArray::from(opt((0..N)
                .map(|x| x as i32 * 287_999)
                .collect()))),
        ),
        (
            "time64_us",
            Arc::new(Time64MicrosecondArray::from(opt((0..N)
                .map(|x| x as i64 * 287_999_999)
                .collect()))),
        ),
        (
            "time64_ns",
            Arc::new(Time64NanosecondArray::from(opt((0..N)
                .map(|x| x as i64 * 287_999_999_123)
                .collect()))),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(opt(i(86_400 * 365)))),
        ),
        (
            "ts_ms_utc",
            Arc::new(TimestampMillisecondArray::from(opt(i(1_000_003))).with_timezone("UTC")),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(opt(i(1_000_000_007)))),
        ),
        (
            "ts_us_tz",
            Arc::new(TimestampMicrosecondArray::from(opt(i(999_999_937))).with_timezone("+02:00")),
        ),
        (
            "ts_ns_tz",
            Arc::new(
                TimestampNanosecondArray::from(opt(i(1_000_000_000_001)))
                    .with_timezone("Europe/Copenhagen"),
            ),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(opt(i(123_456_789)))),
        ),
        (
            "duration_us",
            Arc::new(DurationMicrosecondArray::from(opt(i(1_000)))),
        ),
    ];
    // list<int32> with null lists and null items
    let lengths: Vec<usize> = (0..N).map(|x| x % 3).collect();
    let total = lengths.iter().sum::<usize>() as i32;
    let values = Int32Array::from(
        (0..total)
            .map(|v| (v % 7 != 0).then_some(v))
            .collect::<Vec<_>>(),
    );
    let offsets = OffsetBuffer::from_lengths(lengths);
    let list = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int32, true)),
        offsets,
        Arc::new(values),
        Some(nulls().into()),
    );
    cols.push(("list_i32", Arc::new(list)));
    let lvalues = StringArray::from((0..N).map(|v| format!("v{v}")).collect::<Vec<_>>());
    let loffsets = OffsetBuffer::<i64>::from_lengths((0..N).map(|_| 1));
    let large_list = LargeListArray::new(
        Arc::new(Field::new_list_field(DataType::Utf8, false)),
        loffsets,
        Arc::new(lvalues),
        Some(nulls().into()),
    );
    cols.push(("large_list_utf8", Arc::new(large_list)));
    let structs = StructArray::new(
        Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
            Field::new(
                "c",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]),
        vec![
            Arc::new(Int32Array::from(opt((0..N as i32).collect()))),
            Arc::new(StringArray::from(
                (0..N).map(|x| format!("s{x}")).collect::<Vec<_>>(),
            )),
            Arc::new(TimestampMicrosecondArray::from(opt(i(17))).with_timezone("UTC")),
        ],
        Some(nulls().into()),
    );
    cols.push(("struct", Arc::new(structs)));
    let dict: DictionaryArray<Int32Type> =
        opt((0..N).map(|x| ["red", "green", "blue"][x % 3]).collect())
            .into_iter()
            .collect();
    cols.push(("dictionary", Arc::new(dict)));
    let all_null = Int64Array::from(vec![None::<i64>; N]);
    cols.push(("all_null", Arc::new(all_null)));

    let schema = Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).unwrap()
}
