//! Computing a unit's digest: `room_day_events` over its plays, coded and written.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Field, Int32Type, Schema, TimeUnit, TimestampMillisecondType,
};
use bytes::Bytes;
use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use futures::TryStreamExt;
use hashbrown::HashTable;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::*;
use crate::contract::store::Location;
use crate::error::Result;
use crate::large_vectors::grow_by_a_quarter;
use crate::methodology::Methodology;
use crate::methodology::event_copies::{EventCopy, copy_order};
use crate::methodology::exclusion::rank_on_the_play_alone;
use crate::methodology::functions::BusinessDays;

/// The columns of the plays a digest reads.
const PLAYS_QUERY: &str = "SELECT event_id, venue_id, room_id, song_id, started_at, played_ms, date \
     FROM plays";

/// The query of a unit's event ids.
const EVENT_IDS_QUERY: &str = "SELECT event_id FROM plays WHERE event_id IS NOT NULL";

/// Entries per row group of `entries.parquet`.
pub(crate) const ROW_GROUP_ENTRIES: usize = 1 << 16;

/// What `digest.json` records of a kept digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DigestInfo {
    /// [`FORMAT`].
    pub format: String,
    /// The partitions of the unit.
    pub dates: Vec<NaiveDate>,
    /// Distinct song ids, rooms, entries and event ids.
    pub songs: usize,
    pub rooms: usize,
    pub entries: usize,
    pub event_ids: usize,
    /// The first and last business day of the entries (`Date32`), if any.
    pub days: Option<(i32, i32)>,
    /// Where in `event_hashes.u64` each of [`HASH_PARTS`] ranges of hash values
    /// starts (the hashes whose top bits are `k`), and its length last.
    pub hash_starts: Vec<u64>,
}

/// Ranges of hash values the grouping reads in parallel.
pub(super) const HASH_PARTS: u64 = 16;

/// Computes a unit's digest from the plays registered on `ctx` (a session whose
/// `plays` holds only the unit's partitions), and keeps it in `dir`.
///
/// `room_day_events` (and `checked_plays` below it) computed in Rust, in two passes
/// over the plays, so that a day's digest holds little more than its result: the
/// first hashes every event id; the second counts each play whose id hash appears
/// once as an event of its own, and keeps aside only the copies of the others (the
/// re-sent events, and any id sharing a hash with another), to keep the copy GM-1
/// keeps of each. Checked equal to the SQL view in the tests below.
pub(crate) async fn compute_digest(
    ctx: &SessionContext,
    methodology: &Methodology,
    dates: Vec<NaiveDate>,
    dir: &Location,
    row_group_entries: usize,
) -> Result<DigestInfo> {
    let (hashes, coder) = count_events(ctx, methodology, MERGE_AFTER).await?;
    // Sorting and encoding on a blocking thread.
    let (files, (songs, rooms, entries, days)) =
        tokio::task::spawn_blocking(move || -> Result<_> {
            let coded = coder.finish()?;
            let rows = ROW_GROUP_ENTRIES;
            let files = [
                ("songs.parquet", parquet_bytes(&coded.songs_batch()?, rows)?),
                ("rooms.parquet", parquet_bytes(&coded.rooms_batch()?, rows)?),
                ("entries.parquet", coded.entries_parquet(row_group_entries)?),
            ];
            let sizes = (
                coded.songs.len(),
                coded.rooms.len(),
                coded.entries(),
                coded.days(),
            );
            Ok((files, sizes))
        })
        .await
        .map_err(|e| digest_failure("the coding task failed", e))??;
    let info = DigestInfo {
        format: FORMAT.to_string(),
        dates,
        songs,
        rooms,
        entries,
        event_ids: hashes.count,
        days,
        hash_starts: hashes.starts,
    };
    for (name, bytes) in files {
        dir.write(name, bytes).await?;
    }
    dir.write("event_hashes.u64", hashes.bytes).await?;
    let json = serde_json::to_vec_pretty(&info)
        .map_err(|e| digest_failure("cannot encode digest.json", e))?;
    dir.write("digest.json", Bytes::from(json)).await?;
    Ok(info)
}

