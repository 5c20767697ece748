//! The charts and metrics of a period, computed by the SQL of `queries/`.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt, stream};

use chrono::NaiveDate;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col, lit};
use serde::{Deserialize, Serialize};

use crate::aggregate_stages::SingleStageAggregates;
use crate::day_digests::{
    CHUNK_ENTRIES, FORMAT as DIGEST_FORMAT, KeptDigest, MergeInputs, ROW_GROUP_ENTRIES,
    compute_digest, groups_sharing_events, known_ids, merge,
};
use crate::error::{ChartError, Result};
use crate::functions::{bucket_bits, register_event_buckets, register_functions};
use crate::lookup_joins::LookupJoins;
use crate::methodology::{Methodology, Period, PeriodKind};
use crate::queries::{
    keep_batch, materialize, materialize_sharing, register_views, register_views_after,
};
use crate::schema::PLAYS_PARTITION_COLUMN;
use crate::store::Location;
use crate::table_functions::register_table_functions;
use crate::tables::{DataRoot, InputTables};

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

/// The session configuration the library opens its sessions with (in
/// [`session_builder`], recommended for sessions passed to [`GoldenMic::attach`]):
/// `information_schema` enabled, and hash joins whose build side is under 256 MiB or 8 million rows
/// built once and probed in place (`CollectLeft`), rather than both sides
/// repartitioned: the plays probe the song, venue and re-sent event tables that
/// way without being reshuffled (see docs/PERFORMANCE.md for the figure). Strings are
/// `Utf8`, as in the library's tables, also in Parquet files of the user's own
/// (`CREATE EXTERNAL TABLE`) and in `CAST(… AS VARCHAR)`: over `Utf8View`,
/// DataFusion 55's `COUNT(DISTINCT …)` beside other aggregates takes memory its
/// pool does not count, past any `--memory-limit` (docs/PERFORMANCE.md).
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    let options = config.options_mut();
    options.optimizer.hash_join_single_partition_threshold = 256 * 1024 * 1024;
    options.optimizer.hash_join_single_partition_threshold_rows = 8_000_000;
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    config
}

/// A session state builder with [`session_config`], DataFusion's default features and
/// the library's physical rewrites ([`SingleStageAggregates`], [`LookupJoins`]): the state of the
/// sessions the library opens, and the one recommended for your own, on which the
/// charts' aggregates are also planned in one stage when queried ad hoc (the views
/// [`GoldenMic::materialize`] computes are planned so on any session).
pub fn session_builder() -> SessionStateBuilder {
    SessionStateBuilder::new()
        .with_config(session_config())
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(SingleStageAggregates::golden_mic()))
        .with_physical_optimizer_rule(Arc::new(LookupJoins))
}

/// A session with the Golden Mic tables, functions, views and table functions
/// registered: the library's entry point.
///
/// Open one on a data root ([`GoldenMic::open`]), or attach the tables to a session
/// of your own ([`GoldenMic::attach`]) from files or in-memory data ([`InputTables`]).
pub struct GoldenMic {
    ctx: SessionContext,
    methodology: Methodology,
    inputs: InputTables,
    day_digests: Option<DigestLocation>,
    /// Entries per range of songs when merging day digests (small in tests).
    pub(crate) merge_chunk_entries: usize,
    /// Entries per row group of a day digest's `entries.parquet` (small in tests).
    pub(crate) digest_row_group_entries: usize,
}

/// Where [`GoldenMic::materialize_by_day`] keeps day digests.
#[derive(Debug, Clone)]
enum DigestLocation {
    /// In a temporary directory, for one computation.
    Temporary,
    /// At a location, reused across runs.
    Kept(Location),
}

impl GoldenMic {
    /// Opens a data root on a new session (with `information_schema` enabled).
    pub async fn open(root: impl AsRef<Path>, methodology: Methodology) -> Result<GoldenMic> {
        let inputs = DataRoot::open(root).await?.tables()?;
        GoldenMic::attach(
            SessionContext::new_with_state(session_builder().build()),
            inputs,
            methodology,
        )
        .await
    }

    /// Opens a data root at a location (a local directory or an object-store prefix)
    /// on a new session (with `information_schema` enabled).
    pub async fn open_location(root: &Location, methodology: Methodology) -> Result<GoldenMic> {
        let inputs = DataRoot::open_location(root).await?.tables()?;
        GoldenMic::attach(
            SessionContext::new_with_state(session_builder().build()),
            inputs,
            methodology,
        )
        .await
    }

