//! The server's statement timeout: a physical rewrite that puts [`DeadlineExec`] on
//! top of every plan, so a query's results stop with an error once it has run for
//! the limit, however the client fetches them (simple or extended protocol, all at
//! once or row by row).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream,
};
use futures::{Stream, StreamExt};

/// The rewrite: every plan gets a [`DeadlineExec`] at its root.
#[derive(Debug)]
pub struct Deadlines {
    limit: Duration,
}

impl Deadlines {
    /// Plans stop `limit` after their execution starts.
    pub fn new(limit: Duration) -> Deadlines {
        Deadlines { limit }
    }
}

impl PhysicalOptimizerRule for Deadlines {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if plan.downcast_ref::<DeadlineExec>().is_some() {
            return Ok(plan);
        }
        Ok(Arc::new(DeadlineExec {
            input: plan,
            limit: self.limit,
        }))
    }

    fn name(&self) -> &str {
        "deadlines"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Passes its input's batches through until `limit` has passed since `execute`, then
/// ends them with "query cancelled" (the input is dropped, which stops its tasks).
#[derive(Debug)]
pub struct DeadlineExec {
    input: Arc<dyn ExecutionPlan>,
    limit: Duration,
}

impl DisplayAs for DeadlineExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeadlineExec: limit={:?}", self.limit)
    }
}

impl ExecutionPlan for DeadlineExec {
    fn name(&self) -> &str {
        "DeadlineExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (Some(input), None) = (children.pop(), children.pop()) else {
            return Err(DataFusionError::Internal(
                "DeadlineExec takes one child".into(),
            ));
        };
        Ok(Arc::new(DeadlineExec {
            input,
            limit: self.limit,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        Ok(Box::pin(DeadlineStream {
            schema: self.input.schema(),
            input: Some(self.input.execute(partition, context)?),
            sleep: Box::pin(tokio::time::sleep(self.limit)),
            limit: self.limit,
        }))
    }
}

/// The error a query past its limit ends with.
#[derive(Debug)]
pub struct Cancelled(pub Duration);

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query cancelled after {:?} (the server's --timeout)",
            self.0
        )
    }
}

impl std::error::Error for Cancelled {}

struct DeadlineStream {
    schema: SchemaRef,
    input: Option<SendableRecordBatchStream>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl Stream for DeadlineStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.input.is_none() {
            return Poll::Ready(None);
        }
        // The deadline first: an input that is always ready must stop too.
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.input = None;
            let limit = self.limit;
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(Cancelled(
                limit,
            ))))));
        }
        match self.input.as_mut() {
            Some(input) => input.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }
}

impl RecordBatchStream for DeadlineStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
