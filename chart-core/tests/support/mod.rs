//! Shared fixtures of the integration tests.
#![allow(dead_code)]

pub mod distribution_reference;
pub mod gm2_reference;
pub mod reference;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    AsArray, Date32Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use chrono::{NaiveDateTime, TimeZone};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use chart_core::{ChartKind, GoldenMic, Period};
use reference::{ChartRow, CoverageRow, Grain, Rules};

/// Small generated data (three months, 2024-10 to 2024-12) plus a file of
/// hand-made traps; generated once per test binary.
pub fn fixture() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        sample_data::generate(&sample_data::SampleSpec::small(11), dir.path()).unwrap();
        write_traps(dir.path());
        dir
    })
    .path()
}

/// A copy of the fixture that a test may change.
pub fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(fixture(), dir.path());
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Milliseconds of a Shanghai local time.
pub fn local_ms(s: &str) -> i64 {
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap())
        .unwrap()
        .timestamp_millis()
}

/// A play row for hand-written files.
pub struct TrapPlay<'a> {
    pub event_id: Option<&'a str>,
    pub venue_id: Option<&'a str>,
    pub room_id: &'a str,
    pub song_id: Option<&'a str>,
    pub started_at: i64,
    pub played_ms: i32,
}

pub fn plays_batch(rows: &[TrapPlay]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, true),
        Field::new("venue_id", DataType::Utf8, true),
        Field::new("room_id", DataType::Utf8, true),
        Field::new("song_id", DataType::Utf8, true),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("played_ms", DataType::Int32, true),
        Field::new("vod_vendor", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.event_id))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.venue_id))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.room_id),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.song_id))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.started_at))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|r| r.played_ms),
            )),
            Arc::new(StringArray::from_iter(rows.iter().map(|_| None::<&str>))),
        ],
    )
    .unwrap()
}

