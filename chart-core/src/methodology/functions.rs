//! The methodology's SQL functions, registered on every session:
//!
//! * `business_day(started_at)`: the business day (`Date32`) of a UTC instant: the local
//!   date, in the methodology's time zone, of the instant minus the day-start offset;
//! * `gm_param('name')`: an integer methodology parameter (folded to a literal at planning);
//! * `exclusion_rank('name')`, `exclusion_name(rank)`: an exclusion rule's rank (folded
//!   to a literal) and the name of a rank ([`Exclusion`]);
//! * `period_of(kind, day)`: the `YYYY-MM` or `YYYY` period containing a day;
//! * `period_start(kind, period)`, `period_end(kind, period)`: its first and last day;
//! * `previous_period(kind, period)`: the period before it.
//!
//! The aggregates the SQL also calls (`room_figures`, `repeated_buckets`) are engine
//! extensions: [`crate::engine::register_functions`] registers both sets.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Date32Array, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit, TimestampMillisecondType};
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::methodology::exclusion::{Exclusion, NO_EXCLUSION_RANK};
use crate::methodology::{Methodology, Period, PeriodKind};

/// Registers the methodology's SQL functions on `ctx`.
pub fn register(ctx: &SessionContext, methodology: &Methodology) -> Result<()> {
    let tz = methodology.validate()?;
    ctx.register_udf(ScalarUDF::from(BusinessDay {
        tz,
        day_start_ms: methodology.day_start_minutes as i64 * 60_000,
        signature: Signature::exact(
            vec![DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("UTC".into()),
            )],
            Volatility::Immutable,
        ),
    }));
    ctx.register_udf(ScalarUDF::from(NamedIntegers {
        function: "gm_param",
        what: "parameter",
        values: methodology
            .integer_parameters()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::from(NamedIntegers {
        function: "exclusion_rank",
        what: "rule",
        values: Exclusion::ALL
            .into_iter()
            .map(|e| (e.name().to_string(), i64::from(e.rank())))
            .chain([("none".to_string(), i64::from(NO_EXCLUSION_RANK))])
            .collect(),
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    }));
    ctx.register_udf(ScalarUDF::from(ExclusionName {
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    }));
    for op in [PeriodOp::Start, PeriodOp::End, PeriodOp::Previous] {
        ctx.register_udf(ScalarUDF::from(PeriodFunction {
            op,
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Utf8],
                Volatility::Immutable,
            ),
        }));
    }
    ctx.register_udf(ScalarUDF::from(PeriodOf {
        signature: Signature::exact(
            vec![DataType::Utf8, DataType::Date32],
            Volatility::Immutable,
        ),
    }));
    Ok(())
}

/// The business day of a UTC instant in milliseconds: the definition, which
/// the SQL functions compute faster and the ingestion service uses to partition plays.
pub fn business_day_of(tz: &Tz, day_start_ms: i64, instant_ms: i64) -> Option<NaiveDate> {
    let shifted = DateTime::from_timestamp_millis(instant_ms.checked_sub(day_start_ms)?)?;
    Some(shifted.with_timezone(tz).date_naive())
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Hours whose time-zone offset [`BusinessDays`] remembers.
const CACHED_HOURS: usize = 64;

/// Business days of instants, by the time zone's offset of each UTC hour looked up
/// once: a day is then integer arithmetic. An hour whose first and last millisecond
/// have the same offset is taken to have it throughout (no zone changes its offset
/// twice within an hour); other hours are looked up per instant.
pub(crate) struct BusinessDays<'a> {
    tz: &'a Tz,
    day_start_ms: i64,
    /// (hour since the epoch, offset in ms), by hour modulo [`CACHED_HOURS`].
    offsets: [(i64, i64); CACHED_HOURS],
}

impl<'a> BusinessDays<'a> {
    pub(crate) fn new(tz: &'a Tz, day_start_ms: i64) -> Self {
        BusinessDays {
            tz,
            day_start_ms,
            offsets: [(i64::MIN, 0); CACHED_HOURS],
        }
    }