/// The rows of `room_day_events` with integer codes, sorted by song.
struct CodedEntries {
    /// Distinct song ids, sorted (`None`, a missing id, first).
    songs: Vec<Option<Box<str>>>,
    /// Distinct (venue_id, room_id) pairs, sorted (`None` first).
    rooms: Vec<[Option<Box<str>>; 2]>,
    /// (song, room, business day, first rule, events, rows), sorted.
    entries: Vec<Entry>,
}

/// Distinct tuples of `N` optional ids, each coded by its first appearance.
struct Codes<const N: usize> {
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    ids: Vec<[Option<Box<str>>; N]>,
}

impl<const N: usize> Default for Codes<N> {
    fn default() -> Self {
        Codes {
            table: HashTable::new(),
            hasher: foldhash::fast::FixedState::default(),
            ids: Vec::new(),
        }
    }
}

impl<const N: usize> Codes<N> {
    /// The code of `ids`, a new one if they were not seen.
    fn code(&mut self, ids: [Option<&str>; N]) -> Result<u32> {
        let hash = self.hasher.hash_one(ids);
        let known = &self.ids;
        if let Some(&code) = self.table.find(hash, |&c| {
            known[c as usize]
                .iter()
                .zip(&ids)
                .all(|(known, id)| known.as_deref() == *id)
        }) {
            return Ok(code);
        }
        let code = u32::try_from(self.ids.len())
            .map_err(|_| digest_error("more than 2^32 distinct ids in a unit"))?;
        self.ids.push(ids.map(|id| id.map(Into::into)));
        let (known, hasher) = (&self.ids, &self.hasher);
        self.table.insert_unique(hash, code, |&c| {
            hasher.hash_one(known[c as usize].each_ref().map(|id| id.as_deref()))
        });
        Ok(code)
    }
}

/// The values that appear more than once in a sorted slice, once each.
fn repeated_values(sorted: &[u64]) -> Vec<u64> {
    let mut repeated: Vec<u64> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    repeated.dedup();
    repeated
}

/// A copy of an event kept aside until all of its copies are seen.
struct KeptCopy {
    started_at: Option<i64>,
    played_ms: Option<i32>,
    ids: [Option<Box<str>>; 3],
    /// The partition's date, the business day of a copy without `started_at`.
    date: Option<i32>,
}

impl KeptCopy {
    fn of(copy: &EventCopy<'_>, date: Option<i32>) -> KeptCopy {
        KeptCopy {
            started_at: copy.started_at,
            played_ms: copy.played_ms,
            ids: copy.ids.map(|id| id.map(Into::into)),
            date,
        }
    }

    fn copy(&self) -> EventCopy<'_> {
        EventCopy {
            started_at: self.started_at,
            played_ms: self.played_ms,
            ids: self.ids.each_ref().map(|id| id.as_deref()),
        }
    }
}

/// `checked_plays` and `room_day_events` over a unit's play rows: each event once,
/// with its business day, first rule and copies, coded.
struct EventCounter<'a> {
    coder: Coder,
    /// The event id hashes more than one row carries, sorted.
    repeated: &'a [u64],
    /// The events whose id hash is repeated: their copies so far, and the one kept.
    copies: HashMap<Box<str>, (u32, KeptCopy), foldhash::fast::FixedState>,
    business_days: BusinessDays<'a>,
    min_played_ms: i32,
}

