//! The published results as SQL table functions, so that an analyst can join and
//! filter them like tables:
//!
//! * `hot_chart(period [, top_n [, province [, methodology]]])` and `new_chart(...)`:
//!   a chart, the columns of [`CHART_COLUMNS`] by rank; under `'GM-2'` (or NULL in a
//!   GM-2 session) the screened chart, the columns of [`SCREENED_CHART_COLUMNS`], its
//!   bubbling-under entries after the chart's;
//! * `coverage(period [, province])`: national (or one province's) coverage, the
//!   columns of [`COVERAGE_COLUMNS`];
//! * `coverage_by_province(period)`: the columns of [`PROVINCE_COVERAGE_COLUMNS`];
//! * `distribution(period [, rights_holder_id])`: the lines of the period's
//!   distribution of licence fees under D-1 (with the session's methodology counting
//!   the plays), per song, of one rights holder when given: [`lines_schema`].
//!
//! `period` is `'YYYY-MM'` (a month) or `'YYYY'` (a year). `top_n` is the chart's
//! length, exactly as `chart-job publish --top-n`: the history columns (prev_rank,
//! peak_rank, months_on_chart, movement) are those of a chart of that length. A
//! `province` gives the regional chart: the same methodology over only the plays of
//! that province's venues ([`crate::GoldenMic::regional`]). NULL for an optional argument
//! means its default.
//!
//! Each call computes its result with the SQL of `queries/` on a new session over
//! the same input tables, configuration and runtime, so it returns exactly what
//! `chart-job publish` writes for the same period and parameters.

use std::fmt;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_datafusion_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::contract::tables::InputTables;
use crate::distribution::{distribute, lines_schema, read_fees};
use crate::error::{ChartError, Result};
use crate::methodology::{DistributionMethodology, Methodology, Period};
use crate::results::period::{
    self, CHART_COLUMNS, COVERAGE_COLUMNS, ChartKind, PROVINCE_COVERAGE_COLUMNS, check_has_plays,
};
use crate::results::session::derived_session;
use crate::screened_chart::{SCREENED_CHART_COLUMNS, entries_batch, screen};

/// What a table function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFunctionKind {
    /// `hot_chart` or `new_chart`.
    Chart(ChartKind),
    /// `coverage`.
    Coverage,
    /// `coverage_by_province`.
    CoverageByProvince,
    /// `distribution`.
    Distribution,
}

impl TableFunctionKind {
    /// Every table function.
    pub const ALL: [TableFunctionKind; 5] = [
        TableFunctionKind::Chart(ChartKind::Hot),
        TableFunctionKind::Chart(ChartKind::New),
        TableFunctionKind::Coverage,
        TableFunctionKind::CoverageByProvince,
        TableFunctionKind::Distribution,
    ];

