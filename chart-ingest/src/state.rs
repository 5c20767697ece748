//! What the HTTP handlers share: the request limits, the vendors, the keys, the log
//! writer, the metrics and the window of accepted instants.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate, TimeZone};

use crate::clock::now_ms;
use crate::event::Window;
use crate::idempotency::Keys;
use crate::landing::BusinessDay;
use crate::metrics::Metrics;
use crate::vendors::Vendors;
use crate::wal::Wal;

/// Request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body as sent (`413` past it).
    pub max_body_bytes: usize,
    /// Largest body once decompressed.
    pub max_decompressed_bytes: usize,
    /// Largest decompressed / compressed ratio.
    pub max_ratio: usize,
    /// Longest time to receive a body (`408` past it).
    pub body_timeout: Duration,
    /// Longest time a client may take to send its request headers (the connection is
    /// closed past it).
    pub header_timeout: Duration,
    /// Log bytes waiting to land past which batches get `429`.
    pub max_unlanded_bytes: u64,
    /// Requests waiting for the log writer past which batches get `429`.
    pub queue: usize,
    /// Requests read and checked at the same time past which batches get `429`: with
    /// `max_decompressed_bytes`, this bounds the memory bodies take.
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_ratio: 100,
            body_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_unlanded_bytes: 1 << 30,
            queue: 4096,
            max_in_flight: 256,
        }
    }
}

/// The state the HTTP handlers share.
pub struct Service {
    pub(crate) vendors: Vendors,
    pub(crate) keys: Keys,
    pub(crate) wal: Wal,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limits,
    pub(crate) in_flight: tokio::sync::Semaphore,
    pub(crate) days: BusinessDay,
    pub(crate) late_window: Option<Duration>,
    pub(crate) max_future: Duration,
}

impl Service {
    /// The instants `started_at` may take now.
    pub(crate) fn window(&self) -> Window {
        let now = now_ms();
        let earliest_ms = match self.late_window {
            Some(window) => now - window.as_millis() as i64,
            None => self.first_day_of_previous_month(now),
        };
        Window {
            earliest_ms,
            latest_ms: now + self.max_future.as_millis() as i64,
        }
    }

    fn first_day_of_previous_month(&self, now: i64) -> i64 {
        let today = self.days.of(now);
        let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
            .and_then(|d| d.checked_sub_months(Months::new(1)))
            .unwrap_or(today);
        let start = first.and_hms_opt(0, 0, 0).expect("midnight")
            + chrono::Duration::minutes(i64::from(self.days.day_start_minutes));
        self.days
            .tz
            .from_local_datetime(&start)
            .earliest()
            .map_or(i64::MIN, |t| t.timestamp_millis())
    }
}
