//! The live month against the plain-Rust reference over the files landed so far, and
//! against the engine: December replayed file by file into a data root that holds the
//! months before, checked at several points, after days close, after late plays for a
//! closed day (counted by opening the month again) and after a restart.

mod support;

use std::path::{Path, PathBuf};

use chart_core::live::{ChartRow, History, LiveMonth, Standings};
use chart_core::{ChartKind, GoldenMic, Methodology, Period, PeriodKind};
use chrono::NaiveDate;
use support::reference::{self, Grain, Rules};
use support::{
    TrapPlay, chart_rows, copy_dir, coverage_rows, fixture_copy, known_ids, local_ms, plays_batch,
    read_parquet, write_batch,
};

const MONTH: &str = "2024-12";

fn month() -> Period {
    MONTH.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn as_reference(rows: Vec<ChartRow>) -> Vec<reference::ChartRow> {
    rows.into_iter()
        .map(|r| reference::ChartRow {
            rank: r.rank,
            song_id: r.song_id,
            title: r.title,
            artist: r.artist,
            score: r.score,
            plays: r.plays,
            venues: r.venues,
            rooms: r.rooms,
            prev_rank: r.prev_rank,
            peak_rank: r.peak_rank,
            months_on_chart: r.months_on_chart,
            movement: r.movement.to_string(),
        })
        .collect()
}

/// The live charts and coverage equal the reference's over the files of `root`.
fn check_against_reference(standings: &Standings, root: &Path, at: &str) {
    let data = reference::load(root);
    let rules = Rules::GM1;
    for (kind, new_only) in [(ChartKind::Hot, false), (ChartKind::New, true)] {
        let got = as_reference(standings.chart(kind));
        let want = reference::chart(&data, &rules, Grain::Month, MONTH, new_only);
        assert!(
            !want.is_empty(),
            "{at}: the reference's {kind:?} chart is empty"
        );
        assert_eq!(got.len(), want.len(), "{at}: {kind:?} chart length");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{at}: {kind:?} rank {}", w.rank);
        }
    }
    let mut want = reference::coverage(&data, &rules, Grain::Month, MONTH);
    let national = standings.coverage(None).unwrap();
    let got = reference::CoverageRow {
        province: None,
        licensed_venues: national.licensed_venues,
        connected_venues: national.connected_venues,
        coverage_share: national.coverage_share,
        provinces: national.provinces,
        cities: national.cities,
        rooms: national.rooms,
        new_venues: national.new_venues,
        new_venues_prev: national.new_venues_prev,
        new_venues_growth: national.new_venues_growth,
        active_venues: national.active_venues,
        active_rooms: national.active_rooms,
    };
    assert_eq!(got, want[0], "{at}: national coverage");
    for w in &mut want[1..] {
        w.provinces = None;
    }
    let provinces: Vec<reference::CoverageRow> = standings
        .coverage_by_province()
        .into_iter()
        .map(|r| reference::CoverageRow {
            province: r.province,
            licensed_venues: r.licensed_venues,
            connected_venues: r.connected_venues,
            coverage_share: r.coverage_share,
            provinces: r.provinces,
            cities: r.cities,
            rooms: r.rooms,
            new_venues: r.new_venues,
            new_venues_prev: r.new_venues_prev,
            new_venues_growth: r.new_venues_growth,
            active_venues: r.active_venues,
            active_rooms: r.active_rooms,
        })
        .collect();
    assert_eq!(provinces, want[1..], "{at}: coverage by province");
}

