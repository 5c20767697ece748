//! The vendors' side: sends a data root's plays to the service as VOD systems would —
//! batches per vendor over concurrent connections, retried with the same
//! `Idempotency-Key` on timeouts, `408`, `409`, `429` and `5xx` — and counts what was
//! acknowledged. Optionally re-sends a share of acknowledged batches (they must come
//! back as duplicates) and adds a malformed line to a share of batches (it must come
//! back rejected).
//!
//! The plays are read one partition (day) at a time, in order of start, and the vendors'
//! batches are cut as the plays come: event time advances for every vendor together, as
//! it would in a live market, and the replay's memory is one day's plays and the batches
//! queued for the connections, whatever the size of the data root.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int32Type, Int64Type};
use chart_core::{DataRoot, Location};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use crate::error::{IngestError, Result};
use crate::http::Reply;

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
    /// A vendor's batch is cut, full or not, once the plays read start this far past its
    /// first play (`None`: only when full).
    pub batch_span: Option<Duration>,
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

/// Sends the plays of `data` and returns the totals; fails on a batch the service
/// refuses for good (a `4xx` other than `408`/`409`/`429`) or that is not acknowledged
/// in time.
pub async fn replay(data: &Location, options: ReplayOptions) -> Result<ReplayReport> {
    let root = DataRoot::open_location(data).await?;
    let client = reqwest::Client::builder()
        .timeout(options.timeout)
        .build()
        .map_err(|e| IngestError::Simulator(format!("HTTP client: {e}")))?;
    let connections = options.concurrency.max(1);
    let (queue, receiver) = mpsc::channel::<Batch>(2 * connections);
    let reader = tokio::spawn(read_batches(root, options.clone(), queue));
    let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
    let report = Arc::new(Mutex::new(ReplayReport::default()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let scheduled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..connections {
        let (client, options, report, latencies, receiver, scheduled) = (
            client.clone(),
            options.clone(),
            report.clone(),
            latencies.clone(),
            receiver.clone(),
            scheduled.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed ^ worker as u64);
            loop {
                let Some(batch) = receiver.lock().await.recv().await else {
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
    drop(receiver);
    let mut failed = None;
    for task in tasks {
        let outcome = task
            .await
            .map_err(|e| IngestError::Simulator(format!("a sender failed: {e}")))
            .and_then(|sent| sent);
        if let Err(e) = outcome {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        reader.abort();
        return Err(e);
    }
    reader
        .await
        .map_err(|e| IngestError::Simulator(format!("the reader failed: {e}")))??;
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

/// One vendor's batch being filled, and how many of its batches were cut before.
#[derive(Default)]
struct Filling {
    body: Vec<u8>,
    plays: u64,
    cut: u64,
    /// The start of its first play with one (ms).
    first_start: Option<i64>,
}

/// Reads `root`'s plays day by day, in order of start (then event id), and queues each
/// vendor's batches as they fill, or once the plays read start `batch_span` past a
/// batch's first play; a vendor's last batch is queued at the end. The keys
/// are `<prefix>-<n>`, `n` counting the vendor's batches, so the same data root and
/// prefix give the same batches under the same keys.
async fn read_batches(
    root: DataRoot,
    options: ReplayOptions,
    queue: mpsc::Sender<Batch>,
) -> Result<()> {
    let ctx = SessionContext::new();
    root.tables()?.register(&ctx)?;
    let sim = |e: datafusion::error::DataFusionError| {
        IngestError::Simulator(format!("reading plays: {e}"))
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
    let mut filling: BTreeMap<String, Filling> = BTreeMap::new();
    let size = options.batch.max(1) as u64;
    let span = options.batch_span.map(|s| s.as_millis() as i64);
    // The earliest first start of the batches being filled: none is due before `span` past it.
    let mut earliest: Option<i64> = None;
    for day in root.play_days().keys() {
        let mut batches = ctx
            .sql(&format!(
                "SELECT vod_vendor, event_id, venue_id, room_id, song_id, \
                 CAST(started_at AS BIGINT) AS started_at_ms, played_ms \
                 FROM plays WHERE date = DATE '{day}' \
                 ORDER BY started_at_ms, event_id, venue_id, room_id, song_id, played_ms"
            ))
            .await
            .map_err(sim)?
            .execute_stream()
            .await
            .map_err(sim)?;
        while let Some(b) = batches.try_next().await.map_err(sim)? {
            let lines = Lines::of(&b)?;
            for row in 0..b.num_rows() {
                let start = lines.started_at(row);
                if let (Some(span), Some(start), Some(first)) = (span, start, earliest)
                    && start - first > span
                {
                    earliest = None;
                    for (vendor, f) in &mut filling {
                        match f.first_start {
                            Some(first) if f.plays > 0 && start - first > span => {
                                let batch = cut(vendor, f, &options, &mut rng);
                                if queue.send(batch).await.is_err() {
                                    return Ok(());
                                }
                            }
                            Some(first) if f.plays > 0 => {
                                earliest = Some(earliest.map_or(first, |e| e.min(first)));
                            }
                            _ => {}
                        }
                    }
                }
                let vendor = vendor_of(lines.vendor(row), &options)?;
                let f = filling.entry(vendor.to_string()).or_default();
                lines.write(row, vendor, &mut f.body);
                f.plays += 1;
                if let Some(start) = start.filter(|_| f.first_start.is_none()) {
                    f.first_start = Some(start);
                    earliest = Some(earliest.map_or(start, |e| e.min(start)));
                }
                if f.plays == size {
                    let batch = cut(vendor, f, &options, &mut rng);
                    if queue.send(batch).await.is_err() {
                        return Ok(()); // the senders stopped: their error is the replay's
                    }
                }
            }
        }
    }
    for (vendor, f) in &mut filling {
        if f.plays > 0 {
            let batch = cut(vendor, f, &options, &mut rng);
            if queue.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The vendor a play is sent as: its own `vod_vendor` if it has a token, else the fallback.
fn vendor_of<'a>(vendor: Option<&'a str>, options: &'a ReplayOptions) -> Result<&'a str> {
    match vendor {
        Some(v) if options.tokens.contains_key(v) => Ok(v),
        other => options.fallback_vendor.as_deref().ok_or_else(|| {
            IngestError::Simulator(format!(
                "no token for vendor {} and no fallback vendor",
                other.map_or("(none)".to_string(), |v| format!("`{v}`"))
            ))
        }),
    }
}

/// Takes the vendor's filled batch, with a malformed line added to a share of them.
fn cut(
    vendor: &str,
    f: &mut Filling,
    options: &ReplayOptions,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Batch {
    let mut body = std::mem::take(&mut f.body);
    if rng.random_bool(options.malformed_share.clamp(0.0, 1.0)) {
        body.extend_from_slice(b"{\"event_id\": \"cut short\n");
    }
    let batch = Batch {
        vendor: vendor.to_string(),
        key: format!("{}-{}", options.key_prefix, f.cut),
        body,
        plays: f.plays,
    };
    f.cut += 1;
    f.plays = 0;
    f.first_start = None;
    batch
}

/// A batch of plays as NDJSON lines.
struct Lines {
    strings: Vec<ArrayRef>,
    started_at: ArrayRef,
    played_ms: ArrayRef,
}

impl Lines {
    fn of(b: &RecordBatch) -> Result<Lines> {
        let strings = (0..5)
            .map(|i| arrow::compute::cast(b.column(i), &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| IngestError::Simulator(format!("reading plays: {e}")))?;
        Ok(Lines {
            strings,
            started_at: b.column(5).clone(),
            played_ms: b.column(6).clone(),
        })
    }

    /// The play's start, ms.
    fn started_at(&self, row: usize) -> Option<i64> {
        (!self.started_at.is_null(row))
            .then(|| self.started_at.as_primitive::<Int64Type>().value(row))
    }

    fn vendor(&self, row: usize) -> Option<&str> {
        let v = &self.strings[0];
        (!v.is_null(row)).then(|| v.as_string::<i32>().value(row))
    }

    /// Appends the play at `row` as one line sent by `vendor`; a null is sent as `null`
    /// (the service rejects the line and says so).
    fn write(&self, row: usize, vendor: &str, body: &mut Vec<u8>) {
        let text = |i: usize| {
            let column = &self.strings[i];
            (!column.is_null(row)).then(|| column.as_string::<i32>().value(row))
        };
        let number = |column: &ArrayRef, value: &dyn Fn() -> i64| {
            if column.is_null(row) {
                "null".to_string()
            } else {
                value().to_string()
            }
        };
        let mut line = String::with_capacity(160);
        let _ = write!(
            line,
            "{{\"event_id\":{},\"venue_id\":{},\"room_id\":{},\"song_id\":{},\"started_at\":{},\"played_ms\":{},\"vod_vendor\":{}}}",
            quoted(text(1)),
            quoted(text(2)),
            quoted(text(3)),
            quoted(text(4)),
            number(&self.started_at, &|| self
                .started_at
                .as_primitive::<Int64Type>()
                .value(row)),
            number(&self.played_ms, &|| i64::from(
                self.played_ms.as_primitive::<Int32Type>().value(row)
            )),
            quoted(Some(vendor)),
        );
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
}

/// `text` as a JSON string, or `null`.
fn quoted(text: Option<&str>) -> String {
    text.map_or("null".to_string(), |t| {
        serde_json::Value::from(t).to_string()
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray, TimestampMillisecondArray};
    use chart_core::contract::schema::{PLAYS, SONGS, VENUES};
    use parquet::arrow::ArrowWriter;

    use super::*;

    fn write(path: &std::path::Path, batch: &RecordBatch) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut writer =
            ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None)
                .unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    /// Plays of one day: (event id, vendor, start in ms), out of order.
    fn plays(rows: &[(&str, Option<&str>, i64)]) -> RecordBatch {
        let n = rows.len();
        RecordBatch::try_new(
            PLAYS.schema(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(vec!["V1"; n])),
                Arc::new(StringArray::from_iter_values(vec!["R\"1"; n])),
                Arc::new(StringArray::from_iter_values(vec!["S1"; n])),
                Arc::new(
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.2))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int32Array::from(vec![60_000; n])),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    /// A data root of two days, each with 12 plays a second apart (written in reverse
    /// order of start), of vendors A, B, none and an unknown one, in turn.
    async fn two_days(dir: &std::path::Path) -> DataRoot {
        for table in [&SONGS, &VENUES] {
            write(
                &dir.join(table.name).join("part-0.parquet"),
                &RecordBatch::new_empty(table.schema()),
            );
        }
        // 2024-11-01 and -02 (UTC+8, days from 06:00 local: 22:00 UTC the day before).
        let day1 = 1_730_412_000_000; // 2024-10-31T22:00:00Z
        for (n, day) in ["2024-11-01", "2024-11-02"].into_iter().enumerate() {
            let rows: Vec<(String, Option<&str>, i64)> = (0..12i64)
                .map(|i| {
                    let vendor = [Some("A"), Some("B"), None, Some("unknown")][(i % 4) as usize];
                    let start = day1 + n as i64 * 86_400_000 + (12 - i) * 1000;
                    (format!("d{}-{i:02}", n + 1), vendor, start)
                })
                .collect();
            let rows: Vec<(&str, Option<&str>, i64)> =
                rows.iter().map(|(e, v, t)| (e.as_str(), *v, *t)).collect();
            write(
                &dir.join(format!("plays/date={day}/part-0.parquet")),
                &plays(&rows),
            );
        }
        DataRoot::open_location(&Location::local(dir).unwrap())
            .await
            .unwrap()
    }

    fn options(batch: usize, batch_span: Option<Duration>) -> ReplayOptions {
        ReplayOptions {
            url: String::new(),
            tokens: [("A", "a"), ("B", "b"), ("other", "o")]
                .into_iter()
                .map(|(v, t)| (v.to_string(), t.to_string()))
                .collect(),
            fallback_vendor: Some("other".into()),
            concurrency: 1,
            batch,
            batch_span,
            rate: None,
            duplicate_share: 0.0,
            malformed_share: 0.0,
            seed: 1,
            key_prefix: "p".into(),
            timeout: Duration::from_secs(1),
            give_up_after: Duration::from_secs(1),
        }
    }

    /// The batches queued, in order.
    async fn queued(root: DataRoot, options: ReplayOptions) -> Vec<Batch> {
        let (queue, mut receiver) = mpsc::channel(100);
        read_batches(root, options, queue).await.unwrap();
        let mut sent = Vec::new();
        while let Some(batch) = receiver.recv().await {
            sent.push(batch);
        }
        sent
    }

    /// Each line of a batch as the service reads it, checked to be sent as the batch's vendor.
    fn lines(b: &Batch) -> Vec<crate::event::PlayEvent> {
        String::from_utf8(b.body.clone())
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["vod_vendor"], b.vendor.as_str(), "{l}");
                assert_eq!(v["room_id"], "R\"1", "{l}");
                crate::event::PlayEvent {
                    event_id: v["event_id"].as_str().unwrap().into(),
                    venue_id: v["venue_id"].as_str().unwrap().into(),
                    room_id: v["room_id"].as_str().unwrap().into(),
                    song_id: v["song_id"].as_str().unwrap().into(),
                    started_at_ms: v["started_at"].as_i64().unwrap(),
                    played_ms: v["played_ms"].as_i64().unwrap() as i32,
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_follow_event_time_for_every_vendor_together() {
        let dir = tempfile::tempdir().unwrap();
        let sent = queued(two_days(dir.path()).await, options(2, None)).await;
        let all: Vec<_> = sent.iter().flat_map(lines).collect();
        assert_eq!(all.len(), 24, "every play sent once");
        // A vendor's keys count its batches; its plays go in order of start, day by day.
        for vendor in ["A", "B", "other"] {
            let mine: Vec<&Batch> = sent.iter().filter(|b| b.vendor == vendor).collect();
            let keys: Vec<&str> = mine.iter().map(|b| b.key.as_str()).collect();
            let expected: Vec<String> = (0..mine.len()).map(|i| format!("p-{i}")).collect();
            assert_eq!(keys, expected, "{vendor}");
            let starts: Vec<i64> = mine
                .iter()
                .flat_map(|b| lines(b))
                .map(|p| p.started_at_ms)
                .collect();
            assert!(starts.is_sorted(), "{vendor}: {starts:?}");
            assert!(mine.iter().all(|b| b.plays <= 2));
        }
        assert_eq!(sent.iter().filter(|b| b.vendor == "other").count(), 6);
        // A batch is queued as its last play is read: no batch waits for a vendor's
        // later plays while others move on.
        let last_starts: Vec<i64> = sent
            .iter()
            .filter(|b| b.plays == 2)
            .map(|b| lines(b).last().unwrap().started_at_ms)
            .collect();
        assert!(last_starts.is_sorted(), "{last_starts:?}");
    }

    #[tokio::test]
    async fn a_batch_goes_once_the_plays_read_pass_its_span() {
        let dir = tempfile::tempdir().unwrap();
        let span = Duration::from_millis(2500);
        let sent = queued(two_days(dir.path()).await, options(100, Some(span))).await;
        let all: Vec<_> = sent.iter().flat_map(lines).collect();
        assert_eq!(all.len(), 24, "every play sent once");
        // Every batch holds at most 2.5 s of starts, and none holds a play that started
        // more than the span (plus the second between two plays) before a play queued
        // ahead of it: no vendor's plays wait while the others' move on.
        let starts: Vec<(i64, i64)> = sent
            .iter()
            .map(|b| {
                let l = lines(b);
                (l[0].started_at_ms, l.last().unwrap().started_at_ms)
            })
            .collect();
        assert!(
            starts.iter().all(|(first, last)| last - first <= 2500),
            "{starts:?}"
        );
        for (i, (first, _)) in starts.iter().enumerate() {
            let read_before: i64 = starts[..i].iter().map(|s| s.1).max().unwrap_or(0);
            assert!(read_before - first <= 2500 + 1000, "batch {i}: {starts:?}");
        }
        assert!(sent.len() > 3 && sent.len() < 24, "{} batches", sent.len());
        // Without a span, the same plays go in one batch per vendor.
        let whole = queued(two_days(dir.path()).await, options(100, None)).await;
        assert_eq!(whole.len(), 3);
    }
}
