//! Day digests: what each `date=` partition of `plays` contributes to the charts,
//! computed on that partition alone, kept, and merged per period, instead of one
//! pass of `classified_plays` over every play at each publication.
//!
//! A digest is the view `room_day_events` (events and rows per business day, venue,
//! room, song and first rule of `checked_plays`) over one partition, with its ids
//! coded as integers, plus the sorted 64-bit hashes of the partition's event ids
//! (computed in Rust over the plays, `digest.rs`, and tested equal to the view).
//! Nothing in it depends on `songs` or `venues`: they are looked up when digests
//! are merged, on the digests' dictionaries.
//!
//! Re-sent events count once over the whole `plays` table, and a partition only
//! knows its own copies. So the partitions that share an event id hash are grouped
//! (a false match only joins partitions, which stays exact), and a group of more
//! than one partition is digested as one unit, on all of its plays. Deduplication
//! within a unit is then deduplication over the table, and merging the units gives
//! `song_period_stats` and `room_period_outcomes` as their SQL does (tests in
//! `tests/day_digests.rs`).
//!
//! A unit's digest is kept under a directory named by its key (the SHA-256 of the
//! format, the parameters `checked_plays` depends on and the unit's files with their
//! SHA-256), as `songs.parquet` (the song ids, sorted: a song's code is its row),
//! `rooms.parquet` (venue and room ids: a room's code is its row), `entries.parquet`
//! (song, room, business day, first rule, events, rows; sorted by song) and
//! `event_hashes.u64` (little-endian), then `digest.json`, written last: a directory
//! without it is ignored and written again.

mod digest;
mod kept;
mod merge;
mod screened;
mod shared_events;

pub(crate) use digest::{ROW_GROUP_ENTRIES, compute_digest};
pub(crate) use kept::KeptDigest;
pub(crate) use merge::{CHUNK_ENTRIES, MergeInputs, known_ids, merge};
pub(crate) use shared_events::groups_sharing_events;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionContext, col};

use futures::{StreamExt, TryStreamExt, stream};
use twox_hash::XxHash64;

use crate::contract::store::Location;
use std::collections::BTreeMap;

use datafusion::common::ScalarValue;
use datafusion::logical_expr::Expr;
use datafusion::prelude::lit;

use crate::contract::schema::PLAYS_PARTITION_COLUMN;
use crate::contract::tables::{DataRoot, InputTables};
use crate::engine::session_builder;
use crate::engine::views::{keep_batch, materialize, register_views_after};
use crate::error::{ChartError, Result};
use crate::methodology::Methodology;
use crate::methodology::PeriodKind;
use crate::screened_chart::ScreenedDigests;

/// The format of kept digests; part of every key.
pub(crate) const FORMAT: &str = "golden-mic-day-digest/1";

/// The seed of the event ids' hashes: fixed, so digests of any session can be merged.
const EVENT_HASH_SEED: u64 = 0x6b74_765f_6461_7931;

/// A day digest error with no underlying error.
fn digest_error(problem: impl Into<String>) -> ChartError {
    ChartError::DayDigest {
        problem: problem.into(),
        source: None,
    }
}

/// A day digest error keeping the error that caused it.
fn digest_failure(
    what: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> ChartError {
    ChartError::DayDigest {
        problem: what.to_string(),
        source: Some(Box::new(source)),
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| digest_error(format!("no column {name}")))
}

fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let array = cast(column(batch, name)?, &DataType::Utf8).map_err(DataFusionError::from)?;
    Ok(array.as_string::<i32>().clone())
}

fn option(array: &StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i))
}

/// The 64-bit hash of an event id that units are grouped by.
fn event_hash(id: &str) -> u64 {
    XxHash64::oneshot(EVENT_HASH_SEED, id.as_bytes())
}

/// Where [`DayDigests`] keeps the digests.
#[derive(Debug, Clone)]
pub(crate) enum DigestLocation {
    /// In a temporary directory, for one computation.
    Temporary,
    /// At a location, reused across runs.
    Kept(Location),
}

/// One computation from day digests, over a session with the library's tables,
/// functions and views.
pub(crate) struct DayDigests<'a> {
    pub ctx: &'a SessionContext,
    pub inputs: &'a InputTables,
    pub methodology: &'a Methodology,
    pub day_digests: &'a Option<DigestLocation>,
    /// Entries per range of songs when merging (small in tests).
    pub merge_chunk_entries: usize,
    /// Entries per row group of a digest's `entries.parquet` (small in tests).
    pub digest_row_group_entries: usize,
}

