//! Every Arrow type that Parquet carries round-trips exactly through `hygge go`
//! (Parquet home -> Parquet store), nulls everywhere.

mod common;

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::concat_batches;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use common::*;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::basic::Compression;
use parquet::column::page::Page;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::serialized_reader::SerializedPageReader;

use hygge_testkit::types::{N, all_types};

#[test]
fn every_parquet_type_round_trips_exactly() {
    let input = all_types();
    let p = parquet_project(&["typed"], "  batch_size: 128\n");
    // Two source files so the home also reads across files.
    write_parquet(&p.join("data/typed/part-1.parquet"), &[input.slice(0, 100)]);
    write_parquet(
        &p.join("data/typed/part-2.parquet"),
        &[input.slice(100, N - 100)],
    );
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], N as u64);

    let files = parquet_files(&p.join("out/typed"));
    assert_eq!(files.len(), 3, "300 rows at 128 rows per file: {files:?}");
    let batches = read_parquet_dir(&p.join("out/typed"));
    let output = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(output.num_rows(), N);
    for (i, field) in input.schema().fields().iter().enumerate() {
        let got = output.schema().field(i).clone();
        assert_eq!(got.name(), field.name());
        // Timestamp(Second), which Parquet stores as a bare INT64, is stored in
        // milliseconds with the timestamp type: the same instants.
        let want = match field.data_type() {
            DataType::Timestamp(TimeUnit::Second, tz) => arrow::compute::cast(
                input.column(i),
                &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            )
            .unwrap(),
            _ => input.column(i).clone(),
        };
        assert_eq!(
            got.data_type(),
            want.data_type(),
            "type of `{}`",
            field.name()
        );
        assert_eq!(
            output.column(i).as_ref(),
            want.as_ref(),
            "values of `{}`",
            field.name()
        );
    }
}

/// Writes `batch` to `path` in row groups of `rows` rows, with `props`.
fn write_with(path: &std::path::Path, batch: &RecordBatch, props: WriterProperties) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Row groups of 100 rows in three shapes: zstd v1 pages; gzip v2 pages of 32 rows with
/// chunk statistics only; uncompressed v1 pages of 16 rows without statistics. `indexed`:
/// with an offset index (where pages start in rows), or without, as pyarrow writes.
fn shapes(indexed: bool) -> [WriterProperties; 3] {
    let base = || {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .set_offset_index_disabled(!indexed)
    };
    [
        base()
            .set_compression(Compression::ZSTD(Default::default()))
            .build(),
        base()
            .set_compression(Compression::GZIP(Default::default()))
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_data_page_row_count_limit(32)
            .build(),
        base()
            .set_compression(Compression::UNCOMPRESSED)
            .set_statistics_enabled(if indexed {
                EnabledStatistics::Chunk
            } else {
                EnabledStatistics::None
            })
            .set_data_page_row_count_limit(16)
            .build(),
    ]
}

