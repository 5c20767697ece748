//! The month to date, counted as plays land: GM-1's charts and coverage of the plays
//! counted so far, without reading them again at each refresh.
//!
//! A [`LiveMonth`] keeps each open business day's events (`day.rs`: the copy of each
//! event GM-1 keeps, its rule, the valid events per (song, venue, room)), and folds a
//! day when it closes into per-song and per-(province, song) figures and the sorted
//! set of (song, venue, room) keys played (`month.rs`), so that memory holds the open
//! days' events and the month's keys, not its plays. [`LiveMonth::standings`] adds the
//! open days to the folded ones without copying those, keeps each chart's songs, and
//! decorates them on request with the earlier months' history, which the engine
//! computes once (`standings.rs`).
//!
//! The figures equal those `publish --month` computes from the same plays, with two
//! limits the caller handles: a play for a day already closed is not counted but
//! reported ([`Counted::late_days`]: build the month again), and events are
//! deduplicated within their business day (copies of one event id in two business
//! days count in each). A province's chart is the national count restricted to its
//! venues, which is the regional view's unless an event was sent from venues in two
//! provinces; such events are counted and a province's chart then refused.

mod catalogue;
mod day;
mod keys;
mod month;
mod standings;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMillisecondType};
use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::error::DataFusionError;
use futures::StreamExt;

pub use month::LiveMemory;
pub use standings::{ChartRow, CoverageRow, History, Standings};

use crate::error::{ChartError, Result};
use crate::methodology::functions::{BusinessDays, business_day_of};
use crate::methodology::{Methodology, Period, PeriodKind};
use crate::results::GoldenMic;
use catalogue::Catalogue;
use day::PlayRow;
use month::MonthCounts;

/// A live month error.
fn live_error(problem: impl Into<String>) -> ChartError {
    ChartError::Live(problem.into())
}

/// What counting a batch of plays did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// Rows counted.
    pub rows: u64,
    /// Closed days of the live month that rows were for (not counted).
    pub late_days: BTreeSet<NaiveDate>,
    /// Rows for a month before the live one (not counted; the history changes).
    pub earlier_month: u64,
    /// Rows for a month after the live one (not counted).
    pub later_month: u64,
}

/// The month to date.
#[derive(Debug)]
pub struct LiveMonth {
    month: Period,
    methodology: Methodology,
    tz: Tz,
    catalogue: Arc<Catalogue>,
    counts: MonthCounts,
    history: Arc<History>,
    /// Events sent from more than one venue, on closed days.
    closed_events_at_several_venues: u64,
    latest_play_ms: Option<i64>,
}

impl LiveMonth {
    /// The month to date from `engine`'s files: its songs and venues, the earlier
    /// months' charts, and the month's plays, with the days before `closed_before`
    /// closed.
    pub async fn open(
        engine: &GoldenMic,
        month: Period,
        closed_before: NaiveDate,
    ) -> Result<LiveMonth> {
        let mut live = LiveMonth::start(engine, month).await?;
        let days: Vec<NaiveDate> = engine
            .data()
            .map(|data| {
                data.play_days()
                    .keys()
                    .copied()
                    .filter(|d| Period::containing(PeriodKind::Month, *d) == month)
                    .collect()
            })
            .unwrap_or_default();
        let (first, last) = (month.first_day(), month.last_day());
        // Plays filed in another day's partition count by their business day: they are
        // counted first, so that no day closes before all of its plays are in.
        // (Their started_at is set: the partition is not used.)
        let mut misfiled = engine
            .context()
            .sql(&format!(
                "SELECT event_id, venue_id, room_id, song_id, started_at, played_ms \
                 FROM plays WHERE business_day(started_at) BETWEEN DATE '{first}' AND DATE '{last}' \
                 AND business_day(started_at) <> date"
            ))
            .await?
            .execute_stream()
            .await?;
        while let Some(batch) = misfiled.next().await {
            live.count(&batch?, first)?;
        }
        for day in days {
            // Streamed: a day's plays are never all in memory.
            let mut batches = engine
                .context()
                .sql(&format!(
                    "SELECT event_id, venue_id, room_id, song_id, started_at, played_ms \
                     FROM plays WHERE date = DATE '{day}' \
                     AND (started_at IS NULL OR business_day(started_at) = date)"
                ))
                .await?
                .execute_stream()
                .await?;
            while let Some(batch) = batches.next().await {
                let counted = live.count(&batch?, day)?;
                debug_assert!(counted.late_days.is_empty());
            }
            live.close_before(closed_before.min(day));
        }
        live.close_before(closed_before);
        Ok(live)
    }

