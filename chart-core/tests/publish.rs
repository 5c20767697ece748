//! Publication: coverage against the annual report, files and manifest, and
//! history that does not depend on publishing order or on later data.

mod support;

use std::fs;
use std::path::Path;

use chart_core::publication::Outcome;
use chart_core::{GoldenMic, Location, Methodology, Period, publish};
use sha2::{Digest, Sha256};
use support::{coverage_rows, fixture, fixture_copy};

async fn publish_to(data: &Path, period: &str, out: &Path) -> chart_core::Publication {
    let engine = GoldenMic::open(data, Methodology::default()).await.unwrap();
    let out = Location::local(out).unwrap();
    publish(&engine, &period.parse::<Period>().unwrap(), &out)
        .await
        .unwrap()
}

/// The data directory of a period's current version under a local output root.
fn current_dir(out: &Path, period: &str) -> std::path::PathBuf {
    let out = Location::local(out).unwrap();
    let period: Period = period.parse().unwrap();
    let versions = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(chart_core::history(&out, &period))
    })
    .unwrap();
    let manifest = versions.last().expect("published");
    chart_core::publication::period_location(&out, &period)
        .join(&manifest.directory)
        .local_path()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annual_coverage_equals_the_2024_report() {
    let out = tempfile::tempdir().unwrap();
    let publication = publish_to(fixture(), "2024", out.path()).await;
    let row = &coverage_rows(&publication.coverage)[0];
    assert_eq!(row.connected_venues, 1_515);
    assert_eq!(row.provinces, Some(28));
    assert_eq!(row.cities, 167);
    assert_eq!(row.rooms, 33_000);
    assert_eq!(row.licensed_venues, 12_731);
    let share = row.coverage_share.unwrap();
    assert_eq!(format!("{:.1}%", share * 100.0), "11.9%");
    assert_eq!((row.new_venues, row.new_venues_prev), (599, 363));
    assert_eq!(
        format!("{:.0}%", row.new_venues_growth.unwrap() * 100.0),
        "65%"
    );
    assert!(
        publication
            .directory
            .to_string()
            .contains("charts/year=2024/data/"),
        "{}",
        publication.directory
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_files_match_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let publication = publish_to(fixture(), "2024-11", out.path()).await;
    assert_eq!(publication.outcome, Outcome::Published);
    assert_eq!(publication.manifest.version, 1);
    let dir = publication.directory.local_path().unwrap();
    assert_eq!(dir, current_dir(out.path(), "2024-11"));
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = Vec::new();
    for table in ["coverage", "coverage_by_province", "hot", "new"] {
        for ext in ["csv", "json", "parquet"] {
            expected.push(format!("{table}.{ext}"));
        }
    }
    expected.sort();
    assert_eq!(names, expected);

    let csv = fs::read_to_string(dir.join("hot.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "rank,song_id,title,artist,score,plays,venues,rooms,prev_rank,peak_rank,months_on_chart,movement"
    );
    assert_eq!(csv.lines().count(), 101);

    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("new.json")).unwrap()).unwrap();
    assert_eq!(json["methodology"]["version"], "GM-1");
    assert_eq!(json["period"], "2024-11");
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        publication.new.num_rows()
    );
    assert!(json["rows"][0].get("prev_rank").is_some(), "explicit nulls");

    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(out.path().join("charts/month=2024-11/versions/000001.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["methodology"]["room_cap"], 3);
    assert_eq!(manifest["outputs"].as_array().unwrap().len(), 12);
    for output in manifest["outputs"].as_array().unwrap() {
        let bytes = fs::read(dir.join(output["path"].as_str().unwrap())).unwrap();
        assert_eq!(output["bytes"], bytes.len() as u64);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(output["sha256"], sha);
    }
    let inputs = manifest["inputs"].as_array().unwrap();
    let play_rows: i64 = inputs
        .iter()
        .filter(|i| i["table"] == "plays")
        .map(|i| i["rows"].as_i64().unwrap())
        .sum();
    assert_eq!(manifest["input_rows"]["plays"], play_rows);
    assert!(manifest["data_quality"]["valid_plays"].as_i64().unwrap() > 1000);

    let parquet = fs::File::open(dir.join("hot.parquet")).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(parquet).unwrap();
    use parquet::file::reader::FileReader;
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap();
    assert!(
        kv.iter().any(|k| k.key == "golden_mic.methodology"
            && k.value.as_deref().unwrap().contains("\"GM-1\""))
    );
}

fn chart_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "manifest.json")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_does_not_depend_on_publishing_order_or_later_months() {
    let in_order = tempfile::tempdir().unwrap();
    for (month, outcome) in [
        ("2024-12", Outcome::Published),
        ("2024-10", Outcome::Published),
        ("2024-11", Outcome::Published),
        ("2024-11", Outcome::Unchanged),
    ] {
        let publication = publish_to(fixture(), month, in_order.path()).await;
        assert_eq!(publication.outcome, outcome, "{month}");
        assert_eq!(publication.manifest.version, 1, "{month}");
    }
    let alone = tempfile::tempdir().unwrap();
    publish_to(fixture(), "2024-11", alone.path()).await;
    let november = |root: &Path| chart_files(&current_dir(root, "2024-11"));
    assert_eq!(november(in_order.path()), november(alone.path()));

    // Without the December partitions (and the trap filed in November that belongs
    // to December), November's charts are the same bytes.
    let truncated = fixture_copy();
    for e in fs::read_dir(truncated.path().join("plays")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().as_ref() >= "date=2024-12-01" {
            fs::remove_dir_all(e.path()).unwrap();
        }
    }
    let out = tempfile::tempdir().unwrap();
    let publication = publish_to(truncated.path(), "2024-11", out.path()).await;
    let files = november(out.path());
    let reference = november(alone.path());
    for name in ["hot.csv", "hot.parquet", "new.csv", "new.json"] {
        let a = files.iter().find(|f| f.0 == name).unwrap();
        let b = reference.iter().find(|f| f.0 == name).unwrap();
        assert_eq!(a, b, "{name}");
    }
    assert!(publication.hot.num_rows() == 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publication_leaves_nothing_behind() {
    let out = tempfile::tempdir().unwrap();
    // `charts` is a file: nothing can be written under it.
    fs::write(out.path().join("charts"), b"not a directory").unwrap();
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let err = publish(
        &engine,
        &"2024-11".parse().unwrap(),
        &Location::local(out.path()).unwrap(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "{}/charts/month=2024-11/versions: Not a directory (os error 20)",
            out.path().canonicalize().unwrap().display()
        )
    );
    let entries: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the blocking file remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_without_plays_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let err = publish(
        &engine,
        &"2023-05".parse().unwrap(),
        &Location::local(out.path()).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no plays for 2023-05: {}/plays has play rows from 2024-10-01 to 2024-12-31 only",
            fixture().display()
        )
    );
    assert!(!out.path().join("charts/month=2023-05").exists());
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for e in fs::read_dir(next).unwrap() {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                pending.push(e.path());
            } else {
                files.push((e.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_unchanged_inputs_and_a_late_play() {
    let data = fixture_copy();
    let out = tempfile::tempdir().unwrap();
    let location = Location::local(out.path()).unwrap();
    let november: Period = "2024-11".parse().unwrap();
    let first = publish_to(data.path(), "2024-11", out.path()).await;
    assert_eq!(
        (first.outcome, first.manifest.version),
        (Outcome::Published, 1)
    );
    assert!(first.manifest.changes.is_none());
    assert!(
        first
            .manifest
            .inputs
            .iter()
            .all(|i| i.sha256.len() == 64 && i.bytes > 0)
    );

    // The same inputs: reported unchanged, nothing written, the charts read back.
    let before = snapshot(out.path());
    let again = publish_to(data.path(), "2024-11", out.path()).await;
    assert_eq!(
        (again.outcome, again.manifest.version),
        (Outcome::Unchanged, 1)
    );
    assert_eq!(again.hot, first.hot);
    assert_eq!(again.coverage_by_province, first.coverage_by_province);
    assert_eq!(snapshot(out.path()), before);

    // A late play: a new version that records what changed; the first stays readable.
    let day = data.path().join("plays/date=2024-11-15");
    let source = fs::read_dir(&day).unwrap().next().unwrap().unwrap().path();
    fs::write(
        day.join("late.parquet"),
        sample_data::late_play(&source, "late-play-1").unwrap(),
    )
    .unwrap();
    let second = publish_to(data.path(), "2024-11", out.path()).await;
    assert_eq!(
        (second.outcome, second.manifest.version),
        (Outcome::Published, 2)
    );
    let changes = second.manifest.changes.as_ref().unwrap();
    assert_eq!(changes.previous_version, 1);
    assert_eq!(
        changes.inputs_added,
        vec!["plays/date=2024-11-15/late.parquet"]
    );
    assert!(changes.inputs_removed.is_empty() && changes.inputs_modified.is_empty());
    assert_eq!(
        changes.previous_input_rows.plays + 1,
        second.manifest.input_rows.plays
    );
    assert_eq!(
        second.manifest.data_quality.as_ref().unwrap().rows_received,
        first.manifest.data_quality.as_ref().unwrap().rows_received + 1
    );
    assert_ne!(second.manifest.input_digest, first.manifest.input_digest);

    let history = chart_core::history(&location, &november).await.unwrap();
    assert_eq!(
        history.iter().map(|m| m.version).collect::<Vec<_>>(),
        [1, 2]
    );
    for version in [Some(1), Some(2), None] {
        let verified = chart_core::verify(&location, &november, version)
            .await
            .unwrap();
        assert_eq!(verified.manifest.version, version.unwrap_or(2));
        assert_eq!(
            verified.bytes,
            verified
                .manifest
                .outputs
                .iter()
                .map(|f| f.bytes)
                .sum::<u64>()
        );
    }
    let err = chart_core::verify(&location, &november, Some(3))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("2024-11 is not published under {} as version 3", location)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_file_that_changed_after_publication() {
    let out = tempfile::tempdir().unwrap();
    let publication = publish_to(fixture(), "2024-10", out.path()).await;
    let location = Location::local(out.path()).unwrap();
    let october: Period = "2024-10".parse().unwrap();
    let dir = publication.directory.local_path().unwrap();
    let csv = dir.join("new.csv");
    let mut text = fs::read(&csv).unwrap();
    text[20] ^= 1;
    fs::write(&csv, &text).unwrap();
    let err = chart_core::verify(&location, &october, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: SHA-256 ", csv.display())),
        "{err}"
    );
    assert!(err.contains("the manifest says"), "{err}");
    fs::remove_file(dir.join("hot.json")).unwrap();
    let err = chart_core::verify(&location, &october, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(and 1 more files differ)"), "{err}");
}
