//! GM-2: the screened charts compared row for row with the plain-Rust reference
//! (`support/gm2_reference.rs`) on generated data with labelled manipulation, each
//! pattern removed or held by its rule, and GM-1's top 100 kept on clean data.

mod support;

use std::path::Path;
use std::sync::OnceLock;

use chart_core::screened_chart::{HoldKind, ScreenedEntry, ScreenedMonth};
use chart_core::{ChartKind, GoldenMic, Methodology, Period};
use sample_data::manipulation::{self, Injected, Pattern};
use support::gm2_reference::{self, Params, Row};
use support::reference::{self, Rules};

/// Three months (2024-10 to 2024-12) of 20,000 plays each, with every pattern of
/// manipulation injected.
fn manipulated() -> &'static (tempfile::TempDir, Injected) {
    static DIR: OnceLock<(tempfile::TempDir, Injected)> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let spec = sample_data::SampleSpec {
            plays_per_month: 20_000,
            ..sample_data::SampleSpec::small(7)
        };
        sample_data::generate(&spec, dir.path()).unwrap();
        let injected = manipulation::inject(&spec, dir.path()).unwrap();
        (dir, injected)
    })
}

fn root() -> &'static Path {
    manipulated().0.path()
}

fn rows(entries: &[ScreenedEntry]) -> Vec<Row> {
    entries
        .iter()
        .map(|e| Row {
            rank: e.rank,
            song_id: e.song_id.clone(),
            score: e.score,
            score_raw: e.score_raw,
            plays: e.plays,
            venues: e.venues,
            cities: e.cities,
            rooms: e.rooms,
            room_days: e.room_days,
            rank_low: e.rank_low,
            rank_high: e.rank_high,
            prev_rank: e.prev_rank,
            peak_rank: e.peak_rank,
            months_on_chart: e.months_on_chart,
            streak: e.streak,
            movement: e.movement.map(str::to_string),
        })
        .collect()
}

fn report(month: &ScreenedMonth) -> gm2_reference::Report {
    let t = &month.transparency;
    let mut holds: Vec<_> = t
        .holds
        .iter()
        .map(|h| {
            let day = chrono::NaiveDate::from_num_days_from_ce_opt(h.day + 719_163).unwrap();
            (
                h.kind.as_str().to_string(),
                h.id.clone(),
                day,
                h.plays,
                h.review.as_str().to_string(),
            )
        })
        .collect();
    holds.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
    gm2_reference::Report {
        valid_plays: t.valid_plays,
        held_plays: t.held_plays,
        resent_plays: t.resent_plays,
        impossible_plays: t.impossible_plays,
        impossible_room_days: t.impossible_room_days,
        over_cap_plays: t.over_cap_plays,
        concentration_songs: t.concentration_songs,
        concentration_plays: t.concentration_plays,
        reach_songs: t.reach_songs,
        holds,
        flagged: t
            .flagged_rooms
            .iter()
            .map(|r| (r.venue_id.clone(), r.room_id.clone(), r.day, r.hours))
            .collect(),
    }
}

