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
    let mut counted = Counted {
        songs: vec![SongTally::default(); plays.songs.len()],
        ..Counted::default()
    };
    let mut screen = RoomDayScreen::new(methodology, tz);
    let mut venue_scores: CodeMap<i64> = CodeMap::default();
    let mut room_songs: CodeMap<()> = CodeMap::default();
    let mut current_venue = None;
    let mut current_room = None;
    for group in room_days(plays, order) {
        let first = group[0] as usize;
        let (venue, room) = (plays.venue[first], plays.room[first]);
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
        let day = screen.screen(plays, group, |song| {
            let tally = &mut counted.songs[song.song as usize];
            tally.touched |= song.touched;
            if song.counted > 0 {
                tally.plays += song.plays;
                tally.room_days += 1;
                if room_songs.insert(song.song, ()).is_none() {
                    tally.rooms += 1;
                }
                *venue_scores.entry(song.song).or_default() += song.counted;
            }
        });
        if day.busy {
            counted.busy_rooms.push(BusyRoom {
                venue,
                room,
                day: plays.day[first],
                hours: day.hours,
                plays: day.valid,
            });
        }
        counted.resent += day.resent;
        counted.over_cap += day.over_cap;
        if day.impossible {
            counted.impossible_plays += day.kept;
            counted.impossible_room_days += 1;
        }
    }
    flush_venue(&mut counted, current_venue, &mut venue_scores);
    if !room_songs.is_empty() {
        counted.active_rooms += 1;
    }
    counted
}

/// The room-days of `order` (indices into `plays` in the module's order): each run of
/// plays of one room and business day.
pub(crate) fn room_days<'a>(
    plays: &'a MonthPlays,
    order: &'a [u32],
) -> impl Iterator<Item = &'a [u32]> + 'a {
    let key = |i: u32| (plays.room[i as usize], plays.day[i as usize]);
    order.chunk_by(move |&a, &b| key(a) == key(b))
}

/// What rules 1, 2 and the cap make of one song's plays in a room-day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SongInRoomDay {
    pub song: u32,
    /// Its valid plays.
    pub valid: i64,
    /// Those that passed rules 1 and 2 (0 in an impossible room-day).
    pub plays: i64,
    /// Those counted: at most the room cap.
    pub counted: i64,
    /// Which rules removed some of them ([`touched`]).
    pub touched: u8,
}

/// What rules 1, 2 and the cap make of a room-day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RoomDayOutcome {
    /// Valid plays.
    pub valid: i64,
    /// Distinct local clock hours with a valid play, and whether that flags the room.
    pub hours: i64,
    pub busy: bool,
    /// Plays removed by rule 1.
    pub resent: i64,
    /// Plays rule 1 kept.
    pub kept: i64,
    /// Whether rule 2 removed all of them.
    pub impossible: bool,
    /// Plays over the room cap.
    pub over_cap: i64,
}

/// Rules 1 and 2 and the cap, one room-day at a time (reusing its buffers).
pub(crate) struct RoomDayScreen {
    rules: crate::methodology::Screening,
    room_cap: i64,
    hours: ClockHours,
    kept: Vec<u32>,
    last_counted: CodeMap<i64>,
    /// Per song: (valid, kept, touched).
    per_song: CodeMap<(i64, i64, u8)>,
}

impl RoomDayScreen {
    pub(crate) fn new(methodology: &Methodology, tz: Tz) -> RoomDayScreen {
        RoomDayScreen {
            rules: methodology.screening.clone().unwrap_or_default(),
            room_cap: methodology.room_cap,
            hours: ClockHours {
                tz,
                cached: (i64::MIN, 0),
            },
            kept: Vec::new(),
            last_counted: CodeMap::default(),
            per_song: CodeMap::default(),
        }
    }

    /// Screens the plays at `group` (one room-day, in the module's order), telling
    /// `song` what became of each of its songs.
    pub(crate) fn screen(
        &mut self,
        plays: &MonthPlays,
        group: &[u32],
        mut song: impl FnMut(SongInRoomDay),
    ) -> RoomDayOutcome {
        let rules = &self.rules;
        let mut outcome = RoomDayOutcome {
            valid: group.len() as i64,
            ..RoomDayOutcome::default()
        };
        // The clock-hour flag, over the valid plays.
        let mut hour_seen = [false; 24];
        for &i in group {
            hour_seen[self.hours.hour(plays.started_ms[i as usize]) as usize] = true;
        }
        outcome.hours = hour_seen.iter().filter(|h| **h).count() as i64;
        outcome.busy = outcome.hours >= rules.max_active_hours;

        // Rule 1.
        self.kept.clear();
        self.last_counted.clear();
        self.per_song.clear();
        for &i in group {
            let (code, started) = (plays.song[i as usize], plays.started_ms[i as usize]);
            let figures = self.per_song.entry(code).or_default();
            figures.0 += 1;
            match self.last_counted.get(&code) {
                Some(&last) if started - last <= rules.resend_window_ms => {
                    outcome.resent += 1;
                    figures.2 |= touched::RESENT;
                }
                _ => {
                    self.last_counted.insert(code, started);
                    self.kept.push(i);
                    figures.1 += 1;
                }
            }
        }
        outcome.kept = self.kept.len() as i64;

        // Rule 2.
        let overlapping = self
            .kept
            .windows(2)
            .filter(|pair| {
                let (before, after) = (pair[0] as usize, pair[1] as usize);
                let ends = plays.started_ms[before] + plays.played_ms[before] as i64;
                plays.started_ms[after] < ends - rules.overlap_tolerance_ms
            })
            .count() as i64;
        outcome.impossible =
            overlapping * 100 >= rules.overlap_share_percent * self.kept.len() as i64;

        // The cap.
        for (&code, &(valid, kept, touched)) in &self.per_song {
            let (plays, counted, touched) = if outcome.impossible {
                (0, 0, touched | touched::IMPOSSIBLE_ROOM_DAY)
            } else if kept > self.room_cap {
                outcome.over_cap += kept - self.room_cap;
                (kept, self.room_cap, touched | touched::ROOM_CAP)
            } else {
                (kept, kept, touched)
            };
            song(SongInRoomDay {
                song: code,
                valid,
                plays,
                counted,
                touched,
            });
        }
        outcome
    }
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
