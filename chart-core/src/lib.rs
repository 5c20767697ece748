//! # chart-core: the Golden Mic (金麦榜) karaoke charts on Apache DataFusion
//!
//! Karaoke venues' song-request (VOD) systems report every song each room plays.
//! This library turns those play events, stored as Parquet in the data contract of
//! [`contract::schema`], into the monthly (and annual) hot-song and new-song charts
//! with their history, the market-coverage metrics and a data-quality summary, under
//! the methodology GM-1 ([`Methodology`]), or GM-2, which screens for manipulation.
//!
//! The modules follow the data, each importing only those before it:
//!
//! 1. [`contract`]: the tables of a data root, validated, on a local disk or S3;
//! 2. [`methodology`]: GM-1's parameters, periods and SQL functions;
//! 3. [`queries`]: the SQL of `queries/`, one view per file, in dependency order;
//! 4. [`engine`]: the DataFusion extensions and session the views run on;
//! 5. `day_digests`: the same tables from per-partition digests kept between runs
//!    ([`GoldenMic::with_day_digests`]);
//! 6. [`distribution`]: licence fees to rights holders under D-1, in integer fen;
//! 7. [`screened_chart`]: GM-2, the monthly charts screened for manipulation, with
//!    rank intervals and a transparency report ([`Methodology::gm2`]);
//! 8. [`results`]: the charts, coverage, data quality and distribution of a period,
//!    and the same as SQL table functions;
//! 9. [`publication`]: versioned files of a period on a [`Location`];
//! 10. [`analyst`]: what an SQL shell over the same session needs.
//!
//! The entry point is [`GoldenMic`]: open a data root, or attach the tables to a
//! `SessionContext` of your own from files or in-memory data ([`InputTables`]); then
//! compute a chart or coverage for a [`Period`], or ask SQL of the same session,
//! where the charts are table functions ([`results::table_functions`]).
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

pub mod analyst;
pub mod contract;
mod day_digests;
pub mod distribution;
pub mod engine;
pub mod error;
mod large_vectors;
pub mod live;
pub mod methodology;
pub mod publication;
pub mod queries;
pub mod results;
pub mod screened_chart;

pub use contract::store::{Location, StoreOptions};
pub use contract::tables::{DataRoot, InputTables};
pub use distribution::Distribution;
pub use engine::{
    LookupJoinExec, LookupJoins, SingleStageAggregates, session_builder,
    session_builder_with_memory_limit, session_config,
};
pub use error::{ChartError, Result};
pub use methodology::{DistributionMethodology, Methodology, Period, PeriodKind};
pub use publication::{
    DistributionPublication, Manifest, Outcome, Product, Publication, PublishOptions, history,
    publish, publish_distribution, publish_with, verify,
};
pub use results::{ChartKind, DataQuality, DayDigestReport, GoldenMic, TableFunctionKind};
