//! The DataFusion extensions the methodology's SQL runs on, and the session they are
//! installed in. None of them changes a result; each makes one step of `queries/`
//! cheaper, and each is tested against DataFusion's own formulation:
//!
//! * `room_figures`: the aggregate `room_figures` (plays, room-capped score, distinct
//!   rooms and venues of a group in one hash aggregate);
//! * `event_buckets`: `event_bucket` and `repeated_buckets`, which find re-sent event
//!   ids without a hash table of every id;
//! * `lookup_join`: hash joins against small tables (songs, venues) built once and
//!   probed in place ([`LookupJoins`], [`LookupJoinExec`]);
//! * `single_stage_aggregates`: aggregates that cannot reduce their input planned in
//!   one stage ([`SingleStageAggregates`]);
//! * `shared_scan` and `once_per_query`: one execution of a view read by several
//!   others;
//! * `views`: the SQL of `queries/` registered as views, and materialised.

mod event_buckets;
mod lookup_join;
mod once_per_query;
mod room_figures;
mod shared_scan;
mod single_stage_aggregates;
pub(crate) mod views;

use std::sync::Arc;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::AggregateUDF;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use event_buckets::{DEFAULT_BUCKET_BITS, bucket_bits};
pub use lookup_join::{LookupJoinExec, LookupJoins};
pub use single_stage_aggregates::SingleStageAggregates;

use crate::error::Result;
use crate::methodology::{self, Methodology};

/// Registers every SQL function the views of `queries/` call on `ctx`: the
/// methodology's ([`methodology::functions`]) and the engine's aggregates.
pub fn register_functions(ctx: &SessionContext, methodology: &Methodology) -> Result<()> {
    methodology::functions::register(ctx, methodology)?;
    register_room_figures(ctx, true);
    register_event_buckets(ctx, DEFAULT_BUCKET_BITS);
    Ok(())
}

/// Registers `room_figures` on `ctx`, replacing it. With `write_out` (what
/// [`register_functions`] registers), under the session's memory limit an accumulator
/// whose state passes a 64th of the limit writes its entries to a temporary file of
/// the session's disk manager and computes its figures from it one 128th of its groups
/// at a time; without, accumulators keep every entry in memory and DataFusion spills
/// their states, as it does other aggregates'.
pub fn register_room_figures(ctx: &SessionContext, write_out: bool) {
    let function = match write_out {
        true => room_figures::RoomFigures::for_runtime(&ctx.runtime_env()),
        false => room_figures::RoomFigures::new(None),
    };
    ctx.register_udaf(AggregateUDF::from(function));
}

/// Registers `event_bucket` and `repeated_buckets` on `ctx` with buckets of `bits`
/// bits (16 to 33; [`bucket_bits`] sizes them by the plays), replacing both.
pub fn register_event_buckets(ctx: &SessionContext, bits: u32) {
    ctx.register_udf(ScalarUDF::from(event_buckets::EventBucket::new(bits)));
    ctx.register_udaf(AggregateUDF::from(event_buckets::RepeatedBuckets::new(
        bits,
    )));
}

/// The session configuration the library opens its sessions with (in
/// [`session_builder`], recommended for sessions passed to [`crate::GoldenMic::attach`]):
/// `information_schema` enabled, and hash joins whose build side is under 256 MiB or 8 million rows
/// built once and probed in place (`CollectLeft`), rather than both sides
/// repartitioned: the plays probe the song, venue and re-sent event tables that
/// way without being reshuffled (measured when set: `git log -S hash_join_single_partition_threshold`). Strings are
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
/// [`crate::GoldenMic::materialize`] computes are planned so on any session).
pub fn session_builder() -> SessionStateBuilder {
    SessionStateBuilder::new()
        .with_config(session_config())
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(SingleStageAggregates::golden_mic()))
        .with_physical_optimizer_rule(Arc::new(LookupJoins))
}

/// [`session_builder`] with a fair spill pool of `memory_limit` bytes when given: sorts,
/// joins and aggregations spill to the temporary directory past it, other operators
/// fail with "Resources exhausted". A sort's reservation for merging its spills is
/// kept within a quarter of the limit.
pub fn session_builder_with_memory_limit(
    memory_limit: Option<usize>,
) -> Result<SessionStateBuilder> {
    let mut runtime = RuntimeEnvBuilder::new();
    let mut config = session_config();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        let reservation = config.options().execution.sort_spill_reservation_bytes;
        config.options_mut().execution.sort_spill_reservation_bytes = reservation.min(limit / 4);
    }
    Ok(session_builder()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?))
}
