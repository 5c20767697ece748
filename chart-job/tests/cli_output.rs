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
