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
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use crate::error::{ChartError, Result};
use crate::methodology::{DistributionMethodology, Period, PeriodKind};

pub use fees::{FeeRow, read_fees};
pub use ledger::{Basis, CountedPlays, Ledger, LedgerInputs, Totals};
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
    /// Per fee month and venue.
    pub venues: RecordBatch,
    /// The period's totals, in one row.
    pub reconciliation: RecordBatch,
}

impl Distribution {
    /// The tables by name, in the order of [`DISTRIBUTION_TABLES`].
    pub fn tables(&self) -> [(&'static str, &RecordBatch); 4] {
        [
            ("statements", &self.statements),
            ("lines", &self.lines),
            ("venues", &self.venues),
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
    let counted = counted_plays(ctx, period).await?;
    let provinces: HashMap<String, String> =
        string_rows(ctx, "SELECT venue_id, province FROM venues")
            .await?
            .into_iter()
            .filter_map(|row| Some((row[0].clone()?, row[1].clone()?)))
            .collect();
    let mut holders = HashMap::new();
    let mut titles = HashMap::new();
    for row in string_rows(
        ctx,
        "SELECT song_id, rights_holder_id, title, artist FROM songs",
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
    Ok(Distribution {
        period: *period,
        methodology: methodology.clone(),
        statements: tables::statements(period, methodology, &ledger)?,
        lines: tables::lines(period, &ledger, &titles)?,
        venues: tables::venues(&ledger)?,
        reconciliation: tables::reconciliation(period, methodology, &ledger)?,
        ledger,
    })
}

/// Counted plays (the score after the room cap) per month, venue and song, of the
/// months of `period`, from the view `room_period_plays`.
async fn counted_plays(ctx: &SessionContext, period: &Period) -> Result<Vec<CountedPlays>> {
    let first = Period::containing(PeriodKind::Month, period.first_day());
    let last = Period::containing(PeriodKind::Month, period.last_day());
    let sql = format!(
        "SELECT period, venue_id, song_id, CAST(SUM(score) AS BIGINT) AS counted \
         FROM room_period_plays \
         WHERE period_kind = 'month' AND period >= '{first}' AND period <= '{last}' \
         GROUP BY period, venue_id, song_id"
    );
    let mut rows = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text = |i: usize| -> Result<arrow::array::StringArray> {
            let column = cast(batch.column(i), &DataType::Utf8).map_err(to_query)?;
            Ok(column.as_string::<i32>().clone())
        };
        let (months, venues, songs) = (text(0)?, text(1)?, text(2)?);
        let counted = batch
            .column(3)
            .as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..batch.num_rows() {
            let month: Period = months.value(i).parse()?;
            rows.push(CountedPlays {
                month,
                venue_id: venues.value(i).to_string(),
                song_id: songs.value(i).to_string(),
                counted: counted.value(i).max(0) as u64,
            });
        }
    }
    Ok(rows)
}

/// The rows of a query of string columns.
async fn string_rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for batch in ctx.sql(sql).await?.collect().await? {
        let columns = (0..batch.num_columns())
            .map(|i| {
                cast(batch.column(i), &DataType::Utf8)
                    .map(|c| c.as_string::<i32>().clone())
                    .map_err(to_query)
            })
            .collect::<Result<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
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
