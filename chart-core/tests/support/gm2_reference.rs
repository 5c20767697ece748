//! An independent reference implementation of GM-2's screening rules in plain Rust over
//! rows: GM-1's valid plays from `reference.rs`, then each rule as the methodology
//! states it, with maps and sorts and no shared code with the library.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike};

use super::reference::{Data, Play, Rules, valid_plays};

/// GM-2's parameters, restated.
#[derive(Clone, Copy)]
pub struct Params {
    pub resend_window_ms: i64,
    pub overlap_tolerance_ms: i64,
    pub overlap_share_percent: i64,
    pub max_active_hours: usize,
    pub concentration_min_venues: usize,
    pub concentration_top: usize,
    pub concentration_next: usize,
    pub min_venues: usize,
    pub min_cities: usize,
    pub hold_factor: i64,
    pub hold_min_plays: i64,
    pub hold_window_days: i64,
    pub hold_min_history_days: usize,
    pub bubbling_under: usize,
    pub resamples: usize,
    pub seed: u64,
    pub confidence_percent: usize,
}

impl Params {
    pub const GM2: Params = Params {
        resend_window_ms: 5_000,
        overlap_tolerance_ms: 5_000,
        overlap_share_percent: 30,
        max_active_hours: 20,
        concentration_min_venues: 3,
        concentration_top: 2,
        concentration_next: 10,
        min_venues: 5,
        min_cities: 2,
        hold_factor: 5,
        hold_min_plays: 50,
        hold_window_days: 28,
        hold_min_history_days: 7,
        bubbling_under: 25,
        resamples: 200,
        seed: 2024,
        confidence_percent: 90,
    };
}

/// A published GM-2 chart row (title and artist left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub rank: i64,
    pub song_id: String,
    pub score: i64,
    pub score_raw: i64,
    pub plays: i64,
    pub venues: i64,
    pub cities: i64,
    pub rooms: i64,
    pub room_days: i64,
    pub rank_low: Option<i64>,
    pub rank_high: Option<i64>,
    pub prev_rank: Option<i64>,
    pub peak_rank: Option<i64>,
    pub months_on_chart: i64,
    pub streak: i64,
    pub movement: Option<String>,
}

/// The report's counts and lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub valid_plays: i64,
    pub held_plays: i64,
    pub resent_plays: i64,
    pub impossible_plays: i64,
    pub impossible_room_days: i64,
    pub over_cap_plays: i64,
    pub concentration_songs: i64,
    pub concentration_plays: i64,
    pub reach_songs: i64,
    /// (kind, id, day, plays, review).
    pub holds: Vec<(String, String, NaiveDate, i64, String)>,
    /// (venue, room, day, hours).
    pub flagged: Vec<(String, String, NaiveDate, i64)>,
}

pub struct Month {
    pub hot: Vec<Row>,
    pub new: Vec<Row>,
    pub report: Report,
}

fn month_of(day: NaiveDate) -> (i32, u32) {
    (day.year(), day.month())
}

/// a/b compared with c/d.
fn cmp_share(a: (i64, i64), b: (i64, i64)) -> std::cmp::Ordering {
    (a.0 as i128 * b.1 as i128).cmp(&(b.0 as i128 * a.1 as i128))
}

fn median(mut v: Vec<(i64, i64)>) -> Option<(i64, i64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| cmp_share(*a, *b));
    let n = v.len();
    Some(v[n.div_ceil(2) - 1])
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
}

/// A reviewer's decision: (kind, id, day, include or exclude).
pub type Decision = (String, String, NaiveDate, String);

