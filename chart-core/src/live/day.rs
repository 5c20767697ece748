//! One business day's plays, counted as they land: each event once (the copy GM-1
//! keeps: the earliest, then the longest, then the smallest venue, room and song id,
//! NULLs last, as in `checked_plays.sql`), whether it is valid, and its (song, venue,
//! room); the valid events per key are counted from the kept copies when asked.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::catalogue::Catalogue;
use super::live_error;
use crate::error::Result;
use crate::large_vectors::grow_by_a_quarter;
use crate::methodology::event_copies::{EventCopy, copy_order};

/// Bits of a key's fields: song code, venue code, room within the venue.
const SONG_BITS: u32 = 24;
const VENUE_BITS: u32 = 24;
const ROOM_BITS: u32 = 16;

/// A (song, venue, room) as one integer: song, then venue, then room, so that sorted
/// keys group a song's venues and a venue's rooms.
pub(crate) type Key = u64;

/// The key of a (song, venue, room).
pub(crate) fn key(song: u32, venue: u32, room: u16) -> Key {
    (u64::from(song) << (VENUE_BITS + ROOM_BITS))
        | (u64::from(venue) << ROOM_BITS)
        | u64::from(room)
}

/// The song of a key.
pub(crate) fn key_song(key: Key) -> u32 {
    (key >> (VENUE_BITS + ROOM_BITS)) as u32
}

/// The venue of a key.
pub(crate) fn key_venue(key: Key) -> u32 {
    ((key >> ROOM_BITS) & ((1 << VENUE_BITS) - 1)) as u32
}

/// The (song, venue) of a key, as an integer.
pub(crate) fn key_song_venue(key: Key) -> u64 {
    key >> ROOM_BITS
}

/// The (venue, room) of a key, as an integer.
pub(crate) fn key_venue_room(key: Key) -> u64 {
    key & ((1 << (VENUE_BITS + ROOM_BITS)) - 1)
}

/// The room of a key, numbered within its venue.
fn key_room_in_venue(key: Key) -> u16 {
    (key & ((1 << ROOM_BITS) - 1)) as u16
}

/// The rooms seen in valid plays, numbered within their venue.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    venues: HashMap<u32, VenueRooms, foldhash::fast::RandomState>,
}

#[derive(Debug, Default)]
struct VenueRooms {
    codes: HashMap<Box<str>, u16, foldhash::fast::RandomState>,
    names: Vec<Box<str>>,
}

impl Rooms {
    fn code(&mut self, venue: u32, room: &str) -> Result<u16> {
        let rooms = self.venues.entry(venue).or_default();
        if let Some(code) = rooms.codes.get(room) {
            return Ok(*code);
        }
        let code = u16::try_from(rooms.names.len())
            .map_err(|_| live_error(format!("venue code {venue}: more than 65536 rooms")))?;
        rooms.names.push(room.into());
        rooms.codes.insert(room.into(), code);
        Ok(code)
    }

    fn name(&self, venue: u32, room: u16) -> &str {
        &self.venues[&venue].names[usize::from(room)]
    }
}

/// A play row, as the contract has it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlayRow<'a> {
    pub event_id: Option<&'a str>,
    pub venue_id: Option<&'a str>,
    pub room_id: Option<&'a str>,
    pub song_id: Option<&'a str>,
    pub started_at: Option<i64>,
    pub played_ms: Option<i32>,
}

/// The copy of an event counted, in 24 bytes (a day holds millions): its fields'
/// NULLs are flags, and the ids of a copy that is not valid are kept aside.
#[derive(Debug, Clone, Copy)]
struct Kept {
    started_at: i64,
    /// The key of a valid copy; of one that is not valid, its ids' index in
    /// [`Day::invalid`].
    key_or_ids: u64,
    played_ms: i32,
    flags: u8,
}

const HAS_STARTED_AT: u8 = 1;
const HAS_PLAYED_MS: u8 = 2;
const VALID: u8 = 4;
/// Copies of the event name more than one venue (or a venue and none).
const VENUES_DIFFER: u8 = 8;

