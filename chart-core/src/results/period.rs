//! The results of one period, read from the views of a session where the library's
//! tables, functions and views are registered ([`super::session`]): the charts, the
//! coverage tables and the data-quality summary, each with its columns in order.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use serde::{Deserialize, Serialize};

use crate::contract::tables::DataRoot;
use crate::error::{ChartError, Result};
use crate::methodology::Period;

/// The two Golden Mic charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// 热歌榜: every song.
    Hot,
    /// 新歌榜: songs released in the new-song window.
    New,
}

impl ChartKind {
    /// `hot` or `new`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Hot => "hot",
            ChartKind::New => "new",
        }
    }

    fn view(self) -> &'static str {
        match self {
            ChartKind::Hot => "hot_chart",
            ChartKind::New => "new_chart",
        }
    }
}

/// The columns of a published chart, in order.
pub const CHART_COLUMNS: [&str; 12] = [
    "rank",
    "song_id",
    "title",
    "artist",
    "score",
    "plays",
    "venues",
    "rooms",
    "prev_rank",
    "peak_rank",
    "months_on_chart",
    "movement",
];

/// The columns of the national coverage table, in order.
pub const COVERAGE_COLUMNS: [&str; 12] = [
    "period",
    "licensed_venues",
    "connected_venues",
    "coverage_share",
    "provinces",
    "cities",
    "rooms",
    "new_venues",
    "new_venues_prev",
    "new_venues_growth",
    "active_venues",
    "active_rooms",
];

/// The columns of the per-province coverage table, in order.
pub const PROVINCE_COVERAGE_COLUMNS: [&str; 12] = [
    "period",
    "province",
    "licensed_venues",
    "connected_venues",
    "coverage_share",
    "cities",
    "rooms",
    "new_venues",
    "new_venues_prev",
    "new_venues_growth",
    "active_venues",
    "active_rooms",
];

/// What became of a period's play rows (see `queries/data_quality.sql`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataQuality {
    /// Play rows whose business day falls in the period.
    pub rows_received: i64,
    /// Re-sent copies of an event already counted.
    pub duplicate_copies: i64,
    /// Events with a required column missing.
    pub missing_value: i64,
    /// Events shorter than the minimum play.
    pub short_play: i64,
    /// Events of a song not in `songs`.
    pub unknown_song: i64,
    /// Events from a venue not in `venues`.
    pub unknown_venue: i64,
    /// Valid plays.
    pub valid_plays: i64,
    /// Valid plays beyond the room cap (in `plays`, not in `score`).
    pub over_room_cap: i64,
}

/// A chart of a period: the columns of [`CHART_COLUMNS`], by rank.
pub(crate) async fn chart(
    ctx: &SessionContext,
    kind: ChartKind,
    period: &Period,
) -> Result<RecordBatch> {
    let df = period_rows(ctx, kind.view(), period).await?;
    collect(
        df.select_columns(&CHART_COLUMNS)?
            .sort_by(vec![col("rank")])?,
    )
    .await
}

/// National coverage of a period: one row, the columns of [`COVERAGE_COLUMNS`].
pub(crate) async fn coverage(ctx: &SessionContext, period: &Period) -> Result<RecordBatch> {
    let df = period_rows(ctx, "coverage", period).await?;
    collect(df.select_columns(&COVERAGE_COLUMNS)?).await
}

/// Coverage per province: the columns of [`PROVINCE_COVERAGE_COLUMNS`], by province.
pub(crate) async fn coverage_by_province(
    ctx: &SessionContext,
    period: &Period,
) -> Result<RecordBatch> {
    let df = period_rows(ctx, "coverage_by_province", period).await?;
    collect(
        df.select_columns(&PROVINCE_COVERAGE_COLUMNS)?
            .sort_by(vec![col("province")])?,
    )
    .await
}

/// What became of the period's play rows.
pub(crate) async fn data_quality(ctx: &SessionContext, period: &Period) -> Result<DataQuality> {
    let batch = collect(period_rows(ctx, "data_quality", period).await?).await?;
    let value = |name: &str| -> i64 {
        batch
            .column_by_name(name)
            .filter(|c| !c.is_empty() && !c.is_null(0))
            .map(|c| c.as_primitive::<Int64Type>().value(0))
            .unwrap_or(0)
    };
    Ok(DataQuality {
        rows_received: value("rows_received"),
        duplicate_copies: value("duplicate_copies"),
        missing_value: value("missing_value"),
        short_play: value("short_play"),
        unknown_song: value("unknown_song"),
        unknown_venue: value("unknown_venue"),
        valid_plays: value("valid_plays"),
        over_room_cap: value("over_room_cap"),
    })
}

/// The rows of a view for one period.
async fn period_rows(ctx: &SessionContext, view: &str, period: &Period) -> Result<DataFrame> {
    Ok(ctx.table(view).await?.filter(
        col("period_kind")
            .eq(lit(period.kind().as_str()))
            .and(col("period").eq(lit(period.to_string()))),
    )?)
}

/// Collects a data frame into one batch (empty batches keep the schema).
async fn collect(df: DataFrame) -> Result<RecordBatch> {
    let schema = df.schema().inner().clone();
    let batches = df.collect().await?;
    Ok(concat_batches(&schema, &batches).map_err(datafusion::error::DataFusionError::from)?)
}

/// Fails with [`ChartError::NoData`] when no play partition of `data` lies in the period.
pub(crate) fn check_has_plays(data: &DataRoot, period: &Period) -> Result<()> {
    let days = data.play_days();
    let rows: i64 = days
        .range(period.first_day()..=period.last_day())
        .map(|(_, rows)| rows)
        .sum();
    if rows > 0 {
        return Ok(());
    }
    let detail = match (days.keys().next(), days.keys().next_back()) {
        (Some(first), Some(last)) => format!(
            "{}/plays has play rows from {first} to {last} only",
            data.location()
        ),
        _ => format!("{}/plays has no play rows", data.location()),
    };
    Err(ChartError::NoData {
        period: period.to_string(),
        detail,
    })
}
