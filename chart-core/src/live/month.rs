//! A month's counts: the open days ([`Day`], each event still known), and the closed
//! days folded into per-song and per-(province, song) figures and the sorted set of
//! (song, venue, room) keys they played, from which a song's distinct venues and rooms
//! over the month follow.
//!
//! A refresh ([`MonthCounts::snapshot`]) reads the folded figures in place and adds
//! the open days' to them as it goes: nothing folded is copied.

use std::collections::{BTreeMap, HashSet};
use std::iter::Peekable;

use chrono::NaiveDate;

use super::catalogue::Catalogue;
use super::day::{
    Day, DayShape, Key, PlayRow, Rooms, key_song, key_song_venue, key_venue, key_venue_room,
};
use super::keys::{MonthKeys, gallop};
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

    fn plus(mut self, other: &Figures) -> Figures {
        self.add(other);
        self
    }
}

/// A (province, song)'s figures in 16 bytes (a month holds millions of them): each is
/// at most `u32::MAX`, beyond which it stays there and [`Folded::province_overflow`]
/// is set.
#[derive(Debug, Clone, Copy, Default)]
struct ProvinceFigures {
    score: u32,
    plays: u32,
    venues: u32,
    rooms: u32,
}

impl ProvinceFigures {
    /// Adds `delta` (not negative); whether a figure went past `u32::MAX`.
    fn add(&mut self, delta: &Figures) -> bool {
        let mut overflow = false;
        for (figure, delta) in [
            (&mut self.score, delta.score),
            (&mut self.plays, delta.plays),
            (&mut self.venues, delta.venues),
            (&mut self.rooms, delta.rooms),
        ] {
            let sum = i64::from(*figure) + delta;
            *figure = u32::try_from(sum).unwrap_or(u32::MAX);
            overflow |= sum > i64::from(u32::MAX);
        }
        overflow
    }

    fn wide(&self) -> Figures {
        Figures {
            score: self.score.into(),
            plays: self.plays.into(),
            venues: self.venues.into(),
            rooms: self.rooms.into(),
        }
    }
}

/// A (province, song) as one integer: sorted, a province's songs are together.
type ProvinceSong = u64;

fn province_song(province: u16, song: u32) -> ProvinceSong {
    (u64::from(province) << 32) | u64::from(song)
}

/// The closed days, folded.
#[derive(Debug, Default)]
struct Folded {
    days: Vec<NaiveDate>,
    /// Every (song, venue, room) with a valid play.
    keys: MonthKeys,
    /// Per song code.
    songs: Vec<Figures>,
    /// Per (province, song), sorted.
    provinces: Vec<(ProvinceSong, ProvinceFigures)>,
    /// A figure of `provinces` went past `u32::MAX`.
    province_overflow: bool,
    /// Per province code: venues and rooms with a valid play.
    active: Vec<(i64, i64)>,
}

/// Per key, the capped score and the valid plays of some days, sorted by key (the cap
/// applies to each day).
fn key_totals<'a>(days: impl Iterator<Item = &'a Day>, room_cap: i64) -> Vec<(Key, i64, i64)> {
    let per_day = |day: &Day| {
        day.counts()
            .into_iter()
            .map(|(key, n)| (key, i64::from(n).min(room_cap), i64::from(n)))
    };
    let mut days = days.peekable();
    let Some(first) = days.next() else {
        return Vec::new();
    };
    let mut totals: Vec<(Key, i64, i64)> = per_day(first).collect();
    if days.peek().is_none() {
        return totals;
    }
    for day in days {
        totals.extend(per_day(day));
    }
    totals.sort_unstable_by_key(|t| t.0);
    let mut merged: Vec<(Key, i64, i64)> = Vec::with_capacity(totals.len());
    for (key, score, plays) in totals {
        match merged.last_mut() {
            Some(last) if last.0 == key => {
                last.1 += score;
                last.2 += plays;
            }
            _ => merged.push((key, score, plays)),
        }
    }
    merged
}