    /// Registers on an existing session, replacing objects of the same names: the
    /// tables `plays`, `songs` and `venues`; the methodology's functions
    /// ([`crate::functions`]); the views of `queries/` ([`crate::queries`]); and the
    /// table functions `hot_chart`, `new_chart`, `coverage` and
    /// `coverage_by_province` ([`crate::table_functions`]). Checks that song and
    /// venue ids are unique.
    pub async fn attach(
        ctx: SessionContext,
        inputs: InputTables,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        let engine = GoldenMic::attach_unchecked(ctx, inputs, methodology).await?;
        for (table, column) in [("songs", "song_id"), ("venues", "venue_id")] {
            check_unique(&engine.ctx, table, column).await?;
        }
        Ok(engine)
    }

    async fn attach_unchecked(
        ctx: SessionContext,
        inputs: InputTables,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        register_functions(&ctx, &methodology)?;
        register_event_buckets(&ctx, bucket_bits(inputs.plays_rows()));
        inputs.register(&ctx)?;
        register_views(&ctx).await?;
        register_table_functions(&ctx, &inputs, &methodology).await?;
        Ok(GoldenMic {
            ctx,
            methodology,
            inputs,
            day_digests: None,
            merge_chunk_entries: CHUNK_ENTRIES,
            digest_row_group_entries: ROW_GROUP_ENTRIES,
        })
    }

    /// The same inputs under another methodology, on a new session that shares this
    /// one's configuration and runtime (memory pool, disk manager).
    pub async fn with_methodology(&self, methodology: Methodology) -> Result<GoldenMic> {
        let state = self.ctx.state();
        GoldenMic::derived(
            state.config().clone(),
            state.runtime_env().clone(),
            &self.inputs,
            methodology,
            None,
        )
        .await
    }

    /// The regional view of one province: the same methodology over only the plays
    /// of that province's venues (and only those venues), on a new session that
    /// shares this one's configuration and runtime. Its charts are the regional
    /// charts, its coverage that of the province.
    pub async fn regional(&self, province: &str) -> Result<GoldenMic> {
        let state = self.ctx.state();
        GoldenMic::derived(
            state.config().clone(),
            state.runtime_env().clone(),
            &self.inputs,
            self.methodology.clone(),
            Some(province),
        )
        .await
    }

    /// An engine over `inputs` (restricted to `province`, if any) on a new session.
    pub(crate) async fn derived(
        config: SessionConfig,
        runtime: Arc<RuntimeEnv>,
        inputs: &InputTables,
        methodology: Methodology,
        province: Option<&str>,
    ) -> Result<GoldenMic> {
        let state = session_builder()
            .with_config(config)
            .with_runtime_env(runtime)
            .build();
        let ctx = SessionContext::new_with_state(state);
        let inputs = match province {
            None => inputs.clone(),
            Some(province) => province_inputs(&ctx, inputs, province).await?,
        };
        GoldenMic::attach_unchecked(ctx, inputs, methodology).await
    }

    /// The session, for ad-hoc SQL over the same tables and views.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The methodology in force.
    pub fn methodology(&self) -> &Methodology {
        &self.methodology
    }

    /// The input tables.
    pub fn inputs(&self) -> &InputTables {
        &self.inputs
    }

    /// The validated input files, when the inputs are files.
    pub fn data(&self) -> Option<&DataRoot> {
        self.inputs.data_root()
    }

    /// Computes once, and keeps in memory, the small tables every result of a period
    /// is derived from, so that the charts, coverage and data quality that follow do
    /// not re-read the plays: `resent_events`, then `song_period_stats` and
    /// `room_period_outcomes` (from one pass over the classified plays) and
    /// `chart_entries` of the periods of `kind` (of both kinds for `None`). Call before computing several results; a result of another
    /// kind is then empty.
    ///
    /// Later changes to the files are not seen by this session.
    pub async fn materialize(&self, kind: Option<PeriodKind>) -> Result<()> {
        let filter = || kind.map(|kind| col("period_kind").eq(lit(kind.as_str())));
        materialize(&self.ctx, "resent_events", None).await?;
        // Both read every classified play: one pass of classified_plays feeds both.
        materialize_sharing(
            &self.ctx,
            "classified_plays",
            &[
                ("song_period_stats", filter()),
                ("room_period_outcomes", filter()),
            ],
        )
        .await?;
        materialize(&self.ctx, "chart_entries", filter()).await
    }

