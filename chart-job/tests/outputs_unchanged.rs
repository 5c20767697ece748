//! Every output of `publish`, `sql` and the table functions, byte for byte, against
//! golden files in `tests/golden/` on the deterministic sample data of
//! `common::small_spec`.
//!
//! The golden files were written by the code before a restructuring that must not
//! change one output byte; a change that means to change outputs rewrites them with
//! `GOLDEN=write cargo test -p chart-job --test outputs_unchanged` and shows the diff
//! in its commit.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_ok, chart_job, data, published_dir};

/// The analyst's queries whose CSV output is kept: every table function with and
/// without its optional arguments, the views analysts read, and the catalogue.
const SQL_SCRIPT: &str = "\
SELECT * FROM hot_chart('2024-11');
SELECT * FROM new_chart('2024-12', 10);
SELECT * FROM hot_chart('2024', 20);
SELECT * FROM new_chart('2024-11', NULL, '广东');
SELECT * FROM coverage('2024-11');
SELECT * FROM coverage('2024-12', '广东');
SELECT * FROM coverage_by_province('2024');
SELECT * FROM data_quality ORDER BY period_kind, period;
SELECT * FROM song_month_stats ORDER BY month, song_id LIMIT 200;
SELECT * FROM room_period_outcomes ORDER BY period_kind, period, venue_id, room_id, exclusion NULLS FIRST LIMIT 200;
SELECT exclusion, COUNT(*) AS events, SUM(copies) AS rows_received FROM classified_plays GROUP BY exclusion ORDER BY exclusion NULLS FIRST;
";

/// The published periods, as `publish` flags and their directory names.
const PERIODS: [(&str, &str, &str); 3] = [
    ("--month", "2024-11", "month=2024-11"),
    ("--month", "2024-12", "month=2024-12"),
    ("--year", "2024", "year=2024"),
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The files of a published version worth comparing: its data files, and its
/// manifest without the run's times (the only bytes that differ between runs).
fn published_files(out: &Path, period_dir: &str) -> BTreeMap<String, Vec<u8>> {
    let data_dir = published_dir(out, period_dir);
    let mut files = BTreeMap::new();
    for entry in fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        files.insert(format!("{period_dir}/{name}"), fs::read(&path).unwrap());
    }
    let versions = out.join("charts").join(period_dir).join("versions");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(versions.join("000001.json")).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("run");
    files.insert(
        format!("{period_dir}/manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    );
    files
}

fn publish_all(extra: &[&str]) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let data_arg = data().to_str().unwrap();
    let mut files = BTreeMap::new();
    for (flag, period, period_dir) in PERIODS {
        let mut args = vec![
            "publish", "--data", data_arg, flag, period, "--out", out_arg,
        ];
        args.extend_from_slice(extra);
        assert_ok(&chart_job(&args));
        files.extend(published_files(out.path(), period_dir));
    }
    (out, files)
}

fn sql_output() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("results.csv");
    let output = chart_job(&[
        "sql",
        "--data",
        data().to_str().unwrap(),
        "--format",
        "csv",
        "-o",
        result.to_str().unwrap(),
        "-c",
        SQL_SCRIPT,
    ]);
    assert_ok(&output);
    fs::read(&result).unwrap()
}

/// Compares `actual` with the golden files (or writes them, with `GOLDEN=write`).
fn check(actual: &BTreeMap<String, Vec<u8>>) {
    let golden = golden_dir();
    if std::env::var("GOLDEN").as_deref() == Ok("write") {
        let _ = fs::remove_dir_all(&golden);
        for (name, bytes) in actual {
            let path = golden.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
        return;
    }
    let mut expected = BTreeMap::new();
    for dir in fs::read_dir(&golden).unwrap() {
        let dir = dir.unwrap().path();
        let prefix = dir.file_name().unwrap().to_string_lossy().to_string();
        if dir.is_file() {
            expected.insert(prefix, fs::read(&dir).unwrap());
            continue;
        }
        for file in fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            expected.insert(format!("{prefix}/{name}"), fs::read(&file).unwrap());
        }
    }
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(actual),
        names(&expected),
        "the set of outputs changed"
    );
    for (name, bytes) in actual {
        if bytes != &expected[name] {
            let shown = String::from_utf8_lossy(bytes);
            panic!(
                "{name} differs from tests/golden/{name} ({} bytes against {}):\n{}",
                bytes.len(),
                expected[name].len(),
                shown.chars().take(2_000).collect::<String>()
            );
        }
    }
}

#[test]
fn publish_and_sql_outputs_are_byte_identical_to_the_golden_files() {
    let (_out, mut files) = publish_all(&[]);
    files.insert("sql/results.csv".to_string(), sql_output());
    check(&files);
}

#[test]
fn publish_from_day_digests_writes_the_same_golden_files() {
    if std::env::var("GOLDEN").as_deref() == Ok("write") {
        return;
    }
    let (_out, mut files) = publish_all(&["--by-day"]);
    files.insert("sql/results.csv".to_string(), sql_output());
    check(&files);
}
