//! The vendors' side: sends a data root's plays to the service as VOD systems would —
//! batches per vendor over concurrent connections, retried with the same
//! `Idempotency-Key` on timeouts, `408`, `409`, `429` and `5xx` — and counts what was
//! acknowledged. Optionally re-sends a share of acknowledged batches (they must come
//! back as duplicates) and adds a malformed line to a share of batches (it must come
//! back rejected).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::Array;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use chart_core::{DataRoot, Location};
use datafusion::prelude::SessionContext;
use rand::{Rng, SeedableRng};

use crate::error::{IngestError, Result};
use crate::event::PlayEvent;
use crate::http::Reply;

/// A play of a data root and the vendor that sent it (`vod_vendor`).
#[derive(Debug, Clone)]
pub struct SourcePlay {
    /// `vod_vendor`, if any.
    pub vendor: Option<String>,
    /// The play.
    pub event: PlayEvent,
}

/// Every play of a data root, in a stable order (day, then start, then event id).
pub async fn read_plays(data: &Location) -> Result<Vec<SourcePlay>> {
    let root = DataRoot::open_location(data).await?;
    let ctx = SessionContext::new();
    root.tables()?.register(&ctx)?;
    let sim = |e: datafusion::error::DataFusionError| {
        IngestError::Simulator(format!("reading plays: {e}"))
    };
    let batches: Vec<RecordBatch> = ctx
        .sql(
            "SELECT vod_vendor, event_id, venue_id, room_id, song_id, \
             CAST(started_at AS BIGINT) AS started_at_ms, played_ms \
             FROM plays ORDER BY date, started_at_ms, event_id, venue_id, room_id, song_id, played_ms",
        )
        .await
        .map_err(sim)?
        .collect()
        .await
        .map_err(sim)?;
    let mut plays = Vec::new();
    for b in batches {
        let strings = (0..5)
            .map(|i| arrow::compute::cast(b.column(i), &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| IngestError::Simulator(format!("reading plays: {e}")))?;
        let text = |i: usize, row: usize| strings[i].as_string::<i32>().value(row).to_string();
        for row in 0..b.num_rows() {
            plays.push(SourcePlay {
                vendor: (!b.column(0).is_null(row)).then(|| text(0, row)),
                event: PlayEvent {
                    event_id: text(1, row),
                    venue_id: text(2, row),
                    room_id: text(3, row),
                    song_id: text(4, row),
                    started_at_ms: b.column(5).as_primitive::<Int64Type>().value(row),
                    played_ms: b.column(6).as_primitive::<Int32Type>().value(row),
                },
            });
        }
    }
    Ok(plays)
}

/// How to send.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The service's base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Each vendor's token.
    pub tokens: BTreeMap<String, String>,
    /// The vendor that sends plays without `vod_vendor`, or of a vendor without a token.
    pub fallback_vendor: Option<String>,
    /// Connections sending at the same time.
    pub concurrency: usize,
    /// Plays per batch.
    pub batch: usize,
    /// Plays per second over all connections; `None`: as fast as acknowledged.
    pub rate: Option<f64>,
    /// Share of acknowledged batches sent again with the same key.
    pub duplicate_share: f64,
    /// Share of batches given one malformed line.
    pub malformed_share: f64,
    /// Seed of the shares' random choices.
    pub seed: u64,
    /// Prefix of the idempotency keys (a new run with the same prefix is a retry).
    pub key_prefix: String,
    /// Time limit of one request.
    pub timeout: Duration,
    /// How long a batch is retried before the replay gives up.
    pub give_up_after: Duration,
}

/// What the service answered, over the whole replay.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Batches sent (first sends, not retries or duplicates).
    pub batches: u64,
    /// Plays in them.
    pub sent: u64,
    /// Plays acknowledged as accepted.
    pub acknowledged: u64,
    /// Plays answered as duplicates (re-sent batches).
    pub duplicate: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Requests retried.
    pub retries: u64,
    /// Median time to acknowledgement of a batch, microseconds.
    pub p50_micros: u64,
    /// 99th percentile, microseconds.
    pub p99_micros: u64,
}

struct Batch {
    vendor: String,
    key: String,
    body: Vec<u8>,
    plays: u64,
}

