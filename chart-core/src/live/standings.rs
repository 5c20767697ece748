//! The month to date's charts and coverage, from its figures: the ranking and history
//! of `chart_entries.sql` and the register and activity of `coverage_by_province.sql`
//! and `coverage.sql`, in Rust over the live figures.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::catalogue::Catalogue;
use super::live_error;
use super::month::{Figures, Snapshot};
use crate::error::{ChartError, Result};
use crate::methodology::{Methodology, Period, PeriodKind};
use crate::results::{ChartKind, GoldenMic};

/// A song's entries on a chart in the months before the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Earlier {
    months: i64,
    best_rank: i64,
    /// Its rank in the month just before, if charted then.
    previous_rank: Option<i64>,
}

/// The charts of the months before the live one, as far as a live chart needs them.
#[derive(Debug, Clone, Default)]
pub struct History {
    songs: HashMap<(ChartKind, String), Earlier>,
}

impl History {
    /// The history of the months before `month` in `engine`, materialised for months
    /// from the partitions that can hold them: those up to the month's first day,
    /// unless a later one holds a play of an earlier month.
    pub async fn before(engine: &GoldenMic, month: &Period) -> Result<History> {
        match earlier_months(engine, month).await? {
            Some(earlier) => {
                let materialized = earlier
                    .materialize_for_publication(PeriodKind::Month)
                    .await?;
                History::of(&materialized, month).await
            }
            None => Ok(History::default()),
        }
    }

    /// The history of the months before `month` in `engine` (materialised for months,
    /// or not materialised).
    pub async fn of(engine: &GoldenMic, month: &Period) -> Result<History> {
        let batches = engine
            .context()
            .sql(&format!(
                "SELECT chart, period, song_id, rank FROM chart_entries \
                 WHERE period_kind = 'month' AND period < '{month}'"
            ))
            .await?
            .collect()
            .await?;
        let previous = month.previous().to_string();
        let mut history = History::default();
        for batch in &batches {
            let charts = super::catalogue::strings(batch, "chart")?;
            let periods = super::catalogue::strings(batch, "period")?;
            let songs = super::catalogue::strings(batch, "song_id")?;
            let ranks = arrow::compute::cast(
                batch
                    .column_by_name("rank")
                    .ok_or_else(|| live_error("chart_entries without rank"))?,
                &arrow::datatypes::DataType::Int64,
            )
            .map_err(datafusion::error::DataFusionError::from)?;
            let ranks = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&ranks);
            for i in 0..batch.num_rows() {
                let kind = match charts[i].as_deref() {
                    Some("hot") => ChartKind::Hot,
                    Some("new") => ChartKind::New,
                    other => return Err(live_error(format!("chart_entries: chart {other:?}"))),
                };
                let (Some(song), Some(period)) = (songs[i].clone(), periods[i].as_deref()) else {
                    continue;
                };
                let rank = ranks.value(i);
                let entry = history.songs.entry((kind, song)).or_insert(Earlier {
                    months: 0,
                    best_rank: rank,
                    previous_rank: None,
                });
                entry.months += 1;
                entry.best_rank = entry.best_rank.min(rank);
                if period == previous {
                    entry.previous_rank = Some(rank);
                }
            }
        }
        Ok(history)
    }

    /// The history of a province's charts: [`History::of`] the regional view of
    /// `engine`.
    pub async fn of_province(
        engine: &GoldenMic,
        province: &str,
        month: &Period,
    ) -> Result<History> {
        let Some(earlier) = earlier_months(engine, month).await? else {
            return Ok(History::default());
        };
        let regional = earlier.regional(province).await?;
        let materialized = regional.materialize(Some(PeriodKind::Month)).await?;
        History::of(&materialized, month).await
    }
}

/// An engine over the plays the months before `month` are computed from: the
/// partitions up to the month's first day when no later partition holds a play of an
/// earlier month (the usual case: the month's own plays are then not read), else all
/// of them; `None` when no partition is that early.
async fn earlier_months(engine: &GoldenMic, month: &Period) -> Result<Option<GoldenMic>> {
    let first = month.first_day();
    let earlier_plays_later = engine
        .context()
        .sql(&format!(
            "SELECT 1 FROM plays WHERE date > DATE '{first}' \
             AND business_day(started_at) < DATE '{first}' LIMIT 1"
        ))
        .await?
        .collect()
        .await?
        .iter()
        .any(|b| b.num_rows() > 0);
    if earlier_plays_later || engine.data().is_none() {
        return Ok(Some(
            engine
                .with_methodology(engine.methodology().clone())
                .await?,
        ));
    }
    engine.up_to_partition(first).await
}

