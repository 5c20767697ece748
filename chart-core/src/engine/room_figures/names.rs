//! Rooms and venues interned to integers.

use datafusion::common::HashMap;

/// Ids (of rooms or venues) as integers.
pub(super) struct Names {
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
    pub(super) fn code(&mut self, name: &str) -> u32 {
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

    pub(super) fn size(&self) -> usize {
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
pub(super) struct Rooms {
    venue_ids: Names,
    room_ids: Names,
    /// With venues: the (venue, room id) codes of each room, by room code.
    of: Vec<(u32, u32)>,
    /// With venues: the room codes, by venue code << 32 | room id code.
    codes: HashMap<u64, u32>,
}

impl Rooms {
    pub(super) fn code(&mut self, venue: Option<&str>, room: &str) -> u32 {
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
    pub(super) fn venue_of(&self, room: u32) -> u32 {
        self.of[room as usize].0
    }

    /// The (venue id, room id) of a room; the venue is "" without venues.
    pub(super) fn ids(&self, venues: bool, room: u32) -> (&str, &str) {
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

    pub(super) fn size(&self) -> usize {
        self.venue_ids.size()
            + self.room_ids.size()
            + self.of.capacity() * size_of::<(u32, u32)>()
            + self.codes.capacity() * (size_of::<(u64, u32)>() + 1)
    }
}

/// A set of small integers, cleared by the caller as it was filled.
#[derive(Default)]
pub(super) struct Seen(Vec<u64>);

impl Seen {
    /// Adds `value`; true if it was not in the set.
    pub(super) fn insert(&mut self, value: u32) -> bool {
        let (word, bit) = (value as usize / 64, 1u64 << (value % 64));
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    pub(super) fn remove(&mut self, value: u32) {
        self.0[value as usize / 64] &= !(1u64 << (value % 64));
    }

    pub(super) fn size(&self) -> usize {
        self.0.capacity() * size_of::<u64>()
    }
}