/// Rule 5 for the days of one month, with the reviewers' decisions.
fn holds(
    p: &Params,
    valid: &[(Play, NaiveDate)],
    data: &Data,
    decisions: &[Decision],
    month: (i32, u32),
) -> Vec<(String, String, NaiveDate, i64, String)> {
    let mut market: HashMap<NaiveDate, i64> = HashMap::new();
    let mut by: [BTreeMap<(String, NaiveDate), i64>; 2] = Default::default();
    for (play, day) in valid {
        *market.entry(*day).or_default() += 1;
        *by[0]
            .entry((play.venue_id.clone().unwrap(), *day))
            .or_default() += 1;
        if let Some(vendor) = &play.vod_vendor {
            *by[1].entry((vendor.clone(), *day)).or_default() += 1;
        }
    }
    let province = |venue: &str| data.venues.get(venue).map(|v| v.province.clone());
    let mut out = Vec::new();
    for (k, kind) in ["venue", "vendor"].into_iter().enumerate() {
        for ((id, day), &plays) in &by[k] {
            if month_of(*day) != month || plays < p.hold_min_plays {
                continue;
            }
            let in_window =
                |d: &NaiveDate| *d < *day && *d >= *day - Duration::days(p.hold_window_days);
            let own: Vec<(i64, i64)> = by[k]
                .iter()
                .filter(|((i, d), _)| i == id && in_window(d))
                .map(|((_, d), &c)| (c, market[d]))
                .collect();
            let baseline = if own.len() >= p.hold_min_history_days {
                median(own)
            } else {
                let peers: Vec<(i64, i64)> = by[k]
                    .iter()
                    .filter(|((i, d), _)| {
                        in_window(d) && (kind == "vendor" || province(i) == province(id))
                    })
                    .map(|((_, d), &c)| (c, market[d]))
                    .collect();
                median(peers)
            };
            if let Some((bc, bm)) = baseline
                && plays as i128 * bm as i128
                    > p.hold_factor as i128 * bc as i128 * market[day] as i128
            {
                out.push((
                    kind.to_string(),
                    id.clone(),
                    *day,
                    plays,
                    "pending".to_string(),
                ));
            }
        }
    }
    for (kind, id, day, decision) in decisions {
        if month_of(*day) != month {
            continue;
        }
        let review = if decision == "include" {
            "included"
        } else {
            "excluded"
        };
        match out
            .iter_mut()
            .find(|h| &h.0 == kind && &h.1 == id && h.2 == *day)
        {
            Some(hold) => hold.4 = review.to_string(),
            None if review == "excluded" => {
                let k = if kind == "venue" { 0 } else { 1 };
                let plays = by[k].get(&(id.clone(), *day)).copied().unwrap_or(0);
                out.push((kind.clone(), id.clone(), *day, plays, review.to_string()));
            }
            None => {}
        }
    }
    out.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
    out
}

struct Figures {
    score_raw: HashMap<String, i64>,
    score: HashMap<String, i64>,
    contributions: BTreeMap<(String, String), i64>,
    venues: HashMap<String, i64>,
    cities: HashMap<String, i64>,
    plays: HashMap<String, i64>,
    rooms: HashMap<String, i64>,
    room_days: HashMap<String, i64>,
    active_rooms: i64,
    report: Report,
}

