//! `room_figures([venue_id,] room_id, business_day, cap)`: the room-capped figures of a
//! group of plays in one aggregate, a struct of
//!
//! * `plays`: the rows counted (those whose venue, room and day are not NULL);
//! * `score`: the sum, over each distinct (room, day), of `least(plays that day, cap)`;
//! * `rooms`: the distinct rooms;
//! * `venues` (only when called with a venue): the distinct venues.
//!
//! A room is its (venue, room id) when the venue is given, its room id alone
//! otherwise (call it per venue then).
//!
//! GM-1 groups the valid plays by period and song and calls it with the venue once per
//! group (`queries/song_period_stats.sql`): the same figures as grouping by (day, venue,
//! room, song), then (period, venue, room, song), then (period, song, venue), then
//! (period, song), with one hash aggregate instead of four.
//!
//! Each group keeps its (room, day, plays) entries in a chain: the first in the
//! group's slot, the rest in one shared arena; a group with more than
//! [`LONG_CHAIN`] entries moves them to an open-addressed table of its own, a block
//! of [`Groups::blocks`], so that a play of such a group costs one probe. Rooms are
//! interned to integers once per distinct (venue, room id).
//!
//! Under a memory limit (a session whose memory pool has one, and a disk manager), an
//! accumulator whose state passes a 64th of the limit writes its entries, and from then
//! on each play, as 16-byte records (group, room code, day, plays) to a temporary file,
//! in chunks that each hold one of 128 partitions of its groups; its figures are then
//! computed one partition at a time, so that it holds a 128th of its entries at once.
//! DataFusion would otherwise spill the whole state as lists of ids, sort it, read it
//! back and merge it (docs/PERFORMANCE.md). A state or the figures of only the first
//! groups (a partial aggregate, DataFusion's own spilling, ordered grouping) read the
//! file back into memory first, where the entries then stay.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Date32Builder, Int64Array, Int64Builder,
    ListArray, StringArray, StringBuilder, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Date32Type, Field, FieldRef, Fields, Int64Type};
use datafusion::common::{HashMap, ScalarValue, exec_err, internal_err, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::spill_file::{SpillFile, SpillWriter};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// A chain longer than this moves to a block (an open-addressed table).
const LONG_CHAIN: u32 = 8;
/// `Entry::next` of the last entry of a chain.
const END: u32 = u32::MAX;
/// `Entry::next` of a group slot whose entries are in a block of [`Groups::blocks`].
const HASHED: u32 = u32::MAX - 1;
/// The entries of a block when a chain moves to it: the chain, with room to grow.
const FIRST_BLOCK: u32 = 2 * LONG_CHAIN;

/// The plays of one room on one day, in a group's chain.
#[derive(Clone, Copy)]
struct Entry {
    room: u32,
    day: i32,
    /// 0 only in the slot of a group without plays.
    plays: u32,
    next: u32,
}

/// A group's state: its first entry, and what its chain holds.
///
/// A group whose entries moved to a block (`first.next == HASHED`) keeps in
/// `first.room` the block's start in [`Groups::blocks`] and in `mask` its capacity
/// (a power of two); `first.plays` stays non-zero.
#[derive(Clone, Copy)]
struct Slot {
    first: Entry,
    /// The bits of [`bit`] of every (room, day) in the chain: a clear bit means
    /// "not in the chain" without walking it.
    mask: u32,
    /// Entries in the chain (or the block).
    length: u32,
}

/// An entry of a block; `plays == 0` marks an empty cell.
#[derive(Clone, Copy, Default)]
struct Cell {
    room: u32,
    day: i32,
    plays: u32,
}

const EMPTY: Slot = Slot {
    first: Entry {
        room: 0,
        day: 0,
        plays: 0,
        next: END,
    },
    mask: 0,
    length: 0,
};

/// How many plays ahead of the one being added `update_batch` prefetches the
/// block cell of a play (and twice that, its group's slot).
const AHEAD: usize = 8;

/// Asks the processor to bring `item` into the caches (nothing elsewhere than on x86-64).
fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing; `item` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// A 32-bit hash of (room, day).
fn hash(room: u32, day: i32) -> u32 {
    (room.wrapping_mul(0x9E37_79B9) ^ (day as u32).wrapping_mul(0x85EB_CA6B))
        .wrapping_mul(0x2545_F491)
}

/// One of 32 bits, picked by a hash of (room, day).
fn bit(room: u32, day: i32) -> u32 {
    1 << (hash(room, day) >> 27)
}

/// The cell of `block` (a power of two cells, never full) holding (room, day), or
/// the empty cell where it goes.
fn place(block: &mut [Cell], room: u32, day: i32) -> &mut Cell {
    let mask = block.len() - 1;
    let mut at = (hash(room, day) as usize).wrapping_mul(block.len()) >> 32;
    while block[at].plays > 0 && (block[at].room != room || block[at].day != day) {
        at = (at + 1) & mask;
    }
    &mut block[at]
}

/// The figures of one group (`venues` is 0 without venues).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Figures {
    plays: i64,
    score: i64,
    rooms: i64,
    venues: i64,
}

/// The aggregate function (see the module documentation).
pub(crate) struct RoomFigures {
    signature: Signature,
    /// Where the accumulators write their plays past their budget (none: they keep
    /// every entry in memory, and DataFusion spills their states).
    overflow_to: Option<OverflowTo>,
}

impl std::fmt::Debug for RoomFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomFigures")
            .field("budget", &self.overflow_to.as_ref().map(|o| o.budget))
            .finish_non_exhaustive()
    }
}

impl PartialEq for RoomFigures {
    fn eq(&self, other: &RoomFigures) -> bool {
        let same_overflow = match (&self.overflow_to, &other.overflow_to) {
            (None, None) => true,
            (Some(a), Some(b)) => a.budget == b.budget && Arc::ptr_eq(&a.disk, &b.disk),
            _ => false,
        };
        self.signature == other.signature && same_overflow
    }
}

impl Eq for RoomFigures {}

impl std::hash::Hash for RoomFigures {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
        self.overflow_to.as_ref().map(|o| o.budget).hash(state);
    }
}

impl RoomFigures {
    /// The function; its accumulators write their plays to `overflow_to`'s disk once
    /// their entries pass its budget.
    pub(crate) fn new(overflow_to: Option<OverflowTo>) -> RoomFigures {
        RoomFigures {
            overflow_to,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Date32, DataType::Int64]),
                    TypeSignature::Exact(vec![
                        DataType::Utf8,
                        DataType::Utf8,
                        DataType::Date32,
                        DataType::Int64,
                    ]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The fields of the result: `venues` only with venues.
fn figure_fields(venues: bool) -> Fields {
    let names: &[&str] = match venues {
        true => &["plays", "score", "rooms", "venues"],
        false => &["plays", "score", "rooms"],
    };
    names
        .iter()
        .map(|name| Field::new(*name, DataType::Int64, false))
        .collect()
}

/// The fields of a state entry: `venue` only with venues.
fn entry_fields(venues: bool) -> Fields {
    let venue = venues.then(|| Field::new("venue", DataType::Utf8, false));
    venue
        .into_iter()
        .chain([
            Field::new("room", DataType::Utf8, false),
            Field::new("day", DataType::Date32, false),
            Field::new("plays", DataType::Int64, false),
        ])
        .collect()
}

fn entry_item(venues: bool) -> FieldRef {
    Arc::new(Field::new_struct("item", entry_fields(venues), false))
}

/// Whether a call with `arguments` arguments is given venues (four arguments).
fn with_venues(arguments: usize) -> bool {
    arguments == 4
}

/// The cap: the last argument, which must be a positive integer constant.
fn cap_of(args: &AccumulatorArgs) -> DfResult<u32> {
    if args.is_distinct {
        return plan_err!("room_figures: DISTINCT is not supported");
    }
    let cap = args
        .exprs
        .last()
        .and_then(|e| e.as_ref().downcast_ref::<Literal>())
        .map(|l| l.value());
    match cap {
        Some(ScalarValue::Int64(Some(cap))) if *cap >= 1 => {
            Ok(u32::try_from(*cap).unwrap_or(u32::MAX))
        }
        _ => {
            plan_err!("room_figures: the cap (last argument) must be a positive integer constant")
        }
    }
}

/// An accumulator keeps at most 1/this of a session's memory limit in memory before it
/// writes its entries out. DataFusion reserves twice an aggregate's state (room to
/// sort it, should it spill) and its fair pool gives each spilling operator of a plan
/// an equal share: `publish`'s plan has about a dozen, so that with a 16th DataFusion
/// still spilled the aggregate's state at 51M plays and `--memory-limit 1G` before the
/// accumulator's own budget was reached, and with a 64th it did not.
const OVERFLOW_SHARE: usize = 64;

impl RoomFigures {
    /// The function for sessions of `runtime`: with a memory limit and a disk
    /// manager, an accumulator writes its entries to a temporary file once its state
    /// passes a 64th of the limit, and computes its figures from it one partition of
    /// its groups at a time.
    pub(crate) fn for_runtime(runtime: &RuntimeEnv) -> RoomFigures {
        let overflow_to = match runtime.memory_pool.memory_limit() {
            MemoryLimit::Finite(limit) if runtime.disk_manager.tmp_files_enabled() => {
                Some(OverflowTo {
                    disk: Arc::clone(&runtime.disk_manager),
                    budget: limit / OVERFLOW_SHARE,
                })
            }
            _ => None,
        };
        RoomFigures::new(overflow_to)
    }

    /// The accumulator's state for a call with `args`.
    fn groups_of(&self, args: &AccumulatorArgs) -> DfResult<Groups> {
        let mut groups = Groups::new(cap_of(args)?, with_venues(args.exprs.len()));
        groups.overflow_to = self.overflow_to.clone();
        Ok(groups)
    }
}

impl AggregateUDFImpl for RoomFigures {
    fn name(&self) -> &str {
        "room_figures"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arguments: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Struct(figure_fields(with_venues(
            arguments.len(),
        ))))
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[entries]", args.name),
            DataType::List(entry_item(with_venues(args.input_fields.len()))),
            false,
        ))])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(OneGroup(self.groups_of(&args)?)))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> DfResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups_of(&args)?))
    }
}