/// A row of a live chart: the columns of a published chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChartRow {
    /// 1 for the top song.
    pub rank: i64,
    /// The song.
    pub song_id: String,
    /// Its title.
    pub title: String,
    /// Its artist.
    pub artist: String,
    /// Valid plays after the room cap.
    pub score: i64,
    /// Valid plays.
    pub plays: i64,
    /// Venues with a valid play.
    pub venues: i64,
    /// Rooms with a valid play.
    pub rooms: i64,
    /// Its rank last month, if charted.
    pub prev_rank: Option<i64>,
    /// Its best rank up to this month.
    pub peak_rank: i64,
    /// Months charted up to this one.
    pub months_on_chart: i64,
    /// `NEW`, `RE`, `UP`, `DOWN` or `SAME`.
    pub movement: &'static str,
}

/// A row of live coverage: national (with `provinces`) or of one province.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    /// `YYYY-MM`.
    pub period: String,
    /// The province (`None` for the national row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// Venues licensed by the end of the month.
    pub licensed_venues: i64,
    /// Venues connected by the end of the month.
    pub connected_venues: i64,
    /// Connected over licensed.
    pub coverage_share: Option<f64>,
    /// Provinces with a connected venue (national row only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provinces: Option<i64>,
    /// Cities with a connected venue.
    pub cities: i64,
    /// Rooms of the connected venues.
    pub rooms: i64,
    /// Venues connected during the month.
    pub new_venues: i64,
    /// Venues connected during the month before.
    pub new_venues_prev: i64,
    /// `new_venues` over `new_venues_prev`, minus 1.
    pub new_venues_growth: Option<f64>,
    /// Venues with a valid play.
    pub active_venues: i64,
    /// Rooms with a valid play.
    pub active_rooms: i64,
}

/// The songs each chart of the month to date shows, in chart order, with their
/// figures: national, and per province code.
#[derive(Debug, Default)]
struct Leaders {
    national: [Vec<(u32, Figures)>; 2],
    provinces: Vec<[Vec<(u32, Figures)>; 2]>,
}

/// Where a chart's songs are kept in [`Leaders`].
fn slot(kind: ChartKind) -> usize {
    match kind {
        ChartKind::Hot => 0,
        ChartKind::New => 1,
    }
}

/// GM-1's chart order: score, venues and rooms descending, then song id (song codes
/// are in song id order).
fn chart_order(a: &(u32, Figures), b: &(u32, Figures)) -> std::cmp::Ordering {
    let ((a, fa), (b, fb)) = (a, b);
    fb.score
        .cmp(&fa.score)
        .then(fb.venues.cmp(&fa.venues))
        .then(fb.rooms.cmp(&fa.rooms))
        .then(a.cmp(b))
}

/// The first `n` songs offered in chart order, holding at most about `2n` at a time.
struct Top {
    n: usize,
    rows: Vec<(u32, Figures)>,
}

impl Top {
    fn new(n: usize) -> Top {
        Top {
            n,
            rows: Vec::new(),
        }
    }

    fn offer(&mut self, song: u32, figures: Figures) {
        if self.n == 0 {
            return;
        }
        self.rows.push((song, figures));
        if self.rows.len() >= 2 * self.n.max(64) {
            self.rows.select_nth_unstable_by(self.n - 1, chart_order);
            self.rows.truncate(self.n);
        }
    }

    fn finish(mut self) -> Vec<(u32, Figures)> {
        self.rows.sort_unstable_by(chart_order);
        self.rows.truncate(self.n);
        self.rows
    }
}

/// The month to date at one refresh: what its charts show, with what it takes to
/// decorate them with their history.
#[derive(Debug)]
pub struct Standings {
    month: Period,
    catalogue: Arc<Catalogue>,
    history: Arc<History>,
    leaders: Leaders,
    /// Per province code: venues and rooms with a valid play.
    active: Vec<(i64, i64)>,
    events_at_several_venues: u64,
    /// A (province, song)'s figures went past what the live counts hold.
    province_overflow: bool,
}

