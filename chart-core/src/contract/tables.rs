//! The data root: discovery and validation of the Parquet files of `plays`, `songs`
//! and `venues` (and `fees` when present), and their registration as DataFusion tables.
//!
//! Every file's footer is read before any query runs, so an unreadable file or a
//! missing or mistyped column is reported with the file's path instead of failing
//! half-way through a chart. Hidden files (`.` or `_` prefix) and files without the
//! `.parquet` extension are ignored, as DataFusion's listing tables do.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use chrono::NaiveDate;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::common::runtime::SpawnedTask;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{Expr, cast};
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::contract::compaction::{
    counted_files, day_directory, is_compaction_output, read_markers,
};
use crate::contract::schema::{
    ContractTable, FEES, OPTIONAL_TABLES, PLAYS, PLAYS_PARTITION_COLUMN, SONGS, TABLES, VENUES,
};
use crate::contract::snapshot::{SnapshotStore, next_snapshot_id};
use crate::contract::store::Location;
use crate::error::{ChartError, Result};

/// One input file, as recorded in the publication manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// `plays`, `songs`, `venues` or `fees`.
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
    location: Location,
    files: Vec<InputFile>,
    fee_files: Vec<InputFile>,
    /// Why the fee files cannot be read, when one of them cannot.
    fee_error: Option<Arc<ChartError>>,
    play_days: BTreeMap<NaiveDate, i64>,
    /// The files' SHA-256, once read.
    checksums: Arc<tokio::sync::OnceCell<Vec<String>>>,
    /// The fee files' SHA-256, once read.
    fee_checksums: Arc<tokio::sync::OnceCell<Vec<String>>>,
    /// The files of every table as listed at open: what queries read.
    listed: Arc<Vec<ObjectMeta>>,
    /// The table directories `listed` covers.
    listed_directories: Vec<ObjectPath>,
    /// This opening's number (a runtime registers its listing once).
    snapshot_id: u64,
}

/// Footers read at the same time when opening a data root (object stores answer
/// faster to several requests in flight).
const FOOTER_READS_IN_FLIGHT: usize = 16;

/// Bytes read at a time when hashing an input file.
const HASH_READ: u64 = 4 << 20;

impl DataRoot {
    /// Lists and validates every table file under a local directory.
    pub async fn open(root: impl AsRef<Path>) -> Result<DataRoot> {
        let root = root.as_ref();
        if !root.is_dir() {
            return Err(ChartError::DataRootMissing(root.to_path_buf()));
        }
        DataRoot::open_location(&Location::local(root)?).await
    }

    /// Lists and validates every table file under a location (local or object store).
    pub async fn open_location(location: &Location) -> Result<DataRoot> {
        DataRoot::open_listing(location, None).await
    }

    /// [`DataRoot::open_location`] with only the `plays` of some business days (their
    /// `date=` directories alone are listed): what digesting a day reads.
    pub async fn open_days(location: &Location, days: &[NaiveDate]) -> Result<DataRoot> {
        DataRoot::open_listing(location, Some(days)).await
    }

