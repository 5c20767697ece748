//! Day digests: what each `date=` partition of `plays` contributes to the charts,
//! computed on that partition alone, kept, and merged per period, instead of one
//! pass of `classified_plays` over every play at each publication.
//!
//! A digest is the view `room_day_events` (events and rows per business day, venue,
//! room, song and first rule of `checked_plays`) over one partition, with its ids
//! coded as integers, plus the sorted 64-bit hashes of the partition's event ids.
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

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    UInt8Array, UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Field, Int64Type, Schema, SchemaRef, UInt8Type, UInt32Type,
};
use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionContext, col};
use foldhash::HashSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::basic::Compression;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use twox_hash::XxHash64;

use crate::error::{ChartError, Result};
use crate::methodology::PeriodKind;
use crate::store::Location;

/// The format of kept digests; part of every key.
pub(crate) const FORMAT: &str = "golden-mic-day-digest/1";

/// The seed of the event ids' hashes: fixed, so digests of any session can be merged.
const EVENT_HASH_SEED: u64 = 0x6b74_765f_6461_7931;

/// The query a unit's digest is made of.
const DIGEST_QUERY: &str = "SELECT business_day, venue_id, room_id, song_id, \
     first_rule, events, rows_received FROM room_day_events";

/// The query of a unit's event ids.
const EVENT_IDS_QUERY: &str = "SELECT event_id FROM plays WHERE event_id IS NOT NULL";

/// `first_rule` of a play that passes the rules of `checked_plays`.
const NO_RULE: u8 = 5;

/// Exclusions, by the index the merge counts them under (`None`: a valid play).
const EXCLUSIONS: [Option<&str>; 5] = [
    None,
    Some("missing_value"),
    Some("short_play"),
    Some("unknown_song"),
    Some("unknown_venue"),
];

/// Entries per row group of `entries.parquet`.
pub(crate) const ROW_GROUP_ENTRIES: usize = 1 << 16;

/// Event hashes read at a time.
const HASHES_PER_READ: u64 = 1 << 17;

fn internal(message: String) -> ChartError {
    ChartError::Query(DataFusionError::Internal(message))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| internal(format!("day digest: no column {name}")))
}

fn strings(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let array = cast(column(batch, name)?, &DataType::Utf8).map_err(DataFusionError::from)?;
    Ok(array.as_string::<i32>().clone())
}

fn integers(batch: &RecordBatch, name: &str) -> Result<Int64Array> {
    let array = cast(column(batch, name)?, &DataType::Int64).map_err(DataFusionError::from)?;
    Ok(array.as_primitive::<Int64Type>().clone())
}

fn count(value: i64, what: &str) -> Result<u32> {
    u32::try_from(value).map_err(|_| internal(format!("day digest: {what} {value} out of range")))
}

fn option(array: &StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i))
}

/// The 64-bit hash of an event id that units are grouped by.
fn event_hash(id: &str) -> u64 {
    XxHash64::oneshot(EVENT_HASH_SEED, id.as_bytes())
}

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
const HASH_PARTS: u64 = 16;

/// Computes a unit's digest from the plays registered on `ctx` (a session whose
/// `plays` holds only the unit's partitions, with the views of `queries/`), and
/// keeps it in `dir`.
pub(crate) async fn compute_digest(
    ctx: &SessionContext,
    dates: Vec<NaiveDate>,
    dir: &Location,
    row_group_entries: usize,
) -> Result<DigestInfo> {
    let batches = ctx.sql(DIGEST_QUERY).await?.collect().await?;
    // Coding and encoding on a blocking thread, while the event ids are read.
    let coding = tokio::task::spawn_blocking(move || -> Result<_> {
        let coded = CodedEntries::from_batches(&batches)?;
        drop(batches);
        let rows = ROW_GROUP_ENTRIES;
        let files = [
            ("songs.parquet", parquet_bytes(&coded.songs_batch()?, rows)?),
            ("rooms.parquet", parquet_bytes(&coded.rooms_batch()?, rows)?),
            (
                "entries.parquet",
                parquet_bytes(&coded.entries_batch()?, row_group_entries)?,
            ),
        ];
        let sizes = (
            coded.songs.len(),
            coded.rooms.len(),
            coded.entries(),
            coded.days(),
        );
        Ok((files, sizes))
    });
    let mut hashes = Vec::new();
    let mut ids = ctx.sql(EVENT_IDS_QUERY).await?.execute_stream().await?;
    while let Some(batch) = ids.try_next().await? {
        let ids = strings(&batch, "event_id")?;
        hashes.extend(ids.iter().flatten().map(event_hash));
    }
    hashes.sort_unstable();
    hashes.dedup();
    let (files, (songs, rooms, entries, days)) = coding
        .await
        .map_err(|e| internal(format!("day digest: {e}")))??;
    let info = DigestInfo {
        format: FORMAT.to_string(),
        dates,
        songs,
        rooms,
        entries,
        event_ids: hashes.len(),
        days,
        hash_starts: (0..=HASH_PARTS)
            .map(|k| match k {
                HASH_PARTS => hashes.len() as u64,
                k => hashes.partition_point(|&h| h < k << (64 - HASH_PARTS.ilog2())) as u64,
            })
            .collect(),
    };
    for (name, bytes) in files {
        dir.write(name, bytes).await?;
    }
    let mut raw = Vec::with_capacity(hashes.len() * 8);
    for h in &hashes {
        raw.extend_from_slice(&h.to_le_bytes());
    }
    dir.write("event_hashes.u64", Bytes::from(raw)).await?;
    let json =
        serde_json::to_vec_pretty(&info).map_err(|e| internal(format!("day digest: {e}")))?;
    dir.write("digest.json", Bytes::from(json)).await?;
    Ok(info)
}

