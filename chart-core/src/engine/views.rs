//! The SQL of `queries/` ([`crate::queries`]) registered as views, and materialised:
//! computed once and kept in memory, with the engine's physical rewrites.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, collect_partitioned};
use datafusion::prelude::{Expr, SessionContext};

use crate::engine::lookup_join::LookupJoins;
use crate::engine::once_per_query::OncePerQueryView;
use crate::engine::shared_scan::{SharedScan, StreamedReader};
use crate::engine::single_stage_aggregates::SingleStageAggregates;
use crate::error::Result;
use crate::queries::QUERIES;

/// The views computed once per query that reads them ([`OncePerQueryView`]): few
/// rows, costly, and read more than once by the views after them.
const ONCE_PER_QUERY: [&str; 1] = ["resent_events"];

/// Registers every query as a view on `ctx`, replacing views of the same name.
pub async fn register_views(ctx: &SessionContext) -> Result<()> {
    register_views_after(ctx, None, &[]).await
}

/// Registers the views that come after `after` (all of them for `None`). A view
/// captures the plans of the views it reads when registered, so the views after a
/// materialised one are registered again to read the materialised table; those in
/// `materialised` keep their tables.
pub(crate) async fn register_views_after(
    ctx: &SessionContext,
    after: Option<&str>,
    materialised: &[&str],
) -> Result<()> {
    let start = after
        .and_then(|name| QUERIES.iter().position(|q| q.name == name))
        .map_or(0, |i| i + 1);
    for query in QUERIES[start..]
        .iter()
        .filter(|q| !materialised.contains(&q.name))
    {
        let frame = ctx.sql(query.sql).await?;
        let view: Arc<dyn TableProvider> = if ONCE_PER_QUERY.contains(&query.name) {
            let schema = frame.schema().inner().clone();
            Arc::new(OncePerQueryView::new(frame.into_unoptimized_plan(), schema))
        } else {
            frame.into_view()
        };
        ctx.deregister_table(query.name)?;
        ctx.register_table(query.name, view)?;
    }
    Ok(())
}

/// Computes the view `name` once (only its rows that pass `filter`, if any), keeps
/// the result in memory under the same name and re-registers the views that read it.
///
/// At `debug` level, logs the executed plan with its metrics (rows, time, memory of
/// every operator): the profile of a run.
pub(crate) async fn materialize(
    ctx: &SessionContext,
    name: &str,
    filter: Option<Expr>,
) -> Result<()> {
    let mut view = ctx.table(name).await?;
    if let Some(filter) = filter {
        view = view.filter(filter)?;
    }
    let schema = view.schema().inner().clone();
    let started = Instant::now();
    let plan = rewritten(ctx, view.create_physical_plan().await?)?;
    let partitions = collect_partitioned(plan.clone(), ctx.task_ctx()).await?;
    keep(ctx, name, (schema, plan), partitions, started)?;
    register_views_after(ctx, Some(name), &[]).await
}

/// A reader of a shared pass ([`materialize_sharing`]) whose rows are not kept
/// but handed, batch by batch, to `consume`: the `columns` of the view `view`, of the
/// rows that pass `filter`.
pub(crate) struct SharedFeed<'a> {
    /// A view that reads the shared one.
    pub view: &'a str,
    /// The rows wanted.
    pub filter: Expr,
    /// The columns wanted, in this order.
    pub columns: &'a [&'a str],
    /// What takes each batch.
    pub consume: &'a mut (dyn FnMut(RecordBatch) -> Result<()> + Send + Sync),
}

/// Computes the views `views` (each only its rows that pass its filter, if any), all
/// of which read the view `shared`, with one execution of `shared` (otherwise
/// DataFusion runs it once per view), and keeps them as [`materialize`] does.
///
/// Only the columns of `shared` the views read are computed. At `debug` level, logs
/// the plan of `shared` and of each view with their metrics.
///
/// `feed`, if any, is read from the same execution of `shared`.
pub(crate) async fn materialize_sharing(
    ctx: &SessionContext,
    shared: &str,
    views: &[(&str, Option<Expr>)],
    feed: Option<SharedFeed<'_>>,
) -> Result<()> {
    let started = Instant::now();
    let original = ctx.table_provider(shared).await?;
    let result = compute_sharing(ctx, shared, original.clone(), views, feed).await;
    ctx.deregister_table(shared)?;
    ctx.register_table(shared, original)?;
    let names: Vec<&str> = views.iter().map(|(name, _)| *name).collect();
    let computed = result?;
    for ((name, plan), partitions) in names.iter().zip(computed.plans).zip(computed.outputs) {
        keep(ctx, name, plan, partitions, started)?;
    }
    tracing::debug!(
        view = shared,
        "shared plan with metrics:\n{}",
        DisplayableExecutionPlan::with_metrics(computed.shared.as_ref()).indent(true)
    );
    register_views_after(ctx, Some(shared), &names).await
}

/// The plans of a shared computation, and the output partitions of each view.
struct SharedComputation {
    shared: Arc<dyn ExecutionPlan>,
    plans: Vec<(SchemaRef, Arc<dyn ExecutionPlan>)>,
    outputs: Vec<Vec<Vec<RecordBatch>>>,
}

