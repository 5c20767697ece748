//! D-1, the distribution of licence fees, compared row for row with the plain-Rust
//! reference (`support/distribution_reference.rs`), its edge cases one by one, the
//! sample data's year against the annual report, and its publication.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, Date32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use chart_core::distribution::fees::fee_rows;
use chart_core::methodology::money::Share;
use chart_core::publication::{Product, history_of, verify_of};
use chart_core::{
    DistributionMethodology, GoldenMic, InputTables, Location, Methodology, Outcome, Period,
    publish_distribution, session_builder,
};
use datafusion::prelude::SessionContext;
use support::distribution_reference::{self as reference_d1, LineRow, Params, VenueRow};
use support::reference::{self, Rules};
use support::{TrapPlay, fixture, fixture_copy, local_ms, plays_batch, write_batch};

fn text(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).unwrap().as_string::<i32>();
    column.iter().map(|v| v.map(str::to_string)).collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch.column_by_name(name).unwrap();
    column.as_primitive::<Int64Type>().iter().collect()
}

fn published_lines(lines: &RecordBatch) -> BTreeMap<String, LineRow> {
    let (songs, holders) = (text(lines, "song_id"), text(lines, "rights_holder_id"));
    let (counted, direct, sampled, amount) = (
        ints(lines, "counted_plays"),
        ints(lines, "direct_fen"),
        ints(lines, "sampled_fen"),
        ints(lines, "amount_fen"),
    );
    (0..lines.num_rows())
        .map(|i| {
            assert_eq!(amount[i], Some(direct[i].unwrap() + sampled[i].unwrap()));
            (
                songs[i].clone().unwrap(),
                LineRow {
                    holder: holders[i].clone(),
                    counted: counted[i].unwrap(),
                    direct: direct[i].unwrap(),
                    sampled: sampled[i].unwrap(),
                },
            )
        })
        .collect()
}

fn published_venues(venues: &RecordBatch) -> Vec<VenueRow> {
    let t = |n| text(venues, n);
    let n = |c| ints(venues, c);
    let (month, venue, province, basis) = (t("month"), t("venue_id"), t("province"), t("basis"));
    let columns = [
        "fee_rows",
        "collected_fen",
        "management_fee_fen",
        "works_share_fen",
        "distributed_fen",
        "reserve_fen",
        "counted_plays",
    ]
    .map(n);
    (0..venues.num_rows())
        .map(|i| {
            let v = |c: usize| columns[c][i].unwrap();
            VenueRow {
                month: month[i].clone().unwrap(),
                venue_id: venue[i].clone().unwrap(),
                province: province[i].clone(),
                basis: basis[i].clone().unwrap(),
                fee_rows: v(0),
                collected: v(1),
                management: v(2),
                works: v(3),
                distributed: v(4),
                reserve: v(5),
                counted: v(6),
            }
        })
        .collect()
}

/// The reconciliation's figures by column name.
fn reconciliation(batch: &RecordBatch) -> BTreeMap<String, i64> {
    assert_eq!(batch.num_rows(), 1);
    batch
        .schema()
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Int64)
        .map(|f| (f.name().clone(), ints(batch, f.name())[0].unwrap()))
        .collect()
}

