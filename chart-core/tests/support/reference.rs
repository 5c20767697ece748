//! An independent reference implementation of GM-1 in plain Rust over rows: no SQL,
//! no DataFusion. It reads the Parquet files row by row and applies the rules as the
//! methodology states them; the tests compare its output with the SQL charts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int32Type, TimeUnit, TimestampMillisecondType};
use chrono::{DateTime, Datelike, Months, NaiveDate};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// GM-1 parameters, restated.
#[derive(Clone, Copy)]
pub struct Rules {
    pub min_played_ms: i32,
    pub room_cap: i64,
    pub new_song_window_days: i64,
    pub top_n: usize,
    pub day_start_hours: i64,
}

impl Rules {
    pub const GM1: Rules = Rules {
        min_played_ms: 30_000,
        room_cap: 3,
        new_song_window_days: 365,
        top_n: 100,
        day_start_hours: 6,
    };
}

#[derive(Clone, Debug)]
pub struct Play {
    pub event_id: Option<String>,
    pub venue_id: Option<String>,
    pub room_id: Option<String>,
    pub song_id: Option<String>,
    pub started_at: Option<i64>,
    pub played_ms: Option<i32>,
    pub vod_vendor: Option<String>,
    pub partition: NaiveDate,
}

#[derive(Clone, Debug)]
pub struct Song {
    pub song_id: String,
    pub title: String,
    pub artist: String,
    pub release_date: Option<NaiveDate>,
    pub rights_holder_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Venue {
    pub venue_id: String,
    pub province: String,
    pub city: String,
    pub rooms: i32,
    pub licensed_since: Option<NaiveDate>,
    pub connected_on: Option<NaiveDate>,
}

pub struct Data {
    pub plays: Vec<Play>,
    pub songs: HashMap<String, Song>,
    pub venues: HashMap<String, Venue>,
}

/// A chart row, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartRow {
    pub rank: i64,
    pub song_id: String,
    pub title: String,
    pub artist: String,
    pub score: i64,
    pub plays: i64,
    pub venues: i64,
    pub rooms: i64,
    pub prev_rank: Option<i64>,
    pub peak_rank: i64,
    pub months_on_chart: i64,
    pub movement: String,
}

/// A coverage row, as published (province None for the national row).
#[derive(Clone, Debug, PartialEq)]
pub struct CoverageRow {
    pub province: Option<String>,
    pub licensed_venues: i64,
    pub connected_venues: i64,
    pub coverage_share: Option<f64>,
    pub provinces: Option<i64>,
    pub cities: i64,
    pub rooms: i64,
    pub new_venues: i64,
    pub new_venues_prev: i64,
    pub new_venues_growth: Option<f64>,
    pub active_venues: i64,
    pub active_rooms: i64,
}

/// Per-period outcome counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quality {
    pub rows_received: i64,
    pub duplicate_copies: i64,
    pub missing_value: i64,
    pub short_play: i64,
    pub unknown_song: i64,
    pub unknown_venue: i64,
    pub valid_plays: i64,
    pub over_room_cap: i64,
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn batches(path: &Path) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
    col.as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn dates(batch: &RecordBatch, name: &str) -> Vec<Option<NaiveDate>> {
    let col = batch.column_by_name(name).unwrap();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    col.as_primitive::<Date32Type>()
        .iter()
        .map(|d| d.map(|d| epoch + chrono::Duration::days(d as i64)))
        .collect()
}

pub fn load(root: &Path) -> Data {
    let mut data = load_tables(root);
    data.plays = load_plays(root);
    data
}