/// The ids of a copy that is not valid: venue, room and song.
type Ids = [Option<Box<str>>; 3];

impl Kept {
    fn started_at(&self) -> Option<i64> {
        (self.flags & HAS_STARTED_AT != 0).then_some(self.started_at)
    }

    fn played_ms(&self) -> Option<i32> {
        (self.flags & HAS_PLAYED_MS != 0).then_some(self.played_ms)
    }

    /// The key of a valid copy.
    fn key(&self) -> Option<Key> {
        (self.flags & VALID != 0).then_some(self.key_or_ids)
    }
}

/// The size of a day: the room to make for the next.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DayShape {
    id_bytes: usize,
    events: usize,
}

/// One business day's events.
#[derive(Debug, Default)]
pub(crate) struct Day {
    /// Event ids, end to end; event `i` is `ids[ends[i-1]..ends[i]]`.
    ids: Vec<u8>,
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    kept: Vec<Kept>,
    /// The ids of kept copies that are not valid.
    invalid: Vec<Ids>,
    /// Events whose copies name more than one venue.
    pub events_at_several_venues: u64,
    /// Play rows counted.
    pub rows: u64,
}

impl Day {
    /// An empty day with room for a day of `shape` (a day is much like the one
    /// before: its tables then need not grow as it fills).
    pub fn with_shape(shape: DayShape) -> Day {
        Day {
            ids: Vec::with_capacity(shape.id_bytes),
            ends: Vec::with_capacity(shape.events),
            table: HashTable::with_capacity(shape.events),
            kept: Vec::with_capacity(shape.events),
            ..Day::default()
        }
    }

    /// How many events this day holds.
    pub fn shape(&self) -> DayShape {
        DayShape {
            id_bytes: self.ids.len(),
            events: self.kept.len(),
        }
    }

    /// The valid events per key, sorted by key.
    pub fn counts(&self) -> Vec<(Key, u32)> {
        let mut keys: Vec<Key> = self.kept.iter().filter_map(Kept::key).collect();
        keys.sort_unstable();
        let mut counts: Vec<(Key, u32)> = Vec::new();
        for key in keys {
            match counts.last_mut() {
                Some((last, n)) if *last == key => *n += 1,
                _ => counts.push((key, 1)),
            }
        }
        counts
    }