impl DayDigests<'_> {
    fn data(&self) -> Option<&DataRoot> {
        self.inputs.data_root()
    }

    /// Computes `song_period_stats` and `room_period_outcomes` of the periods of
    /// `kind` (both kinds for `None`) from the digests, keeps them on the session and
    /// materialises `chart_entries` from them.
    pub(crate) async fn materialize(&self, kind: Option<PeriodKind>) -> Result<DayDigestReport> {
        Ok(self.materialize_units(kind, false).await?.0)
    }

    /// [`DayDigests::materialize`], and GM-2's digests of the same units (read if kept,
    /// else computed) when the digests are kept at a location.
    pub(crate) async fn materialize_screening(
        &self,
        kind: Option<PeriodKind>,
    ) -> Result<(DayDigestReport, Option<ScreenedDigests>)> {
        self.materialize_units(kind, true).await
    }

    async fn materialize_units(
        &self,
        kind: Option<PeriodKind>,
        screening: bool,
    ) -> Result<(DayDigestReport, Option<ScreenedDigests>)> {
        let started = std::time::Instant::now();
        let data = self.data().ok_or(ChartError::DayDigestsNeedFiles)?;
        let temporary;
        let store = match &self.day_digests {
            Some(DigestLocation::Kept(location)) => location.clone(),
            _ => {
                temporary = TemporaryDirectory::new()?;
                Location::local(&temporary.0)?
            }
        };
        let partitions = partition_files(data, &data.checksums().await?);
        let mut report = DayDigestReport {
            partitions: partitions.len(),
            ..DayDigestReport::default()
        };
        // Kept digests are opened a few at a time; the missing ones computed two at a
        // time (a partition's query alone keeps about one core busy).
        let units: Vec<DigestUnit> = partitions
            .iter()
            .map(|(date, files)| vec![(*date, files.as_slice())])
            .collect();
        let digests = self.kept_digests(&store, &units, &mut report).await?;
        report.digesting = started.elapsed();
        let threads = self.ctx.state().config().target_partitions();
        let groups = groups_sharing_events(&digests, threads).await?;
        let mut units: Vec<KeptDigest> = Vec::with_capacity(groups.len());
        let mut digests: Vec<Option<KeptDigest>> = digests.into_iter().map(Some).collect();
        let mut shared = Vec::new();
        for group in &groups {
            if let [only] = group[..] {
                units.push(digests[only].take().expect("each digest in one group"));
            } else {
                report.shared_units += 1;
                let unit: Vec<(NaiveDate, &[(String, String)])> = group
                    .iter()
                    .map(|&d| {
                        let (date, files) = partitions.iter().nth(d).expect("a partition");
                        (*date, files.as_slice())
                    })
                    .collect();
                shared.push(unit);
            }
        }
        units.extend(self.kept_digests(&store, &shared, &mut report).await?);
        report.units = units.len();
        report.entries = units.iter().map(|u| u.info.entries).sum();
        report.grouping = started.elapsed() - report.digesting;
        let known_songs = known_ids(self.ctx, "songs", "song_id").await?;
        let known_venues = known_ids(self.ctx, "venues", "venue_id").await?;
        let screened = match (screening, &self.day_digests) {
            (true, Some(DigestLocation::Kept(_))) => Some(
                self.screened_digests(&units, &known_songs, &known_venues, &mut report)
                    .await?,
            ),
            _ => None,
        };
        let kinds: Vec<PeriodKind> = match kind {
            Some(kind) => vec![kind],
            None => vec![PeriodKind::Month, PeriodKind::Year],
        };
        let merged = merge(
            units,
            MergeInputs {
                known_songs: Arc::new(known_songs),
                known_venues,
                // validated: at least 1
                room_cap: self.methodology.room_cap.max(1) as u64,
                kinds,
                threads: self.ctx.state().config().target_partitions(),
                chunk_entries: self.merge_chunk_entries,
            },
        )
        .await?;
        let song_schema = self
            .ctx
            .table("song_period_stats")
            .await?
            .schema()
            .inner()
            .clone();
        let room_schema = self
            .ctx
            .table("room_period_outcomes")
            .await?
            .schema()
            .inner()
            .clone();
        let songs = merged.song_period_stats(&song_schema)?;
        let rooms = merged.room_period_outcomes(&room_schema)?;
        drop(merged);
        keep_batch(self.ctx, "song_period_stats", songs)?;
        keep_batch(self.ctx, "room_period_outcomes", rooms)?;
        register_views_after(
            self.ctx,
            Some("classified_plays"),
            &["song_period_stats", "room_period_outcomes"],
        )
        .await?;
        report.merging = started.elapsed() - report.digesting - report.grouping;
        let filter = kind.map(|kind| col("period_kind").eq(lit(kind.as_str())));
        materialize(self.ctx, "chart_entries", filter).await?;
        tracing::info!(?report, "materialised from day digests");
        Ok((report, screened))
    }

    /// Keeps the digest of every partition of the data root at the digest location
    /// (computing the ones missing), without merging them: what closing a day does.
    pub(crate) async fn keep(&self) -> Result<DayDigestReport> {
        let started = std::time::Instant::now();
        let data = self.data().ok_or(ChartError::DayDigestsNeedFiles)?;
        let Some(DigestLocation::Kept(store)) = &self.day_digests else {
            return Err(digest_error("keeping day digests needs a digest location"));
        };
        let partitions = partition_files(data, &data.checksums().await?);
        let units: Vec<DigestUnit> = partitions
            .iter()
            .map(|(date, files)| vec![(*date, files.as_slice())])
            .collect();
        let mut report = DayDigestReport {
            partitions: partitions.len(),
            units: units.len(),
            ..DayDigestReport::default()
        };
        let digests = self.kept_digests(store, &units, &mut report).await?;
        report.entries = digests.iter().map(|d| d.info.entries).sum();
        report.digesting = started.elapsed();
        Ok(report)
    }

    /// The digests of units (each partitions with their files' paths and SHA-256),
    /// kept in `store` under their keys: read if there, else computed and
    /// written.
    async fn kept_digests(
        &self,
        store: &Location,
        units: &[DigestUnit<'_>],
        report: &mut DayDigestReport,
    ) -> Result<Vec<KeptDigest>> {
        let dirs: Vec<Location> = units
            .iter()
            .map(|unit| store.join(&digest_key(self.methodology, self.inputs.scope(), unit)))
            .collect();
        let opened: Vec<Option<KeptDigest>> = stream::iter(&dirs)
            .map(KeptDigest::open)
            .buffered(DIGESTS_OPENED_AT_ONCE)
            .try_collect()
            .await?;
        report.reused += opened.iter().flatten().count();
        let missing: Vec<usize> = (0..units.len()).filter(|&i| opened[i].is_none()).collect();
        report.computed += missing.len();
        let computed: Vec<(usize, KeptDigest)> = stream::iter(missing)
            .map(|i| {
                let (dir, unit) = (&dirs[i], &units[i]);
                async move {
                    let digest = self.compute_kept_digest(dir, unit).await?;
                    Ok::<_, ChartError>((i, digest))
                }
            })
            .buffer_unordered(DIGESTS_COMPUTED_AT_ONCE)
            .try_collect()
            .await?;
        let mut digests = opened;
        for (i, digest) in computed {
            digests[i] = Some(digest);
        }
        Ok(digests
            .into_iter()
            .map(|d| d.expect("opened or computed"))
            .collect())
    }

    /// A session like this one's, its tables registered, `plays` holding only the
    /// partitions of `dates`.
    async fn unit_session(&self, dates: &[NaiveDate]) -> Result<SessionContext> {
        let state = session_builder()
            .with_config(self.ctx.state().config().clone())
            .with_runtime_env(self.ctx.runtime_env())
            .build();
        let ctx = SessionContext::new_with_state(state);
        self.inputs.register(&ctx)?;
        let days: Vec<Expr> = dates
            .iter()
            .map(|d| lit(ScalarValue::Date32(Some(days_since_epoch(*d)))))
            .collect();
        let plays = ctx
            .table("plays")
            .await?
            .filter(col(PLAYS_PARTITION_COLUMN).in_list(days, false))?
            .into_view();
        ctx.deregister_table("plays")?;
        ctx.register_table("plays", plays)?;
        Ok(ctx)
    }

    /// Computes the digest of a unit into `dir`.
    async fn compute_kept_digest(
        &self,
        dir: &Location,
        unit: &[(NaiveDate, &[(String, String)])],
    ) -> Result<KeptDigest> {
        let dates: Vec<NaiveDate> = unit.iter().map(|(date, _)| *date).collect();
        let ctx = self.unit_session(&dates).await?;
        compute_digest(
            &ctx,
            self.methodology,
            dates,
            dir,
            self.digest_row_group_entries,
        )
        .await?;
        KeptDigest::open(dir)
            .await?
            .ok_or_else(|| ChartError::Corrupt {
                file: dir.join("digest.json").to_string(),
                problem: "not found right after it was written".into(),
            })
    }
}