pub fn load_plays(root: &Path) -> Vec<Play> {
    let mut plays = Vec::new();
    for path in files(&root.join("plays")) {
        let partition = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let partition =
            NaiveDate::parse_from_str(partition.strip_prefix("date=").unwrap(), "%Y-%m-%d")
                .unwrap();
        for b in batches(&path) {
            let ts = cast(
                b.column_by_name("started_at").unwrap(),
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            )
            .unwrap();
            let ts = ts.as_primitive::<TimestampMillisecondType>();
            let ms = b.column_by_name("played_ms").unwrap();
            let ms = ms.as_primitive::<Int32Type>();
            let (e, v, r, s) = (
                strings(&b, "event_id"),
                strings(&b, "venue_id"),
                strings(&b, "room_id"),
                strings(&b, "song_id"),
            );
            let vendors = match b.column_by_name("vod_vendor") {
                Some(_) => strings(&b, "vod_vendor"),
                None => vec![None; b.num_rows()],
            };
            for i in 0..b.num_rows() {
                plays.push(Play {
                    event_id: e[i].clone(),
                    venue_id: v[i].clone(),
                    room_id: r[i].clone(),
                    song_id: s[i].clone(),
                    started_at: ts.is_valid(i).then(|| ts.value(i)),
                    played_ms: ms.is_valid(i).then(|| ms.value(i)),
                    vod_vendor: vendors[i].clone(),
                    partition,
                });
            }
        }
    }
    plays
}

/// Songs and venues only.
pub fn load_tables(root: &Path) -> Data {
    let mut songs = HashMap::new();
    for path in files(&root.join("songs")) {
        for b in batches(&path) {
            let (id, t, a, r, h) = (
                strings(&b, "song_id"),
                strings(&b, "title"),
                strings(&b, "artist"),
                dates(&b, "release_date"),
                strings(&b, "rights_holder_id"),
            );
            for i in 0..b.num_rows() {
                let song = Song {
                    song_id: id[i].clone().unwrap(),
                    title: t[i].clone().unwrap_or_default(),
                    artist: a[i].clone().unwrap_or_default(),
                    release_date: r[i],
                    rights_holder_id: h[i].clone(),
                };
                songs.insert(song.song_id.clone(), song);
            }
        }
    }
    let mut venues = HashMap::new();
    for path in files(&root.join("venues")) {
        for b in batches(&path) {
            let (id, p, c) = (
                strings(&b, "venue_id"),
                strings(&b, "province"),
                strings(&b, "city"),
            );
            let rooms = b.column_by_name("rooms").unwrap();
            let rooms = rooms.as_primitive::<Int32Type>();
            let (l, k) = (dates(&b, "licensed_since"), dates(&b, "connected_on"));
            for i in 0..b.num_rows() {
                let venue = Venue {
                    venue_id: id[i].clone().unwrap(),
                    province: p[i].clone().unwrap(),
                    city: c[i].clone().unwrap(),
                    rooms: rooms.value(i),
                    licensed_since: l[i],
                    connected_on: k[i],
                };
                venues.insert(venue.venue_id.clone(), venue);
            }
        }
    }
    Data {
        plays: Vec::new(),
        songs,
        venues,
    }
}

/// A period key: "YYYY-MM" for months, "YYYY" for years.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Month,
    Year,
}

fn period_of(grain: Grain, day: NaiveDate) -> String {
    match grain {
        Grain::Month => format!("{:04}-{:02}", day.year(), day.month()),
        Grain::Year => format!("{:04}", day.year()),
    }
}

fn bounds(grain: Grain, period: &str) -> (NaiveDate, NaiveDate) {
    let first = match grain {
        Grain::Month => NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").unwrap(),
        Grain::Year => NaiveDate::parse_from_str(&format!("{period}-01-01"), "%Y-%m-%d").unwrap(),
    };
    let months = if grain == Grain::Month { 1 } else { 12 };
    let last = first
        .checked_add_months(Months::new(months))
        .unwrap()
        .pred_opt()
        .unwrap();
    (first, last)
}

fn previous(grain: Grain, period: &str) -> String {
    period_of(grain, bounds(grain, period).0.pred_opt().unwrap())
}

/// The Asia/Shanghai (UTC+8 since 1991) date of the instant minus the day start.
fn business_day(rules: &Rules, ms: i64) -> NaiveDate {
    let local =
        DateTime::from_timestamp_millis(ms - rules.day_start_hours * 3_600_000 + 8 * 3_600_000)
            .unwrap();
    local.date_naive()
}

