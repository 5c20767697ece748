//! GM-2: the monthly charts screened for manipulation, with rank intervals and a
//! transparency report. GM-1's counting comes first (its `valid_plays`); the rules
//! after it are plain Rust over rows:
//!
//! ```text
//!  valid_plays ──► daily plays per venue and vendor ──► holds (rule 5) ─┐
//!       │                                                               ▼
//!       └──► the month's plays, coded ──► room_days (rules 1, 2, cap) ──► ranking
//!            (plays.rs)                                   (rules 3, 4, 6, rank intervals)
//! ```
//!
//! Earlier months, from the first partition's, are screened the same way, for rule 6's
//! gain and rule 5's trailing window, and for the history columns (previous rank, peak,
//! months on chart, streak) of each month that has no published edition: a month that
//! has one counts as its latest edition charted it ([`EarlierCharts`]).
//! [`crate::methodology::screening`] lists the parameters.

mod digests;
pub mod holds;
mod plays;
mod ranking;
mod room_days;
mod tables;

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Months, NaiveDate};
use datafusion::prelude::SessionContext;

use crate::error::{ChartError, Result};
use crate::methodology::{Methodology, Period, PeriodKind, Screening};

pub use holds::{Hold, HoldKind, Review};
pub use tables::{SCREENED_CHART_COLUMNS, TRANSPARENCY_COLUMNS, entries_batch};

pub(crate) use digests::{FORMAT as DIGEST_FORMAT, ScreenedDigests, ScreenedInfo, UnitDigest};
pub(crate) use plays::{MONTH_PLAYS_COLUMNS, MonthPlays, MonthPlaysCoder, in_period};
use room_days::touched;

/// One entry of a screened chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenedEntry {
    /// 1..; past the chart's `top_n`, the entry is "bubbling under".
    pub rank: i64,
    /// The song.
    pub song_id: String,
    /// Its title.
    pub title: String,
    /// Its artist.
    pub artist: String,
    /// Counted plays after rules 1–3 and 5.
    pub score: i64,
    /// The same before rule 3.
    pub score_raw: i64,
    /// Plays that passed rules 1, 2 and 5, before the room cap.
    pub plays: i64,
    /// Venues with a counted play.
    pub venues: i64,
    /// Distinct (province, city) of those venues.
    pub cities: i64,
    /// Distinct rooms with a counted play.
    pub rooms: i64,
    /// Distinct room-days with a counted play.
    pub room_days: i64,
    /// `rooms` over the month's rooms with a counted play.
    pub room_share: f64,
    /// The rank interval's best end (None without resamples).
    pub rank_low: Option<i64>,
    /// The rank interval's worst end.
    pub rank_high: Option<i64>,
    /// Rank on last month's chart.
    pub prev_rank: Option<i64>,
    /// Best rank on the chart up to this month.
    pub peak_rank: Option<i64>,
    /// Months on the chart up to this one.
    pub months_on_chart: i64,
    /// Consecutive months on the chart ending with this one (0 when bubbling under).
    pub streak: i64,
    /// NEW, RE, UP, DOWN, SAME; None when bubbling under.
    pub movement: Option<&'static str>,
}

/// A room flagged for review by rule 2's clock-hour check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlaggedRoom {
    /// The venue.
    pub venue_id: String,
    /// The room.
    pub room_id: String,
    /// The business day.
    pub day: NaiveDate,
    /// Distinct local clock hours with a valid play.
    pub hours: i64,
    /// Its valid plays that day.
    pub plays: i64,
}

/// How each rule changed the month (rule 9).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transparency {
    /// GM-1's valid plays of the month (its own exclusions are in the data-quality table).
    pub valid_plays: i64,
    /// Plays of held venue-days and vendor-days (rule 5).
    pub held_plays: i64,
    /// Plays re-sent under a new id (rule 1).
    pub resent_plays: i64,
    /// Plays of impossible room-days (rule 2), and those room-days.
    pub impossible_plays: i64,
    /// Impossible room-days.
    pub impossible_room_days: i64,
    /// Plays over the room cap.
    pub over_cap_plays: i64,
    /// Songs whose score rule 3 cut, and the plays it cut.
    pub concentration_songs: i64,
    /// Plays rule 3 cut.
    pub concentration_plays: i64,
    /// Songs with a score but too little reach to be ranked (rule 4).
    pub reach_songs: i64,
    /// Per rule, the hot chart's entries it changed: for rules 1, 2, 5 and the cap,
    /// entries some of whose plays it removed; for rule 3, entries it cut; for rule 4,
    /// songs it kept off the chart that would otherwise be on it.
    pub hot_entries_changed: Vec<(&'static str, i64)>,
    /// Held venue-days and vendor-days of the month, and those reviewers decided on.
    pub holds: Vec<Hold>,
    /// Rooms flagged for review.
    pub flagged_rooms: Vec<FlaggedRoom>,
}