    /// The month with no play counted yet: `engine`'s songs and venues and the
    /// earlier months' charts.
    pub async fn start(engine: &GoldenMic, month: Period) -> Result<LiveMonth> {
        if month.kind() != PeriodKind::Month {
            return Err(ChartError::InvalidPeriod(month.to_string()));
        }
        let methodology = engine.methodology().clone();
        let tz = methodology.validate()?;
        let catalogue = Arc::new(Catalogue::load(engine.context()).await?);
        let history = Arc::new(History::before(engine, &month).await?);
        Ok(LiveMonth {
            month,
            methodology,
            tz,
            catalogue,
            counts: MonthCounts::default(),
            history,
            closed_events_at_several_venues: 0,
            latest_play_ms: None,
        })
    }

    /// [`LiveMonth::open`] with the days closed that are over by `grace` at the
    /// month's latest play in the files (event time, so that a month replayed in
    /// accelerated time closes its days as it goes).
    pub async fn open_with_grace(
        engine: &GoldenMic,
        month: Period,
        grace: std::time::Duration,
    ) -> Result<LiveMonth> {
        let (first, last) = (month.first_day(), month.last_day());
        let latest = engine
            .context()
            .sql(&format!(
                "SELECT CAST(MAX(started_at) AS BIGINT) AS latest FROM plays \
                 WHERE business_day(started_at) BETWEEN DATE '{first}' AND DATE '{last}'"
            ))
            .await?
            .collect()
            .await?;
        let latest = latest
            .first()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let column = cast(b.column(0), &DataType::Int64).map_err(DataFusionError::from)?;
                let column = column.as_primitive::<arrow::datatypes::Int64Type>();
                Ok::<_, ChartError>(column.is_valid(0).then(|| column.value(0)))
            })
            .transpose()?
            .flatten();
        let tz = engine.methodology().validate()?;
        let closed_before = match latest {
            Some(latest) => closing_day(engine.methodology(), &tz, latest, grace),
            None => first,
        };
        LiveMonth::open(engine, month, closed_before).await
    }

    /// Closes the days that are over by `grace` at the latest play counted.
    pub fn close_with_grace(&mut self, grace: std::time::Duration) -> Vec<NaiveDate> {
        match self.latest_play_ms {
            Some(latest) => {
                let day = closing_day(&self.methodology, &self.tz, latest, grace);
                self.close_before(day)
            }
            None => Vec::new(),
        }
    }

    /// The live month.
    pub fn month(&self) -> &Period {
        &self.month
    }

    /// The latest `started_at` counted.
    pub fn latest_play_ms(&self) -> Option<i64> {
        self.latest_play_ms
    }

    /// The closed days.
    pub fn closed_days(&self) -> &[NaiveDate] {
        self.counts.closed_days()
    }

    /// About the bytes the month's counts hold on the heap, by part.
    pub fn memory(&self) -> LiveMemory {
        self.counts.memory()
    }

    /// The open days with plays.
    pub fn open_days(&self) -> Vec<NaiveDate> {
        self.counts.open_days().collect()
    }

    /// Counts a batch of plays (the contract's columns) from partition `partition`.
    pub fn count(&mut self, batch: &RecordBatch, partition: NaiveDate) -> Result<Counted> {
        let text = |name: &str| -> Result<arrow::array::ArrayRef> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| live_error(format!("a batch of plays without {name}")))?;
            Ok(cast(column, &DataType::Utf8).map_err(DataFusionError::from)?)
        };
        let (events, venues, rooms, songs) = (
            text("event_id")?,
            text("venue_id")?,
            text("room_id")?,
            text("song_id")?,
        );
        let (events, venues, rooms, songs) = (
            events.as_string::<i32>(),
            venues.as_string::<i32>(),
            rooms.as_string::<i32>(),
            songs.as_string::<i32>(),
        );
        let started = batch
            .column_by_name("started_at")
            .ok_or_else(|| live_error("a batch of plays without started_at"))?;
        let started = cast(
            started,
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )
        .map_err(DataFusionError::from)?;
        let started = started.as_primitive::<TimestampMillisecondType>();
        let played = batch
            .column_by_name("played_ms")
            .ok_or_else(|| live_error("a batch of plays without played_ms"))?;
        let played = cast(played, &DataType::Int32).map_err(DataFusionError::from)?;
        let played = played.as_primitive::<Int32Type>();
        let day_start_ms = i64::from(self.methodology.day_start_minutes) * 60_000;
        let mut business_days = BusinessDays::new(&self.tz, day_start_ms);
        let mut counted = Counted::default();
        for i in 0..batch.num_rows() {
            let started_at = started.is_valid(i).then(|| started.value(i));
            let day = started_at
                .and_then(|t| business_days.date_of(t))
                .unwrap_or(partition);
            let period = Period::containing(PeriodKind::Month, day);
            if period != self.month {
                if period < self.month {
                    counted.earlier_month += 1;
                } else {
                    counted.later_month += 1;
                }
                continue;
            }
            if self.counts.is_closed(day) {
                counted.late_days.insert(day);
                continue;
            }
            let play = PlayRow {
                event_id: option(events, i),
                venue_id: option(venues, i),
                room_id: option(rooms, i),
                song_id: option(songs, i),
                started_at,
                played_ms: played.is_valid(i).then(|| played.value(i)),
            };
            self.counts
                .add(day, play, &self.catalogue, self.methodology.min_played_ms)?;
            counted.rows += 1;
            if let Some(t) = started_at {
                self.latest_play_ms = Some(self.latest_play_ms.map_or(t, |l| l.max(t)));
            }
        }
        Ok(counted)
    }

    /// Closes every day of the month before `day` (folding those with plays) and
    /// returns the days closed now.
    pub fn close_before(&mut self, day: NaiveDate) -> Vec<NaiveDate> {
        let mut closed = Vec::new();
        let mut d = self.month.first_day();
        while d < day && d <= self.month.last_day() {
            if !self.counts.is_closed(d) {
                self.closed_events_at_several_venues +=
                    self.counts
                        .close(d, &self.catalogue, self.methodology.room_cap);
                closed.push(d);
            }
            d = d.succ_opt().expect("within chrono's range");
        }
        closed
    }

    /// The month's figures now, ranked.
    pub fn standings(&self) -> Standings {
        let figures = self
            .counts
            .snapshot(&self.catalogue, self.methodology.room_cap);
        Standings::rank(
            self.month,
            &self.methodology,
            self.catalogue.clone(),
            self.history.clone(),
            &figures,
            self.closed_events_at_several_venues + self.counts.events_at_several_venues(),
        )
    }
}

/// The first business day not over by `grace` at `latest_ms`.
fn closing_day(
    methodology: &Methodology,
    tz: &Tz,
    latest_ms: i64,
    grace: std::time::Duration,
) -> NaiveDate {
    let day_start_ms = i64::from(methodology.day_start_minutes) * 60_000;
    let at = latest_ms.saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
    business_day_of(tz, day_start_ms, at).unwrap_or(NaiveDate::MIN)
}

/// A value of a string column, `None` for NULL.
fn option(array: &arrow::array::StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i))
}