async fn gm2(root: &Path) -> GoldenMic {
    GoldenMic::open(root, Methodology::gm2()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gm2_matches_the_reference_in_every_month() {
    let data = reference::load(root());
    let engine = gm2(root()).await;
    for month in ["2024-10", "2024-11", "2024-12"] {
        let period: Period = month.parse().unwrap();
        let screened = engine.screened(&period).await.unwrap();
        let expected = gm2_reference::screened(&data, &Rules::GM1, &Params::GM2, &[], month);
        assert!(
            screened.hot.len() > 100,
            "{month}: {} entries",
            screened.hot.len()
        );
        assert_eq!(rows(&screened.hot), expected.hot, "{month} hot");
        assert_eq!(rows(&screened.new), expected.new, "{month} new");
        assert_eq!(report(&screened), expected.report, "{month} report");
        assert!(
            screened
                .hot
                .iter()
                .all(|e| e.rank_low.unwrap() <= e.rank_high.unwrap()),
            "{month}: intervals"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_manipulation_is_removed_or_held_by_its_rule() {
    let (_, injected) = manipulated();
    let period: Period = "2024-12".parse().unwrap();
    let gm1 = GoldenMic::open(root(), Methodology::default())
        .await
        .unwrap();
    let gm1_hot = support::chart_rows(&gm1.chart(ChartKind::Hot, &period).await.unwrap());
    let screened = gm2(root()).await.screened(&period).await.unwrap();
    let t = &screened.transparency;
    let (looped, concentrated) = &injected.looped_songs;

    // Each looped song is in GM-1's top 3; in GM-2 it is off the chart (too few venues:
    // rule 4) or cut to the level of its other venues (rule 3), or its days are held.
    for song in [looped, concentrated] {
        let gm1_rank = gm1_hot.iter().find(|r| r.song_id == *song).unwrap().rank;
        assert!(gm1_rank <= 3, "{song}: GM-1 rank {gm1_rank}");
        if let Some(entry) = screened.hot.iter().find(|e| e.song_id == *song) {
            assert!(entry.score <= 60 && entry.score_raw >= 1_000, "{entry:?}");
            assert!(entry.rank > 20, "{entry:?}");
        }
    }
    assert!(t.concentration_plays > 0);
    // Overlapping plays: ten room-days counted nothing (rule 2).
    assert!(t.impossible_room_days >= 10, "{t:?}");
    assert!(t.impossible_plays >= 400, "{t:?}");
    // The 21-hour room is flagged on its three days, not dropped.
    let (venue, room) = &injected.all_day_room;
    let flagged: Vec<_> = t
        .flagged_rooms
        .iter()
        .filter(|r| &r.venue_id == venue && &r.room_id == room)
        .collect();
    assert_eq!(flagged.len(), 3, "{:?}", t.flagged_rooms);
    assert!(flagged.iter().all(|r| r.hours == 21));
    // The vendor's spike is held (rule 5), with its figures.
    let spike = t
        .holds
        .iter()
        .find(|h| h.kind == HoldKind::Vendor && h.id == manipulation::SPIKE_VENDOR)
        .expect("the vendor's spike is held");
    assert_eq!(spike.plays, 300);
    assert_eq!(
        chrono::NaiveDate::from_num_days_from_ce_opt(spike.day + 719_163).unwrap(),
        injected.spike_day
    );
    assert!(t.held_plays >= 300);
    // Re-sends under new ids count once (rule 1).
    assert_eq!(
        t.resent_plays,
        injected.rows[&Pattern::ResentNewId] as i64,
        "{t:?}"
    );
    // Every rule's effect on the chart is reported.
    let changed: Vec<&str> = t.hot_entries_changed.iter().map(|c| c.0).collect();
    assert_eq!(
        changed,
        [
            "held",
            "resent",
            "impossible_room_day",
            "room_cap",
            "concentration",
            "reach"
        ]
    );
}

/// On clean data GM-2 keeps at least 99 of GM-1's top 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_data_keeps_gm1s_top_100() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample_data::SampleSpec {
        plays_per_month: 100_000,
        months: 2,
        catalogue_size: 20_000,
        ..sample_data::SampleSpec::small(3)
    };
    sample_data::generate(&spec, dir.path()).unwrap();
    let period: Period = "2024-11".parse().unwrap();
    let gm1 = GoldenMic::open(dir.path(), Methodology::default())
        .await
        .unwrap();
    let gm1_hot = support::chart_rows(&gm1.chart(ChartKind::Hot, &period).await.unwrap());
    let screened = gm2(dir.path()).await.screened(&period).await.unwrap();
    let top: std::collections::HashSet<&str> = screened.hot[..100]
        .iter()
        .map(|e| e.song_id.as_str())
        .collect();
    let kept = gm1_hot
        .iter()
        .filter(|r| top.contains(r.song_id.as_str()))
        .count();
    println!(
        "GM-1 top 100 kept in GM-2's: {kept}; report: {:?}",
        screened.transparency
    );
    assert!(kept >= 99, "{kept} of GM-1's top 100 kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gm_param_follows_the_methodology() {
    let value = |engine: GoldenMic, name: &'static str| async move {
        engine
            .context()
            .sql(&format!("SELECT gm_param('{name}')"))
            .await
            .unwrap()
            .collect()
            .await
            .map(|b| {
                arrow::util::pretty::pretty_format_batches(&b)
                    .unwrap()
                    .to_string()
            })
    };
    let gm2_value = value(gm2(root()).await, "min_venues").await.unwrap();
    assert!(gm2_value.contains("| 5 "), "{gm2_value}");
    let gm1 = GoldenMic::open(root(), Methodology::default())
        .await
        .unwrap();
    let error = value(gm1, "min_venues").await.unwrap_err().to_string();
    assert!(error.contains("min_venues"), "{error}");
    // GM-1 cannot screen.
    let gm1 = GoldenMic::open(root(), Methodology::default())
        .await
        .unwrap();
    let error = gm1
        .screened(&"2024-12".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("GM-1 has no screening rules"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_decisions_include_and_exclude_days() {
    let (_, injected) = manipulated();
    let december: Period = "2024-12".parse().unwrap();
    let plain = gm2(root()).await.screened(&december).await.unwrap();
    let looping_venue = injected.looping_venues.0.clone();
    let first_loop_day = chrono::NaiveDate::from_ymd_opt(2024, 12, 1).unwrap();
    let decisions = vec![
        chart_core::methodology::screening::ReviewDecision {
            kind: "vendor".into(),
            id: manipulation::SPIKE_VENDOR.into(),
            day: injected.spike_day,
            decision: "include".into(),
            reason: "the vendor's backlog of a week, checked with the venue".into(),
        },
        chart_core::methodology::screening::ReviewDecision {
            kind: "venue".into(),
            id: looping_venue.clone(),
            day: first_loop_day,
            decision: "exclude".into(),
            reason: "loops seen on the venue's logs".into(),
        },
    ];
    let mut methodology = Methodology::gm2();
    methodology.screening.as_mut().unwrap().review_decisions = decisions;
    let engine = GoldenMic::open(root(), methodology).await.unwrap();
    let reviewed = engine.screened(&december).await.unwrap();
    let data = reference::load(root());
    let reference_decisions = vec![
        (
            "vendor".to_string(),
            manipulation::SPIKE_VENDOR.to_string(),
            injected.spike_day,
            "include".to_string(),
        ),
        (
            "venue".to_string(),
            looping_venue.clone(),
            first_loop_day,
            "exclude".to_string(),
        ),
    ];
    let expected = gm2_reference::screened(
        &data,
        &Rules::GM1,
        &Params::GM2,
        &reference_decisions,
        "2024-12",
    );
    assert_eq!(rows(&reviewed.hot), expected.hot);
    assert_eq!(report(&reviewed), expected.report);
    let spike = reviewed
        .transparency
        .holds
        .iter()
        .find(|h| h.kind == HoldKind::Vendor)
        .unwrap();
    assert_eq!(spike.review, chart_core::screened_chart::Review::Included);
    let excluded = reviewed
        .transparency
        .holds
        .iter()
        .find(|h| h.id == looping_venue)
        .unwrap();
    assert_eq!(
        excluded.review,
        chart_core::screened_chart::Review::Excluded
    );
    // The spike's 300 plays count again unless its venue's day is held too (then that
    // hold keeps them out); the loop venue's day (60 looped plays and any of its own) does not.
    let venue_hold = plain
        .transparency
        .holds
        .iter()
        .find(|h| h.id == injected.spike_venue && h.kind == HoldKind::Venue);
    let released = if venue_hold.is_some() { 0 } else { 300 };
    assert_eq!(
        reviewed.transparency.held_plays,
        plain.transparency.held_plays - released + excluded.plays
    );
    assert!(excluded.plays >= 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editions_need_a_reason_and_keep_the_first_readable() {
    use chart_core::{
        ChartError, Location, Outcome, PublishOptions, publish, publish_with, verify,
    };
    let data = support::fixture_copy_of(root());
    let out = tempfile::tempdir().unwrap();
    let out = Location::local(out.path()).unwrap();
    let december: Period = "2024-12".parse().unwrap();
    // GM-2 as if it took effect in October 2024.
    let in_effect = Methodology {
        effective_from: Some("2024-10".into()),
        ..Methodology::gm2()
    };
    let engine = GoldenMic::open(data.path(), in_effect.clone())
        .await
        .unwrap();
    let first = publish(&engine, &december, &out).await.unwrap();
    // The publication (which codes the plays in GM-1's own pass over them) and the
    // library's screening (which reads them itself) give the same charts.
    let screened = engine.screened(&december).await.unwrap();
    let top = |entries: &[ScreenedEntry]| {
        chart_core::screened_chart::entries_batch(&entries[..entries.len().min(100)]).unwrap()
    };
    assert_eq!(first.hot, top(&screened.hot));
    assert_eq!(first.new, top(&screened.new));
    let edition = first.manifest.edition.clone().unwrap();
    assert_eq!(
        (first.manifest.version, edition.reason.as_str()),
        (1, "first edition")
    );
    assert_eq!(edition.compared_with, None);
    let files: Vec<&str> = first
        .manifest
        .outputs
        .iter()
        .map(|o| o.path.as_str())
        .collect();
    for table in ["hot", "new", "coverage", "coverage_by_province"]
        .into_iter()
        .chain(chart_core::publication::SCREENED_TABLE_NAMES)
    {
        for format in ["parquet", "csv", "json"] {
            let file = format!("{table}.{format}");
            assert!(files.contains(&file.as_str()), "{file} in {files:?}");
        }
    }
    assert_eq!(first.hot.num_rows(), 100);
    let hot_columns: Vec<String> = first
        .hot
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        hot_columns,
        chart_core::screened_chart::SCREENED_CHART_COLUMNS
    );
    // The same inputs again: nothing new.
    let again = publish(&engine, &december, &out).await.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);

    // A data fix (a day's file withdrawn): a correction needs a reason, then is edition 2.
    std::fs::remove_file(data.path().join("plays/date=2024-12-05/part-0.parquet")).unwrap();
    let engine = GoldenMic::open(data.path(), in_effect).await.unwrap();
    let error = publish(&engine, &december, &out).await.unwrap_err();
    assert!(
        matches!(error, ChartError::EditionNeedsReason { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("edition 2, which needs its reason"),
        "{error}"
    );
    let options = PublishOptions {
        reason: Some("5 December's file withdrawn".into()),
        ..PublishOptions::default()
    };
    let second = publish_with(&engine, &december, &out, &options)
        .await
        .unwrap();
    let edition = second.manifest.edition.clone().unwrap();
    assert_eq!(second.manifest.version, 2);
    assert_eq!(edition.reason, "5 December's file withdrawn");
    assert_eq!(edition.compared_with, Some(1));
    // The changes list exactly the songs whose rank moved between the editions.
    let moved = |before: &arrow::array::RecordBatch, after: &arrow::array::RecordBatch| {
        let (before, after) = (
            support::chart_rows_screened(before),
            support::chart_rows_screened(after),
        );
        before
            .keys()
            .chain(after.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|s| before.get(*s) != after.get(*s))
            .count()
    };
    let (moved, moved_new) = (
        moved(&first.hot, &second.hot),
        moved(&first.new, &second.new),
    );
    assert!(moved > 0);
    assert_eq!(edition.changed_entries, moved + moved_new);
    // Edition 1 stays readable and intact.
    let one = verify(&out, &december, Some(1)).await.unwrap();
    assert_eq!(one.manifest.edition.unwrap().reason, "first edition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_before_gm2_takes_effect_are_back_tests() {
    use chart_core::{ChartError, Location, Product, PublishOptions, publish, publish_with};
    let out = tempfile::tempdir().unwrap();
    let location = Location::local(out.path()).unwrap();
    let december: Period = "2024-12".parse().unwrap();
    let engine = gm2(root()).await;
    let error = publish(&engine, &december, &location).await.unwrap_err();
    assert!(matches!(error, ChartError::NotInEffect(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("2024-12: GM-2 takes effect from 2025-01"),
        "{error}"
    );
    assert!(!out.path().join("charts").exists());
    let backtest = PublishOptions {
        backtest: true,
        ..PublishOptions::default()
    };
    let published = publish_with(&engine, &december, &location, &backtest)
        .await
        .unwrap();
    assert_eq!(published.manifest.product, Product::Backtest);
    assert!(
        out.path()
            .join("backtests/month=2024-12/versions/000001.json")
            .exists()
    );
    assert!(!out.path().join("charts").exists());
    // GM-1 is in effect for every month: no back-test of it.
    let gm1 = GoldenMic::open(root(), Methodology::default())
        .await
        .unwrap();
    let error = publish_with(&gm1, &december, &location, &backtest)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("--backtest is for months before"),
        "{error}"
    );
}

/// A month's history (previous rank, peak, months on chart, streak) is each earlier
/// month's latest edition, not the data screened again: December after November
/// published under other parameters, then corrected, follows the correction; and a
/// new edition of November is a new input of December.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_each_earlier_months_latest_edition() {
    use chart_core::{ChartError, Location, Outcome, PublishOptions, publish, publish_with};
    use std::collections::BTreeMap;
    let data = support::fixture_copy_of(root());
    let out = tempfile::tempdir().unwrap();
    let out = Location::local(out.path()).unwrap();
    let in_effect = Methodology {
        effective_from: Some("2024-10".into()),
        ..Methodology::gm2()
    };
    let with_room_cap = |room_cap| Methodology {
        room_cap,
        ..in_effect.clone()
    };
    let month = |m: &str| m.parse::<Period>().unwrap();
    let publish_under = |methodology: Methodology, period: Period, reason: Option<&str>| {
        let (data, out) = (data.path().to_path_buf(), out.clone());
        let options = PublishOptions {
            reason: reason.map(str::to_string),
            ..PublishOptions::default()
        };
        async move {
            let engine = GoldenMic::open(&data, methodology).await.unwrap();
            publish_with(&engine, &period, &out, &options).await
        }
    };
    let october = publish_under(in_effect.clone(), month("2024-10"), None)
        .await
        .unwrap();
    publish_under(with_room_cap(2), month("2024-11"), None)
        .await
        .unwrap();
    let november = publish_under(with_room_cap(1), month("2024-11"), Some("room cap"))
        .await
        .unwrap();
    assert_eq!(november.manifest.version, 2);
    let engine = GoldenMic::open(data.path(), in_effect.clone())
        .await
        .unwrap();
    let december = publish(&engine, &month("2024-12"), &out).await.unwrap();

    // The reference: the editions' ranks alone.
    let before = [
        support::chart_rows_screened(&october.hot),
        support::chart_rows_screened(&november.hot),
    ];
    let songs = support::strings(&december.hot, "song_id");
    let ranks = support::ints(&december.hot, "rank");
    let column = |name| support::ints(&december.hot, name);
    let (prev, peak, months, streak) = (
        column("prev_rank"),
        column("peak_rank"),
        column("months_on_chart"),
        column("streak"),
    );
    for i in 0..songs.len() {
        let (song, rank) = (songs[i].clone().unwrap(), ranks[i].unwrap());
        let earlier: Vec<Option<i64>> = before.iter().map(|m| m.get(&song).copied()).collect();
        let want_peak = earlier.iter().flatten().copied().chain([rank]).min();
        let want_months = 1 + earlier.iter().flatten().count() as i64;
        let want_streak = match earlier[..] {
            [Some(_), Some(_)] => 3,
            [None, Some(_)] => 2,
            _ => 1,
        };
        assert_eq!(prev[i], earlier[1], "{song}: previous rank");
        assert_eq!(peak[i], want_peak, "{song}: peak");
        assert_eq!(months[i], Some(want_months), "{song}: months on chart");
        assert_eq!(streak[i], Some(want_streak), "{song}: streak");
    }
    // The data screened again (with December's parameters) would say otherwise.
    let recomputed = engine.screened(&month("2024-12")).await.unwrap();
    let recomputed: BTreeMap<&str, Option<i64>> = recomputed
        .hot
        .iter()
        .map(|e| (e.song_id.as_str(), e.prev_rank))
        .collect();
    assert!(
        songs
            .iter()
            .zip(&prev)
            .any(|(song, prev)| recomputed.get(song.as_deref().unwrap()) != Some(prev)),
        "the editions and the data agree: this test would not see the difference"
    );
    // The editions read are inputs of December's.
    let read: Vec<&str> = december
        .manifest
        .inputs
        .iter()
        .filter(|i| i.table == "charts")
        .map(|i| i.path.as_str())
        .collect();
    let nov_dir = &november.manifest.directory;
    assert_eq!(
        read,
        [
            format!(
                "charts/month=2024-10/{}/hot.parquet",
                october.manifest.directory
            ),
            format!(
                "charts/month=2024-10/{}/new.parquet",
                october.manifest.directory
            ),
            format!("charts/month=2024-11/{nov_dir}/hot.parquet"),
            format!("charts/month=2024-11/{nov_dir}/new.parquet"),
        ]
    );
    assert_eq!(
        publish(&engine, &month("2024-12"), &out)
            .await
            .unwrap()
            .outcome,
        Outcome::Unchanged
    );
    // A third edition of November changes December's inputs: a correction of it.
    publish_under(with_room_cap(2), month("2024-11"), Some("room cap again"))
        .await
        .unwrap();
    let error = publish(&engine, &month("2024-12"), &out).await.unwrap_err();
    assert!(
        matches!(error, ChartError::EditionNeedsReason { .. }),
        "{error}"
    );
}

/// Each output file's name and SHA-256.
fn output_files(manifest: &chart_core::publication::Manifest) -> Vec<(String, String)> {
    manifest
        .outputs
        .iter()
        .map(|o| (o.path.clone(), o.sha256.clone()))
        .collect()
}

/// GM-2's publications of three months from day digests kept under `kept` and from
/// the plays, in order (each month's history is the earlier ones' editions), equal.
async fn publish_from_digests_and_plays_into(data: &Path, kept: &Path) {
    use chart_core::{Location, publish};
    let in_effect = Methodology {
        effective_from: Some("2024-10".into()),
        ..Methodology::gm2()
    };
    let from_plays = GoldenMic::open(data, in_effect.clone()).await.unwrap();
    let by_day = GoldenMic::open(data, in_effect)
        .await
        .unwrap()
        .with_day_digests(Some(Location::local(kept).unwrap()));
    let (plays_out, days_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for month in ["2024-10", "2024-11", "2024-12"] {
        let period: Period = month.parse().unwrap();
        let expected = publish(
            &from_plays,
            &period,
            &Location::local(plays_out.path()).unwrap(),
        )
        .await
        .unwrap();
        let published = publish(&by_day, &period, &Location::local(days_out.path()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            output_files(&published.manifest),
            output_files(&expected.manifest),
            "{month}"
        );
    }
}

/// [`publish_from_digests_and_plays_into`] a new directory, returned.
async fn publish_from_digests_and_plays(data: &Path) -> tempfile::TempDir {
    let kept = tempfile::tempdir().unwrap();
    publish_from_digests_and_plays_into(data, kept.path()).await;
    kept
}

/// The files of GM-2's digests named `name` under `kept`.
fn screened_digest_files(kept: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for unit in std::fs::read_dir(kept).unwrap() {
        for dir in std::fs::read_dir(unit.unwrap().path()).unwrap() {
            let dir = dir.unwrap().path();
            if dir.is_dir()
                && dir
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("screened-")
            {
                found.push(dir.join(name));
            }
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_digests_publish_the_same_files_as_the_plays() {
    use chart_core::{Location, publish};
    let data = support::fixture_copy_of(root());
    let kept = publish_from_digests_and_plays(data.path()).await;
    // One GM-2 digest per partition, and the publications read them: a damaged one is
    // named.
    let entries = screened_digest_files(kept.path(), "entries.arrow");
    let partitions = std::fs::read_dir(data.path().join("plays"))
        .unwrap()
        .count();
    assert_eq!(entries.len(), partitions);
    std::fs::write(&entries[entries.len() / 2], b"not an Arrow file").unwrap();
    let engine = GoldenMic::open(
        data.path(),
        Methodology {
            effective_from: Some("2024-10".into()),
            ..Methodology::gm2()
        },
    )
    .await
    .unwrap()
    .with_day_digests(Some(Location::local(kept.path()).unwrap()));
    let out = tempfile::tempdir().unwrap();
    let error = publish(
        &engine,
        &"2024-12".parse().unwrap(),
        &Location::local(out.path()).unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("entries.arrow"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_split_across_partitions_is_screened_from_its_plays() {
    // Every other play of 2024-12-01 (whose plays are all sent again 2 s later under new
    // ids) written into the next day's partition under new event ids, and the day's
    // re-sent copies dropped, so that the two partitions share no event and are
    // digested apart: that
    // business day's room-days are in two partitions' digests, which alone would miss
    // the re-sends split from their first copy. So December is counted from its plays,
    // and the publications are still the same.
    let data = support::fixture_copy_of(root());
    let plays = data.path().join("plays");
    let mut days: Vec<_> = std::fs::read_dir(&plays)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|d| d.to_str().unwrap().contains("date=2024-12-"))
        .collect();
    days.sort();
    let (day, next) = (&days[0], &days[1]);
    assert!(day.ends_with("date=2024-12-01"), "{day:?}");
    for name in ["part-0.parquet", "manipulation.parquet"] {
        let batch = read_rows(&day.join(name));
        let even: arrow::array::BooleanArray =
            (0..batch.num_rows()).map(|i| Some(i % 2 == 0)).collect();
        let odd = arrow::compute::not(&even).unwrap();
        let part = |mask| arrow::compute::filter_record_batch(&batch, mask).unwrap();
        support::write_batch(&day.join(name), &part(&even));
        support::write_batch(
            &next.join(format!("split-{name}")),
            &new_event_ids(&part(&odd)),
        );
    }
    std::fs::remove_file(day.join("part-1-resent.parquet")).unwrap();
    publish_from_digests_and_plays(data.path()).await;
}

/// `batch` with each `event_id` prefixed by `split-`.
fn new_event_ids(batch: &arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    with_strings(batch, "event_id", |_, id| {
        id.map(|id| format!("split-{id}"))
    })
}

/// `batch` with `column` (text) replaced by `f(row, value)`, as `Utf8`.
fn with_strings(
    batch: &arrow::array::RecordBatch,
    column: &str,
    f: impl Fn(usize, Option<&str>) -> Option<String>,
) -> arrow::array::RecordBatch {
    use arrow::array::{Array, AsArray, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let at = batch.schema().index_of(column).unwrap();
    let values = arrow::compute::cast(batch.column(at), &DataType::Utf8).unwrap();
    let values = values.as_string::<i32>();
    let replaced: StringArray = (0..values.len())
        .map(|i| f(i, values.is_valid(i).then(|| values.value(i))))
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[at] = std::sync::Arc::new(replaced);
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[at] = Field::new(column, DataType::Utf8, true);
    arrow::array::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap()
}

/// The rows of a parquet file, in one batch.
fn read_rows(path: &Path) -> arrow::array::RecordBatch {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_vendor_day_sharing_a_room_day_is_screened_from_its_plays() {
    // On the spiking vendor's held day, one play of another venue's busy room sent by
    // that vendor: the room-day has two vendors, and only one of them is held (its
    // venue is not), which day digests (by room-day) cannot split. So December is
    // counted from its plays, and the publications are still the same.
    let data = support::fixture_copy_of(root());
    let injected = &manipulated().1;
    let day = data
        .path()
        .join("plays")
        .join(format!("date={}", injected.spike_day));
    let text = |batch: &arrow::array::RecordBatch, column: &str| -> Vec<Option<String>> {
        let values = arrow::compute::cast(
            batch.column_by_name(column).unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let values = arrow::array::AsArray::as_string::<i32>(&values);
        (0..arrow::array::Array::len(values))
            .map(|i| arrow::array::Array::is_valid(values, i).then(|| values.value(i).to_string()))
            .collect()
    };
    let spikes = read_rows(&day.join("manipulation.parquet"));
    let (venues, vendors) = (text(&spikes, "venue_id"), text(&spikes, "vod_vendor"));
    let spiking_vendor = (0..spikes.num_rows())
        .find(|&i| venues[i].as_deref() == Some(injected.spike_venue.as_str()))
        .and_then(|i| vendors[i].clone())
        .unwrap();
    let plays = read_rows(&day.join("part-0.parquet"));
    let rooms: Vec<(Option<String>, Option<String>)> = text(&plays, "venue_id")
        .into_iter()
        .zip(text(&plays, "room_id"))
        .collect();
    let busy = (0..rooms.len())
        .find(|&i| {
            rooms[i].0.as_deref() != Some(injected.spike_venue.as_str())
                && rooms.iter().filter(|r| **r == rooms[i]).count() > 3
        })
        .unwrap();
    let changed = with_strings(&plays, "vod_vendor", |i, vendor| {
        if i == busy {
            Some(spiking_vendor.clone())
        } else {
            vendor.map(str::to_string)
        }
    });
    support::write_batch(&day.join("part-0.parquet"), &changed);
    publish_from_digests_and_plays(data.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_song_the_catalogue_drops_is_screened_again() {
    // GM-2's digests count valid plays, of known songs: once a charted song leaves the
    // catalogue, the digests of the days it was played are computed again (GM-1's are
    // kept), and the publications are still the same as from the plays.
    let data = support::fixture_copy_of(root());
    let kept = publish_from_digests_and_plays(data.path()).await;
    let before = screened_digest_files(kept.path(), "screened.json").len();
    let songs_file = data.path().join("songs").join("songs.parquet");
    let songs = read_rows(&songs_file);
    let ids = arrow::compute::cast(
        songs.column_by_name("song_id").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let ids = arrow::array::AsArray::as_string::<i32>(&ids);
    let engine = gm2(data.path()).await;
    let hot = engine
        .screened(&"2024-11".parse().unwrap())
        .await
        .unwrap()
        .hot;
    let dropped = hot[0].song_id.clone();
    let keep: arrow::array::BooleanArray = (0..songs.num_rows())
        .map(|i| Some(ids.value(i) != dropped))
        .collect();
    support::write_batch(
        &songs_file,
        &arrow::compute::filter_record_batch(&songs, &keep).unwrap(),
    );
    publish_from_digests_and_plays_into(data.path(), kept.path()).await;
    let after = screened_digest_files(kept.path(), "screened.json").len();
    assert!(after > before + 20, "{before} then {after}");
}
