//! Compaction of a business day's play files: the small files a day's landing leaves
//! in `plays/date=D/` rewritten as a few files sorted by venue, room and start time
//! (the layout the job reads fastest), without a reader ever counting a play twice
//! or missing one.
//!
//! The protocol, in `plays/date=D/`:
//!
//! 1. the sorted rows are written to `compacted-<N>-<inputs>-<part>.parquet` (`<inputs>`:
//!    a hash of the names of the files read), files no reader counts until a marker
//!    names them;
//! 2. the marker `_compaction-<N>.json` is created (only if absent): it names the
//!    files it replaces and the files it wrote. From then on readers count the new
//!    files and skip the replaced ones: the marker is the commit;
//! 3. the replaced files are deleted later ([`remove_replaced`]), once readers that
//!    listed them before the commit are done.
//!
//! A crash before 2 leaves files no marker names (skipped, then overwritten or
//! removed); after 2, replaced files that are skipped until removed. A second
//! compaction of the day (after late plays) replaces the first one's files too.
//! Readers that do not know markers (another engine over the same files) see both
//! the old and the new files between 1 and 3.

use std::sync::Arc;

use arrow::datatypes::Schema;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, col};
use futures::{StreamExt, TryStreamExt, stream};
use object_store::ObjectMeta;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use crate::contract::hex;
use crate::contract::schema::{PLAYS, PLAYS_PARTITION_COLUMN};
use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use sha2::{Digest, Sha256};

/// The format of compaction markers.
pub const MARKER_FORMAT: &str = "golden-mic-compaction/1";

/// Markers are `_compaction-NNNNNN.json`: hidden from readers that list `.parquet` files.
const MARKER_PREFIX: &str = "_compaction-";

/// Files a compaction writes are `compacted-NNNNNN-<inputs>-PPPP.parquet`.
const OUTPUT_PREFIX: &str = "compacted-";

/// Markers read at the same time.
const MARKER_READS_IN_FLIGHT: usize = 16;

/// A committed compaction of one day: `plays/date=D/_compaction-NNNNNN.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionMarker {
    /// [`MARKER_FORMAT`].
    pub format: String,
    /// The business day (`YYYY-MM-DD`).
    pub day: String,
    /// N, from 1, the same in the marker's name and its files' names.
    pub sequence: u32,
    /// The files replaced (names in the day's directory).
    pub replaces: Vec<String>,
    /// The files written, sorted by venue, room and start time across them.
    pub written: Vec<String>,
    /// Rows replaced, and written.
    pub rows: i64,
    /// When the marker was written (RFC 3339, UTC).
    pub committed_at: String,
}

impl CompactionMarker {
    fn name(sequence: u32) -> String {
        format!("{MARKER_PREFIX}{sequence:06}.json")
    }
}

/// How [`compact_day`] compacts.
#[derive(Debug, Clone)]
pub struct CompactionOptions {
    /// Rows per written file (a day of 1.6 million plays fits one file).
    pub rows_per_file: usize,
    /// Memory the sort may use before spilling to disk.
    pub memory_limit: usize,
    /// A day compacted before is compacted again once it has this many files
    /// landed since (late plays); fewer are read as they are.
    pub min_new_files: usize,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            rows_per_file: 4_000_000,
            memory_limit: 128 << 20,
            min_new_files: 32,
        }
    }
}

/// The name of a day's directory under `plays/`.
pub fn day_directory(day: NaiveDate) -> String {
    format!("{PLAYS_PARTITION_COLUMN}={day}")
}