/// An event kept after deduplication, with its copies, day and exclusion reason.
struct Event {
    play: Play,
    copies: i64,
    day: NaiveDate,
    exclusion: Option<&'static str>,
}

fn events(data: &Data, rules: &Rules) -> Vec<Event> {
    let mut by_id: HashMap<&str, Vec<&Play>> = HashMap::new();
    let mut out = Vec::new();
    let mut nameless = Vec::new();
    for p in &data.plays {
        match &p.event_id {
            Some(id) => by_id.entry(id).or_default().push(p),
            None => nameless.push((p, 1)),
        }
    }
    // Keep the earliest copy, then the longest, then the smallest ids; NULLs last.
    fn key(p: &Play) -> impl Ord + '_ {
        (
            (p.started_at.is_none(), p.started_at),
            (p.played_ms.is_none(), std::cmp::Reverse(p.played_ms)),
            (p.venue_id.is_none(), p.venue_id.as_deref()),
            (p.room_id.is_none(), p.room_id.as_deref()),
            (p.song_id.is_none(), p.song_id.as_deref()),
        )
    }
    let mut kept: Vec<(&Play, i64)> = by_id
        .into_values()
        .map(|copies| {
            let first = copies.iter().min_by(|a, b| key(a).cmp(&key(b))).unwrap();
            (*first, copies.len() as i64)
        })
        .collect();
    kept.extend(nameless);
    for (p, copies) in kept {
        let day = p
            .started_at
            .map(|t| business_day(rules, t))
            .unwrap_or(p.partition);
        let exclusion = match (
            &p.event_id,
            &p.venue_id,
            &p.room_id,
            &p.song_id,
            p.started_at,
            p.played_ms,
        ) {
            (Some(_), Some(venue), Some(_), Some(song), Some(_), Some(played_ms)) => {
                if played_ms < rules.min_played_ms {
                    Some("short_play")
                } else if !data.songs.contains_key(song) {
                    Some("unknown_song")
                } else if !data.venues.contains_key(venue) {
                    Some("unknown_venue")
                } else {
                    None
                }
            }
            _ => Some("missing_value"),
        };
        out.push(Event {
            play: p.clone(),
            copies,
            day,
            exclusion,
        });
    }
    out
}

/// GM-1's valid plays, each with its business day.
pub fn valid_plays(data: &Data, rules: &Rules) -> Vec<(Play, NaiveDate)> {
    events(data, rules)
        .into_iter()
        .filter(|e| e.exclusion.is_none())
        .map(|e| (e.play, e.day))
        .collect()
}

/// Counted plays (valid plays after the room cap) per (month, venue, song).
pub fn counted_by_venue(data: &Data, rules: &Rules) -> HashMap<(String, String, String), i64> {
    let evs = events(data, rules);
    let mut counted = HashMap::new();
    for ((day, venue, _, song), n) in room_days(&evs) {
        *counted
            .entry((
                period_of(Grain::Month, day),
                venue.to_string(),
                song.to_string(),
            ))
            .or_default() += n.min(rules.room_cap);
    }
    counted
}

/// Per-period per-song figures: (score, plays, venues, rooms).
pub type Stats = BTreeMap<String, HashMap<String, (i64, i64, i64, i64)>>;

/// The figures of every song with a valid play, per period of `grain`.
pub fn song_stats(data: &Data, rules: &Rules, grain: Grain) -> Stats {
    stats(&events(data, rules), rules, grain)
}

/// Valid plays per (day, venue, room, song).
fn room_days(events: &[Event]) -> HashMap<(NaiveDate, &str, &str, &str), i64> {
    let mut room_day = HashMap::new();
    for e in events.iter().filter(|e| e.exclusion.is_none()) {
        let p = &e.play;
        *room_day
            .entry((
                e.day,
                p.venue_id.as_deref().unwrap(),
                p.room_id.as_deref().unwrap(),
                p.song_id.as_deref().unwrap(),
            ))
            .or_default() += 1;
    }
    room_day
}

