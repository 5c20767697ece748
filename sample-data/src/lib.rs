//! Deterministic sample data in the Golden Mic data contract, calibrated to the
//! 2024 annual report of the karaoke collecting society (see `shared/seeds/`).
//!
//! The generator writes a data root with four tables:
//!
//! * `venues/venues.parquet`: every licensed venue, of which exactly
//!   [`Calibration::CONNECTED_VENUES_2024`] are connected to the data platform at
//!   the end of 2024, in [`Calibration::PROVINCES`] provinces and
//!   [`Calibration::CITIES`] cities with [`Calibration::ROOMS`] rooms, and
//!   [`Calibration::LICENSED_VENUES_2024`] licensed venues in all (11.9% coverage);
//! * `songs/songs.parquet`: the licensed catalogue (529,863 works by default);
//! * `plays/date=YYYY-MM-DD/*.parquet`: play events partitioned by business day;
//! * `fees/fees-YYYY.parquet`: the licence fees of every licensed venue (connected or
//!   not), per room and month of each calendar year with plays, a year adding up to
//!   [`Calibration::KTV_FEES_2024_FEN`].
//!
//! The plays exercise every GM-1 rule: Zipf-like song popularity with a boost for
//! recent releases, evening-heavy sessions that cross midnight and the 06:00
//! business-day boundary, short plays (including exactly 29,999 and 30,000 ms),
//! re-sent events (same `event_id`, sometimes in another file), room loops that
//! exceed the room cap, plays of unknown songs and from unknown venues. String
//! columns are written as `Utf8`, `LargeUtf8`, `Utf8View` or dictionary-encoded
//! depending on the day, and some files carry an extra column, because the data
//! contract allows all of these.
//!
//! Everything is a pure function of [`SampleSpec`]: the same spec writes the
//! same rows.

#![warn(missing_docs)]

mod fees;
pub mod manipulation;
mod names;
mod plays;
mod songs;
mod venues;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use chrono::Datelike;
pub use chrono::NaiveDate;
pub use plays::PlaySummary;

/// Figures from the 2024 annual report that the default sample data reproduces.
pub struct Calibration;

impl Calibration {
    /// Venues connected to the data platform at the end of 2024.
    pub const CONNECTED_VENUES_2024: usize = 1_515;
    /// Provinces with at least one connected venue at the end of 2024.
    pub const PROVINCES: usize = 28;
    /// Cities (distinct province + city) with a connected venue at the end of 2024.
    pub const CITIES: usize = 167;
    /// Rooms in the connected venues at the end of 2024 (the report says "about 33,000").
    pub const ROOMS: i64 = 33_000;
    /// Licensed (fee-paying) venues at the end of 2024: 1,515 is 11.9% of them.
    pub const LICENSED_VENUES_2024: usize = 12_731;
    /// Venues that joined the platform during 2024.
    pub const NEW_VENUES_2024: usize = 599;
    /// Venues that joined the platform during 2023.
    pub const NEW_VENUES_2023: usize = 363;
    /// Works in the licensed music-video catalogue.
    pub const CATALOGUE: usize = 529_863;
    /// Licence fees collected from KTV venues in 2024, in fen: 379.54 million yuan.
    pub const KTV_FEES_2024_FEN: i64 = 37_954_000_000;
}

/// What to generate. [`SampleSpec::default`] is the demo data set.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    /// Seed of every random choice.
    pub seed: u64,
    /// Play events per calendar month, before re-sent copies are added.
    pub plays_per_month: usize,
    /// First month with plays (its first day).
    pub first_month: NaiveDate,
    /// Number of consecutive months with plays.
    pub months: u32,
    /// Number of songs in the catalogue.
    pub catalogue_size: usize,
    /// Row order inside each business day's files.
    pub play_order: PlayOrder,
}

/// Row order of the plays inside a business day's files. The contract allows any
/// order; the order changes only how fast the files are read and charted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlayOrder {
    /// As the rooms' sessions were generated: one session's plays in a row.
    Arrival,
    /// By venue, room and start time: what a compaction of the day's reports per room
    /// writes, and the order the benchmark measures (docs/PERFORMANCE.md).
    #[default]
    VenueRoom,
    /// By song, venue, room and start time (clustered by what the charts group by).
    Song,
}

impl Default for SampleSpec {
    fn default() -> Self {
        SampleSpec {
            seed: 2024,
            plays_per_month: 100_000,
            first_month: NaiveDate::from_ymd_opt(2024, 7, 1).expect("valid date"),
            months: 6,
            catalogue_size: Calibration::CATALOGUE,
            play_order: PlayOrder::default(),
        }
    }
}

impl SampleSpec {
    /// A small spec for tests: few plays, a small catalogue, three months.
    pub fn small(seed: u64) -> Self {
        SampleSpec {
            seed,
            plays_per_month: 6_000,
            first_month: NaiveDate::from_ymd_opt(2024, 10, 1).expect("valid date"),
            months: 3,
            catalogue_size: 3_000,
            play_order: PlayOrder::default(),
        }
    }

