//! The service's Prometheus metrics, rendered as text at `GET /metrics`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ingest_plays_accepted_total` | counter | vendor |
//! | `ingest_plays_rejected_total` | counter | vendor, field |
//! | `ingest_batches_total` | counter | vendor, outcome (`accepted`, `replayed`) |
//! | `ingest_repeated_event_ids_total` | counter | vendor (ids repeated within a batch) |
//! | `ingest_requests_total` | counter | status |
//! | `ingest_request_seconds` | histogram | |
//! | `ingest_wal_unlanded_bytes` | gauge | |
//! | `ingest_wal_commits_total`, `ingest_wal_sync_seconds_total` | counters | |
//! | `ingest_landing_lag_seconds` | gauge: age of the oldest segment not landed | |
//! | `ingest_landed_plays_total`, `ingest_landed_files_total`, `ingest_landing_failures_total` | counters | |
//! | `ingest_days_compacted_total`, `ingest_day_digests_computed_total`, `ingest_compaction_files_removed_total`, `ingest_day_close_passes_total`, `ingest_day_close_failures_total` | counters | |
//! | `ingest_day_close_seconds` | gauge: the last day close | |
//! | `ingest_live_counted_rows_total`, `ingest_live_counted_files_total`, `ingest_live_rows_rebuilding_total`, `ingest_live_builds_total`, `ingest_live_build_failures_total`, `ingest_live_refreshes_total` | counters | |
//! | `ingest_live_refresh_seconds`, `ingest_live_build_seconds` | gauges: the last refresh and build of the live month | |
//! | `ingest_live_building` | gauge: 1 while the live month is built | |
//! | `ingest_live_unpublished` | gauge: 1 while landed plays are not in the live refresh served | |
//! | `ingest_live_heap_bytes` | gauge: about the live month's heap at the last refresh | part (`open_days`, `month_keys`, `month_figures`) |
//! | `ingest_idempotency_keys` | gauge | |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use crate::day_close::DayCloseCounts;
use crate::live_charts::LiveCounts;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Every counter of the service.
#[derive(Default)]
pub struct Metrics {
    vendors: Mutex<BTreeMap<String, VendorCounts>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    latency: Mutex<Histogram>,
    /// Plays written to landed files.
    pub landed_plays: AtomicU64,
    /// Files created in the data root.
    pub landed_files: AtomicU64,
    /// Landing attempts that failed (and will be retried).
    pub landing_failures: AtomicU64,
    /// When the oldest segment not landed was sealed, epoch ms; 0 when none.
    pub oldest_unlanded_ms: AtomicU64,
    /// What day closes did.
    pub day_close: Arc<DayCloseCounts>,
    /// What the live charts did.
    pub live: Arc<LiveCounts>,
}

#[derive(Default)]
struct VendorCounts {
    accepted: u64,
    batches: u64,
    replayed: u64,
    repeated_ids: u64,
    rejected: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Gauges read from elsewhere at render time.
pub struct Gauges {
    /// Bytes of the log not landed.
    pub wal_unlanded_bytes: u64,
    /// Group commits.
    pub wal_commits: u64,
    /// Time in fdatasync.
    pub wal_sync: Duration,
    /// Idempotency keys held.
    pub idempotency_keys: usize,
    /// Now, epoch ms.
    pub now_ms: u64,
}

impl Metrics {
    /// Counts a batch made durable.
    pub fn batch(&self, vendor: &str, accepted: u64, rejected_fields: &[&str], repeated_ids: u64) {
        let mut vendors = self.vendors.lock().expect("metrics lock");
        let v = vendors.entry(vendor.to_string()).or_default();
        v.accepted += accepted;
        v.batches += 1;
        v.repeated_ids += repeated_ids;
        for field in rejected_fields {
            *v.rejected.entry((*field).to_string()).or_default() += 1;
        }
    }

    /// Counts a retried batch answered from its first reply.
    pub fn replayed(&self, vendor: &str) {
        let mut vendors = self.vendors.lock().expect("metrics lock");
        vendors.entry(vendor.to_string()).or_default().replayed += 1;
    }