/// What some days add to the folded figures.
#[derive(Debug, Default)]
struct Added {
    /// Per song, sorted.
    songs: Vec<(u32, Figures)>,
    /// Per province code, per song, sorted: flattened, per (province, song), sorted.
    provinces: Vec<Vec<(ProvinceSong, Figures)>>,
    /// Keys not folded yet, sorted.
    new_keys: Vec<Key>,
    /// (venue, room) not folded yet.
    new_rooms: HashSet<u64, foldhash::fast::RandomState>,
}

/// The figures `totals` (sorted by key) add to `folded`.
fn added(totals: &[(Key, i64, i64)], folded: &Folded, catalogue: &Catalogue) -> Added {
    let mut added = Added::default();
    let mut song_provinces: Vec<(u16, Figures)> = Vec::new();
    let mut previous_song_venue = None;
    let mut i = 0;
    while i < totals.len() {
        let song = key_song(totals[i].0);
        // The song's keys come in (venue, room) order: each is looked up from the last.
        let mut walk = folded.keys.walk(song);
        let mut song_delta = Figures::default();
        song_provinces.clear();
        while let Some(&(key, score, plays)) = totals.get(i).filter(|t| key_song(t.0) == song) {
            i += 1;
            let mut delta = Figures {
                score,
                plays,
                ..Figures::default()
            };
            let song_venue = key_song_venue(key);
            if previous_song_venue != Some(song_venue) {
                previous_song_venue = Some(song_venue);
                delta.venues = i64::from(!walk.venue_held(key_venue(key)));
            }
            let room = key_venue_room(key);
            let (room_held, key_held) = walk.room(room);
            if !room_held {
                added.new_rooms.insert(room);
            }
            if !key_held {
                delta.rooms = 1;
                added.new_keys.push(key);
            }
            song_delta.add(&delta);
            let province = catalogue.venues[key_venue(key) as usize].province;
            match song_provinces.iter_mut().find(|(p, _)| *p == province) {
                Some((_, figures)) => figures.add(&delta),
                None => song_provinces.push((province, delta)),
            }
        }
        added.songs.push((song, song_delta));
        for &(province, delta) in &song_provinces {
            let p = usize::from(province);
            if added.provinces.len() <= p {
                added.provinces.resize_with(p + 1, Vec::new);
            }
            added.provinces[p].push((province_song(province, song), delta));
        }
    }
    // (Songs came in order, so each province's list is sorted.)
    added
}

/// Sorted `(key, figures)` of `a` and of `b`, added where both have a key.
fn merge_added<K: Ord + Copy>(
    a: impl Iterator<Item = (K, Figures)>,
    b: impl Iterator<Item = (K, Figures)>,
) -> impl Iterator<Item = (K, Figures)> {
    struct Merge<A: Iterator, B: Iterator> {
        a: Peekable<A>,
        b: Peekable<B>,
    }
    impl<K: Ord + Copy, A, B> Iterator for Merge<A, B>
    where
        A: Iterator<Item = (K, Figures)>,
        B: Iterator<Item = (K, Figures)>,
    {
        type Item = (K, Figures);
        fn next(&mut self) -> Option<(K, Figures)> {
            match (self.a.peek(), self.b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let (k, f) = self.a.next()?;
                    let (_, g) = self.b.next()?;
                    Some((k, f.plus(&g)))
                }
                (Some(x), Some(y)) if x.0 < y.0 => self.a.next(),
                (Some(_), Some(_)) | (None, _) => self.b.next(),
                (Some(_), None) => self.a.next(),
            }
        }
    }
    Merge {
        a: a.peekable(),
        b: b.peekable(),
    }
}

/// A month's counts.
#[derive(Debug, Default)]
pub(crate) struct MonthCounts {
    open: BTreeMap<NaiveDate, Day>,
    folded: Folded,
    rooms: Rooms,
    /// The size of the last day folded: the room made for the next.
    last_shape: DayShape,
}

