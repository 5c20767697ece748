//! Kept digests: opened from their directory and read back in order.

use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Date32Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow::datatypes::{Date32Type, UInt8Type, UInt32Type};
use bytes::Bytes;
use datafusion::error::DataFusionError;
use futures::FutureExt;
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::ObjectStoreExt;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use super::digest::{DigestInfo, HASH_PARTS};
use super::*;
use crate::contract::store::Location;
use crate::error::{ChartError, Result};

/// A song id bounding a range of songs (`None`: the missing id, first of all).
pub(super) type Bound = Option<String>;

/// Event hashes read at a time.
const HASHES_PER_READ: u64 = 1 << 17;

/// A kept digest, with its dictionaries loaded.
pub(crate) struct KeptDigest {
    pub(super) dir: Location,
    /// What `digest.json` says.
    pub info: DigestInfo,
    pub(super) songs: StringArray,
    /// Per room code: its venue's id.
    pub(super) venues: StringArray,
    pub(super) rooms: StringArray,
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

    pub(super) fn song(&self, code: usize) -> Option<&str> {
        option(&self.songs, code)
    }

    /// The first song code at or after `bound` in this digest's sorted songs.
    pub(super) fn song_code(&self, bound: &Bound) -> u32 {
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
    pub(super) async fn entries_from(&self, start: u32) -> Result<EntryCursor> {
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
            file: self.dir.join("entries.parquet").to_string(),
            batch: None,
            next: 0,
        })
    }

    pub(super) fn corrupt(&self, file: &str, e: impl std::fmt::Display) -> ChartError {
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
pub(super) struct EntryCursor {
    stream: ParquetRecordBatchStream<LocationFile>,
    /// The file read, for errors.
    file: String,
    batch: Option<EntryBatch>,
    next: usize,
}

pub(super) struct EntryBatch {
    pub(super) song: UInt32Array,
    pub(super) room: UInt32Array,
    pub(super) day: Date32Array,
    pub(super) rule: UInt8Array,
    pub(super) events: UInt32Array,
    pub(super) rows: UInt32Array,
}

impl EntryCursor {
    /// The current batch and the index of its next entry, reading one more when
    /// needed; `None` at the end.
    pub(super) async fn current(&mut self) -> Result<Option<(&EntryBatch, &mut usize)>> {
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
                .map_err(|e| ChartError::Corrupt {
                    file: self.file.clone(),
                    problem: e.to_string(),
                })?
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
pub(super) struct HashCursor {
    file: Location,
    /// The digest's index.
    pub(super) digest: usize,
    /// The next hash to read, and the end of those to read.
    read: u64,
    stop: u64,
    block: Vec<u64>,
    next: usize,
}

impl HashCursor {
    /// The hashes of part `k` of [`HASH_PARTS`] of `digest`.
    pub(super) fn part(digest: &KeptDigest, index: usize, k: usize) -> HashCursor {
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
    pub(super) async fn next_at_most(&mut self, last: u64) -> Result<Option<u64>> {
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