/// The live charts of `province` (national for `None`) and its coverage equal the
/// engine's (the table functions' regional view) over `root`.
async fn check_against_engine(live: &LiveMonth, root: &Path, province: Option<&str>, at: &str) {
    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    let (engine, history) = match province {
        Some(p) => {
            let regional = engine.regional(p).await.unwrap();
            let materialized = regional.materialize(Some(PeriodKind::Month)).await.unwrap();
            let history = History::of(&materialized, &month()).await.unwrap();
            (regional, Some(history))
        }
        None => (engine, None),
    };
    let standings = live.standings();
    for kind in [ChartKind::Hot, ChartKind::New] {
        let got = as_reference(match (province, &history) {
            (Some(p), Some(h)) => standings.regional_chart(kind, p, h).unwrap(),
            _ => standings.chart(kind),
        });
        let want = chart_rows(&engine.chart(kind, &month()).await.unwrap());
        assert!(
            !want.is_empty(),
            "{at}: {province:?} {kind:?}: the engine's chart is empty"
        );
        assert_eq!(got, want, "{at}: {province:?} {kind:?}");
    }
    let want = coverage_rows(&engine.coverage(&month()).await.unwrap());
    let got = standings.coverage(province).unwrap();
    assert_eq!(
        (got.active_venues, got.active_rooms, got.connected_venues),
        (
            want[0].active_venues,
            want[0].active_rooms,
            want[0].connected_venues
        ),
        "{at}: {province:?} coverage"
    );
}

