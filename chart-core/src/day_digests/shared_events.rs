//! The units to digest: partitions that share an event id hash, grouped.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use super::digest::HASH_PARTS;
use super::kept::{HashCursor, KeptDigest};
use super::*;
use crate::error::Result;

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
        .map(|joined| joined.map_err(|e| digest_failure("a merge task failed", e))?)
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
