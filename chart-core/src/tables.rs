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

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{Expr, cast};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use serde::Serialize;

use crate::error::{ChartError, Result};
use crate::schema::{ContractTable, PLAYS, PLAYS_PARTITION_COLUMN, SONGS, TABLES, VENUES};

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

    /// The tables of this data root: `plays` (partitioned by `date`), `songs` and
    /// `venues` as listing tables with their canonical schemas.
    pub fn tables(&self) -> Result<InputTables> {
        let listing = |table: &ContractTable| -> Result<Arc<dyn TableProvider>> {
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
            let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(table.schema());
            Ok(Arc::new(ListingTable::try_new(config)?))
        };
        Ok(InputTables {
            plays: listing(&PLAYS)?,
            songs: listing(&SONGS)?,
            venues: listing(&VENUES)?,
            root: Some(self.clone()),
        })
    }
}

/// The three tables of the data contract, ready to be registered on a session:
/// from the files of a [`DataRoot`], or from data already in memory
/// ([`RecordBatch`]es or [`DataFrame`]s) that follows the contract of [`crate::schema`].
///
/// In-memory data is checked like files are: every contract column present with an
/// accepted type (extra columns are ignored), and exposed with the canonical types.
/// In-memory plays may carry the `date` partition column (`Date32`); without it,
/// `date` is NULL, which only matters for plays without `started_at`.
#[derive(Debug, Clone)]
pub struct InputTables {
    plays: Arc<dyn TableProvider>,
    songs: Arc<dyn TableProvider>,
    venues: Arc<dyn TableProvider>,
    root: Option<DataRoot>,
}

impl InputTables {
    /// Tables over record batches held in memory.
    pub fn from_batches(
        plays: Vec<RecordBatch>,
        songs: Vec<RecordBatch>,
        venues: Vec<RecordBatch>,
    ) -> Result<InputTables> {
        let memory =
            |table: &ContractTable, batches: Vec<RecordBatch>| -> Result<Arc<dyn TableProvider>> {
                let schema = exposed_schema(table);
                let batches = batches
                    .iter()
                    .enumerate()
                    .map(|(i, batch)| {
                        canonical_batch(
                            table,
                            &format!("in-memory {} batch {i}", table.name),
                            batch,
                            &schema,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
            };
        Ok(InputTables {
            plays: memory(&PLAYS, plays)?,
            songs: memory(&SONGS, songs)?,
            venues: memory(&VENUES, venues)?,
            root: None,
        })
    }

    /// Tables over data frames (of any session), read through the canonical schemas.
    pub fn from_data_frames(
        plays: DataFrame,
        songs: DataFrame,
        venues: DataFrame,
    ) -> Result<InputTables> {
        let view = |table: &ContractTable, df: DataFrame| -> Result<Arc<dyn TableProvider>> {
            let input = format!("in-memory {}", table.name);
            let schema = df.schema().as_arrow().clone();
            table.check_schema(&input, &schema)?;
            let mut columns: Vec<Expr> = table
                .columns
                .iter()
                .map(|c| cast(col(c.name), c.column_type.canonical()).alias(c.name))
                .collect();
            if table.name == PLAYS.name {
                columns.push(match schema.field_with_name(PLAYS_PARTITION_COLUMN) {
                    Ok(field) if field.data_type() == &DataType::Date32 => {
                        col(PLAYS_PARTITION_COLUMN)
                    }
                    Ok(field) => {
                        return Err(ChartError::ColumnType {
                            input,
                            column: PLAYS_PARTITION_COLUMN,
                            found: field.data_type().to_string(),
                            expected: "Date32",
                        });
                    }
                    Err(_) => lit(ScalarValue::Date32(None)).alias(PLAYS_PARTITION_COLUMN),
                });
            }
            Ok(df.select(columns)?.into_view())
        };
        Ok(InputTables {
            plays: view(&PLAYS, plays)?,
            songs: view(&SONGS, songs)?,
            venues: view(&VENUES, venues)?,
            root: None,
        })
    }

    /// The data root the tables read, when they come from files.
    pub fn data_root(&self) -> Option<&DataRoot> {
        self.root.as_ref()
    }

    /// The provider of `plays`, `songs` or `venues`.
    pub fn provider(&self, table: &str) -> Option<&Arc<dyn TableProvider>> {
        match table {
            "plays" => Some(&self.plays),
            "songs" => Some(&self.songs),
            "venues" => Some(&self.venues),
            _ => None,
        }
    }

    /// The same tables with another provider for `plays`, `songs` or `venues`.
    pub(crate) fn with_provider(mut self, table: &str, provider: Arc<dyn TableProvider>) -> Self {
        match table {
            "plays" => self.plays = provider,
            "songs" => self.songs = provider,
            _ => self.venues = provider,
        }
        self
    }

    /// Registers `plays`, `songs` and `venues` on `ctx`, replacing tables of those names.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        for table in TABLES {
            let provider = self.provider(table.name).expect("a contract table").clone();
            ctx.deregister_table(table.name)?;
            ctx.register_table(table.name, provider)?;
        }
        Ok(())
    }
}

/// The schema a table exposes: the canonical columns, and `date` for `plays`.
fn exposed_schema(table: &ContractTable) -> SchemaRef {
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if table.name == PLAYS.name {
        fields.push(Field::new(PLAYS_PARTITION_COLUMN, DataType::Date32, true));
    }
    Arc::new(Schema::new(fields))
}

/// Checks a batch against the contract and casts it to the exposed schema.
fn canonical_batch(
    table: &ContractTable,
    input: &str,
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    table.check_schema(input, &batch.schema())?;
    let arrow_error = |e: ArrowError| ChartError::Query(e.into());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in table.columns {
        let column = batch
            .column_by_name(c.name)
            .expect("checked by the contract");
        columns
            .push(arrow::compute::cast(column, &c.column_type.canonical()).map_err(arrow_error)?);
    }
    if table.name == PLAYS.name {
        columns.push(match batch.column_by_name(PLAYS_PARTITION_COLUMN) {
            Some(date) if date.data_type() == &DataType::Date32 => date.clone(),
            Some(date) => {
                return Err(ChartError::ColumnType {
                    input: input.to_string(),
                    column: PLAYS_PARTITION_COLUMN,
                    found: date.data_type().to_string(),
                    expected: "Date32",
                });
            }
            None => arrow::array::new_null_array(&DataType::Date32, batch.num_rows()),
        });
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_error)
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