    /// The same engine, computing the tables of a publication from day digests
    /// ([`GoldenMic::materialize_by_day`]) when the plays come from files: kept at
    /// `location` and reused by later runs, or for `None` in a temporary directory.
    pub fn with_day_digests(mut self, location: Option<Location>) -> GoldenMic {
        self.day_digests = Some(match location {
            Some(location) => DigestLocation::Kept(location),
            None => DigestLocation::Temporary,
        });
        self
    }

    /// What [`crate::publish`] runs: [`GoldenMic::materialize_by_day`] when the engine
    /// was built [`GoldenMic::with_day_digests`] over files, else [`GoldenMic::materialize`].
    pub async fn materialize_for_publication(&self, kind: PeriodKind) -> Result<()> {
        if self.day_digests.is_some() && self.data().is_some() {
            self.materialize_by_day(Some(kind)).await.map(|_| ())
        } else {
            self.materialize(Some(kind)).await
        }
    }

    /// Computes the same tables as [`GoldenMic::materialize`] from day digests
    /// (`room_day_events` of each `date=` partition of `plays` alone, partitions that
    /// share an event id together), merged per period with the lookups of songs and
    /// venues. The results are the same. Digests are kept under the engine's digest
    /// location ([`GoldenMic::with_day_digests`]) and reused while a partition's files,
    /// and the parameters they depend on, are unchanged; without one, in a temporary
    /// directory removed after. Only inputs from files have partitions: in-memory
    /// inputs are refused.
    pub async fn materialize_by_day(&self, kind: Option<PeriodKind>) -> Result<DayDigestReport> {
        let started = std::time::Instant::now();
        let data = self.data().ok_or(ChartError::DayDigestsNeedFiles)?;
        let temporary;
        let store = match &self.day_digests {
            Some(DigestLocation::Kept(location)) => location.clone(),
            _ => {
                temporary = TemporaryDirectory::new()?;
                Location::local(&temporary.0)?
            }
        };
        let partitions = partition_files(data, &data.checksums().await?);
        let mut report = DayDigestReport {
            partitions: partitions.len(),
            ..DayDigestReport::default()
        };
        // Kept digests are opened a few at a time; the missing ones computed two at a
        // time (a partition's query alone keeps about one core busy).
        let units: Vec<DigestUnit> = partitions
            .iter()
            .map(|(date, (rows, files))| (vec![(*date, files.as_slice())], *rows))
            .collect();
        let digests = self.kept_digests(&store, &units, &mut report).await?;
        report.digesting = started.elapsed();
        let threads = self.ctx.state().config().target_partitions();
        let groups = groups_sharing_events(&digests, threads).await?;
        let mut units: Vec<KeptDigest> = Vec::with_capacity(groups.len());
        let mut digests: Vec<Option<KeptDigest>> = digests.into_iter().map(Some).collect();
        let mut shared = Vec::new();
        for group in &groups {
            if let [only] = group[..] {
                units.push(digests[only].take().expect("each digest in one group"));
            } else {
                report.shared_units += 1;
                let unit: Vec<(NaiveDate, &[(String, String)])> = group
                    .iter()
                    .map(|&d| {
                        let (date, (_, files)) = partitions.iter().nth(d).expect("a partition");
                        (*date, files.as_slice())
                    })
                    .collect();
                let rows = group
                    .iter()
                    .map(|&d| partitions.values().nth(d).expect("a partition").0)
                    .sum();
                shared.push((unit, rows));
            }
        }
        units.extend(self.kept_digests(&store, &shared, &mut report).await?);
        report.units = units.len();
        report.entries = units.iter().map(|u| u.info.entries).sum();
        report.grouping = started.elapsed() - report.digesting;
        let known_songs = known_ids(&self.ctx, "songs", "song_id").await?;
        let known_venues = known_ids(&self.ctx, "venues", "venue_id").await?;
        let kinds: Vec<PeriodKind> = match kind {
            Some(kind) => vec![kind],
            None => vec![PeriodKind::Month, PeriodKind::Year],
        };
        let merged = merge(
            units,
            MergeInputs {
                known_songs: Arc::new(known_songs),
                known_venues,
                // validated: at least 1
                room_cap: self.methodology.room_cap.max(1) as u64,
                kinds,
                threads: self.ctx.state().config().target_partitions(),
                chunk_entries: self.merge_chunk_entries,
            },
        )
        .await?;
        let song_schema = self
            .ctx
            .table("song_period_stats")
            .await?
            .schema()
            .inner()
            .clone();
        let room_schema = self
            .ctx
            .table("room_period_outcomes")
            .await?
            .schema()
            .inner()
            .clone();
        let songs = merged.song_period_stats(&song_schema)?;
        let rooms = merged.room_period_outcomes(&room_schema)?;
        drop(merged);
        keep_batch(&self.ctx, "song_period_stats", songs)?;
        keep_batch(&self.ctx, "room_period_outcomes", rooms)?;
        register_views_after(
            &self.ctx,
            Some("classified_plays"),
            &["song_period_stats", "room_period_outcomes"],
        )
        .await?;
        report.merging = started.elapsed() - report.digesting - report.grouping;
        let filter = kind.map(|kind| col("period_kind").eq(lit(kind.as_str())));
        materialize(&self.ctx, "chart_entries", filter).await?;
        tracing::info!(?report, "materialised from day digests");
        Ok(report)
    }

