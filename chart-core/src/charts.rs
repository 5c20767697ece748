//! The charts and metrics of a period, computed by the SQL of `queries/`.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col, lit};
use serde::Serialize;

use crate::error::{ChartError, Result};
use crate::functions::register_functions;
use crate::methodology::{Methodology, Period};
use crate::queries::{materialize, register_views};
use crate::tables::DataRoot;

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

/// A session with the Golden Mic tables, functions and views registered: the
/// library's entry point.
pub struct GoldenMic {
    ctx: SessionContext,
    methodology: Methodology,
    data: DataRoot,
}

impl GoldenMic {
    /// Opens a data root on a new session.
    pub async fn open(root: impl AsRef<Path>, methodology: Methodology) -> Result<GoldenMic> {
        let data = DataRoot::open(root)?;
        let config = SessionConfig::new().with_information_schema(true);
        GoldenMic::attach(SessionContext::new_with_config(config), data, methodology).await
    }

    /// Registers the tables of `data`, the methodology's functions and the views of
    /// `queries/` on an existing session, and checks that song and venue ids are unique.
    pub async fn attach(
        ctx: SessionContext,
        data: DataRoot,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        register_functions(&ctx, &methodology)?;
        data.register(&ctx).await?;
        for (table, column) in [("songs", "song_id"), ("venues", "venue_id")] {
            check_unique(&ctx, table, column).await?;
        }
        register_views(&ctx).await?;
        Ok(GoldenMic {
            ctx,
            methodology,
            data,
        })
    }

    /// The session, for ad-hoc SQL over the same tables and views.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The methodology in force.
    pub fn methodology(&self) -> &Methodology {
        &self.methodology
    }

    /// The validated input files.
    pub fn data(&self) -> &DataRoot {
        &self.data
    }

    /// Computes the per-room figures of every period once and keeps them in memory,
    /// so that the charts, coverage and data quality of one or more periods that
    /// follow do not re-read the plays. Call before computing several results.
    ///
    /// The views replaced by in-memory tables are `room_period_plays` (read by
    /// coverage and data quality), `song_period_stats` and `chart_entries` (read by
    /// both charts); later changes to the files are not seen by this session.
    pub async fn materialize(&self) -> Result<()> {
        for view in ["room_period_plays", "song_period_stats", "chart_entries"] {
            materialize(&self.ctx, view).await?;
        }
        Ok(())
    }

    /// Fails with [`ChartError::NoData`] when no play partition lies in the period.
    pub fn check_has_plays(&self, period: &Period) -> Result<()> {
        let days = self.data.play_days();
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
                self.data.path().display()
            ),
            _ => format!("{}/plays has no play rows", self.data.path().display()),
        };
        Err(ChartError::NoData {
            period: period.to_string(),
            detail,
        })
    }

    /// A chart of a period: the columns of [`CHART_COLUMNS`], by rank.
    pub async fn chart(&self, kind: ChartKind, period: &Period) -> Result<RecordBatch> {
        let df = self.period_rows(kind.view(), period).await?;
        collect(
            df.select_columns(&CHART_COLUMNS)?
                .sort_by(vec![col("rank")])?,
        )
        .await
    }

    /// National coverage of a period: one row, the columns of [`COVERAGE_COLUMNS`].
    pub async fn coverage(&self, period: &Period) -> Result<RecordBatch> {
        let df = self.period_rows("coverage", period).await?;
        collect(df.select_columns(&COVERAGE_COLUMNS)?).await
    }

    /// Coverage per province: the columns of [`PROVINCE_COVERAGE_COLUMNS`], by province.
    pub async fn coverage_by_province(&self, period: &Period) -> Result<RecordBatch> {
        let df = self.period_rows("coverage_by_province", period).await?;
        collect(
            df.select_columns(&PROVINCE_COVERAGE_COLUMNS)?
                .sort_by(vec![col("province")])?,
        )
        .await
    }

    /// What became of the period's play rows.
    pub async fn data_quality(&self, period: &Period) -> Result<DataQuality> {
        let batch = collect(self.period_rows("data_quality", period).await?).await?;
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

    async fn period_rows(&self, view: &str, period: &Period) -> Result<DataFrame> {
        Ok(self.ctx.table(view).await?.filter(
            col("period_kind")
                .eq(lit(period.kind().as_str()))
                .and(col("period").eq(lit(period.to_string()))),
        )?)
    }
}

/// Collects a data frame into one batch (empty batches keep the schema).
async fn collect(df: DataFrame) -> Result<RecordBatch> {
    let schema = df.schema().inner().clone();
    let batches = df.collect().await?;
    Ok(concat_batches(&schema, &batches).map_err(datafusion::error::DataFusionError::from)?)
}

async fn check_unique(
    ctx: &SessionContext,
    table: &'static str,
    column: &'static str,
) -> Result<()> {
    let sql = format!(
        "SELECT {column} FROM {table} WHERE {column} IS NOT NULL \
         GROUP BY {column} HAVING COUNT(*) > 1 ORDER BY {column} LIMIT 1"
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    if let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) {
        let value = arrow::util::display::array_value_to_string(batch.column(0), 0)
            .map_err(datafusion::error::DataFusionError::from)?;
        return Err(ChartError::DuplicateKey {
            table,
            column,
            value,
        });
    }
    Ok(())
}