    /// The calendar months with plays, as their first days.
    pub fn month_starts(&self) -> Vec<NaiveDate> {
        (0..self.months)
            .map(|i| {
                self.first_month
                    .checked_add_months(chrono::Months::new(i))
                    .expect("month in range")
            })
            .collect()
    }
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Parquet encoding failed.
    #[error("cannot write {path}: {source}")]
    Parquet {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// The spec cannot be generated.
    #[error("invalid sample spec: {0}")]
    InvalidSpec(String),
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct SampleSummary {
    /// Rows in `venues`.
    pub venues: usize,
    /// Rows in `songs`.
    pub songs: usize,
    /// Play rows written, per kind of trap.
    pub plays: PlaySummary,
    /// Rows in `fees`.
    pub fees: usize,
}

/// Generates the data root at `root` (created if absent; existing tables are replaced).
pub fn generate(spec: &SampleSpec, root: &Path) -> Result<SampleSummary, SampleError> {
    if spec.catalogue_size < 100 {
        return Err(SampleError::InvalidSpec(format!(
            "catalogue_size must be at least 100, got {}",
            spec.catalogue_size
        )));
    }
    if spec.months == 0 {
        return Err(SampleError::InvalidSpec("months must be at least 1".into()));
    }
    let venues = venues::generate_venues(spec.seed);
    let last_month = *spec.month_starts().last().expect("months >= 1");
    let last_release = last_month
        .checked_add_months(chrono::Months::new(1))
        .expect("in range")
        - chrono::Duration::days(1);
    let songs = songs::generate_songs(spec.seed, spec.catalogue_size, last_release);
    for table in ["venues", "songs", "plays", "fees"] {
        let dir = root.join(table);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|source| SampleError::Io {
                path: dir.clone(),
                source,
            })?;
        }
    }
    write_parquet(
        &root.join("venues").join("venues.parquet"),
        &venues::venues_batch(&venues),
    )?;
    write_parquet(
        &root.join("songs").join("songs.parquet"),
        &songs::songs_batch(&songs),
    )?;
    let plays = plays::generate_plays(spec, &venues, &songs, &root.join("plays"))?;
    let mut years: Vec<i32> = spec.month_starts().iter().map(|m| m.year()).collect();
    years.dedup();
    let mut fees = 0;
    for year in years {
        let batch = fees::fees_batch(&venues, year);
        fees += batch.num_rows();
        write_parquet(
            &root.join("fees").join(format!("fees-{year}.parquet")),
            &batch,
        )?;
    }
    Ok(SampleSummary {
        venues: venues.len(),
        songs: songs.len(),
        plays,
        fees,
    })
}

/// Writes one batch as a zstd-compressed Parquet file, creating its directory.
pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<(), SampleError> {
    write_parquet_batches(path, batch.schema(), std::slice::from_ref(batch))
}

pub(crate) fn write_parquet_batches(
    path: &Path,
    schema: Arc<Schema>,
    batches: &[RecordBatch],
) -> Result<(), SampleError> {
    let io_err = |source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let pq_err = |source| SampleError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let file = fs::File::create(path).map_err(io_err)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(pq_err)?;
    for batch in batches {
        writer.write(batch).map_err(pq_err)?;
    }
    writer.close().map_err(pq_err)?;
    Ok(())
}

/// A late play: the first play of `source` (a `plays` Parquet file) reported again
/// under a new `event_id`, as a venue's system does when it uploads a play it had
/// missed. Returns the Parquet bytes of that one-row file, to be put beside `source`.
pub fn late_play(source: &Path, event_id: &str) -> Result<Vec<u8>, SampleError> {
    let read_error = |e: parquet::errors::ParquetError| SampleError::Parquet {
        path: source.to_path_buf(),
        source: e,
    };
    let file = fs::File::open(source).map_err(|e| SampleError::Io {
        path: source.to_path_buf(),
        source: e,
    })?;
    let mut reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(read_error)?
        .with_batch_size(1)
        .build()
        .map_err(read_error)?;
    let first = reader
        .next()
        .ok_or_else(|| SampleError::InvalidSpec(format!("{} has no rows", source.display())))?
        .map_err(|e| read_error(e.into()))?;
    let schema = first.schema();
    let index = schema
        .index_of("event_id")
        .map_err(|e| read_error(e.into()))?;
    let id: arrow::array::ArrayRef = Arc::new(arrow::array::StringArray::from(vec![event_id]));
    let id = arrow::compute::cast(&id, schema.field(index).data_type())
        .map_err(|e| read_error(e.into()))?;
    let mut columns = first.columns().to_vec();
    columns[index] = id;
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| read_error(e.into()))?;
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).map_err(read_error)?;
    writer.write(&batch).map_err(read_error)?;
    writer.close().map_err(read_error)?;
    Ok(bytes)
}

/// The venues of `spec` connected before its first month, as `(venue_id, province)` in
/// `venue_id` order: senders whose plays every month of the sample counts.
pub fn connected_venues(spec: &SampleSpec) -> Vec<(String, String)> {
    let first_day = spec.month_starts()[0];
    let mut connected: Vec<(String, String)> = venues::generate_venues(spec.seed)
        .into_iter()
        .filter(|v| v.connected_on.is_some_and(|c| c < first_day))
        .map(|v| (v.venue_id, v.province))
        .collect();
    connected.sort();
    connected
}