/// The month's figures at one refresh: the folded ones (borrowed) and what the open
/// days add to them.
#[derive(Debug)]
pub(crate) struct Snapshot<'a> {
    folded: &'a Folded,
    open: Added,
    active: Vec<(i64, i64)>,
}

impl Snapshot<'_> {
    /// Per song with a valid play, in song code order.
    pub fn songs(&self) -> impl Iterator<Item = (u32, Figures)> + '_ {
        let folded = (self.folded.songs.iter().enumerate())
            .filter(|(_, f)| f.plays > 0)
            .map(|(song, f)| (song as u32, *f));
        merge_added(folded, self.open.songs.iter().copied())
    }

    /// Per (province, song) with a valid play, by province and song code.
    pub fn provinces(&self) -> impl Iterator<Item = (u16, u32, Figures)> + '_ {
        merge_added(
            (self.folded.provinces.iter()).map(|(at, f)| (*at, f.wide())),
            self.open.provinces.iter().flatten().copied(),
        )
        .map(|(at, f)| ((at >> 32) as u16, at as u32, f))
    }

    /// Whether a (province, song)'s figures went past what they hold.
    pub fn province_overflow(&self) -> bool {
        self.folded.province_overflow
    }

    /// Per province code: venues and rooms with a valid play.
    pub fn active(&self) -> &[(i64, i64)] {
        &self.active
    }
}

/// About the bytes a live month holds on the heap, by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveMemory {
    /// The open days' events.
    pub open_days: usize,
    /// The closed days' (song, venue, room) keys.
    pub month_keys: usize,
    /// The closed days' figures per song and per (province, song), and their rooms.
    pub month_figures: usize,
}

impl MonthCounts {
    /// About the bytes held on the heap, by part.
    pub fn memory(&self) -> LiveMemory {
        use std::mem::size_of;
        let folded = &self.folded;
        LiveMemory {
            open_days: self.open.values().map(Day::heap_bytes).sum(),
            month_keys: folded.keys.heap_bytes(),
            month_figures: folded.songs.capacity() * size_of::<Figures>()
                + folded.provinces.capacity() * size_of::<(ProvinceSong, ProvinceFigures)>(),
        }
    }

    /// Counts a play of business day `day`, which is not closed.
    pub fn add(
        &mut self,
        day: NaiveDate,
        play: PlayRow<'_>,
        catalogue: &Catalogue,
        min_played_ms: i32,
    ) -> Result<()> {
        debug_assert!(!self.is_closed(day));
        let shape = self.last_shape;
        self.open
            .entry(day)
            .or_insert_with(|| Day::with_shape(shape))
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
            self.last_shape = open.shape();
            drop(open);
            let added = added(&totals, &self.folded, catalogue);
            drop(totals);
            let folded = &mut self.folded;
            if folded.songs.len() < catalogue.songs.len() {
                folded
                    .songs
                    .reserve_exact(catalogue.songs.len() - folded.songs.len());
                folded
                    .songs
                    .resize(catalogue.songs.len(), Figures::default());
            }
            for (song, delta) in &added.songs {
                folded.songs[*song as usize].add(delta);
            }
            let mut new = Vec::new();
            let mut at = 0;
            for &(key, delta) in added.provinces.iter().flatten() {
                at = gallop(&folded.provinces, at, |(k, _)| *k < key);
                let figures = match folded.provinces.get_mut(at).filter(|(k, _)| *k == key) {
                    Some((_, figures)) => figures,
                    None => {
                        new.push((key, ProvinceFigures::default()));
                        &mut new.last_mut().expect("just pushed").1
                    }
                };
                folded.province_overflow |= figures.add(&delta);
            }
            merge_sorted(&mut folded.provinces, &new, |(k, _)| *k);
            let mut new_rooms: Vec<u64> = added.new_rooms.into_iter().collect();
            new_rooms.sort_unstable();
            let mut previous_venue = None;
            for room in &new_rooms {
                let venue = (room >> 16) as u32;
                let province = usize::from(catalogue.venues[venue as usize].province);
                if folded.active.len() <= province {
                    folded.active.resize(province + 1, (0, 0));
                }
                folded.active[province].1 += 1;
                if previous_venue != Some(venue) && folded.keys.venue_ranks(venue).is_empty() {
                    folded.active[province].0 += 1;
                }
                previous_venue = Some(venue);
            }
            folded.keys.add(&added.new_keys, &new_rooms);
        }
        self.folded.days.push(day);
        self.folded.days.sort_unstable();
        several
    }

    /// The month's figures now: the folded days' with the open days' added.
    pub fn snapshot(&self, catalogue: &Catalogue, room_cap: i64) -> Snapshot<'_> {
        let totals = key_totals(self.open.values(), room_cap);
        let open = added(&totals, &self.folded, catalogue);
        let mut active = self.folded.active.clone();
        active.resize(active.len().max(catalogue.provinces.len()), (0, 0));
        let mut venues: HashSet<u32, foldhash::fast::RandomState> = HashSet::default();
        for room in &open.new_rooms {
            let venue = (room >> 16) as u32;
            let province = usize::from(catalogue.venues[venue as usize].province);
            active[province].1 += 1;
            if self.folded.keys.venue_ranks(venue).is_empty() && venues.insert(venue) {
                active[province].0 += 1;
            }
        }
        Snapshot {
            folded: &self.folded,
            open,
            active,
        }
    }
}

