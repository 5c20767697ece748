//! The entries of a group: a chain of (room, day, plays), moved to an open-addressed
//! block of its own past [`LONG_CHAIN`] entries.

/// A chain longer than this moves to a block (an open-addressed table).
pub(super) const LONG_CHAIN: u32 = 8;
/// `Entry::next` of the last entry of a chain.
pub(super) const END: u32 = u32::MAX;
/// `Entry::next` of a group slot whose entries are in a block of [`Groups::blocks`].
pub(super) const HASHED: u32 = u32::MAX - 1;
/// The entries of a block when a chain moves to it: the chain, with room to grow.
pub(super) const FIRST_BLOCK: u32 = 2 * LONG_CHAIN;

/// The plays of one room on one day, in a group's chain.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) room: u32,
    pub(super) day: i32,
    /// 0 only in the slot of a group without plays.
    pub(super) plays: u32,
    pub(super) next: u32,
}

/// A group's state: its first entry, and what its chain holds.
///
/// A group whose entries moved to a block (`first.next == HASHED`) keeps in
/// `first.room` the block's start in [`Groups::blocks`] and in `mask` its capacity
/// (a power of two); `first.plays` stays non-zero.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    pub(super) first: Entry,
    /// The bits of [`bit`] of every (room, day) in the chain: a clear bit means
    /// "not in the chain" without walking it.
    pub(super) mask: u32,
    /// Entries in the chain (or the block).
    pub(super) length: u32,
}

/// An entry of a block; `plays == 0` marks an empty cell.
#[derive(Clone, Copy, Default)]
pub(super) struct Cell {
    pub(super) room: u32,
    pub(super) day: i32,
    pub(super) plays: u32,
}

pub(super) const EMPTY: Slot = Slot {
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
pub(super) const AHEAD: usize = 8;

/// Asks the processor to bring `item` into the caches (nothing elsewhere than on x86-64).
pub(super) fn prefetch<T>(item: &T) {
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
pub(super) fn hash(room: u32, day: i32) -> u32 {
    (room.wrapping_mul(0x9E37_79B9) ^ (day as u32).wrapping_mul(0x85EB_CA6B))
        .wrapping_mul(0x2545_F491)
}

/// One of 32 bits, picked by a hash of (room, day).
pub(super) fn bit(room: u32, day: i32) -> u32 {
    1 << (hash(room, day) >> 27)
}

/// The cell of `block` (a power of two cells, never full) holding (room, day), or
/// the empty cell where it goes.
pub(super) fn place(block: &mut [Cell], room: u32, day: i32) -> &mut Cell {
    let mask = block.len() - 1;
    let mut at = (hash(room, day) as usize).wrapping_mul(block.len()) >> 32;
    while block[at].plays > 0 && (block[at].room != room || block[at].day != day) {
        at = (at + 1) & mask;
    }
    &mut block[at]
}
