//! The SQL of `queries/` tested as data: every view over the hand-made inputs of
//! `tests/views/inputs.sql`, against its expected rows in `tests/views/<view>.out`,
//! and the plans of the publication's tables against `tests/views/explain/*.txt`, so
//! that a DataFusion upgrade or a change of a view fails with a readable diff.
//!
//! After an intended change, `GOLDEN=write cargo test -p chart-core --test views`
//! rewrites the expected files; the diff belongs in the commit.

use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::util::pretty::pretty_format_batches;
use chart_core::queries::QUERIES;
use chart_core::{GoldenMic, InputTables, Methodology};
use datafusion::prelude::SessionContext;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/views")
}

/// The statements of a file, split at `;` (comments dropped).
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn run(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    ctx.sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// An engine over the hand-made inputs, on a session of two partitions (so that
/// plans do not depend on the machine's cores).
async fn engine() -> GoldenMic {
    let scratch = SessionContext::new();
    for statement in statements(&fs::read_to_string(dir().join("inputs.sql")).unwrap()) {
        run(&scratch, &statement).await;
    }
    let table = |name: &str| {
        let sql = format!("SELECT * FROM {name}");
        let scratch = &scratch;
        async move { run(scratch, &sql).await }
    };
    let inputs = InputTables::from_batches(
        table("plays").await,
        table("songs").await,
        table("venues").await,
    )
    .unwrap();
    let config = chart_core::session_config().with_target_partitions(2);
    let ctx =
        SessionContext::new_with_state(chart_core::session_builder().with_config(config).build());
    GoldenMic::attach(ctx, inputs, Methodology::default())
        .await
        .unwrap()
}

/// Compares `actual` with the file `name` under `tests/views/` (or writes it).
fn check(name: &str, actual: &str) -> Option<String> {
    let path = dir().join(name);
    if std::env::var("GOLDEN").as_deref() == Ok("write") {
        fs::write(&path, actual).unwrap();
        return None;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    (expected != actual).then(|| format!("tests/views/{name} differs; got:\n{actual}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_gives_its_expected_rows() {
    let engine = engine().await;
    let mut failures = Vec::new();
    for query in QUERIES {
        let file = dir().join(format!("{}.sql", query.name));
        let sql = fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("every view has a test: {} is missing", file.display()));
        let mut out = String::new();
        for statement in statements(&sql) {
            let batches = run(engine.context(), &statement).await;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert!(rows > 0, "{}: no rows, the inputs miss it", query.name);
            out.push_str(&pretty_format_batches(&batches).unwrap().to_string());
            out.push('\n');
        }
        failures.extend(check(&format!("{}.out", query.name), &out));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The plans the publication executes for the tables it keeps, as `EXPLAIN` shows
/// them (logical and physical, the library's rewrites included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_plans_are_as_expected() {
    let engine = engine().await;
    let mut failures = Vec::new();
    for (name, sql) in [
        ("resent_events", "SELECT * FROM resent_events"),
        ("classified_plays", "SELECT * FROM classified_plays"),
        (
            "song_period_stats",
            "SELECT * FROM song_period_stats WHERE period_kind = 'month'",
        ),
        (
            "room_period_outcomes",
            "SELECT * FROM room_period_outcomes WHERE period_kind = 'month'",
        ),
        (
            "chart_entries",
            "SELECT * FROM chart_entries WHERE period_kind = 'month'",
        ),
        (
            "coverage_by_province",
            "SELECT * FROM coverage_by_province WHERE period_kind = 'month' AND period = '2024-11'",
        ),
    ] {
        let batches = run(engine.context(), &format!("EXPLAIN {sql}")).await;
        // Each plan under its type, as plain text (a table's padding would make every
        // line of a diff change when one does).
        let mut plan = format!("-- EXPLAIN {sql}\n");
        for batch in &batches {
            let types = batch.column(0).as_string::<i32>();
            let plans = batch.column(1).as_string::<i32>();
            for row in 0..batch.num_rows() {
                plan.push_str(&format!("\n{}:\n{}\n", types.value(row), plans.value(row)));
            }
        }
        failures.extend(check(&format!("explain/{name}.txt"), &plan));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
