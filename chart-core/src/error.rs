//! The typed errors of the library. Every message is one line and names the file,
//! column, value or period at fault.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// Everything that can go wrong while reading play data, computing charts or publishing them.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The data root does not exist or is not a directory.
    #[error("data root {0} does not exist or is not a directory")]
    DataRootMissing(PathBuf),
    /// A table directory is missing under the data root.
    #[error("data root {root}: missing table directory {table}/")]
    TableMissing {
        /// The data root.
        root: PathBuf,
        /// `plays`, `songs` or `venues`.
        table: &'static str,
    },
    /// A table directory holds no Parquet file.
    #[error("{dir}: no Parquet files for table {table}")]
    NoFiles {
        /// The table directory.
        dir: PathBuf,
        /// The table.
        table: &'static str,
    },
    /// A file or directory of the data root could not be listed or read.
    #[error("{path}: {source}")]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not readable as Parquet.
    #[error("{file}: unreadable Parquet file: {source}")]
    UnreadableParquet {
        /// The file.
        file: PathBuf,
        /// What the Parquet reader said.
        source: datafusion::parquet::errors::ParquetError,
    },
    /// A required column is absent from a file or in-memory table.
    #[error("{input}: missing column `{column}` required by table {table}")]
    MissingColumn {
        /// The file, or the in-memory table.
        input: String,
        /// The table the file belongs to.
        table: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// A column has a type the data contract does not allow.
    #[error("{input}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The file, or the in-memory table.
        input: String,
        /// The column.
        column: &'static str,
        /// The type found in the file.
        found: String,
        /// The types the contract allows.
        expected: &'static str,
    },
    /// A play file is not inside a `date=YYYY-MM-DD` partition directory.
    #[error("{file}: play files must be under plays/date=YYYY-MM-DD/")]
    BadPartition {
        /// The file.
        file: PathBuf,
    },
    /// A row of an input holds a value the data contract does not allow.
    #[error("{input}: row {row}, column `{column}`: {problem}")]
    BadValue {
        /// The file, or the in-memory table.
        input: String,
        /// The row, from 1.
        row: usize,
        /// The column.
        column: &'static str,
        /// What is wrong, quoting the value.
        problem: String,
    },
    /// A file of `fees` is unreadable or does not follow the contract (found when the
    /// data root was opened; only what reads the fees stops).
    #[error("{source}")]
    BadFeeFile {
        /// What was wrong with the file, naming it.
        source: std::sync::Arc<ChartError>,
    },
    /// The distribution was asked of a data root without a `fees` table.
    #[error("{root}: no fees/*.parquet: the distribution needs the licence fees collected")]
    NoFees {
        /// The data root.
        root: String,
    },
    /// The distribution was asked of a period without fee rows.
    #[error("{period}: fees/ has no fee row for its months")]
    NoFeeRows {
        /// The period.
        period: String,
    },
    /// A sum of amounts does not fit in a signed 64-bit number of fen.
    #[error("{what}: the sum of amounts exceeds 9223372036854775807 fen")]
    AmountOverflow {
        /// What was being added up.
        what: String,
    },
    /// A count of plays does not fit in the 32 bits the distribution keeps it in.
    #[error("{what}: more than 4294967295 counted plays")]
    CountOverflow {
        /// What was being counted.
        what: String,
    },
    /// A key that must be unique appears more than once.
    #[error("table {table}: {column} `{value}` appears more than once")]
    DuplicateKey {
        /// The table.
        table: &'static str,
        /// The key column.
        column: &'static str,
        /// One duplicated value.
        value: String,
    },
    /// The requested period has no plays to chart.
    #[error("no plays for {period}: {detail}")]
    NoData {
        /// The period.
        period: String,
        /// What was found instead.
        detail: String,
    },
    /// A regional chart was asked for a province without venues.
    #[error("unknown province `{province}`: venues has {known}")]
    UnknownProvince {
        /// The province asked for.
        province: String,
        /// The provinces of `venues`, comma-separated.
        known: String,
    },
    /// A period string is neither `YYYY-MM` nor `YYYY`.
    #[error("invalid period `{0}`: expected YYYY-MM (a month) or YYYY (a year)")]
    InvalidPeriod(String),
    /// A methodology parameter is out of range.
    #[error("invalid methodology: {0}")]
    InvalidMethodology(String),
    /// A result was asked of an engine that keeps the tables of another period kind.
    #[error(
        "{period}: this engine was materialised for {materialized} periods only; ask the engine it was materialised from"
    )]
    NotMaterialized {
        /// The period asked for.
        period: String,
        /// The period kind the engine keeps (`month` or `year`).
        materialized: &'static str,
    },
    /// Computing, reading or merging day digests failed on data the digests do not
    /// support (a value past what a merge can code, a failed task).
    #[error("day digest: {problem}")]
    DayDigest {
        /// What went wrong, naming the value at fault.
        problem: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The live month cannot count or rank what it was given.
    #[error("live month: {0}")]
    Live(String),
    /// Day digests were asked of plays that are not files in `date=` partitions.
    #[error("day digests need plays from files in date= partitions; these plays are in memory")]
    DayDigestsNeedFiles,
    /// An output could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Encoding an output failed.
    #[error("cannot encode {path}: {source}")]
    Encode {
        /// The output file.
        path: PathBuf,
        /// What the encoder (Parquet, CSV, JSON) said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A read-only session refused a statement that changes the session or writes files.
    #[error(
        "{statement} refused: the session is read-only (queries, EXPLAIN, DESCRIBE and SHOW only)"
    )]
    ReadOnly {
        /// The kind of statement, e.g. `INSERT` or `CREATE EXTERNAL TABLE`.
        statement: String,
    },
    /// No table, view or table function has this name.
    #[error("no table, view or table function named `{name}`")]
    UnknownRelation {
        /// The name asked for.
        name: String,
    },
    /// A path or URL given as a data root or output cannot be used.
    #[error("{location}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Reading or writing an object store failed. The message is the store's answer in
    /// short (`NoSuchBucket`, `access denied`, `cannot reach the endpoint`); the full
    /// error is the source.
    #[error("{location}: {reason}")]
    Store {
        /// The object or prefix.
        location: String,
        /// What the store said, in short.
        reason: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A period has no published version (or not the one asked for).
    #[error("{period} is not published under {out}{detail}")]
    NotPublished {
        /// The period.
        period: String,
        /// The output root.
        out: String,
        /// More about what was asked, e.g. ` as version 3`.
        detail: String,
    },
    /// Other publishers took every version number this one tried.
    #[error(
        "{period}: other publishers wrote {attempts} versions in a row before this one could; nothing of this run is referenced, run it again"
    )]
    CommitConflict {
        /// The period directory.
        period: String,
        /// The attempts made.
        attempts: u32,
    },
    /// A month before its methodology takes effect, published without `--backtest`
    /// (or with it, for a month it is in effect for).
    #[error("{0}")]
    NotInEffect(String),
    /// A screened month already published needs a reason for its next edition.
    #[error(
        "{period} is published (edition {edition}): a correction publishes edition {next}, which needs its reason (--reason)"
    )]
    EditionNeedsReason {
        /// The period.
        period: String,
        /// The current edition.
        edition: u32,
        /// The edition that would be published.
        next: u32,
    },
    /// A published file does not match its manifest.
    #[error("{file}: {problem}")]
    Corrupt {
        /// The file.
        file: String,
        /// What does not match.
        problem: String,
    },
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] DataFusionError),
}

/// The library's result type.
pub type Result<T, E = ChartError> = std::result::Result<T, E>;