async fn compute_sharing(
    ctx: &SessionContext,
    shared: &str,
    original: Arc<dyn TableProvider>,
    views: &[(&str, Option<Expr>)],
    feed: Option<SharedFeed<'_>>,
) -> Result<SharedComputation> {
    // First the columns of `shared` the views read, from plans on a table of all of them.
    let all_columns = original.schema();
    let probe = SharedScan::new(all_columns.clone(), 1);
    let mut read = vec![false; all_columns.fields().len()];
    let mut probed = plan_readers(ctx, shared, &probe, views).await?;
    if let Some(feed) = &feed {
        probed.push(plan_feed(ctx, feed).await?);
    }
    for (_, plan) in probed {
        for projection in probe.scans_in(&plan) {
            match projection {
                Some(columns) => columns.into_iter().for_each(|i| read[i] = true),
                None => read.iter_mut().for_each(|r| *r = true),
            }
        }
    }
    // Those, and any that cannot be NULL, are computed; the others are passed as NULL.
    let computed: Vec<usize> = (0..read.len())
        .filter(|&i| read[i] || !all_columns.field(i).is_nullable())
        .collect();
    let columns: Vec<&str> = computed
        .iter()
        .map(|&i| all_columns.field(i).name().as_str())
        .collect();
    let shared_plan = ctx
        .read_table(original)?
        .select_columns(&columns)?
        .create_physical_plan()
        .await?;
    let scan = SharedScan::new(
        all_columns,
        shared_plan.output_partitioning().partition_count(),
    );
    let plans = plan_readers(ctx, shared, &scan, views).await?;
    let physical: Vec<_> = plans.iter().map(|(_, plan)| plan.clone()).collect();
    let outputs = match feed {
        None => {
            scan.run(
                shared_plan.clone(),
                &computed,
                &physical,
                None,
                ctx.task_ctx(),
            )
            .await?
        }
        Some(feed) => {
            let (_, plan) = plan_feed(ctx, &feed).await?;
            let consume = feed.consume;
            let mut consume =
                |batch| consume(batch).map_err(|e| DataFusionError::External(Box::new(e)));
            let streamed = StreamedReader {
                plan,
                consume: &mut consume,
            };
            scan.run(
                shared_plan.clone(),
                &computed,
                &physical,
                Some(streamed),
                ctx.task_ctx(),
            )
            .await?
        }
    };
    Ok(SharedComputation {
        shared: shared_plan,
        plans,
        outputs,
    })
}

/// The schemas and physical plans of `views` with `scan` standing for the view `shared`.
async fn plan_readers(
    ctx: &SessionContext,
    shared: &str,
    scan: &SharedScan,
    views: &[(&str, Option<Expr>)],
) -> Result<Vec<(SchemaRef, Arc<dyn ExecutionPlan>)>> {
    ctx.deregister_table(shared)?;
    ctx.register_table(shared, Arc::new(scan.table()?))?;
    register_views_after(ctx, Some(shared), &[]).await?;
    let mut plans = Vec::with_capacity(views.len());
    for (name, filter) in views {
        let mut view = ctx.table(*name).await?;
        if let Some(filter) = filter {
            view = view.filter(filter.clone())?;
        }
        let schema = view.schema().inner().clone();
        plans.push((schema, rewritten(ctx, view.create_physical_plan().await?)?));
    }
    Ok(plans)
}

/// The plan of `feed`, on the shared table [`plan_readers`] registered.
async fn plan_feed(
    ctx: &SessionContext,
    feed: &SharedFeed<'_>,
) -> Result<(SchemaRef, Arc<dyn ExecutionPlan>)> {
    let view = ctx
        .table(feed.view)
        .await?
        .filter(feed.filter.clone())?
        .select_columns(feed.columns)?;
    let schema = view.schema().inner().clone();
    Ok((schema, rewritten(ctx, view.create_physical_plan().await?)?))
}

/// `plan` with the library's physical rewrites: the aggregates that cannot reduce
/// their input in one stage ([`SingleStageAggregates`]), the lookups of small tables
/// ([`LookupJoins`]).
fn rewritten(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let options = ctx.state().config_options().clone();
    let plan = SingleStageAggregates::golden_mic().optimize(plan, &options)?;
    Ok(LookupJoins.optimize(plan, &options)?)
}

/// Registers `batch` as the in-memory table `name` (a view computed another way).
pub(crate) fn keep_batch(ctx: &SessionContext, name: &str, batch: RecordBatch) -> Result<()> {
    tracing::info!(view = name, rows = batch.num_rows(), "kept");
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// Registers the output of `plan` (of the view's `schema`) as the in-memory table
/// `name`, and logs it.
fn keep(
    ctx: &SessionContext,
    name: &str,
    (schema, plan): (SchemaRef, Arc<dyn ExecutionPlan>),
    partitions: Vec<Vec<RecordBatch>>,
    started: Instant,
) -> Result<()> {
    let rows: usize = partitions.iter().flatten().map(|b| b.num_rows()).sum();
    tracing::info!(view = name, rows, elapsed = ?started.elapsed(), "materialised");
    tracing::debug!(
        view = name,
        "plan with metrics:\n{}",
        DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true)
    );
    let table = MemTable::try_new(schema, partitions)?;
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}