pub fn write_batch(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// A venue and a song that exist in the fixture, and an old and a recent song.
pub fn known_ids(root: &Path) -> (String, String) {
    let data = reference::load_tables(root);
    let mut venues: Vec<&String> = data
        .venues
        .iter()
        .filter(|(_, v)| v.connected_on.is_some())
        .map(|(k, _)| k)
        .collect();
    venues.sort();
    let mut songs: Vec<&String> = data.songs.keys().collect();
    songs.sort();
    (venues[0].clone(), songs[0].clone())
}

/// Hand-made traps in one extra file of 2024-11-15: re-sent copies that differ,
/// rows with missing values, plays at exactly 29,999 and 30,000 ms, a room loop,
/// and plays on both sides of the 06:00 boundary at the turn of the month (filed in
/// the wrong partition on purpose: the business day comes from started_at).
fn write_traps(root: &Path) {
    let (venue, song) = known_ids(root);
    let (v, s) = (Some(venue.as_str()), Some(song.as_str()));
    let t = local_ms("2024-11-15 21:00:00");
    let mut rows = vec![
        // Three copies of one event: the earliest and then longest copy is kept.
        TrapPlay {
            event_id: Some("trap-dup"),
            venue_id: v,
            room_id: "R01",
            song_id: s,
            started_at: t,
            played_ms: 20_000,
        },
        TrapPlay {
            event_id: Some("trap-dup"),
            venue_id: v,
            room_id: "R01",
            song_id: s,
            started_at: t,
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: Some("trap-dup"),
            venue_id: v,
            room_id: "R01",
            song_id: s,
            started_at: t + 1_000,
            played_ms: 250_000,
        },
        // No event id, no song id.
        TrapPlay {
            event_id: None,
            venue_id: v,
            room_id: "R01",
            song_id: s,
            started_at: t,
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: None,
            venue_id: v,
            room_id: "R01",
            song_id: s,
            started_at: t,
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: Some("trap-nosong"),
            venue_id: v,
            room_id: "R01",
            song_id: None,
            started_at: t,
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: Some("trap-novenue"),
            venue_id: None,
            room_id: "R01",
            song_id: s,
            started_at: t,
            played_ms: 200_000,
        },
        // The threshold.
        TrapPlay {
            event_id: Some("trap-29999"),
            venue_id: v,
            room_id: "R02",
            song_id: s,
            started_at: t,
            played_ms: 29_999,
        },
        TrapPlay {
            event_id: Some("trap-30000"),
            venue_id: v,
            room_id: "R02",
            song_id: s,
            started_at: t,
            played_ms: 30_000,
        },
        // The turn of the month: 05:59:59 on 1 December is still 30 November.
        TrapPlay {
            event_id: Some("trap-nov"),
            venue_id: v,
            room_id: "R03",
            song_id: s,
            started_at: local_ms("2024-12-01 05:59:59"),
            played_ms: 200_000,
        },
        TrapPlay {
            event_id: Some("trap-dec"),
            venue_id: v,
            room_id: "R03",
            song_id: s,
            started_at: local_ms("2024-12-01 06:00:00"),
            played_ms: 200_000,
        },
    ];
    // A room loop: six plays of one song in one room and night, three count.
    let loop_ids: Vec<String> = (0..6).map(|i| format!("trap-loop-{i}")).collect();
    for (i, id) in loop_ids.iter().enumerate() {
        rows.push(TrapPlay {
            event_id: Some(id),
            venue_id: v,
            room_id: "R04",
            song_id: s,
            started_at: t + i as i64 * 240_000,
            played_ms: 200_000,
        });
    }
    write_batch(
        &root.join("plays/date=2024-11-15/part-9-traps.parquet"),
        &plays_batch(&rows),
    );
    write_other_encodings(root, &venue, &song);
}

/// Plays whose file uses microsecond timestamps with a "+00:00" zone and string
/// encodings the sample data does not use, in another column order.
fn write_other_encodings(root: &Path, venue: &str, song: &str) {
    use arrow::array::{LargeStringArray, StringViewArray, TimestampMicrosecondArray};
    let n = 5;
    let t = local_ms("2024-10-20 20:00:00") * 1000;
    let schema = Arc::new(Schema::new(vec![
        Field::new("played_ms", DataType::Int32, false),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ),
        Field::new(
            "event_id",
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::LargeUtf8)),
            false,
        ),
        Field::new("song_id", DataType::LargeUtf8, false),
        Field::new("venue_id", DataType::Utf8View, false),
        Field::new("room_id", DataType::Utf8View, false),
        Field::new("vod_vendor", DataType::Utf8, true),
        Field::new("firmware", DataType::Int64, true),
    ]));
    let ids: Vec<String> = (0..n).map(|i| format!("trap-micros-{i}")).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from_iter_values((0..n).map(|_| 180_000))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    (0..n).map(|i| t + i as i64 * 300_000_000),
                )
                .with_timezone("+00:00"),
            ),
            arrow::compute::cast(
                &LargeStringArray::from_iter_values(ids.iter()),
                &DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::LargeUtf8)),
            )
            .unwrap(),
            Arc::new(LargeStringArray::from_iter_values((0..n).map(|_| song))),
            Arc::new(StringViewArray::from_iter_values((0..n).map(|_| venue))),
            Arc::new(StringViewArray::from_iter_values((0..n).map(|_| "R09"))),
            Arc::new(StringArray::from_iter((0..n).map(|_| Some("雷石")))),
            Arc::new(arrow::array::Int64Array::from_iter_values(
                (0..n).map(|i| i as i64),
            )),
        ],
    )
    .unwrap();
    write_batch(
        &root.join("plays/date=2024-10-20/part-8-encodings.parquet"),
        &batch,
    );
}

pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let c = arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
    c.as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

pub fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    c.as_primitive::<Int64Type>().iter().collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

/// A published chart batch as reference rows.
pub fn chart_rows(batch: &RecordBatch) -> Vec<ChartRow> {
    let (song, title, artist, movement) = (
        strings(batch, "song_id"),
        strings(batch, "title"),
        strings(batch, "artist"),
        strings(batch, "movement"),
    );
    let [rank, score, plays, venues, rooms, prev, peak, months] = [
        "rank",
        "score",
        "plays",
        "venues",
        "rooms",
        "prev_rank",
        "peak_rank",
        "months_on_chart",
    ]
    .map(|c| ints(batch, c));
    (0..batch.num_rows())
        .map(|i| ChartRow {
            rank: rank[i].unwrap(),
            song_id: song[i].clone().unwrap(),
            title: title[i].clone().unwrap(),
            artist: artist[i].clone().unwrap(),
            score: score[i].unwrap(),
            plays: plays[i].unwrap(),
            venues: venues[i].unwrap(),
            rooms: rooms[i].unwrap(),
            prev_rank: prev[i],
            peak_rank: peak[i].unwrap(),
            months_on_chart: months[i].unwrap(),
            movement: movement[i].clone().unwrap(),
        })
        .collect()
}

