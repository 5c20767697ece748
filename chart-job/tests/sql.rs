//! `chart-job sql` end to end: formats, scripts, piped stdin, the interactive
//! prompt on a pseudo-terminal, the read-only guard, limits and bad input.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{chart_job, data};

fn sql(args: &[&str]) -> Output {
    let mut all = vec!["sql", "--data", data().to_str().unwrap()];
    all.extend_from_slice(args);
    chart_job(&all)
}

fn sql_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args(["sql", "--data", data().to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Exit code 1 and exactly one stderr line, an `error: ` containing `needle`.
fn assert_error(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn table_functions_print_what_publish_writes() {
    let out = tempfile::tempdir().unwrap();
    let published = chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--month",
        "2024-11",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(published.status.success());
    let month = common::published_dir(out.path(), "month=2024-11");
    for (query, file) in [
        ("SELECT * FROM hot_chart('2024-11')", "hot.csv"),
        ("SELECT * FROM new_chart('2024-11');", "new.csv"),
        ("SELECT * FROM coverage('2024-11')", "coverage.csv"),
    ] {
        let got = stdout(&sql(&["--format", "csv", "-c", query]));
        assert_eq!(
            got,
            fs::read_to_string(month.join(file)).unwrap(),
            "{query}"
        );
    }
}

#[test]
fn results_in_every_format() {
    let query = "SELECT rank, song_id, prev_rank FROM hot_chart('2024-11', 3) ORDER BY rank";
    let table = stdout(&sql(&["-c", query]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("| rank | song_id"), "{table}");
    assert_eq!(lines.len(), 3 + 4 + 1, "{table}");
    assert!(
        lines[7].starts_with("(3 rows, ") && lines[7].ends_with(" s)"),
        "{table}"
    );

    let csv = stdout(&sql(&["--format", "csv", "-c", query]));
    assert_eq!(csv.lines().next(), Some("rank,song_id,prev_rank"));
    assert_eq!(csv.lines().count(), 4);

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&sql(&["--format", "json", "-c", query]))).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["rank"], 1);
    assert!(rows[0].as_object().unwrap().contains_key("prev_rank"));

    let ndjson = stdout(&sql(&["--format", "ndjson", "-c", query]));
    let ranks: Vec<i64> = ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["rank"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ranks, [1, 2, 3]);

    let empty = stdout(&sql(&[
        "--format",
        "json",
        "-c",
        "SELECT * FROM songs WHERE false",
    ]));
    assert_eq!(empty, "[]\n");
    let empty = stdout(&sql(&["-c", "SELECT song_id FROM songs WHERE false"]));
    assert!(
        empty.contains("| song_id |") && empty.contains("(0 rows, "),
        "{empty}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("top.parquet");
    let output = sql(&[
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
        "-c",
        query,
    ]);
    assert_eq!(stdout(&output), "");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);
    assert_eq!(entries(dir.path()), ["top.parquet"]);

    assert_error(
        &sql(&["--format", "parquet", "-c", query]),
        "--format parquet needs -o FILE",
    );
    let two = dir.path().join("two.parquet");
    assert_error(
        &sql(&[
            "--format",
            "parquet",
            "-o",
            two.to_str().unwrap(),
            "-c",
            "SELECT 1; SELECT 2",
        ]),
        "--format parquet writes one result per file",
    );
    assert_eq!(entries(dir.path()), ["top.parquet"]);
}

#[test]
fn scripts_run_statements_and_meta_commands_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    fs::write(
        &script,
        "-- two statements, one over two lines, and a meta-command\n\
         SELECT COUNT(*) AS songs FROM songs;\n\
         SELECT month, COUNT(*) AS charted\n  FROM song_month_stats GROUP BY month ORDER BY month;\n\
         \\d valid_plays\n",
    )
    .unwrap();
    let out = stdout(&sql(&["-f", script.to_str().unwrap()]));
    let songs = out.find("| songs ").expect(&out);
    let charted = out.find("| month ").expect(&out);
    let described = out.find("| business_day ").expect(&out);
    assert!(songs < charted && charted < described, "{out}");
    assert!(out.contains("| 2024-10 "), "{out}");

    let piped = sql_stdin(&[], "SELECT 1 + 1 AS two;\n\\d\n");
    let piped = stdout(&piped);
    assert!(piped.contains("| two |"), "{piped}");
    assert!(
        piped.contains("hot_chart(period [, top_n [, province [, methodology]]])"),
        "{piped}"
    );
    assert!(!piped.contains("chart>"), "no prompt on a pipe: {piped}");
}