/// The library's distribution of `period` against the reference, row for row, and
/// every sum that must hold to the fen.
async fn compare(
    root: &Path,
    methodology: &DistributionMethodology,
    params: &Params,
    rules: &Rules,
    period: &str,
) {
    let data = reference::load(root);
    let fees = reference_d1::load_fees(root);
    let want = reference_d1::distribute(&data, rules, &fees, params, period);
    let engine = GoldenMic::open(root, methodology.counting.clone())
        .await
        .unwrap();
    let got = engine
        .distribution(methodology, &period.parse().unwrap())
        .await
        .unwrap();
    assert!(
        !want.lines.is_empty() && !want.venues.is_empty(),
        "{period}"
    );
    let lines = published_lines(&got.lines);
    assert_eq!(lines.len(), want.lines.len(), "{period}: songs");
    for (song, line) in &want.lines {
        assert_eq!(lines.get(song), Some(line), "{period}: song {song}");
    }
    let venues = published_venues(&got.venue_fees);
    assert_eq!(venues.len(), want.venues.len(), "{period}: venues");
    for (g, w) in venues.iter().zip(&want.venues) {
        assert_eq!(g, w, "{period}: venue");
        assert_eq!(
            g.collected,
            g.management + g.works + g.distributed + g.reserve,
            "{period}: {g:?}"
        );
    }

    // The totals: from the reference's rows, and adding up to what was collected.
    let r = reconciliation(&got.reconciliation);
    let sum = |f: fn(&VenueRow) -> i64| want.venues.iter().map(f).sum::<i64>();
    let holder = |direct: bool| {
        want.lines
            .values()
            .filter(|l| l.holder.is_some())
            .map(|l| if direct { l.direct } else { l.sampled })
            .sum::<i64>()
    };
    let no_holder: i64 = want
        .lines
        .values()
        .filter(|l| l.holder.is_none())
        .map(|l| l.direct + l.sampled)
        .sum();
    let reserve_of = |basis: &str| {
        want.venues
            .iter()
            .filter(|v| v.basis == basis)
            .map(|v| v.reserve)
            .sum::<i64>()
    };
    assert_eq!(r["collected_fen"], sum(|v| v.collected));
    assert_eq!(r["management_fee_fen"], sum(|v| v.management));
    assert_eq!(r["works_share_fen"], sum(|v| v.works));
    assert_eq!(r["distributed_direct_fen"], holder(true));
    assert_eq!(r["distributed_sampled_fen"], holder(false));
    assert_eq!(r["reserve_no_holder_fen"], no_holder);
    assert_eq!(r["reserve_unknown_venue_fen"], reserve_of("unknown_venue"));
    assert_eq!(r["reserve_no_plays_fen"], reserve_of("no_plays"));
    assert_eq!(
        r["collected_fen"],
        r["management_fee_fen"]
            + r["works_share_fen"]
            + r["distributed_direct_fen"]
            + r["distributed_sampled_fen"]
            + r["reserve_fen"]
    );

    // Statements: the works payee, then one row per holder of the reference's lines.
    let s = &got.statements;
    let (payees, kinds, amounts) = (
        text(s, "payee_id"),
        text(s, "payee_kind"),
        ints(s, "amount_fen"),
    );
    assert_eq!(
        (payees[0].as_deref(), kinds[0].as_deref()),
        (Some(methodology.works_payee.as_str()), Some("works"))
    );
    assert_eq!(amounts[0], Some(r["works_share_fen"]));
    let mut by_holder: BTreeMap<String, i64> = BTreeMap::new();
    for line in want.lines.values() {
        if let Some(h) = &line.holder {
            *by_holder.entry(h.clone()).or_default() += line.direct + line.sampled;
        }
    }
    let statements: BTreeMap<String, i64> = (1..s.num_rows())
        .map(|i| (payees[i].clone().unwrap(), amounts[i].unwrap()))
        .collect();
    assert_eq!(statements, by_holder, "{period}: statements");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_equals_the_reference_on_generated_data() {
    for period in ["2024-10", "2024-11", "2024-12", "2024"] {
        compare(
            fixture(),
            &DistributionMethodology::default(),
            &Params::d1(),
            &Rules::GM1,
            period,
        )
        .await;
    }
}

/// Writes `fees/extra.parquet` with the given rows (venue, month, line, amount).
fn write_fees(root: &Path, name: &str, rows: &[(&str, &str, &str, Option<i64>)]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("venue_id", DataType::Utf8, true),
        Field::new("period", DataType::Utf8, true),
        Field::new("business_line", DataType::Utf8, true),
        Field::new("amount_fen", DataType::Int64, true),
        Field::new("collected_on", DataType::Date32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(Date32Array::from(vec![None; rows.len()])),
        ],
    )
    .unwrap();
    write_batch(&root.join("fees").join(name), &batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_equals_the_reference_with_other_parameters() {
    let root = fixture_copy();
    let (known, _) = support::known_ids(root.path());
    // An unknown venue, other business lines, and an amount of 10^13 fen.
    write_fees(
        root.path(),
        "extra.parquet",
        &[
            ("V999999", "2024-11", "ktv", Some(123_457)),
            (&known, "2024-11", "vod", Some(10_000_000_000_000)),
            (&known, "2024-11", "mini_ktv", Some(1)),
            (&known, "2024-12", "bgm", Some(99_999)),
        ],
    );
    let counting = Methodology {
        room_cap: 1,
        min_played_ms: 60_000,
        ..Methodology::default()
    };
    let rules = Rules {
        room_cap: 1,
        min_played_ms: 60_000,
        ..Rules::GM1
    };
    let share = |s: &str| s.parse::<Share>().unwrap();
    let mut methodology = DistributionMethodology {
        works_share: share("1/3"),
        works_payee: "WORKS".into(),
        counting,
        ..DistributionMethodology::default()
    };
    methodology
        .management_fee
        .insert("ktv".into(), share("10%"));
    methodology.management_fee.insert("vod".into(), share("0%"));
    methodology
        .management_fee
        .insert("bgm".into(), share("25%"));
    let mut params = Params::d1();
    params.management.insert("ktv".into(), (10, 100));
    params.management.insert("vod".into(), (0, 100));
    params.management.insert("bgm".into(), (25, 100));
    params.works = (1, 3);
    for period in ["2024-11", "2024-12", "2024"] {
        compare(root.path(), &methodology, &params, &rules, period).await;
    }

    // Without a rate for `bgm`, D-1 refuses the row and names it.
    let engine = GoldenMic::open(root.path(), methodology.counting.clone())
        .await
        .unwrap();
    methodology.management_fee.remove("bgm");
    let error = engine
        .distribution(&methodology, &"2024-12".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with(
            "fees/extra.parquet: row 4, column `business_line`: `bgm` has no management fee in D-1 (it has ktv, mini_ktv, vod)"
        ),
        "{error}"
    );
}

/// The sample data's fees for 2024 are the report's KTV income, and D-1 keeps the
/// report's management-fee ratio: 379.54 million yuan, 27 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_year_reconciles_with_the_annual_report() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let year = engine
        .distribution(
            &DistributionMethodology::default(),
            &"2024".parse().unwrap(),
        )
        .await
        .unwrap();
    let r = reconciliation(&year.reconciliation);
    assert_eq!(r["collected_fen"], 37_954_000_000); // 37954万元
    assert_eq!(
        text(&year.reconciliation, "collected_yuan")[0].as_deref(),
        Some("379540000.00")
    );
    // Each fee row's split is exact to within one fen of 27 %.
    let exact = r["collected_fen"] as i128 * 27;
    let management = r["management_fee_fen"] as i128 * 100;
    assert!(
        (management - exact).abs() <= 100 * r["fee_rows"] as i128,
        "{management} vs {exact}"
    );
    assert_eq!(
        format!(
            "{:.2}%",
            r["management_fee_fen"] as f64 * 100.0 / r["collected_fen"] as f64
        ),
        "27.00%"
    );
    // The works share of the net is the report's 116.85 / 324.89, to the fen per venue.
    let net = (r["collected_fen"] - r["management_fee_fen"]) as i128;
    let works = r["works_share_fen"] as i128;
    assert!((works * 32489 - net * 11685).abs() <= 32489 * r["fee_rows"] as i128);
    // Months of 2024 without plays in the sample put their recordings share in reserve.
    assert!(r["reserve_no_plays_fen"] > 0);
    assert!(r["distributed_direct_fen"] > 0 && r["distributed_sampled_fen"] > 0);
}

/// A small market in memory: province P1 with venue VA (plays) and VB (none), P2 with
/// VC (none); songs S1 to S3 of holders H1 to H3, S4 without a holder.
async fn small_market(plays: &[(&str, &str, &str)]) -> GoldenMic {
    let rows: Vec<TrapPlay> = plays
        .iter()
        .map(|&(event, venue, song)| TrapPlay {
            event_id: Some(event),
            venue_id: Some(venue),
            room_id: "R1",
            song_id: Some(song),
            started_at: local_ms("2024-11-15 20:00:00"),
            played_ms: 200_000,
        })
        .collect();
    let songs = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("song_id", DataType::Utf8, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("artist", DataType::Utf8, false),
            Field::new("release_date", DataType::Date32, true),
            Field::new("rights_holder_id", DataType::Utf8, true),
            Field::new("language", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["S1", "S2", "S3", "S4"])),
            Arc::new(StringArray::from(vec!["一", "二", "三", "四"])),
            Arc::new(StringArray::from(vec!["A", "B", "C", "D"])),
            Arc::new(Date32Array::from(vec![Some(19_000); 4])),
            Arc::new(StringArray::from(vec![
                Some("H1"),
                Some("H2"),
                Some("H3"),
                None,
            ])),
            Arc::new(StringArray::from(vec![Some("zh"); 4])),
        ],
    )
    .unwrap();
    let venues = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("venue_id", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("province", DataType::Utf8, false),
            Field::new("city", DataType::Utf8, false),
            Field::new("rooms", DataType::Int32, false),
            Field::new("licensed_since", DataType::Date32, true),
            Field::new("connected_on", DataType::Date32, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["VA", "VB", "VC"])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec!["P1", "P1", "P2"])),
            Arc::new(StringArray::from(vec!["c1", "c1", "c2"])),
            Arc::new(arrow::array::Int32Array::from(vec![10, 10, 10])),
            Arc::new(Date32Array::from(vec![Some(19_000); 3])),
            Arc::new(Date32Array::from(vec![Some(19_000), None, None])),
        ],
    )
    .unwrap();
    let inputs =
        InputTables::from_batches(vec![plays_batch(&rows)], vec![songs], vec![venues]).unwrap();
    GoldenMic::attach(
        SessionContext::new_with_state(session_builder().build()),
        inputs,
        Methodology::default(),
    )
    .await
    .unwrap()
}

