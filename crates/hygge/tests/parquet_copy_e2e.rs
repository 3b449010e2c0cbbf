//! Parquet -> Parquet with row groups copied page by page, through the `hygge` binary:
//! what is copied and what is decoded, file splits, damaged sources, the switch to turn it
//! off. (Every type through the copy path: `types_roundtrip.rs`.)

mod common;

use std::fs;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use common::*;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Writes ids `start..start+n` into `path` in row groups of `group` rows.
fn write_groups(path: &Path, start: i64, n: usize, group: usize, codec: Compression) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(group))
        .build();
    let b = batch(start, n);
    let mut w =
        ArrowWriter::try_new(fs::File::create(path).unwrap(), b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

/// Rows per row group of a Parquet file.
fn row_groups(path: &Path) -> Vec<i64> {
    ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows())
        .collect()
}

fn rows_in(path: &Path) -> usize {
    row_groups(path).iter().sum::<i64>() as usize
}

fn snappy() -> Compression {
    Compression::SNAPPY
}

#[test]
fn row_groups_are_copied_where_they_fit_and_decoded_where_a_file_must_be_cut() {
    // Two sources of 5 row groups of 1,000 rows; files of 2,500 rows. A row group that
    // would cross a file's end is decoded and split; the rest are copied.
    let p = parquet_project(&["t"], "  batch_size: 2500\n  row_group_size: 1000\n");
    write_groups(&p.join("data/t/a.parquet"), 0, 5000, 1000, snappy());
    write_groups(&p.join("data/t/b.parquet"), 5000, 5000, 1000, snappy());
    let (out, report) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 10_000);
    assert!(
        stderr(&out).contains("8 were copied page by page and 2 decoded"),
        "{}",
        stderr(&out)
    );
    let files = parquet_files(&p.join("out/t"));
    assert_eq!(
        files.iter().map(|f| rows_in(f)).collect::<Vec<_>>(),
        vec![2500; 4],
        "files are cut at batch_size rows, as without copying"
    );
    // File 1: two copied groups, then the first half of a decoded one. File 2: the second
    // half (closed before the next copied group), two copied groups.
    assert_eq!(row_groups(&files[0]), vec![1000, 1000, 500]);
    assert_eq!(row_groups(&files[1]), vec![500, 1000, 1000]);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..10_000).collect::<Vec<_>>()
    );

    // Incremental appends copied row groups after the existing files, in sequence.
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  batch_size: 2500\n  row_group_size: 1000\nrun_type: incremental\nentities: [t]\n",
    );
    let (out, _) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = listing(&p.join("out/t"));
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(names[7], "00000000000000000008.parquet");
    let all = ids(&read_parquet_dir(&p.join("out/t")));
    let twice: Vec<i64> = (0..10_000).flat_map(|i| [i, i]).collect();
    assert_eq!(all, twice);
}

#[test]
fn small_row_groups_are_merged_by_decoding_them() {
    // 20 row groups of 50 rows against 400-row row groups: copying would keep the source's
    // tiny row groups, so they are decoded into full ones.
    let p = parquet_project(&["t"], "  row_group_size: 400\n");
    write_groups(&p.join("data/t/a.parquet"), 0, 1000, 50, snappy());
    let (out, _) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 were copied page by page and 20 decoded"),
        "{}",
        stderr(&out)
    );
    let files = parquet_files(&p.join("out/t"));
    assert_eq!(row_groups(&files[0]), vec![400, 400, 200]);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..1000).collect::<Vec<_>>()
    );
}