impl<'a> EventCounter<'a> {
    fn new(tz: &'a Tz, methodology: &Methodology, repeated: &'a [u64]) -> EventCounter<'a> {
        let day_start_ms = i64::from(methodology.day_start_minutes) * 60_000;
        EventCounter {
            coder: Coder::default(),
            repeated,
            copies: HashMap::default(),
            business_days: BusinessDays::new(tz, day_start_ms),
            min_played_ms: methodology.min_played_ms,
        }
    }

    /// Counts a batch of `PLAYS_QUERY`'s rows.
    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let (events, venues, rooms, songs) = (
            strings(batch, "event_id")?,
            strings(batch, "venue_id")?,
            strings(batch, "room_id")?,
            strings(batch, "song_id")?,
        );
        let started = cast(
            column(batch, "started_at")?,
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )
        .map_err(DataFusionError::from)?;
        let started = started.as_primitive::<TimestampMillisecondType>();
        let played =
            cast(column(batch, "played_ms")?, &DataType::Int32).map_err(DataFusionError::from)?;
        let played = played.as_primitive::<Int32Type>();
        let dates =
            cast(column(batch, "date")?, &DataType::Date32).map_err(DataFusionError::from)?;
        let dates = dates.as_primitive::<Date32Type>();
        for i in 0..batch.num_rows() {
            let copy = EventCopy {
                started_at: started.is_valid(i).then(|| started.value(i)),
                played_ms: played.is_valid(i).then(|| played.value(i)),
                ids: [option(&venues, i), option(&rooms, i), option(&songs, i)],
            };
            let date = dates.is_valid(i).then(|| dates.value(i));
            match option(&events, i) {
                Some(id) if self.repeated.binary_search(&event_hash(id)).is_ok() => {
                    self.keep_aside(id, &copy, date);
                }
                id => self.count(id.is_some(), &copy, date, 1)?,
            }
        }
        Ok(())
    }

    /// A copy of an event whose id hash more than one row carries.
    fn keep_aside(&mut self, id: &str, copy: &EventCopy<'_>, date: Option<i32>) {
        match self.copies.get_mut(id) {
            Some((copies, kept)) => {
                *copies += 1;
                if copy_order(copy, &kept.copy()) == std::cmp::Ordering::Less {
                    *kept = KeptCopy::of(copy, date);
                }
            }
            None => {
                self.copies.insert(id.into(), (1, KeptCopy::of(copy, date)));
            }
        }
    }

    /// An event, as the copy kept of it and how many rows carried it.
    fn count(
        &mut self,
        has_id: bool,
        copy: &EventCopy<'_>,
        date: Option<i32>,
        copies: u32,
    ) -> Result<()> {
        let day = copy
            .started_at
            .and_then(|t| self.business_days.of(t))
            .or(date)
            .ok_or_else(|| digest_error("a play without a business day"))?;
        let complete = has_id
            && copy.started_at.is_some()
            && copy.played_ms.is_some()
            && copy.ids.iter().all(Option::is_some);
        let rule = rank_on_the_play_alone(
            complete,
            copy.played_ms.unwrap_or_default(),
            self.min_played_ms,
        );
        self.coder.add_event(day, copy.ids, rule, copies)
    }

    /// Counts the events kept aside, and returns the coded entries.
    fn finish(mut self) -> Result<Coder> {
        for (_, (copies, kept)) in std::mem::take(&mut self.copies) {
            self.count(true, &kept.copy(), kept.date, copies)?;
        }
        Ok(self.coder)
    }
}

/// A unit's distinct event id hashes, sorted, as `event_hashes.u64` holds them.
struct EventHashes {
    count: usize,
    /// [`DigestInfo::hash_starts`].
    starts: Vec<u64>,
    /// The hashes, little-endian.
    bytes: Bytes,
}

