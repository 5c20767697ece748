//! The tables `publish` derives everything from, computed from day digests
//! (`GoldenMic::materialize_by_day`), against the SQL of `queries/` and the plain-Rust
//! reference implementation.

mod support;

use std::path::Path;

use arrow::array::RecordBatch;
use arrow::util::display::array_value_to_string;
use chart_core::{GoldenMic, Location, Methodology, Period, PeriodKind};
use support::reference::{self, Rules};
use support::{TrapPlay, compare_period, fixture, local_ms, plays_batch, write_batch};

/// Every row of a table as text, sorted.
async fn rows(engine: &GoldenMic, table: &str) -> Vec<String> {
    let batches: Vec<RecordBatch> = engine
        .context()
        .sql(&format!("SELECT * FROM {table}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |r| {
                (0..b.num_columns())
                    .map(|c| array_value_to_string(b.column(c), r).unwrap())
                    .collect::<Vec<_>>()
                    .join("|")
            })
        })
        .collect();
    rows.sort();
    rows
}

/// The periods the fixture has plays in, by kind.
const PERIODS: [&str; 4] = ["2024-10", "2024-11", "2024-12", "2024"];

/// Both ways of materialising give the same rows of `song_period_stats`,
/// `room_period_outcomes` and `chart_entries`, and the reference's results.
async fn compare(
    root: &Path,
    methodology: Methodology,
    rules: Rules,
) -> chart_core::DayDigestReport {
    let data = reference::load(root);
    let by_sql = GoldenMic::open(root, methodology.clone()).await.unwrap();
    let by_sql = by_sql.materialize(None).await.unwrap();
    let by_day = GoldenMic::open(root, methodology.clone()).await.unwrap();
    let (by_day, report) = by_day.materialize_by_day(None).await.unwrap();
    for table in ["song_period_stats", "room_period_outcomes", "chart_entries"] {
        let (want, got) = (rows(&by_sql, table).await, rows(&by_day, table).await);
        assert!(want.len() > 100, "{table}: {} rows", want.len());
        assert_eq!(got.len(), want.len(), "{table}: rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{table}");
        }
    }
    for p in PERIODS {
        compare_period(&by_day, &data, &rules, &p.parse().unwrap()).await;
    }
    // Only one period kind, as `publish` materialises.
    for kind in [PeriodKind::Month, PeriodKind::Year] {
        let one_kind = GoldenMic::open(root, methodology.clone()).await.unwrap();
        let (one_kind, _) = one_kind.materialize_by_day(Some(kind)).await.unwrap();
        for p in PERIODS {
            let period: Period = p.parse().unwrap();
            if period.kind() == kind {
                compare_period(&one_kind, &data, &rules, &period).await;
            }
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_digests_match_the_sql_and_the_reference() {
    let report = compare(fixture(), Methodology::default(), Rules::GM1).await;
    // Every re-sent copy of the fixture is in its event's partition.
    assert_eq!(report.shared_units, 0, "{report:?}");
    assert_eq!(report.units, report.partitions, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_digests_follow_other_parameters() {
    let methodology = Methodology {
        room_cap: 2,
        min_played_ms: 60_000,
        day_start_minutes: 5 * 60,
        ..Methodology::default()
    };
    let rules = Rules {
        room_cap: 2,
        min_played_ms: 60_000,
        day_start_hours: 5,
        ..Rules::GM1
    };
    compare(fixture(), methodology, rules).await;
}

/// Copies of one event in the files of two days (and of another in two other days):
/// those partitions are digested together, and the copy kept is the one the
/// methodology keeps over the whole table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_re_sent_in_another_partition_count_once() {
    let root = support::fixture_copy();
    let (venue, song) = support::known_ids(root.path());
    let play = |event_id, room_id, started_at, played_ms| TrapPlay {
        event_id: Some(event_id),
        venue_id: Some(&venue),
        room_id,
        song_id: Some(&song),
        started_at,
        played_ms,
    };
    // trap-dup's copies are in 2024-11-15; this earlier copy in another partition is
    // the one kept: another room (late-5), and short, so the event is excluded after all.
    write_batch(
        &root
            .path()
            .join("plays/date=2024-11-20/part-7-late.parquet"),
        &plays_batch(&[
            play(
                "trap-dup",
                "late-5",
                local_ms("2024-11-15 20:59:00"),
                20_000,
            ),
            play(
                "split-a",
                "late-5",
                local_ms("2024-11-20 21:00:00"),
                200_000,
            ),
        ]),
    );
    write_batch(
        &root
            .path()
            .join("plays/date=2024-10-03/part-7-late.parquet"),
        &plays_batch(&[play(
            "split-a",
            "late-6",
            local_ms("2024-11-20 21:00:00"),
            200_000,
        )]),
    );
    let report = compare(root.path(), Methodology::default(), Rules::GM1).await;
    assert_eq!(report.shared_units, 1, "{report:?}");
    assert_eq!(report.units, report.partitions - 2, "{report:?}");

    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let (engine, _) = engine
        .materialize_by_day(Some(PeriodKind::Month))
        .await
        .unwrap();
    let outcomes = rows(&engine, "room_period_outcomes")
        .await
        .into_iter()
        .filter(|r| {
            r.contains(&format!("|{venue}|late-5|")) || r.contains(&format!("|{venue}|late-6|"))
        })
        .collect::<Vec<_>>();
    assert_eq!(
        outcomes,
        [
            format!("month|2024-11|{venue}|late-5|short_play|1|4"),
            format!("month|2024-11|{venue}|late-5||1|2"),
        ],
        "trap-dup (four rows) kept short in late-5; split-a (two rows) valid in late-5"
    );
}

/// Kept digests are reused while a partition's files and the parameters they depend
/// on are unchanged, and computed again when they change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_digests_are_reused_until_their_inputs_change() {
    let root = support::fixture_copy();
    let kept = tempfile::tempdir().unwrap();
    let run = |methodology: Methodology| {
        let (root, kept) = (root.path().to_path_buf(), kept.path().to_path_buf());
        async move {
            let engine = GoldenMic::open(&root, methodology)
                .await
                .unwrap()
                .with_day_digests(Some(Location::local(&kept).unwrap()));
            let (engine, report) = engine.materialize_by_day(None).await.unwrap();
            (report, rows(&engine, "song_period_stats").await)
        }
    };
    let (first, first_rows) = run(Methodology::default()).await;
    assert_eq!(
        (first.computed, first.reused),
        (first.partitions, 0),
        "{first:?}"
    );
    let (again, again_rows) = run(Methodology::default()).await;
    assert_eq!(
        (again.computed, again.reused),
        (0, again.partitions),
        "{again:?}"
    );
    assert_eq!(again_rows, first_rows);

    // A new file in one partition: that partition only.
    let (venue, song) = support::known_ids(root.path());
    write_batch(
        &root
            .path()
            .join("plays/date=2024-11-20/part-7-late.parquet"),
        &plays_batch(&[TrapPlay {
            event_id: Some("late-file"),
            venue_id: Some(&venue),
            room_id: "late-5",
            song_id: Some(&song),
            started_at: local_ms("2024-11-20 21:00:00"),
            played_ms: 200_000,
        }]),
    );
    let (changed, changed_rows) = run(Methodology::default()).await;
    assert_eq!(
        (changed.computed, changed.reused),
        (1, changed.partitions - 1),
        "{changed:?}"
    );
    let by_sql = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let by_sql = by_sql.materialize(None).await.unwrap();
    assert_eq!(changed_rows, rows(&by_sql, "song_period_stats").await);
    assert_ne!(changed_rows, first_rows);

    // A parameter the digests depend on: every partition again. One they do not
    // depend on (the room cap, applied when merging): none.
    let shorter = Methodology {
        min_played_ms: 60_000,
        ..Methodology::default()
    };
    let (other, _) = run(shorter).await;
    assert_eq!(other.computed, other.partitions, "{other:?}");
    let capped = Methodology {
        room_cap: 2,
        ..Methodology::default()
    };
    let (cap, cap_rows) = run(capped.clone()).await;
    assert_eq!(cap.computed, 0, "{cap:?}");
    let by_sql = GoldenMic::open(root.path(), capped).await.unwrap();
    let by_sql = by_sql.materialize(None).await.unwrap();
    assert_eq!(cap_rows, rows(&by_sql, "song_period_stats").await);
}

/// A damaged kept digest stops the run with an error naming its file; an engine over
/// data in memory has no partitions to digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_digests_and_in_memory_inputs_are_refused() {
    let kept = tempfile::tempdir().unwrap();
    let engine = || async {
        GoldenMic::open(fixture(), Methodology::default())
            .await
            .unwrap()
            .with_day_digests(Some(Location::local(kept.path()).unwrap()))
    };
    engine().await.materialize_by_day(None).await.unwrap();
    let damaged = std::fs::read_dir(kept.path())
        .unwrap()
        .map(|e| e.unwrap().path().join("digest.json"))
        .next()
        .unwrap();
    std::fs::write(&damaged, "{ not json").unwrap();
    let error = engine()
        .await
        .materialize_by_day(None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains(&damaged.display().to_string()) && !error.contains('\n'),
        "{error}"
    );

    let in_memory = GoldenMic::attach(
        datafusion::prelude::SessionContext::new(),
        chart_core::InputTables::from_batches(
            vec![plays_batch(&[])],
            support::batches_of(fixture(), "songs"),
            support::batches_of(fixture(), "venues"),
        )
        .unwrap(),
        Methodology::default(),
    )
    .await
    .unwrap();
    let error = in_memory
        .materialize_by_day(None)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("date= partitions"), "{error}");
}

