//! Labelled manipulation added to generated data, for testing GM-2's screening rules.
//! Each injected play is in `plays/date=D/manipulation.parquet` with an extra column,
//! `manipulation`, naming its pattern ([`Pattern`]); the contract reads past it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, Int32Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit, TimestampMillisecondType};
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Asia::Shanghai;

use crate::venues::Venue;
use crate::{SampleError, SampleSpec, songs, venues, write_parquet};

/// The manipulation patterns [`inject`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pattern {
    /// One venue plays one obscure song in 20 rooms, 3 times a room each day (the room
    /// cap lets them all count), on 20 days of the last month.
    OneVenueLoop,
    /// The same in another venue, for a song with a few plays in five more venues.
    ConcentratedLoop,
    /// Rooms whose plays start every 20 s though each lasts 200 s, on 10 days.
    OverlappingRoom,
    /// A room with one play an hour from 06:00 to 03:00 the next morning, on 3 days.
    AllDayRoom,
    /// A small vendor's feed: 4 plays a day, every day, then 300 on the 15th of the last month.
    VendorSpike,
    /// Generated plays of the last month's first day, sent again 2 s later under new ids.
    ResentNewId,
}

impl Pattern {
    /// Every pattern.
    pub const ALL: [Pattern; 6] = [
        Pattern::OneVenueLoop,
        Pattern::ConcentratedLoop,
        Pattern::OverlappingRoom,
        Pattern::AllDayRoom,
        Pattern::VendorSpike,
        Pattern::ResentNewId,
    ];

    /// The label in the `manipulation` column.
    pub fn label(self) -> &'static str {
        match self {
            Pattern::OneVenueLoop => "one_venue_loop",
            Pattern::ConcentratedLoop => "concentrated_loop",
            Pattern::OverlappingRoom => "overlapping_room",
            Pattern::AllDayRoom => "all_day_room",
            Pattern::VendorSpike => "vendor_spike",
            Pattern::ResentNewId => "resent_new_id",
        }
    }
}

/// The vendor of [`Pattern::VendorSpike`].
pub const SPIKE_VENDOR: &str = "小众点歌";

/// What [`inject`] wrote: the ids a test needs to follow each pattern.
#[derive(Debug, Clone, Default)]
pub struct Injected {
    /// Rows per pattern.
    pub rows: BTreeMap<Pattern, usize>,
    /// The song of [`Pattern::OneVenueLoop`] and [`Pattern::ConcentratedLoop`].
    pub looped_songs: (String, String),
    /// The looping venues, in the same order.
    pub looping_venues: (String, String),
    /// (venue_id, room_id) of [`Pattern::AllDayRoom`].
    pub all_day_room: (String, String),
    /// The day of the vendor's spike.
    pub spike_day: NaiveDate,
    /// The venue whose plays the spiking vendor sends.
    pub spike_venue: String,
}

struct Row {
    venue: String,
    room: String,
    song: String,
    started_ms: i64,
    played_ms: i32,
    vendor: Option<String>,
    pattern: Pattern,
}

fn local_ms(day: NaiveDate, seconds_after_six: i64) -> i64 {
    let six = day.and_hms_opt(6, 0, 0).expect("valid time");
    Shanghai
        .from_local_datetime(&six)
        .single()
        .expect("Asia/Shanghai has no gaps since 1991")
        .timestamp_millis()
        + seconds_after_six * 1000
}

