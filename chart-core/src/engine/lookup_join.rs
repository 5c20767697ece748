//! Joins that look a string key up in a small table, without copying the rows that probe it.
//!
//! `classified_plays` looks every play's song and venue up in the catalogue
//! (`LEFT JOIN (SELECT DISTINCT song_id FROM songs)`), and passes the plays of events
//! sent once through an anti-join with `resent_events`. DataFusion plans each as a hash
//! join that collects the small side once (`CollectLeft`) and probes it with every play.
//! Per probe batch, DataFusion's join lists the matching (build, probe) row pairs,
//! compares the keys of each pair through `take`, and builds its output by `take` of
//! every column, the plays' own columns included.
//!
//! [`LookupJoins`] replaces such a join by a [`LookupJoinExec`] when the join has one
//! key of a string or binary type, no other condition, and a type that keeps each
//! probe row at most once or streams it through (inner, right outer, right semi,
//! right anti, with the build side on the left as DataFusion puts it). The operator
//! keeps the first row of each distinct build key in a hash table of row numbers,
//! compares a probe key with the previous one before hashing it (a day's plays come
//! sorted by venue and room, so consecutive plays mostly share a venue), and builds
//! its output from the probe batch as it came:
//!
//! * right outer: the probe columns unchanged, the build columns taken by the matched
//!   row (NULL for none);
//! * right semi and anti: the probe batch filtered by matched or not;
//! * inner: the probe batch filtered, the build columns taken.
//!
//! A build side with a repeated key is joined row pair by row pair, as DataFusion
//! does. NULL keys match nothing (the rule leaves joins where NULL equals NULL, and
//! null-aware anti joins, to DataFusion). The rows are those of the join it replaces,
//! in the probe side's order.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryViewArray, BooleanArray, GenericByteArray, RecordBatch,
    RecordBatchOptions, StringViewArray, UInt32Array,
};
use arrow::compute::{concat_batches, filter_record_batch, nullif, take};
use arrow::datatypes::{ArrowNativeType, ByteArrayType, DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::utils::memory::RecordBatchMemoryCounter;
use datafusion::common::{JoinType, NullEquality, Statistics, internal_err};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream, StatisticsArgs,
};
use foldhash::fast::FixedState;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt, stream};
use hashbrown::HashTable;

/// Runs `$body` with `$keys` and `$others` bound to `$array` and `$other` as their
/// concrete string or binary array type (the two must have the same data type).
macro_rules! with_byte_keys {
    ($array:expr, $other:expr, |$keys:ident, $others:ident| $body:expr) => {{
        let array: &dyn Array = $array;
        let other: &dyn Array = $other;
        if array.data_type() != other.data_type() {
            return internal_err!(
                "LookupJoinExec: keys of types {} and {}",
                array.data_type(),
                other.data_type()
            );
        }
        match array.data_type() {
            DataType::Utf8 => {
                let ($keys, $others) = (array.as_string::<i32>(), other.as_string::<i32>());
                $body
            }
            DataType::LargeUtf8 => {
                let ($keys, $others) = (array.as_string::<i64>(), other.as_string::<i64>());
                $body
            }
            DataType::Utf8View => {
                let ($keys, $others) = (array.as_string_view(), other.as_string_view());
                $body
            }
            DataType::Binary => {
                let ($keys, $others) = (array.as_binary::<i32>(), other.as_binary::<i32>());
                $body
            }
            DataType::LargeBinary => {
                let ($keys, $others) = (array.as_binary::<i64>(), other.as_binary::<i64>());
                $body
            }
            DataType::BinaryView => {
                let ($keys, $others) = (array.as_binary_view(), other.as_binary_view());
                $body
            }
            other => return internal_err!("LookupJoinExec: a key of type {other}"),
        }
    }};
}

/// The physical rewrite of the module documentation.
#[derive(Debug, Clone, Default)]
pub struct LookupJoins;

impl LookupJoins {
    fn rewrite(plan: Arc<dyn ExecutionPlan>) -> DfResult<Transformed<Arc<dyn ExecutionPlan>>> {
        match plan.downcast_ref::<HashJoinExec>() {
            Some(join) if applies_to(join)? => Ok(Transformed::yes(Arc::new(
                LookupJoinExec::try_new(join.builder().build()?)?,
            ))),
            _ => Ok(Transformed::no(plan)),
        }
    }
}