impl Standings {
    /// Ranks a refresh's figures: the charts' songs, national and per province.
    pub(crate) fn rank(
        month: Period,
        methodology: &Methodology,
        catalogue: Arc<Catalogue>,
        history: Arc<History>,
        figures: &Snapshot<'_>,
        events_at_several_venues: u64,
    ) -> Standings {
        let n = usize::try_from(methodology.top_n).unwrap_or(0);
        let end = month.last_day();
        let window = methodology.new_song_window_days;
        let is_new: Vec<bool> = (0..catalogue.songs.len() as u32)
            .map(|s| {
                (catalogue.songs.release_date(s))
                    .is_some_and(|r| r <= end && (end - r).num_days() < window)
            })
            .collect();
        let offer = |tops: &mut [Top; 2], song: u32, f: Figures| {
            if f.score > 0 {
                tops[0].offer(song, f);
                if is_new[song as usize] {
                    tops[1].offer(song, f);
                }
            }
        };
        let mut national = [Top::new(n), Top::new(n)];
        for (song, f) in figures.songs() {
            offer(&mut national, song, f);
        }
        let mut provinces: Vec<[Top; 2]> = (0..catalogue.provinces.len())
            .map(|_| [Top::new(n), Top::new(n)])
            .collect();
        for (province, song, f) in figures.provinces() {
            offer(&mut provinces[usize::from(province)], song, f);
        }
        let finish = |[hot, new]: [Top; 2]| [hot.finish(), new.finish()];
        let mut active = figures.active().to_vec();
        active.resize(active.len().max(catalogue.provinces.len()), (0, 0));
        Standings {
            month,
            catalogue,
            history,
            leaders: Leaders {
                national: finish(national),
                provinces: provinces.into_iter().map(finish).collect(),
            },
            active,
            events_at_several_venues,
            province_overflow: figures.province_overflow(),
        }
    }

    /// The live month.
    pub fn month(&self) -> &Period {
        &self.month
    }

    /// The national chart of the month to date.
    pub fn chart(&self, kind: ChartKind) -> Vec<ChartRow> {
        self.decorate(kind, &self.leaders.national[slot(kind)], &self.history)
    }

    /// A province's chart of the month to date (the regional view), ranked with the
    /// province's history ([`History::of`] a regional engine).
    pub fn regional_chart(
        &self,
        kind: ChartKind,
        province: &str,
        history: &History,
    ) -> Result<Vec<ChartRow>> {
        let index = self.province(province)?;
        if self.events_at_several_venues > 0 {
            return Err(live_error(format!(
                "{} events of {} were sent from more than one venue: a province's chart \
                 counts each copy in its province, which the live counts do not keep; \
                 ask `chart-job sql` for hot_chart('{}', N, '{province}')",
                self.events_at_several_venues, self.month, self.month
            )));
        }
        if self.province_overflow {
            return Err(live_error(format!(
                "a song's plays in a province in {} went past 4,294,967,295, more than the \
                 live counts hold; ask `chart-job sql` for hot_chart('{}', N, '{province}')",
                self.month, self.month
            )));
        }
        let leaders = &self.leaders.provinces[usize::from(index)][slot(kind)];
        Ok(self.decorate(kind, leaders, history))
    }

    /// Whether a province is in `venues` (else the error that says which are).
    pub fn check_province(&self, province: &str) -> Result<()> {
        self.province(province).map(|_| ())
    }

    /// A chart's rows: its songs, in order, with their history.
    fn decorate(
        &self,
        kind: ChartKind,
        leaders: &[(u32, Figures)],
        history: &History,
    ) -> Vec<ChartRow> {
        leaders
            .iter()
            .enumerate()
            .map(|(i, &(song, f))| {
                let rank = i as i64 + 1;
                let songs = &self.catalogue.songs;
                let earlier = history.songs.get(&(kind, songs.id(song).to_string()));
                let months_on_chart = earlier.map_or(0, |e| e.months) + 1;
                let prev_rank = earlier.and_then(|e| e.previous_rank);
                let movement = if months_on_chart == 1 {
                    "NEW"
                } else {
                    match prev_rank {
                        None => "RE",
                        Some(p) if rank < p => "UP",
                        Some(p) if rank > p => "DOWN",
                        Some(_) => "SAME",
                    }
                };
                ChartRow {
                    rank,
                    song_id: songs.id(song).to_string(),
                    title: songs.title(song).to_string(),
                    artist: songs.artist(song).to_string(),
                    score: f.score,
                    plays: f.plays,
                    venues: f.venues,
                    rooms: f.rooms,
                    prev_rank,
                    peak_rank: earlier.map_or(rank, |e| e.best_rank.min(rank)),
                    months_on_chart,
                    movement,
                }
            })
            .collect()
    }

