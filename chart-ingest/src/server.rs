//! Running the service: recover the log, start the writer and the lander, serve HTTP
//! until shutdown, then land everything and return.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chart_core::{Location, Methodology};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::connections::serve_connections;
use crate::day_close::{Closer, Closing, DayClose, LandedDays};
use crate::error::{IngestError, Result};
use crate::idempotency::{Keys, KeysLog};
use crate::landing::{BusinessDay, Lander, delete_segment};
use crate::live_charts::{LiveCharts, LiveOptions};
use crate::live_pages::PageFile;
use crate::metrics::Metrics;
use crate::state::{Limits, Service};
use crate::tls::{TlsFiles, TlsListener};
use crate::vendors::Vendors;
use crate::wal::{self, SealPolicy, Sealed, Wal};

/// Everything the service needs.
pub struct IngestOptions {
    /// The data root plays land in.
    pub data: Location,
    /// The local directory of the write-ahead log.
    pub wal_dir: PathBuf,
    /// Who may send.
    pub vendors: Vendors,
    /// The methodology (time zone and day start of the business day).
    pub methodology: Methodology,
    /// Request limits.
    pub limits: Limits,
    /// When segments land.
    pub seal: SealPolicy,
    /// How far back `started_at` may be; `None`: back to the first business day of
    /// the previous month (whose chart is still open).
    pub late_window: Option<Duration>,
    /// How far ahead of this clock `started_at` may be.
    pub max_future: Duration,
    /// How long a batch's key answers retries.
    pub retry_window: Duration,
    /// Serve HTTPS with this certificate and key; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Close business days once over (compaction, day digests); `None`: never.
    pub day_close: Option<DayClose>,
    /// Keep the month to date and serve its charts; `None`: no live charts.
    pub live: Option<LiveOptions>,
    /// Who may read the live charts; `None`: anyone.
    pub chart_readers: Option<Vendors>,
    /// The live chart's pages, served under `/live/` with the live charts (none: no
    /// pages).
    pub live_pages: Vec<PageFile>,
}

impl IngestOptions {
    /// Options with the defaults: land every 10 s or 100,000 plays, 5 minutes of
    /// clock skew, a 24 h retry window.
    pub fn new(data: Location, wal_dir: PathBuf, vendors: Vendors) -> IngestOptions {
        IngestOptions {
            data,
            wal_dir,
            vendors,
            methodology: Methodology::default(),
            limits: Limits::default(),
            seal: SealPolicy {
                every: Duration::from_secs(10),
                rows: 100_000,
            },
            late_window: None,
            max_future: Duration::from_secs(300),
            retry_window: Duration::from_secs(24 * 3600),
            tls: None,
            day_close: None,
            live: Some(LiveOptions::default()),
            chart_readers: None,
            live_pages: Vec::new(),
        }
    }
}

