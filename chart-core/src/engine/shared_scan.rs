//! One execution of a plan read by several plans: the reading plans scan a
//! [`StreamingTable`] whose partitions receive, batch by batch, the output of the
//! shared plan's partition of the same number. DataFusion plans every query on its
//! own, so without this a view read by two materialised views runs twice.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::new_null_array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

/// Batches in flight per reader and partition: enough to keep both sides busy,
/// small enough that a slow reader holds back the shared plan instead of memory.
const CHANNEL_BATCHES: usize = 4;

type BatchSender = mpsc::Sender<DfResult<RecordBatch>>;
type BatchReceiver = mpsc::Receiver<DfResult<RecordBatch>>;

/// One partition of the shared output, as a table partition: each execution takes
/// the receiving end of one channel wired by [`SharedScan::wire`].
struct SharedPartition {
    schema: SchemaRef,
    receivers: Mutex<Vec<BatchReceiver>>,
}

impl fmt::Debug for SharedPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPartition").finish_non_exhaustive()
    }
}

impl PartitionStream for SharedPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let receiver = self
            .receivers
            .lock()
            .map_err(|_| ())
            .ok()
            .and_then(|mut receivers| receivers.pop());
        let stream = match receiver {
            Some(receiver) => receiver.boxed(),
            None => futures::stream::once(async {
                Err(DataFusionError::Internal(
                    "a shared scan was executed more times than it was planned".to_string(),
                ))
            })
            .boxed(),
        };
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// The output of a shared plan, offered as a table to the plans that read it.
pub(crate) struct SharedScan {
    schema: SchemaRef,
    partitions: Vec<Arc<SharedPartition>>,
}

impl SharedScan {
    /// A table of `partitions` partitions of rows of `schema`.
    pub(crate) fn new(schema: SchemaRef, partitions: usize) -> SharedScan {
        let partitions = (0..partitions)
            .map(|_| {
                Arc::new(SharedPartition {
                    schema: schema.clone(),
                    receivers: Mutex::new(Vec::new()),
                })
            })
            .collect();
        SharedScan { schema, partitions }
    }

    /// The table to register under the shared view's name before planning readers.
    pub(crate) fn table(&self) -> DfResult<StreamingTable> {
        let partitions = self
            .partitions
            .iter()
            .map(|p| p.clone() as Arc<dyn PartitionStream>)
            .collect();
        StreamingTable::try_new(self.schema.clone(), partitions)
    }

    /// The scans of this table in `plan`: their projections (`None`: every column).
    pub(crate) fn scans_in(&self, plan: &Arc<dyn ExecutionPlan>) -> Vec<Option<Vec<usize>>> {
        let mut scans = Vec::new();
        let _ = plan.apply(|node| {
            if let Some(scan) = node.downcast_ref::<StreamingTableExec>()
                && self.is_read_by(scan)
            {
                scans.push(scan.projection().as_ref().map(|p| p.to_vec()));
            }
            Ok(TreeNodeRecursion::Continue)
        });
        scans
    }

    fn is_read_by(&self, scan: &StreamingTableExec) -> bool {
        match (scan.partitions().first(), self.partitions.first()) {
            (Some(theirs), Some(ours)) => std::ptr::addr_eq(Arc::as_ptr(theirs), Arc::as_ptr(ours)),
            _ => false,
        }
    }

    /// Creates one channel per scan and partition for `scans` scans: returns, per
    /// partition of the shared plan, the senders its batches go to.
    fn wire(&self, scans: usize) -> DfResult<Vec<Vec<BatchSender>>> {
        let mut senders = Vec::with_capacity(self.partitions.len());
        for partition in &self.partitions {
            let mut receivers = partition.receivers.lock().map_err(|_| {
                DataFusionError::Internal("a shared scan's lock is poisoned".into())
            })?;
            let mut partition_senders = Vec::with_capacity(scans);
            for _ in 0..scans {
                let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
                partition_senders.push(sender);
                receivers.push(receiver);
            }
            senders.push(partition_senders);
        }
        Ok(senders)
    }

    /// Drops the receiving ends no scan took.
    fn close(&self) {
        for partition in &self.partitions {
            if let Ok(mut receivers) = partition.receivers.lock() {
                receivers.clear();
            }
        }
    }