/// Moves December's play files out of `root` into `held`, returning them by day.
fn hold_back_december(root: &Path, held: &Path) -> Vec<(NaiveDate, Vec<PathBuf>)> {
    let mut days = Vec::new();
    for entry in std::fs::read_dir(root.join("plays")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let day = date(name.strip_prefix("date=").unwrap());
        if Period::containing(PeriodKind::Month, day) != month() {
            continue;
        }
        copy_dir(&dir, &held.join(&name));
        std::fs::remove_dir_all(&dir).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(held.join(&name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        days.push((day, files));
    }
    days.sort();
    days
}

/// Lands a held file in `root` and counts it.
fn land(
    live: &mut LiveMonth,
    root: &Path,
    day: NaiveDate,
    file: &Path,
) -> chart_core::live::Counted {
    let target = root
        .join(format!("plays/date={day}"))
        .join(file.file_name().unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(file, &target).unwrap();
    live.count(&read_parquet(&target), day).unwrap()
}

#[tokio::test]
async fn the_month_to_date_equals_the_reference_and_the_engine_as_it_lands() {
    let root_dir = fixture_copy();
    let root = root_dir.path();
    let held = tempfile::tempdir().unwrap();
    let days = hold_back_december(root, held.path());
    assert!(days.len() > 20, "{} December days", days.len());

    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    let mut live = LiveMonth::open(&engine, month(), month().first_day())
        .await
        .unwrap();
    // The turn-of-the-month trap, filed under 2024-11-15, is December's.
    assert_eq!(live.open_days(), [date("2024-12-01")]);

    let mut checked = 0;
    for (i, (day, files)) in days.iter().enumerate() {
        for file in files {
            let counted = land(&mut live, root, *day, file);
            assert!(
                counted.late_days.is_empty() && counted.rows > 0,
                "{counted:?}"
            );
        }
        // Days close a day late (a grace of one day).
        let closed = live.close_before(day.pred_opt().unwrap());
        assert!(closed.len() <= 1 || i == 0, "{closed:?}");
        if [2, 9, days.len() - 1].contains(&i) {
            check_against_reference(&live.standings(), root, &format!("after {day}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 3);
    assert!(live.closed_days().len() >= 20);
    check_against_engine(&live, root, None, "month end").await;

    // A province: the regional view's charts and coverage.
    let province = {
        let standings = live.standings();
        let rows = standings.coverage_by_province();
        rows.iter()
            .max_by_key(|r| r.active_rooms)
            .and_then(|r| r.province.clone())
            .unwrap()
    };
    check_against_engine(&live, root, Some(&province), "month end").await;

    // Late plays for a closed day are not counted but reported; the month opened again
    // counts them, and equals the reference.
    let (venue, song) = known_ids(root);
    let late: Vec<String> = (0..4).map(|i| format!("late-{i}")).collect();
    let rows: Vec<TrapPlay> = late
        .iter()
        .enumerate()
        .map(|(i, id)| TrapPlay {
            event_id: Some(id),
            venue_id: Some(&venue),
            room_id: "R-late",
            song_id: Some(&song),
            started_at: local_ms("2024-12-03 22:00:00") + i as i64 * 300_000,
            played_ms: 200_000,
        })
        .collect();
    let late_file = root.join("plays/date=2024-12-03/late.parquet");
    write_batch(&late_file, &plays_batch(&rows));
    let counted = live
        .count(&read_parquet(&late_file), date("2024-12-03"))
        .unwrap();
    assert_eq!(counted.rows, 0);
    assert_eq!(
        counted.late_days.into_iter().collect::<Vec<_>>(),
        [date("2024-12-03")]
    );
    let closed_before = days.last().unwrap().0.pred_opt().unwrap();
    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    let reopened = LiveMonth::open(&engine, month(), closed_before)
        .await
        .unwrap();
    check_against_reference(&reopened.standings(), root, "after late plays");
    check_against_engine(&reopened, root, None, "after late plays").await;

    // A restart: the month opened again from the same files equals the running one.
    let restarted = LiveMonth::open(&engine, month(), closed_before)
        .await
        .unwrap();
    assert_eq!(restarted.closed_days(), reopened.closed_days());
    for kind in [ChartKind::Hot, ChartKind::New] {
        assert_eq!(
            restarted.standings().chart(kind),
            reopened.standings().chart(kind)
        );
    }
    check_against_engine(&restarted, root, Some(&province), "after a restart").await;

    // November plays filed under a December day: November's chart, December's history,
    // changes, and the month opened again takes it from every partition.
    let rooms: Vec<String> = (0..60).map(|i| format!("R-nov-{i}")).collect();
    let ids: Vec<String> = (0..60).map(|i| format!("nov-{i}")).collect();
    let rows: Vec<TrapPlay> = rooms
        .iter()
        .zip(&ids)
        .map(|(room, id)| TrapPlay {
            event_id: Some(id),
            venue_id: Some(&venue),
            room_id: room,
            song_id: Some(&song),
            started_at: local_ms("2024-11-20 21:00:00"),
            played_ms: 200_000,
        })
        .collect();
    write_batch(
        &root.join("plays/date=2024-12-10/november.parquet"),
        &plays_batch(&rows),
    );
    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    let misfiled = LiveMonth::open(&engine, month(), closed_before)
        .await
        .unwrap();
    assert_ne!(
        misfiled.standings().chart(ChartKind::Hot),
        restarted.standings().chart(ChartKind::Hot),
        "November's plays filed under December change December's history"
    );
    check_against_reference(
        &misfiled.standings(),
        root,
        "after November plays filed late",
    );
}

#[tokio::test]
async fn an_event_sent_from_two_venues_counts_once_and_refuses_province_charts() {
    let root_dir = fixture_copy();
    let root = root_dir.path();
    let engine = GoldenMic::open(root, Methodology::default()).await.unwrap();
    let mut live = LiveMonth::open(&engine, month(), month().first_day())
        .await
        .unwrap();
    let before = live.standings().chart(ChartKind::Hot);
    let (venue, _) = known_ids(root);
    let song = before[0].song_id.clone();
    let t = local_ms("2024-12-20 21:00:00");
    let rows = [
        TrapPlay {
            event_id: Some("twice"),
            venue_id: Some(&venue),
            room_id: "R-twice",
            song_id: Some(&song),
            started_at: t,
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: Some("twice"),
            venue_id: Some("ZZ-elsewhere"),
            room_id: "R-twice",
            song_id: Some(&song),
            started_at: t,
            played_ms: 200_000,
        },
    ];
    let counted = live.count(&plays_batch(&rows), date("2024-12-20")).unwrap();
    assert_eq!(counted.rows, 2);
    let standings = live.standings();
    let after = standings.chart(ChartKind::Hot);
    let plays = |rows: &[ChartRow]| rows.iter().find(|r| r.song_id == song).unwrap().plays;
    assert_eq!(plays(&after), plays(&before) + 1);
    let province = standings.coverage_by_province()[0]
        .province
        .clone()
        .unwrap();
    let history = History::default();
    let error = standings
        .regional_chart(ChartKind::Hot, &province, &history)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("1 events of 2024-12 were sent from more than one venue"),
        "{error}"
    );
    let unknown = standings
        .regional_chart(ChartKind::Hot, "Atlantis", &history)
        .unwrap_err()
        .to_string();
    assert!(
        unknown.starts_with("unknown province `Atlantis`"),
        "{unknown}"
    );
}