impl EventHashes {
    /// Sorted, distinct hashes as the file's bytes: made as soon as they are known, so
    /// that the unit's events are counted beside the file's bytes alone.
    fn of(hashes: Vec<u64>) -> EventHashes {
        let starts = (0..=HASH_PARTS)
            .map(|k| match k {
                HASH_PARTS => hashes.len() as u64,
                k => hashes.partition_point(|&h| h < k << (64 - HASH_PARTS.ilog2())) as u64,
            })
            .collect();
        let mut bytes = Vec::with_capacity(hashes.len() * 8);
        for h in &hashes {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        EventHashes {
            count: hashes.len(),
            starts,
            bytes: Bytes::from(bytes),
        }
    }
}

/// The unit's distinct event id hashes, and its events counted (entries merged once
/// `merge_after` events are added, and again each time they double).
async fn count_events(
    ctx: &SessionContext,
    methodology: &Methodology,
    merge_after: usize,
) -> Result<(EventHashes, Coder)> {
    let mut hashes = Vec::new();
    let mut ids = ctx.sql(EVENT_IDS_QUERY).await?.execute_stream().await?;
    while let Some(batch) = ids.try_next().await? {
        let ids = strings(&batch, "event_id")?;
        grow_by_a_quarter(&mut hashes, ids.len());
        hashes.extend(ids.iter().flatten().map(event_hash));
    }
    hashes.sort_unstable();
    let repeated = repeated_values(&hashes);
    hashes.dedup();
    let hashes = EventHashes::of(hashes);
    let tz = methodology.validate()?;
    let mut counter = EventCounter::new(&tz, methodology, &repeated);
    counter.coder.merge_after = merge_after;
    let mut plays = ctx.sql(PLAYS_QUERY).await?.execute_stream().await?;
    while let Some(batch) = plays.try_next().await? {
        counter.add(&batch)?;
    }
    Ok((hashes, counter.finish()?))
}

/// A (song, room, business day, first rule) and its events and rows; codes of the
/// [`Coder`] until it finishes, songs' ranks after.
type Entry = (u32, u32, i32, u8, u32, u32);

/// Codes events as they are counted, and adds up the entries of equal keys.
struct Coder {
    songs: Codes<1>,
    rooms: Codes<2>,
    entries: Vec<Entry>,
    /// Entries after the last [`Coder::merge`].
    merged: usize,
    /// Entries at least before the first merge.
    merge_after: usize,
}

/// Events added before the first merge.
const MERGE_AFTER: usize = 1 << 20;

impl Default for Coder {
    fn default() -> Self {
        Coder {
            songs: Codes::default(),
            rooms: Codes::default(),
            entries: Vec::new(),
            merged: 0,
            merge_after: MERGE_AFTER,
        }
    }
}

impl Coder {
    /// One event: its business day, (venue, room, song) ids, first rule and copies.
    fn add_event(
        &mut self,
        day: i32,
        [venue, room, song]: [Option<&str>; 3],
        rule: u8,
        copies: u32,
    ) -> Result<()> {
        grow_by_a_quarter(&mut self.entries, 1);
        self.entries.push((
            self.songs.code([song])?,
            self.rooms.code([venue, room])?,
            day,
            rule,
            1,
            copies,
        ));
        if self.entries.len() >= (2 * self.merged).max(self.merge_after) {
            self.merge()?;
        }
        Ok(())
    }

    /// Sorts the entries and adds up those of equal keys, so that they take about the
    /// room of the result.
    fn merge(&mut self) -> Result<()> {
        self.entries.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        let mut overflow = false;
        self.entries.dedup_by(|later, kept| {
            let same = (later.0, later.1, later.2, later.3) == (kept.0, kept.1, kept.2, kept.3);
            if same {
                match (kept.4.checked_add(later.4), kept.5.checked_add(later.5)) {
                    (Some(events), Some(rows)) => (kept.4, kept.5) = (events, rows),
                    _ => overflow = true,
                }
            }
            same
        });
        if overflow {
            return Err(digest_error(
                "more than 2^32 events or rows of one song, room and day in a unit",
            ));
        }
        self.merged = self.entries.len();
        Ok(())
    }