fn figures(
    p: &Params,
    rules: &Rules,
    valid: &[(Play, NaiveDate)],
    data: &Data,
    decisions: &[Decision],
    month: (i32, u32),
) -> Figures {
    let held = holds(p, valid, data, decisions, month);
    let held_keys: HashSet<(String, String, NaiveDate)> = held
        .iter()
        .filter(|h| h.4 != "included")
        .map(|h| (h.0.clone(), h.1.clone(), h.2))
        .collect();
    let mut report = Report {
        holds: held,
        ..Report::default()
    };
    let mut room_days: BTreeMap<(String, String, NaiveDate), Vec<&Play>> = BTreeMap::new();
    for (play, day) in valid.iter().filter(|(_, d)| month_of(*d) == month) {
        report.valid_plays += 1;
        let venue = play.venue_id.clone().unwrap();
        let held_venue = held_keys.contains(&("venue".into(), venue.clone(), *day));
        let held_vendor = play
            .vod_vendor
            .as_ref()
            .is_some_and(|v| held_keys.contains(&("vendor".into(), v.clone(), *day)));
        if held_venue || held_vendor {
            report.held_plays += 1;
            continue;
        }
        room_days
            .entry((venue, play.room_id.clone().unwrap(), *day))
            .or_default()
            .push(play);
    }
    let mut song_venue: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut plays_of: HashMap<String, i64> = HashMap::new();
    let mut rooms_of: HashMap<String, HashSet<(String, String)>> = HashMap::new();
    let mut room_days_of: HashMap<String, i64> = HashMap::new();
    let mut active: HashSet<(String, String)> = HashSet::new();
    for ((venue, room, day), mut plays) in room_days {
        plays.sort_by(|a, b| {
            (a.started_at, std::cmp::Reverse(a.played_ms), &a.song_id).cmp(&(
                b.started_at,
                std::cmp::Reverse(b.played_ms),
                &b.song_id,
            ))
        });
        let hours: BTreeSet<u32> = plays
            .iter()
            .map(|pl| {
                DateTime::from_timestamp_millis(pl.started_at.unwrap() + 8 * 3_600_000)
                    .unwrap()
                    .hour()
            })
            .collect();
        if hours.len() >= p.max_active_hours {
            report
                .flagged
                .push((venue.clone(), room.clone(), day, hours.len() as i64));
        }
        // Rule 1: not within the window after any counted play of the same song.
        let mut counted: Vec<&Play> = Vec::new();
        for pl in plays {
            let resent = counted.iter().any(|c| {
                c.song_id == pl.song_id
                    && pl.started_at.unwrap() - c.started_at.unwrap() <= p.resend_window_ms
            });
            if resent {
                report.resent_plays += 1;
            } else {
                counted.push(pl);
            }
        }
        // Rule 2.
        let mut overlapping = 0;
        for i in 1..counted.len() {
            let before = counted[i - 1];
            if counted[i].started_at.unwrap()
                < before.started_at.unwrap() + before.played_ms.unwrap() as i64
                    - p.overlap_tolerance_ms
            {
                overlapping += 1;
            }
        }
        if overlapping * 100 >= p.overlap_share_percent * counted.len() as i64 {
            report.impossible_plays += counted.len() as i64;
            report.impossible_room_days += 1;
            continue;
        }
        let mut per_song: BTreeMap<String, i64> = BTreeMap::new();
        for pl in &counted {
            *per_song.entry(pl.song_id.clone().unwrap()).or_default() += 1;
        }
        for (song, n) in per_song {
            let capped = n.min(rules.room_cap);
            report.over_cap_plays += n - capped;
            *song_venue.entry((song.clone(), venue.clone())).or_default() += capped;
            *plays_of.entry(song.clone()).or_default() += n;
            *room_days_of.entry(song.clone()).or_default() += 1;
            rooms_of
                .entry(song)
                .or_default()
                .insert((venue.clone(), room.clone()));
            active.insert((venue.clone(), room.clone()));
        }
    }
    // Rule 3 and the reach figures.
    let mut by_song: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for ((song, venue), s) in &song_venue {
        by_song
            .entry(song.clone())
            .or_default()
            .push((venue.clone(), *s));
    }
    let mut f = Figures {
        score_raw: HashMap::new(),
        score: HashMap::new(),
        contributions: BTreeMap::new(),
        venues: HashMap::new(),
        cities: HashMap::new(),
        plays: plays_of,
        rooms: rooms_of
            .into_iter()
            .map(|(s, r)| (s, r.len() as i64))
            .collect(),
        room_days: room_days_of,
        active_rooms: active.len() as i64,
        report,
    };
    for (song, mut venues) in by_song {
        venues.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let cap = if venues.len() >= p.concentration_min_venues {
            let next: Vec<i64> = venues
                .iter()
                .skip(p.concentration_top)
                .take(p.concentration_next)
                .map(|v| v.1)
                .collect();
            Some(next.iter().sum::<i64>() / next.len() as i64)
        } else {
            None
        };
        let cities: HashSet<(String, String)> = venues
            .iter()
            .map(|(v, _)| {
                let venue = &data.venues[v];
                (venue.province.clone(), venue.city.clone())
            })
            .collect();
        let raw: i64 = venues.iter().map(|v| v.1).sum();
        let mut score = 0;
        for (i, (venue, s)) in venues.iter().enumerate() {
            let c = match cap {
                Some(cap) if i < p.concentration_top => (*s).min(cap),
                _ => *s,
            };
            score += c;
            f.contributions.insert((song.clone(), venue.clone()), c);
        }
        if score < raw {
            f.report.concentration_songs += 1;
            f.report.concentration_plays += raw - score;
        }
        f.score_raw.insert(song.clone(), raw);
        f.score.insert(song.clone(), score);
        f.venues.insert(song.clone(), venues.len() as i64);
        f.cities.insert(song, cities.len() as i64);
    }
    f
}