/// A month under GM-2: both charts with their bubbling-under entries, and the report.
#[derive(Debug, Clone)]
pub struct ScreenedMonth {
    /// The month.
    pub period: Period,
    /// The hot chart: `top_n` entries, then up to `bubbling_under` more.
    pub hot: Vec<ScreenedEntry>,
    /// The new chart, the same way.
    pub new: Vec<ScreenedEntry>,
    /// Rule 9's report.
    pub transparency: Transparency,
}

/// Each earlier month's latest published edition, as the history of a screened month
/// reads it: the songs of its hot and its new chart, in rank order.
pub type EarlierCharts = BTreeMap<Period, [Vec<String>; 2]>;

/// What a month leaves for the next months' history.
#[derive(Debug, Default)]
struct History {
    /// Per chart and song: (rank on the month's chart, peak, months on chart, streak).
    charts: [HashMap<String, (i64, i64, i64, i64)>; 2],
    /// Each song's score in the month.
    scores: HashMap<String, i64>,
}

/// GM-2's charts of `period` (a month), on `ctx`: a session whose tables, functions
/// and views are registered under `methodology` (which must screen). The history comes
/// from the data alone ([`screen_after`] reads published editions).
pub async fn screen(
    ctx: &SessionContext,
    methodology: &Methodology,
    period: &Period,
) -> Result<ScreenedMonth> {
    screen_after(ctx, methodology, period, &EarlierCharts::new()).await
}

/// [`screen`], with the history of each month in `published` taken from its charts
/// there instead of the data's.
pub async fn screen_after(
    ctx: &SessionContext,
    methodology: &Methodology,
    period: &Period,
    published: &EarlierCharts,
) -> Result<ScreenedMonth> {
    screen_with(ctx, methodology, period, published, None, None).await
}

/// [`screen_after`], with the valid plays of `period` already read (`None`: read here),
/// or each month counted from GM-2's day digests where they can be.
pub(crate) async fn screen_with(
    ctx: &SessionContext,
    methodology: &Methodology,
    period: &Period,
    published: &EarlierCharts,
    mut period_plays: Option<MonthPlays>,
    digests: Option<&ScreenedDigests>,
) -> Result<ScreenedMonth> {
    let tz = methodology.validate()?;
    let rules = methodology.screening.clone().ok_or_else(|| {
        ChartError::InvalidMethodology(format!(
            "{} has no screening rules; GM-2's charts need them",
            methodology.version
        ))
    })?;
    if period.kind() != PeriodKind::Month {
        return Err(ChartError::InvalidPeriod(format!(
            "{period}: GM-2's charts are monthly"
        )));
    }
    // Months are screened in order from the first partition's; each month's plays are
    // read once, and its daily plays kept for the holds of the months after it.
    let first_day = first_partition(ctx).await?.unwrap_or(period.first_day());
    let first_month = Period::containing(PeriodKind::Month, first_day.min(period.first_day()));
    let mut daily = holds::DailyPlays::default();
    let places = plays::venue_places(ctx).await?;
    let catalogue = plays::SongCatalogue::read(ctx).await?;
    let mut cities: HashMap<(String, String), u32> = HashMap::new();
    for place in places.values() {
        let next = cities.len() as u32;
        cities.entry(place.clone()).or_insert(next);
    }
    let mut history = History::default();
    let mut month = first_month;
    loop {
        let last = month == *period;
        let started = std::time::Instant::now();
        let units = match digests {
            Some(digests) => digests.month(&month).await?,
            None => None,
        };
        let counts = match units {
            Some(units) => {
                let days = (
                    days_since_epoch(month.first_day()),
                    days_since_epoch(month.last_day()),
                );
                for unit in &units {
                    unit.add_daily_plays(days, &mut daily);
                }
                let held = month_holds(&rules, &daily, &month, &places);
                match digests::count_digests(
                    units,
                    &month,
                    &held,
                    rules.max_active_hours,
                    &catalogue,
                ) {
                    Some(counts) => {
                        tracing::info!(%month, seconds = started.elapsed().as_secs_f64(), "counted the month from GM-2's day digests");
                        counts
                    }
                    None => {
                        tracing::info!(%month, "GM-2's day digests cannot give this month exactly (a held vendor-day shares a room-day with another vendor, or a song is not in the catalogue): counting it from its plays");
                        let plays = plays::month_plays(ctx, &month).await?;
                        count_plays(methodology, tz, &month, plays, held)
                    }
                }
            }
            None => {
                if digests.is_some() {
                    tracing::info!(%month, "a business day's plays are in several partitions: counting the month from its plays");
                }
                let plays = match period_plays.take().filter(|_| last) {
                    Some(plays) => plays,
                    None => plays::month_plays(ctx, &month).await?,
                };
                tracing::info!(%month, plays = plays.len(), seconds = started.elapsed().as_secs_f64(), "read the month's valid plays");
                plays.add_daily_plays(&mut daily);
                let held = month_holds(&rules, &daily, &month, &places);
                count_plays(methodology, tz, &month, plays, held)
            }
        };
        let screened = rank_month(
            methodology,
            &rules,
            &month,
            counts,
            &catalogue,
            &places,
            &cities,
            &history,
            published.get(&month).filter(|_| !last),
            last,
        )?;
        if last {
            return Ok(screened.0.expect("the last month is built"));
        }
        history = screened.1;
        month = next_month(&month);
    }
}