/// A province's view keeps its own digests (its plays only, deduplicated among
/// themselves), beside the national ones in the same location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regional_digests_are_kept_apart_from_national_ones() {
    let kept = tempfile::tempdir().unwrap();
    let location = || Some(Location::local(kept.path()).unwrap());
    let national = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let report = national
        .with_methodology(Methodology::default())
        .await
        .unwrap()
        .with_day_digests(location())
        .materialize_by_day(None)
        .await
        .unwrap()
        .1;
    let provinces = national
        .context()
        .sql("SELECT province, count(*) FROM venues GROUP BY province ORDER BY 2 DESC LIMIT 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let province = array_value_to_string(provinces[0].column(0), 0).unwrap();
    let by_sql = national.regional(&province).await.unwrap();
    let by_sql = by_sql.materialize(None).await.unwrap();
    let by_day = national
        .regional(&province)
        .await
        .unwrap()
        .with_day_digests(location());
    let (by_day, regional) = by_day.materialize_by_day(None).await.unwrap();
    assert_eq!(regional.reused, 0, "{report:?} then {regional:?}");
    assert_eq!(regional.computed, report.computed);
    for table in ["song_period_stats", "room_period_outcomes", "chart_entries"] {
        let want = rows(&by_sql, table).await;
        assert!(want.len() > 10, "{table}: {} rows", want.len());
        assert_eq!(rows(&by_day, table).await, want, "{table} of {province}");
    }
}
