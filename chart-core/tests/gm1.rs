//! GM-1 charts, data quality and coverage computed by the SQL of `queries/`,
//! compared row for row with the plain-Rust reference implementation.

mod support;

use chart_core::{ChartKind, GoldenMic, Methodology, Period, PeriodKind};
use support::reference::{self, Grain, Rules};
use support::{chart_rows, compare_period, fixture};

/// Every period's results, on an engine that materialised both period kinds and on
/// one that materialised only the period's kind (as `publish` does).
async fn compare_everything(methodology: Methodology, rules: Rules) {
    let data = reference::load(fixture());
    let both_kinds = GoldenMic::open(fixture(), methodology.clone())
        .await
        .unwrap();
    let both_kinds = both_kinds.materialize(None).await.unwrap();
    for p in ["2024-10", "2024-11", "2024-12", "2024"] {
        let period: Period = p.parse().unwrap();
        let one_kind = GoldenMic::open(fixture(), methodology.clone())
            .await
            .unwrap();
        let one_kind = one_kind.materialize(Some(period.kind())).await.unwrap();
        for engine in [&both_kinds, &one_kind] {
            compare_period(engine, &data, &rules, &period).await;
        }
    }
}

/// Materialising gives a new engine: the engine it came from still answers for every
/// period, and the new one refuses periods of a kind it did not keep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn materialize_leaves_the_engine_it_came_from_unchanged() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let (year, month): (Period, Period) = ("2024".parse().unwrap(), "2024-11".parse().unwrap());
    let year_chart = engine.chart(ChartKind::Hot, &year).await.unwrap();
    assert!(year_chart.num_rows() > 0);
    let months = engine.materialize(Some(PeriodKind::Month)).await.unwrap();
    assert_eq!(
        engine.chart(ChartKind::Hot, &year).await.unwrap(),
        year_chart
    );
    let error = months
        .chart(ChartKind::Hot, &year)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("2024: this engine was materialised for month periods only"),
        "{error}"
    );
    assert_eq!(
        months.chart(ChartKind::Hot, &month).await.unwrap(),
        engine.chart(ChartKind::Hot, &month).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gm1_matches_the_reference_implementation() {
    compare_everything(Methodology::default(), Rules::GM1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_parameters_match_the_reference_implementation() {
    let methodology = Methodology {
        top_n: 25,
        room_cap: 2,
        min_played_ms: 60_000,
        new_song_window_days: 200,
        day_start_minutes: 5 * 60,
        ..Methodology::default()
    };
    let rules = Rules {
        top_n: 25,
        room_cap: 2,
        min_played_ms: 60_000,
        new_song_window_days: 200,
        day_start_hours: 5,
    };
    compare_everything(methodology, rules).await;
}

/// Every song's figures, not only the charted ones: `song_period_stats` against the
/// reference, and against the analyst view it no longer reads (`room_period_plays`,
/// aggregated per song), for both parameter sets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_songs_figures_match_the_reference() {
    let data = reference::load(fixture());
    let other = Methodology {
        room_cap: 2,
        day_start_minutes: 5 * 60,
        ..Methodology::default()
    };
    let other_rules = Rules {
        room_cap: 2,
        day_start_hours: 5,
        ..Rules::GM1
    };
    for (methodology, rules) in [(Methodology::default(), Rules::GM1), (other, other_rules)] {
        let engine = GoldenMic::open(fixture(), methodology).await.unwrap();
        for (kind, grain) in [("month", Grain::Month), ("year", Grain::Year)] {
            let mut want: Vec<(String, String, i64, i64, i64, i64)> =
                reference::song_stats(&data, &rules, grain)
                    .into_iter()
                    .flat_map(|(period, songs)| {
                        songs
                            .into_iter()
                            .map(move |(song, (score, plays, venues, rooms))| {
                                (period.clone(), song, score, plays, venues, rooms)
                            })
                    })
                    .collect();
            want.sort();
            assert!(want.len() > 1000, "{kind}: {} songs", want.len());
            for view in [
                format!(
                    "SELECT period, song_id, score, plays, venues, rooms FROM song_period_stats
                     WHERE period_kind = '{kind}'"
                ),
                format!(
                    "SELECT period, song_id, SUM(score), SUM(plays), COUNT(DISTINCT venue_id),
                            COUNT(DISTINCT (venue_id, room_id))
                     FROM room_period_plays WHERE period_kind = '{kind}' GROUP BY period, song_id"
                ),
            ] {
                let got = song_figures(&engine, &format!("{view} ORDER BY 1, 2")).await;
                assert_eq!(got.len(), want.len(), "{kind}: rows of {view}");
                for (g, w) in got.iter().zip(&want) {
                    assert_eq!(g, w, "{kind}: {view}");
                }
            }
        }
    }
}

async fn song_figures(engine: &GoldenMic, sql: &str) -> Vec<(String, String, i64, i64, i64, i64)> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let batches = engine
        .context()
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let text = |i: usize| b.column(i).as_string::<i32>().clone();
        let number = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let (period, song) = (text(0), text(1));
        let (score, plays, venues, rooms) = (number(2), number(3), number(4), number(5));
        for r in 0..b.num_rows() {
            rows.push((
                period.value(r).to_string(),
                song.value(r).to_string(),
                score.value(r),
                plays.value(r),
                venues.value(r),
                rooms.value(r),
            ));
        }
    }
    rows
}