/// Ids (of rooms or venues) as integers.
struct Names {
    /// Ids of up to 7 bytes, by their bytes packed into an integer ([`packed`]).
    short: HashMap<u64, u32>,
    /// Longer ids.
    long: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// The codes of recently looked-up short ids, by a hash of the packed id (a
    /// packed id is never 0, the key of an unused entry): a venue has few room ids,
    /// so most lookups end here instead of in `short`.
    recent: [(u64, u32); RECENT_ROOMS],
}

/// Entries of [`Names::recent`].
const RECENT_ROOMS: usize = 256;

impl Default for Names {
    fn default() -> Names {
        Names {
            short: HashMap::default(),
            long: HashMap::default(),
            names: Vec::new(),
            recent: [(0, 0); RECENT_ROOMS],
        }
    }
}

/// A room id of up to 7 bytes as an integer: its bytes and its length + 1 (never 0).
fn packed(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    if bytes.len() > 7 {
        return None;
    }
    let mut key = [0u8; 8];
    key[..bytes.len()].copy_from_slice(bytes);
    key[7] = bytes.len() as u8 + 1;
    Some(u64::from_le_bytes(key))
}

impl Names {
    fn code(&mut self, name: &str) -> u32 {
        let next = self.names.len() as u32;
        match packed(name) {
            Some(key) => {
                let at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - RECENT_ROOMS.ilog2()))
                    as usize;
                if self.recent[at].0 == key {
                    return self.recent[at].1;
                }
                let code = *self.short.entry(key).or_insert(next);
                if code == next {
                    self.names.push(name.into());
                }
                self.recent[at] = (key, code);
                code
            }
            None => {
                if let Some(code) = self.long.get(name) {
                    return *code;
                }
                self.names.push(name.into());
                self.long.insert(name.into(), next);
                next
            }
        }
    }

    fn size(&self) -> usize {
        let text: usize = self.names.iter().map(|n| n.len()).sum();
        self.short.capacity() * (size_of::<(u64, u32)>() + 1)
            + self.long.capacity() * (size_of::<(Box<str>, u32)>() + 1)
            + self.names.capacity() * size_of::<Box<str>>()
            + 2 * text
    }
}

/// Rooms as integers: a room is its (venue, room id), or its room id alone without
/// venues (then a room's code is its id's).
#[derive(Default)]
struct Rooms {
    venue_ids: Names,
    room_ids: Names,
    /// With venues: the (venue, room id) codes of each room, by room code.
    of: Vec<(u32, u32)>,
    /// With venues: the room codes, by venue code << 32 | room id code.
    codes: HashMap<u64, u32>,
}

impl Rooms {
    fn code(&mut self, venue: Option<&str>, room: &str) -> u32 {
        let room = self.room_ids.code(room);
        let Some(venue) = venue else {
            return room;
        };
        let venue = self.venue_ids.code(venue);
        let next = self.of.len() as u32;
        let code = *self
            .codes
            .entry(u64::from(venue) << 32 | u64::from(room))
            .or_insert(next);
        if code == next {
            self.of.push((venue, room));
        }
        code
    }

    /// The venue code of a room (with venues).
    fn venue_of(&self, room: u32) -> u32 {
        self.of[room as usize].0
    }

    /// The (venue id, room id) of a room; the venue is "" without venues.
    fn ids(&self, venues: bool, room: u32) -> (&str, &str) {
        match venues {
            true => {
                let (venue, room) = self.of[room as usize];
                (
                    &self.venue_ids.names[venue as usize],
                    &self.room_ids.names[room as usize],
                )
            }
            false => ("", &self.room_ids.names[room as usize]),
        }
    }

    fn size(&self) -> usize {
        self.venue_ids.size()
            + self.room_ids.size()
            + self.of.capacity() * size_of::<(u32, u32)>()
            + self.codes.capacity() * (size_of::<(u64, u32)>() + 1)
    }
}

/// A set of small integers, cleared by the caller as it was filled.
#[derive(Default)]
struct Seen(Vec<u64>);

