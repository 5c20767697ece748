//! One aggregation stage instead of two where the first cannot reduce the rows.
//!
//! DataFusion plans a grouped aggregate over several partitions in two stages: a
//! partial aggregate per input partition, a hash exchange on the group keys, and a
//! final aggregate that merges the partial states. The (period, song, venue)
//! aggregate of `room_figures` has about one group per two plays, so its partial
//! stage is skipped at run time and every play travels as a one-entry state, which is
//! built, exchanged and merged. [`SingleStageAggregates`] rewrites such plans into
//! one `SinglePartitioned` aggregate over the input rows exchanged by song:
//!
//! * an aggregate calling one of the [`SingleStageAggregates`]'s functions, grouped
//!   by a plain column of the partitioning key among others, reads its input hashed on
//!   that column alone (every group's rows share it, so they meet in one partition);
//! * an aggregate whose input is already hashed on some of its group keys (the
//!   (period, song) aggregate after the one above) is computed in one stage without
//!   an exchange.
//!
//! Both rewrites compute the same rows as the plan they replace: a group's rows are
//! in one partition either way.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DfResult;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

/// The physical rewrite of the module documentation.
#[derive(Debug, Clone)]
pub struct SingleStageAggregates {
    /// The aggregate functions whose aggregates are computed in one stage.
    functions: Vec<String>,
    /// The column their input is hashed on.
    key: String,
}

impl SingleStageAggregates {
    /// Computes the aggregates calling one of `functions` in one stage, their input
    /// hashed on the column `key` when they group by it.
    pub fn new(functions: &[&str], key: &str) -> SingleStageAggregates {
        SingleStageAggregates {
            functions: functions.iter().map(|f| f.to_string()).collect(),
            key: key.to_string(),
        }
    }

    /// The rewrite chart-core's views are planned with: `room_figures` aggregates
    /// hashed on `song_id`.
    pub fn golden_mic() -> SingleStageAggregates {
        SingleStageAggregates::new(&["room_figures"], "song_id")
    }

    /// `plan` in one stage, if it is a final aggregate over an exchange over a
    /// partial aggregate that the rule applies to.
    fn rewrite(
        &self,
        plan: Arc<dyn ExecutionPlan>,
    ) -> DfResult<Transformed<Arc<dyn ExecutionPlan>>> {
        let Some(stages) = TwoStages::of(plan.as_ref()) else {
            return Ok(Transformed::no(plan));
        };
        let partial = stages.partial;
        let input = partial.input();
        let groups = partial.group_expr().input_exprs();
        let exchanged: Arc<dyn ExecutionPlan> = match input.output_partitioning() {
            // Already hashed on some of the group keys: no exchange needed.
            Partitioning::Hash(keys, _)
                if !keys.is_empty() && keys.iter().all(|k| groups.contains(k)) =>
            {
                input.clone()
            }
            _ => {
                let calls_ours = partial
                    .aggr_expr()
                    .iter()
                    .any(|a| self.functions.iter().any(|f| f == a.fun().name()));
                let key = groups.iter().find(|g| {
                    g.downcast_ref::<Column>()
                        .is_some_and(|c| c.name() == self.key)
                });
                match key {
                    Some(key) if calls_ours => {
                        let partitions = stages.exchange.partitioning().partition_count();
                        Arc::new(RepartitionExec::try_new(
                            input.clone(),
                            Partitioning::Hash(vec![key.clone()], partitions),
                        )?)
                    }
                    _ => return Ok(Transformed::no(plan)),
                }
            }
        };
        let single = AggregateExec::try_new(
            AggregateMode::SinglePartitioned,
            partial.group_expr().clone(),
            partial.aggr_expr().to_vec(),
            partial.filter_expr().to_vec(),
            exchanged,
            partial.input_schema(),
        )?;
        // The same columns under the same names, or the plan is left as it was.
        if single.schema() != plan.schema() {
            return Ok(Transformed::no(plan));
        }
        Ok(Transformed::yes(Arc::new(single)))
    }
}