/// The markers of each partition directory (`date=…`) among `objects` (listed under
/// `plays`), in sequence order.
pub(crate) async fn read_markers(
    plays: &Location,
    objects: &[ObjectMeta],
) -> Result<BTreeMap<String, Vec<CompactionMarker>>> {
    let names: Vec<(String, String)> = objects
        .iter()
        .filter_map(|o| plays.relative(&o.location))
        .filter_map(|relative| {
            let (partition, name) = relative.split_once('/')?;
            (name.starts_with(MARKER_PREFIX) && name.ends_with(".json") && !name.contains('/'))
                .then(|| (partition.to_string(), relative.clone()))
        })
        .collect();
    let markers: Vec<(String, CompactionMarker)> = stream::iter(names)
        .map(|(partition, relative)| async move {
            let file = plays.join(&relative).to_string();
            let bytes = plays
                .read(&relative)
                .await?
                .ok_or_else(|| ChartError::Corrupt {
                    file: file.clone(),
                    problem: "listed, then missing".into(),
                })?;
            let marker: CompactionMarker =
                serde_json::from_slice(&bytes).map_err(|e| ChartError::Corrupt {
                    file: file.clone(),
                    problem: format!("not a compaction marker: {e}"),
                })?;
            if marker.format != MARKER_FORMAT {
                return Err(ChartError::Corrupt {
                    file,
                    problem: format!("format {}, expected {MARKER_FORMAT}", marker.format),
                });
            }
            Ok((partition, marker))
        })
        .buffered(MARKER_READS_IN_FLIGHT)
        .try_collect()
        .await?;
    let mut by_partition: BTreeMap<String, Vec<CompactionMarker>> = BTreeMap::new();
    for (partition, marker) in markers {
        by_partition.entry(partition).or_default().push(marker);
    }
    for markers in by_partition.values_mut() {
        markers.sort_by_key(|m| m.sequence);
    }
    Ok(by_partition)
}

/// The Parquet files of one day that count: every file but those replaced by a
/// marker and those a compaction wrote that no marker names. Fails, naming the
/// marker, when a file a marker wrote is missing.
pub(crate) fn counted_files<'a>(
    day_dir: &Location,
    names: &'a [String],
    markers: &[CompactionMarker],
) -> Result<Vec<&'a str>> {
    let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let replaced: BTreeSet<&str> = markers
        .iter()
        .flat_map(|m| m.replaces.iter().map(String::as_str))
        .collect();
    let mut written = BTreeSet::new();
    for marker in markers {
        for file in &marker.written {
            if !present.contains(file.as_str()) && !replaced.contains(file.as_str()) {
                return Err(ChartError::Corrupt {
                    file: day_dir
                        .join(&CompactionMarker::name(marker.sequence))
                        .to_string(),
                    problem: format!("names {file}, which is missing"),
                });
            }
            written.insert(file.as_str());
        }
    }
    Ok(names
        .iter()
        .map(String::as_str)
        .filter(|name| {
            name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_')
        })
        .filter(|name| !replaced.contains(name))
        .filter(|name| !name.starts_with(OUTPUT_PREFIX) || written.contains(name))
        .collect())
}

/// Whether a file name is one a compaction writes (counted only once a marker names it).
pub(crate) fn is_compaction_output(name: &str) -> bool {
    name.starts_with(OUTPUT_PREFIX) && name.ends_with(".parquet")
}

/// What a day's directory holds: its file names (sorted) and markers.
async fn day_state(
    root: &Location,
    day: NaiveDate,
) -> Result<(Location, Vec<String>, Vec<CompactionMarker>)> {
    let plays = root.join(PLAYS.name);
    let day_dir = plays.join(&day_directory(day));
    let objects = day_dir.list().await?;
    let names: Vec<String> = objects
        .iter()
        .filter_map(|o| day_dir.relative(&o.location))
        .filter(|r| !r.contains('/'))
        .collect();
    let markers = read_markers(&plays, &objects)
        .await?
        .remove(&day_directory(day))
        .unwrap_or_default();
    Ok((day_dir, names, markers))
}

/// The files of one day of `plays` under `root` that readers count, sorted.
pub async fn counted_day_files(root: &Location, day: NaiveDate) -> Result<Vec<String>> {
    let (day_dir, names, markers) = day_state(root, day).await?;
    Ok(counted_files(&day_dir, &names, &markers)?
        .into_iter()
        .map(String::from)
        .collect())
}

