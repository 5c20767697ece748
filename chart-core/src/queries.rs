//! The SQL of `queries/`, in dependency order. Each file is a plain `SELECT` that
//! the library registers as a view of the same name; an analyst can run it as
//! written on a session where the tables and functions are registered.

use std::sync::Arc;
use std::time::Instant;

use datafusion::datasource::MemTable;
use datafusion::physical_plan::collect_partitioned;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{Expr, SessionContext};

use crate::error::Result;

/// One SQL file of `queries/`.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The view name (the file name without `.sql`).
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

macro_rules! query {
    ($name:literal) => {
        Query {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
        }
    };
}

/// Every query, each after the views it reads.
pub const QUERIES: [Query; 14] = [
    query!("resent_events"),
    query!("classified_plays"),
    query!("valid_plays"),
    query!("room_day_plays"),
    query!("room_period_plays"),
    query!("song_period_stats"),
    query!("song_month_stats"),
    query!("room_period_outcomes"),
    query!("chart_entries"),
    query!("hot_chart"),
    query!("new_chart"),
    query!("coverage_by_province"),
    query!("coverage"),
    query!("data_quality"),
];

/// Registers every query as a view on `ctx`, replacing views of the same name.
pub async fn register_views(ctx: &SessionContext) -> Result<()> {
    register_views_after(ctx, None).await
}

/// Registers the views that come after `after` (all of them for `None`). A view
/// captures the plans of the views it reads when registered, so the views after a
/// materialised one are registered again to read the materialised table.
pub(crate) async fn register_views_after(ctx: &SessionContext, after: Option<&str>) -> Result<()> {
    let start = after
        .and_then(|name| QUERIES.iter().position(|q| q.name == name))
        .map_or(0, |i| i + 1);
    for query in &QUERIES[start..] {
        let view = ctx.sql(query.sql).await?.into_view();
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
    let plan = view.create_physical_plan().await?;
    let partitions = collect_partitioned(plan.clone(), ctx.task_ctx()).await?;
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
    register_views_after(ctx, Some(name)).await
}
