//! Day close: once a business day is over (its end plus a grace for late plays), its
//! landed files are compacted into a few files sorted by venue, room and start time
//! (`chart_core::contract::compaction`), and, with a digest location, the day's
//! digest is computed and kept, so that `publish --day-digests` of the month reads
//! digests instead of plays.
//!
//! A pass runs at start (finishing what a crash interrupted) and then at a fixed
//! interval. It looks at the days this receiver landed plays in (at start, and every
//! 60th pass, at every day of the data root: other receivers land there too), takes
//! those over, skips the days whose counted files it has seen since its last close,
//! and for the others removes what earlier compactions left behind once the
//! retention has passed, compacts when worth it, and keeps the digest. Late plays for a closed day land as new
//! files: the next pass digests the day again (its files changed, so its digest key
//! did), and compacts it again once enough of them have landed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chart_core::contract::compaction::{
    CompactionMarker, CompactionOptions, Removal, compact_day, counted_day_files, remove_replaced,
};
use chart_core::engine::session_builder;
use chart_core::{DataRoot, GoldenMic, Location, Methodology};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;

use crate::clock::now_ms;
use crate::error::Result;
use crate::landing::BusinessDay;

/// How days are closed.
#[derive(Debug, Clone)]
pub struct DayClose {
    /// How long after a business day's end its late plays are waited for.
    pub grace: Duration,
    /// How often the service looks for days to close.
    pub every: Duration,
    /// How long files replaced by a compaction stay (for readers that listed them).
    pub retain: Duration,
    /// Where day digests are kept; `None`: days are compacted, not digested.
    pub digests: Option<Location>,
    /// How days are compacted.
    pub compaction: CompactionOptions,
}

impl Default for DayClose {
    fn default() -> Self {
        DayClose {
            grace: Duration::from_secs(3600),
            every: Duration::from_secs(60),
            retain: Duration::from_secs(600),
            digests: None,
            compaction: CompactionOptions::default(),
        }
    }
}

/// What day closes did, for `/metrics`.
#[derive(Debug, Default)]
pub struct DayCloseCounts {
    /// Days compacted.
    pub compacted: AtomicU64,
    /// Day digests computed (not found kept).
    pub digested: AtomicU64,
    /// Files removed after their compaction's retention.
    pub removed_files: AtomicU64,
    /// Passes that finished.
    pub passes: AtomicU64,
    /// Passes that failed (retried at the next pass).
    pub failures: AtomicU64,
    /// Duration of the last day's close, microseconds.
    pub last_close_micros: AtomicU64,
    /// The last day closed, as days since 1970-01-01 (0: none yet).
    pub last_day: AtomicU64,
}

/// The business days plays landed in since the closer last looked.
#[derive(Debug, Default)]
pub struct LandedDays(Mutex<BTreeSet<NaiveDate>>);

impl LandedDays {
    /// Notes days that got plays.
    pub fn mark(&self, days: &[NaiveDate]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(days.iter().copied());
    }

