//! [`GoldenMic`], the library's entry point: a session with the Golden Mic tables,
//! functions, views and table functions, and the results of a period computed on it.

use std::path::Path;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::prelude::{SessionContext, col, lit};

use crate::contract::schema::PLAYS_PARTITION_COLUMN;
use crate::contract::store::Location;
use crate::contract::tables::{DataRoot, InputTables};
use crate::day_digests::{
    CHUNK_ENTRIES, DayDigestReport, DayDigests, DigestLocation, ROW_GROUP_ENTRIES,
};
use crate::distribution::{Distribution, FeeRow, distribute, read_fees};
use crate::engine::session_builder;
use crate::engine::views::{SharedFeed, materialize, materialize_sharing};
use crate::error::{ChartError, Result};
use crate::methodology::{DistributionMethodology, Methodology, Period, PeriodKind};
use crate::results::period::{self, ChartKind, DataQuality, check_has_plays};
use crate::results::session::{check_unique, derived_session, register_views_over};
use crate::results::table_functions::register_table_functions;

/// What GM-2's screening of a month reads besides the session
/// ([`GoldenMic::materialize_for_screening`]).
#[derive(Debug, Default)]
pub(crate) struct ScreeningInput {
    /// The month's valid plays, already read.
    pub plays: Option<crate::screened_chart::MonthPlays>,
    /// GM-2's day digests of the data root's units.
    pub digests: Option<crate::screened_chart::ScreenedDigests>,
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
    /// The period kinds whose tables this engine's session keeps in memory: `None`
    /// for a session computing from the inputs; `Some(None)` for both kinds.
    materialized: Option<Option<PeriodKind>>,
    /// Entries per range of songs when merging day digests (small in tests).
    pub(crate) merge_chunk_entries: usize,
    /// Entries per row group of a day digest's `entries.parquet` (small in tests).
    pub(crate) digest_row_group_entries: usize,
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
    /// tables `plays`, `songs` and `venues`; the methodology's and the engine's
    /// functions ([`crate::engine::register_functions`]); the views of `queries/`
    /// ([`crate::queries`]); and the table functions `hot_chart`, `new_chart`,
    /// `coverage` and `coverage_by_province` ([`crate::results::table_functions`]).
    /// Checks that song and venue ids are unique.
    pub async fn attach(
        ctx: SessionContext,
        inputs: InputTables,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        register_views_over(&ctx, &inputs, &methodology).await?;
        for (table, column) in [("songs", "song_id"), ("venues", "venue_id")] {
            check_unique(&ctx, table, column).await?;
        }
        GoldenMic::with_table_functions(ctx, inputs, methodology).await
    }

    /// [`GoldenMic::attach`] without its uniqueness checks of song and venue ids (two
    /// scans of those tables): for the sessions of inputs an earlier `attach` checked,
    /// such as a server's session per connection.
    pub async fn attach_unchecked(
        ctx: SessionContext,
        inputs: InputTables,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        register_views_over(&ctx, &inputs, &methodology).await?;
        GoldenMic::with_table_functions(ctx, inputs, methodology).await
    }

    /// The engine over a session whose tables, functions and views are registered.
    async fn with_table_functions(
        ctx: SessionContext,
        inputs: InputTables,
        methodology: Methodology,
    ) -> Result<GoldenMic> {
        register_table_functions(&ctx, &inputs, &methodology).await?;
        Ok(GoldenMic {
            ctx,
            methodology,
            inputs,
            day_digests: None,
            materialized: None,
            merge_chunk_entries: CHUNK_ENTRIES,
            digest_row_group_entries: ROW_GROUP_ENTRIES,
        })
    }

    /// The same inputs under another methodology, on a new session that shares this
    /// one's configuration and runtime (memory pool, disk manager).
    pub async fn with_methodology(&self, methodology: Methodology) -> Result<GoldenMic> {
        self.derived(methodology, None).await
    }

    /// The regional view of one province: the same methodology over only the plays
    /// of that province's venues (and only those venues), on a new session that
    /// shares this one's configuration and runtime. Its charts are the regional
    /// charts, its coverage that of the province.
    pub async fn regional(&self, province: &str) -> Result<GoldenMic> {
        self.derived(self.methodology.clone(), Some(province)).await
    }