fn stats(events: &[Event], rules: &Rules, grain: Grain) -> Stats {
    let room_day = room_days(events);
    // period -> song -> (score, plays, venue set, room set)
    type Acc<'a> = (i64, i64, HashSet<&'a str>, HashSet<(&'a str, &'a str)>);
    let mut acc: BTreeMap<String, HashMap<&str, Acc>> = BTreeMap::new();
    for ((day, venue, room, song), n) in room_day {
        let a = acc
            .entry(period_of(grain, day))
            .or_default()
            .entry(song)
            .or_insert_with(|| (0, 0, HashSet::new(), HashSet::new()));
        a.0 += n.min(rules.room_cap);
        a.1 += n;
        a.2.insert(venue);
        a.3.insert((venue, room));
    }
    acc.into_iter()
        .map(|(period, songs)| {
            let songs = songs
                .into_iter()
                .map(|(s, a)| {
                    (
                        s.to_string(),
                        (a.0, a.1, a.2.len() as i64, a.3.len() as i64),
                    )
                })
                .collect();
            (period, songs)
        })
        .collect()
}

/// The ranked chart (song, rank) of one period, before history.
fn ranking(
    data: &Data,
    rules: &Rules,
    grain: Grain,
    period: &str,
    songs: &HashMap<String, (i64, i64, i64, i64)>,
    new_only: bool,
) -> Vec<(String, (i64, i64, i64, i64))> {
    let (_, end) = bounds(grain, period);
    let mut rows: Vec<(String, (i64, i64, i64, i64))> = songs
        .iter()
        .filter(|(_, s)| s.0 > 0)
        .filter(|(id, _)| {
            !new_only
                || data.songs[*id]
                    .release_date
                    .is_some_and(|r| r <= end && (end - r).num_days() < rules.new_song_window_days)
        })
        .map(|(id, s)| (id.clone(), *s))
        .collect();
    rows.sort_by(|a, b| {
        b.1.0
            .cmp(&a.1.0)
            .then(b.1.2.cmp(&a.1.2))
            .then(b.1.3.cmp(&a.1.3))
            .then(a.0.cmp(&b.0))
    });
    rows.truncate(rules.top_n);
    rows
}

/// The chart of `period` with its history, computed from every period up to it.
pub fn chart(
    data: &Data,
    rules: &Rules,
    grain: Grain,
    period: &str,
    new_only: bool,
) -> Vec<ChartRow> {
    let evs = events(data, rules);
    let all = stats(&evs, rules, grain);
    let mut history: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    let mut result = Vec::new();
    for (p, songs) in all.range(..=period.to_string()) {
        let chart = ranking(data, rules, grain, p, songs, new_only);
        for (i, (song, _)) in chart.iter().enumerate() {
            history
                .entry(song.clone())
                .or_default()
                .push((p.clone(), i as i64 + 1));
        }
        if p == period {
            result = chart;
        }
    }
    let prev = previous(grain, period);
    result
        .into_iter()
        .enumerate()
        .map(|(i, (song, (score, plays, venues, rooms)))| {
            let rank = i as i64 + 1;
            let h = &history[&song];
            let prev_rank = h.iter().find(|(p, _)| *p == prev).map(|(_, r)| *r);
            let months_on_chart = h.len() as i64; // only periods <= this one were visited
            let movement = if months_on_chart == 1 {
                "NEW"
            } else {
                match prev_rank {
                    None => "RE",
                    Some(r) if rank < r => "UP",
                    Some(r) if rank > r => "DOWN",
                    Some(_) => "SAME",
                }
            };
            let s = &data.songs[&song];
            ChartRow {
                rank,
                title: s.title.clone(),
                artist: s.artist.clone(),
                song_id: song,
                score,
                plays,
                venues,
                rooms,
                prev_rank,
                peak_rank: h.iter().map(|(_, r)| *r).min().unwrap(),
                months_on_chart,
                movement: movement.to_string(),
            }
        })
        .collect()
}

