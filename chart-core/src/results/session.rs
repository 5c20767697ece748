//! The sessions results are computed on: the library's tables, functions and views
//! registered on a DataFusion session, over all the inputs or one province's.

use std::sync::Arc;

use datafusion::common::JoinType;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};

use crate::contract::tables::InputTables;
use crate::engine::views::register_views;
use crate::engine::{bucket_bits, register_event_buckets, register_functions, session_builder};
use crate::error::{ChartError, Result};
use crate::methodology::Methodology;

/// Registers on `ctx` the methodology's and the engine's functions, the input tables
/// and the views of `queries/`, replacing objects of the same names.
pub(crate) async fn register_views_over(
    ctx: &SessionContext,
    inputs: &InputTables,
    methodology: &Methodology,
) -> Result<()> {
    register_functions(ctx, methodology)?;
    register_event_buckets(ctx, bucket_bits(inputs.plays_rows()));
    inputs.register(ctx)?;
    register_views(ctx).await
}

/// A new session with `config` and `runtime` (a memory pool, a disk manager shared
/// with the session it is derived from) over `inputs`, restricted to `province` if
/// any: the session and the inputs it reads. The new session always gets its own
/// default catalog and schema, even when `config` says not to create them (as a state
/// rebuilt with `SessionStateBuilder::new_from_existing` does).
pub(crate) async fn derived_session(
    mut config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    inputs: &InputTables,
    methodology: &Methodology,
    province: Option<&str>,
) -> Result<(SessionContext, InputTables)> {
    config
        .options_mut()
        .catalog
        .create_default_catalog_and_schema = true;
    let state = session_builder()
        .with_config(config)
        .with_runtime_env(runtime)
        .build();
    let ctx = SessionContext::new_with_state(state);
    let inputs = match province {
        None => inputs.clone(),
        Some(province) => province_inputs(&ctx, inputs, province).await?,
    };
    register_views_over(&ctx, &inputs, methodology).await?;
    Ok((ctx, inputs))
}

/// Fails with [`ChartError::DuplicateKey`] when `column` of `table` repeats a value.
pub(crate) async fn check_unique(
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
