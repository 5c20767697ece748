//! One business day's plays, counted as they land: each event once (the copy GM-1
//! keeps: the earliest, then the longest, then the smallest venue, room and song id,
//! NULLs last, as in `checked_plays.sql`), its exclusion rule, and the valid events
//! per (song, venue, room).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::catalogue::Catalogue;
use super::live_error;
use crate::error::Result;

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
    venues: HashMap<u32, VenueRooms>,
}

#[derive(Debug, Default)]
struct VenueRooms {
    codes: HashMap<Box<str>, u16>,
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

/// The copy of an event counted.
#[derive(Debug)]
struct Kept {
    started_at: Option<i64>,
    played_ms: Option<i32>,
    /// The key of a valid event.
    key: Option<Key>,
    /// The ids of a copy that is not valid (a valid copy's are its key's).
    ids: Option<Box<[Option<Box<str>>; 3]>>,
    /// Copies of the event name more than one venue (or a venue and none).
    venues_differ: bool,
}

/// One business day's events and counts.
#[derive(Debug, Default)]
pub(crate) struct Day {
    /// Event ids, end to end; event `i` is `ids[ends[i-1]..ends[i]]`.
    ids: Vec<u8>,
    ends: Vec<u32>,
    table: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    kept: Vec<Kept>,
    /// Valid events per key.
    pub counts: HashMap<Key, u32, foldhash::fast::RandomState>,
    /// Events whose copies name more than one venue.
    pub events_at_several_venues: u64,
    /// Play rows counted.
    pub rows: u64,
}

impl Day {
    fn event_id(&self, i: u32) -> &[u8] {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.ids[start..self.ends[i] as usize]
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
        let copy = Kept {
            started_at: play.started_at,
            played_ms: play.played_ms,
            key,
            ids: key.is_none().then(|| {
                Box::new([
                    play.venue_id.map(Into::into),
                    play.room_id.map(Into::into),
                    play.song_id.map(Into::into),
                ])
            }),
            venues_differ: false,
        };
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
                self.ids.extend_from_slice(event_id.as_bytes());
                let end = u32::try_from(self.ids.len())
                    .map_err(|_| live_error("more than 4 GiB of event ids in a business day"))?;
                self.ends.push(end);
                let (ids, ends, hasher) = (&self.ids, &self.ends, &self.hasher);
                self.table.insert_unique(hash, index, |&i| {
                    let i = i as usize;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    hasher.hash_one(&ids[start..ends[i] as usize])
                });
                if let Some(key) = copy.key {
                    *self.counts.entry(key).or_default() += 1;
                }
                self.kept.push(copy);
            }
            Some(index) => {
                debug_assert_eq!(self.event_id(index), event_id.as_bytes());
                let kept = &self.kept[index as usize];
                let differ = venue_of(kept, catalogue) != play.venue_id;
                if differ && !kept.venues_differ {
                    self.events_at_several_venues += 1;
                }
                let venues_differ = kept.venues_differ || differ;
                if order(&copy, kept, catalogue, rooms) == Ordering::Less {
                    if let Some(old) = kept.key {
                        let count = self.counts.get_mut(&old).expect("a kept event is counted");
                        *count -= 1;
                        if *count == 0 {
                            self.counts.remove(&old);
                        }
                    }
                    if let Some(key) = copy.key {
                        *self.counts.entry(key).or_default() += 1;
                    }
                    self.kept[index as usize] = copy;
                }
                self.kept[index as usize].venues_differ = venues_differ;
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

/// The venue id of a kept copy.
fn venue_of<'a>(kept: &'a Kept, catalogue: &'a Catalogue) -> Option<&'a str> {
    match (&kept.ids, kept.key) {
        (Some(ids), _) => ids[0].as_deref(),
        (None, Some(key)) => Some(catalogue.venue_id(key_venue(key))),
        (None, None) => None,
    }
}

/// GM-1's order of an event's copies: the first is kept.
fn order(a: &Kept, b: &Kept, catalogue: &Catalogue, rooms: &Rooms) -> Ordering {
    fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let ids = |k: &'_ Kept| -> [Option<String>; 3] {
        match (&k.ids, k.key) {
            (Some(ids), _) => ids.clone().map(|s| s.map(String::from)),
            (None, Some(key)) => {
                let venue = key_venue(key);
                [
                    Some(catalogue.venue_id(venue).to_string()),
                    Some(rooms.name(venue, key_room_in_venue(key)).to_string()),
                    Some(catalogue.songs[key_song(key) as usize].id.clone()),
                ]
            }
            (None, None) => [None, None, None],
        }
    };
    fn descending_nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => b.cmp(&a),
            (a, b) => nulls_last(a, b),
        }
    }
    nulls_last(a.started_at, b.started_at)
        .then_with(|| descending_nulls_last(a.played_ms, b.played_ms))
        .then_with(|| {
            let (a, b) = (ids(a), ids(b));
            a.iter()
                .zip(&b)
                .map(|(a, b)| nulls_last(a.as_deref(), b.as_deref()))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
}