    /// About the bytes this day holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.ids.capacity()
            + self.ends.capacity() * size_of::<u32>()
            + self.table.capacity() * (size_of::<u32>() + 1)
            + self.kept.capacity() * size_of::<Kept>()
            + self.invalid.capacity() * size_of::<Ids>()
    }

    fn event_id(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
    }

    /// The kept copy `kept`, as GM-1 orders copies.
    fn copy_of<'a>(
        &'a self,
        kept: &Kept,
        catalogue: &'a Catalogue,
        rooms: &'a Rooms,
    ) -> EventCopy<'a> {
        let ids = match kept.key() {
            Some(key) => {
                let venue = key_venue(key);
                [
                    Some(catalogue.venue_id(venue)),
                    Some(rooms.name(venue, key_room_in_venue(key))),
                    Some(catalogue.songs.id(key_song(key))),
                ]
            }
            None => self.invalid[kept.key_or_ids as usize]
                .each_ref()
                .map(|id| id.as_deref()),
        };
        EventCopy {
            started_at: kept.started_at(),
            played_ms: kept.played_ms(),
            ids,
        }
    }

    /// `play` as a kept copy with key `key` (`None`: not valid), its ids kept in slot
    /// `slot` of [`Day::invalid`] (a new one when `None`) if it is not valid.
    fn keep(&mut self, play: &PlayRow<'_>, key: Option<Key>, slot: Option<u64>) -> Kept {
        let mut flags = 0;
        if play.started_at.is_some() {
            flags |= HAS_STARTED_AT;
        }
        if play.played_ms.is_some() {
            flags |= HAS_PLAYED_MS;
        }
        let key_or_ids = match key {
            Some(key) => {
                flags |= VALID;
                key
            }
            None => {
                let ids = [play.venue_id, play.room_id, play.song_id].map(|id| id.map(Into::into));
                match slot {
                    Some(slot) => {
                        self.invalid[slot as usize] = ids;
                        slot
                    }
                    None => {
                        self.invalid.push(ids);
                        self.invalid.len() as u64 - 1
                    }
                }
            }
        };
        Kept {
            started_at: play.started_at.unwrap_or_default(),
            key_or_ids,
            played_ms: play.played_ms.unwrap_or_default(),
            flags,
        }
    }

    /// Counts one play row.
    pub fn add(
        &mut self,
        play: PlayRow<'_>,
        catalogue: &Catalogue,
        rooms: &mut Rooms,
        min_played_ms: i32,
    ) -> Result<()> {
        self.rows += 1;
        // A row without an event id is an event of its own, excluded (missing_value).
        let Some(event_id) = play.event_id else {
            return Ok(());
        };
        let key = valid_key(&play, catalogue, rooms, min_played_ms)?;
        let hash = self.hasher.hash_one(event_id.as_bytes());
        let found = {
            let (ids, ends) = (&self.ids, &self.ends);
            self.table
                .find(hash, |&i| {
                    let i = i as usize;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    &ids[start..ends[i] as usize] == event_id.as_bytes()
                })
                .copied()
        };
        match found {
            None => {
                let index = u32::try_from(self.kept.len())
                    .map_err(|_| live_error("more than 2^32 events in a business day"))?;
                grow_by_a_quarter(&mut self.ids, event_id.len());
                self.ids.extend_from_slice(event_id.as_bytes());
                let end = u32::try_from(self.ids.len())
                    .map_err(|_| live_error("more than 4 GiB of event ids in a business day"))?;
                grow_by_a_quarter(&mut self.ends, 1);
                self.ends.push(end);
                let (ids, ends, hasher) = (&self.ids, &self.ends, &self.hasher);
                self.table.insert_unique(hash, index, |&i| {
                    let i = i as usize;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    hasher.hash_one(&ids[start..ends[i] as usize])
                });
                let kept = self.keep(&play, key, None);
                grow_by_a_quarter(&mut self.kept, 1);
                self.kept.push(kept);
            }
            Some(index) => {
                debug_assert_eq!(self.event_id(index), event_id.as_bytes());
                let old = self.kept[index as usize];
                let (differ, earlier) = {
                    let kept = self.copy_of(&old, catalogue, rooms);
                    let copy = EventCopy {
                        started_at: play.started_at,
                        played_ms: play.played_ms,
                        ids: [play.venue_id, play.room_id, play.song_id],
                    };
                    (
                        kept.ids[0] != play.venue_id,
                        copy_order(&copy, &kept) == Ordering::Less,
                    )
                };
                if differ && old.flags & VENUES_DIFFER == 0 {
                    self.events_at_several_venues += 1;
                }
                let venues_differ =
                    if differ { VENUES_DIFFER } else { 0 } | (old.flags & VENUES_DIFFER);
                if earlier {
                    let slot = old.key().is_none().then_some(old.key_or_ids);
                    self.kept[index as usize] = self.keep(&play, key, slot);
                }
                self.kept[index as usize].flags |= venues_differ;
            }
        }
        Ok(())
    }
}