    async fn open_listing(location: &Location, days: Option<&[NaiveDate]>) -> Result<DataRoot> {
        if let Some(path) = location.local_path().filter(|p| !p.is_dir()) {
            return Err(ChartError::DataRootMissing(path));
        }
        let mut files = Vec::new();
        let mut fee_files = Vec::new();
        let mut fee_error = None;
        let mut play_days = BTreeMap::new();
        let mut listed = Vec::new();
        let mut listed_directories = Vec::new();
        for (table, required) in TABLES
            .iter()
            .map(|t| (t, true))
            .chain(OPTIONAL_TABLES.iter().map(|t| (t, false)))
        {
            let dir = location.join(table.name);
            let all = match days {
                Some(days) if table.name == PLAYS.name => {
                    let mut all = Vec::new();
                    for day in days {
                        all.extend(dir.join(&day_directory(*day)).list().await?);
                    }
                    all
                }
                _ => dir.list().await?,
            };
            let skipped = if table.name == PLAYS.name {
                skipped_by_compactions(&dir, &all).await?
            } else {
                BTreeSet::new()
            };
            let objects: Vec<ObjectMeta> = all
                .into_iter()
                .filter(|o| is_table_file(&dir, &o.location) && !skipped.contains(&o.location))
                .collect();
            if objects.is_empty() && !required {
                continue;
            }
            if objects.is_empty() {
                let no_directory = location
                    .local_path()
                    .is_some_and(|p| !p.join(table.name).is_dir());
                return Err(if no_directory {
                    ChartError::TableMissing {
                        root: PathBuf::from(location.to_string()),
                        table: table.name,
                    }
                } else {
                    ChartError::NoFiles {
                        dir: PathBuf::from(dir.to_string()),
                        table: table.name,
                    }
                });
            }
            let checked: Result<Vec<(ObjectMeta, i64)>> = stream::iter(objects)
                .map(|object| {
                    let dir = &dir;
                    async move {
                        let rows = check_file(table, dir, &object).await?;
                        Ok::<_, ChartError>((object, rows))
                    }
                })
                .buffered(FOOTER_READS_IN_FLIGHT)
                .try_collect()
                .await;
            // A bad file of an optional table stops only what reads that table.
            let checked = match checked {
                Err(error) if !required => {
                    fee_error = Some(Arc::new(error));
                    continue;
                }
                other => other?,
            };
            listed_directories.push(dir.prefix().clone());
            for (object, rows) in checked {
                listed.push(object.clone());
                let relative = location
                    .relative(&object.location)
                    .expect("listed under the root");
                if table.name == PLAYS.name {
                    let day = partition_day(&dir, &object.location)?;
                    *play_days.entry(day).or_insert(0) += rows;
                }
                let file = InputFile {
                    table: table.name,
                    path: relative,
                    rows,
                    bytes: object.size,
                };
                if table.name == FEES.name {
                    fee_files.push(file);
                } else {
                    files.push(file);
                }
            }
        }
        Ok(DataRoot {
            location: location.clone(),
            files,
            fee_files,
            fee_error,
            play_days,
            checksums: Arc::default(),
            fee_checksums: Arc::default(),
            listed: Arc::new(listed),
            listed_directories,
            snapshot_id: next_snapshot_id(),
        })
    }

    /// Registers on `runtime` this root's store as it was listed at open, so that
    /// queries read exactly the files validated (and hashed into a manifest), even
    /// while files land or a day is compacted. Registering it again is a no-op.
    pub(crate) fn register_listing(&self, runtime: &RuntimeEnv) {
        let url = self.location.store_url();
        let current = ObjectStoreUrl::parse(url.as_str())
            .ok()
            .and_then(|u| runtime.object_store(u).ok());
        if current.as_ref().is_some_and(|s| {
            s.to_string()
                .starts_with(&SnapshotStore::tag(self.snapshot_id))
        }) {
            return;
        }
        let inner = current.unwrap_or_else(|| self.location.store().clone());
        runtime.register_object_store(
            url,
            Arc::new(SnapshotStore::new(
                self.snapshot_id,
                inner,
                self.listed_directories.clone(),
                self.listed.as_ref().clone(),
            )),
        );
    }

    /// Where the data root is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Every input file of the charts (`plays`, `songs`, `venues`), by table then path.
    pub fn files(&self) -> &[InputFile] {
        &self.files
    }

    /// The files of `fees`, by path (none when the data root has no fees): inputs
    /// of the distribution only, so that adding fees changes no chart's inputs.
    /// [`ChartError::BadFeeFile`] when one of them is unreadable or does not follow
    /// the contract (which stops the distribution, never the charts).
    pub fn fee_files(&self) -> Result<&[InputFile]> {
        match &self.fee_error {
            Some(error) => Err(ChartError::BadFeeFile {
                source: error.clone(),
            }),
            None => Ok(&self.fee_files),
        }
    }

    /// Rows per `date=` partition of `plays`, from the footers.
    pub fn play_days(&self) -> &BTreeMap<NaiveDate, i64> {
        &self.play_days
    }

    /// The SHA-256 (lowercase hex) of every input file, in the order of [`DataRoot::files`]:
    /// of its first [`InputFile::bytes`] bytes, the size it had when the root was read
    /// (a file shorter now is an error). Read once per data root (and its clones).
    pub async fn checksums(&self) -> Result<Vec<String>> {
        self.checksums
            .get_or_try_init(|| self.read_checksums(&self.files))
            .await
            .cloned()
    }