    /// Runs `shared` once and `readers` (planned on [`SharedScan::table`]) at the
    /// same time, each reader's scans fed from the shared plan's output; returns each
    /// reader's output partitions. A `streamed` reader's output is handed to its
    /// function batch by batch instead of collected. An error of the shared plan is
    /// every reader's.
    ///
    /// `shared` computes the columns `computed` (ascending indices into the table's
    /// schema) and no others: the readers must read no other, and the others are
    /// passed as NULL (they must be nullable).
    pub(crate) async fn run(
        &self,
        shared: Arc<dyn ExecutionPlan>,
        computed: &[usize],
        readers: &[Arc<dyn ExecutionPlan>],
        streamed: Option<StreamedReader<'_>>,
        ctx: Arc<TaskContext>,
    ) -> DfResult<Vec<Vec<Vec<RecordBatch>>>> {
        let partitions = shared.output_partitioning().partition_count();
        if partitions != self.partitions.len() {
            return Err(DataFusionError::Internal(format!(
                "a shared plan of {partitions} partitions for a scan of {}",
                self.partitions.len()
            )));
        }
        let schema = self.schema.clone();
        let mut scans = 0;
        for plan in readers.iter().chain(streamed.as_ref().map(|s| &s.plan)) {
            for projection in self.scans_in(plan) {
                let read = projection.unwrap_or_else(|| (0..schema.fields().len()).collect());
                if let Some(column) = read.iter().find(|i| !computed.contains(i)) {
                    return Err(DataFusionError::Internal(format!(
                        "a reader of a shared plan reads column {column}, which it does not compute"
                    )));
                }
                scans += 1;
            }
        }
        let widen = Widen::new(schema, computed)?;
        let senders = self.wire(scans)?;
        let producers: Vec<SpawnedTask<DfResult<()>>> = senders
            .into_iter()
            .enumerate()
            .map(|(partition, senders)| {
                let stream = shared.execute(partition, ctx.clone());
                SpawnedTask::spawn(feed(stream, widen.clone(), senders))
            })
            .collect();
        let consumers = readers
            .iter()
            .map(|plan| datafusion::physical_plan::collect_partitioned(plan.clone(), ctx.clone()));
        let stream_ctx = ctx.clone();
        let streaming = async move {
            if let Some(StreamedReader { plan, consume }) = streamed {
                let mut stream = datafusion::physical_plan::execute_stream(plan, stream_ctx)?;
                while let Some(batch) = stream.next().await {
                    consume(batch?)?;
                }
            }
            Ok(())
        };
        let outputs =
            futures::future::try_join(futures::future::try_join_all(consumers), streaming)
                .await
                .map(|(outputs, ())| outputs);
        // A scan that was planned but never executed (a reader that finished without
        // it) must not hold the shared plan back: its channels close here.
        self.close();
        // On an error the producers are dropped, which stops them.
        let outputs = outputs?;
        for producer in producers {
            producer
                .join()
                .await
                .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))??;
        }
        Ok(outputs)
    }
}

/// A reader of a shared plan whose output goes, as one stream, to a function.
pub(crate) struct StreamedReader<'a> {
    /// Its plan, on [`SharedScan::table`].
    pub plan: Arc<dyn ExecutionPlan>,
    /// What takes each batch.
    pub consume: &'a mut (dyn FnMut(RecordBatch) -> DfResult<()> + Send + Sync),
}

/// Makes the shared plan's batches batches of the table: the columns it does not
/// compute are NULL.
#[derive(Clone)]
struct Widen {
    schema: SchemaRef,
    computed: Vec<bool>,
}

impl Widen {
    fn new(schema: SchemaRef, computed: &[usize]) -> DfResult<Widen> {
        let mut flags = vec![false; schema.fields().len()];
        for &i in computed {
            match flags.get_mut(i) {
                Some(flag) => *flag = true,
                None => return Err(DataFusionError::Internal(format!("no column {i}"))),
            }
        }
        if let Some((field, _)) = schema
            .fields()
            .iter()
            .zip(&flags)
            .find(|(f, c)| !**c && !f.is_nullable())
        {
            return Err(DataFusionError::Internal(format!(
                "column {} of a shared plan is not nullable, so it must be computed",
                field.name()
            )));
        }
        Ok(Widen {
            schema,
            computed: flags,
        })
    }