/// Merges sorted `new` (none of whose keys is in `sorted`) into sorted `sorted`, in
/// place.
fn merge_sorted<T: Copy + Default, K: Ord>(sorted: &mut Vec<T>, new: &[T], key: impl Fn(&T) -> K) {
    let old = sorted.len();
    sorted.reserve_exact(new.len());
    sorted.resize(old + new.len(), T::default());
    let (mut i, mut j, mut out) = (old, new.len(), sorted.len());
    while j > 0 {
        out -= 1;
        if i > 0 && key(&sorted[i - 1]) > key(&new[j - 1]) {
            sorted[out] = sorted[i - 1];
            i -= 1;
        } else {
            sorted[out] = new[j - 1];
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
        merge_sorted(&mut keys, &[1, 3, 10], |k| *k);
        assert_eq!(keys, [1, 2, 3, 5, 9, 10]);
        let mut empty = Vec::new();
        merge_sorted(&mut empty, &[4], |k| *k);
        assert_eq!(empty, [4]);
        merge_sorted(&mut empty, &[], |k| *k);
        assert_eq!(empty, [4]);
    }

    #[test]
    fn province_figures_stop_at_their_width_and_say_so() {
        let mut figures = ProvinceFigures::default();
        let delta = Figures {
            score: 3,
            plays: 4,
            venues: 1,
            rooms: 2,
        };
        assert!(!figures.add(&delta));
        assert_eq!(figures.wide(), delta);
        let past = Figures {
            plays: i64::from(u32::MAX),
            ..Figures::default()
        };
        assert!(figures.add(&past));
        assert_eq!(figures.wide().plays, i64::from(u32::MAX));
        assert_eq!(figures.wide().score, 3);
    }

    #[test]
    fn merged_figures_add_where_keys_meet() {
        let f = |score| Figures {
            score,
            plays: score,
            venues: 1,
            rooms: 1,
        };
        let a = [(1u32, f(1)), (3, f(3)), (5, f(5))];
        let b = [(0u32, f(10)), (3, f(30)), (6, f(60))];
        let merged: Vec<(u32, i64)> = merge_added(a.into_iter(), b.into_iter())
            .map(|(k, f)| (k, f.score))
            .collect();
        assert_eq!(merged, [(0, 10), (1, 1), (3, 33), (5, 5), (6, 60)]);
    }
}
