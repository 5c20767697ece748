//! The results of a period: the charts, coverage and data quality computed by the
//! views of `queries/` ([`GoldenMic`]), and the same results as SQL table functions
//! ([`table_functions`]).
//!
//! Inside, each file imports only those above it in this list:
//! `period` (reading one period's results from a session's views), `session`
//! (registering the tables, functions and views on a session), [`table_functions`],
//! [`golden_mic`] (the entry point).

pub mod golden_mic;
mod period;
mod session;
pub mod table_functions;

pub use crate::day_digests::DayDigestReport;
pub use golden_mic::GoldenMic;
pub use period::{
    CHART_COLUMNS, COVERAGE_COLUMNS, ChartKind, DataQuality, PROVINCE_COVERAGE_COLUMNS,
};
pub use table_functions::TableFunctionKind;