impl PhysicalOptimizerRule for LookupJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(plan.transform_up(LookupJoins::rewrite)?.data)
    }

    fn name(&self) -> &str {
        "lookup_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether [`LookupJoinExec`] computes `join`: one string or binary key of the same
/// type on both sides, the build side collected once, no other condition or limit, and
/// a join type that streams the probe side.
fn applies_to(join: &HashJoinExec) -> DfResult<bool> {
    let [(build_key, probe_key)] = join.on() else {
        return Ok(false);
    };
    let key_type = build_key.data_type(&join.left().schema())?;
    Ok(join.mode == PartitionMode::CollectLeft
        && matches!(
            join.join_type(),
            JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
        )
        && join.filter().is_none()
        && join.fetch().is_none()
        && join.dynamic_expressions_produced().is_empty()
        && join.null_equality() == NullEquality::NullEqualsNothing
        && !join.null_aware
        && is_byte_key(&key_type)
        && probe_key.data_type(&join.right().schema())? == key_type)
}

fn is_byte_key(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// The build side once collected, shared by every output partition.
type SharedBuild = Shared<BoxFuture<'static, Result<Arc<BuildSide>, Arc<DataFusionError>>>>;

/// A hash join of [`LookupJoins`], computed by looking each probe key up in a table of
/// the build side's distinct keys (module documentation).
pub struct LookupJoinExec {
    /// The join it computes: its inputs, keys, type, output columns and properties.
    join: HashJoinExec,
    build: OnceLock<SharedBuild>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for LookupJoinExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupJoinExec")
            .field("join", &self.join)
            .finish_non_exhaustive()
    }
}

impl LookupJoinExec {
    /// Computes `join`, which [`LookupJoins`] applies to.
    fn try_new(join: HashJoinExec) -> DfResult<LookupJoinExec> {
        if !applies_to(&join)? {
            return internal_err!("LookupJoinExec cannot compute {join:?}");
        }
        Ok(LookupJoinExec {
            join,
            build: OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn keys(&self) -> (&Arc<dyn PhysicalExpr>, &Arc<dyn PhysicalExpr>) {
        let (build, probe) = &self.join.on()[0];
        (build, probe)
    }

    /// The build side, collected by the first partition that asks for it.
    fn build_side(&self, context: &Arc<TaskContext>) -> SharedBuild {
        self.build
            .get_or_init(|| {
                let input = self.join.left().clone();
                let key = self.keys().0.clone();
                let context = context.clone();
                let time = MetricBuilder::new(&self.metrics).subset_time("build_time", 0);
                let rows = MetricBuilder::new(&self.metrics).counter("build_rows", 0);
                async move {
                    BuildSide::collect(input, key, context, time, rows)
                        .await
                        .map(Arc::new)
                        .map_err(Arc::new)
                }
                .boxed()
                .shared()
            })
            .clone()
    }
}

impl DisplayAs for LookupJoinExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let (build, probe) = self.keys();
        write!(
            f,
            "LookupJoinExec: join_type={}, on=[({build}, {probe})]",
            self.join.join_type()
        )?;
        if let Some(projection) = &self.join.projection
            && !matches!(t, DisplayFormatType::TreeRender)
        {
            let names: Vec<String> = projection
                .iter()
                .map(|&i| format!("{}@{i}", self.join.join_schema().field(i).name()))
                .collect();
            write!(f, ", projection=[{}]", names.join(", "))?;
        }
        Ok(())
    }
}

impl ExecutionPlan for LookupJoinExec {
    fn name(&self) -> &str {
        "LookupJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.join.properties()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.join.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        self.join.maintains_input_order()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        self.join.benefits_from_input_partitioning()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.join.children()
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        self.join.apply_expressions(f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let join = self.join.builder().with_new_children(children)?.build()?;
        Ok(Arc::new(LookupJoinExec::try_new(join)?))
    }

    fn reset_state(self: Arc<Self>) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(LookupJoinExec::try_new(
            self.join.builder().reset_state().build()?,
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let build = self.build_side(&context);
        let probe = self.join.right().execute(partition, context.clone())?;
        let output = Output {
            schema: self.schema(),
            join_type: *self.join.join_type(),
            probe_key: self.keys().1.clone(),
            build_key_column: self.keys().0.downcast_ref::<Column>().map(|c| c.index()),
            projection: self.join.projection.as_ref().map(|p| p.to_vec()),
            batch_size: context.session_config().batch_size().max(1),
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let batches = stream::once(async move {
            let build = build.await.map_err(DataFusionError::Shared)?;
            let joined = probe
                .and_then(move |batch| futures::future::ready(output.join(&build, &batch)))
                .map_ok(|batches| stream::iter(batches.into_iter().map(Ok)))
                .try_flatten();
            Ok::<_, DataFusionError>(joined)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.join.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> DfResult<Arc<Statistics>> {
        self.join.statistics_from_inputs(input_stats, args)
    }
}

/// "No row": the end of a chain of build rows, or a probe row without a match.
const NONE: u32 = u32::MAX;

/// The seed of the build and probe keys' hash (any fixed value).
const KEY_HASH: FixedState = FixedState::with_seed(0x6d69_635f_6b74_7631);

/// The build side's rows and a table of their distinct keys.
struct BuildSide {
    /// Every row of the build side, in one batch.
    rows: RecordBatch,
    /// Their join key.
    keys: ArrayRef,
    /// The first row of each distinct non-NULL key, found by the key's hash.
    table: HashTable<Entry>,
    /// The next row with the same key as each row (or [`NONE`]); empty when no key
    /// repeats.
    next: Vec<u32>,
    /// The memory held, accounted to the query's pool.
    _reservation: MemoryReservation,
}

impl BuildSide {
    async fn collect(
        input: Arc<dyn ExecutionPlan>,
        key: Arc<dyn PhysicalExpr>,
        context: Arc<TaskContext>,
        time: Time,
        row_count: Count,
    ) -> DfResult<BuildSide> {
        let reservation =
            MemoryConsumer::new("LookupJoinExec[build]").register(context.memory_pool());
        let mut batches = Vec::new();
        // Each buffer counted once, as DataFusion's hash join counts its build side: the
        // batches of an `UNNEST` of one list are slices of the list's values.
        let mut counter = RecordBatchMemoryCounter::new();
        for partition in 0..input.properties().partitioning.partition_count() {
            let mut stream = input.execute(partition, context.clone())?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                reservation.try_grow(counter.count_batch(&batch))?;
                batches.push(batch);
            }
        }
        let _timer = time.timer();
        let rows = concat_batches(&input.schema(), &batches)?;
        reservation.try_grow(rows.get_array_memory_size())?;
        drop(batches);
        if rows.num_rows() >= TO_LOOK_UP as usize {
            return internal_err!(
                "LookupJoinExec: {} build rows, at most {} supported",
                rows.num_rows(),
                TO_LOOK_UP - 1
            );
        }
        let keys = key.evaluate(&rows)?.into_array(rows.num_rows())?;
        let mut table = HashTable::with_capacity(rows.num_rows());
        let mut next = Vec::new();
        with_byte_keys!(keys.as_ref(), keys.as_ref(), |keys, _same| {
            for row in 0..Array::len(keys) {
                let Some(key) = keys.bytes(row) else { continue };
                let hash = KEY_HASH.hash_one(key);
                let same_key =
                    |e: &Entry| e.tag == tag(hash) && keys.bytes(e.row as usize) == Some(key);
                match table.find_mut(hash, same_key) {
                    None => {
                        let entry = Entry {
                            tag: tag(hash),
                            row: row as u32,
                        };
                        table.insert_unique(hash, entry, |e: &Entry| {
                            KEY_HASH.hash_one(keys.bytes(e.row as usize).unwrap_or_default())
                        });
                    }
                    Some(first) => {
                        // A repeated key: chain the row in front of the key's earlier rows.
                        if next.is_empty() {
                            next = vec![NONE; Array::len(keys)];
                        }
                        next[row] = first.row;
                        first.row = row as u32;
                    }
                }
            }
        });
        row_count.add(rows.num_rows());
        let held = rows.get_array_memory_size()
            + keys.get_array_memory_size()
            + table.allocation_size()
            + next.capacity() * size_of::<u32>();
        reservation.try_resize(held)?;
        Ok(BuildSide {
            rows,
            keys,
            table,
            next,
            _reservation: reservation,
        })
    }

    /// The first build row whose key equals each probe key ([`NONE`] for none).
    fn first_matches(&self, probe_keys: &dyn Array) -> DfResult<Vec<u32>> {
        Ok(with_byte_keys!(
            self.keys.as_ref(),
            probe_keys,
            |build, probe| first_matches(&self.table, build, probe)
        ))
    }
}

/// An entry of the build side's table: the high half of its key's hash, and the
/// first build row with that key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    row: u32,
}

/// The part of a key's hash an [`Entry`] keeps (hashbrown places the entry by the rest).
fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Marks a probe row whose key equals the row before it while looking rows up.
const AS_BEFORE: u32 = NONE - 1;

/// Marks a probe row to look up while looking rows up.
const TO_LOOK_UP: u32 = NONE - 2;

/// The first build row matching each probe key ([`NONE`] for none).
///
/// In passes over the batch, each of independent steps, so that the processor
/// overlaps the cache misses of many rows: the keys' hashes (a run of equal
/// consecutive keys is hashed and looked up once: the plays of a room come
/// together), the table's entries by hash and tag alone, then the keys of the rows
/// found compared with the build rows' (a different key of the same hash and tag
/// is then looked up by its bytes).
fn first_matches<K: ByteKeys + Array>(table: &HashTable<Entry>, build: &K, probe: &K) -> Vec<u32> {
    let rows = Array::len(probe);
    let mut hashes = vec![0u64; rows];
    let mut found = vec![NONE; rows];
    let mut previous: Option<&[u8]> = None;
    for row in 0..rows {
        let key = probe.bytes(row);
        if key.is_some() && key == previous {
            found[row] = AS_BEFORE;
        } else if let Some(key) = key {
            hashes[row] = KEY_HASH.hash_one(key);
            found[row] = TO_LOOK_UP;
        }
        previous = key;
    }
    for row in 0..rows {
        if found[row] == TO_LOOK_UP {
            let hash = hashes[row];
            found[row] = table
                .find(hash, |e| e.tag == tag(hash))
                .map_or(NONE, |e| e.row);
        }
    }
    for row in 0..rows {
        let first = found[row];
        if first == AS_BEFORE {
            found[row] = found[row - 1];
        } else if first != NONE && build.bytes(first as usize) != probe.bytes(row) {
            let (hash, key) = (hashes[row], probe.bytes(row));
            found[row] = table
                .find(hash, |e| {
                    e.tag == tag(hash) && build.bytes(e.row as usize) == key
                })
                .map_or(NONE, |e| e.row);
        }
    }
    found
}

/// How a partition turns probe batches into output batches.
#[derive(Clone)]
struct Output {
    schema: SchemaRef,
    join_type: JoinType,
    probe_key: Arc<dyn PhysicalExpr>,
    /// The build side's column that is its key, if the key is a column.
    build_key_column: Option<usize>,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    metrics: BaselineMetrics,
}

impl Output {
    /// The output rows of one probe batch, in batches of at most `batch_size` rows
    /// where a repeated build key multiplies them.
    fn join(&self, build: &BuildSide, probe: &RecordBatch) -> DfResult<Vec<RecordBatch>> {
        let _timer = self.metrics.elapsed_compute().timer();
        let keys = self
            .probe_key
            .evaluate(probe)?
            .into_array(probe.num_rows())?;
        let first = build.first_matches(keys.as_ref())?;
        let matched = || -> BooleanArray { first.iter().map(|&m| Some(m != NONE)).collect() };
        let batches = match self.join_type {
            JoinType::RightSemi => vec![self.probe_only(filter_record_batch(probe, &matched())?)?],
            JoinType::RightAnti => {
                let unmatched: BooleanArray = first.iter().map(|&m| Some(m == NONE)).collect();
                vec![self.probe_only(filter_record_batch(probe, &unmatched)?)?]
            }
            JoinType::Right if build.next.is_empty() => {
                let indices: UInt32Array =
                    first.iter().map(|&m| (m != NONE).then_some(m)).collect();
                // Where a probe row matched, the build side's key is the probe's key:
                // that column is the probe's keys, NULL where none matched.
                let unmatched: BooleanArray = first.iter().map(|&m| Some(m == NONE)).collect();
                let build_key = self.build_key_column.map(|c| (c, &keys, unmatched));
                vec![self.output(build, &indices, build_key, probe)?]
            }
            JoinType::Inner if build.next.is_empty() => {
                let probe = filter_record_batch(probe, &matched())?;
                let indices: UInt32Array = first.into_iter().filter(|&m| m != NONE).collect();
                vec![self.output(build, &indices, None, &probe)?]
            }
            JoinType::Right | JoinType::Inner => self.join_pairs(build, probe, &first)?,
            other => return internal_err!("LookupJoinExec cannot compute a {other} join"),
        };
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        for batch in &batches {
            self.metrics.record_output(batch.num_rows());
        }
        Ok(batches)
    }

    /// An inner or right join whose build side repeats keys: every (build, probe) pair.
    fn join_pairs(
        &self,
        build: &BuildSide,
        probe: &RecordBatch,
        first: &[u32],
    ) -> DfResult<Vec<RecordBatch>> {
        let outer = self.join_type == JoinType::Right;
        let mut batches = Vec::new();
        let mut build_rows: Vec<Option<u32>> = Vec::new();
        let mut probe_rows: Vec<u32> = Vec::new();
        for (probe_row, &found) in first.iter().enumerate() {
            if found == NONE && outer {
                build_rows.push(None);
                probe_rows.push(probe_row as u32);
            }
            let mut row = found;
            while row != NONE {
                build_rows.push(Some(row));
                probe_rows.push(probe_row as u32);
                row = build.next[row as usize];
            }
            if probe_rows.len() >= self.batch_size || probe_row + 1 == first.len() {
                let indices = UInt32Array::from(std::mem::take(&mut probe_rows));
                let pairs = probe
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &indices, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let pairs = RecordBatch::try_new(probe.schema(), pairs)?;
                let build_indices = UInt32Array::from(std::mem::take(&mut build_rows));
                batches.push(self.output(build, &build_indices, None, &pairs)?);
            }
        }
        Ok(batches)
    }

    /// The output batch of a semi or anti join: `probe`'s columns, those projected.
    fn probe_only(&self, probe: RecordBatch) -> DfResult<RecordBatch> {
        let columns = match &self.projection {
            Some(projection) => projection
                .iter()
                .map(|&i| probe.column(i).clone())
                .collect(),
            None => probe.columns().to_vec(),
        };
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(probe.num_rows())),
        )?)
    }

    /// The output batch of an inner or right join: of the join's columns (the build
    /// side's at `indices`, NULL where an index is, then `probe`'s) those projected.
    /// `build_key` gives the build side's key column instead: its index, the probe's
    /// keys, and where they are to be NULL.
    fn output(
        &self,
        build: &BuildSide,
        indices: &UInt32Array,
        build_key: Option<(usize, &ArrayRef, BooleanArray)>,
        probe: &RecordBatch,
    ) -> DfResult<RecordBatch> {
        let build_columns = build.rows.num_columns();
        let column = |i: usize| -> DfResult<ArrayRef> {
            Ok(match &build_key {
                _ if i >= build_columns => probe.column(i - build_columns).clone(),
                Some((key, keys, unmatched)) if *key == i => nullif(keys.as_ref(), unmatched)?,
                _ => take(build.rows.column(i).as_ref(), indices, None)?,
            })
        };
        let columns = match &self.projection {
            Some(projection) => projection
                .iter()
                .map(|&i| column(i))
                .collect::<DfResult<_>>()?,
            None => (0..build_columns + probe.num_columns())
                .map(column)
                .collect::<DfResult<_>>()?,
        };
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(probe.num_rows())),
        )?)
    }
}

