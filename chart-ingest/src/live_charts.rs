//! The live charts: the month to date (`chart_core::live`) fed by the lander with the
//! plays of every file it lands, refreshed at an interval and published, after an
//! optional delay, to the chart routes (`chart_routes.rs`).
//!
//! The month is the month of the latest play landed (at start: in the data root), and
//! days close by event time: once the latest play counted is `grace` past a day's end.
//! A play the month cannot count incrementally (for a day already closed, or for an
//! earlier month, whose charts are this month's history) has landed in a file all the
//! same: the month is then built again from the data root's files, as at start. The
//! lander hands files over and returns; this module's thread counts them. While a build
//! runs, landed files wait; those the build's listing already holds are not counted
//! twice.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chart_core::live::{History, LiveMonth, Standings};
use chart_core::{GoldenMic, Location, Methodology, Period, PeriodKind};
use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::clock::now_ms;
use crate::landing::{BusinessDay, LandedPlays};

/// How the live charts run.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// How often the figures are refreshed (when plays were counted since).
    pub refresh: Duration,
    /// How long a refresh waits before it is served (a public chart's delay).
    pub delay: Duration,
    /// How long after a business day's end (in event time) its late plays are waited
    /// for before it closes.
    pub grace: Duration,
    /// Where day digests are kept, for the history's computation.
    pub digests: Option<Location>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            refresh: Duration::from_secs(10),
            delay: Duration::ZERO,
            grace: Duration::from_secs(3600),
            digests: None,
        }
    }
}

/// What the live charts did, for `/metrics`.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// Play rows counted into the month.
    pub counted_rows: AtomicU64,
    /// Landed files counted.
    pub counted_files: AtomicU64,
    /// Rows that made the month build again (late for a closed day, earlier month).
    pub rows_rebuilding: AtomicU64,
    /// Builds of the month from the files (the first included).
    pub builds: AtomicU64,
    /// Builds that failed (retried).
    pub build_failures: AtomicU64,
    /// Refreshes.
    pub refreshes: AtomicU64,
    /// The last refresh, microseconds.
    pub last_refresh_micros: AtomicU64,
    /// The last build, microseconds.
    pub last_build_micros: AtomicU64,
    /// 1 while the month is being built.
    pub building: AtomicU64,
    /// 1 while plays counted (or files waiting for a build) are not in the refresh served.
    pub unpublished: AtomicU64,
    /// About the bytes the month holds on the heap at the last refresh: open days,
    /// the closed days' keys, and their figures.
    pub heap_open_days: AtomicU64,
    pub heap_month_keys: AtomicU64,
    pub heap_month_figures: AtomicU64,
}

/// What a published refresh counted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AsOf {
    /// The latest `started_at` counted (RFC 3339, UTC).
    pub latest_play: Option<String>,
    /// The last landed file counted.
    pub last_file: Option<String>,
    /// Landed files counted since the month was built, and the files the build read.
    pub files_counted: u64,
    /// When the figures were computed (RFC 3339, UTC).
    pub refreshed_at: String,
    /// The refresh's number (increasing).
    pub refresh: u64,
}

/// One refresh of the month to date.
#[derive(Debug)]
pub struct Snapshot {
    /// The figures.
    pub standings: Standings,
    /// What they count.
    pub as_of: AsOf,
    ready_at: Instant,
}

/// The month, and what waits for it.
#[derive(Default)]
struct State {
    month: Option<LiveMonth>,
    /// The month to build next, and whether a build is wanted.
    wanted: Option<Period>,
    rebuild: bool,
    /// The play files the last build read (never counted again).
    listed: HashSet<String>,
    changes: u64,
    files: u64,
    last_file: Option<String>,
    error: Option<String>,
}