    fn take(&self) -> BTreeSet<NaiveDate> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The thread that closes days, and how to stop it.
pub(crate) struct Closing {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Closing {
    /// Starts closing days on a thread of its own (a one-thread runtime), so that a
    /// compaction never takes the request handlers' threads.
    pub(crate) fn start(closer: Closer) -> std::io::Result<Closing> {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("day-close".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!(%error, "cannot start the day close runtime");
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::select! {
                        () = close_days_forever(closer) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Closing { stop, thread })
    }

    /// Stops closing days (a close cut short is finished by the next start, as the
    /// compaction protocol allows) and waits for the thread.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Every this many passes, a pass looks at every day of the data root, not only the
/// days this receiver landed plays in (hourly at the default interval).
const FULL_SCAN_EVERY: u64 = 60;

/// Closes days: one pass now, then one every `close.every`, forever.
async fn close_days_forever(mut closer: Closer) {
    let mut ticks = tokio::time::interval(closer.close.every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut passes: u64 = 0;
    loop {
        ticks.tick().await;
        passes += 1;
        if passes.is_multiple_of(FULL_SCAN_EVERY) {
            // Days another receiver landed into the same root are found this way.
            closer.full_scan = true;
        }
        match closer.pass().await {
            Ok(()) => {
                closer.counts.passes.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                // Days taken for this pass may not be closed: look at every day next time.
                closer.full_scan = true;
                closer.counts.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "closing days failed; trying again at the next pass");
            }
        }
    }
}

/// What closes the days of one data root, and what it remembers between passes.
pub(crate) struct Closer {
    root: Location,
    days: BusinessDay,
    methodology: Methodology,
    close: DayClose,
    counts: Arc<DayCloseCounts>,
    /// Days the lander put plays in.
    landed: Arc<LandedDays>,
    /// Look at every day of the data root (at start, and after a failed pass).
    full_scan: bool,
    /// Days that got plays and are not over yet.
    waiting: BTreeSet<NaiveDate>,
    /// Days compacted whose replaced files may not be removed yet.
    removal_pending: BTreeSet<NaiveDate>,
    /// The counted files of each day at its last close.
    seen: BTreeMap<NaiveDate, Vec<String>>,
}

impl Closer {
    /// A closer that starts with a look at every day of `root`.
    pub(crate) fn new(
        root: Location,
        days: BusinessDay,
        methodology: Methodology,
        close: DayClose,
        counts: Arc<DayCloseCounts>,
        landed: Arc<LandedDays>,
    ) -> Closer {
        Closer {
            root,
            days,
            methodology,
            close,
            counts,
            landed,
            full_scan: true,
            waiting: BTreeSet::new(),
            removal_pending: BTreeSet::new(),
            seen: BTreeMap::new(),
        }
    }

    /// The days to look at: after a full scan, every day of the data root; then the
    /// days plays landed in. Returns those over (end + grace); the others wait.
    async fn due(&mut self) -> Result<Vec<NaiveDate>> {
        if self.full_scan {
            let directories = self.root.join("plays").directories().await?;
            let all: Vec<NaiveDate> = directories
                .iter()
                .filter_map(|d| d.strip_prefix("date="))
                .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .collect();
            self.removal_pending.extend(all.iter().copied());
            self.waiting.extend(all);
            self.full_scan = false;
        }
        self.waiting.extend(self.landed.take());
        let open = self.days.of(now_ms() - self.close.grace.as_millis() as i64);
        let later = self.waiting.split_off(&open);
        let due = std::mem::replace(&mut self.waiting, later);
        Ok(due.into_iter().collect())
    }

    async fn pass(&mut self) -> Result<()> {
        let retain = retention(&self.close);
        for day in std::mem::take(&mut self.removal_pending) {
            let removal = remove_replaced(&self.root, day, chrono::Utc::now(), retain).await?;
            self.counts
                .removed_files
                .fetch_add(removal.removed.len() as u64, Ordering::Relaxed);
            if !removal.retained.is_empty() {
                self.removal_pending.insert(day);
            }
        }
        for day in self.due().await? {
            let files = counted_day_files(&self.root, day).await?;
            if files.is_empty() || self.seen.get(&day) == Some(&files) {
                continue;
            }
            let closed = close_day(&self.root, day, &self.methodology, &self.close).await?;
            if closed.compacted.is_some() {
                self.counts.compacted.fetch_add(1, Ordering::Relaxed);
            }
            if closed.compacted.is_some() || !closed.removal.retained.is_empty() {
                self.removal_pending.insert(day);
            }
            self.counts
                .removed_files
                .fetch_add(closed.removal.removed.len() as u64, Ordering::Relaxed);
            self.counts
                .digested
                .fetch_add(closed.digests_computed as u64, Ordering::Relaxed);
            self.counts
                .last_close_micros
                .store(closed.took.as_micros() as u64, Ordering::Relaxed);
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
            self.counts
                .last_day
                .store((day - epoch).num_days().max(0) as u64, Ordering::Relaxed);
            self.seen.insert(day, closed.files);
            crate::heap::give_back_freed_memory();
        }
        Ok(())
    }
}

fn retention(close: &DayClose) -> chrono::Duration {
    chrono::Duration::from_std(close.retain).unwrap_or(chrono::Duration::MAX)
}

/// What closing one day did.
#[derive(Debug, Clone)]
pub struct DayClosed {
    /// The compaction committed, when the day was compacted.
    pub compacted: Option<CompactionMarker>,
    /// Files of earlier compactions removed, and those still retained.
    pub removal: Removal,
    /// Day digests computed (0 when found kept, or without a digest location).
    pub digests_computed: usize,
    /// The day's counted files after the close.
    pub files: Vec<String>,
    /// How long it took.
    pub took: Duration,
}

/// Closes one day of `root`: removes what earlier compactions replaced once past
/// the retention, compacts the day when worth it, and keeps its digest when
/// `close.digests` is set. Safe to run again, and after a crash at any point.
pub async fn close_day(
    root: &Location,
    day: NaiveDate,
    methodology: &Methodology,
    close: &DayClose,
) -> Result<DayClosed> {
    let started = Instant::now();
    let removal = remove_replaced(root, day, chrono::Utc::now(), retention(close)).await?;
    let compacted = compact_day(root, day, &close.compaction).await?;
    let mut digests_computed = 0;
    if let Some(digests) = &close.digests {
        // The sort's memory goes back before the digest takes its own.
        crate::heap::give_back_freed_memory();
        let data = DataRoot::open_days(root, &[day]).await?;
        let engine = GoldenMic::attach(
            SessionContext::new_with_state(session_builder().build()),
            data.tables()?,
            methodology.clone(),
        )
        .await?
        .with_day_digests(Some(digests.clone()));
        digests_computed = engine.keep_day_digests().await?.computed;
    }
    let took = started.elapsed();
    tracing::info!(%day, compacted = compacted.is_some(), digests_computed, ?took, "day closed");
    Ok(DayClosed {
        compacted,
        removal,
        digests_computed,
        files: counted_day_files(root, day).await?,
        took,
    })
}
