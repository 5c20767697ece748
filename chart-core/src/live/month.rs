//! A month's counts: the open days ([`Day`], each event still known), and the closed
//! days folded into per-song figures and the sorted set of (song, venue, room) keys
//! they played, from which a song's distinct venues and rooms over the month follow.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;

use super::catalogue::Catalogue;
use super::day::{Day, Key, PlayRow, Rooms, key_song, key_song_venue, key_venue, key_venue_room};
use crate::error::Result;

/// A song's figures over a period: GM-1's `song_period_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    pub score: i64,
    pub plays: i64,
    pub venues: i64,
    pub rooms: i64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.score += other.score;
        self.plays += other.plays;
        self.venues += other.venues;
        self.rooms += other.rooms;
    }
}

/// The closed days, folded.
#[derive(Debug, Default)]
struct Folded {
    days: Vec<NaiveDate>,
    /// Every (song, venue, room) with a valid play, sorted.
    keys: Vec<Key>,
    /// Per song, and per (province, song).
    songs: HashMap<u32, Figures>,
    provinces: HashMap<(u16, u32), Figures>,
    /// (venue, room) with a valid play.
    rooms: HashSet<u64>,
}

impl Folded {
    fn has(&self, key: Key) -> bool {
        self.keys.binary_search(&key).is_ok()
    }

    fn has_song_venue(&self, song_venue: u64) -> bool {
        let at = self
            .keys
            .partition_point(|k| key_song_venue(*k) < song_venue);
        self.keys
            .get(at)
            .is_some_and(|k| key_song_venue(*k) == song_venue)
    }
}

/// Per key, the capped score and the valid plays of some days.
fn key_totals<'a>(days: impl Iterator<Item = &'a Day>, room_cap: i64) -> Vec<(Key, i64, i64)> {
    let mut totals: HashMap<Key, (i64, i64), foldhash::fast::RandomState> = HashMap::default();
    for day in days {
        for (&key, &n) in &day.counts {
            let t = totals.entry(key).or_default();
            t.0 += i64::from(n).min(room_cap);
            t.1 += i64::from(n);
        }
    }
    let mut totals: Vec<(Key, i64, i64)> = totals.into_iter().map(|(k, t)| (k, t.0, t.1)).collect();
    totals.sort_unstable_by_key(|t| t.0);
    totals
}

/// What keys add to figures already folded: per song, and per (province, song).
struct Added {
    songs: HashMap<u32, Figures>,
    provinces: HashMap<(u16, u32), Figures>,
    new_keys: Vec<Key>,
}

/// The figures `totals` (sorted by key) add to `folded`.
fn added(totals: &[(Key, i64, i64)], folded: &Folded, catalogue: &Catalogue) -> Added {
    let mut added = Added {
        songs: HashMap::new(),
        provinces: HashMap::new(),
        new_keys: Vec::new(),
    };
    let mut previous_song_venue = None;
    for &(key, score, plays) in totals {
        let song = key_song(key);
        let province = catalogue.venues[key_venue(key) as usize].province;
        let mut delta = Figures {
            score,
            plays,
            ..Figures::default()
        };
        if !folded.has(key) {
            delta.rooms = 1;
            added.new_keys.push(key);
        }
        let song_venue = key_song_venue(key);
        if previous_song_venue != Some(song_venue) {
            previous_song_venue = Some(song_venue);
            if !folded.has_song_venue(song_venue) {
                delta.venues = 1;
            }
        }
        added.songs.entry(song).or_default().add(&delta);
        added
            .provinces
            .entry((province, song))
            .or_default()
            .add(&delta);
    }
    added
}

/// A month's counts.
#[derive(Debug, Default)]
pub(crate) struct MonthCounts {
    open: BTreeMap<NaiveDate, Day>,
    folded: Folded,
    rooms: Rooms,
}

/// Figures of the month to date.
#[derive(Debug, Default)]
pub(crate) struct MonthFigures {
    pub songs: HashMap<u32, Figures>,
    pub provinces: HashMap<(u16, u32), Figures>,
    /// Per province: venues and rooms with a valid play.
    pub active: HashMap<u16, (i64, i64)>,
}