/// Fee rows in memory: (venue, month, amount), business line `ktv`.
fn fees(rows: &[(&str, &str, i64)]) -> Vec<chart_core::distribution::FeeRow> {
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("venue_id", DataType::Utf8, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("business_line", DataType::Utf8, false),
            Field::new("amount_fen", DataType::Int64, false),
            Field::new("collected_on", DataType::Date32, true),
        ])),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "ktv"))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Date32Array::from(vec![None; rows.len()])),
        ],
    )
    .unwrap();
    fee_rows("in-memory fees", &batch, 0).unwrap()
}

/// D-1 without management fee or works share: every fen goes to the recordings.
fn all_to_recordings() -> DistributionMethodology {
    let mut methodology = DistributionMethodology {
        works_share: "0%".parse().unwrap(),
        ..DistributionMethodology::default()
    };
    methodology
        .management_fee
        .insert("ktv".into(), "0%".parse().unwrap());
    methodology
}

/// (song, direct, sampled) of the lines, by song.
fn amounts(lines: &RecordBatch) -> Vec<(String, i64, i64)> {
    let mut rows: Vec<(String, i64, i64)> = published_lines(lines)
        .into_iter()
        .map(|(song, l)| (song, l.direct, l.sampled))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fen_over_three_songs_goes_to_the_first_song_id() {
    let engine = small_market(&[("e1", "VA", "S3"), ("e2", "VA", "S1"), ("e3", "VA", "S2")]).await;
    let november: Period = "2024-11".parse().unwrap();
    // One fen: to S1; two fen: S1 and S2 (equal remainders, in song order).
    for (fee, want) in [(1, [1, 0, 0]), (2, [1, 1, 0])] {
        let d = engine
            .distribution_of(
                &all_to_recordings(),
                &november,
                &fees(&[("VA", "2024-11", fee)]),
            )
            .await
            .unwrap();
        let got: Vec<i64> = amounts(&d.lines)
            .into_iter()
            .map(|(_, direct, _)| direct)
            .collect();
        assert_eq!(got, want, "{fee} fen");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venues_without_plays_are_sampled_from_their_province_or_the_country() {
    // VA sang S1 three times (the room cap) and S2 once; S1 twice more is over the cap.
    let engine = small_market(&[
        ("e1", "VA", "S1"),
        ("e2", "VA", "S1"),
        ("e3", "VA", "S1"),
        ("e4", "VA", "S1"),
        ("e5", "VA", "S1"),
        ("e6", "VA", "S2"),
    ])
    .await;
    let d = engine
        .distribution_of(
            &all_to_recordings(),
            &"2024-11".parse().unwrap(),
            &fees(&[
                ("VA", "2024-11", 400),
                ("VB", "2024-11", 800), // P1: no plays at VB, sampled from VA
                ("VC", "2024-11", 80),  // P2: no plays in the province, the country's
                ("VX", "2024-11", 7),   // not in the register
            ]),
        )
        .await
        .unwrap();
    let basis: Vec<(String, String)> = text(&d.venue_fees, "venue_id")
        .into_iter()
        .zip(text(&d.venue_fees, "basis"))
        .map(|(v, b)| (v.unwrap(), b.unwrap()))
        .collect();
    assert_eq!(
        basis,
        [
            ("VA".into(), "direct".into()),
            ("VB".into(), "sampled_province".into()),
            ("VC".into(), "sampled_national".into()),
            ("VX".into(), "unknown_venue".into()),
        ]
    );
    // Counted 3 : 1. VA's 400 directly; VB's 800 and VC's 80 pooled by province.
    assert_eq!(
        amounts(&d.lines),
        [("S1".into(), 300, 600 + 60), ("S2".into(), 100, 200 + 20)]
    );
    let r = reconciliation(&d.reconciliation);
    assert_eq!(r["reserve_unknown_venue_fen"], 7);
    assert_eq!(r["collected_fen"], 1287);
    assert_eq!(r["counted_plays"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn songs_without_a_holder_and_months_without_plays_go_to_the_reserve() {
    let engine = small_market(&[("e1", "VA", "S4"), ("e2", "VA", "S4")]).await;
    let d = engine
        .distribution_of(
            &DistributionMethodology::default(),
            &"2024".parse().unwrap(),
            &fees(&[
                ("VA", "2024-11", 1_000_000),
                ("VB", "2024-11", 500_000),
                ("VA", "2024-12", 300_000), // no plays anywhere in December
            ]),
        )
        .await
        .unwrap();
    let r = reconciliation(&d.reconciliation);
    assert_eq!(
        r["distributed_direct_fen"] + r["distributed_sampled_fen"],
        0
    );
    // Each venue's fee less 27 %, less the works share: November's to S4, the song
    // without a holder (VA's directly, VB's sampled from VA), December's unplayed.
    let recordings = |fee: u64| {
        let (_, net) = "27%".parse::<Share>().unwrap().split(fee);
        "116.85/324.89".parse::<Share>().unwrap().split(net).1 as i64
    };
    assert_eq!(
        r["reserve_no_holder_fen"],
        recordings(1_000_000) + recordings(500_000)
    );
    assert_eq!(r["reserve_no_plays_fen"], recordings(300_000));
    assert_eq!(
        r["collected_fen"],
        r["management_fee_fen"] + r["works_share_fen"] + r["reserve_fen"]
    );
    // Statements: the works payee only; the lines show S4 without a holder.
    assert_eq!(d.statements.num_rows(), 1);
    assert_eq!(text(&d.lines, "rights_holder_id"), [None]);
    let december: Vec<_> = published_venues(&d.venue_fees)
        .into_iter()
        .filter(|v| v.month == "2024-12")
        .collect();
    assert_eq!(december.len(), 1);
    assert_eq!(december[0].basis, "no_plays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publication_is_versioned_and_verified_like_the_charts() {
    let root = fixture_copy();
    let out = tempfile::tempdir().unwrap();
    let location = Location::local(out.path()).unwrap();
    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let november: Period = "2024-11".parse().unwrap();
    let d1 = DistributionMethodology::default();
    let first = publish_distribution(&engine, &d1, &november, &location)
        .await
        .unwrap();
    assert_eq!(
        (first.outcome, first.manifest.version),
        (Outcome::Published, 1)
    );
    assert_eq!(first.manifest.product, Product::Distribution);
    assert!(first.manifest.inputs.iter().any(|i| i.table == "fees"));
    for name in ["statements", "lines", "venue_fees", "reconciliation"] {
        for ext in ["parquet", "csv", "json"] {
            assert!(
                first
                    .directory
                    .local_path()
                    .unwrap()
                    .join(format!("{name}.{ext}"))
                    .is_file()
            );
        }
    }
    let again = publish_distribution(&engine, &d1, &november, &location)
        .await
        .unwrap();
    assert_eq!(
        (again.outcome, again.manifest.version),
        (Outcome::Unchanged, 1)
    );
    assert_eq!(again.tables, first.tables);

    // A late fee is a new input: version 2, and version 1 stays readable.
    write_fees(
        root.path(),
        "late.parquet",
        &[("V000001", "2024-11", "ktv", Some(5_000))],
    );
    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let second = publish_distribution(&engine, &d1, &november, &location)
        .await
        .unwrap();
    assert_eq!(second.manifest.version, 2);
    let changes = second.manifest.changes.as_ref().unwrap();
    assert_eq!(changes.inputs_added, ["fees/late.parquet"]);
    let history = history_of(&location, Product::Distribution, &november)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    for version in [Some(1), Some(2), None] {
        verify_of(&location, Product::Distribution, &november, version)
            .await
            .unwrap();
    }
    // The charts' history is another product's.
    assert!(
        chart_core::history(&location, &november)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_function_returns_the_lines() {
    let engine = GoldenMic::open(fixture(), Methodology::default())
        .await
        .unwrap();
    let november: Period = "2024-11".parse().unwrap();
    let lines = engine
        .distribution(&DistributionMethodology::default(), &november)
        .await
        .unwrap()
        .lines;
    let sql = |q: &str| {
        let ctx = engine.context().clone();
        let q = q.to_string();
        async move {
            let batches = ctx.sql(&q).await?.collect().await?;
            Ok::<_, datafusion::error::DataFusionError>(
                arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap(),
            )
        }
    };
    let all = sql("SELECT * FROM distribution('2024-11')").await.unwrap();
    assert_eq!(all, lines);
    let holder = text(&lines, "rights_holder_id")[0].clone().unwrap();
    let one = sql(&format!(
        "SELECT song_id, amount_fen FROM distribution('2024-11', '{holder}') ORDER BY song_id"
    ))
    .await
    .unwrap();
    let want: Vec<(String, i64)> = {
        let mut rows: Vec<(String, i64)> = published_lines(&lines)
            .into_iter()
            .filter(|(_, l)| l.holder.as_deref() == Some(holder.as_str()))
            .map(|(s, l)| (s, l.direct + l.sampled))
            .collect();
        rows.sort();
        rows
    };
    let got: Vec<(String, i64)> = text(&one, "song_id")
        .into_iter()
        .zip(ints(&one, "amount_fen"))
        .map(|(s, a)| (s.unwrap(), a.unwrap()))
        .collect();
    assert_eq!(got, want);
    assert!(!got.is_empty());
    let error = sql("SELECT * FROM distribution('2024-11', 3)")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("distribution: the rights holder must be a string literal or NULL, got 3"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_fees_are_refused_with_file_row_and_column() {
    for (amount, problem) in [
        (Some(-5), "negative amount -5"),
        (None, "NULL in a required column"),
    ] {
        let root = fixture_copy();
        write_fees(
            root.path(),
            "bad.parquet",
            &[
                ("V000001", "2024-11", "ktv", Some(1)),
                ("V000002", "2024-11", "ktv", amount),
            ],
        );
        let engine = GoldenMic::open(root.path(), Methodology::default())
            .await
            .unwrap();
        let error = engine
            .distribution(
                &DistributionMethodology::default(),
                &"2024-11".parse().unwrap(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(&format!(
                "fees/bad.parquet: row 2, column `amount_fen`: {problem}"
            )),
            "{error}"
        );
    }
    // A data root without fees/.
    let root = fixture_copy();
    std::fs::remove_dir_all(root.path().join("fees")).unwrap();
    let engine = GoldenMic::open(root.path(), Methodology::default())
        .await
        .unwrap();
    let error = engine
        .distribution(
            &DistributionMethodology::default(),
            &"2024-11".parse().unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.ends_with("no fees/*.parquet: the distribution needs the licence fees collected"),
        "{error}"
    );
}