    /// The SQL name of the function.
    pub fn name(self) -> &'static str {
        match self {
            TableFunctionKind::Chart(ChartKind::Hot) => "hot_chart",
            TableFunctionKind::Chart(ChartKind::New) => "new_chart",
            TableFunctionKind::Coverage => "coverage",
            TableFunctionKind::CoverageByProvince => "coverage_by_province",
            TableFunctionKind::Distribution => "distribution",
        }
    }

    /// The arguments, as shown in help: e.g. `hot_chart(period [, top_n [, province]])`.
    pub fn signature(self) -> &'static str {
        match self {
            TableFunctionKind::Chart(ChartKind::Hot) => {
                "hot_chart(period [, top_n [, province [, methodology]]])"
            }
            TableFunctionKind::Chart(ChartKind::New) => {
                "new_chart(period [, top_n [, province [, methodology]]])"
            }
            TableFunctionKind::Coverage => "coverage(period [, province])",
            TableFunctionKind::CoverageByProvince => "coverage_by_province(period)",
            TableFunctionKind::Distribution => "distribution(period [, rights_holder_id])",
        }
    }

    /// The view of `queries/` it reads and the columns it returns (`None` for the
    /// distribution, computed in Rust).
    fn source(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            TableFunctionKind::Chart(ChartKind::Hot) => Some(("hot_chart", &CHART_COLUMNS)),
            TableFunctionKind::Chart(ChartKind::New) => Some(("new_chart", &CHART_COLUMNS)),
            TableFunctionKind::Coverage => Some(("coverage", &COVERAGE_COLUMNS)),
            TableFunctionKind::CoverageByProvince => {
                Some(("coverage_by_province", &PROVINCE_COVERAGE_COLUMNS))
            }
            TableFunctionKind::Distribution => None,
        }
    }

    /// The optional arguments after the period.
    fn optional_arguments(self) -> &'static [Argument] {
        match self {
            TableFunctionKind::Chart(_) => {
                &[Argument::TopN, Argument::Province, Argument::Methodology]
            }
            TableFunctionKind::Coverage => &[Argument::Province],
            TableFunctionKind::CoverageByProvince => &[],
            TableFunctionKind::Distribution => &[Argument::RightsHolder],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Argument {
    TopN,
    Province,
    RightsHolder,
    Methodology,
}

/// Registers the table functions on `ctx`, over `inputs` under `methodology`.
pub(crate) async fn register_table_functions(
    ctx: &SessionContext,
    inputs: &InputTables,
    methodology: &Methodology,
) -> Result<()> {
    for kind in TableFunctionKind::ALL {
        let schema = match kind.source() {
            Some((view, columns)) => ctx
                .table(view)
                .await?
                .select_columns(columns)?
                .schema()
                .inner()
                .clone(),
            None => lines_schema(),
        };
        ctx.register_udtf(
            kind.name(),
            Arc::new(ChartFunction {
                kind,
                inputs: inputs.clone(),
                methodology: methodology.clone(),
                schema,
            }),
        );
    }
    Ok(())
}

/// One table function: parses its arguments into a [`ResultTable`].
#[derive(Debug)]
struct ChartFunction {
    kind: TableFunctionKind,
    inputs: InputTables,
    methodology: Methodology,
    schema: SchemaRef,
}

impl TableFunctionImpl for ChartFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let optional = self.kind.optional_arguments();
        let usage = || format!("expected {}", self.kind.signature());
        if exprs.is_empty() || exprs.len() > 1 + optional.len() {
            return plan_err!(
                "{}: {} arguments given, {}",
                self.kind.name(),
                exprs.len(),
                usage()
            );
        }
        let period = match literal(&exprs[0]) {
            Some(ScalarValue::Utf8(Some(s)))
            | Some(ScalarValue::LargeUtf8(Some(s)))
            | Some(ScalarValue::Utf8View(Some(s))) => s
                .parse::<Period>()
                .map_err(|e| plan_datafusion_err!("{}: {e}", self.kind.name()))?,
            _ => {
                return plan_err!(
                    "{}: the period must be a string literal such as '2024-11' or '2024', got {}; {}",
                    self.kind.name(),
                    shown(&exprs[0]),
                    usage()
                );
            }
        };
        let mut methodology = self.methodology.clone();
        let mut province = None;
        let mut rights_holder = None;
        for (expr, argument) in exprs[1..].iter().zip(optional) {
            match (argument, literal(expr)) {
                (_, Some(value)) if value.is_null() => {}
                (Argument::TopN, Some(ScalarValue::Int64(Some(n)))) if *n >= 1 => {
                    methodology.top_n = *n
                }
                (Argument::TopN, _) => {
                    return plan_err!(
                        "{}: top_n must be a positive integer or NULL, got {}; {}",
                        self.kind.name(),
                        shown(expr),
                        usage()
                    );
                }
                (
                    Argument::Province,
                    Some(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::LargeUtf8(Some(s))
                        | ScalarValue::Utf8View(Some(s)),
                    ),
                ) => province = Some(s.clone()),
                (Argument::Province, _) => {
                    return plan_err!(
                        "{}: the province must be a string literal or NULL, got {}; {}",
                        self.kind.name(),
                        shown(expr),
                        usage()
                    );
                }
                (
                    Argument::RightsHolder,
                    Some(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::LargeUtf8(Some(s))
                        | ScalarValue::Utf8View(Some(s)),
                    ),
                ) => rights_holder = Some(s.clone()),
                (Argument::RightsHolder, _) => {
                    return plan_err!(
                        "{}: the rights holder must be a string literal or NULL, got {}; {}",
                        self.kind.name(),
                        shown(expr),
                        usage()
                    );
                }
                (
                    Argument::Methodology,
                    Some(
                        ScalarValue::Utf8(Some(s))
                        | ScalarValue::LargeUtf8(Some(s))
                        | ScalarValue::Utf8View(Some(s)),
                    ),
                ) if s == "GM-1" || s == "GM-2" => {
                    let named = Methodology::named(s)
                        .map_err(|e| plan_datafusion_err!("{}: {e}", self.kind.name()))?;
                    methodology.screening = match named.screening {
                        Some(default) => methodology.screening.or(Some(default)),
                        None => None,
                    };
                    methodology.version = named.version;
                }
                (Argument::Methodology, _) => {
                    return plan_err!(
                        "{}: the methodology must be 'GM-1', 'GM-2' or NULL, got {}; {}",
                        self.kind.name(),
                        shown(expr),
                        usage()
                    );
                }
            }
        }
        let screened =
            matches!(self.kind, TableFunctionKind::Chart(_)) && methodology.screening.is_some();
        let schema = if screened {
            entries_batch(&[])
                .map_err(|e| plan_datafusion_err!("{}: {e}", self.kind.name()))?
                .schema()
        } else {
            self.schema.clone()
        };
        debug_assert!(!screened || schema.fields().len() == SCREENED_CHART_COLUMNS.len());
        Ok(Arc::new(ResultTable {
            kind: self.kind,
            inputs: self.inputs.clone(),
            methodology,
            province,
            rights_holder,
            period,
            schema,
        }))
    }
}