/// What [`crate::GoldenMic::materialize_by_day`] did, and how long each step took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayDigestReport {
    /// `date=` partitions of `plays`.
    pub partitions: usize,
    /// Units merged: partitions, and groups of partitions that share event ids.
    pub units: usize,
    /// Units of more than one partition (digested together).
    pub shared_units: usize,
    /// Digests computed (and kept).
    pub computed: usize,
    /// Digests found kept and reused.
    pub reused: usize,
    /// Entries of the units' digests.
    pub entries: usize,
    /// Reading or computing the digest of every partition.
    pub digesting: std::time::Duration,
    /// Finding the partitions that share events, and digesting those groups.
    pub grouping: std::time::Duration,
    /// Merging the units into `song_period_stats` and `room_period_outcomes`.
    pub merging: std::time::Duration,
    /// GM-2's digests of the units computed (and kept).
    pub screened_computed: usize,
    /// GM-2's digests of the units found kept and reused.
    pub screened_reused: usize,
}

/// The files of each partition of `plays` (path and SHA-256, by path).
fn partition_files(
    data: &DataRoot,
    checksums: &[String],
) -> BTreeMap<NaiveDate, Vec<(String, String)>> {
    let mut partitions: BTreeMap<NaiveDate, Vec<(String, String)>> = data
        .play_days()
        .keys()
        .map(|&date| (date, Vec::new()))
        .collect();
    for (file, sha) in data.files().iter().zip(checksums) {
        if file.table != "plays" {
            continue;
        }
        let date = file
            .path
            .split('/')
            .nth(1)
            .and_then(|dir| dir.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if let Some(files) = date.and_then(|d| partitions.get_mut(&d)) {
            files.push((file.path.clone(), sha.clone()));
        }
    }
    for files in partitions.values_mut() {
        files.sort();
    }
    partitions
}

/// The directory name of a unit's digest: the SHA-256 of the digest format, the plays'
/// scope (a province's view), the parameters `checked_plays` depends on, and the unit's
/// files with their SHA-256.
fn digest_key(
    methodology: &Methodology,
    scope: Option<&str>,
    unit: &[(NaiveDate, &[(String, String)])],
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut line = |text: String| {
        hasher.update(text.as_bytes());
        hasher.update(b"\n");
    };
    line(FORMAT.to_string());
    if let Some(scope) = scope {
        line(format!("scope {scope}"));
    }
    line(format!(
        "timezone={} day_start_minutes={} min_played_ms={}",
        methodology.timezone, methodology.day_start_minutes, methodology.min_played_ms
    ));
    for (date, files) in unit {
        line(format!("date={date}"));
        for (path, sha) in *files {
            line(format!("{path} {sha}"));
        }
    }
    crate::contract::hex(&hasher.finalize())
}

/// A directory under the system's temporary directory, removed when dropped.
struct TemporaryDirectory(std::path::PathBuf);

impl TemporaryDirectory {
    fn new() -> Result<TemporaryDirectory> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "golden-mic-day-digests-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).map_err(|source| ChartError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(TemporaryDirectory(path))
    }
}

impl Drop for TemporaryDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unit to digest: its partitions, each with its files' paths and SHA-256.
type DigestUnit<'a> = Vec<(NaiveDate, &'a [(String, String)])>;

/// Kept day digests opened at the same time.
const DIGESTS_OPENED_AT_ONCE: usize = 8;

/// Day digests computed at the same time.
const DIGESTS_COMPUTED_AT_ONCE: usize = 2;

/// Days from 1970-01-01 (`Date32`).
fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}
