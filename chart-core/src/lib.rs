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
//! [`charts`] (results of a period) → [`publication`] (files on disk).
//!
//! ```no_run
//! # async fn demo() -> chart_core::Result<()> {
//! use chart_core::{ChartKind, GoldenMic, Methodology, Period};
//!
//! let engine = GoldenMic::open("sample", Methodology::default()).await?;
//! let november: Period = "2024-11".parse()?;
//! let hot = engine.chart(ChartKind::Hot, &november).await?;
//! println!("{} songs on the hot chart", hot.num_rows());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod charts;
pub mod error;
pub mod functions;
pub mod methodology;
pub mod publication;
pub mod queries;
pub mod schema;
pub mod tables;

pub use charts::{ChartKind, DataQuality, GoldenMic};
pub use error::{ChartError, Result};
pub use methodology::{Methodology, Period, PeriodKind};
pub use publication::{Manifest, Publication, publish};
pub use tables::DataRoot;