/// Adds the patterns to the data root `root` that [`crate::generate`] wrote for `spec`.
pub fn inject(spec: &SampleSpec, root: &Path) -> Result<Injected, SampleError> {
    let months = spec.month_starts();
    let last_month = *months.last().expect("months >= 1");
    let first_day = months[0];
    let venues = venues::generate_venues(spec.seed);
    let last_release = last_month
        .checked_add_months(chrono::Months::new(1))
        .expect("in range")
        - chrono::Duration::days(1);
    let catalogue = songs::generate_songs(spec.seed, spec.catalogue_size, last_release);
    let open: Vec<&Venue> = venues
        .iter()
        .filter(|v| v.connected_on.is_some_and(|c| c < first_day) && v.rooms >= 20)
        .collect();
    if open.len() < 12 || catalogue.len() < 10 {
        return Err(SampleError::InvalidSpec(
            "too few venues or songs to inject manipulation".into(),
        ));
    }
    // Obscure songs: the end of the catalogue, which the generator's Zipf rarely picks.
    let song = |k: usize| catalogue[catalogue.len() - 1 - k].song_id.clone();
    let popular = |k: usize| catalogue[k % catalogue.len().min(50)].song_id.clone();
    let vendor = |v: &Venue| v.vod_vendor.map(str::to_string);
    let mut rows = Vec::new();
    let last_days: Vec<NaiveDate> = last_month.iter_days().take(28).collect();

    let (loop_venue, concentrated_venue) = (open[0], open[1]);
    for (pattern, venue, looped) in [
        (Pattern::OneVenueLoop, loop_venue, song(0)),
        (Pattern::ConcentratedLoop, concentrated_venue, song(1)),
    ] {
        for day in &last_days[..20] {
            for room in 1..=20 {
                for k in 0..3 {
                    rows.push(Row {
                        venue: venue.venue_id.clone(),
                        room: format!("R{room:02}"),
                        song: looped.clone(),
                        started_ms: local_ms(*day, 12 * 3600 + k * 240),
                        played_ms: 200_000,
                        vendor: vendor(venue),
                        pattern,
                    });
                }
            }
        }
    }
    // The concentrated song's honest plays: one a day on 10 days in five venues of
    // different cities.
    let mut cities = vec![concentrated_venue.city.clone()];
    let mut others = Vec::new();
    for v in &open[2..] {
        if !cities.contains(&v.city) && others.len() < 5 {
            cities.push(v.city.clone());
            others.push(*v);
        }
    }
    for venue in &others {
        for day in &last_days[..10] {
            rows.push(Row {
                venue: venue.venue_id.clone(),
                room: "R01".into(),
                song: song(1),
                started_ms: local_ms(*day, 14 * 3600),
                played_ms: 200_000,
                vendor: vendor(venue),
                pattern: Pattern::ConcentratedLoop,
            });
        }
    }

    let overlapping = open[open.len() - 1];
    for day in &last_days[..10] {
        for k in 0..40 {
            rows.push(Row {
                venue: overlapping.venue_id.clone(),
                room: "R03".into(),
                song: popular(k as usize),
                started_ms: local_ms(*day, 10 * 3600 + k * 20),
                played_ms: 200_000,
                vendor: vendor(overlapping),
                pattern: Pattern::OverlappingRoom,
            });
        }
    }

    let all_day = open[open.len() - 2];
    for day in &last_days[..3] {
        for hour in 0..21 {
            rows.push(Row {
                venue: all_day.venue_id.clone(),
                room: "R04".into(),
                song: popular(hour as usize + 7),
                started_ms: local_ms(*day, hour * 3600 + 600),
                played_ms: 180_000,
                vendor: vendor(all_day),
                pattern: Pattern::AllDayRoom,
            });
        }
    }

    let spike_venue = open[open.len() - 3];
    let spike_day = last_month + chrono::Duration::days(14);
    let mut day = first_day;
    while day < last_month + chrono::Duration::days(28) {
        let n = if day == spike_day { 300 } else { 4 };
        for k in 0..n {
            rows.push(Row {
                venue: spike_venue.venue_id.clone(),
                room: format!("R{:02}", 1 + k % 20),
                song: popular(k as usize),
                started_ms: local_ms(day, 8 * 3600 + (k / 20) * 240),
                played_ms: 200_000,
                vendor: Some(SPIKE_VENDOR.into()),
                pattern: Pattern::VendorSpike,
            });
        }
        day += chrono::Duration::days(1);
    }

    let known = |venue: &str, song: &str| {
        venues.iter().any(|v| v.venue_id == venue) && catalogue.iter().any(|s| s.song_id == song)
    };
    rows.extend(resent_copies(root, last_month, &known)?);

    let mut injected = Injected {
        looped_songs: (song(0), song(1)),
        looping_venues: (
            loop_venue.venue_id.clone(),
            concentrated_venue.venue_id.clone(),
        ),
        all_day_room: (all_day.venue_id.clone(), "R04".into()),
        spike_day,
        spike_venue: spike_venue.venue_id.clone(),
        ..Injected::default()
    };
    let mut by_day: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for row in rows {
        *injected.rows.entry(row.pattern).or_default() += 1;
        let local = chrono::DateTime::from_timestamp_millis(row.started_ms - 6 * 3_600_000)
            .expect("in range")
            .with_timezone(&Shanghai)
            .date_naive();
        by_day.entry(local).or_default().push(row);
    }
    let mut sequence = 0u64;
    for (day, rows) in by_day {
        let path = root
            .join("plays")
            .join(format!("date={}", day.format("%Y-%m-%d")))
            .join("manipulation.parquet");
        write_parquet(&path, &batch(&rows, &mut sequence))?;
    }
    Ok(injected)
}

