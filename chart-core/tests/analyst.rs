//! The analysts' and embedding services' surface: the table functions against the
//! published files and the reference implementation, regional charts, in-memory
//! inputs, the building-block views, partition pruning and the read-only guard.

mod support;

use std::collections::BTreeMap;
use std::fs;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::Int64Type;
use arrow::util::pretty::pretty_format_batches;
use chart_core::analyst::{self, Access};
use chart_core::{ChartError, ChartKind, GoldenMic, InputTables, Methodology, Period, publish};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use support::reference::{self, Grain, Rules};
use support::{batches_of, chart_rows, coverage_rows, fixture, read_parquet};

async fn sql(engine: &GoldenMic, query: &str) -> RecordBatch {
    let df = engine.context().sql(query).await.unwrap();
    let schema = df.schema().inner().clone();
    concat_batches(&schema, &df.collect().await.unwrap()).unwrap()
}

/// Renders a batch with its column names and types, so that equal strings mean
/// equal columns, types and values.
fn render(batch: &RecordBatch) -> String {
    let types: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    format!(
        "{}\n{}",
        types.join(", "),
        pretty_format_batches(std::slice::from_ref(batch)).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_functions_return_what_publish_writes() {
    for (period, top_n) in [("2024-11", None), ("2024", None), ("2024-12", Some(20))] {
        let methodology = Methodology {
            top_n: top_n.unwrap_or(Methodology::default().top_n),
            ..Methodology::default()
        };
        let out = tempfile::tempdir().unwrap();
        let publisher = GoldenMic::open(fixture(), methodology).await.unwrap();
        let publication = publish(
            &publisher,
            &period.parse::<Period>().unwrap(),
            &chart_core::Location::local(out.path()).unwrap(),
        )
        .await
        .unwrap();
        // The analyst's session has the default methodology: top N is an argument.
        let analyst = GoldenMic::open(fixture(), Methodology::default())
            .await
            .unwrap();
        let top = top_n.map_or("NULL".to_string(), |n| n.to_string());
        for (function, file) in [
            (format!("hot_chart('{period}', {top})"), "hot"),
            (format!("new_chart('{period}', {top})"), "new"),
            (format!("coverage('{period}')"), "coverage"),
            (
                format!("coverage_by_province('{period}')"),
                "coverage_by_province",
            ),
        ] {
            let published = read_parquet(
                &publication
                    .directory
                    .local_path()
                    .unwrap()
                    .join(format!("{file}.parquet")),
            );
            assert!(
                published.num_rows() > 0,
                "{period} {file}: nothing published"
            );
            let got = sql(&analyst, &format!("SELECT * FROM {function}")).await;
            assert_eq!(render(&got), render(&published), "{function}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_functions_join_and_filter_like_tables() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let joined = sql(
        &engine,
        "SELECT h.rank, h.song_id, s.language, m.plays AS month_plays
         FROM hot_chart('2024-11', 5) AS h
         JOIN songs AS s ON s.song_id = h.song_id
         JOIN song_month_stats AS m ON m.song_id = h.song_id AND m.month = '2024-11'
         WHERE h.rank <= 3
         ORDER BY h.rank",
    )
    .await;
    assert_eq!(joined.num_rows(), 3);
    let hot = engine
        .chart(ChartKind::Hot, &"2024-11".parse().unwrap())
        .await
        .unwrap();
    let ranks: Vec<i64> = joined
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(ranks, [1, 2, 3]);
    let plays = joined.column(3).as_primitive::<Int64Type>();
    let chart_plays = hot
        .column_by_name("plays")
        .unwrap()
        .as_primitive::<Int64Type>();
    for i in 0..3 {
        assert_eq!(plays.value(i), chart_plays.value(i), "rank {}", i + 1);
    }
}

/// A state rebuilt with `new_from_existing` (as PostgreSQL-protocol front ends do)
/// says not to create a default catalog; the sessions table functions derive must
/// still have one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_functions_join_on_a_rebuilt_session_state() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let ctx = engine.context();
    let rebuilt = SessionStateBuilder::new_from_existing(ctx.state()).build();
    *ctx.state_ref().write() = rebuilt;
    assert!(
        !ctx.state()
            .config()
            .options()
            .catalog
            .create_default_catalog_and_schema
    );
    let joined = sql(
        &engine,
        "SELECT count(*) AS n FROM hot_chart('2024-11', 5) AS h
         JOIN songs AS s ON s.song_id = h.song_id",
    )
    .await;
    assert_eq!(joined.column(0).as_primitive::<Int64Type>().value(0), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn song_month_stats_are_the_figures_the_chart_ranks() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let stats = sql(
        &engine,
        "SELECT song_id, score, plays, venues, rooms FROM song_month_stats
         WHERE month = '2024-10' ORDER BY score DESC, venues DESC, rooms DESC, song_id LIMIT 100",
    )
    .await;
    let chart = chart_rows(
        &engine
            .chart(ChartKind::Hot, &"2024-10".parse().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(stats.num_rows(), chart.len());
    let ids = stats.column(0).as_string::<i32>();
    for (i, row) in chart.iter().enumerate() {
        let figure = |c: usize| stats.column(c).as_primitive::<Int64Type>().value(i);
        assert_eq!(ids.value(i), row.song_id);
        assert_eq!(
            (figure(1), figure(2), figure(3), figure(4)),
            (row.score, row.plays, row.venues, row.rooms)
        );
    }
}

/// The fixture's province with the most valid plays in November 2024.
async fn busiest_province(engine: &GoldenMic) -> String {
    let batch = sql(
        engine,
        "SELECT v.province FROM valid_plays AS p JOIN venues AS v ON v.venue_id = p.venue_id
         WHERE p.business_day BETWEEN DATE '2024-11-01' AND DATE '2024-11-30'
         GROUP BY v.province ORDER BY COUNT(*) DESC, v.province LIMIT 1",
    )
    .await;
    batch.column(0).as_string::<i32>().value(0).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_chart_is_the_national_chart_over_the_province_plays() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let province = busiest_province(&engine).await;
    let mut data = reference::load(fixture());
    data.venues.retain(|_, v| v.province == province);
    data.plays.retain(|p| {
        p.venue_id
            .as_ref()
            .is_some_and(|id| data.venues.contains_key(id))
    });
    for (function, new_only) in [("hot_chart", false), ("new_chart", true)] {
        let got = chart_rows(
            &sql(
                &engine,
                &format!("SELECT * FROM {function}('2024-11', NULL, '{province}')"),
            )
            .await,
        );
        let want = reference::chart(&data, &Rules::GM1, Grain::Month, "2024-11", new_only);
        assert!(
            !want.is_empty(),
            "{function}: empty regional reference chart"
        );
        assert_eq!(got, want, "{function} for {province}");
    }
    let got = coverage_rows(
        &sql(
            &engine,
            &format!("SELECT * FROM coverage('2024', '{province}')"),
        )
        .await,
    );
    let want = reference::coverage(&data, &Rules::GM1, Grain::Year, "2024");
    assert_eq!(got, want[..1], "coverage of {province}");
    assert_eq!(got[0].provinces, Some(1));

    // The library's regional engine gives the same chart as the table function.
    let regional = engine.regional(&province).await.unwrap();
    let from_library = chart_rows(
        &regional
            .chart(ChartKind::Hot, &"2024-11".parse().unwrap())
            .await
            .unwrap(),
    );
    let want = reference::chart(&data, &Rules::GM1, Grain::Month, "2024-11", false);
    assert_eq!(from_library, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_table_function_calls_are_one_line_errors() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    for (query, needle) in [
        (
            "SELECT * FROM hot_chart()",
            "hot_chart: 0 arguments given, expected hot_chart(period [, top_n [, province [, methodology]]])",
        ),
        (
            "SELECT * FROM hot_chart('2024-13')",
            "hot_chart: invalid period `2024-13`",
        ),
        (
            "SELECT * FROM new_chart(202411)",
            "new_chart: the period must be a string literal",
        ),
        (
            "SELECT * FROM hot_chart('2024-11', 0)",
            "hot_chart: top_n must be a positive integer or NULL, got 0",
        ),
        (
            "SELECT * FROM hot_chart('2024-11', 'ten')",
            "top_n must be a positive integer",
        ),
        (
            "SELECT * FROM coverage('2024', 5)",
            "coverage: the province must be a string literal",
        ),
        (
            "SELECT * FROM coverage_by_province('2024', '广东')",
            "coverage_by_province: 2 arguments given",
        ),
        ("SELECT * FROM hot_chart('2031-01')", "no plays for 2031-01"),
        (
            "SELECT * FROM hot_chart('2024-11', 10, 'Atlantis')",
            "unknown province `Atlantis`: venues has ",
        ),
    ] {
        let error = match engine.context().sql(query).await {
            Ok(df) => df.collect().await.unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(needle),
            "{query}: `{needle}` not in `{error}`"
        );
        assert!(!error.contains('\n'), "{query}: {error}");
    }
}

/// `event_bucket` gives one bucket whatever the string type; `repeated_buckets`
/// lists the buckets seen twice, and refuses a value that is not a bucket.
#[tokio::test]
async fn bucket_functions_in_sql() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let same = sql(
        &engine,
        "SELECT count(*) AS n FROM (VALUES ('a'), ('trap-dup'), ('E000000000001')) AS t(id) \
         WHERE event_bucket(id) = event_bucket(arrow_cast(id, 'Utf8View')) \
           AND event_bucket(id) = event_bucket(arrow_cast(id, 'LargeUtf8')) \
           AND event_bucket(id) BETWEEN 0 AND 1073741823",
    )
    .await;
    assert_eq!(
        render(&same),
        render(&sql(&engine, "SELECT 3::BIGINT AS n").await)
    );
    // The session's buckets follow its plays: their whole range is used, no more.
    let plays = sql(&engine, "SELECT count(*) FROM plays").await;
    let plays = plays.column(0).as_primitive::<Int64Type>().value(0) as u64;
    let bits = chart_core::engine::bucket_bits(Some(plays));
    assert!(bits < chart_core::engine::DEFAULT_BUCKET_BITS, "{bits}");
    let widest = sql(
        &engine,
        "SELECT max(event_bucket('E' || CAST(value AS VARCHAR))) AS b \
         FROM generate_series(1, 100000)",
    )
    .await;
    let widest = widest
        .column(0)
        .as_primitive::<arrow::datatypes::UInt64Type>()
        .value(0);
    assert_eq!(widest >> (bits - 1), 1, "{widest} of 2^{bits}");
    let repeated = sql(
        &engine,
        "SELECT repeated_buckets(b) AS r FROM (VALUES (5), (9), (5), (NULL), (7), (9), (9)) AS t(b)",
    )
    .await;
    assert!(
        render(&repeated).contains("[5, 9]"),
        "{}",
        render(&repeated)
    );
    let error = match engine
        .context()
        .sql("SELECT repeated_buckets(b) FROM (VALUES (1), (-3)) AS t(b)")
        .await
    {
        Ok(df) => df.collect().await.unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("bucket -3 is outside"), "{error}");
    assert!(!error.contains('\n'), "{error}");
}

/// The re-sent events, (event_id, copies) by id, counted over the plays' rows.
fn resent_in_rows(plays: &[reference::Play]) -> BTreeMap<String, i64> {
    let mut copies: BTreeMap<String, i64> = BTreeMap::new();
    for id in plays.iter().filter_map(|p| p.event_id.clone()) {
        *copies.entry(id).or_default() += 1;
    }
    copies
}

async fn resent_in_sql(engine: &GoldenMic) -> BTreeMap<String, i64> {
    let batch = sql(engine, "SELECT event_id, copies FROM resent_events").await;
    let ids = batch.column(0).as_string::<i32>();
    let copies = batch.column(1).as_primitive::<Int64Type>();
    (0..batch.num_rows())
        .map(|i| (ids.value(i).to_string(), copies.value(i)))
        .collect()
}

async fn count(engine: &GoldenMic, query: &str) -> usize {
    sql(engine, query)
        .await
        .column(0)
        .as_primitive::<Int64Type>()
        .value(0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resent_events_are_found_once_per_query_and_afresh_by_the_next() {
    let inputs = InputTables::from_batches(
        batches_of(fixture(), "plays"),
        batches_of(fixture(), "songs"),
        batches_of(fixture(), "venues"),
    )
    .unwrap();
    let engine = GoldenMic::attach(SessionContext::new(), inputs, Methodology::default())
        .await
        .unwrap();
    // classified_plays reads resent_events twice: the query finds them once, while
    // it is planned, and both joins read them from memory.
    let plan = render(&sql(&engine, "EXPLAIN SELECT count(*) FROM classified_plays").await);
    assert!(plan.contains("HashJoinExec"), "{plan}");
    assert!(!plan.contains("repeated_buckets"), "{plan}");

    let plays = reference::load_plays(fixture());
    let mut copies = resent_in_rows(&plays);
    let ids = copies.len();
    let without_id = plays.iter().filter(|p| p.event_id.is_none()).count();
    copies.retain(|_, n| *n > 1);
    assert!(!copies.is_empty());
    assert_eq!(resent_in_sql(&engine).await, copies);

    // Five events sent once are sent again: the next query sees them re-sent, in
    // both of classified_plays' joins (one row per event, the five among the copies).
    let once: Vec<String> = resent_in_rows(&plays)
        .into_iter()
        .filter(|(_, n)| *n == 1)
        .map(|(id, _)| id)
        .take(5)
        .collect();
    let list = once
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ");
    sql(
        &engine,
        &format!("INSERT INTO plays SELECT * FROM plays WHERE event_id IN ({list})"),
    )
    .await;
    copies.extend(once.into_iter().map(|id| (id, 2)));
    assert_eq!(resent_in_sql(&engine).await, copies);
    assert_eq!(
        count(&engine, "SELECT count(*) FROM classified_plays").await,
        ids + without_id
    );
    assert_eq!(
        count(
            &engine,
            "SELECT count(*) FROM classified_plays WHERE copies > 1"
        )
        .await,
        copies.len()
    );
}

/// Every fixture file as one batch, plays with their `date` partition as a column.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_inputs_give_the_charts_of_the_files() {
    let files = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let november: Period = "2024-11".parse().unwrap();
    let want_hot = files.chart(ChartKind::Hot, &november).await.unwrap();
    let want_new = files.chart(ChartKind::New, &november).await.unwrap();
    let want_coverage = files.coverage(&november).await.unwrap();

    // Record batches, in the files' varied encodings (dictionary ids, micro-second
    // "+00:00" timestamps, extra columns).
    let inputs = InputTables::from_batches(
        batches_of(fixture(), "plays"),
        batches_of(fixture(), "songs"),
        batches_of(fixture(), "venues"),
    )
    .unwrap();
    let memory = GoldenMic::attach(SessionContext::new(), inputs, Methodology::default())
        .await
        .unwrap();
    assert!(memory.data().is_none());
    assert_eq!(
        render(&memory.chart(ChartKind::Hot, &november).await.unwrap()),
        render(&want_hot)
    );
    assert_eq!(
        render(&memory.chart(ChartKind::New, &november).await.unwrap()),
        render(&want_new)
    );
    assert_eq!(
        render(&memory.coverage(&november).await.unwrap()),
        render(&want_coverage)
    );
    // The table functions of an in-memory session read the same batches.
    assert_eq!(
        render(&sql(&memory, "SELECT * FROM hot_chart('2024-11')").await),
        render(&want_hot)
    );

    // Data frames of another session.
    let other = SessionContext::new();
    let songs = other
        .read_parquet(
            fixture().join("songs").to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    let venues = other
        .read_parquet(
            fixture().join("venues").to_str().unwrap(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    let plays = files.context().table("plays").await.unwrap();
    let inputs = InputTables::from_data_frames(plays, songs, venues).unwrap();
    let frames = GoldenMic::attach(SessionContext::new(), inputs, Methodology::default())
        .await
        .unwrap();
    assert_eq!(
        render(&frames.chart(ChartKind::Hot, &november).await.unwrap()),
        render(&want_hot)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_inputs_are_checked_against_the_contract() {
    let mut plays = batches_of(fixture(), "plays");
    let first = plays[0].clone();
    let index = first.schema().index_of("song_id").unwrap();
    plays[0] = first
        .project(
            &(0..first.num_columns())
                .filter(|&i| i != index)
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let error = InputTables::from_batches(
        plays,
        batches_of(fixture(), "songs"),
        batches_of(fixture(), "venues"),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "in-memory plays batch 0: missing column `song_id` required by table plays"
    );
    assert!(matches!(error, ChartError::MissingColumn { .. }));

    let other = SessionContext::new();
    let songs = other.sql("SELECT 1 AS song_id, 'a' AS title, 'b' AS artist, DATE '2024-01-01' AS release_date, 'r' AS rights_holder_id, 'zh' AS language").await.unwrap();
    let files = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let error = InputTables::from_data_frames(
        files.context().table("plays").await.unwrap(),
        songs,
        files.context().table("venues").await.unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "in-memory songs: column `song_id` has type Int64, expected Utf8, LargeUtf8, Utf8View or a dictionary of strings"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_on_date_prunes_play_partitions() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let plan = sql(
        &engine,
        "EXPLAIN SELECT COUNT(DISTINCT event_id) FROM plays WHERE date = DATE '2024-11-03'",
    )
    .await;
    let plans = plan.column(1).as_string::<i32>();
    let physical = (0..plan.num_rows())
        .find(|&i| plan.column(0).as_string::<i32>().value(i) == "physical_plan")
        .map(|i| plans.value(i).to_string())
        .unwrap();
    assert!(physical.contains("date=2024-11-03/"), "{physical}");
    assert!(!physical.contains("date=2024-11-04/"), "{physical}");
    let rows = sql(
        &engine,
        "SELECT COUNT(*) FROM plays WHERE date = DATE '2024-11-03'",
    )
    .await;
    let want: i64 =
        engine.data().unwrap().play_days()[&chrono::NaiveDate::from_ymd_opt(2024, 11, 3).unwrap()];
    assert_eq!(rows.column(0).as_primitive::<Int64Type>().value(0), want);
}

/// Strings read from a user's own Parquet file, or cast to `VARCHAR`, are `Utf8` as in
/// the library's tables: over `Utf8View`, DataFusion 55's `COUNT(DISTINCT …)` beside
/// other aggregates took memory past the session's limit (docs/PERFORMANCE.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_of_own_files_and_casts_are_utf8() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("own.parquet");
    sql(
        &engine,
        &format!(
            "COPY (SELECT venue_id, room_id FROM plays LIMIT 10) TO '{}' STORED AS PARQUET",
            file.display()
        ),
    )
    .await;
    sql(
        &engine,
        &format!(
            "CREATE EXTERNAL TABLE own STORED AS PARQUET LOCATION '{}'",
            file.display()
        ),
    )
    .await;
    let types = sql(
        &engine,
        "SELECT arrow_typeof(venue_id) AS file_column, \
                arrow_typeof(CAST(room_id AS VARCHAR)) AS cast_column FROM own LIMIT 1",
    )
    .await;
    assert_eq!(types.column(0).as_string::<i32>().value(0), "Utf8");
    assert_eq!(types.column(1).as_string::<i32>().value(0), "Utf8");
}

async fn run(
    engine: &GoldenMic,
    query: &str,
    access: Access,
) -> Result<Vec<RecordBatch>, ChartError> {
    let mut results = Vec::new();
    for statement in analyst::parse_statements(engine.context(), query)? {
        let df = analyst::plan_statement(engine.context(), statement, access).await?;
        results.extend(df.collect().await?);
    }
    Ok(results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_session_refuses_every_kind_of_write() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("copy.csv");
    for (query, kind) in [
        ("CREATE TABLE t AS SELECT 1 AS x", "CREATE TABLE"),
        ("CREATE VIEW v AS SELECT * FROM songs", "CREATE VIEW"),
        (
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "CREATE OR REPLACE VIEW",
        ),
        ("DROP TABLE plays", "DROP TABLE"),
        ("DROP VIEW hot_chart", "DROP VIEW"),
        ("INSERT INTO songs SELECT * FROM songs", "INSERT"),
        ("UPDATE songs SET title = 'x'", "UPDATE"),
        ("DELETE FROM songs", "DELETE"),
        (&format!("COPY songs TO '{}'", target.display()), "COPY"),
        (
            &format!(
                "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{}'",
                target.display()
            ),
            "CREATE EXTERNAL TABLE",
        ),
        ("SET datafusion.execution.batch_size = 10", "SET"),
        ("RESET datafusion.execution.batch_size", "RESET"),
        (
            "EXPLAIN ANALYZE INSERT INTO songs SELECT * FROM songs",
            "INSERT",
        ),
        ("CREATE SCHEMA s", "CREATE SCHEMA"),
    ] {
        let error = run(&engine, query, Access::ReadOnly).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{kind} refused: the session is read-only (queries, EXPLAIN, DESCRIBE and SHOW only)"
            ),
            "{query}"
        );
    }
    assert!(!target.exists());
    // Reads stay allowed.
    for query in [
        "SELECT COUNT(*) FROM valid_plays",
        "EXPLAIN SELECT * FROM songs",
        "SHOW TABLES",
        "DESCRIBE plays",
        "SHOW datafusion.execution.batch_size",
    ] {
        run(&engine, query, Access::ReadOnly)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
    }
    // The views and tables are intact, and a read-write session may write.
    run(
        &engine,
        "CREATE VIEW top AS SELECT * FROM hot_chart('2024-11', 3); SELECT * FROM top",
        Access::ReadWrite,
    )
    .await
    .unwrap();
    run(
        &engine,
        &format!("COPY (SELECT * FROM top) TO '{}'", target.display()),
        Access::ReadWrite,
    )
    .await
    .unwrap();
    assert!(fs::read_to_string(&target).unwrap().lines().count() == 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backslash_d_lists_and_describes() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let listing = render(&analyst::list_relations(engine.context()).await.unwrap());
    for line in [
        "| plays ",
        "| valid_plays ",
        "| song_month_stats ",
        "| hot_chart(period [, top_n [, province [, methodology]]]) ",
        "| coverage(period [, province])",
        "| distribution(period [, rights_holder_id]) ",
        "| table function ",
    ] {
        assert!(listing.contains(line), "{line} not in\n{listing}");
    }
    let distribution = render(
        &analyst::describe(engine.context(), "distribution")
            .await
            .unwrap(),
    );
    assert!(distribution.contains("| amount_fen "), "{distribution}");
    let plays = render(&analyst::describe(engine.context(), "plays").await.unwrap());
    assert!(plays.contains("| date "), "{plays}");
    let hot = analyst::describe(engine.context(), "hot_chart")
        .await
        .unwrap();
    let columns: Vec<&str> = hot
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(columns, chart_core::results::CHART_COLUMNS);
    let error = analyst::describe(engine.context(), "nope")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "no table, view or table function named `nope`"
    );
}
