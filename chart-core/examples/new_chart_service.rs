//! A service embedding the chart logic: it holds a month of play events in memory
//! (as a streaming consumer or an API would) and computes that month's new-song
//! chart, nationally and for one province, on its own DataFusion session.
//!
//! ```sh
//! cargo run -p chart-core --example new_chart_service
//! ```

use std::sync::Arc;

use arrow::array::{Date32Array, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use chart_core::{ChartKind, GoldenMic, InputTables, Methodology, Period};
use chrono::{NaiveDate, TimeZone, Utc};
use datafusion::prelude::{SessionConfig, SessionContext};

fn strings(values: Vec<String>) -> Arc<StringArray> {
    Arc::new(StringArray::from(values))
}

fn days(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

/// A small catalogue: five songs released between 2023 and November 2024.
fn songs() -> RecordBatch {
    let released = [
        "2023-03-01",
        "2024-02-14",
        "2024-06-01",
        "2024-10-20",
        "2024-11-08",
    ];
    let schema = Schema::new(vec![
        Field::new("song_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("artist", DataType::Utf8, false),
        Field::new("release_date", DataType::Date32, true),
        Field::new("rights_holder_id", DataType::Utf8, true),
        Field::new("language", DataType::Utf8, true),
    ]);
    let n = released.len();
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            strings((1..=n).map(|i| format!("S{i}")).collect()),
            strings((1..=n).map(|i| format!("Song {i}")).collect()),
            strings((1..=n).map(|i| format!("Artist {}", i % 3)).collect()),
            Arc::new(Date32Array::from_iter_values(
                released.iter().map(|d| days(d.parse().unwrap())),
            )),
            strings((1..=n).map(|i| format!("R{}", i % 2)).collect()),
            strings(vec!["zh".to_string(); n]),
        ],
    )
    .unwrap()
}

/// Four venues in two provinces.
fn venues() -> RecordBatch {
    let provinces = ["广东", "广东", "四川", "四川"];
    let cities = ["广州", "深圳", "成都", "成都"];
    let schema = Schema::new(vec![
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("province", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("rooms", DataType::Int32, false),
        Field::new("licensed_since", DataType::Date32, true),
        Field::new("connected_on", DataType::Date32, true),
    ]);
    let since = days(NaiveDate::from_ymd_opt(2022, 1, 1).unwrap());
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            strings((1..=4).map(|i| format!("V{i}")).collect()),
            strings((1..=4).map(|i| format!("KTV {i}")).collect()),
            strings(provinces.map(String::from).to_vec()),
            strings(cities.map(String::from).to_vec()),
            Arc::new(Int32Array::from(vec![20, 30, 25, 15])),
            Arc::new(Date32Array::from(vec![since; 4])),
            Arc::new(Date32Array::from(vec![since; 4])),
        ],
    )
    .unwrap()
}

/// November's plays: every evening, each venue's rooms sing a few songs; newer songs
/// are sung more in Sichuan.
fn plays() -> RecordBatch {
    let (mut event, mut venue, mut room, mut song, mut started, mut played) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for day in 1..=30u32 {
        for v in 1..=4usize {
            for r in 1..=3usize {
                for s in 1..=5usize {
                    let times = if v >= 3 { s } else { 6 - s };
                    for k in 0..((day as usize + r + s) % times + 1) {
                        // 21:00 Beijing time is 13:00 UTC.
                        let at = Utc
                            .with_ymd_and_hms(2024, 11, day, 13, (k * 5) as u32, 0)
                            .unwrap();
                        event.push(format!("E{day}-{v}-{r}-{s}-{k}"));
                        venue.push(format!("V{v}"));
                        room.push(format!("R{r}"));
                        song.push(format!("S{s}"));
                        started.push(at.timestamp_millis());
                        played.push(180_000);
                    }
                }
            }
        }
    }
    let schema = Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("room_id", DataType::Utf8, false),
        Field::new("song_id", DataType::Utf8, false),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("played_ms", DataType::Int32, false),
        Field::new("vod_vendor", DataType::Utf8, true),
    ]);
    let vendor = StringArray::from(vec!["vendor-a"; event.len()]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            strings(event),
            strings(venue),
            strings(room),
            strings(song),
            Arc::new(TimestampMillisecondArray::from(started).with_timezone("UTC")),
            Arc::new(Int32Array::from(played)),
            Arc::new(vendor),
        ],
    )
    .unwrap()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The service's own session, with its own settings.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    let inputs = InputTables::from_batches(vec![plays()], vec![songs()], vec![venues()])?;
    let methodology = Methodology {
        top_n: 10,
        ..Methodology::default()
    };
    let engine = GoldenMic::attach(ctx, inputs, methodology).await?;

    let november: Period = "2024-11".parse()?;
    let national = engine.chart(ChartKind::New, &november).await?;
    println!("New-song chart (新歌榜), {november}, national:");
    println!("{}", pretty_format_batches(&[national])?);

    let sichuan = engine.regional("四川").await?;
    let regional = sichuan.chart(ChartKind::New, &november).await?;
    println!("New-song chart (新歌榜), {november}, 四川:");
    println!("{}", pretty_format_batches(&[regional])?);
    Ok(())
}