impl PhysicalOptimizerRule for SingleStageAggregates {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Bottom up, so that an aggregate sees how the one below it was rewritten.
        Ok(plan.transform_up(|node| self.rewrite(node))?.data)
    }

    fn name(&self) -> &str {
        "single_stage_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A final aggregate over a hash exchange over a partial aggregate, as DataFusion
/// plans a grouped aggregate of several partitions.
struct TwoStages<'a> {
    exchange: &'a RepartitionExec,
    partial: &'a AggregateExec,
}

impl<'a> TwoStages<'a> {
    fn of(plan: &'a dyn ExecutionPlan) -> Option<TwoStages<'a>> {
        let last = plan.downcast_ref::<AggregateExec>()?;
        let exchange = last.input().downcast_ref::<RepartitionExec>()?;
        let partial = exchange.input().downcast_ref::<AggregateExec>()?;
        let plain = |a: &AggregateExec| {
            a.group_expr().is_single() && !a.group_expr().is_empty() && a.limit_options().is_none()
        };
        (*last.mode() == AggregateMode::FinalPartitioned
            && *partial.mode() == AggregateMode::Partial
            && plain(last)
            && plain(partial)
            && matches!(exchange.partitioning(), Partitioning::Hash(..))
            && !exchange.preserve_order()
            && partial.input_order_mode() == &datafusion::physical_plan::InputOrderMode::Linear)
            .then_some(TwoStages { exchange, partial })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
    use arrow::compute::concat_batches;
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::datasource::MemTable;
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::engine::register_functions;
    use crate::methodology::Methodology;

    /// `plays(song_id, venue_id, room_id, business_day)` in 3 partitions of 20 batches
    /// of random rows (some NULL keys), on a session of 3 target partitions.
    fn session() -> SessionContext {
        session_of(SessionContext::new_with_config(
            SessionConfig::new().with_target_partitions(3),
        ))
    }

    fn session_of(ctx: SessionContext) -> SessionContext {
        register_functions(&ctx, &Methodology::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut id = |prefix: &str, n: u32| {
            (rng.random_range(0..40) > 0).then(|| format!("{prefix}{}", rng.random_range(0..n)))
        };
        let mut batch = |rows: usize| {
            let songs: StringArray = (0..rows).map(|_| id("S", 60)).collect();
            let venues: StringArray = (0..rows).map(|_| id("V", 9)).collect();
            let rooms: StringArray = (0..rows).map(|_| id("R", 5)).collect();
            // 2024-10-20 to 2024-12-08: three months.
            let days: Date32Array = (0..rows)
                .map(|i| Some(20_016 + (i as i32 * 7) % 50))
                .collect();
            RecordBatch::try_from_iter([
                ("song_id", Arc::new(songs) as ArrayRef),
                ("venue_id", Arc::new(venues)),
                ("room_id", Arc::new(rooms)),
                ("business_day", Arc::new(days)),
            ])
            .unwrap()
        };
        let partitions: Vec<Vec<RecordBatch>> = (0..3)
            .map(|_| (0..20).map(|_| batch(100)).collect())
            .collect();
        let table = MemTable::try_new(partitions[0][0].schema(), partitions).unwrap();
        ctx.register_table("plays", Arc::new(table)).unwrap();
        ctx
    }

    /// The physical plan of `sql` as DataFusion plans it, and as the rule rewrites it.
    async fn plans(
        ctx: &SessionContext,
        sql: &str,
    ) -> (Arc<dyn ExecutionPlan>, Arc<dyn ExecutionPlan>) {
        // Two plannings: an exchange's node holds its execution's state, so the two
        // plans must not share one.
        let plan = || async {
            ctx.sql(sql)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap()
        };
        let rewritten = SingleStageAggregates::golden_mic()
            .optimize(plan().await, ctx.state().config_options())
            .unwrap();
        (plan().await, rewritten)
    }

    fn text(plan: &Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(true).to_string()
    }

    /// The rows of `sql` as DataFusion plans it, sorted by `order`, as a table.
    async fn rows(ctx: &SessionContext, sql: &str, order: &str) -> String {
        rows_of(ctx, plans(ctx, sql).await.0, order).await
    }

    /// The rows of `plan`, sorted by `order`, as a table.
    async fn rows_of(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>, order: &str) -> String {
        let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        let all = concat_batches(&plan.schema(), &batches).unwrap();
        // Sorted outside `ctx`, whose memory may be held small.
        let sorted = SessionContext::new()
            .read_batch(all)
            .unwrap()
            .sort_by(order.split(',').map(datafusion::prelude::col).collect())
            .unwrap()
            .collect()
            .await
            .unwrap();
        pretty_format_batches(&sorted).unwrap().to_string()
    }

    const SONG_PERIODS: &str = "
        SELECT period, song_id, SUM(f['score']) AS score, SUM(f['plays']) AS plays,
               COUNT(*) AS venues, SUM(f['rooms']) AS rooms
        FROM (
            SELECT period_of('month', business_day) AS period, song_id, venue_id,
                   room_figures(room_id, business_day, 3) AS f
            FROM plays
            GROUP BY period_of('month', business_day), song_id, venue_id
        ) AS song_venues
        GROUP BY period, song_id";

    /// The same figures from one aggregate per (period, song), given the venues. A play
    /// without a venue or room is not counted, where `SONG_PERIODS` counts a NULL venue,
    /// and a venue whose plays have no room, as a venue.
    const SONG_PERIODS_BY_ROOM: &str = "
        SELECT period, song_id, f['score'] AS score, f['plays'] AS plays,
               f['venues'] AS venues, f['rooms'] AS rooms
        FROM (
            SELECT period_of('month', business_day) AS period, song_id,
                   room_figures(venue_id, room_id, business_day, 3) AS f
            FROM plays
            GROUP BY period_of('month', business_day), song_id
        ) AS songs";

    #[tokio::test]
    async fn both_aggregates_of_song_periods_in_one_stage_with_one_exchange_by_song() {
        let ctx = session();
        let (planned, rewritten) = plans(&ctx, SONG_PERIODS).await;
        let before = text(&planned);
        let after = text(&rewritten);
        assert_eq!(before.matches("mode=Partial").count(), 2, "{before}");
        assert_eq!(after.matches("mode=Partial").count(), 0, "{after}");
        assert_eq!(
            after.matches("mode=SinglePartitioned").count(),
            2,
            "{after}"
        );
        assert_eq!(
            after.matches("RepartitionExec: partitioning=Hash").count(),
            1,
            "{after}"
        );
        assert_eq!(
            after.matches("partitioning=Hash([song_id@").count(),
            1,
            "{after}"
        );
        let order = "period,song_id";
        let expected = rows_of(&ctx, planned, order).await;
        assert_eq!(rows_of(&ctx, rewritten, order).await, expected);
        // Not a trivial comparison: most of the 60 songs in each of the 3 months.
        assert!(expected.lines().count() > 150, "{expected}");
    }

    /// A session whose memory is small enough that the `room_figures` aggregates
    /// spill, large enough for the operators that cannot; with `overflow`, its
    /// functions as registered for any session (they write their entries out past
    /// their budget), without it, accumulators that keep every entry in memory.
    fn spilling_session(overflow: bool) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(700_000)))
            .build_arc()
            .unwrap();
        let config = SessionConfig::new()
            .with_target_partitions(3)
            .with_batch_size(100);
        let ctx = session_of(SessionContext::new_with_config_rt(config, runtime));
        if !overflow {
            crate::engine::register_room_figures(&ctx, false);
        }
        ctx
    }