    /// Counts a response.
    pub fn response(&self, status: u16, elapsed: Duration) {
        *self
            .statuses
            .lock()
            .expect("metrics lock")
            .entry(status)
            .or_default() += 1;
        let mut h = self.latency.lock().expect("metrics lock");
        let seconds = elapsed.as_secs_f64();
        for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let vendors = self.vendors.lock().expect("metrics lock");
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "ingest_plays_accepted_total",
            "counter",
            "Plays accepted and durable in the log.",
        );
        for (vendor, v) in vendors.iter() {
            let _ = writeln!(
                out,
                "ingest_plays_accepted_total{{vendor=\"{}\"}} {}",
                label(vendor),
                v.accepted
            );
        }
        family(
            &mut out,
            "ingest_plays_rejected_total",
            "counter",
            "Lines rejected, by the field at fault (- for the whole line).",
        );
        for (vendor, v) in vendors.iter() {
            for (field, n) in &v.rejected {
                let _ = writeln!(
                    out,
                    "ingest_plays_rejected_total{{vendor=\"{}\",field=\"{}\"}} {n}",
                    label(vendor),
                    label(field)
                );
            }
        }
        family(
            &mut out,
            "ingest_batches_total",
            "counter",
            "Batches made durable, and retries answered from their first reply.",
        );
        for (vendor, v) in vendors.iter() {
            let _ = writeln!(
                out,
                "ingest_batches_total{{vendor=\"{}\",outcome=\"accepted\"}} {}",
                label(vendor),
                v.batches
            );
            let _ = writeln!(
                out,
                "ingest_batches_total{{vendor=\"{}\",outcome=\"replayed\"}} {}",
                label(vendor),
                v.replayed
            );
        }
        family(
            &mut out,
            "ingest_repeated_event_ids_total",
            "counter",
            "Accepted plays whose event_id appeared earlier in the same batch (landed as sent).",
        );
        for (vendor, v) in vendors.iter() {
            let _ = writeln!(
                out,
                "ingest_repeated_event_ids_total{{vendor=\"{}\"}} {}",
                label(vendor),
                v.repeated_ids
            );
        }
        drop(vendors);
        family(
            &mut out,
            "ingest_requests_total",
            "counter",
            "HTTP responses to POST /v1/plays, by status.",
        );
        for (status, n) in self.statuses.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "ingest_requests_total{{status=\"{status}\"}} {n}");
        }
        family(
            &mut out,
            "ingest_request_seconds",
            "histogram",
            "Time from request to reply of POST /v1/plays.",
        );
        {
            let h = self.latency.lock().expect("metrics lock");
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "ingest_request_seconds_bucket{{le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "ingest_request_seconds_bucket{{le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "ingest_request_seconds_sum {}", h.sum);
            let _ = writeln!(out, "ingest_request_seconds_count {}", h.count);
        }
        let oldest = self.oldest_unlanded_ms.load(Ordering::Relaxed);
        let lag = if oldest == 0 {
            0.0
        } else {
            gauges.now_ms.saturating_sub(oldest) as f64 / 1000.0
        };
        for (name, kind, help, value) in [
            (
                "ingest_wal_unlanded_bytes",
                "gauge",
                "Bytes of the write-ahead log not landed yet.",
                gauges.wal_unlanded_bytes as f64,
            ),
            (
                "ingest_wal_commits_total",
                "counter",
                "Group commits (one write and one fdatasync each).",
                gauges.wal_commits as f64,
            ),
            (
                "ingest_wal_sync_seconds_total",
                "counter",
                "Time spent writing and syncing the log.",
                gauges.wal_sync.as_secs_f64(),
            ),
            (
                "ingest_landing_lag_seconds",
                "gauge",
                "Age of the oldest sealed segment not landed yet.",
                lag,
            ),
            (
                "ingest_landed_plays_total",
                "counter",
                "Plays written to the data root.",
                self.landed_plays.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_landed_files_total",
                "counter",
                "Files created in the data root.",
                self.landed_files.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_landing_failures_total",
                "counter",
                "Landing attempts that failed and are retried.",
                self.landing_failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_days_compacted_total",
                "counter",
                "Business days compacted after their close.",
                self.day_close.compacted.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_day_digests_computed_total",
                "counter",
                "Day digests computed and kept after a day closed.",
                self.day_close.digested.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_compaction_files_removed_total",
                "counter",
                "Files replaced by a compaction and removed after the retention.",
                self.day_close.removed_files.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_day_close_passes_total",
                "counter",
                "Day close passes that finished.",
                self.day_close.passes.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_day_close_failures_total",
                "counter",
                "Day close passes that failed (retried at the next pass).",
                self.day_close.failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_day_close_seconds",
                "gauge",
                "Duration of the last day close (compaction and digest).",
                self.day_close.last_close_micros.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "ingest_live_counted_rows_total",
                "counter",
                "Play rows counted into the live month.",
                self.live.counted_rows.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_counted_files_total",
                "counter",
                "Landed files counted into the live month.",
                self.live.counted_files.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_rows_rebuilding_total",
                "counter",
                "Rows for a closed day or an earlier month, which make the live month build again.",
                self.live.rows_rebuilding.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_builds_total",
                "counter",
                "Builds of the live month from the data root.",
                self.live.builds.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_build_failures_total",
                "counter",
                "Builds of the live month that failed (retried).",
                self.live.build_failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_refreshes_total",
                "counter",
                "Refreshes of the live figures.",
                self.live.refreshes.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_refresh_seconds",
                "gauge",
                "Duration of the last refresh of the live figures.",
                self.live.last_refresh_micros.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "ingest_live_build_seconds",
                "gauge",
                "Duration of the last build of the live month.",
                self.live.last_build_micros.load(Ordering::Relaxed) as f64 / 1e6,
            ),
            (
                "ingest_live_building",
                "gauge",
                "1 while the live month is being built.",
                self.live.building.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_live_unpublished",
                "gauge",
                "1 while landed plays are not yet in the live refresh served.",
                self.live.unpublished.load(Ordering::Relaxed) as f64,
            ),
            (
                "ingest_idempotency_keys",
                "gauge",
                "Idempotency keys held for the retry window.",
                gauges.idempotency_keys as f64,
            ),
        ] {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "ingest_live_heap_bytes";
        family(
            &mut out,
            name,
            "gauge",
            "About the bytes the live month held on the heap at the last refresh, by part.",
        );
        for (part, bytes) in [
            ("open_days", &self.live.heap_open_days),
            ("month_keys", &self.live.heap_month_keys),
            ("month_figures", &self.live.heap_month_figures),
        ] {
            let bytes = bytes.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{part=\"{part}\"}} {bytes}");
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_per_vendor_and_the_histogram() {
        let m = Metrics::default();
        m.batch("雷石", 98, &["started_at", "started_at", "-"], 1);
        m.replayed("雷石");
        m.response(200, Duration::from_millis(3));
        m.response(429, Duration::from_millis(30));
        let text = m.render(&Gauges {
            wal_unlanded_bytes: 10,
            wal_commits: 2,
            wal_sync: Duration::from_millis(5),
            idempotency_keys: 1,
            now_ms: 0,
        });
        for line in [
            "ingest_plays_accepted_total{vendor=\"雷石\"} 98",
            "ingest_plays_rejected_total{vendor=\"雷石\",field=\"started_at\"} 2",
            "ingest_plays_rejected_total{vendor=\"雷石\",field=\"-\"} 1",
            "ingest_batches_total{vendor=\"雷石\",outcome=\"replayed\"} 1",
            "ingest_repeated_event_ids_total{vendor=\"雷石\"} 1",
            "ingest_requests_total{status=\"429\"} 1",
            "ingest_request_seconds_bucket{le=\"0.005\"} 1",
            "ingest_request_seconds_bucket{le=\"0.05\"} 2",
            "ingest_request_seconds_count 2",
            "ingest_wal_unlanded_bytes 10",
            "ingest_live_heap_bytes{part=\"open_days\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "`{line}` not in:\n{text}");
        }
    }
}