/// Sends `plays` and returns the totals; fails on a batch the service refuses for
/// good (a `4xx` other than `408`/`409`/`429`) or that is not acknowledged in time.
pub async fn replay(plays: Vec<SourcePlay>, options: ReplayOptions) -> Result<ReplayReport> {
    let batches = batches(plays, &options)?;
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .build()
        .map_err(|e| IngestError::Simulator(format!("HTTP client: {e}")))?;
    let report = Arc::new(Mutex::new(ReplayReport::default()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(batches.into_iter().collect::<VecDeque<_>>()));
    let scheduled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..options.concurrency.max(1) {
        let (client, options, report, latencies, queue, scheduled) = (
            client.clone(),
            options.clone(),
            report.clone(),
            latencies.clone(),
            queue.clone(),
            scheduled.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed ^ worker as u64);
            loop {
                let Some(batch) = queue.lock().expect("queue").pop_front() else {
                    return Ok::<(), IngestError>(());
                };
                if let Some(rate) = options.rate {
                    let before = scheduled.fetch_add(batch.plays, Ordering::Relaxed);
                    let due = started + Duration::from_secs_f64(before as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent_at = Instant::now();
                let (reply, retries) = send(&client, &options, &batch).await?;
                latencies
                    .lock()
                    .expect("latencies")
                    .push(sent_at.elapsed().as_micros() as u64);
                let mut resend = None;
                if rng.random_bool(options.duplicate_share.clamp(0.0, 1.0)) {
                    resend = Some(send(&client, &options, &batch).await?);
                }
                let mut r = report.lock().expect("report");
                r.batches += 1;
                r.sent += batch.plays;
                r.acknowledged += u64::from(reply.accepted);
                r.duplicate += u64::from(reply.duplicate);
                r.rejected += u64::from(reply.rejected);
                r.retries += retries;
                if let Some((again, retries)) = resend {
                    r.duplicate += u64::from(again.duplicate);
                    r.retries += retries;
                }
            }
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| IngestError::Simulator(format!("a sender failed: {e}")))??;
    }
    let mut report = report.lock().expect("report").clone();
    let mut latencies = latencies.lock().expect("latencies").clone();
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    report.p50_micros = quantile(0.5);
    report.p99_micros = quantile(0.99);
    Ok(report)
}

/// The batches of each vendor, in order, with their keys and NDJSON bodies.
fn batches(plays: Vec<SourcePlay>, options: &ReplayOptions) -> Result<Vec<Batch>> {
    let mut by_vendor: BTreeMap<String, Vec<PlayEvent>> = BTreeMap::new();
    for play in plays {
        let vendor = match play.vendor {
            Some(v) if options.tokens.contains_key(&v) => v,
            other => options.fallback_vendor.clone().ok_or_else(|| {
                IngestError::Simulator(format!(
                    "no token for vendor {} and no fallback vendor",
                    other.map_or("(none)".to_string(), |v| format!("`{v}`"))
                ))
            })?,
        };
        by_vendor.entry(vendor).or_default().push(play.event);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
    let mut batches = Vec::new();
    for (v, (vendor, events)) in by_vendor.into_iter().enumerate() {
        for (i, chunk) in events.chunks(options.batch.max(1)).enumerate() {
            let mut body = Vec::new();
            for e in chunk {
                let line = serde_json::json!({
                    "event_id": e.event_id,
                    "venue_id": e.venue_id,
                    "room_id": e.room_id,
                    "song_id": e.song_id,
                    "started_at": e.started_at_ms,
                    "played_ms": e.played_ms,
                    "vod_vendor": vendor,
                });
                body.extend_from_slice(line.to_string().as_bytes());
                body.push(b'\n');
            }
            if rng.random_bool(options.malformed_share.clamp(0.0, 1.0)) {
                body.extend_from_slice(b"{\"event_id\": \"cut short\n");
            }
            batches.push(Batch {
                vendor: vendor.clone(),
                key: format!("{}-{v}-{i}", options.key_prefix),
                body,
                plays: chunk.len() as u64,
            });
        }
    }
    Ok(batches)
}

/// Sends one batch until it is answered for good; returns the reply and the retries.
async fn send(
    client: &reqwest::Client,
    options: &ReplayOptions,
    batch: &Batch,
) -> Result<(Reply, u64)> {
    let token = options
        .tokens
        .get(&batch.vendor)
        .ok_or_else(|| IngestError::Simulator(format!("no token for vendor `{}`", batch.vendor)))?;
    let url = format!("{}/v1/plays", options.url.trim_end_matches('/'));
    let first = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut retries = 0;
    loop {
        let sent = client
            .post(&url)
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", &batch.key)
            .header("content-type", "application/x-ndjson")
            .body(batch.body.clone())
            .send()
            .await;
        let problem = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let text = response.text().await.unwrap_or_default();
                match status {
                    200 | 422 if text.contains("\"accepted\"") => {
                        let reply: Reply = serde_json::from_str(&text).map_err(|e| {
                            IngestError::Simulator(format!(
                                "batch {}: unreadable reply `{text}`: {e}",
                                batch.key
                            ))
                        })?;
                        return Ok((reply, retries));
                    }
                    408 | 409 | 429 | 500..=599 => {
                        if let Some(s) = retry_after {
                            pause = pause.max(Duration::from_secs(s));
                        }
                        format!("HTTP {status}: {text}")
                    }
                    _ => {
                        return Err(IngestError::Simulator(format!(
                            "batch {} of vendor `{}` refused: HTTP {status}: {text}",
                            batch.key, batch.vendor
                        )));
                    }
                }
            }
            Err(e) => format!("{e}"),
        };
        if first.elapsed() > options.give_up_after {
            return Err(IngestError::Simulator(format!(
                "batch {} not acknowledged after {:?}: {problem}",
                batch.key, options.give_up_after
            )));
        }
        retries += 1;
        tracing::debug!(key = %batch.key, %problem, "retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
