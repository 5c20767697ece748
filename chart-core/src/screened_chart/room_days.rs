//! Rules 1 and 2 and the room cap, one room-day at a time: the month's valid plays
//! (not held by rule 5) in the order (room, business day, started_at, longer first,
//! song_id).
//!
//! 1. **Re-sent plays**: a play of the same song starting at most `resend_window_ms`
//!    after a counted play of that song in the room-day is a re-send; it does not count.
//! 2. **Impossible room-days**: of the plays rule 1 kept, a play overlaps when it starts
//!    more than `overlap_tolerance_ms` before the previous one ends (started_at +
//!    played_ms). When at least `overlap_share_percent` of them overlap, none of the
//!    room-day's plays count. A room with valid plays (rule 1 not applied) in at least
//!    `max_active_hours` distinct local clock hours is flagged for review only.
//!
//! Then GM-1's cap: at most `room_cap` plays per room, song and business day count.

use std::collections::HashMap;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::plays::MonthPlays;
use crate::methodology::Methodology;

/// A map keyed by a song's code.
type CodeMap<V> = HashMap<u32, V, foldhash::fast::FixedState>;

/// A rule that removed some of a song's plays, as a bit of [`SongTally::touched`].
pub(crate) mod touched {
    pub const HELD: u8 = 1;
    pub const RESENT: u8 = 2;
    pub const IMPOSSIBLE_ROOM_DAY: u8 = 4;
    pub const ROOM_CAP: u8 = 8;
}

/// Per song: its figures after rules 1 and 2 and the cap.
#[derive(Debug, Clone, Default)]
pub(crate) struct SongTally {
    /// Plays that passed rules 1, 2 and 5 (before the cap).
    pub plays: i64,
    /// Distinct rooms with a counted play.
    pub rooms: i64,
    /// Distinct room-days with a counted play.
    pub room_days: i64,
    /// Which rules removed some of its plays ([`touched`]).
    pub touched: u8,
}

/// A room flagged for review: valid plays in too many clock hours of a business day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyRoom {
    /// Venue code.
    pub venue: u32,
    /// Room code.
    pub room: u32,
    /// Business day, days since 1970-01-01.
    pub day: i32,
    /// Distinct local clock hours with a valid play.
    pub hours: i64,
    /// Its valid plays that day.
    pub plays: i64,
}

/// What rules 1, 2 and the cap leave.
#[derive(Debug, Default)]
pub(crate) struct Counted {
    /// (song, venue, counted plays), in (venue, song) order.
    pub song_venues: Vec<(u32, u32, i64)>,
    /// Per song code.
    pub songs: Vec<SongTally>,
    /// Distinct rooms with a counted play.
    pub active_rooms: i64,
    /// Plays removed by rule 1.
    pub resent: i64,
    /// Plays removed by rule 2, and their room-days.
    pub impossible_plays: i64,
    pub impossible_room_days: i64,
    /// Plays over the room cap.
    pub over_cap: i64,
    /// Rooms flagged by rule 2's clock-hour check.
    pub busy_rooms: Vec<BusyRoom>,
}

/// Local clock hours of UTC instants, caching the zone's offset per UTC hour.
struct ClockHours {
    tz: Tz,
    cached: (i64, i64),
}

impl ClockHours {
    fn hour(&mut self, ms: i64) -> i64 {
        let utc_hour = ms.div_euclid(3_600_000);
        if self.cached.0 != utc_hour {
            let offset = DateTime::from_timestamp_millis(ms)
                .map(|t| {
                    self.tz
                        .offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc() as i64
                })
                .unwrap_or(0);
            self.cached = (utc_hour, offset * 1000);
        }
        (ms + self.cached.1).div_euclid(3_600_000).rem_euclid(24)
    }
}

/// Applies rules 1 and 2 and the cap to the plays at `order` (indices into `plays`,
/// in the module's order). `held` plays are skipped by the caller.
///
/// The venues are split into one run of whole venues per core, counted at the same
/// time and added up: every figure is a sum over venues (rooms, and so room-days,
/// belong to one venue), and the runs keep the venues' order.
pub(crate) fn count(
    methodology: &Methodology,
    tz: Tz,
    plays: &MonthPlays,
    order: &[u32],
) -> Counted {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runs = Vec::with_capacity(threads);
    let mut start = 0;
    for t in 1..=threads {
        let mut end = (order.len() * t / threads).max(start);
        // Whole venues: move the cut to the next venue's first play.
        while end > start
            && end < order.len()
            && plays.venue[order[end] as usize] == plays.venue[order[end - 1] as usize]
        {
            end += 1;
        }
        runs.push(&order[start..end]);
        start = end;
    }
    let counts: Vec<Counted> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| scope.spawn(move || count_run(methodology, tz, plays, run)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a room-day count does not panic"))
            .collect()
    });
    let mut total = Counted {
        songs: vec![SongTally::default(); plays.songs.len()],
        ..Counted::default()
    };
    for part in counts {
        total.song_venues.extend(part.song_venues);
        for (sum, tally) in total.songs.iter_mut().zip(part.songs) {
            sum.plays += tally.plays;
            sum.rooms += tally.rooms;
            sum.room_days += tally.room_days;
            sum.touched |= tally.touched;
        }
        total.active_rooms += part.active_rooms;
        total.resent += part.resent;
        total.impossible_plays += part.impossible_plays;
        total.impossible_room_days += part.impossible_room_days;
        total.over_cap += part.over_cap;
        total.busy_rooms.extend(part.busy_rooms);
    }
    total
}