/// The key of a play that no rule excludes (`None` for an excluded one).
fn valid_key(
    play: &PlayRow<'_>,
    catalogue: &Catalogue,
    rooms: &mut Rooms,
    min_played_ms: i32,
) -> Result<Option<Key>> {
    let (Some(venue), Some(room), Some(song), Some(_), Some(played_ms)) = (
        play.venue_id,
        play.room_id,
        play.song_id,
        play.started_at,
        play.played_ms,
    ) else {
        return Ok(None);
    };
    if played_ms < min_played_ms {
        return Ok(None);
    }
    let (Some(song), Some(venue)) = (catalogue.song(song), catalogue.venue(venue)) else {
        return Ok(None);
    };
    if song >= 1 << SONG_BITS || venue >= 1 << VENUE_BITS {
        return Err(live_error(format!(
            "{} songs and {} venues: more than a live month codes",
            catalogue.songs.len(),
            catalogue.venues.len()
        )));
    }
    Ok(Some(key(song, venue, rooms.code(venue, room)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A copy as the reference orders them: NULLs last, `played_ms` descending.
    type RefCopy = (
        (bool, Option<i64>),
        (bool, std::cmp::Reverse<Option<i32>>),
        [(bool, Option<String>); 3],
    );

    fn reference_order(p: &PlayRow<'_>) -> RefCopy {
        let last = |v: Option<&str>| (v.is_none(), v.map(str::to_string));
        (
            (p.started_at.is_none(), p.started_at),
            (p.played_ms.is_none(), std::cmp::Reverse(p.played_ms)),
            [last(p.venue_id), last(p.room_id), last(p.song_id)],
        )
    }

    #[test]
    fn valid_events_per_key_are_those_of_the_copies_kept() {
        let songs = ["s1", "s2", "s3"];
        let venues = ["v1", "v2"];
        let catalogue = Catalogue::of(&songs, &venues);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // One of `values`, or (one time in ten) NULL.
        let maybe = |rng: &mut rand_chacha::ChaCha8Rng, values: &[&'static str]| {
            let value = values[rng.random_range(0..values.len())];
            (rng.random_range(0..10) > 0).then_some(value)
        };
        let rows: Vec<(String, PlayRow<'static>)> = (0..4000)
            .map(|_| {
                let id = format!("e{}", rng.random_range(0..1500));
                let play = PlayRow {
                    event_id: None,
                    venue_id: maybe(&mut rng, &["v1", "v2"]),
                    room_id: maybe(&mut rng, &["r1", "r2"]),
                    song_id: maybe(&mut rng, &["s1", "s2", "s3", "unknown"]),
                    started_at: (rng.random_range(0..10) > 0).then(|| rng.random_range(0..5)),
                    played_ms: (rng.random_range(0..10) > 0)
                        .then(|| rng.random_range(0..3) * 20_000),
                };
                (id, play)
            })
            .collect();
        let mut day = Day::default();
        let mut rooms = Rooms::default();
        for (id, play) in &rows {
            let play = PlayRow {
                event_id: Some(id),
                ..*play
            };
            day.add(play, &catalogue, &mut rooms, 30_000).unwrap();
        }
        // The reference: per event, the first copy in GM-1's order; counted if valid.
        let mut first: std::collections::BTreeMap<&str, (RefCopy, PlayRow<'_>)> =
            Default::default();
        for (id, play) in &rows {
            let order = reference_order(play);
            match first.get(id.as_str()) {
                Some((kept, _)) if *kept <= order => {}
                _ => {
                    first.insert(id, (order, *play));
                }
            }
        }
        let mut expected: std::collections::BTreeMap<(u32, u32, String), u32> = Default::default();
        for (_, p) in first.values() {
            if let (Some(v), Some(r), Some(s), Some(_), Some(ms)) =
                (p.venue_id, p.room_id, p.song_id, p.started_at, p.played_ms)
                && ms >= 30_000
                && let (Some(s), Some(v)) = (catalogue.song(s), catalogue.venue(v))
            {
                *expected.entry((s, v, r.to_string())).or_default() += 1;
            }
        }
        let counted: std::collections::BTreeMap<(u32, u32, String), u32> = (day.counts())
            .into_iter()
            .map(|(k, n)| {
                let room = rooms.name(key_venue(k), key_room_in_venue(k)).to_string();
                ((key_song(k), key_venue(k), room), n)
            })
            .collect();
        assert!(expected.len() > 5, "the test should count several keys");
        assert_eq!(counted, expected);
        let keys: Vec<Key> = day.counts().iter().map(|(k, _)| *k).collect();
        assert!(keys.is_sorted(), "counts come sorted by key");
    }

    #[test]
    fn a_kept_copy_fits_in_24_bytes() {
        assert_eq!(std::mem::size_of::<Kept>(), 24);
    }
}