/// The first `date=` partition (read from the listing and the files' footers).
async fn first_partition(ctx: &SessionContext) -> Result<Option<NaiveDate>> {
    let batches = ctx
        .sql("SELECT MIN(date) FROM plays")
        .await?
        .collect()
        .await?;
    Ok(batches.first().and_then(|b| {
        let column = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Date32).ok()?;
        let dates = arrow::array::AsArray::as_primitive::<arrow::datatypes::Date32Type>(&column);
        (b.num_rows() > 0 && arrow::array::Array::is_valid(dates, 0))
            .then(|| dates.value_as_date(0))
            .flatten()
    }))
}

fn next_month(month: &Period) -> Period {
    let day = month
        .first_day()
        .checked_add_months(Months::new(1))
        .expect("months within chrono's range");
    Period::containing(PeriodKind::Month, day)
}

fn days_since_epoch(day: NaiveDate) -> i32 {
    day.num_days_from_ce() - 719_163
}

fn date_of(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + 719_163).expect("days within chrono's range")
}

/// Rule 5's holds of `month`, over the daily plays up to its end.
fn month_holds(
    rules: &Screening,
    daily: &holds::DailyPlays,
    month: &Period,
    places: &HashMap<String, (String, String)>,
) -> Vec<Hold> {
    let days = (
        days_since_epoch(month.first_day()),
        days_since_epoch(month.last_day()),
    );
    let province = |venue: &str| places.get(venue).map(|p| p.0.clone());
    holds::holds(rules, daily, days, &province)
}

/// Per code of `ids` (sorted), the days whose plays a hold of `kind` removes.
fn held_days(held: &[Hold], kind: HoldKind, ids: &[String]) -> Vec<Vec<i32>> {
    let mut days = vec![Vec::new(); ids.len()];
    for hold in held.iter().filter(|h| h.kind == kind && h.removes_plays()) {
        if let Ok(code) = ids.binary_search_by(|id| id.as_str().cmp(&hold.id)) {
            days[code].push(hold.day);
        }
    }
    days
}

/// What rules 5, 1, 2 and the cap leave of a month, from its valid plays
/// ([`count_plays`]) or from day digests ([`digests`]).
pub(crate) struct MonthCounts {
    /// Code → `song_id`, sorted.
    pub songs: Vec<String>,
    /// Code → `venue_id`, sorted.
    pub venues: Vec<String>,
    /// The month's valid plays.
    pub valid_plays: i64,
    /// Those of held venue-days and vendor-days.
    pub held_plays: i64,
    /// What rules 1, 2 and the cap counted of the others; each song's `touched` has
    /// [`touched::HELD`] when some of its plays were held.
    pub counted: room_days::Counted,
    /// The month's holds.
    pub holds: Vec<Hold>,
    /// Rooms flagged by rule 2's clock-hour check.
    pub flagged_rooms: Vec<FlaggedRoom>,
    /// The distinct rooms of the songs asked, when `counted` has no `rooms` yet
    /// (computed only for the songs the charts need).
    pub rooms: Option<RoomsOfSongs>,
}