/// The first 100 generated plays of `day` that last 30 s or more, 2 s later under new ids.
fn resent_copies(
    root: &Path,
    day: NaiveDate,
    known: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<Row>, SampleError> {
    let path = root
        .join("plays")
        .join(format!("date={}", day.format("%Y-%m-%d")))
        .join("part-0.parquet");
    let parquet_error = |source| SampleError::Parquet {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(|source| SampleError::Io {
        path: path.clone(),
        source,
    })?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet_error)?
        .build()
        .map_err(parquet_error)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet_error(e.into()))?;
        let column = |name: &str, to: &DataType| -> Result<ArrayRef, SampleError> {
            let column = batch.column_by_name(name).ok_or_else(|| {
                SampleError::InvalidSpec(format!("{} has no column {name}", path.display()))
            })?;
            cast(column, to).map_err(|e| parquet_error(e.into()))
        };
        let text = |name: &str| -> Result<StringArray, SampleError> {
            Ok(column(name, &DataType::Utf8)?.as_string::<i32>().clone())
        };
        let (venues, rooms, songs, vendors) = (
            text("venue_id")?,
            text("room_id")?,
            text("song_id")?,
            text("vod_vendor")?,
        );
        let started = column(
            "started_at",
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )?;
        let started = started.as_primitive::<TimestampMillisecondType>();
        let played = column("played_ms", &DataType::Int32)?;
        let played = played.as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            if rows.len() == 100 {
                break;
            }
            if played.value(i) < 30_000 || !known(venues.value(i), songs.value(i)) {
                continue;
            }
            rows.push(Row {
                venue: venues.value(i).to_string(),
                room: rooms.value(i).to_string(),
                song: songs.value(i).to_string(),
                started_ms: started.value(i) + 2_000,
                played_ms: played.value(i),
                vendor: arrow::array::Array::is_valid(&vendors, i)
                    .then(|| vendors.value(i).to_string()),
                pattern: Pattern::ResentNewId,
            });
        }
    }
    Ok(rows)
}

fn batch(rows: &[Row], sequence: &mut u64) -> RecordBatch {
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
        Field::new("manipulation", DataType::Utf8, false),
    ]);
    let ids: Vec<String> = rows
        .iter()
        .map(|_| {
            *sequence += 1;
            format!("manipulated-{sequence:08}")
        })
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ids)),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.venue.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.room.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.song.as_str()),
        )),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.started_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.played_ms),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.vendor.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.pattern.label()),
        )),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema")
}