    /// The entries with songs in sorted order, so that a range of song ids is a range
    /// of entries.
    fn finish(mut self) -> Result<CodedEntries> {
        self.merge()?;
        let Coder {
            songs,
            rooms,
            mut entries,
            ..
        } = self;
        let (songs, song_rank) = sorted_codes(songs.ids);
        let (rooms, room_rank) = sorted_codes(rooms.ids);
        for e in &mut entries {
            (e.0, e.1) = (song_rank[e.0 as usize], room_rank[e.1 as usize]);
        }
        entries.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        Ok(CodedEntries {
            songs: songs.into_iter().map(|[s]| s).collect(),
            rooms,
            entries,
        })
    }
}

/// A tuple of optional ids (a song's; a venue's and a room's).
type Ids<const N: usize> = [Option<Box<str>>; N];

/// Ids coded by first appearance, sorted (`None` first), and each code's rank among
/// them: a digest's codes depend on its plays alone, not on the order they were read
/// in, and a merge meets each unit's rooms in the order of its own.
fn sorted_codes<const N: usize>(ids: Vec<Ids<N>>) -> (Vec<Ids<N>>, Vec<u32>) {
    let mut coded: Vec<(Ids<N>, u32)> = ids.into_iter().zip(0..).collect();
    coded.sort_unstable();
    let mut rank = vec![0u32; coded.len()];
    for (r, (_, code)) in coded.iter().enumerate() {
        rank[*code as usize] = r as u32;
    }
    (coded.into_iter().map(|(id, _)| id).collect(), rank)
}

impl CodedEntries {
    fn entries(&self) -> usize {
        self.entries.len()
    }

    fn days(&self) -> Option<(i32, i32)> {
        let first = self.entries.iter().map(|e| e.2).min()?;
        let last = self.entries.iter().map(|e| e.2).max()?;
        Some((first, last))
    }

    fn songs_batch(&self) -> Result<RecordBatch> {
        let songs: StringArray = self.songs.iter().map(|s| s.as_deref()).collect();
        record_batch(vec![("song_id", Arc::new(songs) as ArrayRef, true)])
    }

    fn rooms_batch(&self) -> Result<RecordBatch> {
        let venues: StringArray = self.rooms.iter().map(|r| r[0].as_deref()).collect();
        let rooms: StringArray = self.rooms.iter().map(|r| r[1].as_deref()).collect();
        record_batch(vec![
            ("venue_id", Arc::new(venues) as ArrayRef, true),
            ("room_id", Arc::new(rooms), true),
        ])
    }

    /// `entries.parquet`, encoded a row group at a time (the entries of a day are tens
    /// of MiB: never twice in memory).
    fn entries_parquet(&self, row_group_entries: usize) -> Result<Bytes> {
        let rows = row_group_entries.max(1);
        let mut chunks = self.entries.chunks(rows);
        let first = entries_batch(chunks.next().unwrap_or_default())?;
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, first.schema(), Some(digest_file(rows)))
            .map_err(|e| digest_failure("cannot encode a digest file", e))?;
        for batch in std::iter::once(Ok(first)).chain(chunks.map(entries_batch)) {
            writer
                .write(&batch?)
                .map_err(|e| digest_failure("cannot encode a digest file", e))?;
        }
        writer
            .close()
            .map_err(|e| digest_failure("cannot encode a digest file", e))?;
        Ok(Bytes::from(buffer))
    }
}

/// Entries as the columns of `entries.parquet`.
fn entries_batch(e: &[Entry]) -> Result<RecordBatch> {
    record_batch(vec![
        (
            "song",
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|e| e.0))) as ArrayRef,
            false,
        ),
        (
            "room",
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|e| e.1))),
            false,
        ),
        (
            "business_day",
            Arc::new(Date32Array::from_iter_values(e.iter().map(|e| e.2))),
            false,
        ),
        (
            "first_rule",
            Arc::new(UInt8Array::from_iter_values(e.iter().map(|e| e.3))),
            false,
        ),
        (
            "events",
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|e| e.4))),
            false,
        ),
        (
            "rows_received",
            Arc::new(UInt32Array::from_iter_values(e.iter().map(|e| e.5))),
            false,
        ),
    ])
}

fn record_batch(columns: Vec<(&str, ArrayRef, bool)>) -> Result<RecordBatch> {
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, array, nullable)| Field::new(*name, array.data_type().clone(), *nullable))
            .collect::<Vec<_>>(),
    );
    let arrays = columns.into_iter().map(|(_, array, _)| array).collect();
    Ok(RecordBatch::try_new(Arc::new(schema), arrays).map_err(DataFusionError::from)?)
}

/// How a digest's files are written.
fn digest_file(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .build()
}