/// The keys of a string or binary array, as bytes.
trait ByteKeys {
    /// The bytes of row `row`'s key, `None` if it is NULL.
    fn bytes(&self, row: usize) -> Option<&[u8]>;
}

impl<T: ByteArrayType> ByteKeys for GenericByteArray<T> {
    #[inline]
    fn bytes(&self, row: usize) -> Option<&[u8]> {
        if self.is_null(row) {
            return None;
        }
        let offsets = self.value_offsets();
        Some(&self.value_data()[offsets[row].as_usize()..offsets[row + 1].as_usize()])
    }
}

impl ByteKeys for StringViewArray {
    #[inline]
    fn bytes(&self, row: usize) -> Option<&[u8]> {
        (!self.is_null(row)).then(|| self.value(row).as_bytes())
    }
}

impl ByteKeys for BinaryViewArray {
    #[inline]
    fn bytes(&self, row: usize) -> Option<&[u8]> {
        (!self.is_null(row)).then(|| self.value(row))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BinaryArray, Int64Array, LargeStringArray, StringArray, StringViewArray as ViewArray,
    };
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use datafusion::datasource::MemTable;
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The key column's array type in a test table.
    #[derive(Debug, Clone, Copy)]
    enum KeyType {
        Utf8,
        LargeUtf8,
        Utf8View,
        Binary,
    }