impl MonthCounts {
    /// Counts a play of business day `day`, which is not closed.
    pub fn add(
        &mut self,
        day: NaiveDate,
        play: PlayRow<'_>,
        catalogue: &Catalogue,
        min_played_ms: i32,
    ) -> Result<()> {
        debug_assert!(!self.is_closed(day));
        self.open
            .entry(day)
            .or_default()
            .add(play, catalogue, &mut self.rooms, min_played_ms)
    }

    /// Whether a day is folded.
    pub fn is_closed(&self, day: NaiveDate) -> bool {
        self.folded.days.contains(&day)
    }

    /// The open days.
    pub fn open_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.open.keys().copied()
    }

    /// The closed days.
    pub fn closed_days(&self) -> &[NaiveDate] {
        &self.folded.days
    }

    /// Events whose copies name more than one venue, on the open days (the closed days'
    /// are counted when they close).
    pub fn events_at_several_venues(&self) -> u64 {
        self.open.values().map(|d| d.events_at_several_venues).sum()
    }

    /// Folds an open day (or records an empty one as closed).
    pub fn close(&mut self, day: NaiveDate, catalogue: &Catalogue, room_cap: i64) -> u64 {
        let several = self
            .open
            .get(&day)
            .map_or(0, |d| d.events_at_several_venues);
        if let Some(open) = self.open.remove(&day) {
            let totals = key_totals(std::iter::once(&open), room_cap);
            drop(open);
            let added = added(&totals, &self.folded, catalogue);
            for (song, delta) in added.songs {
                self.folded.songs.entry(song).or_default().add(&delta);
            }
            for (at, delta) in added.provinces {
                self.folded.provinces.entry(at).or_default().add(&delta);
            }
            for (key, _, _) in &totals {
                self.folded.rooms.insert(key_venue_room(*key));
            }
            merge_sorted(&mut self.folded.keys, &added.new_keys);
        }
        self.folded.days.push(day);
        self.folded.days.sort_unstable();
        several
    }

    /// The month's figures: the folded days' with the open days' added.
    pub fn figures(&self, catalogue: &Catalogue, room_cap: i64) -> MonthFigures {
        let totals = key_totals(self.open.values(), room_cap);
        let added = added(&totals, &self.folded, catalogue);
        let mut figures = MonthFigures {
            songs: self.folded.songs.clone(),
            provinces: self.folded.provinces.clone(),
            active: HashMap::new(),
        };
        for (song, delta) in added.songs {
            figures.songs.entry(song).or_default().add(&delta);
        }
        for (at, delta) in added.provinces {
            figures.provinces.entry(at).or_default().add(&delta);
        }
        let mut rooms = self.folded.rooms.clone();
        rooms.extend(totals.iter().map(|(key, _, _)| key_venue_room(*key)));
        let mut venues = HashSet::new();
        for room in rooms {
            let venue = (room >> 16) as u32;
            let province = catalogue.venues[venue as usize].province;
            let active = figures.active.entry(province).or_default();
            active.1 += 1;
            if venues.insert(venue) {
                active.0 += 1;
            }
        }
        figures
    }
}

/// Merges sorted `new` (none of which is in `keys`) into sorted `keys`, in place.
fn merge_sorted(keys: &mut Vec<Key>, new: &[Key]) {
    let old = keys.len();
    keys.reserve_exact(new.len());
    keys.resize(old + new.len(), 0);
    let (mut i, mut j, mut out) = (old, new.len(), keys.len());
    while j > 0 {
        out -= 1;
        if i > 0 && keys[i - 1] > new[j - 1] {
            keys[out] = keys[i - 1];
            i -= 1;
        } else {
            keys[out] = new[j - 1];
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_keys_sorted() {
        let mut keys = vec![2, 5, 9];
        merge_sorted(&mut keys, &[1, 3, 10]);
        assert_eq!(keys, [1, 2, 3, 5, 9, 10]);
        let mut empty = Vec::new();
        merge_sorted(&mut empty, &[4]);
        assert_eq!(empty, [4]);
        merge_sorted(&mut empty, &[]);
        assert_eq!(empty, [4]);
    }
}