/// Compacts one day of `plays` under `root`, unless there is nothing to gain: no
/// files, or one file, or a day compacted before with fewer than
/// `options.min_new_files` files landed since. Returns the committed marker, or
/// `None` when nothing was done (or another compactor committed first).
pub async fn compact_day(
    root: &Location,
    day: NaiveDate,
    options: &CompactionOptions,
) -> Result<Option<CompactionMarker>> {
    let (day_dir, names, markers) = day_state(root, day).await?;
    let counted: Vec<String> = counted_files(&day_dir, &names, &markers)?
        .into_iter()
        .map(String::from)
        .collect();
    let compacted = counted
        .iter()
        .filter(|n| n.starts_with(OUTPUT_PREFIX))
        .count();
    let landed = counted.len() - compacted;
    let worth_it = if compacted == 0 {
        !counted.is_empty()
    } else {
        landed >= options.min_new_files.max(1)
    };
    if !worth_it {
        return Ok(None);
    }
    let sequence = markers.last().map_or(1, |m| m.sequence + 1);
    let (written, rows) = write_sorted(&day_dir, &counted, sequence, options).await?;
    let marker = CompactionMarker {
        format: MARKER_FORMAT.to_string(),
        day: day.to_string(),
        sequence,
        replaces: counted,
        written,
        rows,
        committed_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let bytes = serde_json::to_vec_pretty(&marker).expect("a marker serialises");
    if day_dir
        .create(&CompactionMarker::name(sequence), Bytes::from(bytes))
        .await?
    {
        tracing::info!(%day, sequence, files = marker.replaces.len(), rows, "day compacted");
        Ok(Some(marker))
    } else {
        // Another compactor committed N first; its files have the same names and,
        // from the same inputs, the same bytes.
        Ok(None)
    }
}

/// Reads `files` of a day, sorts their rows by venue, room and start time (then by
/// every other column, so that the bytes depend only on the rows) and writes them as
/// `compacted-N-PPPP.parquet` files of at most `rows_per_file` rows. Returns the
/// files' names and the rows written, checked against the rows read.
async fn write_sorted(
    day_dir: &Location,
    files: &[String],
    sequence: u32,
    options: &CompactionOptions,
) -> Result<(Vec<String>, i64)> {
    // One partition: one sort that has the whole pool and spills runs to disk past it,
    // with a quarter of the pool set aside for merging the runs (with DataFusion's
    // default of 10 MB, the merge of a day of 2 million plays ran out of memory).
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(options.memory_limit)))
        .build_arc()?;
    let mut config = SessionConfig::new().with_target_partitions(1);
    config.options_mut().execution.sort_spill_reservation_bytes = options.memory_limit / 4;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    day_dir.register_store(&ctx.runtime_env());
    let schema = Schema::new(
        PLAYS
            .schema()
            .fields()
            .iter()
            .filter(|f| f.name() != PLAYS_PARTITION_COLUMN)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let urls: Vec<String> = files.iter().map(|f| day_dir.join(f).file_url()).collect();
    let sort = [
        "venue_id",
        "room_id",
        "started_at",
        "event_id",
        "song_id",
        "played_ms",
        "vod_vendor",
    ]
    .map(|c| col(c).sort(true, false));
    let mut stream = ctx
        .read_parquet(urls, ParquetReadOptions::default().schema(&schema))
        .await?
        .sort(sort.to_vec())?
        .execute_stream()
        .await?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(Default::default()))
        .build();
    let mut written = Vec::new();
    let mut rows = 0i64;
    // Named by their inputs too: two compactors of the same day that saw different
    // files (two receivers landing into one root) never write the same name, and the
    // loser's files stay unnamed by any marker.
    let inputs = &hex(&Sha256::digest(files.join("\n").as_bytes()))[..12];
    // Each file is uploaded as it is written (a day's file is tens of MiB); it is
    // counted by no reader until the marker names it.
    let mut writer: Option<(AsyncArrowWriter<object_store::buffered::BufWriter>, usize)> = None;
    while let Some(batch) = stream.next().await {
        let mut batch = batch?;
        rows += batch.num_rows() as i64;
        while batch.num_rows() > 0 {
            let (current, in_file) = match writer.as_mut() {
                Some(w) => w,
                None => {
                    let name = format!(
                        "{OUTPUT_PREFIX}{sequence:06}-{inputs}-{:04}.parquet",
                        written.len()
                    );
                    let upload = day_dir.writer(&name);
                    let w = AsyncArrowWriter::try_new(upload, batch.schema(), Some(props.clone()))
                        .map_err(DataFusionError::from)?;
                    written.push(name);
                    writer.insert((w, 0))
                }
            };
            let take = batch.num_rows().min(options.rows_per_file - *in_file);
            current
                .write(&batch.slice(0, take))
                .await
                .map_err(DataFusionError::from)?;
            *in_file += take;
            batch = batch.slice(take, batch.num_rows() - take);
            if *in_file == options.rows_per_file {
                let (full, _) = writer.take().expect("a writer");
                full.close().await.map_err(DataFusionError::from)?;
            }
        }
    }
    if let Some((last, _)) = writer.take() {
        last.close().await.map_err(DataFusionError::from)?;
    }
    let read: i64 = footer_rows(&ctx, day_dir, files).await?;
    if read != rows {
        return Err(ChartError::Corrupt {
            file: day_dir.to_string(),
            problem: format!("compaction read {read} rows from the footers but sorted {rows}"),
        });
    }
    Ok((written, rows))
}

