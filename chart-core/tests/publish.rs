//! Publication: coverage against the annual report, files and manifest, and
//! history that does not depend on publishing order or on later data.

mod support;

use std::fs;
use std::path::Path;

use chart_core::{GoldenMic, Methodology, Period, publish};
use sha2::{Digest, Sha256};
use support::{coverage_rows, fixture, fixture_copy};

async fn publish_to(data: &Path, period: &str, out: &Path) -> chart_core::Publication {
    let engine = GoldenMic::open(data, Methodology::default()).await.unwrap();
    publish(&engine, &period.parse::<Period>().unwrap(), out)
        .await
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
    assert!(publication.directory.ends_with("charts/year=2024"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_files_match_the_manifest() {
    let out = tempfile::tempdir().unwrap();
    let publication = publish_to(fixture(), "2024-11", out.path()).await;
    let dir = out.path().join("charts/month=2024-11");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec!["manifest.json".to_string()];
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

    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
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
    for month in ["2024-12", "2024-10", "2024-11", "2024-11"] {
        publish_to(fixture(), month, in_order.path()).await;
    }
    let alone = tempfile::tempdir().unwrap();
    publish_to(fixture(), "2024-11", alone.path()).await;
    let november = |root: &Path| chart_files(&root.join("charts/month=2024-11"));
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
    let err = publish(&engine, &"2024-11".parse().unwrap(), out.path())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("cannot write "), "{message}");
    assert!(message.contains("charts"), "{message}");
    assert!(!message.contains('\n'));
    let entries: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "only the blocking file remains");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_without_plays_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let err = publish(&engine, &"2023-05".parse().unwrap(), out.path())
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