/// What became of the plays of a period.
pub fn quality(data: &Data, rules: &Rules, grain: Grain, period: &str) -> Quality {
    let evs = events(data, rules);
    let mut q = Quality::default();
    for e in evs.iter().filter(|e| period_of(grain, e.day) == period) {
        q.rows_received += e.copies;
        q.duplicate_copies += e.copies - 1;
        match e.exclusion {
            Some("missing_value") => q.missing_value += 1,
            Some("short_play") => q.short_play += 1,
            Some("unknown_song") => q.unknown_song += 1,
            Some("unknown_venue") => q.unknown_venue += 1,
            Some(other) => panic!("unknown reason {other}"),
            None => q.valid_plays += 1,
        }
    }
    if let Some(songs) = stats(&evs, rules, grain).get(period) {
        q.over_room_cap = songs.values().map(|s| s.1 - s.0).sum();
    }
    q
}

/// Coverage of a period: national row first, then one row per province by name.
pub fn coverage(data: &Data, rules: &Rules, grain: Grain, period: &str) -> Vec<CoverageRow> {
    let (first, last) = bounds(grain, period);
    let (prev_first, prev_last) = bounds(grain, &previous(grain, period));
    let evs = events(data, rules);
    let mut active: HashSet<(&str, &str)> = HashSet::new();
    for e in evs
        .iter()
        .filter(|e| e.exclusion.is_none() && period_of(grain, e.day) == period)
    {
        active.insert((
            e.play.venue_id.as_deref().unwrap(),
            e.play.room_id.as_deref().unwrap(),
        ));
    }
    let row = |venues: Vec<&Venue>, province: Option<String>| {
        let connected: Vec<&&Venue> = venues
            .iter()
            .filter(|v| v.connected_on.is_some_and(|d| d <= last))
            .collect();
        let licensed = venues
            .iter()
            .filter(|v| v.licensed_since.is_some_and(|d| d <= last))
            .count() as i64;
        let new = venues
            .iter()
            .filter(|v| v.connected_on.is_some_and(|d| d >= first && d <= last))
            .count() as i64;
        let new_prev = venues
            .iter()
            .filter(|v| {
                v.connected_on
                    .is_some_and(|d| d >= prev_first && d <= prev_last)
            })
            .count() as i64;
        let ids: HashSet<&str> = venues.iter().map(|v| v.venue_id.as_str()).collect();
        let rooms_active: Vec<&(&str, &str)> =
            active.iter().filter(|(v, _)| ids.contains(v)).collect();
        let venues_active: HashSet<&str> = rooms_active.iter().map(|(v, _)| *v).collect();
        CoverageRow {
            provinces: province.is_none().then(|| {
                connected
                    .iter()
                    .map(|v| v.province.as_str())
                    .collect::<HashSet<_>>()
                    .len() as i64
            }),
            province,
            licensed_venues: licensed,
            connected_venues: connected.len() as i64,
            coverage_share: (licensed > 0).then(|| connected.len() as f64 / licensed as f64),
            cities: connected
                .iter()
                .map(|v| (v.province.as_str(), v.city.as_str()))
                .collect::<HashSet<_>>()
                .len() as i64,
            rooms: connected.iter().map(|v| v.rooms as i64).sum(),
            new_venues: new,
            new_venues_prev: new_prev,
            new_venues_growth: (new_prev > 0).then(|| new as f64 / new_prev as f64 - 1.0),
            active_venues: venues_active.len() as i64,
            active_rooms: rooms_active.len() as i64,
        }
    };
    let all: Vec<&Venue> = data.venues.values().collect();
    let mut rows = vec![row(all.clone(), None)];
    let provinces: BTreeMap<&str, Vec<&Venue>> = all.iter().fold(BTreeMap::new(), |mut m, v| {
        m.entry(v.province.as_str()).or_default().push(*v);
        m
    });
    for (p, vs) in provinces {
        rows.push(row(vs, Some(p.to_string())));
    }
    rows
}