    /// The SHA-256 of every fee file, in the order of [`DataRoot::fee_files`], as
    /// [`DataRoot::checksums`].
    pub async fn fee_checksums(&self) -> Result<Vec<String>> {
        self.fee_checksums
            .get_or_try_init(|| async { self.read_checksums(self.fee_files()?).await })
            .await
            .cloned()
    }

    async fn read_checksums(&self, files: &[InputFile]) -> Result<Vec<String>> {
        // One task per file, so that files are hashed on every core, each read in
        // large ranges (a local file's stream comes in small chunks, each a wake-up of
        // a blocking thread: most of the time, measured).
        stream::iter(files.iter())
            .map(|file| {
                let path = self.location.join(&file.path);
                let size = file.bytes;
                SpawnedTask::spawn(async move {
                    let mut hasher = Sha256::new();
                    let mut start = 0;
                    while start < size {
                        let end = size.min(start + HASH_READ);
                        let bytes = path
                            .store()
                            .get_range(path.prefix(), start..end)
                            .await
                            .map_err(|e| path.error(path.prefix(), e))?;
                        hasher.update(&bytes);
                        start = end;
                    }
                    Ok::<_, ChartError>(crate::contract::hex(&hasher.finalize()))
                })
                .join()
                .map(|joined| joined.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?)
            })
            .buffered(FOOTER_READS_IN_FLIGHT)
            .try_collect()
            .await
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
            let url = self.location.join(table.name).table_url()?;
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(table.schema());
            Ok(Arc::new(ListingTable::try_new(config)?))
        };
        Ok(InputTables {
            plays: listing(&PLAYS)?,
            songs: listing(&SONGS)?,
            venues: listing(&VENUES)?,
            fees: match self.fee_files() {
                Ok(files) if !files.is_empty() => Some(listing(&FEES)?),
                _ => None,
            },
            root: Some(self.clone()),
            scope: None,
        })
    }
}