/// Counts the distinct rooms of the songs asked (song codes, ascending).
pub(crate) type RoomsOfSongs = Box<dyn Fn(&[u32]) -> Vec<i64> + Send + Sync>;

/// The plays not `held`, by room (a counting sort: room codes are dense), then each
/// room's by (business day, started_at, longer first, song): the room-day order.
pub(crate) fn room_day_order(plays: &MonthPlays, held: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut room_starts = vec![0usize; plays.rooms.len() + 1];
    let mut kept = 0;
    for i in (0..plays.len()).filter(|&i| !held(i)) {
        room_starts[plays.room[i] as usize + 1] += 1;
        kept += 1;
    }
    for r in 1..room_starts.len() {
        room_starts[r] += room_starts[r - 1];
    }
    let mut order: Vec<u32> = vec![0; kept];
    let mut next = room_starts.clone();
    for i in (0..plays.len()).filter(|&i| !held(i)) {
        let room = plays.room[i] as usize;
        order[next[room]] = i as u32;
        next[room] += 1;
    }
    for room in room_starts.windows(2) {
        order[room[0]..room[1]].sort_unstable_by_key(|&i| {
            let i = i as usize;
            (
                plays.day[i],
                plays.started_ms[i],
                std::cmp::Reverse(plays.played_ms[i]),
                plays.song[i],
            )
        });
    }
    order
}

/// Applies the holds, then rules 1, 2 and the cap, to a month's valid plays.
fn count_plays(
    methodology: &Methodology,
    tz: chrono_tz::Tz,
    month: &Period,
    plays: MonthPlays,
    held: Vec<Hold>,
) -> MonthCounts {
    let (venue_held, vendor_held) = (
        held_days(&held, HoldKind::Venue, &plays.venues),
        held_days(&held, HoldKind::Vendor, &plays.vendors),
    );
    let started = std::time::Instant::now();
    let mut held_touched = vec![false; plays.songs.len()];
    let mut held_plays = 0;
    let is_held: Vec<bool> = (0..plays.len())
        .map(|i| {
            let (day, vendor) = (plays.day[i], plays.vendor[i]);
            let is_held = venue_held[plays.venue[i] as usize].contains(&day)
                || (vendor != plays::NO_VENDOR && vendor_held[vendor as usize].contains(&day));
            if is_held {
                held_plays += 1;
                held_touched[plays.song[i] as usize] = true;
            }
            is_held
        })
        .collect();
    let order = room_day_order(&plays, |i| is_held[i]);
    drop(is_held);
    tracing::info!(%month, seconds = started.elapsed().as_secs_f64(), "held days applied, plays in room-day order");
    let started = std::time::Instant::now();
    let mut counted = room_days::count(methodology, tz, &plays, &order);
    tracing::info!(%month, seconds = started.elapsed().as_secs_f64(), "screened the room-days");
    for (song, held) in held_touched.iter().enumerate() {
        if *held {
            counted.songs[song].touched |= touched::HELD;
        }
    }
    let flagged_rooms = counted
        .busy_rooms
        .iter()
        .map(|r| FlaggedRoom {
            venue_id: plays.venues[r.venue as usize].clone(),
            room_id: plays.rooms[r.room as usize].clone(),
            day: date_of(r.day),
            hours: r.hours,
            plays: r.plays,
        })
        .collect();
    MonthCounts {
        valid_plays: plays.len() as i64,
        held_plays,
        counted,
        holds: held,
        flagged_rooms,
        rooms: None,
        songs: plays.songs,
        venues: plays.venues,
    }
}

