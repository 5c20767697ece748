//! The (song, venue, room) keys of a month's closed days in 4 bytes each (a month at
//! the 2024 platform's scale has tens of millions): the month's rooms sorted by
//! (venue, room), and per song the sorted ranks of its rooms in that order. A song's
//! rooms of one venue are then one run of its ranks.

use std::ops::Range;

use super::day::{Key, key_song, key_venue_room};

/// A song's ranks: the rooms it was played in, as ranks among the month's rooms.
type Ranks = [u32];

/// The closed days' keys.
#[derive(Debug, Default)]
pub(crate) struct MonthKeys {
    /// (venue, room) with a valid play, sorted; a room's rank is its index.
    rooms: Vec<u64>,
    /// Per song code, where its ranks start in `ranks`; one entry more at the end.
    starts: Vec<usize>,
    /// Each song's ranks, sorted, one song after the other.
    ranks: Vec<u32>,
}

impl MonthKeys {
    /// About the bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.rooms.capacity() * size_of::<u64>()
            + self.starts.capacity() * size_of::<usize>()
            + self.ranks.capacity() * size_of::<u32>()
    }

    /// A room's rank, or where it would be.
    pub fn room_rank(&self, venue_room: u64) -> std::result::Result<u32, usize> {
        self.rooms.binary_search(&venue_room).map(|r| r as u32)
    }

    /// The ranks of a venue's rooms.
    pub fn venue_ranks(&self, venue: u32) -> Range<u32> {
        let first = u64::from(venue) << 16;
        let start = self.rooms.partition_point(|r| *r < first);
        let end = start + self.rooms[start..].partition_point(|r| (r >> 16) == u64::from(venue));
        start as u32..end as u32
    }

    /// A song's ranks.
    pub fn song(&self, song: u32) -> &Ranks {
        let song = song as usize;
        match (self.starts.get(song), self.starts.get(song + 1)) {
            (Some(&start), Some(&end)) => &self.ranks[start..end],
            _ => &[],
        }
    }

    /// Whether a song was played in a room of a venue's `ranks`.
    pub fn song_in(song: &Ranks, ranks: Range<u32>) -> bool {
        let at = song.partition_point(|r| *r < ranks.start);
        song.get(at).is_some_and(|r| *r < ranks.end)
    }

    /// Adds keys, sorted, none of which is held; `new_rooms` (sorted) are the rooms
    /// among them not held.
    pub fn add(&mut self, new: &[Key], new_rooms: &[u64]) {
        if !new_rooms.is_empty() {
            self.add_rooms(new_rooms);
        }
        let Some(last) = new.last() else {
            return;
        };
        let songs = (key_song(*last) as usize + 1).max(self.starts.len().saturating_sub(1));
        let held = self.ranks.len();
        self.starts.resize(songs + 1, held);
        // Each new key as (song, rank), in order.
        let new: Vec<(u32, u32)> = new
            .iter()
            .map(|k| {
                let rank = self
                    .room_rank(key_venue_room(*k))
                    .expect("a new key's room is held");
                (key_song(*k), rank)
            })
            .collect();
        // Merge from the back, in place: the held keys shift right by the new keys
        // of the songs before and of their own song.
        self.ranks.resize(held + new.len(), 0);
        let (mut i, mut j, mut out) = (held, new.len(), held + new.len());
        let mut song = songs;
        while j > 0 {
            out -= 1;
            while i > 0 && song > 0 && self.starts[song] >= i {
                song -= 1;
            }
            let held_key = (i > 0).then(|| (song as u32, self.ranks[i - 1]));
            if held_key.is_some_and(|h| h > new[j - 1]) {
                self.ranks[out] = self.ranks[i - 1];
                i -= 1;
            } else {
                self.ranks[out] = new[j - 1].1;
                j -= 1;
            }
        }
        let mut before = 0;
        let mut next = new.iter().peekable();
        for song in 0..songs {
            self.starts[song] += before;
            while next.next_if(|(s, _)| *s as usize == song).is_some() {
                before += 1;
            }
        }
        self.starts[songs] += before;
    }

    /// Adds rooms (sorted, none held) and ranks the held keys again: ranks keep their
    /// order, so the songs' ranks stay sorted.
    fn add_rooms(&mut self, new: &[u64]) {
        let mut shift = Vec::with_capacity(self.rooms.len());
        let mut j = 0;
        for room in &self.rooms {
            while j < new.len() && new[j] < *room {
                j += 1;
            }
            shift.push(j as u32);
        }
        for rank in &mut self.ranks {
            *rank += shift[*rank as usize];
        }
        let mut rooms = Vec::with_capacity(self.rooms.len() + new.len());
        let (mut a, mut b) = (self.rooms.iter().peekable(), new.iter().peekable());
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            rooms.push(if x < y {
                *a.next().expect("peeked")
            } else {
                *b.next().expect("peeked")
            });
        }
        rooms.extend(a);
        rooms.extend(b);
        self.rooms = rooms;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::live::day::{key, key_song_venue, key_venue};

    /// The held keys, as a plain set.
    fn held(keys: &MonthKeys) -> BTreeSet<Key> {
        let mut held = BTreeSet::new();
        for song in 0..keys.starts.len().saturating_sub(1) as u32 {
            for rank in keys.song(song) {
                let room = keys.rooms[*rank as usize];
                held.insert(key(song, (room >> 16) as u32, (room & 0xffff) as u16));
            }
        }
        held
    }

    fn add(keys: &mut MonthKeys, new: &BTreeSet<Key>) {
        let new: Vec<Key> = new.iter().copied().collect();
        let rooms: BTreeSet<u64> = new
            .iter()
            .map(|k| key_venue_room(*k))
            .filter(|r| keys.room_rank(*r).is_err())
            .collect();
        let rooms: Vec<u64> = rooms.into_iter().collect();
        keys.add(&new, &rooms);
    }

    #[test]
    fn keys_added_day_by_day_are_the_union_and_answer_venues() {
        // Three "days" of keys over a few songs, venues and rooms, overlapping.
        let mut days: Vec<BTreeSet<Key>> = Vec::new();
        let mut x: u64 = 7;
        for _ in 0..3 {
            let mut day = BTreeSet::new();
            for _ in 0..400 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (song, venue, room) = ((x >> 33) % 40, (x >> 45) % 9, (x >> 55) % 5);
                day.insert(key(song as u32, venue as u32, room as u16));
            }
            days.push(day);
        }
        let mut keys = MonthKeys::default();
        let mut expected = BTreeSet::new();
        for day in &days {
            let new: BTreeSet<Key> = day.difference(&expected).copied().collect();
            add(&mut keys, &new);
            expected.extend(new);
            assert_eq!(held(&keys), expected);
            assert_eq!(keys.ranks.len(), expected.len());
            for song in 0..41 {
                for venue in 0..10 {
                    let played = expected
                        .iter()
                        .any(|k| key_song(*k) == song && key_venue(*k) == venue);
                    let found = MonthKeys::song_in(keys.song(song), keys.venue_ranks(venue));
                    assert_eq!(found, played, "song {song} venue {venue}");
                }
            }
        }
        assert!(expected.iter().any(|k| key_song_venue(*k) > 0));
    }
}
