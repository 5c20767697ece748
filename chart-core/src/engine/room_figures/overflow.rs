//! The plays an accumulator writes to a temporary file once past its memory budget.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::common::{exec_err, internal_err};
use datafusion::error::Result as DfResult;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::spill_file::{SpillFile, SpillWriter};

/// Where an accumulator writes its plays once its entries pass a budget.
#[derive(Clone)]
pub(crate) struct OverflowTo {
    /// The session's disk manager: the records go to one of its temporary files.
    pub(crate) disk: Arc<DiskManager>,
    /// Bytes of state an accumulator holds before it writes its entries out.
    pub(crate) budget: usize,
}

/// Partitions of the groups in an [`Overflow`] file: 2^this.
const PARTITION_BITS: u32 = 7;
pub(super) const PARTITIONS: usize = 1 << PARTITION_BITS;
/// Bytes of a record: group, room, day and plays, four little-endian bytes each.
pub(super) const RECORD: usize = 16;
/// The most bytes of records a partition buffers before they are written.
pub(super) const MAX_CHUNK: usize = 64 * 1024;

/// The plays of an accumulator past its budget: records (group, room, day, plays) in
/// one temporary file, written in chunks that each hold one partition of the groups
/// (by a hash of the group), so that the groups' figures can be computed one
/// partition at a time, each holding a 128th of the entries.
pub(super) struct Overflow {
    pub(super) file: Arc<dyn SpillFile>,
    /// In a mutex only so that the accumulator is `Sync` (it is never shared).
    writer: Mutex<Box<dyn SpillWriter>>,
    written: u64,
    /// Bytes of a partition's buffer written as one chunk.
    pub(super) chunk: usize,
    /// Per partition, the (offset, length) of its chunks in the file.
    chunks: Vec<Vec<(u64, usize)>>,
    /// Per partition, the records not written yet.
    buffers: Vec<Vec<u8>>,
}

impl Overflow {
    /// A new file of `disk`, its chunks sized for `budget`; `None` when the disk
    /// manager's files are not local files.
    pub(super) fn new(disk: &Arc<DiskManager>, budget: usize) -> DfResult<Option<Overflow>> {
        let file = disk.create_tmp_file("room_figures")?;
        if file.path().is_none() {
            return Ok(None);
        }
        let writer = Mutex::new(file.open_writer()?);
        // A fourth of the budget for the buffers, in whole records, at least 16.
        let chunk = (budget / 4 / PARTITIONS / RECORD).clamp(16, MAX_CHUNK / RECORD) * RECORD;
        Ok(Some(Overflow {
            file,
            writer,
            written: 0,
            chunk,
            chunks: vec![Vec::new(); PARTITIONS],
            buffers: vec![Vec::new(); PARTITIONS],
        }))
    }

    fn partition(group: u32) -> usize {
        (group.wrapping_mul(0x9E37_79B1) >> (u32::BITS - PARTITION_BITS)) as usize
    }

    fn failed(&self, doing: &str, error: std::io::Error) -> datafusion::error::DataFusionError {
        let path = self.file.path().map(|p| p.display().to_string());
        datafusion::error::DataFusionError::Execution(format!(
            "room_figures: {doing} {}: {error}",
            path.unwrap_or_default()
        ))
    }

    /// Adds `plays` plays of (room, day) to `group`.
    pub(super) fn push(&mut self, group: usize, room: u32, day: i32, plays: u32) -> DfResult<()> {
        let Ok(group) = u32::try_from(group) else {
            return exec_err!("room_figures: more than {} groups", u32::MAX);
        };
        let partition = Self::partition(group);
        let buffer = &mut self.buffers[partition];
        if buffer.capacity() == 0 {
            buffer.reserve_exact(self.chunk);
        }
        buffer.extend_from_slice(&group.to_le_bytes());
        buffer.extend_from_slice(&room.to_le_bytes());
        buffer.extend_from_slice(&day.to_le_bytes());
        buffer.extend_from_slice(&plays.to_le_bytes());
        if buffer.len() >= self.chunk {
            self.write(partition)?;
        }
        Ok(())
    }

    fn writer(&mut self) -> &mut Box<dyn SpillWriter> {
        self.writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes a partition's buffer as a chunk.
    fn write(&mut self, partition: usize) -> DfResult<()> {
        let length = self.buffers[partition].len();
        if length == 0 {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffers[partition]);
        let written = self.writer().write_all(&buffer);
        self.buffers[partition] = buffer;
        if let Err(e) = written {
            return Err(self.failed("writing", e));
        }
        self.chunks[partition].push((self.written, length));
        self.written += length as u64;
        self.buffers[partition].clear();
        Ok(())
    }

    /// Writes every buffer out and opens the file to read the partitions back.
    pub(super) fn finish(&mut self) -> DfResult<File> {
        for partition in 0..PARTITIONS {
            self.write(partition)?;
        }
        if let Err(e) = self.writer().flush() {
            return Err(self.failed("writing", e));
        }
        self.writer().finish()?;
        self.buffers = Vec::new();
        let Some(path) = self.file.path() else {
            return internal_err!("room_figures: an overflow file without a path");
        };
        File::open(path).map_err(|e| self.failed("reading", e))
    }

    /// The records of `partition`, into `records`.
    pub(super) fn read(
        &self,
        file: &mut File,
        partition: usize,
        records: &mut Vec<u8>,
    ) -> DfResult<()> {
        records.clear();
        for &(offset, length) in &self.chunks[partition] {
            let start = records.len();
            records.resize(start + length, 0);
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut records[start..]))
                .map_err(|e| self.failed("reading", e))?;
        }
        Ok(())
    }

    pub(super) fn size(&self) -> usize {
        self.buffers.iter().map(Vec::capacity).sum::<usize>()
            + self.chunks.iter().map(Vec::capacity).sum::<usize>() * size_of::<(u64, usize)>()
    }
}

/// The (group, room, day, plays) of a record.
pub(super) fn record(bytes: &[u8]) -> (usize, u32, i32, u32) {
    let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    (
        u32::from_le_bytes(word(0)) as usize,
        u32::from_le_bytes(word(4)),
        i32::from_le_bytes(word(8)),
        u32::from_le_bytes(word(12)),
    )
}