/// A published coverage batch (national or per province) as reference rows.
pub fn coverage_rows(batch: &RecordBatch) -> Vec<CoverageRow> {
    let province = batch
        .column_by_name("province")
        .map(|_| strings(batch, "province"));
    let provinces = batch
        .column_by_name("provinces")
        .map(|_| ints(batch, "provinces"));
    let [
        licensed,
        connected,
        cities,
        rooms,
        new,
        prev,
        active_v,
        active_r,
    ] = [
        "licensed_venues",
        "connected_venues",
        "cities",
        "rooms",
        "new_venues",
        "new_venues_prev",
        "active_venues",
        "active_rooms",
    ]
    .map(|c| ints(batch, c));
    let (share, growth) = (
        floats(batch, "coverage_share"),
        floats(batch, "new_venues_growth"),
    );
    (0..batch.num_rows())
        .map(|i| CoverageRow {
            province: province.as_ref().and_then(|p| p[i].clone()),
            licensed_venues: licensed[i].unwrap(),
            connected_venues: connected[i].unwrap(),
            coverage_share: share[i],
            provinces: provinces.as_ref().and_then(|p| p[i]),
            cities: cities[i].unwrap(),
            rooms: rooms[i].unwrap(),
            new_venues: new[i].unwrap(),
            new_venues_prev: prev[i].unwrap(),
            new_venues_growth: growth[i],
            active_venues: active_v[i].unwrap(),
            active_rooms: active_r[i].unwrap(),
        })
        .collect()
}

/// The reference's grain of a period.
pub fn grain(period: &Period) -> Grain {
    match period {
        Period::Month { .. } => Grain::Month,
        Period::Year(_) => Grain::Year,
    }
}

/// A period's charts, data quality and coverage on `engine` against the reference.
pub async fn compare_period(
    engine: &GoldenMic,
    data: &reference::Data,
    rules: &Rules,
    period: &Period,
) {
    let p = period.to_string();
    let p = p.as_str();
    for (kind, new_only) in [(ChartKind::Hot, false), (ChartKind::New, true)] {
        let got = chart_rows(&engine.chart(kind, period).await.unwrap());
        let want = reference::chart(data, rules, grain(period), p, new_only);
        assert!(
            !want.is_empty(),
            "{p} {kind:?}: the reference chart is empty"
        );
        assert_eq!(got.len(), want.len(), "{p} {kind:?}: chart length");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{p} {kind:?}: rank {}", w.rank);
        }
    }
    let q = engine.data_quality(period).await.unwrap();
    let w = reference::quality(data, rules, grain(period), p);
    let got = reference::Quality {
        rows_received: q.rows_received,
        duplicate_copies: q.duplicate_copies,
        missing_value: q.missing_value,
        short_play: q.short_play,
        unknown_song: q.unknown_song,
        unknown_venue: q.unknown_venue,
        valid_plays: q.valid_plays,
        over_room_cap: q.over_room_cap,
    };
    assert_eq!(got, w, "{p}: data quality");

    let mut want = reference::coverage(data, rules, grain(period), p);
    let national = coverage_rows(&engine.coverage(period).await.unwrap());
    assert_eq!(national, want[..1], "{p}: national coverage");
    let provinces = coverage_rows(&engine.coverage_by_province(period).await.unwrap());
    for w in &mut want[1..] {
        w.provinces = None;
    }
    assert_eq!(provinces, want[1..], "{p}: coverage by province");
}

/// Every record batch of a table's Parquet files under `root`.
pub fn batches_of(root: &Path, table: &str) -> Vec<RecordBatch> {
    let mut files = Vec::new();
    let mut dirs = vec![root.join(table)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let batch = read_parquet(path);
            let Some(day) = path
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|d| d.to_str())
                .and_then(|d| d.strip_prefix("date="))
            else {
                return batch;
            };
            let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
            let days = (day - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days();
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("date", DataType::Date32, false));
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(Date32Array::from(vec![
                days as i32;
                batch.num_rows()
            ])));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
        })
        .collect()
}

/// A Parquet file's rows as one batch.
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// A copy of any data root that a test may change.
pub fn fixture_copy_of(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(root, dir.path());
    dir
}

/// song_id → rank of a published chart.
pub fn chart_rows_screened(batch: &RecordBatch) -> std::collections::BTreeMap<String, i64> {
    let songs = strings(batch, "song_id");
    let ranks = ints(batch, "rank");
    songs
        .into_iter()
        .zip(ranks)
        .map(|(s, r)| (s.unwrap(), r.unwrap()))
        .collect()
}