#[test]
fn copying_can_be_switched_off() {
    let p = parquet_project(&["t"], "  row_group_size: 1000\n");
    write_groups(&p.join("data/t/a.parquet"), 0, 3000, 1000, snappy());
    let copied = p.go_json(&["--verbose"]).0;
    assert!(
        stderr(&copied).contains("3 were copied page by page and 0 decoded"),
        "{}",
        stderr(&copied)
    );
    let plan = stdout(&p.run(&["go", "--dry-run", "--verbose"]));
    assert!(
        plan.contains("row groups of 1000 rows (a Parquet source's that fit are copied)"),
        "{plan}"
    );

    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  row_group_size: 1000\n  copy_row_groups: false\nentities: [t]\n",
    );
    let (out, _) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("copied page by page"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("reading 1 parquet file(s)"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("as row groups, for the store to copy"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..3000).collect::<Vec<_>>()
    );
    let plan = stdout(&p.run(&["go", "--dry-run", "--verbose"]));
    assert!(plan.contains("row groups of 1000 rows, "), "{plan}");

    // Only a parquet store has row groups to copy.
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: local\n  path: out\n  format: csv\n  copy_row_groups: true\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("copy_row_groups: only a parquet store copies row groups, not csv"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn files_that_differ_in_nullability_are_decoded_into_one_schema() {
    // `id` is required in one file and nullable in the other: the entity's schema widens
    // it, which a copied row group could not, so every row is decoded.
    let p = parquet_project(&["t"], "  row_group_size: 1000\n");
    write_groups(&p.join("data/t/a.parquet"), 0, 1000, 1000, snappy());
    let b = batch(1000, 1000);
    let nullable = std::sync::Arc::new(arrow::datatypes::Schema::new(
        b.schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let b = RecordBatch::try_new(nullable, b.columns().to_vec()).unwrap();
    write_parquet(&p.join("data/t/b.parquet"), &[b]);
    let (out, _) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the files differ in nullability"),
        "{}",
        stderr(&out)
    );
    let batches = read_parquet_dir(&p.join("out/t"));
    assert!(batches[0].schema().field(0).is_nullable());
    assert_eq!(ids(&batches), (0..2000).collect::<Vec<_>>());
}

#[test]
fn a_damaged_page_fails_its_entity_and_keeps_the_old_data() {
    // Same codec in and out (bytes copied as they are), another codec (recompressed), and
    // re-encoding (decoded: arrow-rs panics on this damage, in a debug build at least):
    // each time the damaged page fails the entity, names the file, and publishes nothing;
    // the other entity completes.
    let zstd = Compression::ZSTD(Default::default());
    for (codec, store_codec, copy, from_third) in [
        (zstd, "zstd", true, 0),
        (zstd, "snappy", true, 0),
        (zstd, "snappy", false, 1),
    ] {
        let p = parquet_project(
            &["good", "bad"],
            &format!(
                "  compression: {store_codec}\n  row_group_size: 2000\n  copy_row_groups: {copy}\n"
            ),
        );
        write_groups(&p.join("data/good/x.parquet"), 0, 4000, 2000, codec);
        write_groups(&p.join("data/bad/x.parquet"), 0, 4000, 2000, codec);
        assert!(p.run(&["go"]).status.success());
        let before = listing(&p.join("out/bad"));

        // Overwrite a third of the first row group's `name` column chunk: the first third
        // (its first page header and compressed data), or the middle one. (Bytes a codec
        // accepts are copied as they are, as a file copy would: README, "Parquet to
        // Parquet"; so the copies get the header damaged.)
        let x = p.join("data/bad/x.parquet");
        let meta = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&x).unwrap())
            .unwrap()
            .metadata()
            .clone();
        let (start, len) = meta.row_group(0).column(1).byte_range();
        let mut bytes = fs::read(&x).unwrap();
        let from = start + from_third * len / 3;
        for b in &mut bytes[from as usize..(from + len / 3) as usize] {
            *b = 0xA5;
        }
        fs::write(&x, &bytes).unwrap();

        let (out, report) = p.go_json(&["--verbose"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{store_codec}: {}",
            stderr(&out)
        );
        let flows = report["report"]["flows"].as_array().unwrap();
        let bad = flows.iter().find(|f| f["entity"] == "bad").unwrap();
        let good = flows.iter().find(|f| f["entity"] == "good").unwrap();
        assert_eq!(bad["status"], "failed");
        let err = bad["error"].as_str().unwrap();
        assert!(err.contains("x.parquet"), "{store_codec}: {err}");
        assert_eq!(good["status"], "success", "{store_codec}");
        assert_eq!(listing(&p.join("out/bad")), before, "{store_codec}");
        assert_eq!(
            ids(&read_parquet_dir(&p.join("out/bad"))),
            (0..4000).collect::<Vec<_>>()
        );
        assert!(listing(&p.join("out/.hygge/staging")).is_empty());
    }
}

#[test]
fn a_source_whose_columns_hygge_cannot_write_back_is_decoded() {
    // INT96 timestamps (as Spark writes them) can be read, not written, by arrow-rs: a file
    // that began with a copied row group could not take decoded rows later, so such row
    // groups are decoded from the start (into INT64 timestamps) instead.
    use parquet::data_type::{Int64Type, Int96, Int96Type};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    let p = parquet_project(&["t"], "  batch_size: 2500\n  row_group_size: 1000\n");
    let path = p.join("data/t/spark.parquet");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let schema = std::sync::Arc::new(
        parse_message_type("message spark { required int64 id; required int96 ts; }").unwrap(),
    );
    let mut w = SerializedFileWriter::new(
        fs::File::create(&path).unwrap(),
        schema,
        std::sync::Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    // Julian day 2_440_588 is 1970-01-01; row i is i seconds after midnight of day 1 + i.
    let day = |i: i64| 2_440_588 + 1 + i as u32;
    for g in 0..3i64 {
        let ids: Vec<i64> = (g * 1000..(g + 1) * 1000).collect();
        let ts: Vec<Int96> = ids
            .iter()
            .map(|&i| {
                let nanos = (i as u64) * 1_000_000_000;
                let mut v = Int96::new();
                v.set_data(nanos as u32, (nanos >> 32) as u32, day(i));
                v
            })
            .collect();
        let mut rg = w.next_row_group().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int64Type>()
            .write_batch(&ids, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = rg.next_column().unwrap().unwrap();
        c.typed::<Int96Type>().write_batch(&ts, None, None).unwrap();
        c.close().unwrap();
        rg.close().unwrap();
    }
    w.close().unwrap();

    let (out, _) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 were copied page by page and 3 decoded"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let batches = read_parquet_dir(&p.join("out/t"));
    assert_eq!(ids(&batches), (0..3000).collect::<Vec<_>>());
    let want = |i: i64| (i + 1) * 86_400_000_000_000 + i * 1_000_000_000;
    for b in &batches {
        let id = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        let ts = b
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .unwrap();
        for r in 0..b.num_rows() {
            assert_eq!(ts.value(r), want(id.value(r)), "row {}", id.value(r));
        }
    }
}

/// Rewrites the footer of `path` so that row group 0's column `column` claims `size`
/// compressed bytes (its pages, page index and everything else unchanged).
fn claim_compressed_size(path: &Path, column: usize, size: i64) {
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader, ParquetMetaDataWriter};
    use parquet::file::writer::TrackedWrite;
    use std::io::Write;

    let bytes = fs::read(path).unwrap();
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&fs::File::open(path).unwrap())
        .unwrap();
    // The data ends where the last column chunk ends; the page index and footer follow.
    let data_end = meta
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .map(|c| {
            let (start, len) = c.byte_range();
            start + len
        })
        .max()
        .unwrap() as usize;
    let mut builder = meta.into_builder();
    let groups = builder.take_row_groups();
    for (g, rg) in groups.into_iter().enumerate() {
        let mut columns = rg.columns().to_vec();
        if g == 0 {
            columns[column] = columns[column]
                .clone()
                .into_builder()
                .set_total_compressed_size(size)
                .build()
                .unwrap();
        }
        let rg = rg
            .into_builder()
            .set_column_metadata(columns)
            .build()
            .unwrap();
        builder = builder.add_row_group(rg);
    }
    let meta = builder.build();
    let mut out = Vec::new();
    {
        let mut tracked = TrackedWrite::new(&mut out);
        tracked.write_all(&bytes[..data_end]).unwrap();
        ParquetMetaDataWriter::new_with_tracked(tracked, &meta)
            .finish()
            .unwrap();
    }
    fs::write(path, out).unwrap();
}

#[test]
fn a_footer_claiming_a_huge_column_chunk_fails_its_entity_and_does_not_abort_the_run() {
    // A column chunk whose footer says 4 TiB, or 1 PiB (more than any address space): the
    // recompressing copy (snappy -> zstd) must not allocate what the footer claims (an
    // allocation failure aborts the process, and every entity with it): the entity fails,
    // naming the file, row group and column; the healthy entity beside it is published.
    for claim in [1i64 << 42, 1 << 50] {
        let p = parquet_project(
            &["good", "bad"],
            "  compression: zstd\n  row_group_size: 2000\n",
        );
        write_groups(&p.join("data/good/x.parquet"), 0, 4000, 2000, snappy());
        write_groups(&p.join("data/bad/x.parquet"), 0, 4000, 2000, snappy());
        claim_compressed_size(&p.join("data/bad/x.parquet"), 1, claim);

        let out = p.run(&["go", "--output", "json"]);
        assert_eq!(out.status.code(), Some(1), "{claim}: {out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let flows = report["report"]["flows"].as_array().unwrap();
        let bad = flows.iter().find(|f| f["entity"] == "bad").unwrap();
        let good = flows.iter().find(|f| f["entity"] == "good").unwrap();
        assert_eq!(bad["status"], "failed");
        let err = bad["error"].as_str().unwrap();
        for want in [
            "x.parquet",
            "damaged or crafted Parquet file",
            "row group 0",
            "column `name`",
        ] {
            assert!(err.contains(want), "{claim}: {want}: {err}");
        }
        assert_eq!(good["status"], "success");
        assert_eq!(
            ids(&read_parquet_dir(&p.join("out/good"))),
            (0..4000).collect::<Vec<_>>()
        );
        assert!(listing(&p.join("out/bad")).is_empty());
    }
}

/// Review M5: a recompressing copy assembles a whole column chunk in memory, and the copy
/// criterion was rows only. A row group with a column chunk larger than 64 MiB is decoded,
/// a batch at a time, instead.
#[test]
fn a_row_group_with_a_huge_column_chunk_is_decoded_not_copied() {
    use arrow::array::{ArrayRef, BinaryArray, Int64Array};
    use rand::RngCore;
    let p = parquet_project(&["t"], "  row_group_size: 1000\n  compression: zstd\n");
    // 1,000 rows of 80 KiB of random bytes: ~80 MB in one column chunk (incompressible).
    let mut rng = rand::rng();
    let values: Vec<Vec<u8>> = (0..1000)
        .map(|_| {
            let mut v = vec![0u8; 80 << 10];
            rng.fill_bytes(&mut v);
            v
        })
        .collect();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("blob", arrow::datatypes::DataType::Binary, false),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from_iter_values(0..1000)) as ArrayRef,
            std::sync::Arc::new(BinaryArray::from_iter_values(values.iter())) as ArrayRef,
        ],
    )
    .unwrap();
    let path = p.join("data/t/a.parquet");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(snappy())
        .set_max_row_group_row_count(Some(1000))
        .build();
    let mut w =
        ArrowWriter::try_new(fs::File::create(&path).unwrap(), schema, Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let out = p.go_json(&["--verbose"]).0;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 were copied page by page and 1 decoded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(rows_in(&parquet_files(&p.join("out/t"))[0]), 1000);
}