    fn batch(&self, batch: RecordBatch) -> DfResult<RecordBatch> {
        let rows = batch.num_rows();
        let mut computed = batch.columns().iter();
        let mut columns = Vec::with_capacity(self.computed.len());
        for (field, is_computed) in self.schema.fields().iter().zip(&self.computed) {
            let column = if *is_computed {
                computed.next().cloned()
            } else {
                Some(new_null_array(field.data_type(), rows))
            };
            match column {
                Some(column) => columns.push(column),
                None => {
                    return Err(DataFusionError::Internal(
                        "a shared batch lacks columns".into(),
                    ));
                }
            }
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Sends every batch of `stream`, widened, to every sender; a reader that stopped
/// reading is left out, an error goes to every reader and is returned.
async fn feed(
    stream: DfResult<SendableRecordBatchStream>,
    widen: Widen,
    mut senders: Vec<BatchSender>,
) -> DfResult<()> {
    let failure = match stream {
        Ok(mut stream) => loop {
            match stream
                .next()
                .await
                .map(|batch| batch.and_then(|b| widen.batch(b)))
            {
                None => return Ok(()),
                Some(Ok(batch)) => {
                    let mut open = Vec::with_capacity(senders.len());
                    for mut sender in senders {
                        if sender.send(Ok(batch.clone())).await.is_ok() {
                            open.push(sender);
                        }
                    }
                    senders = open;
                    if senders.is_empty() {
                        return Ok(());
                    }
                }
                Some(Err(e)) => break Arc::new(e),
            }
        },
        Err(e) => Arc::new(e),
    };
    for mut sender in senders {
        let _ = sender
            .send(Err(DataFusionError::Shared(failure.clone())))
            .await;
    }
    Err(DataFusionError::Shared(failure))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A session with `t(a, b)`: 2 partitions of 3 batches, a = 0..600, b = 1 but
    /// for one row `zero_row` where b = 0.
    fn session(zero_row: Option<i64>) -> SessionContext {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let batch = |from: i64| {
            let a: Vec<i64> = (from..from + 100).collect();
            let b: Vec<i64> = a.iter().map(|a| i64::from(Some(*a) != zero_row)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(a)), Arc::new(Int64Array::from(b))],
            )
            .unwrap()
        };
        let partitions = vec![
            vec![batch(0), batch(100), batch(200)],
            vec![batch(300), batch(400), batch(500)],
        ];
        let ctx = SessionContext::new();
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, partitions).unwrap()),
        )
        .unwrap();
        ctx
    }

    const SHARED: &str = "SELECT a, a / b AS q, a % 7 AS k FROM t";

    /// Runs SHARED once for `readers` (SQL over `s`), within a time limit.
    async fn run_shared(ctx: &SessionContext, readers: &[&str]) -> DfResult<Vec<Vec<RecordBatch>>> {
        let shared = ctx.sql(SHARED).await?.create_physical_plan().await?;
        let scan = SharedScan::new(
            shared.schema(),
            shared.output_partitioning().partition_count(),
        );
        ctx.register_table("s", Arc::new(scan.table()?))?;
        let mut plans = Vec::new();
        for sql in readers {
            plans.push(ctx.sql(sql).await?.create_physical_plan().await?);
        }
        let computed: Vec<usize> = (0..shared.schema().fields().len()).collect();
        let run = scan.run(shared, &computed, &plans, None, ctx.task_ctx());
        let outputs = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .map_err(|_| DataFusionError::Execution("the shared run hung".into()))??;
        Ok(outputs
            .into_iter()
            .map(|p| p.into_iter().flatten().collect())
            .collect())
    }

    /// The same readers over the shared SQL as a subquery, each computing it itself.
    async fn run_separately(ctx: &SessionContext, readers: &[&str]) -> Vec<Vec<RecordBatch>> {
        let mut outputs = Vec::new();
        for sql in readers {
            let sql = sql.replace(" s", &format!(" ({SHARED}) AS s"));
            outputs.push(ctx.sql(&sql).await.unwrap().collect().await.unwrap());
        }
        outputs
    }

    fn pretty(batches: &[RecordBatch]) -> String {
        arrow::util::pretty::pretty_format_batches(batches)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn every_reader_sees_every_row_of_one_execution() {
        let readers = [
            "SELECT SUM(q) AS total, COUNT(*) AS n FROM s",
            "SELECT k, COUNT(*) AS n, MAX(a) AS top FROM s GROUP BY k ORDER BY k",
            // Two scans in one reader.
            "SELECT k FROM s WHERE a < 3 UNION ALL SELECT k FROM s WHERE a >= 598 ORDER BY k",
        ];
        let ctx = session(None);
        let shared = run_shared(&ctx, &readers).await.unwrap();
        let separate = run_separately(&ctx, &readers).await;
        assert_eq!(shared.len(), 3);
        for (shared, separate) in shared.iter().zip(&separate) {
            assert_eq!(pretty(shared), pretty(separate));
        }
        assert!(
            pretty(&shared[0]).contains("| 179700 | 600 |"),
            "{}",
            pretty(&shared[0])
        );
    }

    #[tokio::test]
    async fn an_error_of_the_shared_plan_fails_every_reader_without_hanging() {
        let readers = ["SELECT SUM(q) FROM s", "SELECT COUNT(*) FROM s"];
        let err = run_shared(&session(Some(450)), &readers).await.unwrap_err();
        assert!(err.to_string().contains("Divide by zero"), "{err}");
    }

    #[tokio::test]
    async fn a_reader_that_stops_early_does_not_hold_back_the_others() {
        let readers = ["SELECT a FROM s LIMIT 1", "SELECT COUNT(*) AS n FROM s"];
        let outputs = run_shared(&session(None), &readers).await.unwrap();
        assert_eq!(outputs[0].iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert!(pretty(&outputs[1]).contains("| 600 |"));
    }

    #[tokio::test]
    async fn executing_a_scan_more_often_than_planned_is_an_error() {
        let ctx = session(None);
        let scan = SharedScan::new(
            Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)])),
            1,
        );
        ctx.register_table("s", Arc::new(scan.table().unwrap()))
            .unwrap();
        let err = ctx
            .sql("SELECT * FROM s")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("more times than it was planned"),
            "{err}"
        );
    }
}
