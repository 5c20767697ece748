//! Live plays from the venues' song-request (VOD) systems: an HTTP service that
//! validates each batch a vendor sends, makes it durable in a write-ahead log before it
//! answers, and lands the log as Parquet files of the data contract, each accepted batch
//! exactly once.
//!
//! The flow, top to bottom:
//!
//! ```text
//!  POST /v1/plays ──► http: auth (vendors), limits, body (gzip/zstd, NDJSON or Arrow IPC)
//!                       │
//!                       ▼
//!                     event: each line checked against the contract ─► rejects (with reasons)
//!                       │ accepted rows + rejects + the batch's reply
//!                       ▼
//!                     idempotency: a retried batch is answered from its first reply
//!                       │
//!                       ▼
//!                     wal: one record per batch, group commit, fsync ──► reply 200
//!                       │ sealed segments (every N seconds or M rows)
//!                       ▼
//!                     landing: plays/date=<business day>/ and rejects/date=<day>/
//!                              Parquet, create-only names ──► segment deleted
//!                       │ the landed plays
//!                       ▼
//!                     live_charts: the month to date ──► chart_routes: GET /v1/charts/…
//!                                                          live_pages: GET /live/ (pages
//!                                                          following the stream)
//! ```
//!
//! [`serve`] runs it; [`simulator`] is the vendor side, used by `chart-job replay`, the
//! tests and the benchmark.

pub mod body;
pub mod chart_routes;
pub mod clock;
pub mod connections;
pub mod day_close;
pub mod error;
pub mod event;
mod heap;
pub mod http;
pub mod idempotency;
pub mod landing;
pub mod live_charts;
pub mod live_pages;
pub mod metrics;
pub mod server;
pub mod simulator;
pub mod state;
pub mod tls;
pub mod vendors;
pub mod wal;

pub use day_close::DayClose;
pub use error::{IngestError, Result};
pub use live_charts::LiveOptions;
pub use server::{IngestOptions, serve};
pub use state::Limits;
pub use vendors::Vendors;