/// A literal argument (through casts the planner may add).
fn literal(expr: &Expr) -> Option<&ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value),
        Expr::Cast(cast) => literal(&cast.expr),
        Expr::TryCast(cast) => literal(&cast.expr),
        _ => None,
    }
}

/// An argument as the analyst wrote it: `'ten'`, `0`, or the expression.
fn shown(expr: &Expr) -> String {
    match literal(expr) {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => format!("'{s}'"),
        Some(value) => value.to_string(),
        None => expr.to_string(),
    }
}

/// The result of one table function call, computed when scanned.
struct ResultTable {
    kind: TableFunctionKind,
    inputs: InputTables,
    methodology: Methodology,
    province: Option<String>,
    rights_holder: Option<String>,
    period: Period,
    schema: SchemaRef,
}

impl fmt::Debug for ResultTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultTable")
            .field("function", &self.kind.name())
            .field("period", &self.period.to_string())
            .field("top_n", &self.methodology.top_n)
            .field("province", &self.province)
            .field("rights_holder", &self.rights_holder)
            .finish()
    }
}

impl ResultTable {
    async fn compute(&self, state: &dyn Session) -> Result<arrow::array::RecordBatch> {
        if let Some(data) = self.inputs.data_root()
            && self.kind != TableFunctionKind::Distribution
        {
            check_has_plays(data, &self.period)?;
        }
        let (ctx, _) = derived_session(
            state.config().clone(),
            state.runtime_env().clone(),
            &self.inputs,
            &self.methodology,
            self.province.as_deref(),
        )
        .await?;
        match self.kind {
            TableFunctionKind::Chart(kind) if self.methodology.screening.is_some() => {
                let month = screen(&ctx, &self.methodology, &self.period).await?;
                entries_batch(match kind {
                    ChartKind::Hot => &month.hot,
                    ChartKind::New => &month.new,
                })
            }
            TableFunctionKind::Chart(kind) => period::chart(&ctx, kind, &self.period).await,
            TableFunctionKind::Coverage => period::coverage(&ctx, &self.period).await,
            TableFunctionKind::CoverageByProvince => {
                period::coverage_by_province(&ctx, &self.period).await
            }
            TableFunctionKind::Distribution => self.distribution(&ctx).await,
        }
    }

    /// D-1's lines of the period (of one rights holder when asked), with this
    /// session's methodology counting the plays.
    async fn distribution(&self, ctx: &SessionContext) -> Result<arrow::array::RecordBatch> {
        let data = self.inputs.data_root().ok_or_else(|| ChartError::NoFees {
            root: "in-memory inputs".into(),
        })?;
        let fees = read_fees(data).await?;
        let methodology = DistributionMethodology {
            counting: self.methodology.clone(),
            ..DistributionMethodology::default()
        };
        let lines = distribute(ctx, &methodology, &self.period, &fees)
            .await?
            .lines;
        match &self.rights_holder {
            None => Ok(lines),
            Some(holder) => {
                let column = lines
                    .column_by_name("rights_holder_id")
                    .expect("a column of lines")
                    .as_string::<i32>();
                let keep: arrow::array::BooleanArray =
                    column.iter().map(|h| Some(h == Some(holder))).collect();
                Ok(arrow::compute::filter_record_batch(&lines, &keep)
                    .map_err(|e| ChartError::Query(e.into()))?)
            }
        }
    }
}

#[async_trait]
impl TableProvider for ResultTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = self.compute(state).await.map_err(|e| match e {
            ChartError::Query(e) => e,
            other => DataFusionError::Execution(other.to_string()),
        })?;
        let batch = batch.with_schema(self.schema.clone())?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())
            .map(|exec| exec as Arc<dyn ExecutionPlan>)
    }
}