impl Seen {
    /// Adds `value`; true if it was not in the set.
    fn insert(&mut self, value: u32) -> bool {
        let (word, bit) = (value as usize / 64, 1u64 << (value % 64));
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    fn remove(&mut self, value: u32) {
        self.0[value as usize / 64] &= !(1u64 << (value % 64));
    }

    fn size(&self) -> usize {
        self.0.capacity() * size_of::<u64>()
    }
}

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
const PARTITIONS: usize = 1 << PARTITION_BITS;
/// Bytes of a record: group, room, day and plays, four little-endian bytes each.
const RECORD: usize = 16;
/// The most bytes of records a partition buffers before they are written.
const MAX_CHUNK: usize = 64 * 1024;

/// The plays of an accumulator past its budget: records (group, room, day, plays) in
/// one temporary file, written in chunks that each hold one partition of the groups
/// (by a hash of the group), so that the groups' figures can be computed one
/// partition at a time, each holding a 128th of the entries.
struct Overflow {
    file: Arc<dyn SpillFile>,
    /// In a mutex only so that the accumulator is `Sync` (it is never shared).
    writer: Mutex<Box<dyn SpillWriter>>,
    written: u64,
    /// Bytes of a partition's buffer written as one chunk.
    chunk: usize,
    /// Per partition, the (offset, length) of its chunks in the file.
    chunks: Vec<Vec<(u64, usize)>>,
    /// Per partition, the records not written yet.
    buffers: Vec<Vec<u8>>,
}

impl Overflow {
    /// A new file of `disk`, its chunks sized for `budget`; `None` when the disk
    /// manager's files are not local files.
    fn new(disk: &Arc<DiskManager>, budget: usize) -> DfResult<Option<Overflow>> {
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
    fn push(&mut self, group: usize, room: u32, day: i32, plays: u32) -> DfResult<()> {
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
    fn finish(&mut self) -> DfResult<File> {
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
    fn read(&self, file: &mut File, partition: usize, records: &mut Vec<u8>) -> DfResult<()> {
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

    fn size(&self) -> usize {
        self.buffers.iter().map(Vec::capacity).sum::<usize>()
            + self.chunks.iter().map(Vec::capacity).sum::<usize>() * size_of::<(u64, usize)>()
    }
}

/// The (group, room, day, plays) of a record.
fn record(bytes: &[u8]) -> (usize, u32, i32, u32) {
    let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    (
        u32::from_le_bytes(word(0)) as usize,
        u32::from_le_bytes(word(4)),
        i32::from_le_bytes(word(8)),
        u32::from_le_bytes(word(12)),
    )
}

/// The state of every group.
struct Groups {
    cap: u32,
    /// Whether rooms are (venue, room id) and the figures count venues.
    venues: bool,
    rooms: Rooms,
    /// Each group's first entry (`EMPTY` for a group without plays).
    slots: Vec<Slot>,
    /// The other entries of the chains.
    arena: Vec<Entry>,
    /// The first of the arena's entries left by chains moved to blocks, linked by
    /// `next` (`END`: none).
    free_entries: u32,
    /// The entries of groups with long chains: one open-addressed table (linear
    /// probing) per group, a block of a power-of-two cells. A full block is copied
    /// to one twice its size, and left to the next group that needs a block of its
    /// size.
    blocks: Vec<Cell>,
    /// The starts of the blocks left, by the log2 of their size.
    free_blocks: Vec<Vec<u32>>,
    /// The distinct rooms of the group being evaluated, in `seen_rooms`.
    scratch: Vec<u32>,
    seen_rooms: Seen,
    seen_venues: Seen,
    /// The (group, room, day) of the plays of the batch being added.
    pending: Vec<(usize, u32, i32)>,
    /// Where the entries go past the budget (none: they stay in memory).
    overflow_to: Option<OverflowTo>,
    /// The entries written out, once past the budget.
    overflow: Option<Overflow>,
}

fn add_plays(plays: u32, more: u32) -> DfResult<u32> {
    match plays.checked_add(more) {
        Some(sum) => Ok(sum),
        None => exec_err!(
            "room_figures: more than {} plays of one room on one day",
            u32::MAX
        ),
    }
}

impl Groups {
    fn new(cap: u32, venues: bool) -> Groups {
        Groups {
            cap,
            venues,
            rooms: Rooms::default(),
            slots: Vec::new(),
            arena: Vec::new(),
            free_entries: END,
            blocks: Vec::new(),
            free_blocks: Vec::new(),
            scratch: Vec::new(),
            seen_rooms: Seen::default(),
            seen_venues: Seen::default(),
            pending: Vec::new(),
            overflow_to: None,
            overflow: None,
        }
    }

    /// Adds `plays` plays of (room, day) to `group`, in memory or to the overflow.
    fn put(&mut self, group: usize, room: u32, day: i32, plays: u32) -> DfResult<()> {
        match self.overflow.as_mut() {
            Some(overflow) => overflow.push(group, room, day, plays),
            None => self.add(group, room, day, plays),
        }
    }

    /// Past the budget, writes every entry out and keeps only the groups' slots in
    /// memory; the plays that follow are written out as they come.
    fn check_budget(&mut self) -> DfResult<()> {
        let Some(to) = &self.overflow_to else {
            return Ok(());
        };
        if self.overflow.is_some() || self.size() <= to.budget {
            return Ok(());
        }
        let Some(mut overflow) = Overflow::new(&to.disk, to.budget)? else {
            self.overflow_to = None;
            return Ok(());
        };
        for group in 0..self.slots.len() {
            let mut written = Ok(());
            self.for_each_entry(group, |room, day, plays| {
                if written.is_ok() {
                    written = overflow.push(group, room, day, plays);
                }
            });
            written?;
        }
        self.slots.fill(EMPTY);
        self.forget_entries();
        self.overflow = Some(overflow);
        Ok(())
    }

    /// Frees the chains and blocks (every slot must be `EMPTY`).
    fn forget_entries(&mut self) {
        self.arena = Vec::new();
        self.free_entries = END;
        self.blocks = Vec::new();
        self.free_blocks = Vec::new();
    }

    /// The figures of every group from the overflow, one partition of the groups at
    /// a time; the overflow is gone after.
    fn overflowed_figures(&mut self, mut overflow: Overflow) -> DfResult<Vec<Figures>> {
        let mut file = overflow.finish()?;
        let mut figures = vec![Figures::default(); self.slots.len()];
        let (mut records, mut touched) = (Vec::new(), Vec::new());
        for partition in 0..PARTITIONS {
            overflow.read(&mut file, partition, &mut records)?;
            for bytes in records.chunks_exact(RECORD) {
                let (group, room, day, plays) = record(bytes);
                let Some(slot) = self.slots.get(group) else {
                    return internal_err!("room_figures: an overflow record of group {group}");
                };
                if slot.first.plays == 0 {
                    touched.push(group);
                }
                self.add(group, room, day, plays)?;
            }
            for &group in &touched {
                figures[group] = self.figures(group);
                self.slots[group] = EMPTY;
            }
            touched.clear();
            // The next partition reuses the chains' and blocks' memory.
            self.arena.clear();
            self.free_entries = END;
            self.blocks.clear();
            self.free_blocks.iter_mut().for_each(Vec::clear);
        }
        Ok(figures)
    }

    /// Reads the overflow back into memory, where the entries stay from then on
    /// (for a state, or figures of only the first groups).
    fn reload(&mut self) -> DfResult<()> {
        let Some(mut overflow) = self.overflow.take() else {
            return Ok(());
        };
        self.overflow_to = None;
        let mut file = overflow.finish()?;
        let mut records = Vec::new();
        for partition in 0..PARTITIONS {
            overflow.read(&mut file, partition, &mut records)?;
            for bytes in records.chunks_exact(RECORD) {
                let (group, room, day, plays) = record(bytes);
                if group >= self.slots.len() {
                    return internal_err!("room_figures: an overflow record of group {group}");
                }
                self.add(group, room, day, plays)?;
            }
        }
        Ok(())
    }

    /// Asks the processor to fetch what [`Groups::add`] will read for (room, day) in
    /// `group`: the cell of its block where the search starts. A hint only: a block
    /// that moves before then makes it useless, not wrong.
    fn prefetch_cell(&self, group: usize, room: u32, day: i32) {
        let slot = &self.slots[group];
        if slot.first.next == HASHED {
            let at = (hash(room, day) as usize).wrapping_mul(slot.mask as usize) >> 32;
            if let Some(cell) = self.blocks.get(slot.first.room as usize + at) {
                prefetch(cell);
            }
        }
    }

    fn reserve(&mut self, total_num_groups: usize) {
        if self.slots.len() < total_num_groups {
            self.slots.resize(total_num_groups, EMPTY);
        }
    }

    /// Adds `plays` plays of `room` on `day` to `group`.
    fn add(&mut self, group: usize, room: u32, day: i32, plays: u32) -> DfResult<()> {
        let slot = self.slots[group];
        let bit = bit(room, day);
        if slot.first.plays == 0 {
            self.slots[group] = Slot {
                first: Entry {
                    room,
                    day,
                    plays,
                    next: END,
                },
                mask: bit,
                length: 1,
            };
            return Ok(());
        }
        if slot.first.next == HASHED {
            return self.add_to_block(group, room, day, plays);
        }
        if slot.mask & bit != 0 {
            if slot.first.room == room && slot.first.day == day {
                self.slots[group].first.plays = add_plays(slot.first.plays, plays)?;
                return Ok(());
            }
            let mut at = slot.first.next;
            while at != END {
                let entry = &mut self.arena[at as usize];
                if entry.room == room && entry.day == day {
                    entry.plays = add_plays(entry.plays, plays)?;
                    return Ok(());
                }
                at = entry.next;
            }
        }
        if slot.length >= LONG_CHAIN {
            let chain: Vec<Entry> = self.chain(group).collect();
            // The chain's entries in the arena go to the next chains.
            let mut at = slot.first.next;
            while at != END {
                let next = self.arena[at as usize].next;
                self.arena[at as usize].next = self.free_entries;
                self.free_entries = at;
                at = next;
            }
            let start = self.new_block(FIRST_BLOCK)?;
            for e in &chain {
                let block = &mut self.blocks[start..][..FIRST_BLOCK as usize];
                *place(block, e.room, e.day) = Cell {
                    room: e.room,
                    day: e.day,
                    plays: e.plays,
                };
            }
            self.slots[group] = Slot {
                first: Entry {
                    room: start as u32,
                    day: 0,
                    plays: 1,
                    next: HASHED,
                },
                mask: FIRST_BLOCK,
                length: chain.len() as u32,
            };
            return self.add_to_block(group, room, day, plays);
        }
        let entry = Entry {
            room,
            day,
            plays,
            next: slot.first.next,
        };
        let at = if self.free_entries != END {
            let at = self.free_entries;
            self.free_entries = self.arena[at as usize].next;
            self.arena[at as usize] = entry;
            at
        } else if self.arena.len() < HASHED as usize {
            self.arena.push(entry);
            (self.arena.len() - 1) as u32
        } else {
            return exec_err!(
                "room_figures: more than {} entries in one aggregate",
                HASHED
            );
        };
        let slot = &mut self.slots[group];
        slot.first.next = at;
        slot.mask |= bit;
        slot.length += 1;
        Ok(())
    }

    /// An empty block of `capacity` cells (a power of two): one left by another
    /// group, or new at the end of `blocks`. Returns its start.
    fn new_block(&mut self, capacity: u32) -> DfResult<usize> {
        let size_class = capacity.ilog2() as usize;
        if let Some(start) = self.free_blocks.get_mut(size_class).and_then(Vec::pop) {
            let start = start as usize;
            self.blocks[start..][..capacity as usize].fill(Cell::default());
            return Ok(start);
        }
        let start = self.blocks.len();
        if start + capacity as usize > u32::MAX as usize {
            return exec_err!(
                "room_figures: more than {} entries of long chains in one aggregate",
                u32::MAX
            );
        }
        self.blocks
            .resize(start + capacity as usize, Cell::default());
        Ok(start)
    }

    /// Adds plays to the block of `group` (`first.next == HASHED`), moving it to a
    /// block twice the size when it would be more than three quarters full.
    fn add_to_block(&mut self, group: usize, room: u32, day: i32, plays: u32) -> DfResult<()> {
        let slot = self.slots[group];
        let (start, capacity) = (slot.first.room as usize, slot.mask);
        let cell = place(&mut self.blocks[start..][..capacity as usize], room, day);
        if cell.plays > 0 {
            cell.plays = add_plays(cell.plays, plays)?;
            return Ok(());
        }
        if (slot.length + 1) * 4 <= capacity * 3 {
            *cell = Cell { room, day, plays };
            self.slots[group].length += 1;
            return Ok(());
        }
        let grown = capacity * 2;
        let new_start = self.new_block(grown)?;
        for at in start..start + capacity as usize {
            let old = self.blocks[at];
            if old.plays > 0 {
                *place(
                    &mut self.blocks[new_start..][..grown as usize],
                    old.room,
                    old.day,
                ) = old;
            }
        }
        let size_class = capacity.ilog2() as usize;
        if self.free_blocks.len() <= size_class {
            self.free_blocks.resize(size_class + 1, Vec::new());
        }
        self.free_blocks[size_class].push(start as u32);
        let slot = &mut self.slots[group];
        slot.first.room = new_start as u32;
        slot.mask = grown;
        self.add_to_block(group, room, day, plays)
    }

    /// The entries of a group kept as a chain (not hashed).
    fn chain(&self, group: usize) -> impl Iterator<Item = Entry> + '_ {
        let slot = self.slots[group].first;
        let first = (slot.plays > 0).then_some(slot);
        let mut at = slot.next;
        first.into_iter().chain(std::iter::from_fn(move || {
            if at == END || at == HASHED {
                return None;
            }
            let entry = self.arena[at as usize];
            at = entry.next;
            Some(entry)
        }))
    }

    /// Calls `f` with every (room, day, plays) entry of `group`.
    fn for_each_entry(&self, group: usize, mut f: impl FnMut(u32, i32, u32)) {
        let slot = self.slots[group];
        if slot.first.next == HASHED {
            let block = &self.blocks[slot.first.room as usize..][..slot.mask as usize];
            for cell in block.iter().filter(|c| c.plays > 0) {
                f(cell.room, cell.day, cell.plays);
            }
        } else {
            for e in self.chain(group) {
                f(e.room, e.day, e.plays);
            }
        }
    }

    fn figures(&mut self, group: usize) -> Figures {
        let first = self.slots[group].first;
        if first.next == END {
            // One entry (or none): most small groups.
            let some = i64::from(first.plays > 0);
            return Figures {
                plays: i64::from(first.plays),
                score: i64::from(first.plays.min(self.cap)),
                rooms: some,
                venues: some * i64::from(self.venues),
            };
        }
        let mut figures = Figures::default();
        let mut rooms = std::mem::take(&mut self.scratch);
        let mut seen = std::mem::take(&mut self.seen_rooms);
        rooms.clear();
        let cap = self.cap;
        self.for_each_entry(group, |room, _, plays| {
            figures.plays += i64::from(plays);
            figures.score += i64::from(plays.min(cap));
            if seen.insert(room) {
                rooms.push(room);
            }
        });
        figures.rooms = rooms.len() as i64;
        for &room in &rooms {
            seen.remove(room);
        }
        if self.venues {
            for &room in &rooms {
                let venue = self.rooms.venue_of(room);
                figures.venues += i64::from(self.seen_venues.insert(venue));
            }
            for &room in &rooms {
                self.seen_venues.remove(self.rooms.venue_of(room));
            }
        }
        self.scratch = rooms;
        self.seen_rooms = seen;
        figures
    }

    /// The state of the first `n` groups, as a list of ([venue,] room, day, plays)
    /// per group.
    fn entries(&self, n: usize) -> DfResult<ListArray> {
        let mut venue = StringBuilder::new();
        let mut room = StringBuilder::new();
        let mut day = Date32Builder::new();
        let mut plays = Int64Builder::new();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0i32);
        let mut entries = 0usize;
        for group in 0..n {
            self.for_each_entry(group, |r, d, p| {
                let (venue_id, room_id) = self.rooms.ids(self.venues, r);
                if self.venues {
                    venue.append_value(venue_id);
                }
                room.append_value(room_id);
                day.append_value(d);
                plays.append_value(i64::from(p));
                entries += 1;
            });
            match i32::try_from(entries) {
                Ok(end) => offsets.push(end),
                Err(_) => {
                    return exec_err!(
                        "room_figures: more than {} entries in one state batch",
                        i32::MAX
                    );
                }
            }
        }
        let venue = self.venues.then(|| Arc::new(venue.finish()) as ArrayRef);
        let columns: Vec<ArrayRef> = venue
            .into_iter()
            .chain([
                Arc::new(room.finish()) as ArrayRef,
                Arc::new(day.finish()),
                Arc::new(plays.finish()),
            ])
            .collect();
        let values = StructArray::try_new(entry_fields(self.venues), columns, None)?;
        Ok(ListArray::try_new(
            entry_item(self.venues),
            OffsetBuffer::new(offsets.into()),
            Arc::new(values),
            None,
        )?)
    }

    /// Forgets the first `n` groups (all of them for `EmitTo::All`): the others
    /// move down by `n`, and their chains into a compacted arena.
    fn drop_first(&mut self, emit_to: EmitTo) {
        let n = match emit_to {
            EmitTo::All => self.slots.len(),
            EmitTo::First(n) => n.min(self.slots.len()),
        };
        if n == self.slots.len() {
            self.slots = Vec::new();
            self.arena = Vec::new();
            self.free_entries = END;
            self.blocks = Vec::new();
            self.free_blocks = Vec::new();
            return;
        }
        let mut arena = Vec::with_capacity(self.arena.len() / 2);
        let mut blocks = Vec::new();
        let mut slots = Vec::with_capacity(self.slots.len() - n);
        for group in n..self.slots.len() {
            let mut slot = self.slots[group];
            if slot.first.next == HASHED {
                let start = slot.first.room as usize;
                slot.first.room = blocks.len() as u32;
                blocks.extend_from_slice(&self.blocks[start..][..slot.mask as usize]);
            } else if slot.first.next != END {
                let mut previous = END;
                let rest: Vec<Entry> = self.chain(group).skip(1).collect();
                for mut entry in rest.into_iter().rev() {
                    entry.next = previous;
                    arena.push(entry);
                    previous = (arena.len() - 1) as u32;
                }
                slot.first.next = previous;
            }
            slots.push(slot);
        }
        self.slots = slots;
        self.arena = arena;
        self.free_entries = END;
        self.blocks = blocks;
        self.free_blocks = Vec::new();
    }

    fn evaluate_first(&mut self, n: usize) -> StructArray {
        let figures: Vec<Figures> = (0..n).map(|group| self.figures(group)).collect();
        self.figure_array(&figures)
    }

    /// The result column of `figures`.
    fn figure_array(&self, figures: &[Figures]) -> StructArray {
        let mut columns = [(); 4].map(|_| Vec::with_capacity(figures.len()));
        for f in figures {
            columns[0].push(f.plays);
            columns[1].push(f.score);
            columns[2].push(f.rooms);
            columns[3].push(f.venues);
        }
        let fields = figure_fields(self.venues);
        let columns = columns
            .into_iter()
            .take(fields.len())
            .map(|c| Arc::new(Int64Array::from(c)) as ArrayRef)
            .collect();
        StructArray::new(fields, columns, None)
    }

    fn emitted(&self, emit_to: EmitTo) -> usize {
        match emit_to {
            EmitTo::All => self.slots.len(),
            EmitTo::First(n) => n.min(self.slots.len()),
        }
    }
}

/// The play columns of a call: the venues (with venues), rooms and days.
struct PlayColumns<'a> {
    venues: Option<&'a StringArray>,
    rooms: &'a StringArray,
    days: &'a Date32Array,
}

impl<'a> PlayColumns<'a> {
    fn of(columns: &'a [ArrayRef], venues: bool) -> DfResult<PlayColumns<'a>> {
        let skip = usize::from(venues);
        let string = |at: usize| columns.get(at).and_then(|c| c.as_string_opt::<i32>());
        let venue_ids = string(0).filter(|_| venues);
        let days = columns
            .get(skip + 1)
            .and_then(|c| c.as_primitive_opt::<Date32Type>());
        match (venue_ids.is_some() == venues, string(skip), days) {
            (true, Some(rooms), Some(days)) => Ok(PlayColumns {
                venues: venue_ids,
                rooms,
                days,
            }),
            _ => {
                let types: Vec<String> =
                    columns.iter().map(|c| c.data_type().to_string()).collect();
                exec_err!(
                    "room_figures: expected {}room and day columns, got {}",
                    if venues { "venue, " } else { "" },
                    types.join(", ")
                )
            }
        }
    }

    /// Whether `row` is counted: its venue, room and day are not NULL.
    fn counted(&self, row: usize) -> bool {
        !(self.rooms.is_null(row)
            || self.days.is_null(row)
            || self.venues.is_some_and(|v| v.is_null(row)))
    }

    /// Whether `row` has the same venue and room as `other`.
    fn same_room(&self, row: usize, other: usize) -> bool {
        self.rooms.value(row) == self.rooms.value(other)
            && self.venues.is_none_or(|v| v.value(row) == v.value(other))
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.reserve(total_num_groups);
        let plays = PlayColumns::of(values, self.venues)?;
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        // The last row coded, and its room: plays come in runs of one room.
        let mut last: Option<(usize, u32)> = None;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) || !plays.counted(row)
            {
                continue;
            }
            let room = match last {
                Some((other, room)) if plays.same_room(row, other) => room,
                _ => self
                    .rooms
                    .code(plays.venues.map(|v| v.value(row)), plays.rooms.value(row)),
            };
            last = Some((row, room));
            pending.push((group, room, plays.days.value(row)));
        }
        if let Some(overflow) = self.overflow.as_mut() {
            for &(group, room, day) in &pending {
                overflow.push(group, room, day, 1)?;
            }
            self.pending = pending;
            return Ok(());
        }
        // Each play's cell is a cache miss in a large aggregate: fetched ahead, the
        // misses of several plays overlap.
        for (at, &(group, room, day)) in pending.iter().enumerate() {
            if let Some(&(later, _, _)) = pending.get(at + 2 * AHEAD) {
                prefetch(&self.slots[later]);
            }
            if let Some(&(next, room, day)) = pending.get(at + AHEAD) {
                self.prefetch_cell(next, room, day);
            }
            self.add(group, room, day, 1)?;
        }
        self.pending = pending;
        self.check_budget()
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        if let EmitTo::All = emit_to
            && let Some(overflow) = self.overflow.take()
        {
            let figures = self.overflowed_figures(overflow)?;
            let out = self.figure_array(&figures);
            self.drop_first(emit_to);
            return Ok(Arc::new(out));
        }
        self.reload()?;
        let n = self.emitted(emit_to);
        let out = self.evaluate_first(n);
        self.drop_first(emit_to);
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        self.reload()?;
        let out = self.entries(self.emitted(emit_to))?;
        self.drop_first(emit_to);
        Ok(vec![Arc::new(out)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.reserve(total_num_groups);
        let lists = values.first().and_then(|v| v.as_list_opt::<i32>());
        let Some((lists, entries)) = lists.and_then(|l| Some((l, l.values().as_struct_opt()?)))
        else {
            return exec_err!("room_figures: a state that is not a list of entries");
        };
        let plays = PlayColumns::of(entries.columns(), self.venues)?;
        let Some(counts) = entries
            .columns()
            .last()
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
        else {
            return exec_err!("room_figures: a state without plays");
        };
        let offsets = lists.value_offsets();
        for (row, &group) in group_indices.iter().enumerate() {
            if lists.is_null(row) {
                continue;
            }
            for at in offsets[row] as usize..offsets[row + 1] as usize {
                let count = match u32::try_from(counts.value(at)) {
                    Ok(count) if count > 0 => count,
                    _ => {
                        return exec_err!(
                            "room_figures: bad state entry of {} plays",
                            counts.value(at)
                        );
                    }
                };
                let room = self
                    .rooms
                    .code(plays.venues.map(|v| v.value(at)), plays.rooms.value(at));
                self.put(group, room, plays.days.value(at), count)?;
            }
        }
        self.check_budget()
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> DfResult<Vec<ArrayRef>> {
        // One list per row: its own ([venue,] room, day, 1), or empty when filtered
        // out or not counted.
        let plays = PlayColumns::of(values, self.venues)?;
        let rows = plays.rooms.len();
        let mut kept = Vec::with_capacity(rows);
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i32);
        for row in 0..rows {
            if !opt_filter.is_some_and(|f| !f.is_valid(row) || !f.value(row)) && plays.counted(row)
            {
                kept.push(row as u32);
            }
            offsets.push(kept.len() as i32);
        }
        let columns = &values[..usize::from(self.venues) + 2];
        let mut columns: Vec<ArrayRef> = if kept.len() == rows {
            columns.to_vec()
        } else {
            let kept = arrow::array::UInt32Array::from(kept.clone());
            columns
                .iter()
                .map(|c| arrow::compute::take(c, &kept, None))
                .collect::<Result<_, _>>()?
        };
        columns.push(Arc::new(Int64Array::from(vec![1; kept.len()])));
        let entries = StructArray::try_new(entry_fields(self.venues), columns, None)?;
        Ok(vec![Arc::new(ListArray::try_new(
            entry_item(self.venues),
            OffsetBuffer::new(offsets.into()),
            Arc::new(entries),
            None,
        )?)])
    }

    fn size(&self) -> usize {
        self.slots.capacity() * size_of::<Slot>()
            + self.arena.capacity() * size_of::<Entry>()
            + self.blocks.capacity() * size_of::<Cell>()
            + self.free_blocks.iter().map(Vec::capacity).sum::<usize>() * size_of::<u32>()
            + self.rooms.size()
            + self.scratch.capacity() * size_of::<u32>()
            + self.seen_rooms.size()
            + self.seen_venues.size()
            + self.pending.capacity() * size_of::<(usize, u32, i32)>()
            + self.overflow.as_ref().map_or(0, Overflow::size)
    }
}

/// The accumulator without GROUP BY (or in a window): one group.
struct OneGroup(Groups);

impl std::fmt::Debug for OneGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomFigures").finish_non_exhaustive()
    }
}

impl Accumulator for OneGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.0.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.0.reload()?;
        self.0.reserve(1);
        let out: ArrayRef = Arc::new(self.0.evaluate_first(1));
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + GroupsAccumulator::size(&self.0)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        self.0.reload()?;
        self.0.reserve(1);
        let out: ArrayRef = Arc::new(self.0.entries(1)?);
        Ok(vec![ScalarValue::try_from_array(&out, 0)?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.0.merge_batch(states, &vec![0; rows], 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use arrow::record_batch::RecordBatch;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::SessionContext;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// A play: its group, venue, room and day (a NULL room or day, or a NULL venue
    /// when venues are given: not counted).
    type Play = (usize, Option<String>, Option<String>, Option<i32>);

    /// The reference: the figures of each group, by counting rows. With `venues`, a
    /// room is its (venue, room id), and the venues are counted.
    fn reference(plays: &[Play], cap: u32, venues: bool) -> BTreeMap<usize, Figures> {
        let mut per_room_day: BTreeMap<(usize, &str, &str, i32), i64> = BTreeMap::new();
        for (group, venue, room, day) in plays {
            let venue = match (venues, venue) {
                (false, _) => Some(""),
                (true, venue) => venue.as_deref(),
            };
            if let (Some(venue), Some(room), Some(day)) = (venue, room, day) {
                *per_room_day.entry((*group, venue, room, *day)).or_default() += 1;
            }
        }
        let mut figures: BTreeMap<usize, Figures> = BTreeMap::new();
        let mut rooms: BTreeMap<usize, BTreeSet<(&str, &str)>> = BTreeMap::new();
        for ((group, venue, room, _), plays) in per_room_day {
            let f = figures.entry(group).or_default();
            f.plays += plays;
            f.score += plays.min(i64::from(cap));
            rooms.entry(group).or_default().insert((venue, room));
        }
        for (group, rooms) in rooms {
            let f = figures.entry(group).or_default();
            f.rooms = rooms.len() as i64;
            if venues {
                let venues: BTreeSet<&str> = rooms.iter().map(|(venue, _)| *venue).collect();
                f.venues = venues.len() as i64;
            }
        }
        figures
    }

    /// Random plays of `groups` groups: few venues, rooms and days, so that rooms
    /// repeat on a day and the cap binds, and the same room ids are in several
    /// venues; group 0 has many rooms and days (a long chain).
    fn random_plays(rng: &mut ChaCha8Rng, rows: usize, groups: usize) -> Vec<Play> {
        (0..rows)
            .map(|_| {
                let group = rng.random_range(0..groups);
                let (rooms, days) = if group == 0 { (40, 20) } else { (4, 3) };
                // Short ids (packed) and, in every fifth group, long ones.
                let prefix = if group % 5 == 1 { "KTV-ROOM-" } else { "R" };
                let venue = (rng.random_range(0..50) > 0).then(|| {
                    let venue = rng.random_range(0..4);
                    match venue {
                        3 => "VENUE-WITH-A-LONG-ID".to_string(),
                        _ => format!("V{venue}"),
                    }
                });
                let room = (rng.random_range(0..50) > 0)
                    .then(|| format!("{prefix}{:02}", rng.random_range(0..rooms)));
                let day = (rng.random_range(0..50) > 0).then(|| 20_000 + rng.random_range(0..days));
                (group, venue, room, day)
            })
            .collect()
    }

    /// The argument columns (venue only with `venues`, and the cap) and groups.
    fn columns(plays: &[Play], venues: bool) -> (Vec<ArrayRef>, Vec<usize>) {
        let venue: StringArray = plays.iter().map(|p| p.1.clone()).collect();
        let rooms: StringArray = plays.iter().map(|p| p.2.clone()).collect();
        let days: Date32Array = plays.iter().map(|p| p.3).collect();
        let caps = Int64Array::from(vec![3; plays.len()]);
        let venue = venues.then(|| Arc::new(venue) as ArrayRef);
        let columns = venue
            .into_iter()
            .chain([Arc::new(rooms) as ArrayRef, Arc::new(days), Arc::new(caps)])
            .collect();
        (columns, plays.iter().map(|p| p.0).collect())
    }

    fn figures_of(array: &ArrayRef) -> Vec<Figures> {
        let s = array.as_struct();
        let column = |i: usize| match s.columns().get(i) {
            Some(c) => c.as_primitive::<Int64Type>().values().to_vec(),
            None => vec![0; s.len()],
        };
        let (plays, score, rooms, venues) = (column(0), column(1), column(2), column(3));
        (0..s.len())
            .map(|i| Figures {
                plays: plays[i],
                score: score[i],
                rooms: rooms[i],
                venues: venues[i],
            })
            .collect()
    }

    fn expected(plays: &[Play], groups: usize, cap: u32, venues: bool) -> Vec<Figures> {
        let reference = reference(plays, cap, venues);
        (0..groups)
            .map(|g| reference.get(&g).copied().unwrap_or_default())
            .collect()
    }

    /// Feeds `plays` to `acc` in batches of `batch` rows.
    fn update(acc: &mut Groups, plays: &[Play], groups: usize, batch: usize) {
        let empty: [&[Play]; 1] = [&[]];
        let chunks: Vec<&[Play]> = match plays.is_empty() {
            true => empty.to_vec(),
            false => plays.chunks(batch).collect(),
        };
        for chunk in chunks {
            let (values, indices) = columns(chunk, acc.venues);
            acc.update_batch(&values, &indices, None, groups).unwrap();
        }
    }

    /// `plays` with runs of the same (venue, room), as plays sorted by venue and
    /// room come, so that a row's room is often the row before's.
    fn in_runs(plays: &[Play]) -> Vec<Play> {
        let mut runs = plays.to_vec();
        runs.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
        runs
    }

    #[test]
    fn matches_the_reference_in_one_phase() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for venues in [false, true] {
            for (rows, groups) in [(0, 1), (1, 1), (500, 7), (20_000, 300)] {
                let plays = random_plays(&mut rng, rows, groups);
                for plays in [plays.clone(), in_runs(&plays)] {
                    let mut acc = Groups::new(3, venues);
                    update(&mut acc, &plays, groups, 977);
                    assert_eq!(
                        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
                        expected(&plays, groups, 3, venues),
                        "{rows} rows, venues {venues}"
                    );
                    assert!(acc.slots.is_empty() && acc.arena.is_empty() && acc.blocks.is_empty());
                }
            }
        }
        // The long chain of group 0 was moved to a block, which grew: its 800 (room,
        // day) pairs do not fit the first one.
        let plays = random_plays(&mut rng, 5_000, 3);
        let mut acc = Groups::new(3, true);
        update(&mut acc, &plays, 3, 1000);
        assert_eq!(acc.slots[0].first.next, HASHED, "group 0 should be hashed");
        assert!(
            acc.slots[0].mask > FIRST_BLOCK,
            "its block should have grown"
        );
        assert_eq!(
            figures_of(&acc.evaluate(EmitTo::All).unwrap()),
            expected(&plays, 3, 3, true)
        );
    }

    #[test]
    fn a_room_is_its_venue_and_room_id_when_venues_are_given() {
        let play =
            |venue: &str, room: &str| (0, Some(venue.to_string()), Some(room.to_string()), Some(1));
        // R1 in two venues, R2 in one; a run of V1 R1, then V2 R1 right after it.
        let plays = [
            play("V1", "R1"),
            play("V1", "R1"),
            play("V2", "R1"),
            play("V2", "R1"),
            play("V2", "R2"),
            play("V1", "R1"),
        ];
        let got = |venues| {
            let mut acc = Groups::new(1, venues);
            update(&mut acc, &plays, 1, 4);
            figures_of(&acc.evaluate(EmitTo::All).unwrap())[0]
        };
        let with = got(true);
        assert_eq!(
            (with.plays, with.score, with.rooms, with.venues),
            (6, 3, 3, 2)
        );
        let without = got(false);
        assert_eq!(
            (without.plays, without.score, without.rooms, without.venues),
            (6, 2, 2, 0)
        );
        // A play without a venue is not counted when venues are given.
        let mut acc = Groups::new(1, true);
        let no_venue = [(0, None, Some("R1".to_string()), Some(1))];
        update(&mut acc, &[&plays[..], &no_venue].concat(), 1, 4);
        assert_eq!(figures_of(&acc.evaluate(EmitTo::All).unwrap())[0], with);
    }

    #[test]
    fn blocks_left_by_a_growing_group_serve_the_next() {
        // Two groups of 200 (room, day) pairs each, one after the other: the first
        // grows through blocks of 16, 32, ... 512 cells and leaves the smaller ones,
        // which the second takes as it grows, so only its last block is new; the
        // second's chain, before it moves to a block, takes the arena entries the
        // first's chain left.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let pairs = |group: usize, rng: &mut ChaCha8Rng| -> Vec<Play> {
            let mut plays: Vec<Play> = (0..200)
                .flat_map(|i| {
                    let venue = Some(format!("V{}", i % 3));
                    let play = (
                        group,
                        venue,
                        Some(format!("R{}", i % 40)),
                        Some(20_000 + i / 40),
                    );
                    vec![play; 1 + i as usize % 5]
                })
                .collect();
            for i in (1..plays.len()).rev() {
                plays.swap(i, rng.random_range(0..=i));
            }
            plays
        };
        let first = pairs(0, &mut rng);
        let second = pairs(1, &mut rng);
        let mut acc = Groups::new(3, false);
        update(&mut acc, &first, 2, 100);
        let after_first = acc.blocks.len();
        assert_eq!(acc.slots[0].mask, 512);
        assert_eq!(after_first, 16 + 32 + 64 + 128 + 256 + 512);
        update(&mut acc, &second, 2, 100);
        assert_eq!(acc.slots[1].mask, 512);
        assert_eq!(acc.blocks.len(), after_first + 512);
        assert_eq!(acc.arena.len(), LONG_CHAIN as usize - 1);
        let plays = [first, second].concat();
        assert_eq!(
            figures_of(&acc.evaluate(EmitTo::All).unwrap()),
            expected(&plays, 2, 3, false)
        );
    }

    #[test]
    fn the_cap_binds_per_room_and_day() {
        let play = |group, room: &str, day| {
            (
                group,
                Some("V".to_string()),
                Some(room.to_string()),
                Some(day),
            )
        };
        // Group 0: R1 5 plays on day 1 (capped to 3), 1 on day 2; R2 2 on day 1.
        let plays = [
            vec![play(0, "R1", 1); 5],
            vec![play(0, "R1", 2), play(0, "R2", 1), play(0, "R2", 1)],
            vec![play(1, "R1", 1); 2],
        ]
        .concat();
        for cap in [1, 3, 10] {
            let mut acc = Groups::new(cap, false);
            update(&mut acc, &plays, 2, 3);
            let got = figures_of(&acc.evaluate(EmitTo::All).unwrap());
            let score = |g: usize| got[g].score;
            let cap = i64::from(cap);
            assert_eq!(score(0), 5.min(cap) + 1 + 2.min(cap));
            assert_eq!(score(1), 2.min(cap));
            assert_eq!(
                (got[0].plays, got[0].rooms, got[1].plays, got[1].rooms),
                (8, 2, 2, 1)
            );
        }
    }

    #[test]
    fn room_ids_of_any_length_are_told_apart() {
        let names = [
            "",
            "\0",
            "A",
            "A\0",
            "A\0\0",
            "AB",
            "1234567",
            "12345678",
            "123456789",
        ];
        let mut ids = Names::default();
        let codes: Vec<u32> = names.iter().map(|n| ids.code(n)).collect();
        assert_eq!(codes, (0..names.len() as u32).collect::<Vec<_>>());
        // Looked up again, in another order, each keeps its code.
        for (i, name) in names.iter().enumerate().rev() {
            assert_eq!(ids.code(name), i as u32, "{name:?}");
            assert_eq!(ids.code(name), i as u32, "{name:?} twice");
        }
        // As rooms and as venues, in every pair.
        let plays: Vec<Play> = names
            .iter()
            .flat_map(|v| names.iter().map(move |r| (v, r)))
            .flat_map(|(v, r)| vec![(0, Some(v.to_string()), Some(r.to_string()), Some(1)); 4])
            .collect();
        for venues in [false, true] {
            let mut acc = Groups::new(3, venues);
            update(&mut acc, &plays, 1, 5);
            let got = figures_of(&acc.evaluate(EmitTo::All).unwrap());
            assert_eq!(got, expected(&plays, 1, 3, venues));
            let rooms = names.len() * if venues { names.len() } else { 1 };
            assert_eq!(got[0].rooms, rooms as i64);
        }
    }

    #[test]
    fn partial_states_merge_to_the_reference() {
        for venues in [false, true] {
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let groups = 200;
            let plays = random_plays(&mut rng, 30_000, groups);
            let (first, second) = plays.split_at(11_000);
            let mut merged = Groups::new(3, venues);
            // Two partial aggregates, their states merged, ...
            for part in [first, &second[..9_000]] {
                let mut partial = Groups::new(3, venues);
                update(&mut partial, part, groups, 1_024);
                let state = partial.state(EmitTo::All).unwrap();
                let indices: Vec<usize> = (0..groups).collect();
                merged.merge_batch(&state, &indices, groups).unwrap();
            }
            // ... and rows passed through as states of their own (a skipped partial
            // phase), a filter dropping every third row.
            let rest = &second[9_000..];
            let (values, indices) = columns(rest, venues);
            let filter: BooleanArray = (0..rest.len()).map(|i| Some(i % 3 != 0)).collect();
            let state = merged.convert_to_state(&values, Some(&filter)).unwrap();
            merged.merge_batch(&state, &indices, groups).unwrap();
            let kept: Vec<Play> = first
                .iter()
                .chain(&second[..9_000])
                .chain(
                    rest.iter()
                        .enumerate()
                        .filter(|(i, _)| i % 3 != 0)
                        .map(|(_, p)| p),
                )
                .cloned()
                .collect();
            assert_eq!(
                figures_of(&merged.evaluate(EmitTo::All).unwrap()),
                expected(&kept, groups, 3, venues),
                "venues {venues}"
            );
        }
    }

    #[test]
    fn a_bad_state_is_an_error() {
        let mut acc = Groups::new(3, true);
        let plays = [(0, Some("V".to_string()), Some("R".to_string()), Some(1))];
        update(&mut acc, &plays, 1, 1);
        let state = acc.state(EmitTo::All).unwrap();
        // A state of rooms without venues, given to an aggregate with venues.
        let mut without = Groups::new(3, false);
        update(&mut without, &plays, 1, 1);
        let other = without.state(EmitTo::All).unwrap();
        let err = acc.merge_batch(&other, &[0], 1).unwrap_err().to_string();
        assert!(err.contains("room_figures"), "{err}");
        acc.merge_batch(&state, &[0], 1).unwrap();
    }

    #[test]
    fn emitting_the_first_groups_keeps_the_others() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let groups = 120;
        let plays = random_plays(&mut rng, 20_000, groups);
        let (before, after) = plays.split_at(12_000);
        let mut acc = Groups::new(3, true);
        update(&mut acc, before, groups, 1_000);
        // Emit the first 50 groups (state of 20, figures of 30), then go on with the
        // others, numbered from 0 again.
        let state = acc.state(EmitTo::First(20)).unwrap();
        let mut check = Groups::new(3, true);
        check
            .merge_batch(&state, &(0..20).collect::<Vec<_>>(), 20)
            .unwrap();
        let early = figures_of(&check.evaluate(EmitTo::All).unwrap());
        assert_eq!(early, expected(before, 20, 3, true));
        let next = figures_of(&acc.evaluate(EmitTo::First(30)).unwrap());
        // The blocks left are those of the groups still hashed, and nothing else.
        let live: u32 = acc
            .slots
            .iter()
            .filter(|s| s.first.next == HASHED)
            .map(|s| s.mask)
            .sum();
        assert_eq!(acc.blocks.len(), live as usize);
        assert_eq!(next, expected(before, 50, 3, true)[20..]);
        let shifted = |plays: &[Play]| -> Vec<Play> {
            plays
                .iter()
                .filter(|p| p.0 >= 50)
                .map(|p| (p.0 - 50, p.1.clone(), p.2.clone(), p.3))
                .collect()
        };
        update(&mut acc, &shifted(after), groups - 50, 700);
        assert_eq!(
            figures_of(&acc.evaluate(EmitTo::All).unwrap()),
            expected(&shifted(&plays), groups - 50, 3, true)
        );
    }