/// Both GM-2 charts of `target` (YYYY-MM) with the report.
pub fn screened(
    data: &Data,
    rules: &Rules,
    p: &Params,
    decisions: &[Decision],
    target: &str,
) -> Month {
    let target_day = NaiveDate::parse_from_str(&format!("{target}-01"), "%Y-%m-%d").unwrap();
    // History starts with the month of the first partition; plays before it are not read.
    let first = data
        .plays
        .iter()
        .map(|p| p.partition)
        .min()
        .unwrap()
        .min(target_day)
        .with_day(1)
        .unwrap();
    let valid: Vec<(Play, NaiveDate)> = valid_plays(data, rules)
        .into_iter()
        .filter(|(_, day)| *day >= first)
        .collect();
    let top_n = rules.top_n;
    // Per chart: song → list of (month index, rank) on the chart.
    let mut history: [HashMap<String, Vec<(usize, i64)>>; 2] = Default::default();
    let mut previous_scores: HashMap<String, i64> = HashMap::new();
    let mut month_start = first;
    let mut index = 0;
    loop {
        let month = month_of(month_start);
        let month_end = month_start
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            .pred_opt()
            .unwrap();
        let f = figures(p, rules, &valid, data, decisions, month);
        let reaches =
            |s: &String| f.venues[s] >= p.min_venues as i64 && f.cities[s] >= p.min_cities as i64;
        let gain = |s: &String| f.score[s] - previous_scores.get(s).copied().unwrap_or(0);
        let key = |s: &String| (-f.score[s], -f.venues[s], -f.rooms[s], -gain(s), s.clone());
        let mut scored: Vec<String> = f.score.keys().cloned().collect();
        scored.sort_by_key(|s| key(s));
        let hot: Vec<String> = scored.iter().filter(|s| reaches(s)).cloned().collect();
        let new: Vec<String> = hot
            .iter()
            .filter(|s| {
                data.songs[*s].release_date.is_some_and(|r| {
                    r <= month_end && (month_end - r).num_days() < rules.new_song_window_days
                })
            })
            .cloned()
            .collect();
        let last = month_start == target_day;
        let mut result = Month {
            hot: Vec::new(),
            new: Vec::new(),
            report: Report::default(),
        };
        for (c, ranked) in [&hot, &new].into_iter().enumerate() {
            let before = history[c].clone();
            for (i, s) in ranked.iter().take(top_n).enumerate() {
                history[c]
                    .entry(s.clone())
                    .or_default()
                    .push((index, i as i64 + 1));
            }
            if !last {
                continue;
            }
            let intervals = bootstrap(p, &f, ranked, top_n + p.bubbling_under);
            let rows = ranked
                .iter()
                .take(top_n + p.bubbling_under)
                .enumerate()
                .map(|(i, s)| {
                    let rank = i as i64 + 1;
                    let earlier = before.get(s).cloned().unwrap_or_default();
                    let prev_rank = earlier
                        .iter()
                        .find(|(m, _)| *m + 1 == index)
                        .map(|(_, r)| *r);
                    let charted = i < top_n;
                    let mut all = earlier.clone();
                    if charted {
                        all.push((index, rank));
                    }
                    let mut streak = 0;
                    if charted {
                        let months: HashSet<usize> = all.iter().map(|(m, _)| *m).collect();
                        while streak <= index && months.contains(&(index - streak)) {
                            streak += 1;
                        }
                    }
                    let movement = charted.then(|| {
                        if all.len() == 1 {
                            "NEW"
                        } else {
                            match prev_rank {
                                None => "RE",
                                Some(p) if rank < p => "UP",
                                Some(p) if rank > p => "DOWN",
                                _ => "SAME",
                            }
                        }
                        .to_string()
                    });
                    Row {
                        rank,
                        song_id: s.clone(),
                        score: f.score[s],
                        score_raw: f.score_raw[s],
                        plays: f.plays[s],
                        venues: f.venues[s],
                        cities: f.cities[s],
                        rooms: f.rooms[s],
                        room_days: f.room_days[s],
                        rank_low: intervals[i].map(|x| x.0),
                        rank_high: intervals[i].map(|x| x.1),
                        prev_rank,
                        peak_rank: all.iter().map(|(_, r)| *r).min(),
                        months_on_chart: all.len() as i64,
                        streak: streak as i64,
                        movement,
                    }
                })
                .collect();
            if c == 0 {
                result.hot = rows;
            } else {
                result.new = rows;
            }
        }
        if last {
            result.report = f.report.clone();
            result.report.reach_songs = scored.iter().filter(|s| !reaches(s)).count() as i64;
            return result;
        }
        previous_scores = f.score.clone();
        month_start = month_start
            .checked_add_months(chrono::Months::new(1))
            .unwrap();
        index += 1;
    }
}