    /// For `SONG_PERIODS` and `SONG_PERIODS_BY_ROOM` on `ctx`, rewritten: whether
    /// their rows are DataFusion's plan's on a session without a memory limit, and
    /// the spills of their `room_figures` aggregates.
    async fn rows_and_spills(ctx: &SessionContext) -> Vec<(bool, usize)> {
        let planned = rows(&session(), SONG_PERIODS, "period,song_id").await;
        let known_venues = SONG_PERIODS.replace(
            "FROM plays",
            "FROM plays WHERE venue_id IS NOT NULL AND room_id IS NOT NULL",
        );
        let of_known_venues = rows(&session(), &known_venues, "period,song_id").await;
        let mut found = Vec::new();
        for (query, planned) in [
            (SONG_PERIODS, &planned),
            (SONG_PERIODS_BY_ROOM, &of_known_venues),
        ] {
            let (_, rewritten) = plans(ctx, query).await;
            let result = rows_of(ctx, rewritten.clone(), "period,song_id").await;
            let mut spills = 0;
            rewritten
                .apply(|node| {
                    let figures = node.downcast_ref::<AggregateExec>().is_some_and(|a| {
                        a.aggr_expr()
                            .iter()
                            .any(|e| e.fun().name() == "room_figures")
                    });
                    if figures {
                        spills += node.metrics().and_then(|m| m.spill_count()).unwrap_or(0);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
                .unwrap();
            found.push((&result == planned, spills));
        }
        found
    }

    #[tokio::test]
    async fn the_single_stage_spills_and_merges_what_it_spilled() {
        let found = rows_and_spills(&spilling_session(false)).await;
        assert!(found.iter().all(|&(equal, _)| equal), "{found:?}");
        assert!(found.iter().all(|&(_, spills)| spills > 0), "{found:?}");
    }

    #[tokio::test]
    async fn under_a_memory_limit_room_figures_writes_its_entries_out_instead_of_spilling() {
        // In the session above, the (period, song) aggregate of `SONG_PERIODS_BY_ROOM`
        // (publish's) spills when its accumulators keep their entries in memory, and
        // not when they write them out past their budget; the rows are the same. (The
        // (period, song, venue) aggregate of `SONG_PERIODS` still spills: its groups,
        // which DataFusion keeps, take more than this session's share.)
        let in_memory = rows_and_spills(&spilling_session(false)).await;
        let written_out = rows_and_spills(&spilling_session(true)).await;
        assert!(
            written_out.iter().all(|&(equal, _)| equal),
            "{written_out:?}"
        );
        assert!(in_memory[1].1 > 0, "{in_memory:?}");
        assert_eq!(written_out[1].1, 0, "{written_out:?}");
    }

    #[test]
    fn the_library_sessions_plan_with_the_rewrite() {
        let state = crate::session_builder().build();
        let names: Vec<&str> = state
            .physical_optimizers()
            .iter()
            .map(|r| r.name())
            .collect();
        // After DataFusion's own rules, which plan the two stages it rewrites, and
        // before the lookup joins (which leave the aggregates as they are).
        assert_eq!(
            names[names.len() - 2..],
            ["single_stage_aggregates", "lookup_joins"],
            "{names:?}"
        );
        assert!(names.contains(&"FilterPushdown(Post)"), "{names:?}");
    }

    #[tokio::test]
    async fn other_aggregates_keep_their_two_stages() {
        let ctx = session();
        for sql in [
            "SELECT song_id, venue_id, COUNT(*) AS n FROM plays GROUP BY song_id, venue_id",
            // room_figures, but not grouped by song: no key to hash on.
            "SELECT venue_id, room_figures(room_id, business_day, 3) AS f FROM plays GROUP BY venue_id",
        ] {
            let (planned, rewritten) = plans(&ctx, sql).await;
            assert_eq!(text(&rewritten), text(&planned), "{sql}");
        }
    }

    #[tokio::test]
    async fn an_aggregate_over_input_hashed_on_its_keys_needs_no_exchange() {
        let ctx = session();
        // The join's output is hashed on song_id (both sides repartitioned); the
        // aggregate groups by song_id and venue_id.
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .optimizer
            .hash_join_single_partition_threshold = 0;
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .optimizer
            .hash_join_single_partition_threshold_rows = 0;
        let sql = "SELECT a.song_id, a.venue_id, COUNT(*) AS n
                   FROM plays AS a JOIN (SELECT DISTINCT song_id FROM plays) AS b
                     ON a.song_id = b.song_id
                   GROUP BY a.song_id, a.venue_id";
        let (planned, rewritten) = plans(&ctx, sql).await;
        let after = text(&rewritten);
        assert!(
            text(&planned).contains("mode=Partial"),
            "{}",
            text(&planned)
        );
        assert!(after.contains("HashJoinExec: mode=Partitioned"), "{after}");
        assert!(
            after.contains(
                "AggregateExec: mode=SinglePartitioned, gby=[song_id@0 as song_id, venue_id@1"
            ),
            "{after}"
        );
        assert_eq!(after.matches("mode=Partial").count(), 1, "{after}");
        let order = "song_id,venue_id";
        assert_eq!(
            rows_of(&ctx, rewritten, order).await,
            rows_of(&ctx, planned, order).await
        );
    }
}