/// A batch as a Parquet file in memory.
fn parquet_bytes(batch: &RecordBatch, row_group_rows: usize) -> Result<Bytes> {
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(
        &mut buffer,
        batch.schema(),
        Some(digest_file(row_group_rows)),
    )
    .map_err(|e| digest_failure("cannot encode a digest file", e))?;
    writer
        .write(batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| digest_failure("cannot encode a digest file", e))?;
    Ok(Bytes::from(buffer))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int32Array, TimestampMillisecondArray};
    use datafusion::datasource::MemTable;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::contract::schema::{PLAYS, PLAYS_PARTITION_COLUMN, SONGS, VENUES};
    use crate::engine::views::register_views;
    use crate::engine::{bucket_bits, register_event_buckets, register_functions, session_builder};

    /// (business day, venue, room, song, first rule) → (events, rows).
    type Counts = BTreeMap<(i32, Option<String>, Option<String>, Option<String>, u8), (u32, u32)>;

    /// Random plays: ids repeated (within and across dates), every column NULL at
    /// times, short plays, ties in the copies' order, and rows whose business day is
    /// not their partition's date.
    fn plays(rows: usize, seed: u64) -> RecordBatch {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let pick = |values: &[&str], rng: &mut rand_chacha::ChaCha8Rng| {
            let v = values[rng.random_range(0..values.len())];
            (rng.random_range(0..10) > 0).then(|| v.to_string())
        };
        // 2024-11-01T20:00Z: two hours before the business day's end at 06:00 in Shanghai.
        let base = 1_730_491_200_000_i64;
        let day_of = |t: i64| ((t - 6 * 3_600_000 + 8 * 3_600_000) / 86_400_000) as i32;
        let (mut ids, mut venues, mut rooms, mut songs) = (vec![], vec![], vec![], vec![]);
        let (mut started, mut played, mut dates) = (vec![], vec![], vec![]);
        for _ in 0..rows {
            let id = rng.random_range(0..rows as u32 / 3);
            ids.push((rng.random_range(0..20) > 0).then(|| format!("e{id}")));
            venues.push(pick(&["v1", "v2"], &mut rng));
            rooms.push(pick(&["r1", "r2"], &mut rng));
            songs.push(pick(&["s1", "s2", "s3"], &mut rng));
            let at =
                (rng.random_range(0..10) > 0).then(|| base + rng.random_range(0..8) * 1_800_000);
            started.push(at);
            played.push(
                (rng.random_range(0..10) > 0)
                    .then(|| [10_000, 30_000, 45_000][rng.random_range(0..3)]),
            );
            // A copy without started_at falls back to its date: the same for every copy
            // of an event, so that copies tied in GM-1's order give one business day.
            dates.push(match at {
                Some(t) => day_of(t) + rng.random_range(0..2),
                None => day_of(base) + (id % 2) as i32,
            });
        }
        let strings = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as ArrayRef;
        let mut columns = vec![
            strings(ids),
            strings(venues),
            strings(rooms),
            strings(songs),
        ];
        columns.push(Arc::new(
            TimestampMillisecondArray::from(started).with_timezone("UTC"),
        ));
        columns.push(Arc::new(Int32Array::from(played)));
        columns.push(strings(vec![Some("vod".to_string()); rows]));
        columns.push(Arc::new(Date32Array::from(dates)));
        let mut fields: Vec<Field> = PLAYS
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(PLAYS_PARTITION_COLUMN, DataType::Date32, false));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    async fn session(plays: RecordBatch, methodology: &Methodology) -> SessionContext {
        let ctx = SessionContext::new_with_state(session_builder().build());
        let rows = plays.num_rows() as u64;
        ctx.register_table(
            "plays",
            Arc::new(MemTable::try_new(plays.schema(), vec![vec![plays]]).unwrap()),
        )
        .unwrap();
        for table in [SONGS, VENUES] {
            let empty = MemTable::try_new(table.schema(), vec![vec![]]).unwrap();
            ctx.register_table(table.name, Arc::new(empty)).unwrap();
        }
        register_functions(&ctx, methodology).unwrap();
        register_event_buckets(&ctx, bucket_bits(Some(rows)));
        register_views(&ctx).await.unwrap();
        ctx
    }

    fn integers(batch: &RecordBatch, name: &str) -> arrow::array::Int64Array {
        let array = cast(column(batch, name).unwrap(), &DataType::Int64).unwrap();
        array.as_primitive::<arrow::datatypes::Int64Type>().clone()
    }

    /// `room_day_events` by its SQL.
    async fn by_sql(ctx: &SessionContext) -> Counts {
        let batches = ctx
            .sql(
                "SELECT CAST(business_day AS DATE) AS day, venue_id, room_id, song_id, \
                  first_rule, events, rows_received FROM room_day_events",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut counts = Counts::new();
        for b in &batches {
            let (venues, rooms, songs) = (
                strings(b, "venue_id").unwrap(),
                strings(b, "room_id").unwrap(),
                strings(b, "song_id").unwrap(),
            );
            let day = cast(column(b, "day").unwrap(), &DataType::Date32).unwrap();
            let day = day.as_primitive::<Date32Type>();
            let (rule, events, rows) = (
                integers(b, "first_rule"),
                integers(b, "events"),
                integers(b, "rows_received"),
            );
            for i in 0..b.num_rows() {
                let id = |a: &StringArray| option(a, i).map(str::to_string);
                let key = (
                    day.value(i),
                    id(&venues),
                    id(&rooms),
                    id(&songs),
                    rule.value(i) as u8,
                );
                let value = (events.value(i) as u32, rows.value(i) as u32);
                assert!(counts.insert(key, value).is_none(), "one row per key");
            }
        }
        counts
    }

    /// The same by the digest's counting, its codes decoded.
    async fn by_digest(
        ctx: &SessionContext,
        methodology: &Methodology,
        merge_after: usize,
    ) -> Counts {
        let (_, coder) = count_events(ctx, methodology, merge_after).await.unwrap();
        let coded = coder.finish().unwrap();
        let mut counts = Counts::new();
        for &(song, room, day, rule, events, rows) in &coded.entries {
            let [venue, room] = coded.rooms[room as usize]
                .clone()
                .map(|id| id.map(String::from));
            let song = coded.songs[song as usize].clone().map(String::from);
            assert!(
                counts
                    .insert((day, venue, room, song, rule), (events, rows))
                    .is_none()
            );
        }
        counts
    }

    #[tokio::test]
    async fn the_digest_counts_room_day_events_as_its_sql_does() {
        let methodology = Methodology::default();
        for seed in 0..4 {
            let ctx = session(plays(3_000, seed), &methodology).await;
            let expected = by_sql(&ctx).await;
            assert!(expected.len() > 100, "the test should have many keys");
            let resent: u32 = expected.values().map(|(events, rows)| rows - events).sum();
            assert!(
                resent > 500,
                "the test should have many re-sent copies: {resent}"
            );
            // Merged at the end only, and many times on the way.
            for merge_after in [MERGE_AFTER, 64] {
                assert_eq!(
                    by_digest(&ctx, &methodology, merge_after).await,
                    expected,
                    "seed {seed}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_digest_codes_the_same_plays_alike_in_any_order() {
        let methodology = Methodology::default();
        let coded = |plays: RecordBatch| {
            let methodology = methodology.clone();
            async move {
                let ctx = session(plays, &methodology).await;
                let (_, coder) = count_events(&ctx, &methodology, 64).await.unwrap();
                let coded = coder.finish().unwrap();
                (coded.songs, coded.rooms, coded.entries)
            }
        };
        let plays = plays(3_000, 7);
        let reversed: Vec<u32> = (0..plays.num_rows() as u32).rev().collect();
        let reversed =
            arrow::compute::take_record_batch(&plays, &UInt32Array::from(reversed)).unwrap();
        let (songs, rooms, entries) = coded(plays).await;
        assert!(rooms.is_sorted() && songs.is_sorted());
        assert_eq!(coded(reversed).await, (songs, rooms, entries));
    }
}
