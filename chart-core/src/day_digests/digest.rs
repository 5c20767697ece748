//! Computing a unit's digest: `room_day_events` over its plays, coded and written.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Field, Schema};
use bytes::Bytes;
use chrono::NaiveDate;
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
    // The entries are coded as the query streams them (a day's rows as Arrow strings
    // would be held whole otherwise), while the event ids are read beside them.
    let coding = async {
        let mut coder = Coder::default();
        let mut rows = ctx.sql(DIGEST_QUERY).await?.execute_stream().await?;
        while let Some(batch) = rows.try_next().await? {
            coder.add(&batch)?;
        }
        Ok::<_, crate::error::ChartError>(coder)
    };
    let hashing = async {
        let mut hashes = Vec::new();
        let mut ids = ctx.sql(EVENT_IDS_QUERY).await?.execute_stream().await?;
        while let Some(batch) = ids.try_next().await? {
            let ids = strings(&batch, "event_id")?;
            hashes.extend(ids.iter().flatten().map(event_hash));
        }
        hashes.sort_unstable();
        hashes.dedup();
        Ok::<_, crate::error::ChartError>(hashes)
    };
    let (coder, hashes) = futures::try_join!(coding, hashing)?;
    // Sorting and encoding on a blocking thread.
    let (files, (songs, rooms, entries, days)) =
        tokio::task::spawn_blocking(move || -> Result<_> {
            let coded = coder.finish();
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
        })
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
    songs: Vec<Option<Box<str>>>,
    /// Distinct (venue_id, room_id) pairs.
    rooms: Vec<[Option<Box<str>>; 2]>,
    /// (song, room, business day, first rule, events, rows), sorted.
    entries: Vec<(u32, u32, i32, u8, u32, u32)>,
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

/// Codes the rows of `room_day_events` as they come.
#[derive(Default)]
struct Coder {
    songs: Codes<1>,
    rooms: Codes<2>,
    entries: Vec<(u32, u32, i32, u8, u32, u32)>,
}

impl Coder {
    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let day = cast(column(batch, "business_day")?, &DataType::Date32)
            .map_err(DataFusionError::from)?;
        let day = day.as_primitive::<Date32Type>();
        let (venue, room, song) = (
            strings(batch, "venue_id")?,
            strings(batch, "room_id")?,
            strings(batch, "song_id")?,
        );
        let (rule, events, rows) = (
            integers(batch, "first_rule")?,
            integers(batch, "events")?,
            integers(batch, "rows_received")?,
        );
        self.entries.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            if day.is_null(i) {
                return Err(digest_error("a play without a business day"));
            }
            let first_rule =
                u8::try_from(rule.value(i)).map_err(|_| digest_error("first_rule out of range"))?;
            self.entries.push((
                self.songs.code([option(&song, i)])?,
                self.rooms.code([option(&venue, i), option(&room, i)])?,
                day.value(i),
                first_rule,
                count(events.value(i), "events")?,
                count(rows.value(i), "rows_received")?,
            ));
        }
        Ok(())
    }

    /// The entries with songs in sorted order, so that a range of song ids is a range
    /// of entries.
    fn finish(self) -> CodedEntries {
        let Coder {
            songs,
            rooms,
            mut entries,
        } = self;
        let mut songs: Vec<(Option<Box<str>>, u32)> = songs
            .ids
            .into_iter()
            .zip(0..)
            .map(|([song], code)| (song, code))
            .collect();
        songs.sort_unstable();
        let mut rank = vec![0u32; songs.len()];
        for (r, (_, code)) in songs.iter().enumerate() {
            rank[*code as usize] = r as u32;
        }
        for e in &mut entries {
            e.0 = rank[e.0 as usize];
        }
        entries.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        CodedEntries {
            songs: songs.into_iter().map(|(s, _)| s).collect(),
            rooms: rooms.ids,
            entries,
        }
    }
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
