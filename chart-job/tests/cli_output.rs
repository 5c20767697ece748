//! What `chart-job` prints, as `insta` snapshots in `tests/snapshots/`: the summary of
//! `publish`, `history` and `verify`, the result formats of `sql` and the one-line
//! errors of bad input. Temporary paths, times and elapsed seconds are replaced by
//! placeholders; everything else is compared byte for byte.
//!
//! An intended change of output is reviewed with `cargo insta review` (or rewritten
//! with `INSTA_UPDATE=always cargo test -p chart-job --test cli_output`) and shows its
//! diff in the commit.

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_ok, chart_job, data};

/// Runs `chart-job` with `args` and returns what a user sees: the exit code, stdout
/// and the stderr lines that are not progress logs.
fn seen(args: &[&str]) -> String {
    let output: Output = chart_job(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
        .collect();
    format!(
        "$ chart-job {}\nexit: {}\n{}{}",
        args.iter()
            .map(|a| if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.to_string()
            })
            .collect::<Vec<_>>()
            .join(" "),
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        errors
            .iter()
            .map(|l| format!("stderr: {l}\n"))
            .collect::<String>(),
    )
}

/// Snapshot settings that hide what differs between runs: the data and output roots,
/// timestamps and elapsed times.
fn settings(roots: &[(&Path, &str)]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (path, name) in roots {
        settings.add_filter(&regex_escape(path.to_str().unwrap()), *name);
    }
    settings.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]");
    settings.add_filter(r"\d+(\.\d+)? s\)", "[ELAPSED])");
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain(Some(c))
        })
        .collect()
}

#[test]
fn publish_history_and_verify() {
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data().to_str().unwrap(), out.path().to_str().unwrap());
    let publish = seen(&["publish", "--data", d, "--month", "2024-11", "--out", o]);
    let again = seen(&["publish", "--data", d, "--month", "2024-11", "--out", o]);
    let year = seen(&["publish", "--data", d, "--year", "2024", "--out", o]);
    let history = seen(&["history", "--out", o, "--month", "2024-11"]);
    let verify = seen(&["verify", "--out", o, "--month", "2024-11"]);
    assert_ok(&chart_job(&["verify", "--out", o, "--year", "2024"]));
    settings(&[(data(), "[DATA]"), (out.path(), "[OUT]")]).bind(|| {
        insta::assert_snapshot!("publish_month", publish);
        insta::assert_snapshot!("publish_unchanged", again);
        insta::assert_snapshot!("publish_year", year);
        insta::assert_snapshot!("history", history);
        insta::assert_snapshot!("verify", verify);
    });
}

#[test]
fn sql_result_formats() {
    let d = data().to_str().unwrap();
    let query = "SELECT song_id, rank, score FROM hot_chart('2024-11', 3); \
                 SELECT period, connected_venues FROM coverage('2024-11')";
    let mut text = String::new();
    for format in ["table", "csv", "json", "ndjson"] {
        text.push_str(&seen(&[
            "sql", "--data", d, "--format", format, "-c", query,
        ]));
        text.push('\n');
    }
    text.push_str(&seen(&["sql", "--data", d, "-c", "\\d venues"]));
    settings(&[(data(), "[DATA]")]).bind(|| insta::assert_snapshot!("sql_formats", text));
}

