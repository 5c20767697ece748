//! The (song, venue, room) keys of a month's closed days in 4 bytes each (a month at
//! the 2024 platform's scale has tens of millions): the month's rooms sorted by
//! (venue, room), and per song the sorted ranks of its rooms in that order. A song's
//! rooms of one venue are then one run of its ranks.

use std::ops::Range;

use super::day::{Key, key_song, key_venue_room};

/// The partition point of `below` in `sorted[from..]` (as an index of `sorted`), found
/// by doubling steps from `from`: cheap when it is near.
pub(crate) fn gallop<T>(sorted: &[T], from: usize, below: impl Fn(&T) -> bool) -> usize {
    let rest = &sorted[from..];
    let mut bound = 1;
    while bound < rest.len() && below(&rest[bound]) {
        bound *= 2;
    }
    let start = bound / 2;
    let end = (bound + 1).min(rest.len());
    from + start + rest[start.min(end)..end].partition_point(below)
}

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

    /// A walk over `song`'s keys in (venue, room) order.
    pub fn walk(&self, song: u32) -> SongWalk<'_> {
        SongWalk {
            rooms: &self.rooms,
            held: self.song(song),
            room_at: 0,
            held_at: 0,
        }
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
        // Exactly (a month's ranks are hundreds of MiB: doubling would leave up to
        // half unused; a large block grows in place).
        self.ranks.reserve_exact(new.len());
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

/// One song's keys looked up in (venue, room) order, each search starting where the
/// last one ended (a refresh looks up millions: most are a popular song's).
pub(crate) struct SongWalk<'a> {
    rooms: &'a [u64],
    held: &'a Ranks,
    room_at: usize,
    held_at: usize,
}

impl SongWalk<'_> {
    /// Whether the song was played in a room of `venue` (not before one of the venues
    /// or rooms asked before).
    pub fn venue_held(&mut self, venue: u32) -> bool {
        let first = u64::from(venue) << 16;
        self.room_at = gallop(self.rooms, self.room_at, |r| *r < first);
        let start = self.room_at as u32;
        self.held_at = gallop(self.held, self.held_at, |r| *r < start);
        self.held
            .get(self.held_at)
            .is_some_and(|r| self.rooms[*r as usize] >> 16 == u64::from(venue))
    }

    /// Whether a (venue, room) (not before one asked before) is held, and whether the
    /// song's key of it is.
    pub fn room(&mut self, venue_room: u64) -> (bool, bool) {
        self.room_at = gallop(self.rooms, self.room_at, |r| *r < venue_room);
        if self.rooms.get(self.room_at) != Some(&venue_room) {
            return (false, false);
        }
        let rank = self.room_at as u32;
        self.held_at = gallop(self.held, self.held_at, |r| *r < rank);
        (true, self.held.get(self.held_at) == Some(&rank))
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
    fn galloping_finds_the_partition_point_from_where_it_starts() {
        let keys: Vec<u64> = (0..100).map(|k| k * 3).collect();
        let mut at = 0;
        for target in [0, 1, 3, 4, 50, 51, 150, 297, 298, 400] {
            at = gallop(&keys, at, |k| *k < target);
            assert_eq!(at, keys.partition_point(|k| *k < target), "target {target}");
        }
        assert_eq!(gallop::<u64>(&[], 0, |_| true), 0);
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
        for (d, day) in days.iter().enumerate() {
            let next = &days[(d + 1) % days.len()];
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
                    let ranks = keys.venue_ranks(venue);
                    let found = keys.song(song).iter().any(|r| ranks.contains(r));
                    assert_eq!(found, played, "song {song} venue {venue}");
                }
                // A walk over the song's keys of the next "day" answers as the sets do.
                let mut walk = keys.walk(song);
                let mut venue = None;
                for k in next.iter().filter(|k| key_song(**k) == song) {
                    if venue != Some(key_venue(*k)) {
                        venue = Some(key_venue(*k));
                        let played = expected
                            .iter()
                            .any(|e| key_song(*e) == song && key_venue(*e) == key_venue(*k));
                        assert_eq!(walk.venue_held(key_venue(*k)), played, "{k}");
                    }
                    let room = key_venue_room(*k);
                    let room_held = expected.iter().any(|e| key_venue_room(*e) == room);
                    assert_eq!(walk.room(room), (room_held, expected.contains(k)), "{k}");
                }
            }
        }
        assert!(expected.iter().any(|k| key_song_venue(*k) > 0));
    }
}
