//! The rows of `fees`, read and checked one by one, so that a bad value is reported
//! with its file, row and column (the table is small: a row per venue, month and
//! business line).

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt, stream};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::contract::schema::FEES;
use crate::contract::tables::DataRoot;
use crate::error::{ChartError, Result};
use crate::methodology::{Period, PeriodKind};

/// One row of `fees`: what a venue paid for a month and a business line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeRow {
    /// The file (or in-memory table) the row came from.
    pub input: Arc<str>,
    /// Its row there, from 1.
    pub row: usize,
    /// The venue that paid.
    pub venue_id: String,
    /// The month the fee is for.
    pub period: Period,
    /// `ktv`, `mini_ktv`, `vod`, ...
    pub business_line: String,
    /// The amount collected, in fen (never negative).
    pub amount_fen: u64,
    /// When it was collected.
    pub collected_on: Option<NaiveDate>,
}

/// Fee files read at the same time.
const READS_IN_FLIGHT: usize = 8;

/// Every fee row of a data root, checked; [`ChartError::NoFees`] when it has none.
pub async fn read_fees(root: &DataRoot) -> Result<Vec<FeeRow>> {
    if root.fee_files()?.is_empty() {
        return Err(ChartError::NoFees {
            root: root.location().to_string(),
        });
    }
    let files: Vec<Vec<FeeRow>> = stream::iter(root.fee_files()?.to_vec())
        .map(|file| {
            let location = root.location().clone();
            async move {
                let input = location.join(&file.path).to_string();
                let bytes =
                    location
                        .read(&file.path)
                        .await?
                        .ok_or_else(|| ChartError::Corrupt {
                            file: input.clone(),
                            problem: "listed but gone".to_string(),
                        })?;
                fee_rows_of_file(&input, bytes)
            }
        })
        .buffered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(files.into_iter().flatten().collect())
}

fn fee_rows_of_file(input: &str, bytes: Bytes) -> Result<Vec<FeeRow>> {
    let unreadable = |source| ChartError::UnreadableParquet {
        file: input.into(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(unreadable)?
        .build()
        .map_err(unreadable)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(e.into()))?;
        rows.extend(fee_rows(input, &batch, rows.len())?);
    }
    Ok(rows)
}

/// The rows of one batch of `fees` (rows numbered after `rows_before`), checked
/// against the contract: every column present with an accepted type, no NULL in a
/// required column, the period a month, the amount not negative.
pub fn fee_rows(input: &str, batch: &RecordBatch, rows_before: usize) -> Result<Vec<FeeRow>> {
    FEES.check_schema(input, &batch.schema())?;
    let strings = |name: &'static str| -> Result<arrow::array::StringArray> {
        let column = batch.column_by_name(name).expect("checked by the contract");
        let column = cast(column, &DataType::Utf8).map_err(|e| ChartError::Query(e.into()))?;
        Ok(column.as_string::<i32>().clone())
    };
    let (venues, periods, lines) = (
        strings("venue_id")?,
        strings("period")?,
        strings("business_line")?,
    );
    let amounts = batch
        .column_by_name("amount_fen")
        .expect("checked")
        .as_primitive::<Int64Type>();
    let collected = batch
        .column_by_name("collected_on")
        .expect("checked")
        .as_primitive::<Date32Type>();
    let shared_input: Arc<str> = Arc::from(input);
    (0..batch.num_rows())
        .map(|i| {
            let row = rows_before + i + 1;
            let bad = |column: &'static str, problem: String| ChartError::BadValue {
                input: input.to_string(),
                row,
                column,
                problem,
            };
            let text = |array: &arrow::array::StringArray, column: &'static str| match array
                .is_valid(i)
                .then(|| array.value(i))
            {
                None => Err(bad(column, "NULL in a required column".into())),
                Some(value) if value.trim().is_empty() => {
                    Err(bad(column, format!("empty value `{value}`")))
                }
                Some(value) => Ok(value.to_string()),
            };
            let venue_id = text(&venues, "venue_id")?;
            let period_text = text(&periods, "period")?;
            let period = Period::parse_kind(PeriodKind::Month, &period_text).map_err(|_| {
                bad(
                    "period",
                    format!("`{period_text}` is not a month (expected YYYY-MM)"),
                )
            })?;
            let business_line = text(&lines, "business_line")?;
            let amount_fen = match amounts.is_valid(i).then(|| amounts.value(i)) {
                None => return Err(bad("amount_fen", "NULL in a required column".into())),
                Some(amount) if amount < 0 => {
                    return Err(bad("amount_fen", format!("negative amount {amount}")));
                }
                Some(amount) => amount as u64,
            };
            let collected_on = collected
                .is_valid(i)
                .then(|| collected.value_as_date(i))
                .flatten();
            Ok(FeeRow {
                input: shared_input.clone(),
                row,
                venue_id,
                period,
                business_line,
                amount_fen,
                collected_on,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn batch(periods: Vec<Option<&str>>, amounts: Vec<Option<i64>>) -> RecordBatch {
        let n = periods.len();
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("venue_id", DataType::Utf8, true),
                Field::new("period", DataType::Utf8, true),
                Field::new("business_line", DataType::Utf8, true),
                Field::new("amount_fen", DataType::Int64, true),
                Field::new("collected_on", DataType::Date32, true),
            ])),
            vec![
                Arc::new(StringArray::from(vec!["V1"; n])),
                Arc::new(StringArray::from(periods)),
                Arc::new(StringArray::from(vec!["ktv"; n])),
                Arc::new(Int64Array::from(amounts)),
                Arc::new(Date32Array::from(vec![None; n])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn bad_values_name_file_row_and_column() {
        let rows = fee_rows(
            "fees/a.parquet",
            &batch(vec![Some("2024-11")], vec![Some(5)]),
            0,
        )
        .unwrap();
        assert_eq!(rows[0].amount_fen, 5);
        assert_eq!(rows[0].period.to_string(), "2024-11");
        let error = |b: RecordBatch| fee_rows("fees/a.parquet", &b, 10).unwrap_err().to_string();
        assert_eq!(
            error(batch(
                vec![Some("2024-11"), Some("2024-11")],
                vec![Some(1), Some(-5)]
            )),
            "fees/a.parquet: row 12, column `amount_fen`: negative amount -5"
        );
        assert_eq!(
            error(batch(vec![Some("2024-11")], vec![None])),
            "fees/a.parquet: row 11, column `amount_fen`: NULL in a required column"
        );
        assert_eq!(
            error(batch(vec![Some("2024")], vec![Some(1)])),
            "fees/a.parquet: row 11, column `period`: `2024` is not a month (expected YYYY-MM)"
        );
        assert_eq!(
            error(batch(vec![None], vec![Some(1)])),
            "fees/a.parquet: row 11, column `period`: NULL in a required column"
        );
    }
}