/// The three tables of the data contract, ready to be registered on a session:
/// from the files of a [`DataRoot`], or from data already in memory
/// ([`RecordBatch`]es or [`DataFrame`]s) that follows the contract of [`crate::contract::schema`].
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
    /// `fees`, when the data root has them (registered for SQL; the distribution
    /// reads the files themselves, to name a bad row's file and line).
    fees: Option<Arc<dyn TableProvider>>,
    root: Option<DataRoot>,
    /// What the plays are restricted to, when not every play of the data root.
    scope: Option<String>,
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
            fees: None,
            root: None,
            scope: None,
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
            fees: None,
            root: None,
            scope: None,
        })
    }

    /// The data root the tables read, when they come from files.
    pub fn data_root(&self) -> Option<&DataRoot> {
        self.root.as_ref()
    }

    /// The rows of `plays` when they come from files (from the footers; for a
    /// province's view, the rows of every province), for sizing the tables of
    /// queries over them.
    pub fn plays_rows(&self) -> Option<u64> {
        let root = self.root.as_ref()?;
        Some(
            root.play_days()
                .values()
                .map(|&rows| rows.max(0) as u64)
                .sum(),
        )
    }

    /// The provider of `plays`, `songs`, `venues` or (when present) `fees`.
    pub fn provider(&self, table: &str) -> Option<&Arc<dyn TableProvider>> {
        match table {
            "plays" => Some(&self.plays),
            "songs" => Some(&self.songs),
            "venues" => Some(&self.venues),
            "fees" => self.fees.as_ref(),
            _ => None,
        }
    }

    /// What the plays are restricted to (e.g. `province=广东`), when not every play of
    /// the data root: part of the key of day digests computed from them.
    pub(crate) fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The same tables, restricted to `scope`.
    pub(crate) fn scoped(mut self, scope: String) -> Self {
        self.scope = Some(scope);
        self
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

    /// Registers `plays`, `songs`, `venues` and (when present) `fees` on `ctx`,
    /// replacing tables of those names.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        if let Some(root) = &self.root {
            root.register_listing(&ctx.runtime_env());
        }
        for table in TABLES.iter().chain(&OPTIONAL_TABLES) {
            ctx.deregister_table(table.name)?;
            if let Some(provider) = self.provider(table.name) {
                ctx.register_table(table.name, provider.clone())?;
            }
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

/// The play files that committed compactions replaced, or that a compaction wrote
/// without committing (`contract::compaction`): listed, but not the table's.
async fn skipped_by_compactions(
    plays: &Location,
    objects: &[ObjectMeta],
) -> Result<BTreeSet<ObjectPath>> {
    let mut markers = read_markers(plays, objects).await?;
    // Days with files of a compaction that never committed have no marker.
    for object in objects {
        if let Some((partition, name)) = plays
            .relative(&object.location)
            .as_deref()
            .and_then(|r| r.split_once('/'))
            && is_compaction_output(name)
        {
            markers.entry(partition.to_string()).or_default();
        }
    }
    let mut skipped = BTreeSet::new();
    for (partition, markers) in &markers {
        let day_dir = plays.join(partition);
        let in_day: Vec<&ObjectMeta> = objects
            .iter()
            .filter(|o| {
                day_dir
                    .relative(&o.location)
                    .is_some_and(|r| !r.is_empty() && !r.contains('/'))
            })
            .collect();
        let names: Vec<String> = in_day
            .iter()
            .filter_map(|o| day_dir.relative(&o.location))
            .collect();
        let counted: BTreeSet<&str> = counted_files(&day_dir, &names, markers)?
            .into_iter()
            .collect();
        for (object, name) in in_day.iter().zip(&names) {
            if name.ends_with(".parquet") && !counted.contains(name.as_str()) {
                skipped.insert(object.location.clone());
            }
        }
    }
    Ok(skipped)
}

/// Whether an object under a table directory is one of its files: a `.parquet`
/// file with no hidden (`.` or `_`) directory or name on the way.
fn is_table_file(dir: &Location, path: &ObjectPath) -> bool {
    let Some(relative) = dir.relative(path) else {
        return false;
    };
    relative.ends_with(".parquet")
        && relative
            .split('/')
            .all(|part| !part.starts_with('.') && !part.starts_with('_'))
}

/// Bytes read from the end of a file in the first request for its footer.
const FOOTER_PREFETCH_BYTES: usize = 64 * 1024;

/// Byte ranges of one object, for the Parquet footer reader.
struct FooterFetch<'a> {
    store: &'a dyn ObjectStore,
    path: &'a ObjectPath,
}

impl MetadataFetch for FooterFetch<'_> {
    fn fetch(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

/// Reads a file's footer, checks its schema against the contract and returns its row count.
async fn check_file(table: &ContractTable, dir: &Location, object: &ObjectMeta) -> Result<i64> {
    let file = PathBuf::from(dir.describe(&object.location));
    let unreadable = |source: ParquetError| ChartError::UnreadableParquet {
        file: file.clone(),
        source,
    };
    let fetch = FooterFetch {
        store: dir.store().as_ref(),
        path: &object.location,
    };
    let footer = ParquetMetaDataReader::new()
        .with_prefetch_hint(Some(FOOTER_PREFETCH_BYTES))
        .load_and_finish(fetch, object.size)
        .await
        .map_err(unreadable)?;
    let metadata = ArrowReaderMetadata::try_new(Arc::new(footer), ArrowReaderOptions::new())
        .map_err(unreadable)?;
    table.check_file_schema(&file, metadata.schema())?;
    Ok(metadata.metadata().file_metadata().num_rows())
}

/// The business date of a play file's `date=YYYY-MM-DD` directory (directly under `plays/`).
fn partition_day(plays_dir: &Location, path: &ObjectPath) -> Result<NaiveDate> {
    let bad = || ChartError::BadPartition {
        file: PathBuf::from(plays_dir.describe(path)),
    };
    let relative = plays_dir.relative(path).ok_or_else(bad)?;
    let mut parts = relative.split('/');
    let dir = parts.next().ok_or_else(bad)?;
    if parts.count() != 1 {
        return Err(bad());
    }
    let value = dir
        .strip_prefix(&format!("{PLAYS_PARTITION_COLUMN}="))
        .ok_or_else(bad)?;
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())
}