/// The fixture really contains what the rules are about, so the comparison above
/// exercises each of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_exercises_every_rule() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let november: Period = "2024-11".parse().unwrap();
    let q = engine.data_quality(&november).await.unwrap();
    assert!(q.duplicate_copies > 50, "{q:?}");
    assert!(q.short_play > 300, "{q:?}");
    assert!(q.unknown_song > 0 && q.unknown_venue > 0, "{q:?}");
    assert!(q.missing_value >= 4, "{q:?}");
    assert!(q.over_room_cap > 10, "{q:?}");
    let hot = chart_rows(&engine.chart(ChartKind::Hot, &november).await.unwrap());
    // Ties on score decided by venues, rooms or song_id.
    assert!(
        hot.windows(2).any(|w| w[0].score == w[1].score),
        "no ties on score"
    );
    let dec = chart_rows(
        &engine
            .chart(ChartKind::Hot, &"2024-12".parse().unwrap())
            .await
            .unwrap(),
    );
    for movement in ["NEW", "UP", "DOWN"] {
        assert!(
            dec.iter().any(|r| r.movement == movement),
            "no {movement} in December"
        );
    }
    // A song back on a chart after a period off it (RE), in some chart of the months.
    let back = engine
        .context()
        .sql(
            "SELECT count(*) FROM chart_entries \
             WHERE period_kind = 'month' AND movement = 'RE' AND prev_rank IS NULL",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let back = back[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert!(back > 0, "no RE in the months' charts");
}

/// Spot checks of the hand-made traps through the analyst views.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_follow_the_rules() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let rows = engine
        .context()
        .sql(
            "SELECT event_id, copies, played_ms, CAST(business_day AS VARCHAR) AS day, exclusion \
             FROM classified_plays WHERE event_id LIKE 'trap-%' ORDER BY event_id",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    // One line per event: "event_id copies played_ms day exclusion".
    let text = arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string();
    let lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("| trap-"))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for line in [
        "trap-29999 1 29999 2024-11-15 short_play",
        "trap-30000 1 30000 2024-11-15",
        "trap-dec 1 200000 2024-12-01",
        "trap-dup 3 200000 2024-11-15",
        "trap-nosong 1 200000 2024-11-15 missing_value",
        "trap-novenue 1 200000 2024-11-15 missing_value",
        "trap-nov 1 200000 2024-11-30",
        "trap-micros-4 1 180000 2024-10-20",
    ] {
        assert!(lines.iter().any(|l| l == line), "missing {line} in\n{text}");
    }
    let capped = engine
        .context()
        .sql("SELECT plays, score FROM room_day_plays WHERE room_id = 'R04' AND business_day = DATE '2024-11-15' AND plays >= 6")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&capped)
        .unwrap()
        .to_string();
    assert!(text.contains("| 6     | 3     |"), "{text}");
}

/// `resent_events` groups by id only the plays whose `event_bucket` is repeated: two
/// different ids in one bucket are each a single event, and a repeated bucket with
/// one real re-sent event in it is found exactly.
#[tokio::test]
async fn resent_events_are_exact_when_ids_share_a_bucket() {
    let root = support::fixture_copy();
    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    // Two ids in one bucket: the fixture's few plays get 2^16 buckets, which 200,000
    // ids fill with pairs and more.
    let pair = engine
        .context()
        .sql(
            "SELECT min(id) AS a, max(id) AS b FROM (
                 SELECT 'bucket-' || CAST(value AS VARCHAR) AS id FROM generate_series(1, 200000)
             ) GROUP BY event_bucket(id) HAVING count(*) = 2 ORDER BY a LIMIT 1",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&pair)
        .unwrap()
        .to_string();
    let ids: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("| bucket-"))
        .expect("a pair of ids sharing a bucket")
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let (venue, song) = support::known_ids(root.path());
    let play = |event_id: &'static str, minute: i64| support::TrapPlay {
        event_id: Some(event_id),
        venue_id: Some(&venue),
        room_id: "R07",
        song_id: Some(&song),
        started_at: support::local_ms("2024-11-15 20:00:00") + minute * 60_000,
        played_ms: 200_000,
    };
    let a: &'static str = Box::leak(ids[0].to_string().into_boxed_str());
    let b: &'static str = Box::leak(ids[1].to_string().into_boxed_str());
    support::write_batch(
        &root
            .path()
            .join("plays/date=2024-11-15/part-buckets.parquet"),
        &support::plays_batch(&[play(a, 0), play(b, 1), play(a, 2)]),
    );
    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let query = |sql: String| {
        let ctx = engine.context().clone();
        async move {
            let rows = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&rows)
                .unwrap()
                .to_string()
        }
    };
    let resent = query(format!(
        "SELECT event_id, copies FROM resent_events WHERE event_id IN ('{a}', '{b}')"
    ))
    .await;
    assert!(resent.contains(&format!("| {a} | 2      |")), "{resent}");
    assert!(!resent.contains(b), "{resent}");
    // The same set as the plain aggregate over every play.
    let difference = query(
        "SELECT COUNT(*) AS differences FROM ((SELECT event_id, copies FROM resent_events
          EXCEPT
          SELECT event_id, COUNT(*) FROM plays WHERE event_id IS NOT NULL
          GROUP BY event_id HAVING COUNT(*) > 1)
         UNION ALL
         (SELECT event_id, COUNT(*) FROM plays WHERE event_id IS NOT NULL
          GROUP BY event_id HAVING COUNT(*) > 1
          EXCEPT
          SELECT event_id, copies FROM resent_events))"
            .to_string(),
    )
    .await;
    assert!(difference.contains("| 0           |"), "{difference}");
}
