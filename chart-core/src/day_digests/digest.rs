//! Computing a unit's digest: `room_day_events` over its plays, coded and written.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringArray, UInt8Array,
    UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Field, Schema};
use bytes::Bytes;
use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::*;
use crate::contract::store::Location;
use crate::error::Result;

/// The query a unit's digest is made of.
const DIGEST_QUERY: &str = "SELECT business_day, venue_id, room_id, song_id, \
     first_rule, events, rows_received FROM room_day_events";

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
        .map_err(|e| digest_failure("the coding task failed", e))??;
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
    let json = serde_json::to_vec_pretty(&info)
        .map_err(|e| digest_failure("cannot encode digest.json", e))?;
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
                    return Err(digest_error("a play without a business day"));
                }
                let next = song_codes.len() as u32;
                let song = *song_codes.entry(option(&c.song, i)).or_insert(next);
                let next = room_codes.len() as u32;
                let room = *room_codes
                    .entry((option(&c.venue, i), option(&c.room, i)))
                    .or_insert(next);
                let first_rule = u8::try_from(c.rule.value(i))
                    .map_err(|_| digest_error("first_rule out of range"))?;
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
        .map_err(|e| digest_failure("cannot encode a digest file", e))?;
    writer
        .write(batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| digest_failure("cannot encode a digest file", e))?;
    Ok(Bytes::from(buffer))
}