    /// An engine over this one's inputs (restricted to `province`, if any) on a new
    /// session sharing this one's configuration and runtime.
    async fn derived(&self, methodology: Methodology, province: Option<&str>) -> Result<GoldenMic> {
        let state = self.ctx.state();
        let (ctx, inputs) = derived_session(
            state.config().clone(),
            state.runtime_env().clone(),
            &self.inputs,
            &methodology,
            province,
        )
        .await?;
        let mut engine = GoldenMic::with_table_functions(ctx, inputs, methodology).await?;
        engine.day_digests = self.day_digests.clone();
        engine.merge_chunk_entries = self.merge_chunk_entries;
        engine.digest_row_group_entries = self.digest_row_group_entries;
        Ok(engine)
    }

    /// An engine over the plays of the `date=` partitions up to `last` alone (the
    /// partitions listed again, the plays table filtered on `date`), with the same songs,
    /// venues, methodology, digests and runtime; `None` when the plays are not files or
    /// no partition is that early.
    pub async fn up_to_partition(&self, last: NaiveDate) -> Result<Option<GoldenMic>> {
        let Some(data) = self.data() else {
            return Ok(None);
        };
        let days: Vec<NaiveDate> = data.play_days().range(..=last).map(|(d, _)| *d).collect();
        if days.is_empty() {
            return Ok(None);
        }
        let all = DataRoot::open_days(data.location(), &days)
            .await?
            .tables()?;
        let scratch = SessionContext::new();
        all.register(&scratch)?;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
        let last_day = ScalarValue::Date32(Some((last - epoch).num_days() as i32));
        let plays = scratch
            .table("plays")
            .await?
            .filter(col(PLAYS_PARTITION_COLUMN).lt_eq(lit(last_day)))?;
        let inputs = all.with_provider("plays", plays.into_view());
        let state = self.ctx.state();
        let (ctx, inputs) = derived_session(
            state.config().clone(),
            state.runtime_env().clone(),
            &inputs,
            &self.methodology,
            None,
        )
        .await?;
        let mut engine =
            GoldenMic::with_table_functions(ctx, inputs, self.methodology.clone()).await?;
        engine.day_digests = self.day_digests.clone();
        engine.merge_chunk_entries = self.merge_chunk_entries;
        engine.digest_row_group_entries = self.digest_row_group_entries;
        Ok(Some(engine))
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

    /// A new engine, on its own session, where the small tables every result of a
    /// period is derived from are computed once and kept in memory, so that the
    /// charts, coverage and data quality that follow do not re-read the plays:
    /// `resent_events`, then `song_period_stats` and `room_period_outcomes` (from one
    /// pass over the classified plays) and `chart_entries` of the periods of `kind`
    /// (of both kinds for `None`). This engine and its session are unchanged.
    ///
    /// The new engine answers for periods of `kind` only: a result of a period of
    /// another kind is [`ChartError::NotMaterialized`] (and SQL over its views finds
    /// no rows of that kind). Later changes to the files are not seen by it.
    pub async fn materialize(&self, kind: Option<PeriodKind>) -> Result<GoldenMic> {
        self.materialize_feeding(kind, None).await
    }

    /// [`GoldenMic::materialize`], with `feed` read from the same pass over the
    /// classified plays.
    async fn materialize_feeding(
        &self,
        kind: Option<PeriodKind>,
        feed: Option<SharedFeed<'_>>,
    ) -> Result<GoldenMic> {
        let mut engine = self.derived(self.methodology.clone(), None).await?;
        let ctx = &engine.ctx;
        let filter = || kind.map(|kind| col("period_kind").eq(lit(kind.as_str())));
        materialize(ctx, "resent_events", None).await?;
        // Both read every classified play: one pass of classified_plays feeds both.
        materialize_sharing(
            ctx,
            "classified_plays",
            &[
                ("song_period_stats", filter()),
                ("room_period_outcomes", filter()),
            ],
            feed,
        )
        .await?;
        materialize(ctx, "chart_entries", filter()).await?;
        engine.materialized = Some(kind);
        Ok(engine)
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
    pub async fn materialize_for_publication(&self, kind: PeriodKind) -> Result<GoldenMic> {
        if self.day_digests.is_some() && self.data().is_some() {
            Ok(self.materialize_by_day(Some(kind)).await?.0)
        } else {
            self.materialize(Some(kind)).await
        }
    }

    /// [`GoldenMic::materialize_for_publication`] of a month's periods, with what GM-2's
    /// screening reads: the month's valid plays coded from GM-1's own pass over the
    /// classified plays when it reads the plays; from day digests kept at a location,
    /// GM-2's digests of the same units (from temporary digests, nothing: the screening
    /// then reads the plays itself).
    pub(crate) async fn materialize_for_screening(
        &self,
        period: &Period,
    ) -> Result<(GoldenMic, ScreeningInput)> {
        if self.day_digests.is_some() && self.data().is_some() {
            let mut engine = self.derived(self.methodology.clone(), None).await?;
            let (_, digests) = DayDigests {
                ctx: &engine.ctx,
                inputs: &engine.inputs,
                methodology: &engine.methodology,
                day_digests: &engine.day_digests,
                merge_chunk_entries: engine.merge_chunk_entries,
                digest_row_group_entries: engine.digest_row_group_entries,
            }
            .materialize_screening(Some(period.kind()))
            .await?;
            engine.materialized = Some(Some(period.kind()));
            return Ok((
                engine,
                ScreeningInput {
                    plays: None,
                    digests,
                },
            ));
        }
        let mut coder = crate::screened_chart::MonthPlaysCoder::default();
        let mut consume = |batch: RecordBatch| coder.push(&batch);
        let feed = SharedFeed {
            view: "valid_plays",
            filter: crate::screened_chart::in_period(period),
            columns: &crate::screened_chart::MONTH_PLAYS_COLUMNS,
            consume: &mut consume,
        };
        let engine = self
            .materialize_feeding(Some(period.kind()), Some(feed))
            .await?;
        Ok((
            engine,
            ScreeningInput {
                plays: Some(coder.finish()),
                digests: None,
            },
        ))
    }

    /// [`GoldenMic::materialize`] computed from day digests (`room_day_events` of each
    /// `date=` partition of `plays` alone, partitions that share an event id
    /// together), merged per period with the lookups of songs and venues: the same
    /// tables, and what the computation did. Digests are kept under the engine's
    /// digest location ([`GoldenMic::with_day_digests`]) and reused while a
    /// partition's files, and the parameters they depend on, are unchanged; without
    /// one, in a temporary directory removed after. Only inputs from files have
    /// partitions: in-memory inputs are refused.
    pub async fn materialize_by_day(
        &self,
        kind: Option<PeriodKind>,
    ) -> Result<(GoldenMic, DayDigestReport)> {
        let mut engine = self.derived(self.methodology.clone(), None).await?;
        let report = DayDigests {
            ctx: &engine.ctx,
            inputs: &engine.inputs,
            methodology: &engine.methodology,
            day_digests: &engine.day_digests,
            merge_chunk_entries: engine.merge_chunk_entries,
            digest_row_group_entries: engine.digest_row_group_entries,
        }
        .materialize(kind)
        .await?;
        engine.materialized = Some(kind);
        Ok((engine, report))
    }

    /// Computes and keeps, at the engine's digest location ([`GoldenMic::with_day_digests`]
    /// with a location), the digest of every `date=` partition of its data root that is
    /// not kept yet, without computing any chart: after it, [`crate::publish`] of a
    /// period over the same files reads digests instead of plays. A data root opened
    /// with [`DataRoot::open_days`] digests those days alone.
    pub async fn keep_day_digests(&self) -> Result<DayDigestReport> {
        DayDigests {
            ctx: &self.ctx,
            inputs: &self.inputs,
            methodology: &self.methodology,
            day_digests: &self.day_digests,
            merge_chunk_entries: self.merge_chunk_entries,
            digest_row_group_entries: self.digest_row_group_entries,
        }
        .keep()
        .await
    }

    /// Fails with [`ChartError::NoData`] when the inputs are files and no play
    /// partition lies in the period (in-memory inputs are not checked).
    pub fn check_has_plays(&self, period: &Period) -> Result<()> {
        match self.data() {
            Some(data) => check_has_plays(data, period),
            None => Ok(()),
        }
    }

    /// A chart of a period: the columns of [`crate::results::CHART_COLUMNS`], by rank.
    pub async fn chart(&self, kind: ChartKind, period: &Period) -> Result<RecordBatch> {
        self.check_materialized(period)?;
        period::chart(&self.ctx, kind, period).await
    }

    /// The month's charts under GM-2 ([`crate::screened_chart`]), with the rank
    /// intervals and the transparency report; this engine's methodology must screen
    /// ([`Methodology::gm2`]).
    pub async fn screened(&self, period: &Period) -> Result<crate::screened_chart::ScreenedMonth> {
        self.screened_after(period, &Default::default()).await
    }

    /// [`GoldenMic::screened`], with the history of the earlier months in `published`
    /// (their latest editions) taken from there instead of the data.
    pub async fn screened_after(
        &self,
        period: &Period,
        published: &crate::screened_chart::EarlierCharts,
    ) -> Result<crate::screened_chart::ScreenedMonth> {
        self.check_has_plays(period)?;
        crate::screened_chart::screen_after(&self.ctx, &self.methodology, period, published).await
    }

    /// [`GoldenMic::screened_after`], with what [`GoldenMic::materialize_for_screening`]
    /// read for it.
    pub(crate) async fn screened_with(
        &self,
        period: &Period,
        published: &crate::screened_chart::EarlierCharts,
        input: ScreeningInput,
    ) -> Result<crate::screened_chart::ScreenedMonth> {
        self.check_has_plays(period)?;
        crate::screened_chart::screen_with(
            &self.ctx,
            &self.methodology,
            period,
            published,
            input.plays,
            input.digests.as_ref(),
        )
        .await
    }

    /// National coverage of a period: one row, the columns of
    /// [`crate::results::COVERAGE_COLUMNS`].
    pub async fn coverage(&self, period: &Period) -> Result<RecordBatch> {
        self.check_materialized(period)?;
        period::coverage(&self.ctx, period).await
    }

    /// Coverage per province: the columns of
    /// [`crate::results::PROVINCE_COVERAGE_COLUMNS`], by province.
    pub async fn coverage_by_province(&self, period: &Period) -> Result<RecordBatch> {
        self.check_materialized(period)?;
        period::coverage_by_province(&self.ctx, period).await
    }

    /// What became of the period's play rows.
    pub async fn data_quality(&self, period: &Period) -> Result<DataQuality> {
        self.check_materialized(period)?;
        period::data_quality(&self.ctx, period).await
    }

    /// The distribution of the period's licence fees (the data root's `fees`) under
    /// `methodology`, its plays counted under `methodology.counting` (on a new session
    /// when that is not this engine's methodology). [`ChartError::NoFees`] when the
    /// inputs have no fee files.
    pub async fn distribution(
        &self,
        methodology: &DistributionMethodology,
        period: &Period,
    ) -> Result<Distribution> {
        let data = self.data().ok_or_else(|| ChartError::NoFees {
            root: "in-memory inputs".into(),
        })?;
        let fees = read_fees(data).await?;
        self.distribution_of(methodology, period, &fees).await
    }

    /// [`GoldenMic::distribution`] of fee rows given by the caller (e.g. from
    /// [`crate::distribution::fees::fee_rows`] over batches in memory).
    pub async fn distribution_of(
        &self,
        methodology: &DistributionMethodology,
        period: &Period,
        fees: &[FeeRow],
    ) -> Result<Distribution> {
        if self.methodology == methodology.counting && self.materialized.is_none() {
            distribute(&self.ctx, methodology, period, fees).await
        } else {
            let counting = self.with_methodology(methodology.counting.clone()).await?;
            distribute(&counting.ctx, methodology, period, fees).await
        }
    }

    /// Fails when this engine keeps the tables of another period kind only.
    fn check_materialized(&self, period: &Period) -> Result<()> {
        match self.materialized {
            Some(Some(kind)) if kind != period.kind() => Err(ChartError::NotMaterialized {
                period: period.to_string(),
                materialized: kind.as_str(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's materialisation and screening can be spawned on a multi-threaded
    /// runtime (the services do): this fails to compile when either holds something not
    /// `Send`, or a shared reference to something not `Sync`, across an await.
    #[allow(dead_code)]
    fn futures_are_send(engine: &'static GoldenMic, period: &'static Period) {
        fn send<T: Send>(_: T) {}
        send(engine.materialize(None));
        send(engine.screened(period));
    }
}
