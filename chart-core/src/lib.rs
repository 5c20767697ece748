//! # chart-core: the Golden Mic (金麦榜) karaoke charts on Apache DataFusion
//!
//! Karaoke venues' song-request (VOD) systems report every song each room plays.
//! This library turns those play events, stored as Parquet in the data contract of
//! [`schema`], into the monthly (and annual) hot-song and new-song charts with
//! their history, the market-coverage metrics and a data-quality summary, under
//! the methodology GM-1 ([`Methodology`]).
//!
//! The modules follow the data: [`schema`] (the contract) → [`tables`] (the files
//! of a data root) → [`methodology`] (GM-1, periods) and [`functions`] (its SQL
//! functions) → [`queries`] (the SQL of `queries/`, registered as views) →
//! [`charts`] (results of a period) → [`publication`] (versioned files on a
//! [`store`]: a local directory or an S3 bucket).
//! [`GoldenMic::with_day_digests`] computes the same results from per-partition day
//! digests kept between runs, reading only the partitions whose files changed.
//!
//! The entry point is [`GoldenMic`]: open a data root, or attach the tables to a
//! `SessionContext` of your own from files or in-memory data ([`InputTables`]); then
//! compute a chart or coverage for a [`Period`], or ask SQL of the same session,
//! where the charts are table functions ([`table_functions`]).
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chart_core::{ChartKind, GoldenMic, Methodology, Period};
//!
//! # let dir = tempfile::tempdir()?;
//! # sample_data::generate(&sample_data::SampleSpec::small(1), dir.path())?;
//! # let data_root = dir.path();
//! // A data root in the data contract: plays/date=YYYY-MM-DD/*.parquet, songs/, venues/.
//! let engine = GoldenMic::open(data_root, Methodology::default()).await?;
//! let november: Period = "2024-11".parse()?;
//! let hot = engine.chart(ChartKind::Hot, &november).await?;
//! assert_eq!(hot.num_rows(), 100); // GM-1 charts have 100 entries
//!
//! // The same chart as a SQL table function, joined with the catalogue.
//! let top3 = engine
//!     .context()
//!     .sql(
//!         "SELECT h.rank, s.title, h.movement
//!          FROM hot_chart('2024-11', 3) AS h JOIN songs AS s USING (song_id)
//!          ORDER BY h.rank",
//!     )
//!     .await?
//!     .collect()
//!     .await?;
//! assert_eq!(top3.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
//! # Ok(()) }
//! ```
//!
//! `chart-core/examples/new_chart_service.rs` computes a month's new-song chart from
//! record batches held in memory, as a service embedding the library would.

#![warn(missing_docs)]

mod aggregate_stages;
pub mod analyst;
pub mod charts;
mod day_digests;
pub mod error;
pub mod functions;
mod lookup_joins;
pub mod methodology;
mod once_per_query;
pub mod publication;
pub mod queries;
pub mod schema;
mod shared_scan;
pub mod store;
pub mod table_functions;
pub mod tables;

pub use aggregate_stages::SingleStageAggregates;
pub use charts::{
    ChartKind, DataQuality, DayDigestReport, GoldenMic, session_builder, session_config,
};
pub use error::{ChartError, Result};
pub use lookup_joins::{LookupJoinExec, LookupJoins};
pub use methodology::{Methodology, Period, PeriodKind};
pub use publication::{Manifest, Outcome, Publication, history, publish, verify};
pub use store::{Location, StoreOptions};
pub use table_functions::TableFunctionKind;
pub use tables::{DataRoot, InputTables};