/// Rows of `files` by their footers.
async fn footer_rows(ctx: &SessionContext, day_dir: &Location, files: &[String]) -> Result<i64> {
    let urls: Vec<String> = files.iter().map(|f| day_dir.join(f).file_url()).collect();
    let batches = ctx
        .read_parquet(urls, ParquetReadOptions::default())
        .await?
        .count()
        .await?;
    Ok(batches as i64)
}

/// What [`remove_replaced`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Files deleted.
    pub removed: Vec<String>,
    /// Replaced files still there, their retention not over.
    pub retained: Vec<String>,
}

/// Deletes what committed compactions of `day` left behind: the files they replaced,
/// once their marker is older than `retain` (readers that listed them before have
/// finished), and files of compactions that never committed (numbered no higher than
/// the last committed one).
pub async fn remove_replaced(
    root: &Location,
    day: NaiveDate,
    now: DateTime<Utc>,
    retain: chrono::Duration,
) -> Result<Removal> {
    let (day_dir, names, markers) = day_state(root, day).await?;
    let present: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let last = markers.last().map_or(0, |m| m.sequence);
    let written: BTreeSet<&str> = markers
        .iter()
        .flat_map(|m| m.written.iter().map(String::as_str))
        .collect();
    let mut doomed: BTreeSet<&str> = BTreeSet::new();
    let mut retained: BTreeSet<&str> = BTreeSet::new();
    for marker in &markers {
        let committed = DateTime::parse_from_rfc3339(&marker.committed_at)
            .map_err(|e| ChartError::Corrupt {
                file: day_dir
                    .join(&CompactionMarker::name(marker.sequence))
                    .to_string(),
                problem: format!("committed_at: {e}"),
            })?
            .with_timezone(&Utc);
        let replaced = marker
            .replaces
            .iter()
            .map(String::as_str)
            .filter(|n| present.contains(n));
        if now - committed >= retain {
            doomed.extend(replaced);
        } else {
            retained.extend(replaced);
        }
    }
    for name in &present {
        let orphan = name
            .strip_prefix(OUTPUT_PREFIX)
            .and_then(|rest| rest.get(..6))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n <= last && !written.contains(name));
        if orphan {
            doomed.insert(name);
        }
    }
    let mut removal = Removal::default();
    for name in doomed.into_iter().filter(|n| present.contains(n)) {
        day_dir.delete(name).await?;
        removal.removed.push(name.to_string());
    }
    removal.retained = retained
        .into_iter()
        .filter(|n| !removal.removed.iter().any(|r| r == n))
        .map(String::from)
        .collect();
    Ok(removal)
}
