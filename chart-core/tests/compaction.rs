//! Compaction of a day's play files: the same plays, sorted, and the same charts, data
//! quality and coverage (against the plain-Rust reference over the files as they were)
//! at every point of the protocol, after a crash and after late plays; and engines
//! that read the files listed when they were opened.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chart_core::contract::compaction::{
    CompactionOptions, compact_day, counted_day_files, remove_replaced,
};
use chart_core::{DataRoot, GoldenMic, Location, Methodology, Period};
use chrono::NaiveDate;
use support::reference::{self, Rules};
use support::{compare_period, fixture, fixture_copy, read_parquet};

const DAY: &str = "2024-11-15";

fn day() -> NaiveDate {
    DAY.parse().unwrap()
}

fn day_dir(root: &Path) -> std::path::PathBuf {
    root.join(format!("plays/date={DAY}"))
}

/// The file names in the day's directory, sorted.
fn names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(day_dir(root))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every row of `files` in the day, as text, with how often it occurs.
fn rows(root: &Path, files: &[String]) -> BTreeMap<String, usize> {
    let mut rows = BTreeMap::new();
    for file in files {
        let batch = read_parquet(&day_dir(root).join(file));
        for line in lines(&batch) {
            *rows.entry(line).or_default() += 1;
        }
    }
    rows
}

fn lines(batch: &RecordBatch) -> Vec<String> {
    let options = FormatOptions::default().with_null("∅");
    let columns: Vec<(String, ArrayFormatter)> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            (
                f.name().clone(),
                ArrayFormatter::try_new(c.as_ref(), &options).unwrap(),
            )
        })
        .collect();
    (0..batch.num_rows())
        .map(|i| {
            let mut cells: Vec<String> = columns
                .iter()
                .map(|(name, f)| format!("{name}={}", f.value(i)))
                .collect();
            cells.sort();
            cells.join("|")
        })
        .collect()
}

fn options() -> CompactionOptions {
    CompactionOptions {
        rows_per_file: 64,
        ..CompactionOptions::default()
    }
}

/// November's results on a fresh engine over `root` equal the reference over the
/// fixture as generated.
async fn november_is_unchanged(root: &Path) {
    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    november_on(&engine).await;
}

