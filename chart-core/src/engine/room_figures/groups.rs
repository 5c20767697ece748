//! The state of every group, and the accumulators over it.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Date32Builder, Int64Array, Int64Builder,
    ListArray, StringArray, StringBuilder, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{Date32Type, Int64Type};
use datafusion::common::{ScalarValue, exec_err, internal_err};
use datafusion::error::Result as DfResult;

use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::*;

/// The state of every group.
pub(super) struct Groups {
    cap: u32,
    /// Whether rooms are (venue, room id) and the figures count venues.
    pub(super) venues: bool,
    rooms: Rooms,
    /// Each group's first entry (`EMPTY` for a group without plays).
    pub(super) slots: Vec<Slot>,
    /// The other entries of the chains.
    pub(super) arena: Vec<Entry>,
    /// The first of the arena's entries left by chains moved to blocks, linked by
    /// `next` (`END`: none).
    free_entries: u32,
    /// The entries of groups with long chains: one open-addressed table (linear
    /// probing) per group, a block of a power-of-two cells. A full block is copied
    /// to one twice its size, and left to the next group that needs a block of its
    /// size.
    pub(super) blocks: Vec<Cell>,
    /// The starts of the blocks left, by the log2 of their size.
    free_blocks: Vec<Vec<u32>>,
    /// The distinct rooms of the group being evaluated, in `seen_rooms`.
    scratch: Vec<u32>,
    seen_rooms: Seen,
    seen_venues: Seen,
    /// The (group, room, day) of the plays of the batch being added.
    pending: Vec<(usize, u32, i32)>,
    /// Where the entries go past the budget (none: they stay in memory).
    pub(super) overflow_to: Option<OverflowTo>,
    /// The entries written out, once past the budget.
    pub(super) overflow: Option<Overflow>,
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
    pub(super) fn new(cap: u32, venues: bool) -> Groups {
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
pub(super) struct OneGroup(pub(super) Groups);

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
