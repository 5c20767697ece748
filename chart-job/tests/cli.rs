//! The `chart-job` binary end to end: publication, the demo, and every kind of bad
//! input, each a one-line error with a non-zero exit and nothing written.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::{chart_job, copy_dir, data, published_dir};

/// Asserts a failed run: exit code 1, one line on stderr containing `needle`, no
/// panic, and nothing published under `out`.
fn assert_fails(output: &Output, needle: &str, out: &Path) {
    common::assert_one_line_error(output, needle);
    let published = out.join("charts");
    let entries = fs::read_dir(&published).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        entries,
        0,
        "something was written to {}",
        published.display()
    );
}

#[test]
fn publish_writes_the_month_and_prints_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let output = chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--month",
        "2024-11",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("Golden Mic month 2024-11 (GM-1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Hot songs 热歌榜: top 10 of 100"),
        "{stdout}"
    );
    assert!(stdout.contains("| rank | title"), "{stdout}");
    assert!(
        stderr.contains("computing charts"),
        "progress on stderr: {stderr}"
    );
    assert!(
        out.path()
            .join("charts/month=2024-11/versions/000001.json")
            .is_file()
    );
    assert!(
        published_dir(out.path(), "month=2024-11")
            .join("hot.csv")
            .is_file()
    );
}

