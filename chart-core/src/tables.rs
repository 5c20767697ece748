//! The data root: discovery and validation of the Parquet files of `plays`, `songs`
//! and `venues`, and their registration as DataFusion tables.
//!
//! Every file's footer is read before any query runs, so an unreadable file or a
//! missing or mistyped column is reported with the file's path instead of failing
//! half-way through a chart. Hidden files (`.` or `_` prefix) and files without the
//! `.parquet` extension are ignored, as DataFusion's listing tables do.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::prelude::SessionContext;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use serde::Serialize;

use crate::error::{ChartError, Result};
use crate::schema::{ContractTable, PLAYS, PLAYS_PARTITION_COLUMN, TABLES};

/// One input file, as recorded in the publication manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// `plays`, `songs` or `venues`.
    pub table: &'static str,
    /// Path relative to the data root, with `/` separators.
    pub path: String,
    /// Rows, from the Parquet footer.
    pub rows: i64,
    /// Size in bytes.
    pub bytes: u64,
}

/// The validated files of a data root.
#[derive(Debug, Clone)]
pub struct DataRoot {
    root: PathBuf,
    files: Vec<InputFile>,
    play_days: BTreeMap<NaiveDate, i64>,
}

impl DataRoot {
    /// Lists and validates every table file under `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<DataRoot> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(ChartError::DataRootMissing(root));
        }
        let mut files = Vec::new();
        let mut play_days = BTreeMap::new();
        for table in TABLES {
            let dir = root.join(table.name);
            if !dir.is_dir() {
                return Err(ChartError::TableMissing {
                    root,
                    table: table.name,
                });
            }
            let mut paths = Vec::new();
            list_parquet_files(&dir, &mut paths)?;
            paths.sort();
            if paths.is_empty() {
                return Err(ChartError::NoFiles {
                    dir,
                    table: table.name,
                });
            }
            for path in paths {
                let rows = check_file(&table, &path)?;
                if table.name == PLAYS.name {
                    let day = partition_day(&dir, &path)?;
                    *play_days.entry(day).or_insert(0) += rows;
                }
                let bytes = fs::metadata(&path)
                    .map_err(|source| ChartError::Io {
                        path: path.clone(),
                        source,
                    })?
                    .len();
                let relative = path
                    .strip_prefix(&root)
                    .expect("listed under the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                files.push(InputFile {
                    table: table.name,
                    path: relative,
                    rows,
                    bytes,
                });
            }
        }
        Ok(DataRoot {
            root,
            files,
            play_days,
        })
    }

    /// The data root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Every input file, by table then path.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// Rows per `date=` partition of `plays`, from the footers.
    pub fn play_days(&self) -> &BTreeMap<NaiveDate, i64> {
        &self.play_days
    }

    /// Registers `plays` (partitioned by `date`), `songs` and `venues` on `ctx`
    /// with their canonical schemas.
    pub async fn register(&self, ctx: &SessionContext) -> Result<()> {
        for table in TABLES {
            let mut options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            if table.name == PLAYS.name {
                options = options.with_table_partition_cols(vec![(
                    PLAYS_PARTITION_COLUMN.to_string(),
                    DataType::Date32,
                )]);
            }
            let dir = self.root.join(table.name);
            let dir = fs::canonicalize(&dir).map_err(|source| ChartError::Io {
                path: dir.clone(),
                source,
            })?;
            let url = format!("file://{}/", dir.display());
            ctx.register_listing_table(table.name, url, options, Some(table.schema()), None)
                .await?;
        }
        Ok(())
    }
}

fn list_parquet_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|source| ChartError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ChartError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            list_parquet_files(&path, out)?;
        } else if name.ends_with(".parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a file's footer, checks its schema against the contract and returns its row count.
fn check_file(table: &ContractTable, path: &Path) -> Result<i64> {
    let file = fs::File::open(path).map_err(|source| ChartError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
        ChartError::UnreadableParquet {
            file: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    table.check_file_schema(path, metadata.schema())?;
    Ok(metadata.metadata().file_metadata().num_rows())
}

/// The business date of a play file's `date=YYYY-MM-DD` directory (directly under `plays/`).
fn partition_day(plays_dir: &Path, path: &Path) -> Result<NaiveDate> {
    let bad = || ChartError::BadPartition {
        file: path.to_path_buf(),
    };
    let relative = path.strip_prefix(plays_dir).map_err(|_| bad())?;
    let mut parts = relative.components();
    let dir = parts.next().ok_or_else(bad)?.as_os_str().to_string_lossy();
    if parts.count() != 1 {
        return Err(bad());
    }
    let value = dir
        .strip_prefix(&format!("{PLAYS_PARTITION_COLUMN}="))
        .ok_or_else(bad)?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())
}
