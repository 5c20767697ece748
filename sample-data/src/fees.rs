//! Licence fees, calibrated to the 2024 annual report: every licensed venue pays for
//! each of its rooms every month, and a calendar year's fees add up to the report's
//! KTV income exactly.

use std::sync::Arc;

use arrow::array::{Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, Months, NaiveDate};

use crate::Calibration;
use crate::venues::{EPOCH_DAYS_FROM_CE, Venue};

/// One row of `fees`.
struct Fee<'a> {
    venue_id: &'a str,
    month: NaiveDate,
    amount_fen: i64,
}

/// The fees of every month of `year`: a venue pays from the month its licence
/// starts, in proportion to its rooms; the year adds up to
/// [`Calibration::KTV_FEES_2024_FEN`] (the fen a whole-fen split leaves go one each to
/// the first rows).
pub(crate) fn fees_batch(venues: &[Venue], year: i32) -> RecordBatch {
    let mut fees = Vec::new();
    let mut rooms = Vec::new();
    for month in 1..=12 {
        let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
        let last = first
            .checked_add_months(Months::new(1))
            .and_then(|d| d.pred_opt())
            .expect("in range");
        for venue in venues {
            if venue.licensed_since.is_some_and(|d| d <= last) {
                fees.push(Fee {
                    venue_id: &venue.venue_id,
                    month: first,
                    amount_fen: 0,
                });
                rooms.push(venue.rooms as i128);
            }
        }
    }
    let total = Calibration::KTV_FEES_2024_FEN as i128;
    let all_rooms: i128 = rooms.iter().sum::<i128>().max(1);
    let mut given = 0;
    for (fee, &r) in fees.iter_mut().zip(&rooms) {
        fee.amount_fen = (total * r / all_rooms) as i64;
        given += fee.amount_fen as i128;
    }
    for fee in fees.iter_mut().take((total - given) as usize) {
        fee.amount_fen += 1;
    }
    let days = |d: NaiveDate| d.num_days_from_ce() - EPOCH_DAYS_FROM_CE;
    // Collected on the 10th of the month after.
    let collected = |month: NaiveDate| {
        days(month.checked_add_months(Months::new(1)).expect("in range") + chrono::Days::new(9))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
        Field::new("business_line", DataType::Utf8, false),
        Field::new("amount_fen", DataType::Int64, false),
        Field::new("collected_on", DataType::Date32, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                fees.iter().map(|f| f.venue_id),
            )),
            Arc::new(StringArray::from_iter_values(
                fees.iter().map(|f| f.month.format("%Y-%m").to_string()),
            )),
            Arc::new(StringArray::from_iter_values(fees.iter().map(|_| "ktv"))),
            Arc::new(Int64Array::from_iter_values(
                fees.iter().map(|f| f.amount_fen),
            )),
            Arc::new(Date32Array::from_iter_values(
                fees.iter().map(|f| collected(f.month)),
            )),
        ],
    )
    .expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;

    #[test]
    fn a_year_of_fees_is_the_reports_ktv_income() {
        let venues = crate::venues::generate_venues(3);
        let batch = fees_batch(&venues, 2024);
        let amounts = batch.column(3).as_primitive::<Int64Type>();
        assert_eq!(
            amounts.iter().map(|a| a.unwrap()).sum::<i64>(),
            37_954_000_000
        );
        let december: std::collections::HashSet<&str> = batch
            .column(0)
            .as_string::<i32>()
            .iter()
            .zip(batch.column(1).as_string::<i32>().iter())
            .filter(|(_, p)| *p == Some("2024-12"))
            .map(|(v, _)| v.unwrap())
            .collect();
        assert_eq!(december.len(), Calibration::LICENSED_VENUES_2024);
    }
}