#[test]
fn errors_are_one_line() {
    let d = data().to_str().unwrap();
    let missing = tempfile::tempdir().unwrap();
    let nowhere = missing.path().join("nowhere");
    let nowhere = nowhere.to_str().unwrap();
    let cases: [&[&str]; 9] = [
        &[
            "publish", "--data", nowhere, "--month", "2024-11", "--out", nowhere,
        ],
        &[
            "publish", "--data", d, "--month", "2024-13", "--out", nowhere,
        ],
        &[
            "publish", "--data", d, "--month", "2031-01", "--out", nowhere,
        ],
        &["history", "--out", nowhere, "--month", "2024-11"],
        &["sql", "--data", d, "-c", "SELECT nope"],
        &["sql", "--data", d, "-c", "SELECT * FROM charts"],
        &["sql", "--data", d, "-c", "CREATE TABLE t AS SELECT 1"],
        &[
            "sql",
            "--data",
            d,
            "-c",
            "SELECT * FROM hot_chart('2024-99')",
        ],
        &[
            "sql",
            "--data",
            d,
            "--memory-limit",
            "lots",
            "-c",
            "SELECT 1",
        ],
    ];
    let text: Vec<String> = cases.iter().map(|args| seen(args)).collect();
    settings(&[(data(), "[DATA]"), (missing.path(), "[TMP]")])
        .bind(|| insta::assert_snapshot!("errors", text.join("\n")));
}

#[test]
fn site_output_and_errors() {
    let out = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let (d, o, s) = (
        data().to_str().unwrap(),
        out.path().to_str().unwrap(),
        site.path().to_str().unwrap(),
    );
    let nothing = seen(&["site", "--out", o, "--site", s]);
    assert_ok(&chart_job(&[
        "publish", "--data", d, "--month", "2024-11", "--out", o,
    ]));
    let first = seen(&["site", "--out", o, "--site", s]);
    let again = seen(&["site", "--out", o, "--site", s]);
    let live = "https://live.example/live/hot.html";
    let linked = seen(&["site", "--out", o, "--site", s, "--live-url", live]);
    let bad_live = seen(&["site", "--out", o, "--site", s, "--live-url", "live"]);
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("song.html"), "{% if %}").unwrap();
    let t = templates.path().to_str().unwrap();
    let bad_template = seen(&["site", "--out", o, "--site", s, "--templates", t]);
    settings(&[
        (out.path(), "[OUT]"),
        (site.path(), "[SITE]"),
        (templates.path(), "[TEMPLATES]"),
    ])
    .bind(|| {
        insta::assert_snapshot!(
            "site",
            [nothing, first, again, linked, bad_live, bad_template].join("\n")
        )
    });
}

#[test]
fn compact_output_and_errors() {
    let copy = tempfile::tempdir().unwrap();
    common::copy_dir(data(), copy.path());
    let digests = tempfile::tempdir().unwrap();
    let (d, g) = (
        copy.path().to_str().unwrap(),
        digests.path().to_str().unwrap(),
    );
    let first = seen(&[
        "compact",
        "--data",
        d,
        "--day",
        "2024-11-15",
        "--day-digests",
        g,
    ]);
    let again = seen(&[
        "compact",
        "--data",
        d,
        "--day",
        "2024-11-15",
        "--day-digests",
        g,
    ]);
    let bad = seen(&["compact", "--data", d, "--day", "2024-11-31"]);
    let mut settings = settings(&[(copy.path(), "[DATA]"), (digests.path(), "[DIGESTS]")]);
    settings.add_filter(r"\d+\.\d\d s\n", "[ELAPSED]\n");
    settings.bind(|| insta::assert_snapshot!("compact", [first, again, bad].join("\n")));
}

#[test]
fn distribute_history_and_verify() {
    let out = tempfile::tempdir().unwrap();
    let (d, o) = (data().to_str().unwrap(), out.path().to_str().unwrap());
    let month = seen(&["distribute", "--data", d, "--month", "2024-11", "--out", o]);
    let again = seen(&["distribute", "--data", d, "--month", "2024-11", "--out", o]);
    let other = seen(&[
        "distribute",
        "--data",
        d,
        "--month",
        "2024-11",
        "--out",
        o,
        "--management-fee",
        "ktv=30%",
        "--works-share",
        "1/3",
        "--room-cap",
        "1",
    ]);
    let history = seen(&[
        "history",
        "--out",
        o,
        "--month",
        "2024-11",
        "--product",
        "distribution",
    ]);
    let verify = seen(&[
        "verify",
        "--out",
        o,
        "--month",
        "2024-11",
        "--product",
        "distribution",
        "--version",
        "1",
    ]);
    let charts = seen(&["history", "--out", o, "--month", "2024-11"]);
    settings(&[(data(), "[DATA]"), (out.path(), "[OUT]")]).bind(|| {
        insta::assert_snapshot!("distribute_month", month);
        insta::assert_snapshot!("distribute_unchanged", again);
        insta::assert_snapshot!("distribute_other_parameters", other);
        insta::assert_snapshot!("distribute_history", history);
        insta::assert_snapshot!("distribute_verify", verify);
        insta::assert_snapshot!("distribute_no_charts", charts);
    });
}