#[test]
fn publish_a_year_with_other_parameters() {
    let out = tempfile::tempdir().unwrap();
    let output = chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--year",
        "2024",
        "--out",
        out.path().to_str().unwrap(),
        "--top-n",
        "20",
        "--room-cap",
        "2",
        "--memory-limit",
        "1G",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = fs::read_to_string(published_dir(out.path(), "year=2024").join("hot.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21);
    let manifest =
        fs::read_to_string(out.path().join("charts/year=2024/versions/000001.json")).unwrap();
    assert!(manifest.contains("\"room_cap\": 2"), "{manifest}");
}

#[test]
fn demo_generates_sample_data_and_publishes_the_latest_month() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("sample"), dir.path().join("out"));
    let output = chart_job(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plays-per-month",
        "2000",
        "--catalogue",
        "2000",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Golden Mic month 2024-12"), "{stdout}");
    assert!(
        published_dir(&out, "month=2024-12")
            .join("hot.csv")
            .is_file()
    );
    // A second run reuses the data.
    let again = chart_job(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("generating"));
}

#[test]
fn help_explains_every_flag() {
    let output = chart_job(&["publish", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--data",
        "--month",
        "--year",
        "--out",
        "--top-n",
        "--room-cap",
        "--min-played-ms",
        "--new-song-window-days",
        "--timezone",
        "--day-start",
        "--memory-limit",
        "--s3-endpoint",
        "--s3-region",
        "--s3-path-style",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn missing_data_root() {
    let out = tempfile::tempdir().unwrap();
    let output = chart_job(&[
        "publish",
        "--data",
        "/nonexistent/ktv",
        "--month",
        "2024-11",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_fails(
        &output,
        "data root /nonexistent/ktv does not exist",
        out.path(),
    );
}

#[test]
fn month_without_data() {
    let out = tempfile::tempdir().unwrap();
    let output = chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--month",
        "2023-05",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_fails(&output, "no plays for 2023-05", out.path());
}

#[test]
fn invalid_period_and_parameters() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let d = data().to_str().unwrap();
    for (extra, needle) in [
        (
            &["--month", "2024-11", "--room-cap", "0"][..],
            "room_cap must be >= 1, got 0",
        ),
        (
            &["--month", "2024-11", "--top-n=-1"],
            "top_n must be >= 1, got -1",
        ),
        (
            &["--month", "2024-11", "--timezone", "Mars/Base"],
            "unknown time zone `Mars/Base`",
        ),
    ] {
        let mut args = vec!["publish", "--data", d, "--out", o];
        args.extend_from_slice(extra);
        assert_fails(&chart_job(&args), needle, out.path());
    }
    // Values the argument parser refuses, naming the flag.
    for (extra, needle) in [
        (
            &["--month", "2024-13"][..],
            "'2024-13' for '--month <YYYY-MM>': invalid period `2024-13`",
        ),
        (&["--month", "2024"], "'2024' for '--month <YYYY-MM>'"),
        (&["--year", "24"], "'24' for '--year <YYYY>'"),
        (
            &["--month", "2024-11", "--day-start", "25:00"],
            "'25:00' for '--day-start <HH:MM>': expected a time of day as HH:MM",
        ),
        (
            &["--month", "2024-11", "--memory-limit", "lots"],
            "'lots' for '--memory-limit <SIZE>': expected a size such as 512M, 2G or 1.5G",
        ),
        (
            &["--month", "2024-11", "--s3-connect-timeout", "soon"],
            "'soon' for '--s3-connect-timeout <DURATION>'",
        ),
    ] {
        let mut args = vec!["publish", "--data", d, "--out", o];
        args.extend_from_slice(extra);
        common::assert_refused_flag(&chart_job(&args), needle);
    }
    // Flags clap refuses exit with its usage code 2.
    let output = chart_job(&[
        "publish", "--data", d, "--month", "2024-11", "--year", "2024", "--out", o,
    ]);
    assert_eq!(output.status.code(), Some(2));
}

/// Breaks a copy of the data with `damage`, publishes, and expects `needle`.
fn assert_bad_data(damage: impl FnOnce(&Path), needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (root, out) = (dir.path().join("data"), dir.path().join("out"));
    copy_dir(data(), &root);
    damage(&root);
    let output = chart_job(&[
        "publish",
        "--data",
        root.to_str().unwrap(),
        "--month",
        "2024-11",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(&output, needle, &out);
}

fn rewrite_first_play_file(
    root: &Path,
    change: impl FnOnce(arrow::array::RecordBatch) -> arrow::array::RecordBatch,
) -> String {
    let dir = root.join("plays/date=2024-11-02");
    let path = dir.join("part-0.parquet");
    let file = fs::File::open(&path).unwrap();
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let batch = change(batch);
    let file = fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn missing_column() {
    let mut file = String::new();
    assert_bad_data(
        |root| {
            file = rewrite_first_play_file(root, |b| {
                let i = b.schema().index_of("song_id").unwrap();
                let keep: Vec<usize> = (0..b.num_columns()).filter(|&c| c != i).collect();
                b.project(&keep).unwrap()
            })
        },
        "part-0.parquet: missing column `song_id` required by table plays",
    );
    assert!(file.ends_with("date=2024-11-02/part-0.parquet"));
}

#[test]
fn mistyped_column() {
    assert_bad_data(
        |root| {
            rewrite_first_play_file(root, |b| {
                use arrow::datatypes::{DataType, Field, Schema};
                let i = b.schema().index_of("played_ms").unwrap();
                let mut fields: Vec<Field> = b
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                let mut columns = b.columns().to_vec();
                columns[i] = arrow::compute::cast(&columns[i], &DataType::Utf8).unwrap();
                fields[i] = Field::new("played_ms", DataType::Utf8, true);
                arrow::array::RecordBatch::try_new(
                    std::sync::Arc::new(Schema::new(fields)),
                    columns,
                )
                .unwrap()
            });
        },
        "date=2024-11-02/part-0.parquet: column `played_ms` has type Utf8, expected Int32",
    );
}

#[test]
fn unreadable_parquet_file() {
    assert_bad_data(
        |root| {
            fs::write(
                root.join("plays/date=2024-11-03/broken.parquet"),
                b"PAR1 not really",
            )
            .unwrap()
        },
        "date=2024-11-03/broken.parquet: unreadable Parquet file",
    );
}

#[test]
fn duplicate_song_ids() {
    assert_bad_data(
        |root| {
            fs::copy(
                root.join("songs/songs.parquet"),
                root.join("songs/songs-again.parquet"),
            )
            .unwrap();
        },
        "table songs: song_id `S0000001` appears more than once",
    );
}

#[test]
fn missing_table_and_misplaced_file() {
    assert_bad_data(
        |root| fs::remove_dir_all(root.join("venues")).unwrap(),
        "missing table directory venues/",
    );
    assert_bad_data(
        |root| {
            fs::copy(
                root.join("plays/date=2024-11-02/part-0.parquet"),
                root.join("plays/loose.parquet"),
            )
            .unwrap();
        },
        "plays/loose.parquet: play files must be under plays/date=YYYY-MM-DD/",
    );
}

#[test]
fn output_directory_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("out");
    let output = chart_job(&[
        "publish",
        "--data",
        data().to_str().unwrap(),
        "--month",
        "2024-11",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(
        &output,
        &format!(
            "{}: Not a directory",
            out.join("charts/month=2024-11/versions").display()
        ),
        &out,
    );
}

/// `--day-digests` and `--by-day` publish the same files as the plays read directly;
/// a digest location that cannot be written is a one-line error and nothing is published.
#[test]
fn publish_from_day_digests() {
    let publish = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "publish",
            "--data",
            data().to_str().unwrap(),
            "--month",
            "2024-11",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        chart_job(&args)
    };
    let plain = tempfile::tempdir().unwrap();
    assert!(publish(plain.path(), &[]).status.success());
    let want = published_dir(plain.path(), "month=2024-11");
    let kept = tempfile::tempdir().unwrap();
    let digests = kept.path().join("digests");
    for extra in [
        vec!["--day-digests", digests.to_str().unwrap()],
        vec!["--day-digests", digests.to_str().unwrap()],
        vec!["--by-day"],
    ] {
        let out = tempfile::tempdir().unwrap();
        let output = publish(out.path(), &extra);
        assert!(
            output.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let got = published_dir(out.path(), "month=2024-11");
        assert_eq!(got.file_name(), want.file_name(), "{extra:?}");
    }
    assert!(fs::read_dir(&digests).unwrap().count() > 50);

    let blocker = kept.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = publish(out.path(), &["--day-digests", blocker.to_str().unwrap()]);
    assert_fails(&output, &blocker.display().to_string(), out.path());
}