/// The live charts shared by the lander, the refresher and the routes.
pub struct LiveCharts {
    pub(crate) options: LiveOptions,
    data: Location,
    methodology: Methodology,
    days: BusinessDay,
    state: Mutex<State>,
    /// Files landed and not yet counted.
    incoming: Mutex<Vec<LandedPlays>>,
    wake: Notify,
    published: watch::Sender<Option<Arc<Snapshot>>>,
    /// True once the service stops: event streams end.
    closing: watch::Sender<bool>,
    regional: tokio::sync::Mutex<BTreeMap<(Period, String), Arc<History>>>,
    /// What the live charts did.
    pub counts: Arc<LiveCounts>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl LiveCharts {
    /// Live charts over `data`, not yet built: [`LiveCharts::run`] builds and refreshes.
    pub fn new(
        data: Location,
        methodology: Methodology,
        days: BusinessDay,
        options: LiveOptions,
        counts: Arc<LiveCounts>,
    ) -> Arc<LiveCharts> {
        Arc::new(LiveCharts {
            options,
            data,
            methodology,
            days,
            state: Mutex::new(State {
                rebuild: true,
                ..State::default()
            }),
            incoming: Mutex::new(Vec::new()),
            wake: Notify::new(),
            published: watch::channel(None).0,
            closing: watch::channel(false).0,
            regional: tokio::sync::Mutex::new(BTreeMap::new()),
            counts,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The refresh being served, if any.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.published.borrow().clone()
    }

    /// Every refresh served from now on.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.published.subscribe()
    }

    /// Ends the event streams (the service stops: requests in flight are waited for).
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Flips to true when the event streams should end.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Why the month could not be built, if it could not (retried).
    pub fn error(&self) -> Option<String> {
        self.state().error.clone()
    }

    /// The methodology of the charts.
    pub fn methodology(&self) -> &Methodology {
        &self.methodology
    }

    /// Hands the play files of a landed segment to the live month (counted on its
    /// thread, so that landing never waits for counting).
    pub fn land(&self, files: &[LandedPlays]) {
        if files.is_empty() {
            return;
        }
        self.counts.unpublished.store(1, Ordering::Relaxed);
        self.incoming
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(files.iter().cloned());
        self.wake.notify_one();
    }

    fn take_incoming(&self) -> Vec<LandedPlays> {
        std::mem::take(&mut *self.incoming.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn count(&self, state: &mut State, files: &[LandedPlays]) {
        let Some(month) = state.month.as_mut() else {
            return;
        };
        let mut rebuild = None;
        for file in files {
            if state.listed.contains(&file.path) {
                continue;
            }
            match month.count(&file.batch, file.day) {
                Ok(counted) => {
                    self.counts
                        .counted_rows
                        .fetch_add(counted.rows, Ordering::Relaxed);
                    let late = file.batch.num_rows() as u64 - counted.rows - counted.later_month;
                    if late > 0 {
                        self.counts
                            .rows_rebuilding
                            .fetch_add(late, Ordering::Relaxed);
                        tracing::info!(file = %file.path, rows = late, days = ?counted.late_days,
                            "plays for a closed day or an earlier month: the month is built again");
                        rebuild.get_or_insert(*month.month());
                    }
                    if counted.later_month > 0 {
                        let later = Period::containing(
                            PeriodKind::Month,
                            later_day(&file.batch, &self.days, month.month()),
                        );
                        tracing::info!(file = %file.path, month = %later, "plays of a later month: the live month moves on");
                        rebuild = Some(later);
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %file.path, error = %e, "the live month cannot count a file: built again");
                    rebuild.get_or_insert(*month.month());
                }
            }
            state.files += 1;
            state.last_file = Some(file.path.clone());
            self.counts.counted_files.fetch_add(1, Ordering::Relaxed);
        }
        if !month.close_with_grace(self.options.grace).is_empty() {
            crate::heap::give_back_freed_memory();
        }
        state.changes += 1;
        if let Some(period) = rebuild {
            state.wanted = Some(period.max(state.wanted.unwrap_or(period)));
            state.rebuild = true;
            self.wake.notify_one();
        }
    }

    /// [`LiveCharts::run`] on a thread of its own (building the month is a long
    /// computation, kept off the threads that answer requests).
    pub fn start(
        self: Arc<LiveCharts>,
        stop: Arc<Notify>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("live-charts".into())
            .spawn(move || runtime.block_on(self.run(stop)))
    }

    /// Builds the month, then refreshes at the interval and builds again when asked,
    /// until `stop` is notified.
    pub async fn run(self: Arc<LiveCharts>, stop: Arc<Notify>) {
        let mut refreshed_changes = u64::MAX;
        let mut last_refresh: Option<Instant> = None;
        let mut pending: VecDeque<Arc<Snapshot>> = VecDeque::new();
        let mut refresh = 0u64;
        let mut pause = Duration::from_millis(500);
        loop {
            let wanted = {
                let mut state = self.state();
                state.rebuild.then(|| {
                    state.rebuild = false;
                    state.wanted
                })
            };
            if let Some(wanted) = wanted {
                self.counts.building.store(1, Ordering::Relaxed);
                let built = self.build(wanted).await;
                self.counts.building.store(0, Ordering::Relaxed);
                match built {
                    Ok(()) => pause = Duration::from_millis(500),
                    Err(e) => {
                        self.counts.build_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, retry_in = ?pause, "building the live month failed");
                        {
                            let mut state = self.state();
                            state.error = Some(e.to_string());
                            state.rebuild = true;
                        }
                        if wait(pause, Some(&self.wake), &stop).await {
                            return;
                        }
                        // Files that landed meanwhile are read by the next build; a
                        // data root that had no plays yet has some now: try at once.
                        if !self.take_incoming().is_empty() {
                            pause = Duration::from_millis(500);
                        } else {
                            pause = (pause * 2).min(Duration::from_secs(60));
                        }
                        continue;
                    }
                }
            }
            let landed = self.take_incoming();
            if !landed.is_empty() {
                let mut state = self.state();
                self.count(&mut state, &landed);
            }
            let changed = {
                let state = self.state();
                (state.changes != refreshed_changes && state.month.is_some())
                    .then_some(state.changes)
            };
            let due = last_refresh.is_none_or(|t| t.elapsed() >= self.options.refresh);
            if let Some(changes) = changed.filter(|_| due) {
                refresh += 1;
                if let Some(snapshot) = self.refresh(refresh) {
                    pending.push_back(Arc::new(snapshot));
                }
                refreshed_changes = changes;
                last_refresh = Some(Instant::now());
            }
            let mut newest_ready = None;
            while pending
                .front()
                .is_some_and(|s| s.ready_at <= Instant::now())
            {
                newest_ready = pending.pop_front();
            }
            if let Some(snapshot) = newest_ready {
                self.published.send_replace(Some(snapshot));
            }
            let unrefreshed = {
                let state = self.state();
                let incoming = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
                let served = pending.is_empty()
                    && !state.rebuild
                    && incoming.is_empty()
                    && state.changes == refreshed_changes;
                self.counts
                    .unpublished
                    .store(u64::from(!served), Ordering::Relaxed);
                state.changes != refreshed_changes
            };
            let until_refresh = match (unrefreshed, last_refresh) {
                (true, Some(t)) => self.options.refresh.saturating_sub(t.elapsed()),
                _ => self.options.refresh,
            };
            let until_ready = pending
                .front()
                .map(|s| s.ready_at.saturating_duration_since(Instant::now()));
            let sleep = until_ready.map_or(until_refresh, |d| d.min(until_refresh));
            if wait(sleep, Some(&self.wake), &stop).await {
                return;
            }
        }
    }

    /// Computes the figures now.
    fn refresh(&self, refresh: u64) -> Option<Snapshot> {
        let started = Instant::now();
        let state = self.state();
        let month = state.month.as_ref()?;
        let standings = month.standings();
        let memory = month.memory();
        let as_of = AsOf {
            latest_play: month.latest_play_ms().map(rfc3339),
            last_file: state.last_file.clone(),
            files_counted: state.files,
            refreshed_at: rfc3339(now_ms()),
            refresh,
        };
        drop(state);
        let took = started.elapsed();
        self.counts.refreshes.fetch_add(1, Ordering::Relaxed);
        for (gauge, bytes) in [
            (&self.counts.heap_open_days, memory.open_days),
            (&self.counts.heap_month_keys, memory.month_keys),
            (&self.counts.heap_month_figures, memory.month_figures),
        ] {
            gauge.store(bytes as u64, Ordering::Relaxed);
        }
        self.counts
            .last_refresh_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
        tracing::debug!(?took, refresh, "refreshed the live month");
        Some(Snapshot {
            standings,
            as_of,
            ready_at: started + self.options.delay,
        })
    }

    /// Builds `wanted` (or the month of the data root's latest play) from the files,
    /// then counts the files that landed meanwhile and are not in its listing.
    async fn build(&self, wanted: Option<Period>) -> chart_core::Result<()> {
        let started = Instant::now();
        // The month being replaced goes first, so that two are never held at once; its
        // last refresh is still served, and files landing meanwhile wait for the build.
        self.state().month = None;
        crate::heap::give_back_freed_memory();
        let mut engine = GoldenMic::open_location(&self.data, self.methodology.clone()).await?;
        if let Some(digests) = &self.options.digests {
            engine = engine.with_day_digests(Some(digests.clone()));
        }
        let listed: HashSet<String> = engine
            .data()
            .map(|d| d.files().iter().map(|f| f.path.clone()).collect())
            .unwrap_or_default();
        let month = match wanted {
            Some(month) => month,
            None => {
                let latest_day = engine
                    .data()
                    .and_then(|d| d.play_days().keys().next_back().copied())
                    .unwrap_or_else(|| self.days.of(now_ms()));
                Period::containing(PeriodKind::Month, latest_day)
            }
        };
        let live = LiveMonth::open_with_grace(&engine, month, self.options.grace).await?;
        let files = listed.iter().filter(|p| p.starts_with("plays/")).count() as u64;
        // Files landed meanwhile: those in the listing were read (and are skipped by
        // `count`, also when they are handed over later), the others are counted now.
        let landed = self.take_incoming();
        let mut state = self.state();
        state.listed = listed;
        state.month = Some(live);
        state.error = None;
        state.files = files;
        self.count(&mut state, &landed);
        state.changes += 1;
        drop(state);
        let took = started.elapsed();
        self.counts.builds.fetch_add(1, Ordering::Relaxed);
        self.counts
            .last_build_micros
            .store(took.as_micros() as u64, Ordering::Relaxed);
        tracing::info!(%month, ?took, "built the live month from the data root");
        Ok(())
    }

    /// A province's history for `month`, computed once per month.
    pub async fn regional_history(
        &self,
        month: &Period,
        province: &str,
    ) -> chart_core::Result<Arc<History>> {
        let mut cache = self.regional.lock().await;
        cache.retain(|(m, _), _| m == month);
        if let Some(history) = cache.get(&(*month, province.to_string())) {
            return Ok(history.clone());
        }
        let engine = GoldenMic::open_location(&self.data, self.methodology.clone()).await?;
        let history = Arc::new(History::of_province(&engine, province, month).await?);
        cache.insert((*month, province.to_string()), history.clone());
        Ok(history)
    }
}

/// Sleeps for `pause` or until woken; true when `stop` was notified.
async fn wait(pause: Duration, wake: Option<&Notify>, stop: &Notify) -> bool {
    let woken = async {
        match wake {
            Some(wake) => wake.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(pause) => false,
        _ = woken => false,
        _ = stop.notified() => true,
    }
}

/// The business day of the first play of `batch` after `month`.
fn later_day(
    batch: &arrow::array::RecordBatch,
    days: &BusinessDay,
    month: &Period,
) -> chrono::NaiveDate {
    use arrow::array::{Array, AsArray};
    let after = month.last_day();
    batch
        .column_by_name("started_at")
        .and_then(|c| {
            arrow::compute::cast(
                c,
                &arrow::datatypes::DataType::Timestamp(
                    arrow::datatypes::TimeUnit::Millisecond,
                    Some("UTC".into()),
                ),
            )
            .ok()
        })
        .and_then(|c| {
            let c = c.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            (0..c.len())
                .filter(|&i| c.is_valid(i))
                .map(|i| days.of(c.value(i)))
                .filter(|d| *d > after)
                .min()
        })
        .unwrap_or(after)
}