/// The rows of `room_day_events` with integer codes, sorted by song.
struct CodedEntries {
    /// Distinct song ids, sorted (`None`, a missing id, first).
    songs: Vec<Option<String>>,
    /// Distinct (venue_id, room_id) pairs.
    rooms: Vec<(Option<String>, Option<String>)>,
    /// (song, room, business day, first rule, events, rows), sorted.
    entries: Vec<(u32, u32, i32, u8, u32, u32)>,
}

impl CodedEntries {
    fn from_batches(batches: &[RecordBatch]) -> Result<CodedEntries> {
        struct Columns {
            day: Date32Array,
            venue: StringArray,
            room: StringArray,
            song: StringArray,
            rule: Int64Array,
            events: Int64Array,
            rows: Int64Array,
        }
        let columns = batches
            .iter()
            .map(|b| {
                let day = cast(column(b, "business_day")?, &DataType::Date32)
                    .map_err(DataFusionError::from)?;
                Ok(Columns {
                    day: day.as_primitive::<Date32Type>().clone(),
                    venue: strings(b, "venue_id")?,
                    room: strings(b, "room_id")?,
                    song: strings(b, "song_id")?,
                    rule: integers(b, "first_rule")?,
                    events: integers(b, "events")?,
                    rows: integers(b, "rows_received")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        type Map<K> = HashMap<K, u32, foldhash::fast::RandomState>;
        let mut song_codes: Map<Option<&str>> = Map::default();
        let mut room_codes: Map<(Option<&str>, Option<&str>)> = Map::default();
        let mut entries = Vec::new();
        for c in &columns {
            for i in 0..c.day.len() {
                if c.day.is_null(i) {
                    return Err(internal("day digest: a play without a business day".into()));
                }
                let next = song_codes.len() as u32;
                let song = *song_codes.entry(option(&c.song, i)).or_insert(next);
                let next = room_codes.len() as u32;
                let room = *room_codes
                    .entry((option(&c.venue, i), option(&c.room, i)))
                    .or_insert(next);
                let first_rule = u8::try_from(c.rule.value(i))
                    .map_err(|_| internal("day digest: first_rule out of range".into()))?;
                entries.push((
                    song,
                    room,
                    c.day.value(i),
                    first_rule,
                    count(c.events.value(i), "events")?,
                    count(c.rows.value(i), "rows_received")?,
                ));
            }
        }
        // Songs in sorted order, so that a range of song ids is a range of entries.
        let mut songs: Vec<(Option<&str>, u32)> = song_codes.into_iter().collect();
        songs.sort_unstable();
        let mut rank = vec![0u32; songs.len()];
        for (r, (_, code)) in songs.iter().enumerate() {
            rank[*code as usize] = r as u32;
        }
        for e in &mut entries {
            e.0 = rank[e.0 as usize];
        }
        entries.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        let mut rooms: Vec<(Option<String>, Option<String>)> = vec![(None, None); room_codes.len()];
        for ((venue, room), code) in room_codes {
            rooms[code as usize] = (venue.map(str::to_string), room.map(str::to_string));
        }
        Ok(CodedEntries {
            songs: songs
                .into_iter()
                .map(|(s, _)| s.map(str::to_string))
                .collect(),
            rooms,
            entries,
        })
    }

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
        let venues: StringArray = self.rooms.iter().map(|r| r.0.as_deref()).collect();
        let rooms: StringArray = self.rooms.iter().map(|r| r.1.as_deref()).collect();
        record_batch(vec![
            ("venue_id", Arc::new(venues) as ArrayRef, true),
            ("room_id", Arc::new(rooms), true),
        ])
    }

    fn entries_batch(&self) -> Result<RecordBatch> {
        let e = &self.entries;
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

/// A batch as a Parquet file in memory.
fn parquet_bytes(batch: &RecordBatch, row_group_rows: usize) -> Result<Bytes> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))
        .map_err(|e| internal(format!("day digest: {e}")))?;
    writer
        .write(batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| internal(format!("day digest: {e}")))?;
    Ok(Bytes::from(buffer))
}

/// A kept digest, with its dictionaries loaded.
pub(crate) struct KeptDigest {
    dir: Location,
    /// What `digest.json` says.
    pub info: DigestInfo,
    songs: StringArray,
    venues: StringArray,
    rooms: StringArray,
}

impl KeptDigest {
    /// The digest kept in `dir`, or `None` if there is none (or only part of one).
    pub(crate) async fn open(dir: &Location) -> Result<Option<KeptDigest>> {
        let Some(json) = dir.read("digest.json").await? else {
            return Ok(None);
        };
        let corrupt = |reason: String| ChartError::Corrupt {
            file: dir.join("digest.json").to_string(),
            problem: reason,
        };
        let info: DigestInfo = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
        if info.format != FORMAT {
            return Err(corrupt(format!(
                "format {}, expected {FORMAT}",
                info.format
            )));
        }
        let songs = read_parquet(dir, "songs.parquet").await?;
        let rooms = read_parquet(dir, "rooms.parquet").await?;
        let songs = strings(&songs, "song_id")?;
        let venues = strings(&rooms, "venue_id")?;
        let room_ids = strings(&rooms, "room_id")?;
        if info.hash_starts.len() as u64 != HASH_PARTS + 1
            || info.hash_starts.last() != Some(&(info.event_ids as u64))
        {
            return Err(corrupt("hash_starts do not match event_ids".into()));
        }
        if songs.len() != info.songs || venues.len() != info.rooms {
            return Err(corrupt("dictionaries of another size".into()));
        }
        Ok(Some(KeptDigest {
            dir: dir.clone(),
            info,
            songs,
            venues,
            rooms: room_ids,
        }))
    }

    fn song(&self, code: usize) -> Option<&str> {
        option(&self.songs, code)
    }

    /// The first song code at or after `bound` in this digest's sorted songs.
    fn song_code(&self, bound: &Bound) -> u32 {
        let (mut low, mut high) = (0, self.songs.len());
        while low < high {
            let middle = (low + high) / 2;
            if self.song(middle) < bound.as_deref() {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low as u32
    }

    /// The entries from the row group that holds song `start` (entries of songs
    /// before it may come first).
    async fn entries_from(&self, start: u32) -> Result<EntryCursor> {
        let reader = LocationFile::open(&self.dir.join("entries.parquet")).await?;
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| self.corrupt("entries.parquet", e))?;
        let groups = builder.metadata().row_groups();
        // Song codes are UInt32, stored as INT32 with their bits.
        let first = groups
            .iter()
            .position(|group| match group.column(0).statistics() {
                Some(Statistics::Int32(s)) => s.max_opt().is_none_or(|&max| max as u32 >= start),
                _ => true,
            })
            .unwrap_or(groups.len());
        let row_groups: Vec<usize> = (first..groups.len()).collect();
        let stream = builder
            .with_row_groups(row_groups)
            .with_batch_size(ROW_GROUP_ENTRIES)
            .build()
            .map_err(|e| self.corrupt("entries.parquet", e))?;
        Ok(EntryCursor {
            stream,
            batch: None,
            next: 0,
        })
    }

    fn corrupt(&self, file: &str, e: impl std::fmt::Display) -> ChartError {
        ChartError::Corrupt {
            file: self.dir.join(file).to_string(),
            problem: e.to_string(),
        }
    }
}

async fn read_parquet(dir: &Location, file: &str) -> Result<RecordBatch> {
    let path = dir.join(file);
    let corrupt = |e: parquet::errors::ParquetError| ChartError::Corrupt {
        file: path.to_string(),
        problem: e.to_string(),
    };
    let reader = LocationFile::open(&path).await?;
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(corrupt)?;
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder
        .build()
        .map_err(corrupt)?
        .try_collect()
        .await
        .map_err(corrupt)?;
    Ok(arrow::compute::concat_batches(&schema, &batches).map_err(DataFusionError::from)?)
}

/// A file at a location, read by ranges as Parquet.
struct LocationFile {
    location: Location,
    size: u64,
}

impl LocationFile {
    async fn open(location: &Location) -> Result<LocationFile> {
        let meta = location
            .store()
            .head(location.prefix())
            .await
            .map_err(|e| location.error(location.prefix(), e))?;
        Ok(LocationFile {
            location: location.clone(),
            size: meta.size,
        })
    }
}

impl AsyncFileReader for LocationFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.location
                .store()
                .get_range(self.location.prefix(), range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The entries of a kept digest, read in order.
struct EntryCursor {
    stream: ParquetRecordBatchStream<LocationFile>,
    batch: Option<EntryBatch>,
    next: usize,
}

struct EntryBatch {
    song: UInt32Array,
    room: UInt32Array,
    day: Date32Array,
    rule: UInt8Array,
    events: UInt32Array,
    rows: UInt32Array,
}

impl EntryCursor {
    /// The current batch and the index of its next entry, reading one more when
    /// needed; `None` at the end.
    async fn current(&mut self) -> Result<Option<(&EntryBatch, &mut usize)>> {
        if self
            .batch
            .as_ref()
            .is_none_or(|b| self.next >= b.song.len())
        {
            self.batch = None;
            self.next = 0;
            let Some(b) = self
                .stream
                .try_next()
                .await
                .map_err(|e| internal(format!("day digest: {e}")))?
            else {
                return Ok(None);
            };
            self.batch = Some(EntryBatch {
                song: column(&b, "song")?.as_primitive::<UInt32Type>().clone(),
                room: column(&b, "room")?.as_primitive::<UInt32Type>().clone(),
                day: column(&b, "business_day")?
                    .as_primitive::<Date32Type>()
                    .clone(),
                rule: column(&b, "first_rule")?
                    .as_primitive::<UInt8Type>()
                    .clone(),
                events: column(&b, "events")?.as_primitive::<UInt32Type>().clone(),
                rows: column(&b, "rows_received")?
                    .as_primitive::<UInt32Type>()
                    .clone(),
            });
        }
        Ok(self.batch.as_ref().map(|b| (b, &mut self.next)))
    }
}

/// Some of the event hashes of a kept digest, read in blocks.
struct HashCursor {
    file: Location,
    /// The digest's index.
    digest: usize,
    /// The next hash to read, and the end of those to read.
    read: u64,
    stop: u64,
    block: Vec<u64>,
    next: usize,
}

impl HashCursor {
    /// The hashes of part `k` of [`HASH_PARTS`] of `digest`.
    fn part(digest: &KeptDigest, index: usize, k: usize) -> HashCursor {
        HashCursor {
            file: digest.dir.join("event_hashes.u64"),
            digest: index,
            read: digest.info.hash_starts[k],
            stop: digest.info.hash_starts[k + 1],
            block: Vec::new(),
            next: 0,
        }
    }

    /// The next hash, if at most `last`, advancing past it.
    async fn next_at_most(&mut self, last: u64) -> Result<Option<u64>> {
        if self.next >= self.block.len() {
            if self.read >= self.stop {
                return Ok(None);
            }
            let count = HASHES_PER_READ.min(self.stop - self.read);
            let range = self.read * 8..(self.read + count) * 8;
            let bytes = self
                .file
                .store()
                .get_range(self.file.prefix(), range)
                .await
                .map_err(|e| self.file.error(self.file.prefix(), e))?;
            if bytes.len() as u64 != count * 8 {
                return Err(ChartError::Corrupt {
                    file: self.file.to_string(),
                    problem: "shorter than digest.json says".into(),
                });
            }
            self.block = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("eight bytes")))
                .collect();
            self.read += count;
            self.next = 0;
        }
        let hash = self.block[self.next];
        if hash <= last {
            self.next += 1;
            Ok(Some(hash))
        } else {
            Ok(None)
        }
    }
}

/// Groups of digests (indices into `digests`) that share an event id hash, each group
/// sorted, the groups in the order of their first digest. A digest that shares none
/// is a group of one.
///
/// The hashes are read once, in [`HASH_PARTS`] parts of the hash values (`threads`
/// at a time), each a range of values at a time: a range's hashes of every digest go
/// through a small table that finds those of two digests.
pub(crate) async fn groups_sharing_events(
    digests: &[KeptDigest],
    threads: usize,
) -> Result<Vec<Vec<usize>>> {
    let total: u64 = digests.iter().map(|d| d.info.event_ids as u64).sum();
    // About 512 hashes a range, at least one range a part.
    let part_bits = HASH_PARTS.ilog2();
    let range_bits = (u64::BITS - (total / 512).max(1).leading_zeros()).clamp(part_bits, 40);
    let parts: Vec<Vec<HashCursor>> = (0..HASH_PARTS as usize)
        .map(|k| {
            digests
                .iter()
                .enumerate()
                .map(|(d, digest)| HashCursor::part(digest, d, k))
                .collect()
        })
        .collect();
    let pairs: Vec<Vec<(usize, usize)>> = futures::stream::iter(parts.into_iter().enumerate())
        .map(|(k, cursors)| {
            tokio::spawn(async move { shared_pairs(cursors, k as u64, range_bits).await })
        })
        .buffer_unordered(threads.max(1))
        .map(|joined| joined.map_err(|e| internal(format!("day digest: {e}")))?)
        .try_collect()
        .await?;
    let mut parent: Vec<usize> = (0..digests.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (a, b) in pairs.into_iter().flatten() {
        let (a, b) = (root(&mut parent, a), root(&mut parent, b));
        parent[a.max(b)] = a.min(b);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for d in 0..digests.len() {
        let r = root(&mut parent, d);
        let g = *group_of.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(d);
    }
    Ok(groups)
}

/// The pairs of digests that share a hash in part `k` of the hash values, read a
/// range of 2^(64 − `range_bits`) values at a time.
async fn shared_pairs(
    mut cursors: Vec<HashCursor>,
    k: u64,
    range_bits: u32,
) -> Result<Vec<(usize, usize)>> {
    let ranges_per_part = 1u64 << (range_bits - HASH_PARTS.ilog2());
    let mut table = SeenTable::new(1024);
    let mut pairs = Vec::new();
    for range in k * ranges_per_part..(k + 1) * ranges_per_part {
        let last = match (range + 1).checked_shl(64 - range_bits) {
            Some(end) if range + 1 < HASH_PARTS * ranges_per_part => end - 1,
            _ => u64::MAX,
        };
        table.clear();
        for cursor in &mut cursors {
            while let Some(hash) = cursor.next_at_most(last).await? {
                if let Some(other) = table.insert(hash, cursor.digest) {
                    pairs.push((other, cursor.digest));
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    Ok(pairs)
}

/// An open-addressing table of the hashes of one range and the digest each came from.
struct SeenTable {
    slots: Vec<(u64, u32)>,
    used: Vec<usize>,
}

/// A slot's digest when empty.
const EMPTY: u32 = u32::MAX;

impl SeenTable {
    fn new(capacity: usize) -> SeenTable {
        SeenTable {
            slots: vec![(0, EMPTY); capacity.next_power_of_two()],
            used: Vec::new(),
        }
    }

    fn clear(&mut self) {
        for &slot in &self.used {
            self.slots[slot].1 = EMPTY;
        }
        self.used.clear();
    }

    /// Adds `hash` from digest `d`; the digest it came from before, if any.
    fn insert(&mut self, hash: u64, d: usize) -> Option<usize> {
        if (self.used.len() + 1) * 2 > self.slots.len() {
            let entries: Vec<(u64, u32)> = self.used.iter().map(|&s| self.slots[s]).collect();
            *self = SeenTable::new(self.slots.len() * 2);
            for (h, e) in entries {
                self.insert(h, e as usize);
            }
        }
        let mask = self.slots.len() - 1;
        let mut slot = (hash as usize) & mask;
        loop {
            let (h, e) = self.slots[slot];
            if e == EMPTY {
                self.slots[slot] = (hash, d as u32);
                self.used.push(slot);
                return None;
            }
            if h == hash {
                return Some(e as usize);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// A song id bounding a range of songs (`None`: the missing id, first of all).
type Bound = Option<String>;

/// What the merge needs besides the digests.
pub(crate) struct MergeInputs {
    /// The song ids of `songs`.
    pub known_songs: Arc<HashSet<String>>,
    /// The venue ids of `venues`.
    pub known_venues: HashSet<String>,
    /// `gm_param('room_cap')`.
    pub room_cap: u64,
    /// The period kinds to compute.
    pub kinds: Vec<PeriodKind>,
    /// Parts merged at the same time.
    pub threads: usize,
    /// Entries per range of songs ([`CHUNK_ENTRIES`] but in tests).
    pub chunk_entries: usize,
}

/// A period of the merge: its kind and name (`YYYY-MM` or `YYYY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PeriodName {
    kind: PeriodKind,
    name: String,
}

/// The periods each business day of the digests belongs to.
struct Calendar {
    first_day: i32,
    /// Per day from `first_day`: the indices of its periods in `periods`.
    day_periods: Vec<[u32; 2]>,
    periods: Vec<PeriodName>,
}

/// No period (of a kind not computed).
const NO_PERIOD: u32 = u32::MAX;

/// Days from 0001-01-01 to 1970-01-01, the origin of `Date32`.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

impl Calendar {
    fn new(units: &[KeptDigest], kinds: &[PeriodKind]) -> Result<Calendar> {
        let days = units.iter().filter_map(|u| u.info.days);
        let first = days.clone().map(|d| d.0).min().unwrap_or(0);
        let last = days.map(|d| d.1).max().unwrap_or(-1);
        let mut calendar = Calendar {
            first_day: first,
            day_periods: Vec::new(),
            periods: Vec::new(),
        };
        let mut index: HashMap<PeriodName, u32> = HashMap::new();
        for day in first..=last {
            let date = NaiveDate::from_num_days_from_ce_opt(day + EPOCH_DAYS_FROM_CE)
                .ok_or_else(|| internal(format!("day digest: business day {day} out of range")))?;
            let mut slots = [NO_PERIOD; 2];
            for (slot, kind) in slots.iter_mut().zip(kinds) {
                let name = match kind {
                    PeriodKind::Month => format!("{:04}-{:02}", date.year(), date.month()),
                    PeriodKind::Year => format!("{:04}", date.year()),
                };
                let period = PeriodName { kind: *kind, name };
                let next = calendar.periods.len() as u32;
                *slot = *index.entry(period.clone()).or_insert_with(|| {
                    calendar.periods.push(period);
                    next
                });
            }
            calendar.day_periods.push(slots);
        }
        Ok(calendar)
    }

    /// The periods of a business day of the digests.
    fn periods_of(&self, day: i32) -> Result<&[u32; 2]> {
        usize::try_from(day - self.first_day)
            .ok()
            .and_then(|i| self.day_periods.get(i))
            .ok_or_else(|| {
                internal(format!(
                    "day digest: business day {day} outside digest.json's days"
                ))
            })
    }
}

/// One song's figures in one period.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    score: i64,
    plays: i64,
    venues: i64,
    rooms: i64,
}

/// The merge's result: the rows of `song_period_stats` and `room_period_outcomes`.
pub(crate) struct Merged {
    /// (period, song id, figures).
    songs: Vec<(u32, String, Figures)>,
    /// Per period, room (global code) and exclusion: events and rows.
    outcomes: Vec<[i64; 2]>,
    rooms: Vec<(Option<String>, Option<String>)>,
    calendar: Arc<Calendar>,
}

/// Entries gathered for one range of songs.
pub(crate) const CHUNK_ENTRIES: usize = 1 << 20;

/// Bits of a record's sort key: chunk song, room (global code), business day.
const SONG_BITS: u32 = 24;
const ROOM_BITS: u32 = 24;
const DAY_BITS: u32 = 16;

/// What a part of a merge gives: (period, song id, figures) of its songs, and the
/// outcomes (events, rows) per period, room and exclusion of its entries.
type PartFigures = (Vec<(u32, String, Figures)>, Vec<[i64; 2]>);

/// What every part of a merge reads.
struct MergeContext {
    units: Vec<KeptDigest>,
    /// Per unit, the global code of each of its rooms (global codes in the order of
    /// (venue_id, room_id), so that a venue's rooms are consecutive).
    unit_rooms: Vec<Vec<u32>>,
    room_venue: Vec<u32>,
    venue_known: Vec<bool>,
    rooms: usize,
    known_songs: Arc<HashSet<String>>,
    calendar: Arc<Calendar>,
    room_cap: u64,
}

/// Merges the digests of disjoint units (no event id in two of them). The song ids
/// are cut into ranges of about [`CHUNK_ENTRIES`] entries, and consecutive ranges
/// into parts merged in parallel (`threads` at a time), each reading every unit's
/// entries of its songs once, in order, from the row group its songs start in.
pub(crate) async fn merge(units: Vec<KeptDigest>, inputs: MergeInputs) -> Result<Merged> {
    let calendar = Arc::new(Calendar::new(&units, &inputs.kinds)?);
    let days = calendar.day_periods.len();
    let mut all_rooms: Vec<(Option<&str>, Option<&str>)> = units
        .iter()
        .flat_map(|u| (0..u.rooms.len()).map(move |i| (option(&u.venues, i), option(&u.rooms, i))))
        .collect();
    all_rooms.sort_unstable();
    all_rooms.dedup();
    if all_rooms.len() >= 1 << ROOM_BITS || days >= 1 << DAY_BITS {
        return Err(internal(format!(
            "day digest: {} rooms over {days} business days, more than a merge can code",
            all_rooms.len()
        )));
    }
    let codes: HashMap<(Option<&str>, Option<&str>), u32, foldhash::fast::RandomState> = all_rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (*r, i as u32))
        .collect();
    let unit_rooms: Vec<Vec<u32>> = units
        .iter()
        .map(|u| {
            (0..u.rooms.len())
                .map(|i| codes[&(option(&u.venues, i), option(&u.rooms, i))])
                .collect()
        })
        .collect();
    let mut room_venue = Vec::with_capacity(all_rooms.len());
    let mut venue_known = Vec::new();
    for (i, (venue, _)) in all_rooms.iter().enumerate() {
        if i == 0 || all_rooms[i - 1].0 != *venue {
            venue_known.push(venue.is_some_and(|v| inputs.known_venues.contains(v)));
        }
        room_venue.push(venue_known.len() as u32 - 1);
    }
    let rooms: Vec<(Option<String>, Option<String>)> = all_rooms
        .iter()
        .map(|(v, r)| (v.map(str::to_string), r.map(str::to_string)))
        .collect();
    drop(codes);
    drop(all_rooms);

    let bounds = chunk_bounds(&units, inputs.chunk_entries);
    let threads = inputs.threads.max(1);
    // Each part merges consecutive chunks.
    let parts = threads * 2;
    let chunks = bounds.len() + 1;
    let per_part = chunks.div_ceil(parts);
    let part_bounds: Vec<(Option<Bound>, Option<Bound>, Vec<Bound>)> = (0..chunks)
        .step_by(per_part)
        .map(|first| {
            let last = (first + per_part).min(chunks);
            let low = first.checked_sub(1).map(|i| bounds[i].clone());
            let high = bounds.get(last - 1).cloned();
            (low, high, bounds[first..last - 1].to_vec())
        })
        .collect();
    let context = Arc::new(MergeContext {
        rooms: rooms.len(),
        units,
        unit_rooms,
        room_venue,
        venue_known,
        known_songs: inputs.known_songs,
        calendar: calendar.clone(),
        room_cap: inputs.room_cap,
    });
    let results: Vec<PartFigures> = futures::stream::iter(part_bounds)
        .map(|(low, high, inner)| {
            let context = context.clone();
            tokio::spawn(async move { merge_part(&context, low, high, inner).await })
        })
        .buffer_unordered(threads)
        .map(|joined| joined.map_err(|e| internal(format!("day digest: {e}")))?)
        .try_collect()
        .await?;
    let slots = calendar.periods.len() * rooms.len() * EXCLUSIONS.len();
    let mut outcomes = vec![[0i64; 2]; slots];
    let mut songs = Vec::new();
    for (part_songs, part_outcomes) in results {
        songs.extend(part_songs);
        for (total, part) in outcomes.iter_mut().zip(part_outcomes) {
            total[0] += part[0];
            total[1] += part[1];
        }
    }
    Ok(Merged {
        songs,
        outcomes,
        rooms,
        calendar,
    })
}

/// Merges the songs in `[low, high)`, a chunk between each of `bounds` (which lie
/// inside it): their figures, and the outcomes of their entries.
async fn merge_part(
    context: &MergeContext,
    low: Option<Bound>,
    high: Option<Bound>,
    bounds: Vec<Bound>,
) -> Result<PartFigures> {
    let calendar = &context.calendar;
    let rooms = context.rooms;
    let mut outcomes = vec![[0i64; 2]; calendar.periods.len() * rooms * EXCLUSIONS.len()];
    let mut cursors = Vec::with_capacity(context.units.len());
    for u in &context.units {
        let start = low.as_ref().map_or(0, |b| u.song_code(b));
        cursors.push((start, u.entries_from(start).await?));
    }
    let mut songs_out = Vec::new();
    let mut records: Vec<(u64, u32)> = Vec::new();
    let ends: Vec<Option<&Bound>> = bounds.iter().map(Some).chain([high.as_ref()]).collect();
    for end_bound in ends {
        records.clear();
        let mut names: Vec<&str> = Vec::new();
        let mut song_ids: HashMap<&str, (u32, bool), foldhash::fast::RandomState> =
            HashMap::default();
        for (u, unit) in context.units.iter().enumerate() {
            let (start, cursor) = &mut cursors[u];
            let end = end_bound.map_or(u32::MAX, |b| unit.song_code(b));
            // The song of the previous entry: entries come sorted by song.
            let mut current: Option<(u32, Option<(u32, bool)>)> = None;
            while let Some((batch, next)) = cursor.current().await? {
                let n = batch.song.len();
                while *next < n {
                    let e = *next;
                    let code = batch.song.value(e);
                    if code >= end {
                        break;
                    }
                    *next += 1;
                    if code < *start {
                        continue;
                    }
                    let song = match current {
                        Some((c, song)) if c == code => song,
                        _ => {
                            let song = unit.song(code as usize).map(|name| {
                                let id = names.len() as u32;
                                *song_ids.entry(name).or_insert_with(|| {
                                    names.push(name);
                                    (id, context.known_songs.contains(name))
                                })
                            });
                            current = Some((code, song));
                            song
                        }
                    };
                    let room = *context.unit_rooms[u]
                        .get(batch.room.value(e) as usize)
                        .ok_or_else(|| {
                            unit.corrupt("entries.parquet", "a room code out of range")
                        })?;
                    let exclusion = match batch.rule.value(e) {
                        NO_RULE if !song.is_some_and(|s| s.1) => 3,
                        NO_RULE
                            if !context.venue_known[context.room_venue[room as usize] as usize] =>
                        {
                            4
                        }
                        NO_RULE => 0,
                        1 => 1,
                        2 => 2,
                        other => {
                            return Err(
                                unit.corrupt("entries.parquet", format!("first_rule {other}"))
                            );
                        }
                    };
                    let day = batch.day.value(e);
                    for &p in calendar.periods_of(day)? {
                        if p == NO_PERIOD {
                            continue;
                        }
                        let slot =
                            (p as usize * rooms + room as usize) * EXCLUSIONS.len() + exclusion;
                        outcomes[slot][0] += i64::from(batch.events.value(e));
                        outcomes[slot][1] += i64::from(batch.rows.value(e));
                    }
                    if exclusion == 0 {
                        let song = u64::from(song.expect("a valid play has a known song").0);
                        let key = (song << (ROOM_BITS + DAY_BITS))
                            | (u64::from(room) << DAY_BITS)
                            | (day - calendar.first_day) as u64;
                        records.push((key, batch.events.value(e)));
                    }
                }
                if *next < n {
                    break;
                }
            }
        }
        if names.len() >= 1 << SONG_BITS {
            return Err(internal(format!(
                "day digest: {} songs in one range, more than a merge can code",
                names.len()
            )));
        }
        records.sort_unstable_by_key(|r| r.0);
        let figures = song_figures(&records, context);
        songs_out.extend(
            figures
                .into_iter()
                .map(|(p, s, f)| (p, names[s as usize].to_string(), f)),
        );
    }
    Ok((songs_out, outcomes))
}

/// Song ids that cut the songs of every unit into ranges of about `chunk_entries`
/// entries in all.
fn chunk_bounds(units: &[KeptDigest], chunk_entries: usize) -> Vec<Bound> {
    let entries: usize = units.iter().map(|u| u.info.entries).sum();
    let chunks = entries.div_ceil(chunk_entries.max(1)).max(1);
    // About eight songs of each unit per range.
    let mut samples: Vec<Option<&str>> = units
        .iter()
        .flat_map(|u| {
            let every = (u.songs.len() / (chunks * 8)).max(1);
            (0..u.songs.len()).step_by(every).map(|i| u.song(i))
        })
        .collect();
    samples.sort_unstable();
    samples.dedup();
    let step = samples.len().div_ceil(chunks).max(1);
    samples
        .into_iter()
        .skip(step)
        .step_by(step)
        .map(|s| s.map(str::to_string))
        .collect()
}

/// The figures of the songs of `records` (sort keys of song, room, business day,
/// sorted, and plays): (period, song, figures).
fn song_figures(records: &[(u64, u32)], context: &MergeContext) -> Vec<(u32, u32, Figures)> {
    let calendar = &context.calendar;
    let room_mask = (1u64 << ROOM_BITS) - 1;
    let day_mask = (1u64 << DAY_BITS) - 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let song = records[i].0 >> (ROOM_BITS + DAY_BITS);
        let mut figures: Vec<(u32, Figures)> = Vec::new();
        let mut venue_periods: Vec<u32> = Vec::new();
        let mut room_periods: Vec<u32> = Vec::new();
        let mut previous: Option<(u32, u32)> = None;
        while i < records.len() && records[i].0 >> (ROOM_BITS + DAY_BITS) == song {
            let key = records[i].0;
            let room = ((key >> DAY_BITS) & room_mask) as u32;
            let venue = context.room_venue[room as usize];
            let day = (key & day_mask) as i32 + calendar.first_day;
            if previous.is_none_or(|(v, _)| v != venue) {
                venue_periods.clear();
            }
            if previous.is_none_or(|(_, r)| r != room) {
                room_periods.clear();
            }
            previous = Some((venue, room));
            // Every unit's plays of this room and day, then the cap.
            let mut plays = 0u64;
            while i < records.len() && records[i].0 == key {
                plays += u64::from(records[i].1);
                i += 1;
            }
            let score = plays.min(context.room_cap);
            let periods = calendar
                .periods_of(day)
                .expect("checked when the entry was read");
            for &p in periods {
                if p == NO_PERIOD {
                    continue;
                }
                let f = match figures.iter().position(|(q, _)| *q == p) {
                    Some(k) => &mut figures[k].1,
                    None => {
                        figures.push((p, Figures::default()));
                        &mut figures.last_mut().expect("pushed").1
                    }
                };
                f.plays += plays as i64;
                f.score += score as i64;
                if !room_periods.contains(&p) {
                    room_periods.push(p);
                    f.rooms += 1;
                }
                if !venue_periods.contains(&p) {
                    venue_periods.push(p);
                    f.venues += 1;
                }
            }
        }
        out.extend(figures.into_iter().map(|(p, f)| (p, song as u32, f)));
    }
    out
}

impl Merged {
    /// The rows of `song_period_stats`, in its `schema`.
    pub(crate) fn song_period_stats(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let period = |i: usize| &self.calendar.periods[self.songs[i].0 as usize];
        let n = self.songs.len();
        let kind: StringArray = (0..n).map(|i| Some(period(i).kind.as_str())).collect();
        let name: StringArray = (0..n).map(|i| Some(period(i).name.as_str())).collect();
        let song: StringArray = self.songs.iter().map(|s| Some(s.1.as_str())).collect();
        let figure = |f: fn(&Figures) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                self.songs.iter().map(|s| f(&s.2)),
            ))
        };
        cast_batch(
            schema,
            vec![
                Arc::new(kind),
                Arc::new(name),
                Arc::new(song),
                figure(|f| f.score),
                figure(|f| f.plays),
                figure(|f| f.venues),
                figure(|f| f.rooms),
            ],
        )
    }

    /// The rows of `room_period_outcomes`, in its `schema`.
    pub(crate) fn room_period_outcomes(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let rooms = self.rooms.len();
        let mut kind = StringBuilder::new();
        let mut name = StringBuilder::new();
        let mut venue = StringBuilder::new();
        let mut room = StringBuilder::new();
        let mut exclusion = StringBuilder::new();
        let mut events = Vec::new();
        let mut rows = Vec::new();
        for (slot, [e, r]) in self.outcomes.iter().enumerate() {
            if *e == 0 && *r == 0 {
                continue;
            }
            let x = slot % EXCLUSIONS.len();
            let rest = slot / EXCLUSIONS.len();
            let (p, k) = (rest / rooms, rest % rooms);
            let period = &self.calendar.periods[p];
            kind.append_value(period.kind.as_str());
            name.append_value(&period.name);
            venue.append_option(self.rooms[k].0.as_deref());
            room.append_option(self.rooms[k].1.as_deref());
            exclusion.append_option(EXCLUSIONS[x]);
            events.push(*e);
            rows.push(*r);
        }
        cast_batch(
            schema,
            vec![
                Arc::new(kind.finish()),
                Arc::new(name.finish()),
                Arc::new(venue.finish()),
                Arc::new(room.finish()),
                Arc::new(exclusion.finish()),
                Arc::new(Int64Array::from(events)),
                Arc::new(Int64Array::from(rows)),
            ],
        )
    }
}

/// A batch of `schema` from `columns`, each cast to its field's type.
fn cast_batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(field, column)| cast(&column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    Ok(RecordBatch::try_new(schema.clone(), columns).map_err(DataFusionError::from)?)
}

/// The song or venue ids of a table (`songs` or `venues`) registered on `ctx`.
pub(crate) async fn known_ids(
    ctx: &SessionContext,
    table: &str,
    id: &str,
) -> Result<HashSet<String>> {
    let mut stream = ctx
        .table(table)
        .await?
        .filter(col(id).is_not_null())?
        .select_columns(&[id])?
        .execute_stream()
        .await?;
    let mut ids = HashSet::default();
    while let Some(b) = stream.next().await {
        ids.extend(strings(&b?, id)?.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoldenMic, Methodology};

    async fn rows(engine: &GoldenMic, table: &str) -> Vec<String> {
        let batches = engine
            .context()
            .sql(&format!("SELECT * FROM {table}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut rows: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    (0..b.num_columns())
                        .map(|c| {
                            arrow::util::display::array_value_to_string(b.column(c), r).unwrap()
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
            })
            .collect();
        rows.sort();
        rows
    }

    /// Many small ranges of songs, merged in parallel parts that start inside the
    /// digests' row groups, give what one range does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ranges_parts_and_row_groups_do_not_change_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        sample_data::generate(&sample_data::SampleSpec::small(3), dir.path()).unwrap();
        let kept = tempfile::tempdir().unwrap();
        let open = |row_groups: usize, chunks: usize| {
            let dir = dir.path().to_path_buf();
            let kept = Location::local(kept.path().join(row_groups.to_string())).unwrap();
            async move {
                let mut engine = GoldenMic::open(&dir, Methodology::default())
                    .await
                    .unwrap()
                    .with_day_digests(Some(kept));
                engine.digest_row_group_entries = row_groups;
                engine.merge_chunk_entries = chunks;
                engine.materialize_by_day(None).await.unwrap();
                engine
            }
        };
        let whole = open(ROW_GROUP_ENTRIES, CHUNK_ENTRIES).await;
        let cut = open(13, 300).await;
        for table in ["song_period_stats", "room_period_outcomes"] {
            let (want, got) = (rows(&whole, table).await, rows(&cut, table).await);
            assert!(want.len() > 1000, "{table}: {} rows", want.len());
            assert_eq!(got, want, "{table}");
        }
        // The cut merge had many ranges, and digests of many row groups.
        let mut units = Vec::new();
        for entry in std::fs::read_dir(kept.path().join("13")).unwrap() {
            let dir = Location::local(entry.unwrap().path()).unwrap();
            units.push(KeptDigest::open(&dir).await.unwrap().unwrap());
        }
        let entries: usize = units.iter().map(|u| u.info.entries).sum();
        let songs: usize = units.iter().map(|u| u.info.songs).sum();
        assert!(
            chunk_bounds(&units, 300).len() > 20,
            "{entries} entries, {songs} songs, {:?}",
            chunk_bounds(&units, 300).len()
        );
        assert!(units.iter().any(|u| u.info.entries > 10 * 13));
    }
}