    /// The offset of the zone from UTC at a UTC instant, in ms.
    fn offset_at(&self, ms: i64) -> Option<i64> {
        let utc = DateTime::from_timestamp_millis(ms)?.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&utc).fix();
        Some(offset.local_minus_utc() as i64 * 1000)
    }

    /// The business day, in days since 1970-01-01, of a UTC instant in ms.
    pub(crate) fn of(&mut self, instant_ms: i64) -> Option<i32> {
        let shifted = instant_ms.checked_sub(self.day_start_ms)?;
        let hour = shifted.div_euclid(HOUR_MS);
        let slot = hour.rem_euclid(CACHED_HOURS as i64) as usize;
        let offset = if self.offsets[slot].0 == hour {
            self.offsets[slot].1
        } else {
            let first = hour.checked_mul(HOUR_MS);
            let last = first.and_then(|first| first.checked_add(HOUR_MS - 1));
            match (
                first.and_then(|t| self.offset_at(t)),
                last.and_then(|t| self.offset_at(t)),
            ) {
                (Some(a), Some(b)) if a == b => {
                    self.offsets[slot] = (hour, a);
                    a
                }
                _ => self.offset_at(shifted)?,
            }
        };
        i32::try_from(shifted.checked_add(offset)?.div_euclid(DAY_MS)).ok()
    }
}

impl BusinessDays<'_> {
    /// The business day of a UTC instant in ms: [`business_day_of`], cached.
    pub(crate) fn date_of(&mut self, instant_ms: i64) -> Option<NaiveDate> {
        date_from_days(self.of(instant_ms)?)
    }
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32
}

fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days as i64))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BusinessDay {
    tz: Tz,
    day_start_ms: i64,
    signature: Signature,
}