/// Serves on `listener` until `shutdown` resolves; then finishes in-flight requests,
/// lands the whole log and returns.
pub async fn serve(
    options: IngestOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let tz = options.methodology.validate()?;
    let acceptor = options.tls.as_ref().map(TlsFiles::acceptor).transpose()?;
    let days = BusinessDay {
        tz,
        day_start_minutes: options.methodology.day_start_minutes,
    };
    let dir = options.wal_dir.clone();
    let node = node_id(&dir)?;
    let retry_ms = options.retry_window.as_millis() as i64;
    let (keys_log, loaded) = KeysLog::open(&dir, now_ms() - retry_ms)?;
    let recovered = wal::open(&dir, loaded.landed)?;
    let keys = Keys::new(retry_ms);
    let now = now_ms();
    for k in loaded.keys {
        keys.insert(k, now);
    }
    for b in recovered.batches {
        keys.insert(b.key, now);
    }
    let (sealed_tx, sealed_rx) = mpsc::unbounded_channel();
    let unlanded: u64 = recovered.segments.iter().map(|s| s.bytes).sum();
    if !recovered.segments.is_empty() {
        tracing::info!(
            segments = recovered.segments.len(),
            bytes = unlanded,
            "landing the log left by the last run"
        );
    }
    for s in recovered.segments {
        let _ = sealed_tx.send(s);
    }
    let wal = Wal::start(
        dir.clone(),
        recovered.next_seq,
        options.seal,
        options.limits.queue,
        unlanded,
        sealed_tx,
    );
    let metrics = Arc::new(Metrics::default());
    let service = Arc::new(Service {
        vendors: options.vendors,
        keys,
        wal,
        metrics: metrics.clone(),
        in_flight: tokio::sync::Semaphore::new(options.limits.max_in_flight.max(1)),
        limits: options.limits,
        days,
        late_window: options.late_window,
        max_future: options.max_future,
    });
    let landed_days = Arc::new(LandedDays::default());
    let closing = options
        .day_close
        .map(|close| {
            Closing::start(Closer::new(
                options.data.clone(),
                days,
                options.methodology.clone(),
                close,
                metrics.day_close.clone(),
                landed_days.clone(),
            ))
        })
        .transpose()
        .map_err(|e| IngestError::Simulator(format!("starting the day close thread: {e}")))?;
    let live = options.live.map(|live| {
        LiveCharts::new(
            options.data.clone(),
            options.methodology.clone(),
            days,
            live,
            metrics.live.clone(),
        )
    });
    let stop_live = Arc::new(tokio::sync::Notify::new());
    let live_runner = live
        .clone()
        .map(|live| live.start(stop_live.clone()))
        .transpose()
        .map_err(|e| IngestError::Simulator(format!("starting the live charts thread: {e}")))?;
    let lander = Lander {
        root: options.data,
        node,
        days,
    };
    let landing = tokio::spawn(land_forever(
        lander,
        keys_log,
        sealed_rx,
        service.clone(),
        landed_days,
        live.clone(),
    ));
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    tracing::info!(%addr, "accepting plays");
    let mut router = crate::http::router(service.clone());
    if let Some(live) = &live {
        router = router.merge(crate::chart_routes::router(
            crate::chart_routes::ChartRoutes {
                live: live.clone(),
                readers: options.chart_readers.map(Arc::new),
            },
        ));
        if !options.live_pages.is_empty() {
            router = router.merge(crate::live_pages::router(options.live_pages));
        }
    }
    let header_timeout = service.limits.header_timeout;
    let streams = live.clone();
    let shutdown = async move {
        shutdown.await;
        // Event streams never finish by themselves: they end at shutdown.
        if let Some(live) = streams {
            live.close_streams();
        }
    };
    let served = match acceptor {
        None => {
            serve_connections(listener, router, header_timeout, shutdown).await;
            Ok(())
        }
        Some(acceptor) => match TlsListener::new(listener, acceptor) {
            Ok(tls) => {
                serve_connections(tls, router, header_timeout, shutdown).await;
                Ok(())
            }
            Err(source) => Err(IngestError::Listen {
                addr: addr.clone(),
                source,
            }),
        },
    };
    tracing::info!("stopped accepting; landing the log");
    if let Some(closing) = closing {
        tokio::task::spawn_blocking(move || closing.stop())
            .await
            .map_err(|e| IngestError::Simulator(format!("stopping the day close: {e}")))?;
    }
    let stopping = service.clone();
    tokio::task::spawn_blocking(move || stopping.wal.stop())
        .await
        .map_err(|e| IngestError::Simulator(format!("stopping the log writer: {e}")))?;
    drop(service);
    landing
        .await
        .map_err(|e| IngestError::Simulator(format!("the lander failed: {e}")))?;
    tracing::info!("the log has landed");
    if let Some(runner) = live_runner {
        stop_live.notify_one();
        let _ = tokio::task::spawn_blocking(move || runner.join()).await;
    }
    served
}

/// Lands each sealed segment, retrying failures with a growing pause, until the
/// writer has stopped and every segment has landed.
async fn land_forever(
    lander: Lander,
    mut keys_log: KeysLog,
    mut sealed: mpsc::UnboundedReceiver<Sealed>,
    service: Arc<Service>,
    landed_days: Arc<LandedDays>,
    live: Option<Arc<LiveCharts>>,
) {
    let metrics = service.metrics.clone();
    while let Some(segment) = sealed.recv().await {
        metrics
            .oldest_unlanded_ms
            .store(segment.sealed_at_ms as u64, Ordering::Relaxed);
        let mut pause = Duration::from_millis(200);
        loop {
            match land_one(&lander, &mut keys_log, &segment).await {
                Ok(landed) => {
                    landed_days.mark(&landed.days);
                    if let Some(live) = &live {
                        live.land(&landed.play_files);
                    }
                    metrics
                        .landed_plays
                        .fetch_add(landed.plays, Ordering::Relaxed);
                    metrics
                        .landed_files
                        .fetch_add(landed.files_created, Ordering::Relaxed);
                    service
                        .wal
                        .gauges
                        .unlanded_bytes
                        .fetch_sub(segment.bytes, Ordering::Relaxed);
                    tracing::debug!(
                        seq = segment.seq,
                        plays = landed.plays,
                        rejects = landed.rejects,
                        "landed a segment"
                    );
                    break;
                }
                Err(e) => {
                    metrics.landing_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(seq = segment.seq, error = %e, retry_in = ?pause, "landing failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
        if sealed.is_empty() {
            metrics.oldest_unlanded_ms.store(0, Ordering::Relaxed);
        }
        service.keys.expire(now_ms());
    }
}

async fn land_one(
    lander: &Lander,
    keys_log: &mut KeysLog,
    segment: &Sealed,
) -> Result<crate::landing::Landed> {
    let (landed, keys) = lander.land(segment).await?;
    keys_log.landed(segment.seq, &keys)?;
    delete_segment(segment)?;
    Ok(landed)
}

/// This receiver's name in landed file names: random at the first start, then kept in
/// `wal/node-id`, so that two receivers never write the same file name.
fn node_id(dir: &std::path::Path) -> Result<String> {
    let io = |path: PathBuf| move |source| IngestError::Wal { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    let id = format!("{:016x}", rand::random::<u64>());
    let tmp = dir.join("node-id.tmp");
    std::fs::write(&tmp, &id)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path))
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .map_err(io(path))?;
    Ok(id)
}
