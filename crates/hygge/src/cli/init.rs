//! `hygge init NAME`: a project that runs at once, with a tiny sample dataset.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use hygge_connectors::format::parquet::{Codec, ParquetWriteOptions};
use hygge_connectors::format::{WriteOptions, create_writer};

use super::{CliError, Outcome};

/// `hygge init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project's name; a folder of that name is created.
    name: String,
    /// The folder of flows inside the project.
    #[arg(short = 'd', long, default_value = "flows")]
    flows_dir: String,
    /// Write into an existing folder (files hygge writes are overwritten; others are kept).
    #[arg(short, long)]
    force: bool,
}

pub fn run(args: &InitArgs) -> Result<Outcome, CliError> {
    let root = Path::new(&args.name);
    if root.exists() && !args.force {
        return Err(CliError::ProjectExists(root.to_path_buf()));
    }
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.name.clone());
    write_project(root, &name, &args.flows_dir).map_err(|e| CliError::CreateProject {
        path: root.to_path_buf(),
        message: e.to_string(),
    })?;
    print_created(root, &name, &args.flows_dir);
    Ok(Outcome::Succeeded)
}

/// What was created, and what to do next.
fn print_created(root: &Path, name: &str, flows_dir: &str) {
    println!("Created hygge project `{name}` in {}", root.display());
    println!();
    println!("  {}/hygge.yml", root.display());
    println!("  {}/{flows_dir}/example_flow/flow.yml", root.display());
    println!(
        "  {}/{flows_dir}/example_flow/entities/users.yml",
        root.display()
    );
    println!(
        "  {}/data/source/users/users.parquet  (10 sample rows)",
        root.display()
    );
    println!();
    println!("Next: cd {} && hygge go", root.display());
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

fn write_project(
    root: &Path,
    name: &str,
    flows_dir: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    write(
        &root.join("hygge.yml"),
        &format!(
            "# hygge project: https://github.com/pineydata/hygge\nname: {name}\nflows_dir: {flows_dir}\n\noptions:\n  log_level: INFO\n  continue_on_error: false\n"
        ),
    )?;
    let flow = root.join(flows_dir).join("example_flow");
    write(
        &flow.join("flow.yml"),
        "# Moves every entity from data/source/<entity> to data/destination/<entity>.\nhome:\n  type: parquet\n  path: data/source\nstore:\n  type: parquet\n  path: data/destination\n  compression: snappy\nrun_type: full_drop\n\n# Merged under every file in entities/.\ndefaults:\n  batch_size: 10000\n",
    )?;
    write(&flow.join("entities").join("users.yml"), "name: users\n")?;
    let data = root.join("data").join("source").join("users");
    std::fs::create_dir_all(&data)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("email", DataType::Utf8, true),
        Field::new("signed_up", DataType::Date32, true),
        Field::new("is_active", DataType::Boolean, true),
    ]));
    let names = [
        "Ada", "Bjørn", "Chloé", "Dmitri", "Eun-ji", "Femi", "Greta", "Hiro", "Inés", "Jonas",
    ];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=10)) as ArrayRef,
            Arc::new(StringArray::from_iter_values(names)),
            Arc::new(StringArray::from_iter(names.iter().enumerate().map(
                |(i, n)| (i % 4 != 3).then(|| format!("{}@example.com", n.to_lowercase())),
            ))),
            Arc::new(Date32Array::from_iter_values(
                (0..10).map(|i| 19_000 + i * 37),
            )),
            Arc::new(BooleanArray::from_iter((0..10).map(|i| Some(i % 3 != 0)))),
        ],
    )?;
    let options = WriteOptions::Parquet(ParquetWriteOptions {
        codec: Codec::Snappy,
        level: None,
        row_group_size: 10,
        copy_row_groups: false,
    });
    let mut w = create_writer(&data.join("users.parquet"), schema, &options, true)?;
    w.write(&batch)?;
    w.finish()?;
    Ok(())
}