/// Rank intervals of the first `entries` of `ranked`.
fn bootstrap(
    p: &Params,
    f: &Figures,
    ranked: &[String],
    entries: usize,
) -> Vec<Option<(i64, i64)>> {
    let entries = entries.min(ranked.len());
    if p.resamples == 0 {
        return vec![None; entries];
    }
    let venues: Vec<String> = f
        .contributions
        .keys()
        .map(|(_, v)| v.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = venues.len();
    let mut rng = SplitMix(p.seed);
    let mut ranks: Vec<Vec<i64>> = vec![Vec::new(); entries];
    for _ in 0..p.resamples {
        let mut drawn: HashMap<&str, i64> = HashMap::new();
        for _ in 0..n {
            let i = ((rng.next() as u128 * n as u128) >> 64) as usize;
            *drawn.entry(venues[i].as_str()).or_default() += 1;
        }
        let mut scores: Vec<(i64, usize)> = ranked
            .iter()
            .enumerate()
            .map(|(position, s)| {
                let score = f
                    .contributions
                    .range((s.clone(), String::new())..)
                    .take_while(|((song, _), _)| song == s)
                    .map(|((_, v), c)| drawn.get(v.as_str()).copied().unwrap_or(0) * c)
                    .sum::<i64>();
                (-score, position)
            })
            .collect();
        scores.sort();
        for (rank, (_, position)) in scores.iter().enumerate() {
            if *position < entries {
                ranks[*position].push(rank as i64 + 1);
            }
        }
    }
    let b = p.resamples;
    let c = p.confidence_percent;
    let low = ((100 - c) * b).div_ceil(200).max(1) - 1;
    let high = ((100 + c) * b).div_ceil(200).max(1) - 1;
    ranks
        .into_iter()
        .map(|mut r| {
            r.sort();
            Some((r[low], r[high]))
        })
        .collect()
}