    /// The digests of units (each partitions with their files' paths and SHA-256, and
    /// its rows), kept in `store` under their keys: read if there, else computed and
    /// written.
    async fn kept_digests(
        &self,
        store: &Location,
        units: &[DigestUnit<'_>],
        report: &mut DayDigestReport,
    ) -> Result<Vec<KeptDigest>> {
        let dirs: Vec<Location> = units
            .iter()
            .map(|(unit, _)| store.join(&digest_key(&self.methodology, self.inputs.scope(), unit)))
            .collect();
        let opened: Vec<Option<KeptDigest>> = stream::iter(&dirs)
            .map(KeptDigest::open)
            .buffered(DIGESTS_OPENED_AT_ONCE)
            .try_collect()
            .await?;
        report.reused += opened.iter().flatten().count();
        let missing: Vec<usize> = (0..units.len()).filter(|&i| opened[i].is_none()).collect();
        report.computed += missing.len();
        let computed: Vec<(usize, KeptDigest)> = stream::iter(missing)
            .map(|i| {
                let (dir, (unit, rows)) = (&dirs[i], &units[i]);
                async move {
                    let digest = self.compute_kept_digest(dir, unit, *rows).await?;
                    Ok::<_, ChartError>((i, digest))
                }
            })
            .buffer_unordered(DIGESTS_COMPUTED_AT_ONCE)
            .try_collect()
            .await?;
        let mut digests = opened;
        for (i, digest) in computed {
            digests[i] = Some(digest);
        }
        Ok(digests
            .into_iter()
            .map(|d| d.expect("opened or computed"))
            .collect())
    }

    /// Computes the digest of a unit into `dir`.
    async fn compute_kept_digest(
        &self,
        dir: &Location,
        unit: &[(NaiveDate, &[(String, String)])],
        rows: i64,
    ) -> Result<KeptDigest> {
        let dates: Vec<NaiveDate> = unit.iter().map(|(date, _)| *date).collect();
        let state = session_builder()
            .with_config(self.ctx.state().config().clone())
            .with_runtime_env(self.ctx.runtime_env())
            .build();
        let ctx = SessionContext::new_with_state(state);
        self.inputs.register(&ctx)?;
        let days: Vec<Expr> = dates
            .iter()
            .map(|d| lit(ScalarValue::Date32(Some(days_since_epoch(*d)))))
            .collect();
        let plays = ctx
            .table("plays")
            .await?
            .filter(col(PLAYS_PARTITION_COLUMN).in_list(days, false))?
            .into_view();
        ctx.deregister_table("plays")?;
        ctx.register_table("plays", plays)?;
        register_functions(&ctx, &self.methodology)?;
        register_event_buckets(&ctx, bucket_bits(Some(rows.max(0) as u64)));
        register_views(&ctx).await?;
        compute_digest(&ctx, dates, dir, self.digest_row_group_entries).await?;
        KeptDigest::open(dir)
            .await?
            .ok_or_else(|| ChartError::Corrupt {
                file: dir.join("digest.json").to_string(),
                problem: "not found right after it was written".into(),
            })
    }

    /// Fails with [`ChartError::NoData`] when the inputs are files and no play
    /// partition lies in the period (in-memory inputs are not checked).
    pub fn check_has_plays(&self, period: &Period) -> Result<()> {
        match self.data() {
            Some(data) => check_has_plays(data, period),
            None => Ok(()),
        }
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

/// The inputs restricted to one province: its venues, and the plays of its venues.
async fn province_inputs(
    ctx: &SessionContext,
    inputs: &InputTables,
    province: &str,
) -> Result<InputTables> {
    inputs.register(ctx)?;
    let venues = ctx
        .table("venues")
        .await?
        .filter(col("province").eq(lit(province)))?;
    if venues.clone().count().await? == 0 {
        let known = ctx
            .sql(
                "SELECT DISTINCT province FROM venues WHERE province IS NOT NULL ORDER BY province",
            )
            .await?
            .collect()
            .await?;
        let known: Vec<String> = known
            .iter()
            .flat_map(|b| {
                let column = b.column(0).clone();
                (0..b.num_rows()).filter_map(move |i| {
                    arrow::util::display::array_value_to_string(&column, i).ok()
                })
            })
            .collect();
        return Err(ChartError::UnknownProvince {
            province: province.to_string(),
            known: known.join(", "),
        });
    }
    let venue_ids = venues.clone().select_columns(&["venue_id"])?;
    let plays = ctx.table("plays").await?.join(
        venue_ids,
        JoinType::LeftSemi,
        &["venue_id"],
        &["venue_id"],
        None,
    )?;
    Ok(inputs
        .clone()
        .with_provider("plays", plays.into_view())
        .with_provider("venues", venues.into_view())
        .scoped(format!("province={province}")))
}

/// What [`GoldenMic::materialize_by_day`] did, and how long each step took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayDigestReport {
    /// `date=` partitions of `plays`.
    pub partitions: usize,
    /// Units merged: partitions, and groups of partitions that share event ids.
    pub units: usize,
    /// Units of more than one partition (digested together).
    pub shared_units: usize,
    /// Digests computed (and kept).
    pub computed: usize,
    /// Digests found kept and reused.
    pub reused: usize,
    /// Entries of the units' digests.
    pub entries: usize,
    /// Reading or computing the digest of every partition.
    pub digesting: std::time::Duration,
    /// Finding the partitions that share events, and digesting those groups.
    pub grouping: std::time::Duration,
    /// Merging the units into `song_period_stats` and `room_period_outcomes`.
    pub merging: std::time::Duration,
}

/// The files of each partition of `plays` (path and SHA-256, by path) and its rows.
fn partition_files(
    data: &DataRoot,
    checksums: &[String],
) -> BTreeMap<NaiveDate, (i64, Vec<(String, String)>)> {
    let mut partitions: BTreeMap<NaiveDate, (i64, Vec<(String, String)>)> = data
        .play_days()
        .iter()
        .map(|(&date, &rows)| (date, (rows, Vec::new())))
        .collect();
    for (file, sha) in data.files().iter().zip(checksums) {
        if file.table != "plays" {
            continue;
        }
        let date = file
            .path
            .split('/')
            .nth(1)
            .and_then(|dir| dir.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if let Some((_, files)) = date.and_then(|d| partitions.get_mut(&d)) {
            files.push((file.path.clone(), sha.clone()));
        }
    }
    for (_, files) in partitions.values_mut() {
        files.sort();
    }
    partitions
}

/// The directory name of a unit's digest: the SHA-256 of the digest format, the plays'
/// scope (a province's view), the parameters `checked_plays` depends on, and the unit's
/// files with their SHA-256.
fn digest_key(
    methodology: &Methodology,
    scope: Option<&str>,
    unit: &[(NaiveDate, &[(String, String)])],
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut line = |text: String| {
        hasher.update(text.as_bytes());
        hasher.update(b"\n");
    };
    line(DIGEST_FORMAT.to_string());
    if let Some(scope) = scope {
        line(format!("scope {scope}"));
    }
    line(format!(
        "timezone={} day_start_minutes={} min_played_ms={}",
        methodology.timezone, methodology.day_start_minutes, methodology.min_played_ms
    ));
    for (date, files) in unit {
        line(format!("date={date}"));
        for (path, sha) in *files {
            line(format!("{path} {sha}"));
        }
    }
    crate::publication::hex(&hasher.finalize())
}

/// A directory under the system's temporary directory, removed when dropped.
struct TemporaryDirectory(std::path::PathBuf);

impl TemporaryDirectory {
    fn new() -> Result<TemporaryDirectory> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "golden-mic-day-digests-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).map_err(|source| ChartError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(TemporaryDirectory(path))
    }
}

impl Drop for TemporaryDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A unit to digest: its partitions, each with its files' paths and SHA-256, and
/// its rows.
type DigestUnit<'a> = (Vec<(NaiveDate, &'a [(String, String)])>, i64);

/// Kept day digests opened at the same time.
const DIGESTS_OPENED_AT_ONCE: usize = 8;

/// Day digests computed at the same time.
const DIGESTS_COMPUTED_AT_ONCE: usize = 2;

/// Days from 1970-01-01 (`Date32`).
fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}