async fn november_on(engine: &GoldenMic) {
    let data = reference::load(fixture());
    let period: Period = "2024-11".parse().unwrap();
    compare_period(engine, &data, &Rules::GM1, &period).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_play_sorted_and_the_results_unchanged() {
    let copy = fixture_copy();
    let root = Location::local(copy.path()).unwrap();
    let before_files = counted_day_files(&root, day()).await.unwrap();
    let before = rows(copy.path(), &before_files);
    let marker = compact_day(&root, day(), &options())
        .await
        .unwrap()
        .expect("compacted");
    assert_eq!(marker.sequence, 1);
    assert_eq!(marker.replaces, before_files);
    assert!(
        marker.written.len() > 1,
        "small files asked for: {:?}",
        marker.written
    );
    assert_eq!(marker.rows as usize, before.values().sum::<usize>());
    assert_eq!(
        counted_day_files(&root, day()).await.unwrap(),
        marker.written
    );
    assert_eq!(
        rows(copy.path(), &marker.written),
        before,
        "the same plays, as a multiset"
    );

    // Sorted by venue, room, start time across the written files, in their order
    // (NULLs last).
    let mut keys = Vec::new();
    for file in &marker.written {
        let batch = read_parquet(&day_dir(copy.path()).join(file));
        let text = |name: &str| {
            let array = cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let array = array.as_string::<i32>().clone();
            (0..batch.num_rows())
                .map(|i| array.is_valid(i).then(|| array.value(i).to_string()))
                .collect::<Vec<_>>()
        };
        let started = cast(
            batch.column_by_name("started_at").unwrap(),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .unwrap();
        let started = cast(&started, &DataType::Int64).unwrap();
        let started = started.as_primitive::<Int64Type>().clone();
        let (venues, rooms) = (text("venue_id"), text("room_id"));
        for i in 0..batch.num_rows() {
            let start = started.is_valid(i).then(|| started.value(i));
            keys.push((
                venues[i].is_none(),
                venues[i].clone(),
                rooms[i].is_none(),
                rooms[i].clone(),
                start.is_none(),
                start,
            ));
        }
    }
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "not sorted by venue, room, start"
    );

    november_is_unchanged(copy.path()).await;
    // The replaced files stay until the retention has passed, then go.
    let now = chrono::Utc::now();
    let kept = remove_replaced(&root, day(), now, chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert!(kept.removed.is_empty());
    assert_eq!(kept.retained, before_files);
    let removed = remove_replaced(&root, day(), now, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(removed.removed, before_files);
    assert!(removed.retained.is_empty());
    november_is_unchanged(copy.path()).await;
    // Nothing more to gain: compacting again does nothing.
    assert!(
        compact_day(&root, day(), &options())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_at_any_step_counts_every_play_once() {
    // The end state of a compaction, to take its files from.
    let done = fixture_copy();
    let marker = compact_day(&Location::local(done.path()).unwrap(), day(), &options())
        .await
        .unwrap()
        .unwrap();

    // Step 1 done, no marker yet (or a crash there): the written files are not counted.
    let written = fixture_copy();
    for file in &marker.written {
        std::fs::copy(
            day_dir(done.path()).join(file),
            day_dir(written.path()).join(file),
        )
        .unwrap();
    }
    let data = DataRoot::open(written.path()).await.unwrap();
    assert!(data.files().iter().all(|f| !f.path.contains("compacted-")));
    november_is_unchanged(written.path()).await;

    // Step 2 done: the marker counts the new files and skips the old ones, still there.
    let marker_name = "_compaction-000001.json";
    std::fs::copy(
        day_dir(done.path()).join(marker_name),
        day_dir(written.path()).join(marker_name),
    )
    .unwrap();
    let data = DataRoot::open(written.path()).await.unwrap();
    let day_files: Vec<&str> = data
        .files()
        .iter()
        .filter(|f| f.path.contains(DAY))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(day_files.len(), marker.written.len(), "{day_files:?}");
    november_is_unchanged(written.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_reads_the_files_listed_when_it_was_opened() {
    let copy = fixture_copy();
    let engine = GoldenMic::open(copy.path(), Methodology::default())
        .await
        .unwrap();
    // After opening: a play lands, and the day is compacted (its old files kept).
    let source = day_dir(copy.path()).join(&names(copy.path())[0]);
    std::fs::write(
        day_dir(copy.path()).join("late.parquet"),
        sample_data::late_play(&source, "late-after-open").unwrap(),
    )
    .unwrap();
    compact_day(&Location::local(copy.path()).unwrap(), day(), &options())
        .await
        .unwrap()
        .unwrap();
    november_on(&engine).await;
    assert!(
        engine
            .data()
            .unwrap()
            .files()
            .iter()
            .all(|f| !f.path.ends_with("late.parquet"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_marker_is_completed_by_the_next_compaction() {
    let copy = fixture_copy();
    let root = Location::local(copy.path()).unwrap();
    // Files of an attempt that never committed (over other files than the next one).
    for part in [
        "compacted-000001-000000000000-0000.parquet",
        "compacted-000001-000000000000-0007.parquet",
    ] {
        let source = day_dir(copy.path()).join(&names(copy.path())[0]);
        std::fs::copy(&source, day_dir(copy.path()).join(part)).unwrap();
    }
    november_is_unchanged(copy.path()).await;
    let marker = compact_day(&root, day(), &options())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marker.sequence, 1);
    assert!(!marker.replaces.iter().any(|f| f.starts_with("compacted-")));
    november_is_unchanged(copy.path()).await;
    let removed = remove_replaced(
        &root,
        day(),
        chrono::Utc::now(),
        chrono::Duration::minutes(10),
    )
    .await
    .unwrap();
    assert_eq!(
        removed.removed,
        [
            "compacted-000001-000000000000-0000.parquet",
            "compacted-000001-000000000000-0007.parquet"
        ],
        "the orphans go at once"
    );
    november_is_unchanged(copy.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_files_are_counted_and_compacted_again_past_the_threshold() {
    let copy = fixture_copy();
    let root = Location::local(copy.path()).unwrap();
    let first = compact_day(&root, day(), &options())
        .await
        .unwrap()
        .unwrap();
    let source = day_dir(copy.path()).join(&first.written[0]);
    for i in 0..2 {
        std::fs::write(
            day_dir(copy.path()).join(format!("ingest-late-{i}.parquet")),
            sample_data::late_play(&source, &format!("late-{i}")).unwrap(),
        )
        .unwrap();
    }
    let counted = counted_day_files(&root, day()).await.unwrap();
    assert_eq!(counted.len(), first.written.len() + 2);
    let few = CompactionOptions {
        min_new_files: 3,
        ..options()
    };
    assert!(compact_day(&root, day(), &few).await.unwrap().is_none());
    let enough = CompactionOptions {
        min_new_files: 2,
        ..options()
    };
    let second = compact_day(&root, day(), &enough).await.unwrap().unwrap();
    assert_eq!(second.sequence, 2);
    assert_eq!(second.replaces, counted);
    assert_eq!(second.rows, first.rows + 2);
    let data = DataRoot::open(copy.path()).await.unwrap();
    let rows: i64 = data
        .files()
        .iter()
        .filter(|f| f.path.contains(DAY))
        .map(|f| f.rows)
        .sum();
    assert_eq!(rows, first.rows + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_naming_a_missing_file_is_a_one_line_error() {
    let copy = fixture_copy();
    let root = Location::local(copy.path()).unwrap();
    let marker = compact_day(&root, day(), &options())
        .await
        .unwrap()
        .unwrap();
    std::fs::remove_file(day_dir(copy.path()).join(&marker.written[0])).unwrap();
    let error = DataRoot::open(copy.path()).await.unwrap_err().to_string();
    assert!(error.contains("_compaction-000001.json"), "{error}");
    assert!(
        error.contains(&format!("names {}, which is missing", marker.written[0])),
        "{error}"
    );
    assert!(!error.contains('\n'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compactions_of_the_same_files_write_the_same_bytes_and_of_other_files_other_names() {
    let (a, b, c) = (fixture_copy(), fixture_copy(), fixture_copy());
    let source = day_dir(c.path()).join(&names(c.path())[0]);
    std::fs::write(
        day_dir(c.path()).join("ingest-other-node.parquet"),
        sample_data::late_play(&source, "from-another-receiver").unwrap(),
    )
    .unwrap();
    let mut markers = Vec::new();
    for root in [&a, &b, &c] {
        let location = Location::local(root.path()).unwrap();
        markers.push(
            compact_day(&location, day(), &options())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(markers[0].written, markers[1].written);
    for file in &markers[0].written {
        assert_eq!(
            std::fs::read(day_dir(a.path()).join(file)).unwrap(),
            std::fs::read(day_dir(b.path()).join(file)).unwrap(),
            "{file}"
        );
    }
    // Another receiver's compactor saw one more file: none of its names is the same,
    // so losing the race for the marker leaves the winner's files intact.
    assert!(
        markers[2]
            .written
            .iter()
            .all(|f| !markers[0].written.contains(f)),
        "{:?} {:?}",
        markers[0].written,
        markers[2].written
    );
}