    fn province(&self, name: &str) -> Result<u16> {
        self.catalogue
            .province(name)
            .ok_or_else(|| ChartError::UnknownProvince {
                province: name.to_string(),
                known: self.catalogue.provinces.join(", "),
            })
    }

    /// Coverage per province, by province: `coverage_by_province`'s rows.
    pub fn coverage_by_province(&self) -> Vec<CoverageRow> {
        let first = self.month.first_day();
        let last = self.month.last_day();
        let previous = self.month.previous();
        let (prev_first, prev_last) = (previous.first_day(), previous.last_day());
        let within = |d: Option<chrono::NaiveDate>, a, b| d.is_some_and(|d| d >= a && d <= b);
        let mut rows: Vec<(CoverageRow, BTreeSet<&str>)> = self
            .catalogue
            .provinces
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let active = self.active.get(i).copied().unwrap_or_default();
                (
                    CoverageRow {
                        period: self.month.to_string(),
                        province: Some(name.clone()),
                        licensed_venues: 0,
                        connected_venues: 0,
                        coverage_share: None,
                        provinces: None,
                        cities: 0,
                        rooms: 0,
                        new_venues: 0,
                        new_venues_prev: 0,
                        new_venues_growth: None,
                        active_venues: active.0,
                        active_rooms: active.1,
                    },
                    BTreeSet::new(),
                )
            })
            .collect();
        for venue in &self.catalogue.venues {
            let (row, cities) = &mut rows[usize::from(venue.province)];
            let connected = venue.connected_on.is_some_and(|d| d <= last);
            row.licensed_venues += i64::from(venue.licensed_since.is_some_and(|d| d <= last));
            if connected {
                row.connected_venues += 1;
                row.rooms += venue.rooms;
                cities.insert(venue.city.as_str());
            }
            row.new_venues += i64::from(within(venue.connected_on, first, last));
            row.new_venues_prev += i64::from(within(venue.connected_on, prev_first, prev_last));
        }
        rows.into_iter()
            .map(|(mut row, cities)| {
                row.cities = cities.len() as i64;
                row.coverage_share = share(row.connected_venues, row.licensed_venues);
                row.new_venues_growth = growth(row.new_venues, row.new_venues_prev);
                row
            })
            .collect()
    }

    /// National coverage (`province` `None`) or one province's.
    pub fn coverage(&self, province: Option<&str>) -> Result<CoverageRow> {
        let rows = self.coverage_by_province();
        if let Some(name) = province {
            let index = self.province(name)?;
            return Ok(rows[usize::from(index)].clone());
        }
        let mut national = CoverageRow {
            period: self.month.to_string(),
            province: None,
            licensed_venues: 0,
            connected_venues: 0,
            coverage_share: None,
            provinces: Some(0),
            cities: 0,
            rooms: 0,
            new_venues: 0,
            new_venues_prev: 0,
            new_venues_growth: None,
            active_venues: 0,
            active_rooms: 0,
        };
        for row in &rows {
            national.licensed_venues += row.licensed_venues;
            national.connected_venues += row.connected_venues;
            national.provinces = national
                .provinces
                .map(|p| p + i64::from(row.connected_venues > 0));
            national.cities += row.cities;
            national.rooms += row.rooms;
            national.new_venues += row.new_venues;
            national.new_venues_prev += row.new_venues_prev;
            national.active_venues += row.active_venues;
            national.active_rooms += row.active_rooms;
        }
        national.coverage_share = share(national.connected_venues, national.licensed_venues);
        national.new_venues_growth = growth(national.new_venues, national.new_venues_prev);
        Ok(national)
    }
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn growth(new: i64, previous: i64) -> Option<f64> {
    (previous > 0).then(|| new as f64 / previous as f64 - 1.0)
}