    fn key_array(keys: Vec<Option<String>>, key_type: KeyType) -> ArrayRef {
        match key_type {
            KeyType::Utf8 => Arc::new(StringArray::from(keys)),
            KeyType::LargeUtf8 => Arc::new(LargeStringArray::from(keys)),
            KeyType::Utf8View => Arc::new(ViewArray::from(keys)),
            KeyType::Binary => Arc::new(BinaryArray::from(
                keys.iter()
                    .map(|k| k.as_deref().map(str::as_bytes))
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// A table `name(k, v)` of `partitions` × `batches` batches of `rows` rows: keys
    /// `K0`… `K{distinct - 1}` (one in 20 NULL), in runs of up to 4 equal keys.
    fn table(
        rng: &mut ChaCha8Rng,
        key_type: KeyType,
        distinct: u32,
        [partitions, batches, rows]: [usize; 3],
    ) -> MemTable {
        let mut value = 0;
        let mut batch = |rng: &mut ChaCha8Rng| {
            let mut keys = Vec::with_capacity(rows);
            while keys.len() < rows {
                let key = (rng.random_range(0..20) > 0)
                    .then(|| format!("K{}", rng.random_range(0..distinct.max(1))));
                let run = rng.random_range(1..=4).min(rows - keys.len());
                keys.extend(std::iter::repeat_n(key, run));
            }
            let values: Int64Array = (0..rows)
                .map(|_| {
                    value += 1;
                    value
                })
                .collect();
            RecordBatch::try_from_iter_with_nullable([
                ("k", key_array(keys, key_type), true),
                ("v", Arc::new(values) as ArrayRef, false),
            ])
            .unwrap()
        };
        let data: Vec<Vec<RecordBatch>> = (0..partitions)
            .map(|_| (0..batches).map(|_| batch(rng)).collect())
            .collect();
        let schema = batch(rng).schema();
        MemTable::try_new(schema, data).unwrap()
    }

    /// A session of 3 partitions and batches of 16 rows with `small` (the build side)
    /// and `big` registered: `small` of `small_rows` rows (each key about twice when
    /// `repeated`, else once, and one NULL), `big` of 6 batches of 50 rows in each
    /// partition, of keys of which about two thirds are in `small`. With
    /// `dynamic_filters`, DataFusion's default: inner and semi joins push a filter of
    /// the build side's keys into the probe side's scan.
    fn session(
        key_type: KeyType,
        small_rows: usize,
        repeated: bool,
        seed: u64,
        dynamic_filters: bool,
    ) -> SessionContext {
        let mut config = SessionConfig::new()
            .with_target_partitions(3)
            .with_batch_size(16);
        config
            .options_mut()
            .optimizer
            .enable_join_dynamic_filter_pushdown = dynamic_filters;
        let ctx = SessionContext::new_with_config(config);
        register(&ctx, key_type, small_rows, repeated, seed);
        ctx
    }

    fn register(
        ctx: &SessionContext,
        key_type: KeyType,
        small_rows: usize,
        repeated: bool,
        seed: u64,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let distinct = if repeated { small_rows / 2 } else { small_rows } as u32;
        let small = if repeated {
            table(&mut rng, key_type, distinct, [1, 1, small_rows])
        } else {
            // Each key once: K0… in a shuffled order, with one NULL.
            let mut keys: Vec<Option<String>> =
                (0..distinct).map(|i| Some(format!("K{i}"))).collect();
            if !keys.is_empty() {
                keys.push(None);
            }
            for i in (1..keys.len()).rev() {
                keys.swap(i, rng.random_range(0..=i));
            }
            let values: Int64Array = (0..keys.len() as i64).map(|v| -v).collect();
            let batch = RecordBatch::try_from_iter_with_nullable([
                ("k", key_array(keys, key_type), true),
                ("v", Arc::new(values) as ArrayRef, false),
            ])
            .unwrap();
            MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap()
        };
        let big = table(&mut rng, key_type, distinct * 3 / 2 + 1, [3, 6, 50]);
        ctx.register_table("small", Arc::new(small)).unwrap();
        ctx.register_table("big", Arc::new(big)).unwrap();
    }

    /// Joins the rule applies to, as analysts and `classified_plays` write them, and
    /// whether they keep every probe row (then DataFusion pushes no filter into the
    /// probe side: it could not drop a row).
    const JOINS: [(&str, &str, bool); 6] = [
        (
            "right outer",
            "SELECT b.k, b.v, s.k AS s_k, s.v AS s_v FROM big AS b LEFT JOIN small AS s ON s.k = b.k",
            true,
        ),
        (
            "inner",
            "SELECT b.v, s.v AS s_v, s.k FROM big AS b JOIN small AS s ON s.k = b.k",
            false,
        ),
        (
            "right semi",
            "SELECT b.* FROM small AS s RIGHT SEMI JOIN big AS b ON s.k = b.k",
            false,
        ),
        (
            "right anti",
            "SELECT b.* FROM small AS s RIGHT ANTI JOIN big AS b ON s.k = b.k",
            true,
        ),
        (
            "not exists",
            "SELECT b.v FROM big AS b WHERE NOT EXISTS (SELECT 1 FROM small AS s WHERE s.k = b.k)",
            true,
        ),
        (
            "distinct lookup",
            "SELECT b.v, CASE WHEN s.k IS NULL THEN 'unknown' END AS flag
             FROM big AS b LEFT JOIN (SELECT DISTINCT k FROM small) AS s ON s.k = b.k",
            true,
        ),
    ];

    async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        ctx.sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap()
    }

    fn text(plan: &Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(true).to_string()
    }

    /// Every row of `plan`, formatted, sorted.
    async fn rows(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> DfResult<Vec<String>> {
        let batches = collect(plan, ctx.task_ctx()).await?;
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let columns: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()?;
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = columns.iter().map(|c| c.value(row).to_string()).collect();
                rows.push(cells.join("|"));
            }
        }
        rows.sort();
        Ok(rows)
    }

    /// Each join of [`JOINS`] on `ctx`: DataFusion's plan has a `CollectLeft` hash join,
    /// the rewritten plan a `LookupJoinExec` in its place (unless DataFusion pushed a
    /// filter of the build side's keys into the probe side's scan), with the same
    /// schema and rows. Returns how many rows the joins gave, all together.
    async fn check_joins(ctx: &SessionContext, what: &str) -> usize {
        let dynamic_filters = ctx
            .state()
            .config_options()
            .optimizer
            .enable_join_dynamic_filter_pushdown;
        let mut total = 0;
        for (join, sql, keeps_probe_rows) in JOINS {
            let planned = plan(ctx, sql).await;
            let rewritten = LookupJoins
                .optimize(plan(ctx, sql).await, ctx.state().config_options())
                .unwrap();
            let (before, after) = (text(&planned), text(&rewritten));
            let what = format!("{join}, {what}");
            assert!(
                before.contains("HashJoinExec: mode=CollectLeft"),
                "{what}:\n{before}"
            );
            if keeps_probe_rows || !dynamic_filters {
                assert!(!after.contains("HashJoinExec"), "{what}:\n{after}");
                assert!(after.contains("LookupJoinExec"), "{what}:\n{after}");
            } else {
                assert_eq!(after, before, "{what}");
            }
            assert_eq!(planned.schema(), rewritten.schema(), "{what}");
            let expected = rows(ctx, planned).await.unwrap();
            let got = rows(ctx, rewritten).await.unwrap();
            assert_eq!(got.len(), expected.len(), "{what}:\n{after}");
            assert_eq!(got, expected, "{what}:\n{after}");
            total += expected.len();
        }
        total
    }

    #[tokio::test]
    async fn every_join_gives_datafusions_rows_for_each_key_type() {
        for key_type in [
            KeyType::Utf8,
            KeyType::LargeUtf8,
            KeyType::Utf8View,
            KeyType::Binary,
        ] {
            for (seed, repeated, dynamic_filters) in
                [(1, false, false), (2, true, false), (3, false, true)]
            {
                let what = format!(
                    "{key_type:?} keys, repeated: {repeated}, dynamic filters: {dynamic_filters}"
                );
                let ctx = session(key_type, 40, repeated, seed, dynamic_filters);
                let rows = check_joins(&ctx, &what).await;
                // 900 plays probe each join; not a comparison of empty results.
                assert!(rows > 3_000, "{what}: {rows} rows");
            }
        }
    }

    #[tokio::test]
    async fn an_empty_build_or_probe_side_gives_datafusions_rows() {
        let ctx = session(KeyType::Utf8, 0, false, 3, false);
        check_joins(&ctx, "empty build side").await;
        // DataFusion builds on the smaller side, so an empty probe side is planned
        // here by hand: each join type over `small` and an empty `big`.
        let ctx = session(KeyType::Utf8View, 10, false, 4, false);
        let small = plan(&ctx, "SELECT * FROM small").await;
        let empty = plan(&ctx, "SELECT * FROM big WHERE false").await;
        let on = vec![(
            datafusion::physical_expr::expressions::col("k", &small.schema()).unwrap(),
            datafusion::physical_expr::expressions::col("k", &empty.schema()).unwrap(),
        )];
        for join_type in [
            JoinType::Inner,
            JoinType::Right,
            JoinType::RightSemi,
            JoinType::RightAnti,
        ] {
            let join = HashJoinExec::try_new(
                small.clone(),
                empty.clone(),
                on.clone(),
                None,
                &join_type,
                None,
                PartitionMode::CollectLeft,
                NullEquality::NullEqualsNothing,
                false,
            )
            .unwrap();
            let lookup = LookupJoinExec::try_new(join.builder().build().unwrap()).unwrap();
            assert_eq!(
                rows(&ctx, Arc::new(join)).await.unwrap(),
                Vec::<String>::new()
            );
            assert_eq!(
                rows(&ctx, Arc::new(lookup)).await.unwrap(),
                Vec::<String>::new()
            );
        }
    }

    #[tokio::test]
    async fn a_build_side_repeating_keys_is_joined_pair_by_pair_in_batches() {
        // 400 build rows of 8 keys: each probe row matches about 50 of them.
        let mut config = SessionConfig::new()
            .with_target_partitions(2)
            .with_batch_size(64);
        config
            .options_mut()
            .optimizer
            .enable_join_dynamic_filter_pushdown = false;
        let ctx = SessionContext::new_with_config(config);
        register(&ctx, KeyType::Utf8, 16, true, 5);
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        ctx.deregister_table("small").unwrap();
        ctx.register_table(
            "small",
            Arc::new(table(&mut rng, KeyType::Utf8, 8, [1, 1, 400])),
        )
        .unwrap();
        let sql = JOINS[1].1; // inner
        let rewritten = LookupJoins
            .optimize(plan(&ctx, sql).await, ctx.state().config_options())
            .unwrap();
        let batches = collect(rewritten.clone(), ctx.task_ctx()).await.unwrap();
        assert!(batches.len() > 100, "{} batches", batches.len());
        assert!(batches.iter().all(|b| b.num_rows() <= 64 + 400));
        check_joins(&ctx, "many pairs").await;
    }

    #[tokio::test]
    async fn a_build_side_over_the_memory_limit_is_an_error() {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(2_000)))
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(3),
            runtime,
        );
        register(&ctx, KeyType::Utf8, 2_000, false, 7);
        let sql = JOINS[3].1; // right anti
        let rewritten = LookupJoins
            .optimize(plan(&ctx, sql).await, ctx.state().config_options())
            .unwrap();
        assert!(text(&rewritten).contains("LookupJoinExec"));
        let error = rows(&ctx, rewritten).await.unwrap_err().to_string();
        assert!(error.contains("LookupJoinExec[build]"), "{error}");
    }

    #[tokio::test]
    async fn a_build_side_of_slices_counts_each_buffer_once() {
        // 100,000 keys as one list, unnested: 49 batches of 2,048 rows, each a slice of
        // the list's values (about 1.5 MB). Counted whole in each batch they would pass
        // 70 MB; the join runs within 16 MB.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(16 << 20)))
            .build_arc()
            .unwrap();
        let ctx =
            SessionContext::new_with_config_rt(SessionConfig::new().with_batch_size(2048), runtime);
        register(&ctx, KeyType::Utf8View, 40, false, 16);
        let build = plan(
            &ctx,
            "SELECT UNNEST(array_agg(concat('K', CAST(value AS VARCHAR)))) AS k \
             FROM generate_series(0, 99999)",
        )
        .await;
        let probe = plan(&ctx, "SELECT * FROM big").await;
        let on = vec![(
            datafusion::physical_expr::expressions::col("k", &build.schema()).unwrap(),
            datafusion::physical_expr::expressions::col("k", &probe.schema()).unwrap(),
        )];
        let join = HashJoinExec::try_new(
            build,
            probe,
            on,
            None,
            &JoinType::RightSemi,
            None,
            PartitionMode::CollectLeft,
            NullEquality::NullEqualsNothing,
            false,
        )
        .unwrap();
        let lookup = LookupJoinExec::try_new(join).unwrap();
        // Every key of `big` is among K0… K99999: each row but those of NULL keys.
        let expected = rows(
            &ctx,
            plan(&ctx, "SELECT * FROM big WHERE k IS NOT NULL").await,
        )
        .await
        .unwrap();
        assert!(expected.len() > 800, "{} rows", expected.len());
        assert_eq!(rows(&ctx, Arc::new(lookup)).await.unwrap(), expected);
    }

    #[test]
    fn a_key_found_by_hash_and_tag_alone_is_checked_against_the_build_key() {
        // Entries placed as if "a" and "c" had the hash of "b": a probe of "b" meets
        // entries of the right hash and tag whose keys differ.
        let build = StringArray::from(vec!["a", "c", "b"]);
        let hash_b = KEY_HASH.hash_one(b"b".as_slice());
        let mut table = HashTable::new();
        let rehash = |_: &Entry| hash_b;
        for row in [0, 1] {
            table.insert_unique(
                hash_b,
                Entry {
                    tag: tag(hash_b),
                    row,
                },
                rehash,
            );
        }
        let probe = StringArray::from(vec![Some("b"), Some("b"), None, Some("a")]);
        // "b" is not in the table yet; "a" is, but not where its own hash leads.
        assert_eq!(
            first_matches(&table, &build, &probe),
            vec![NONE, NONE, NONE, NONE]
        );
        table.insert_unique(
            hash_b,
            Entry {
                tag: tag(hash_b),
                row: 2,
            },
            rehash,
        );
        assert_eq!(
            first_matches(&table, &build, &probe),
            vec![2, 2, NONE, NONE]
        );
    }

    #[tokio::test]
    async fn joins_on_two_keys_or_with_a_condition_are_left_to_datafusion() {
        let ctx = session(KeyType::Utf8, 40, false, 8, false);
        for sql in [
            "SELECT b.v FROM big AS b JOIN small AS s ON s.k = b.k AND s.v = b.v",
            "SELECT b.v FROM big AS b JOIN small AS s ON s.k = b.k AND s.v < b.v",
            "SELECT b.v FROM big AS b FULL JOIN small AS s ON s.k = b.k",
            "SELECT b.v FROM big AS b JOIN small AS s ON s.v = b.v",
        ] {
            let rewritten = LookupJoins
                .optimize(plan(&ctx, sql).await, ctx.state().config_options())
                .unwrap();
            let after = text(&rewritten);
            assert!(!after.contains("LookupJoinExec"), "{sql}:\n{after}");
        }
    }
}