/// Writes `input` as three files of 100 rows (one per shape), runs Parquet -> Parquet
/// into `codec` with 100-row row groups, checks that the log says `copied`, and that the
/// output holds the input exactly, in `codec`, and is readable through its page index.
fn copy_and_check(input: &RecordBatch, shapes: &[WriterProperties; 3], codec: &str, copied: &str) {
    let n = input.num_rows();
    let p = parquet_project(
        &["typed"],
        &format!("  compression: {codec}\n  batch_size: 300\n  row_group_size: 100\n"),
    );
    for (i, props) in shapes.iter().enumerate() {
        write_with(
            &p.join(&format!("data/typed/part-{i}.parquet")),
            &input.slice(i * 100, 100),
            props.clone(),
        );
    }
    let (out, report) = p.go_json(&["--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], n as u64);
    assert!(stderr(&out).contains(copied), "{codec}: {}", stderr(&out));

    let files = parquet_files(&p.join("out/typed"));
    assert_eq!(files.len(), 1, "{files:?}");
    let open = || std::fs::File::open(&files[0]).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(open())
        .unwrap()
        .metadata()
        .clone();
    assert_eq!(meta.num_row_groups(), 3);
    let want = match codec {
        "lz4" => "LZ4_RAW".to_string(),
        "none" => "UNCOMPRESSED".to_string(),
        c => c.to_uppercase(),
    };
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let got = format!("{:?}", c.compression());
            assert!(
                got.starts_with(&want),
                "{codec}: {got} in {}",
                c.column_path()
            );
        }
    }

    let batches = read_parquet_dir(&p.join("out/typed"));
    let output = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(output.schema(), input.schema(), "{codec}");
    for (i, field) in input.schema().fields().iter().enumerate() {
        assert_eq!(
            output.column(i).as_ref(),
            input.column(i).as_ref(),
            "{codec}: values of `{}`",
            field.name()
        );
    }

    // The offset index of every flat column chunk says where each data page is, and at
    // which row it starts (counted here from the pages themselves).
    let indexed = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&open())
        .unwrap();
    let offsets = indexed.offset_index().expect("an offset index");
    let file = Arc::new(open());
    for (r, rg) in indexed.row_groups().iter().enumerate() {
        for (c, column) in rg.columns().iter().enumerate() {
            let locations = offsets[r][c].page_locations();
            let pages = SerializedPageReader::new(
                file.clone(),
                column,
                rg.num_rows() as usize,
                Some(locations.clone()),
            )
            .unwrap();
            let (mut pages_seen, mut row) = (0, 0i64);
            for page in pages {
                let page = page.unwrap();
                if !page.is_data_page() {
                    continue;
                }
                if column.column_descr().max_rep_level() == 0 {
                    assert_eq!(
                        locations[pages_seen].first_row_index,
                        row,
                        "{codec}: page {pages_seen} of {} in row group {r}",
                        column.column_path()
                    );
                    row += match page {
                        Page::DataPageV2 { num_rows, .. } => num_rows as i64,
                        p => p.num_values() as i64,
                    };
                }
                pages_seen += 1;
            }
            assert_eq!(
                pages_seen,
                locations.len(),
                "{codec}: {}",
                column.column_path()
            );
        }
    }

    // Reading a few rows here and there through the page index (across page starts)
    // finds the right pages.
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let ranges = [
        (37, 46),
        (63, 67),
        (115, 119),
        (163, 167),
        (215, 219),
        (295, 300),
    ];
    let mut selectors = vec![];
    let mut at = 0;
    for (from, to) in ranges {
        selectors.push(RowSelector::skip(from - at));
        selectors.push(RowSelector::select(to - from));
        at = to;
    }
    let picked: Vec<RecordBatch> =
        ParquetRecordBatchReaderBuilder::try_new_with_options(open(), options)
            .unwrap()
            .with_row_selection(RowSelection::from(selectors))
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
    let picked = concat_batches(&input.schema(), &picked).unwrap();
    let want: Vec<RecordBatch> = ranges
        .iter()
        .map(|&(from, to)| input.slice(from, to - from))
        .collect();
    let want = concat_batches(&input.schema(), &want).unwrap();
    assert_eq!(picked, want, "{codec}: rows picked through the page index");
}

#[test]
fn every_parquet_type_round_trips_exactly_when_row_groups_are_copied() {
    // The store takes 100-row row groups, so every source row group is copied page by
    // page: recompressed, or (same codec, source with an offset index) byte for byte.
    // Timestamp(Second) is not copied: its source pages are bare INT64s, stored again in
    // milliseconds with the timestamp type (every_parquet_type_round_trips_exactly).
    let all = all_types();
    let keep: Vec<usize> = (0..all.num_columns())
        .filter(|&i| all.schema().field(i).name() != "ts_s")
        .collect();
    let input = all.project(&keep).unwrap();
    let flat: Vec<usize> = (0..input.num_columns())
        .filter(|&i| !input.schema().field(i).data_type().is_nested())
        .collect();
    let flat_input = input.project(&flat).unwrap();
    assert!(flat_input.num_columns() > 30);
    for codec in ["snappy", "zstd", "gzip", "lz4", "brotli", "none"] {
        let all = "3 were copied page by page and 0 decoded";
        copy_and_check(&input, &shapes(true), codec, all);
        // Without an offset index, a flat column's pages are counted in rows...
        copy_and_check(&flat_input, &shapes(false), codec, all);
        // ... but a nested column's cannot be without decoding: such row groups are.
        copy_and_check(
            &input,
            &shapes(false),
            codec,
            "0 were copied page by page and 3 decoded",
        );
    }
}