impl ScalarUDFImpl for BusinessDay {
    fn name(&self) -> &str {
        "business_day"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Date32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let instants = args.args[0].to_array(args.number_rows)?;
        let instants = instants.as_primitive::<TimestampMillisecondType>();
        let mut days = BusinessDays::new(&self.tz, self.day_start_ms);
        let out: Date32Array = instants
            .iter()
            .map(|t| t.and_then(|t| days.of(t)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Integer constants by name, folded to literals at planning: `gm_param('name')`
/// (the methodology's parameters) and `exclusion_rank('name')` (the exclusion rules'
/// ranks, [`Exclusion`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct NamedIntegers {
    function: &'static str,
    what: &'static str,
    values: BTreeMap<String, i64>,
    signature: Signature,
}

impl NamedIntegers {
    fn lookup(&self, name: &str) -> DfResult<i64> {
        match self.values.get(name) {
            Some(v) => Ok(*v),
            None => plan_err!(
                "{}: unknown {} '{name}' (known: {})",
                self.function,
                self.what,
                self.values.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl ScalarUDFImpl for NamedIntegers {
    fn name(&self) -> &str {
        self.function
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        if let [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] = args.as_slice() {
            let v = self.lookup(name)?;
            return Ok(ExprSimplifyResult::Simplified(Expr::Literal(
                ScalarValue::Int64(Some(v)),
                None,
            )));
        }
        Ok(ExprSimplifyResult::Original(args))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let names = args.args[0].to_array(args.number_rows)?;
        let names = names.as_string::<i32>();
        let values = names
            .iter()
            .map(|n| n.map(|n| self.lookup(n)).transpose())
            .collect::<DfResult<Vec<_>>>()?;
        Ok(ColumnarValue::Array(Arc::new(
            arrow::array::Int64Array::from(values),
        )))
    }
}

/// `exclusion_name(rank)`: the name of the exclusion rule of a rank, NULL for
/// [`NO_EXCLUSION_RANK`] (and for NULL); any other rank is an error.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExclusionName {
    signature: Signature,
}

impl ScalarUDFImpl for ExclusionName {
    fn name(&self) -> &str {
        "exclusion_name"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ranks = args.args[0].to_array(args.number_rows)?;
        let ranks = ranks.as_primitive::<Int64Type>();
        // The names by rank, and the index of each row's (NULL for no exclusion).
        let names = StringArray::from_iter_values(Exclusion::ALL.iter().map(|e| e.name()));
        let indices = ranks
            .iter()
            .map(|rank| match rank {
                None => Ok(None),
                Some(r) if r == i64::from(NO_EXCLUSION_RANK) => Ok(None),
                Some(r) => match u8::try_from(r).ok().and_then(Exclusion::from_rank) {
                    Some(rule) => Ok(Some(u32::from(rule.rank() - 1))),
                    None => exec_err!(
                        "exclusion_name: {r} is not the rank of an exclusion rule (1 to {NO_EXCLUSION_RANK})"
                    ),
                },
            })
            .collect::<DfResult<UInt32Array>>()?;
        Ok(ColumnarValue::Array(arrow::compute::take(
            &names, &indices, None,
        )?))
    }
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum PeriodOp {
    Start,
    End,
    Previous,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PeriodFunction {
    op: PeriodOp,
    signature: Signature,
}

fn parse_period(kind: &str, period: &str) -> DfResult<Period> {
    let kind = parse_kind(kind)?;
    Period::parse_kind(kind, period)
        .or_else(|_| exec_err!("invalid {} period '{period}'", kind.as_str()))
}

impl ScalarUDFImpl for PeriodFunction {
    fn name(&self) -> &str {
        match self.op {
            PeriodOp::Start => "period_start",
            PeriodOp::End => "period_end",
            PeriodOp::Previous => "previous_period",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(match self.op {
            PeriodOp::Previous => DataType::Utf8,
            _ => DataType::Date32,
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let kinds = args.args[0].to_array(args.number_rows)?;
        let periods = args.args[1].to_array(args.number_rows)?;
        let pairs = kinds
            .as_string::<i32>()
            .iter()
            .zip(periods.as_string::<i32>().iter());
        let parsed = pairs
            .map(|(k, p)| match (k, p) {
                (Some(k), Some(p)) => parse_period(k, p).map(Some),
                _ => Ok(None),
            })
            .collect::<DfResult<Vec<Option<Period>>>>()?;
        let array: ArrayRef = match self.op {
            PeriodOp::Start => Arc::new(Date32Array::from_iter(
                parsed
                    .iter()
                    .map(|p| p.map(|p| days_since_epoch(p.first_day()))),
            )),
            PeriodOp::End => Arc::new(Date32Array::from_iter(
                parsed
                    .iter()
                    .map(|p| p.map(|p| days_since_epoch(p.last_day()))),
            )),
            PeriodOp::Previous => Arc::new(StringArray::from_iter(
                parsed.iter().map(|p| p.map(|p| p.previous().to_string())),
            )),
        };
        Ok(ColumnarValue::Array(array))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PeriodOf {
    signature: Signature,
}

impl ScalarUDFImpl for PeriodOf {
    fn name(&self) -> &str {
        "period_of"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let days = args.args[1].to_array(args.number_rows)?;
        let days = days.as_primitive::<Date32Type>();
        let mut out = arrow::array::StringBuilder::with_capacity(days.len(), days.len() * 7);
        let mut text = PeriodText::default();
        match &args.args[0] {
            // The usual call: one kind for every row, parsed once.
            ColumnarValue::Scalar(kind) => match kind.try_as_str().flatten() {
                Some(kind) => {
                    let kind = parse_kind(kind)?;
                    for day in days {
                        match day.and_then(date_from_days) {
                            Some(day) => out.append_value(text.of(kind, day)),
                            None => out.append_null(),
                        }
                    }
                }
                None => days.iter().for_each(|_| out.append_null()),
            },
            ColumnarValue::Array(kinds) => {
                for (kind, day) in kinds.as_string::<i32>().iter().zip(days.iter()) {
                    match (kind, day.and_then(date_from_days)) {
                        (Some(kind), Some(day)) => {
                            out.append_value(text.of(parse_kind(kind)?, day))
                        }
                        _ => out.append_null(),
                    }
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn parse_kind(kind: &str) -> DfResult<PeriodKind> {
    kind.parse()
        .or_else(|_| exec_err!("unknown period kind '{kind}' (expected 'month' or 'year')"))
}

/// The text of [`Period::containing`], written without allocating for years 0 to 9999.
#[derive(Default)]
struct PeriodText {
    buffer: [u8; 7],
    other: String,
}

impl PeriodText {
    fn of(&mut self, kind: PeriodKind, day: NaiveDate) -> &str {
        let (year, month) = (day.year(), day.month());
        let Ok(year @ 0..=9999) = u32::try_from(year) else {
            self.other = Period::containing(kind, day).to_string();
            return &self.other;
        };
        let digit = |n: u32| b'0' + (n % 10) as u8;
        self.buffer = [
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(month / 10),
            digit(month),
        ];
        let len = match kind {
            PeriodKind::Month => 7,
            PeriodKind::Year => 4,
        };
        std::str::from_utf8(&self.buffer[..len]).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use datafusion::prelude::SessionContext;

    async fn one(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::display::array_value_to_string(batches[0].column(0), 0).unwrap()
    }

    #[tokio::test]
    async fn functions_follow_the_methodology() {
        let ctx = SessionContext::new();
        register(&ctx, &Methodology::default()).unwrap();
        // 2024-11-30 21:59:59 UTC is 05:59:59 on 1 December in Shanghai: still 30 November.
        let bd = |ts: &str| format!("SELECT business_day(TIMESTAMP '{ts}' AT TIME ZONE 'UTC')");
        assert_eq!(one(&ctx, &bd("2024-11-30T21:59:59Z")).await, "2024-11-30");
        assert_eq!(one(&ctx, &bd("2024-11-30T22:00:00Z")).await, "2024-12-01");
        assert_eq!(one(&ctx, "SELECT gm_param('room_cap')").await, "3");
        assert_eq!(
            one(&ctx, "SELECT period_end('month', '2024-02')").await,
            "2024-02-29"
        );
        assert_eq!(
            one(&ctx, "SELECT previous_period('year', '2024')").await,
            "2023"
        );
        assert_eq!(
            one(&ctx, "SELECT period_of('month', DATE '2024-12-31')").await,
            "2024-12"
        );
        let err = match ctx.sql("SELECT gm_param('nope')").await {
            Ok(df) => df.collect().await.map(|_| ()).unwrap_err(),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains("unknown parameter 'nope'"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn gm_param_folds_to_a_literal() {
        let ctx = SessionContext::new();
        register(&ctx, &Methodology::default()).unwrap();
        let df = ctx.sql("SELECT gm_param('top_n') AS n").await.unwrap();
        let plan = format!(
            "{}",
            df.clone().into_optimized_plan().unwrap().display_indent()
        );
        assert!(!plan.contains("gm_param"), "{plan}");
        let batches = df.collect().await.unwrap();
        let n = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(n.value(0), 100);
    }

    /// Instants to check the fast business day on: a sweep over 150 years, every
    /// hour boundary of 2023-2025 (when the zones' offsets change) and a millisecond
    /// either side of it, and extremes; in a scrambled order, so that cached hours
    /// are evicted and found again.
    fn instants() -> Vec<i64> {
        let year_ms = 365 * DAY_MS;
        let mut instants: Vec<i64> = (-80 * year_ms..70 * year_ms).step_by(47_231_000).collect();
        for hour in (53 * year_ms / HOUR_MS)..(56 * year_ms / HOUR_MS) {
            let t = hour * HOUR_MS;
            instants.extend([t - 1, t, t + 1, t + HOUR_MS / 2]);
        }
        instants.extend([
            i64::MIN,
            i64::MIN + 1,
            i64::MAX,
            -1_000_000_000_000_000,
            1_000_000_000_000_000,
        ]);
        let n = instants.len();
        (0..n).map(|i| instants[(i * 7919) % n]).collect()
    }

    #[test]
    fn business_days_match_the_reference_in_every_zone() {
        let instants = instants();
        for zone in [
            "Asia/Shanghai",
            "Europe/London",
            "America/St_Johns",
            "Australia/Lord_Howe",
        ] {
            let tz: Tz = zone.parse().unwrap();
            for day_start_ms in [0, 6 * HOUR_MS, 90 * 60_000] {
                let mut fast = BusinessDays::new(&tz, day_start_ms);
                for &t in &instants {
                    let expected = business_day_of(&tz, day_start_ms, t).map(days_since_epoch);
                    assert_eq!(
                        fast.of(t),
                        expected,
                        "{zone}, day start {day_start_ms} ms, instant {t} ms"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn period_of_matches_the_periods_text() {
        let mut text = PeriodText::default();
        for days in (-3_000_000..3_000_000)
            .step_by(997)
            .chain([0, 59, 365 * 30 + 7])
        {
            let day = date_from_days(days).unwrap();
            for kind in [PeriodKind::Month, PeriodKind::Year] {
                assert_eq!(
                    text.of(kind, day),
                    Period::containing(kind, day).to_string(),
                    "{day}"
                );
            }
        }
        // Through SQL: one kind for all rows, a kind per row, NULLs, a wrong kind.
        let ctx = SessionContext::new();
        register(&ctx, &Methodology::default()).unwrap();
        let sql = "SELECT period_of('year', d) AS y, period_of(k, d) AS p, period_of(NULL, d) AS n \
                   FROM (VALUES ('month', DATE '2024-12-31'), ('year', DATE '0999-01-01'), \
                                ('month', NULL), (NULL, DATE '2024-01-01')) AS t(k, d)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let expected = [
            "+------+---------+---+",
            "| y    | p       | n |",
            "+------+---------+---+",
            "| 2024 | 2024-12 |   |",
            "| 0999 | 0999    |   |",
            "|      |         |   |",
            "| 2024 |         |   |",
            "+------+---------+---+",
        ];
        assert_eq!(text, expected.join("\n"));
        let err = ctx
            .sql("SELECT period_of(k, DATE '2024-01-01') FROM (VALUES ('week')) AS t(k)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown period kind 'week'"),
            "{err}"
        );
    }
}