#[test]
fn a_script_stops_at_the_first_error() {
    let output = sql_stdin(
        &[],
        "SELECT 'first' AS a;\nSELEC 2;\nSELECT 'third' AS c;\n",
    );
    assert_error(
        &output,
        "Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("first") && !out.contains("third"), "{out}");

    for (query, needle) in [
        ("SELECT song_id FRM songs", "at Line: 1, Column: 20"),
        ("SELECT nope FROM songs", "No field named nope"),
        (
            "SELECT * FROM hot_chart('2024-13')",
            "invalid period `2024-13`",
        ),
        (
            "SELECT * FROM no_such_table",
            "table 'datafusion.public.no_such_table' not found",
        ),
        ("\\x", "unknown command `\\x`"),
        (
            "\\d no_such_table",
            "no table, view or table function named `no_such_table`",
        ),
    ] {
        let output = sql(&["-c", query]);
        assert_error(&output, needle);
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.csv");
    assert_error(
        &sql(&[
            "--format",
            "csv",
            "-o",
            file.to_str().unwrap(),
            "-c",
            "SELECT 1; SELEC 2",
        ]),
        "SELEC",
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn writes_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("songs.csv");
    for (query, kind) in [
        ("CREATE VIEW v AS SELECT * FROM songs", "CREATE VIEW"),
        ("INSERT INTO songs SELECT * FROM songs", "INSERT"),
        ("DROP TABLE plays", "DROP TABLE"),
        ("SET datafusion.execution.batch_size = 1", "SET"),
        (&format!("COPY songs TO '{}'", target.display()), "COPY"),
        (
            &format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
                target.display()
            ),
            "CREATE EXTERNAL TABLE",
        ),
    ] {
        assert_error(
            &sql(&["-c", query]),
            &format!(
                "{kind} refused: the session is read-only (queries, EXPLAIN, DESCRIBE and SHOW only); run with --allow-writes to allow it"
            ),
        );
    }
    assert!(!target.exists());
    let copy = format!(
        "CREATE VIEW top AS SELECT rank, song_id FROM hot_chart('2024-11', 2);\n\
         COPY top TO '{}' STORED AS CSV;",
        target.display()
    );
    stdout(&sql(&["--allow-writes", "-c", &copy]));
    assert_eq!(fs::read_to_string(&target).unwrap().lines().count(), 3);
}

#[test]
fn a_query_over_the_memory_limit_fails_cleanly() {
    let sort = "SELECT event_id, song_id, started_at FROM plays ORDER BY event_id, started_at";
    let unlimited = stdout(&sql(&["--format", "csv", "-c", sort]));
    // Within the limit, the same rows. (The test data is too small for a sort to
    // spill; spilling at scale is measured by the benchmark.)
    let limited = stdout(&sql(&[
        "--format",
        "csv",
        "--memory-limit",
        "2M",
        "-c",
        sort,
    ]));
    assert_eq!(limited, unlimited);
    // A sort that cannot fit fails with one line, no panic.
    assert_error(
        &sql(&[
            "--memory-limit",
            "1M",
            "-c",
            "SELECT * FROM plays ORDER BY event_id, started_at",
        ]),
        "Resources exhausted",
    );
    // An aggregation whose state cannot fit fails with one line, no panic.
    let output = sql(&[
        "--memory-limit",
        "64K",
        "-c",
        "SELECT event_id, COUNT(*), array_agg(song_id) FROM plays GROUP BY event_id",
    ]);
    assert_error(&output, "Resources exhausted");
}

#[test]
fn a_query_past_the_timeout_is_cancelled() {
    let output = sql(&[
        "--timeout",
        "1ms",
        "-c",
        "SELECT * FROM hot_chart('2024-11')",
    ]);
    assert_error(&output, "query cancelled after 1ms (--timeout)");
    let output = sql(&["--timeout", "60s", "-c", "SELECT 1"]);
    assert!(output.status.success());
}

#[test]
fn bad_flags_are_one_line_errors() {
    common::assert_refused_flag(
        &sql(&["--memory-limit", "12Q", "-c", "SELECT 1"]),
        "'12Q' for '--memory-limit <SIZE>'",
    );
    common::assert_refused_flag(
        &sql(&["--timeout", "soon", "-c", "SELECT 1"]),
        "'soon' for '--timeout <DURATION>'",
    );
    assert_error(
        &sql(&["-f", "/no/such/file.sql"]),
        "cannot read /no/such/file.sql",
    );
    assert_error(
        &chart_job(&["sql", "--data", "/no/such/root", "-c", "SELECT 1"]),
        "data root /no/such/root does not exist",
    );
}

#[test]
fn the_interactive_prompt_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut command = Command::new(env!("CARGO_BIN_EXE_chart-job"));
    command
        .args(["sql", "--data", data().to_str().unwrap()])
        .env("CHART_JOB_HISTORY", &history)
        .env("RUST_LOG", "warn");
    let mut prompt = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
    prompt.exp_string("\\q to quit").unwrap();
    prompt.exp_string("chart> ").unwrap();
    prompt.send_line("SELECT 40 + 2 AS answer;").unwrap();
    prompt.exp_string("| 42     |").unwrap();
    prompt.exp_string("(1 row, ").unwrap();
    prompt.exp_string("chart> ").unwrap();
    // A statement over two lines: the continuation prompt, then the result.
    prompt.send_line("SELECT rank, movement").unwrap();
    prompt.exp_string("chart-> ").unwrap();
    prompt.send_line("FROM hot_chart('2024-11', 2);").unwrap();
    prompt.exp_string("(2 rows, ").unwrap();
    prompt.exp_string("chart> ").unwrap();
    prompt.send_line("\\d").unwrap();
    prompt.exp_string("coverage_by_province(period)").unwrap();
    prompt.exp_string("chart> ").unwrap();
    // An error is reported and the session goes on.
    prompt.send_line("SELECT nope FROM songs;").unwrap();
    prompt.exp_string("error: ").unwrap();
    prompt.exp_string("No field named nope").unwrap();
    prompt.exp_string("chart> ").unwrap();
    prompt
        .send_line("INSERT INTO songs SELECT * FROM songs;")
        .unwrap();
    prompt.exp_string("INSERT refused").unwrap();
    prompt.exp_string("chart> ").unwrap();
    prompt.send_line("SELECT 'still here' AS status;").unwrap();
    prompt.exp_string("still here").unwrap();
    // Each line is sent at the prompt: what is typed before it may be discarded.
    prompt.exp_string("chart> ").unwrap();
    prompt.send_line("\\q").unwrap();
    prompt.exp_eof().unwrap();
    let history = fs::read_to_string(&history).unwrap();
    assert!(history.contains("SELECT 40 + 2 AS answer;"), "{history}");
}