/// [`count`] of one run of whole venues.
fn count_run(methodology: &Methodology, tz: Tz, plays: &MonthPlays, order: &[u32]) -> Counted {
    let rules = methodology.screening.clone().unwrap_or_default();
    let mut counted = Counted {
        songs: vec![SongTally::default(); plays.songs.len()],
        ..Counted::default()
    };
    let mut hours = ClockHours {
        tz,
        cached: (i64::MIN, 0),
    };
    let mut venue_scores: CodeMap<i64> = CodeMap::default();
    let mut room_songs: CodeMap<()> = CodeMap::default();
    let mut current_venue = None;
    let mut current_room = None;
    let mut kept: Vec<u32> = Vec::new();
    let mut last_counted: CodeMap<i64> = CodeMap::default();
    let mut per_song: CodeMap<i64> = CodeMap::default();
    let mut start = 0;
    while start < order.len() {
        let first = order[start] as usize;
        let (room, day) = (plays.room[first], plays.day[first]);
        let mut end = start;
        while end < order.len()
            && plays.room[order[end] as usize] == room
            && plays.day[order[end] as usize] == day
        {
            end += 1;
        }
        let venue = plays.venue[first];
        if current_venue != Some(venue) {
            flush_venue(&mut counted, current_venue, &mut venue_scores);
            current_venue = Some(venue);
        }
        if current_room != Some(room) {
            if !room_songs.is_empty() {
                counted.active_rooms += 1;
            }
            room_songs.clear();
            current_room = Some(room);
        }
        let group = &order[start..end];

        // The clock-hour flag, over the valid plays.
        let mut hour_seen = [false; 24];
        for &i in group {
            hour_seen[hours.hour(plays.started_ms[i as usize]) as usize] = true;
        }
        let distinct_hours = hour_seen.iter().filter(|h| **h).count() as i64;
        if distinct_hours >= rules.max_active_hours {
            counted.busy_rooms.push(BusyRoom {
                venue,
                room,
                day,
                hours: distinct_hours,
                plays: group.len() as i64,
            });
        }

        // Rule 1.
        kept.clear();
        last_counted.clear();
        for &i in group {
            let (song, started) = (plays.song[i as usize], plays.started_ms[i as usize]);
            match last_counted.get(&song) {
                Some(&last) if started - last <= rules.resend_window_ms => {
                    counted.resent += 1;
                    counted.songs[song as usize].touched |= touched::RESENT;
                }
                _ => {
                    last_counted.insert(song, started);
                    kept.push(i);
                }
            }
        }

        // Rule 2.
        let overlapping = kept
            .windows(2)
            .filter(|pair| {
                let (before, after) = (pair[0] as usize, pair[1] as usize);
                let ends = plays.started_ms[before] + plays.played_ms[before] as i64;
                plays.started_ms[after] < ends - rules.overlap_tolerance_ms
            })
            .count() as i64;
        if overlapping * 100 >= rules.overlap_share_percent * kept.len() as i64 {
            counted.impossible_plays += kept.len() as i64;
            counted.impossible_room_days += 1;
            for &i in &kept {
                counted.songs[plays.song[i as usize] as usize].touched |=
                    touched::IMPOSSIBLE_ROOM_DAY;
            }
        } else {
            // The cap, and the song's figures.
            per_song.clear();
            for &i in &kept {
                *per_song.entry(plays.song[i as usize]).or_default() += 1;
            }
            for (&song, &n) in &per_song {
                let score = n.min(methodology.room_cap);
                let tally = &mut counted.songs[song as usize];
                tally.plays += n;
                tally.room_days += 1;
                if n > score {
                    counted.over_cap += n - score;
                    tally.touched |= touched::ROOM_CAP;
                }
                if room_songs.insert(song, ()).is_none() {
                    tally.rooms += 1;
                }
                *venue_scores.entry(song).or_default() += score;
            }
        }
        start = end;
    }
    flush_venue(&mut counted, current_venue, &mut venue_scores);
    if !room_songs.is_empty() {
        counted.active_rooms += 1;
    }
    counted
}

fn flush_venue(counted: &mut Counted, venue: Option<u32>, scores: &mut CodeMap<i64>) {
    if let Some(venue) = venue {
        let mut songs: Vec<(u32, i64)> = scores.drain().collect();
        songs.sort_unstable();
        counted
            .song_venues
            .extend(songs.into_iter().map(|(song, score)| (song, venue, score)));
    }
    scores.clear();
}
