//! The distribution of licence fees to rights holders under D-1
//! ([`crate::methodology::distribution`] states the rules):
//!
//! ```text
//!  fees/*.parquet ──► fees (rows checked) ─────────────┐
//!  plays ──► room_period_plays (counting methodology) ──► counted plays per  ──► ledger ──► tables
//!  songs, venues ──► holders, provinces ───────────────┘  month, venue, song     (u64 fen)
//! ```
//!
//! The counted plays come from the views of `queries/` on a session registered with
//! the counting methodology; everything after is plain Rust over rows ([`ledger`]),
//! in integer fen.

pub mod fees;
pub mod ledger;
pub mod tables;

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::{ChartError, Result};
use crate::methodology::{DistributionMethodology, Period, PeriodKind};

pub use fees::{FeeRow, read_fees};
pub use ledger::{Basis, CountedPlays, CountedPlaysBuilder, Ledger, LedgerInputs, Totals};
pub use tables::{DISTRIBUTION_TABLES, lines_schema};

/// The distribution of a period: the ledger and its published tables.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The period.
    pub period: Period,
    /// The methodology it was computed with.
    pub methodology: DistributionMethodology,
    /// Every fen's destination.
    pub ledger: Ledger,
    /// Per payee: the works payee, then each rights holder.
    pub statements: RecordBatch,
    /// Per song (and its rights holder).
    pub lines: RecordBatch,
    /// Per fee month and venue: where its fees went.
    pub venue_fees: RecordBatch,
    /// The period's totals, in one row.
    pub reconciliation: RecordBatch,
}

impl Distribution {
    /// The tables by name, in the order of [`DISTRIBUTION_TABLES`].
    pub fn tables(&self) -> [(&'static str, &RecordBatch); 4] {
        [
            ("statements", &self.statements),
            ("lines", &self.lines),
            ("venue_fees", &self.venue_fees),
            ("reconciliation", &self.reconciliation),
        ]
    }
}

/// Computes the distribution of `period` from `fees`, on `ctx`: a session whose
/// tables and views are registered under `methodology.counting`.
pub async fn distribute(
    ctx: &SessionContext,
    methodology: &DistributionMethodology,
    period: &Period,
    fees: &[FeeRow],
) -> Result<Distribution> {
    methodology.validate()?;
    let started = std::time::Instant::now();
    let counted = counted_plays(ctx, period).await?;
    tracing::info!(
        rows = counted.len(),
        seconds = started.elapsed().as_secs_f64(),
        "counted plays per month, venue and song"
    );
    let provinces: HashMap<String, String> =
        string_rows(ctx, "SELECT venue_id, province FROM venues", |_| true)
            .await?
            .into_iter()
            .filter_map(|row| Some((row[0].clone()?, row[1].clone()?)))
            .collect();
    // The rights holder, title and artist of the counted songs only (of a catalogue of
    // half a million, a month sings fewer).
    let mut holders = HashMap::new();
    let mut titles = HashMap::new();
    let keep = |song: &str| counted.has_song(song);
    for row in string_rows(
        ctx,
        "SELECT song_id, rights_holder_id, title, artist FROM songs",
        keep,
    )
    .await?
    {
        let Some(song) = row[0].clone() else {
            continue;
        };
        holders.insert(song.clone(), row[1].clone());
        titles.insert(
            song,
            (
                row[2].clone().unwrap_or_default(),
                row[3].clone().unwrap_or_default(),
            ),
        );
    }
    let started = std::time::Instant::now();
    let ledger = ledger::compute(
        methodology,
        LedgerInputs {
            period: *period,
            fees,
            counted: &counted,
            provinces: &provinces,
            holders: &holders,
        },
    )?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "distributed");
    Ok(Distribution {
        period: *period,
        methodology: methodology.clone(),
        statements: tables::statements(period, methodology, &ledger)?,
        lines: tables::lines(period, &ledger, &titles)?,
        venue_fees: tables::venue_fees(&ledger)?,
        reconciliation: tables::reconciliation(period, methodology, &ledger)?,
        ledger,
    })
}

/// Counted plays (the score after the room cap) per month, venue and song, of the
/// months of `period`: `room_figures` over the valid plays grouped by month, venue
/// and song (one aggregate; `room_period_plays` gives the same by three).
async fn counted_plays(ctx: &SessionContext, period: &Period) -> Result<CountedPlays> {
    let sql = format!(
        "SELECT CAST(date_trunc('month', business_day) AS DATE) AS month, venue_id, song_id, \
                room_figures(room_id, business_day, gm_param('room_cap'))['score'] AS counted \
         FROM valid_plays \
         WHERE business_day BETWEEN DATE '{}' AND DATE '{}' \
         GROUP BY date_trunc('month', business_day), venue_id, song_id",
        period.first_day(),
        period.last_day()
    );
    let mut builder = CountedPlaysBuilder::default();
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text = |i: usize| -> Result<arrow::array::StringArray> {
            let column = cast(batch.column(i), &DataType::Utf8).map_err(to_query)?;
            Ok(column.as_string::<i32>().clone())
        };
        let months = batch.column(0).as_primitive::<Date32Type>();
        let (venues, songs) = (text(1)?, text(2)?);
        let counted = cast(batch.column(3), &DataType::Int64).map_err(to_query)?;
        let counted = counted.as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let month = months
                .value_as_date(i)
                .map(|day| Period::containing(PeriodKind::Month, day))
                .ok_or_else(|| ChartError::InvalidPeriod(months.value(i).to_string()))?;
            builder.push(
                month,
                venues.value(i),
                songs.value(i),
                counted.value(i).max(0) as u64,
            )?;
        }
    }
    builder.finish()
}

/// The rows of a query of string columns whose first value passes `keep`.
async fn string_rows(
    ctx: &SessionContext,
    sql: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    let mut stream = ctx.sql(sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let columns = (0..batch.num_columns())
            .map(|i| {
                cast(batch.column(i), &DataType::Utf8)
                    .map(|c| c.as_string::<i32>().clone())
                    .map_err(to_query)
            })
            .collect::<Result<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
            if columns[0].is_valid(i) && !keep(columns[0].value(i)) {
                continue;
            }
            rows.push(
                columns
                    .iter()
                    .map(|c| c.is_valid(i).then(|| c.value(i).to_string()))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn to_query(e: arrow::error::ArrowError) -> ChartError {
    ChartError::Query(e.into())
}