#[test]
fn distribute_errors_are_one_line() {
    let d = data().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let out = out.to_str().unwrap();
    // A data root whose fees have a negative amount, and one without fees.
    let bad = tmp.path().join("bad");
    common::copy_dir(data(), &bad);
    let fees = bad.join("fees/fees-2024.parquet");
    let batch = {
        let file = std::fs::File::open(&fees).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .with_batch_size(5)
            .build()
            .unwrap();
        reader.into_iter().next().unwrap().unwrap()
    };
    let mut columns = batch.columns().to_vec();
    columns[3] = std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, -300, 4, 5]));
    let batch = arrow::array::RecordBatch::try_new(batch.schema(), columns).unwrap();
    let mut bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(bad.join("fees/late.parquet"), bytes).unwrap();
    let none = tmp.path().join("none");
    common::copy_dir(data(), &none);
    std::fs::remove_dir_all(none.join("fees")).unwrap();
    // Money as floating point is refused when the data root is opened.
    let float = tmp.path().join("float");
    common::copy_dir(data(), &float);
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("venue_id", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("period", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("business_line", arrow::datatypes::DataType::Utf8, false),
        arrow::datatypes::Field::new("amount_fen", arrow::datatypes::DataType::Float64, false),
        arrow::datatypes::Field::new("collected_on", arrow::datatypes::DataType::Date32, true),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["V000001"])),
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["2024-11"])),
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["ktv"])),
            std::sync::Arc::new(arrow::array::Float64Array::from(vec![12.5])),
            std::sync::Arc::new(arrow::array::Date32Array::from(vec![None])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(float.join("fees/yuan.parquet"), bytes).unwrap();
    let (bad, none, float) = (
        bad.to_str().unwrap(),
        none.to_str().unwrap(),
        float.to_str().unwrap(),
    );
    let cases: [&[&str]; 6] = [
        &[
            "distribute",
            "--data",
            bad,
            "--month",
            "2024-11",
            "--out",
            out,
        ],
        &[
            "distribute",
            "--data",
            none,
            "--month",
            "2024-11",
            "--out",
            out,
        ],
        &[
            "distribute",
            "--data",
            float,
            "--month",
            "2024-11",
            "--out",
            out,
        ],
        &[
            "distribute",
            "--data",
            d,
            "--month",
            "2025-03",
            "--out",
            out,
        ],
        &[
            "distribute",
            "--data",
            d,
            "--month",
            "2024-11",
            "--out",
            out,
            "--management-fee",
            "ktv",
        ],
        &[
            "distribute",
            "--data",
            d,
            "--month",
            "2024-11",
            "--out",
            out,
            "--works-share",
            "120%",
        ],
    ];
    let text: Vec<String> = cases.iter().map(|args| seen(args)).collect();
    assert!(!tmp.path().join("out").exists(), "nothing is written");
    // A bad fee file stops the distribution, not the charts.
    let charts = tmp.path().join("charts");
    assert_ok(&chart_job(&[
        "publish",
        "--data",
        float,
        "--month",
        "2024-11",
        "--out",
        charts.to_str().unwrap(),
    ]));
    settings(&[(data(), "[DATA]"), (tmp.path(), "[TMP]")])
        .bind(|| insta::assert_snapshot!("distribute_errors", text.join("\n")));
}