    #[tokio::test]
    async fn in_sql_with_and_without_group_by() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let groups = 9;
        let plays = random_plays(&mut rng, 3_000, groups);
        let (mut values, indices) = columns(&plays, true);
        values.pop();
        let batch = RecordBatch::try_from_iter([
            (
                "g",
                Arc::new(Int64Array::from_iter_values(
                    indices.iter().map(|g| *g as i64),
                )) as ArrayRef,
            ),
            ("venue", values[0].clone()),
            ("room", values[1].clone()),
            ("day", values[2].clone()),
        ])
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_udaf(AggregateUDF::from(RoomFigures::new(None)));
        ctx.register_batch("t", batch).unwrap();
        async fn run(ctx: &SessionContext, sql: &str) -> DfResult<RecordBatch> {
            let batches = ctx.sql(sql).await?.collect().await?;
            Ok(arrow::compute::concat_batches(
                &batches[0].schema(),
                &batches,
            )?)
        }
        for (arguments, venues) in [("room, day", false), ("venue, room, day", true)] {
            let grouped = run(
                &ctx,
                &format!(
                    "SELECT g, room_figures({arguments}, 2) AS f FROM t GROUP BY g ORDER BY g"
                ),
            )
            .await
            .unwrap();
            assert_eq!(
                figures_of(grouped.column(1)),
                expected(&plays, groups, 2, venues)
            );
            let all: Vec<Play> = plays
                .iter()
                .map(|p| (0, p.1.clone(), p.2.clone(), p.3))
                .collect();
            let total = run(&ctx, &format!(
                "SELECT room_figures({arguments}, 2)['score'] AS s, room_figures({arguments}, 2) AS f FROM t"
            ))
            .await
            .unwrap();
            assert_eq!(figures_of(total.column(1)), expected(&all, 1, 2, venues));
            assert_eq!(
                total.column(0).as_primitive::<Int64Type>().value(0),
                expected(&all, 1, 2, venues)[0].score
            );
        }
        // Venues are a field only when given; Utf8View arguments are cast.
        let fields = run(
            &ctx,
            "SELECT room_figures(arrow_cast(venue, 'Utf8View'), arrow_cast(room, 'Utf8View'), day, 2)['venues'] AS v FROM t",
        )
        .await
        .unwrap();
        assert_eq!(fields.column(0).as_primitive::<Int64Type>().value(0), 4);
        for (sql, message) in [
            (
                "SELECT room_figures(room, day, 2)['venues'] FROM t",
                "venues",
            ),
            (
                "SELECT room_figures(room, day, g) FROM t",
                "must be a positive integer constant",
            ),
            (
                "SELECT room_figures(venue, room, day, g) FROM t",
                "must be a positive integer constant",
            ),
            (
                "SELECT room_figures(room, day, 0) FROM t",
                "must be a positive integer constant",
            ),
            (
                "SELECT room_figures(DISTINCT room, day, 3) FROM t",
                "DISTINCT is not supported",
            ),
            ("SELECT room_figures(room, 3) FROM t", "room_figures"),
        ] {
            let err = run(&ctx, sql).await.unwrap_err().to_string();
            assert!(err.contains(message), "{sql}: {err}");
        }
    }

    /// An accumulator that writes its entries out past `budget` bytes.
    fn overflowing(cap: u32, venues: bool, budget: usize) -> Groups {
        let disk = DiskManager::builder().build().unwrap();
        let mut acc = Groups::new(cap, venues);
        acc.overflow_to = Some(OverflowTo {
            disk: Arc::new(disk),
            budget,
        });
        acc
    }

    #[test]
    fn past_its_budget_an_aggregate_writes_its_entries_out_and_matches_the_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for venues in [false, true] {
            for (rows, groups) in [(1, 1), (20_000, 300), (30_000, 2_000)] {
                let plays = random_plays(&mut rng, rows, groups);
                for plays in [plays.clone(), in_runs(&plays)] {
                    // A budget the first batch passes (rows: 0 bytes, at once).
                    let budget = if rows == 1 { 0 } else { 60_000 };
                    let mut acc = overflowing(3, venues, budget);
                    update(&mut acc, &plays, groups, 977);
                    let overflow = acc.overflow.as_ref().expect("past the budget");
                    assert!(overflow.chunk < MAX_CHUNK, "chunks sized by the budget");
                    // Only the slots stay in memory.
                    assert!(acc.arena.is_empty() && acc.blocks.is_empty());
                    assert_eq!(
                        figures_of(&acc.evaluate(EmitTo::All).unwrap()),
                        expected(&plays, groups, 3, venues),
                        "{rows} rows, venues {venues}"
                    );
                    assert!(acc.overflow.is_none() && acc.slots.is_empty());
                }
            }
        }
        // Under the budget, nothing is written.
        let plays = random_plays(&mut rng, 2_000, 50);
        let mut acc = overflowing(3, true, 1 << 30);
        update(&mut acc, &plays, 50, 977);
        assert!(acc.overflow.is_none());
        assert_eq!(
            figures_of(&acc.evaluate(EmitTo::All).unwrap()),
            expected(&plays, 50, 3, true)
        );
    }

    #[test]
    fn an_overflowing_aggregate_merges_states_and_gives_its_own() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let groups = 400;
        let plays = random_plays(&mut rng, 40_000, groups);
        let (first, second) = plays.split_at(15_000);
        let indices: Vec<usize> = (0..groups).collect();
        // Partial states merged into an aggregate past its budget.
        let mut merged = overflowing(3, true, 50_000);
        for part in [first, second] {
            let mut partial = Groups::new(3, true);
            update(&mut partial, part, groups, 1_000);
            let state = partial.state(EmitTo::All).unwrap();
            merged.merge_batch(&state, &indices, groups).unwrap();
        }
        assert!(merged.overflow.is_some());
        // Its own state (read back into memory first) merged into another.
        let state = merged.state(EmitTo::All).unwrap();
        assert!(merged.overflow.is_none() && merged.overflow_to.is_none());
        let mut last = Groups::new(3, true);
        last.merge_batch(&state, &indices, groups).unwrap();
        assert_eq!(
            figures_of(&last.evaluate(EmitTo::All).unwrap()),
            expected(&plays, groups, 3, true)
        );
    }

    #[test]
    fn an_overflowing_aggregate_emits_its_first_groups_from_memory() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let groups = 300;
        let plays = random_plays(&mut rng, 20_000, groups);
        let mut acc = overflowing(3, false, 40_000);
        update(&mut acc, &plays, groups, 977);
        assert!(acc.overflow.is_some());
        let want = expected(&plays, groups, 3, false);
        let first = figures_of(&acc.evaluate(EmitTo::First(100)).unwrap());
        assert_eq!(first, want[..100]);
        // Read back, it stays in memory: more plays no longer overflow.
        update(&mut acc, &[], groups - 100, 977);
        assert!(acc.overflow.is_none());
        assert_eq!(figures_of(&acc.evaluate(EmitTo::All).unwrap()), want[100..]);
    }

    #[test]
    fn a_lost_overflow_file_is_an_error_naming_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let plays = random_plays(&mut rng, 5_000, 100);
        let mut acc = overflowing(3, true, 10_000);
        update(&mut acc, &plays, 100, 977);
        let path = acc
            .overflow
            .as_ref()
            .unwrap()
            .file
            .path()
            .unwrap()
            .to_owned();
        std::fs::remove_file(&path).unwrap();
        let err = acc.evaluate(EmitTo::All).unwrap_err().to_string();
        assert!(err.contains("room_figures: reading"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn one_group_past_its_budget_reads_its_entries_back() {
        // Without GROUP BY: the plays of every group as one group's.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let plays: Vec<Play> = random_plays(&mut rng, 8_000, 40)
            .into_iter()
            .map(|(_, venue, room, day)| (0, venue, room, day))
            .collect();
        let mut one = OneGroup(overflowing(3, true, 2_000));
        for chunk in plays.chunks(977) {
            let (values, _) = columns(chunk, true);
            Accumulator::update_batch(&mut one, &values).unwrap();
        }
        assert!(one.0.overflow.is_some());
        let got = Accumulator::evaluate(&mut one).unwrap().to_array().unwrap();
        assert_eq!(figures_of(&got), expected(&plays, 1, 3, true));
    }
}