/// Rules 3, 4 and 6 and the rank intervals over a month's counts, and the
/// transparency report. Returns the full result only for the `last` month, and the
/// history the next month reads.
#[allow(clippy::too_many_arguments)]
fn rank_month(
    methodology: &Methodology,
    rules: &Screening,
    month: &Period,
    mut counts: MonthCounts,
    catalogue: &plays::SongCatalogue,
    places: &HashMap<String, (String, String)>,
    cities: &HashMap<(String, String), u32>,
    earlier: &History,
    published: Option<&[Vec<String>; 2]>,
    last: bool,
) -> Result<(Option<ScreenedMonth>, History)> {
    // Rules 3 and 4.
    let started = std::time::Instant::now();
    let venue_city: Vec<u32> = counts
        .venues
        .iter()
        .map(|v| {
            places
                .get(v)
                .and_then(|p| cities.get(p).copied())
                .unwrap_or(u32::MAX)
        })
        .collect();
    let (scores, contributions) = ranking::concentration(
        rules,
        counts.songs.len(),
        &counts.counted.song_venues,
        &|venue| venue_city[venue as usize],
    );
    let reaches = |s: u32| {
        let f = &scores[s as usize];
        f.venues >= rules.min_venues && f.cities >= rules.min_cities
    };
    // Each song's score, for the next month's gain.
    let month_scores: HashMap<String, i64> = scores
        .iter()
        .enumerate()
        .filter(|(_, f)| !last && f.score > 0)
        .map(|(s, f)| (counts.songs[s].clone(), f.score))
        .collect();
    let gain = |s: u32| {
        scores[s as usize].score
            - earlier
                .scores
                .get(&counts.songs[s as usize])
                .copied()
                .unwrap_or(0)
    };
    // Which songs each chart ranks.
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "concentration and reach"
    );
    let end = month.last_day();
    let is_new = |s: u32| {
        catalogue
            .position(&counts.songs[s as usize])
            .and_then(|at| catalogue.released(at))
            .is_some_and(|released| {
                released <= end && (end - released).num_days() < methodology.new_song_window_days
            })
    };
    let scored: Vec<u32> = (0..counts.songs.len() as u32)
        .filter(|&s| scores[s as usize].score > 0)
        .collect();
    let mut hot: Vec<u32> = scored.iter().copied().filter(|&s| reaches(s)).collect();
    let mut new: Vec<u32> = hot.iter().copied().filter(|&s| is_new(s)).collect();
    let top_n = methodology.top_n as usize;
    let published_entries = top_n + rules.bubbling_under as usize;
    if let Some(rooms_of) = counts.rooms.take() {
        let songs = ranking::needing_rooms([&hot, &new, &scored], &scores, published_entries);
        for (s, rooms) in songs.iter().zip(rooms_of(&songs)) {
            counts.counted.songs[*s as usize].rooms = rooms;
        }
    }
    let counted = &counts.counted;
    let rooms = |s: u32| counted.songs[s as usize].rooms;
    ranking::order(&mut hot, &scores, &rooms, &gain);
    ranking::order(&mut new, &scores, &rooms, &gain);

    // History for the months after: the month as its latest edition charted it, or as
    // computed here.
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "order");
    let mut next = History {
        scores: month_scores,
        ..History::default()
    };
    let charted: [Vec<&str>; 2] = match published {
        Some(charts) => charts
            .each_ref()
            .map(|songs| songs.iter().map(String::as_str).collect()),
        None => [&hot, &new].map(|ranked| {
            ranked
                .iter()
                .take(top_n)
                .map(|&s| counts.songs[s as usize].as_str())
                .collect()
        }),
    };
    for (c, songs) in charted.iter().enumerate() {
        for (i, &song) in songs.iter().enumerate() {
            let rank = i as i64 + 1;
            let entry = match earlier.charts[c].get(song) {
                Some(&(prev, peak, months, streak)) => {
                    let continued = prev > 0;
                    (
                        rank,
                        peak.min(rank),
                        months + 1,
                        if continued { streak + 1 } else { 1 },
                    )
                }
                None => (rank, rank, 1, 1),
            };
            next.charts[c].insert(song.to_string(), entry);
        }
        // Songs charted before but not this month keep their peak and months; rank 0.
        for (song, &(_, peak, months, _)) in &earlier.charts[c] {
            next.charts[c]
                .entry(song.clone())
                .or_insert((0, peak, months, 0));
        }
    }
    if !last {
        return Ok((None, next));
    }

    // The rank intervals, over the venues with counted plays.
    // Venue codes follow venue ids: each counted venue's index, in venue_id order.
    let mut venue_index = vec![usize::MAX; counts.venues.len()];
    for c in &contributions {
        venue_index[c.1 as usize] = 0;
    }
    let mut counted_venues = 0;
    for index in venue_index.iter_mut().filter(|i| **i == 0) {
        *index = counted_venues;
        counted_venues += 1;
    }
    let indexed: Vec<(u32, usize, i64)> = contributions
        .iter()
        .map(|&(s, v, c)| (s, venue_index[v as usize], c))
        .collect();
    tracing::info!(%month, seconds = started.elapsed().as_secs_f64(), "rules 3 and 4, and the order");
    let started = std::time::Instant::now();
    let weights = ranking::resample_weights(rules, counted_venues);
    let published = published_entries;
    let entries = |c: usize, ranked: &[u32]| -> Vec<ScreenedEntry> {
        let intervals = ranking::rank_intervals(rules, ranked, published, &indexed, &weights);
        ranked
            .iter()
            .take(published)
            .enumerate()
            .map(|(i, &s)| {
                let song = &counts.songs[s as usize];
                let rank = i as i64 + 1;
                let f = &scores[s as usize];
                let tally = &counted.songs[s as usize];
                let (title, artist) = catalogue
                    .position(song)
                    .map(|at| catalogue.title_artist(at))
                    .unwrap_or_default();
                let before = earlier.charts[c].get(song);
                let prev_rank = before.map(|b| b.0).filter(|&r| r > 0);
                let charted = i < top_n;
                let (peak_rank, months_on_chart, streak, movement) = if charted {
                    let now = next.charts[c][song];
                    let movement = match (now.2, prev_rank) {
                        (1, _) => "NEW",
                        (_, None) => "RE",
                        (_, Some(p)) if rank < p => "UP",
                        (_, Some(p)) if rank > p => "DOWN",
                        _ => "SAME",
                    };
                    (Some(now.1), now.2, now.3, Some(movement))
                } else {
                    (before.map(|b| b.1), before.map_or(0, |b| b.2), 0, None)
                };
                ScreenedEntry {
                    rank,
                    song_id: song.clone(),
                    title,
                    artist,
                    score: f.score,
                    score_raw: f.score_raw,
                    plays: tally.plays,
                    venues: f.venues,
                    cities: f.cities,
                    rooms: tally.rooms,
                    room_days: tally.room_days,
                    room_share: tally.rooms as f64 / counted.active_rooms.max(1) as f64,
                    rank_low: intervals[i].map(|r| r.0),
                    rank_high: intervals[i].map(|r| r.1),
                    prev_rank,
                    peak_rank,
                    months_on_chart,
                    streak,
                    movement,
                }
            })
            .collect()
    };
    let hot_entries = entries(0, &hot);
    let new_entries = entries(1, &new);
    tracing::info!(%month, seconds = started.elapsed().as_secs_f64(), "ranked with intervals");

    // Rule 9.
    let on_chart = &hot[..hot.len().min(top_n)];
    let touched_by = |bit: u8| {
        on_chart
            .iter()
            .filter(|&&s| counted.songs[s as usize].touched & bit != 0)
            .count() as i64
    };
    let cut = |s: u32| scores[s as usize].score < scores[s as usize].score_raw;
    let mut without_reach = scored.clone();
    ranking::order(&mut without_reach, &scores, &rooms, &gain);
    let kept_off = without_reach
        .iter()
        .take(top_n)
        .filter(|&&s| !reaches(s))
        .count() as i64;
    let transparency = Transparency {
        valid_plays: counts.valid_plays,
        held_plays: counts.held_plays,
        resent_plays: counted.resent,
        impossible_plays: counted.impossible_plays,
        impossible_room_days: counted.impossible_room_days,
        over_cap_plays: counted.over_cap,
        concentration_songs: scored.iter().filter(|&&s| cut(s)).count() as i64,
        concentration_plays: scored
            .iter()
            .map(|&s| scores[s as usize].score_raw - scores[s as usize].score)
            .sum(),
        reach_songs: scored.iter().filter(|&&s| !reaches(s)).count() as i64,
        hot_entries_changed: vec![
            ("held", touched_by(touched::HELD)),
            ("resent", touched_by(touched::RESENT)),
            (
                "impossible_room_day",
                touched_by(touched::IMPOSSIBLE_ROOM_DAY),
            ),
            ("room_cap", touched_by(touched::ROOM_CAP)),
            (
                "concentration",
                on_chart.iter().filter(|&&s| cut(s)).count() as i64,
            ),
            ("reach", kept_off),
        ],
        holds: counts.holds,
        flagged_rooms: counts.flagged_rooms,
    };
    Ok((
        Some(ScreenedMonth {
            period: *month,
            hot: hot_entries,
            new: new_entries,
            transparency,
        }),
        next,
    ))
}
