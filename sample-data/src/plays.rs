//! Play events, one Parquet partition per business day.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, LargeStringArray, RecordBatch, StringArray,
    StringViewArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Asia::Shanghai;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::songs::Song;
use crate::venues::Venue;
use crate::{PlayOrder, SampleError, SampleSpec, write_parquet_batches};

/// How many rows of each kind [`generate`](crate::generate) wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaySummary {
    /// All rows written, re-sent copies included.
    pub rows: usize,
    /// Extra copies of an event already written (same `event_id`).
    pub resent_copies: usize,
    /// Plays shorter than 30 s.
    pub short_plays: usize,
    /// Plays of a song that is not in the catalogue.
    pub unknown_songs: usize,
    /// Plays from a venue that is not in the register.
    pub unknown_venues: usize,
    /// Plays that repeat the previous song in the same room (loops).
    pub loop_plays: usize,
    /// Parquet files written.
    pub files: usize,
}

struct Play {
    event_id: String,
    venue_id: String,
    room_id: String,
    song_id: String,
    started_at_ms: i64,
    played_ms: i32,
    vod_vendor: Option<&'static str>,
}

/// Samples ranks 0..n with probability proportional to 1 / (rank + 1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cdf = (0..n)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.cdf.last().expect("non-empty");
        let u = rng.random::<f64>() * total;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
    v
}

/// The business day of a UTC instant: the Asia/Shanghai date of the instant minus 6 hours.
fn business_day(started_at_ms: i64) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_millis(started_at_ms - 6 * 3_600_000)
        .expect("timestamp in range");
    utc.with_timezone(&Shanghai).date_naive()
}

pub(crate) fn generate_plays(
    spec: &SampleSpec,
    venues: &[Venue],
    songs: &[Song],
    dir: &Path,
) -> Result<PlaySummary, SampleError> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ 0x0070_6c61_7973);
    // Classics: a fixed popularity order over the whole catalogue.
    let classic_order = shuffled(songs.len(), &mut rng);
    let classic = Zipf::new(songs.len(), 0.95);
    let mut summary = PlaySummary::default();
    let mut pending: BTreeMap<NaiveDate, Vec<Play>> = BTreeMap::new();
    let mut day_index = 0usize;

    for month_start in spec.month_starts() {
        let next_month = month_start
            .checked_add_months(chrono::Months::new(1))
            .expect("in range");
        // New songs: released in the year before the month starts, in a random order of appeal.
        let mut fresh: Vec<usize> = (0..songs.len())
            .filter(|&i| {
                songs[i]
                    .release_date
                    .is_some_and(|d| d <= month_start && (month_start - d).num_days() < 365)
            })
            .collect();
        fresh.sort_by_key(|&i| (songs[i].release_date, i));
        let appeal = shuffled(fresh.len(), &mut rng);
        let fresh: Vec<usize> = appeal.into_iter().map(|k| fresh[k]).collect();
        let fresh_zipf = (!fresh.is_empty()).then(|| Zipf::new(fresh.len(), 0.9));

        // Tastes drift: each month the popularity order of the head of the catalogue
        // is perturbed, so that songs move up and down the charts.
        let head = classic_order.len().min(5_000);
        let mut keyed: Vec<(f64, usize)> = (0..head)
            .map(|r| {
                let noise: f64 = (0..3).map(|_| rng.random::<f64>()).sum::<f64>() - 1.5;
                (((r + 1) as f64).ln() + 0.5 * noise, classic_order[r])
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        let month_order: Vec<usize> = keyed
            .into_iter()
            .map(|(_, song)| song)
            .chain(classic_order[head..].iter().copied())
            .collect();

        let days: Vec<NaiveDate> = month_start
            .iter_days()
            .take_while(|d| *d < next_month)
            .collect();
        let weight = |d: &NaiveDate| match d.weekday() {
            Weekday::Fri | Weekday::Sat => 1.6,
            _ => 1.0,
        };
        let total_weight: f64 = days.iter().map(weight).sum();
        for day in days {
            let target =
                (spec.plays_per_month as f64 * weight(&day) / total_weight).round() as usize;
            let mut day_rng = ChaCha8Rng::seed_from_u64(
                spec.seed
                    .wrapping_mul(31)
                    .wrapping_add(day.num_days_from_ce() as u64),
            );
            let open: Vec<&Venue> = venues
                .iter()
                .filter(|v| v.connected_on.is_some_and(|c| c <= day))
                .collect();
            if open.is_empty() {
                continue;
            }
            let mut room_cdf = Vec::with_capacity(open.len());
            let mut acc = 0.0;
            for v in &open {
                acc += v.rooms as f64;
                room_cdf.push(acc);
            }
            let pick_song = |rng: &mut ChaCha8Rng| -> usize {
                match &fresh_zipf {
                    Some(z) if rng.random_bool(0.25) => fresh[z.sample(rng)],
                    _ => month_order[classic.sample(rng)],
                }
            };
            let mut produced = 0;
            while produced < target {
                let session = generate_session(
                    &mut day_rng,
                    day,
                    &open,
                    &room_cdf,
                    songs,
                    &pick_song,
                    &mut summary,
                );
                produced += session.len();
                for play in session {
                    pending
                        .entry(business_day(play.started_at_ms))
                        .or_default()
                        .push(play);
                }
            }
            // No later day produces plays for this business day: write it.
            let ready: Vec<NaiveDate> = pending.range(..=day).map(|(d, _)| *d).collect();
            for d in ready {
                let plays = pending.remove(&d).expect("present");
                write_day(
                    dir,
                    d,
                    day_index,
                    spec.play_order,
                    plays,
                    &mut day_rng,
                    &mut summary,
                )?;
                day_index += 1;
            }
        }
    }
    for (d, plays) in std::mem::take(&mut pending) {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed ^ d.num_days_from_ce() as u64);
        write_day(
            dir,
            d,
            day_index,
            spec.play_order,
            plays,
            &mut rng,
            &mut summary,
        )?;
        day_index += 1;
    }
    Ok(summary)
}

/// One room's night out: a run of songs, each starting after the previous one ends.
fn generate_session(
    rng: &mut ChaCha8Rng,
    day: NaiveDate,
    open: &[&Venue],
    room_cdf: &[f64],
    songs: &[Song],
    pick_song: &dyn Fn(&mut ChaCha8Rng) -> usize,
    summary: &mut PlaySummary,
) -> Vec<Play> {
    let total = *room_cdf.last().expect("non-empty");
    let u = rng.random::<f64>() * total;
    let venue = open[room_cdf.partition_point(|&c| c < u).min(open.len() - 1)];
    let unknown_venue = rng.random_bool(0.002);
    let venue_id = if unknown_venue {
        format!("VX{:05}", rng.random_range(0..100_000))
    } else {
        venue.venue_id.clone()
    };
    let room_id = format!("R{:02}", rng.random_range(1..=venue.rooms));
    // Minutes after 06:00 local on the business day: evenings are busiest, some nights
    // start after midnight and a few sessions run past 06:00 the next morning.
    let start_minute: i64 = match rng.random_range(0..100) {
        0..70 => rng.random_range(13 * 60..18 * 60),
        70..90 => rng.random_range(6 * 60..13 * 60),
        _ => rng.random_range(18 * 60..24 * 60 - 10),
    };
    let local_start: NaiveDateTime = day.and_hms_opt(6, 0, 0).expect("valid time")
        + chrono::Duration::minutes(start_minute)
        + chrono::Duration::seconds(rng.random_range(0..60));
    let mut t_ms = Shanghai
        .from_local_datetime(&local_start)
        .single()
        .expect("Asia/Shanghai has no gaps since 1991")
        .timestamp_millis();
    let songs_in_session = rng.random_range(4..=24);
    let loop_at = rng
        .random_bool(0.04)
        .then(|| rng.random_range(0..songs_in_session));
    let mut plays = Vec::with_capacity(songs_in_session + 8);
    let mut i = 0;
    while i < songs_in_session {
        let repeats = if loop_at == Some(i) {
            rng.random_range(4..=7)
        } else {
            1
        };
        let song = pick_song(rng);
        let song_id = if rng.random_bool(0.003) {
            summary.unknown_songs += repeats;
            format!("U{:07}", rng.random_range(0..10_000_000))
        } else {
            songs[song].song_id.clone()
        };
        for r in 0..repeats {
            let played_ms = match rng.random_range(0..1000) {
                0..120 => rng.random_range(3_000..30_000),
                120..125 => 29_999,
                125..130 => 30_000,
                _ => rng.random_range(150_000..300_000),
            };
            if played_ms < 30_000 {
                summary.short_plays += 1;
            }
            if r > 0 {
                summary.loop_plays += 1;
            }
            if unknown_venue {
                summary.unknown_venues += 1;
            }
            plays.push(Play {
                event_id: format!("{:016x}", rng.random::<u64>()),
                venue_id: venue_id.clone(),
                room_id: room_id.clone(),
                song_id: song_id.clone(),
                started_at_ms: t_ms,
                played_ms,
                vod_vendor: venue.vod_vendor,
            });
            t_ms += played_ms as i64 + rng.random_range(5_000..40_000);
        }
        i += 1;
    }
    plays
}

/// Writes a business day's plays: re-sent copies go either into the same file or
/// into a second one, and string columns use one of the encodings the contract allows.
fn write_day(
    dir: &Path,
    day: NaiveDate,
    day_index: usize,
    order: PlayOrder,
    mut plays: Vec<Play>,
    rng: &mut ChaCha8Rng,
    summary: &mut PlaySummary,
) -> Result<(), SampleError> {
    let mut resent = Vec::new();
    let n = plays.len();
    for i in 0..n {
        if rng.random_bool(0.02) {
            let p = &plays[i];
            let copy = Play {
                event_id: p.event_id.clone(),
                venue_id: p.venue_id.clone(),
                room_id: p.room_id.clone(),
                song_id: p.song_id.clone(),
                started_at_ms: p.started_at_ms,
                played_ms: p.played_ms,
                vod_vendor: p.vod_vendor,
            };
            if rng.random_bool(0.5) {
                plays.push(copy);
            } else {
                resent.push(copy);
            }
        }
    }
    summary.resent_copies += plays.len() - n + resent.len();
    let partition = dir.join(format!("date={}", day.format("%Y-%m-%d")));
    let encoding = Encoding::for_day(day_index);
    for (name, mut rows) in [("part-0.parquet", plays), ("part-1-resent.parquet", resent)] {
        sort_plays(&mut rows, order);
        if rows.is_empty() {
            continue;
        }
        summary.rows += rows.len();
        summary.files += 1;
        let batch = encoding.batch(&rows);
        write_parquet_batches(&partition.join(name), batch.schema(), &[batch])?;
    }
    Ok(())
}

/// Puts a file's rows in `order`; ties keep their generated order.
fn sort_plays(plays: &mut [Play], order: PlayOrder) {
    match order {
        PlayOrder::Arrival => {}
        PlayOrder::VenueRoom => plays.sort_by(|a, b| {
            (&a.venue_id, &a.room_id, a.started_at_ms).cmp(&(
                &b.venue_id,
                &b.room_id,
                b.started_at_ms,
            ))
        }),
        PlayOrder::Song => plays.sort_by(|a, b| {
            (&a.song_id, &a.venue_id, &a.room_id, a.started_at_ms).cmp(&(
                &b.song_id,
                &b.venue_id,
                &b.room_id,
                b.started_at_ms,
            ))
        }),
    }
}

/// The physical string type of a day's files.
#[derive(Clone, Copy)]
enum Encoding {
    Utf8,
    Dictionary,
    /// `LargeUtf8`, with columns in another order and an extra column.
    LargeUtf8WithExtraColumn,
    Utf8View,
}

impl Encoding {
    fn for_day(day_index: usize) -> Self {
        match day_index % 4 {
            0 => Encoding::Utf8,
            1 => Encoding::Dictionary,
            2 => Encoding::LargeUtf8WithExtraColumn,
            _ => Encoding::Utf8View,
        }
    }

    fn string_type(self) -> DataType {
        match self {
            Encoding::Utf8 => DataType::Utf8,
            Encoding::Dictionary => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            Encoding::LargeUtf8WithExtraColumn => DataType::LargeUtf8,
            Encoding::Utf8View => DataType::Utf8View,
        }
    }

    fn strings<'a>(self, values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        match self {
            Encoding::Utf8 => Arc::new(StringArray::from_iter(values)),
            Encoding::Dictionary => Arc::new(values.collect::<DictionaryArray<Int32Type>>()),
            Encoding::LargeUtf8WithExtraColumn => Arc::new(LargeStringArray::from_iter(values)),
            Encoding::Utf8View => Arc::new(StringViewArray::from_iter(values)),
        }
    }

    fn batch(self, rows: &[Play]) -> RecordBatch {
        let s = self.string_type();
        let mut fields = vec![
            Field::new("event_id", s.clone(), false),
            Field::new("venue_id", s.clone(), false),
            Field::new("room_id", s.clone(), false),
            Field::new("song_id", s.clone(), false),
            Field::new(
                "started_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("played_ms", DataType::Int32, false),
            Field::new("vod_vendor", s.clone(), true),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            self.strings(rows.iter().map(|p| Some(p.event_id.as_str()))),
            self.strings(rows.iter().map(|p| Some(p.venue_id.as_str()))),
            self.strings(rows.iter().map(|p| Some(p.room_id.as_str()))),
            self.strings(rows.iter().map(|p| Some(p.song_id.as_str()))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|p| p.started_at_ms))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|p| p.played_ms),
            )),
            self.strings(rows.iter().map(|p| p.vod_vendor)),
        ];
        if let Encoding::LargeUtf8WithExtraColumn = self {
            // Another column order and a column the contract does not know.
            fields.swap(0, 3);
            columns.swap(0, 3);
            fields.push(Field::new("client_version", DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|_| "vod-5.2.1"),
            )));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .expect("columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::compute::cast;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// (venue_id, room_id, started_at ms, song_id, event_id) of a play file's rows, in file order.
    type Key = (String, String, i64, String, String);

    fn rows_of(file: &Path) -> Vec<Key> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let text = |name: &str| {
                let column = batch.column_by_name(name).unwrap();
                cast(column, &DataType::Utf8)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (venue, room, song, event) = (
                text("venue_id"),
                text("room_id"),
                text("song_id"),
                text("event_id"),
            );
            let started = batch.column_by_name("started_at").unwrap();
            let started = cast(started, &DataType::Int64).unwrap();
            let started = started.as_primitive::<arrow::datatypes::Int64Type>();
            for i in 0..batch.num_rows() {
                assert!(started.is_valid(i));
                rows.push((
                    venue.value(i).to_string(),
                    room.value(i).to_string(),
                    started.value(i),
                    song.value(i).to_string(),
                    event.value(i).to_string(),
                ));
            }
        }
        rows
    }

    /// Every play file under a generated root, by path relative to it.
    fn play_files(root: &Path) -> BTreeMap<std::path::PathBuf, Vec<Key>> {
        let mut files = BTreeMap::new();
        for day in std::fs::read_dir(root.join("plays")).unwrap() {
            let day = day.unwrap().path();
            for file in std::fs::read_dir(&day).unwrap() {
                let file = file.unwrap().path();
                let relative = file.strip_prefix(root).unwrap().to_path_buf();
                files.insert(relative, rows_of(&file));
            }
        }
        files
    }

    #[test]
    fn play_order_sorts_each_file_and_keeps_its_rows() {
        let generate = |order: PlayOrder| {
            let dir = tempfile::tempdir().unwrap();
            let spec = SampleSpec {
                months: 1,
                play_order: order,
                ..SampleSpec::small(7)
            };
            crate::generate(&spec, dir.path()).unwrap();
            play_files(dir.path())
        };
        let arrival = generate(PlayOrder::Arrival);
        let by_room = generate(PlayOrder::VenueRoom);
        let by_song = generate(PlayOrder::Song);
        assert!(arrival.len() > 30, "one month of day files");
        assert_eq!(
            arrival.keys().collect::<Vec<_>>(),
            by_room.keys().collect::<Vec<_>>()
        );
        let venue_room = |r: &Key| (r.0.clone(), r.1.clone(), r.2);
        let song_first = |r: &Key| (r.3.clone(), r.0.clone(), r.1.clone(), r.2);
        let mut arrival_sorted_files = 0;
        for (file, rows) in &arrival {
            let sorted = |rows: &[Key]| {
                let mut rows = rows.to_vec();
                rows.sort();
                rows
            };
            // The same rows, only in another order.
            assert_eq!(sorted(rows), sorted(&by_room[file]), "{}", file.display());
            assert_eq!(sorted(rows), sorted(&by_song[file]), "{}", file.display());
            assert!(
                by_room[file].is_sorted_by_key(venue_room),
                "{}",
                file.display()
            );
            assert!(
                by_song[file].is_sorted_by_key(song_first),
                "{}",
                file.display()
            );
            if rows.is_sorted_by_key(venue_room) {
                arrival_sorted_files += 1;
            }
        }
        assert!(
            arrival_sorted_files < arrival.len() / 2,
            "arrival order is not sorted"
        );
        assert_eq!(SampleSpec::default().play_order, PlayOrder::VenueRoom);
    }

    #[test]
    fn business_day_starts_at_six_in_shanghai() {
        let at = |s: &str| {
            Shanghai
                .from_local_datetime(
                    &NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap(),
                )
                .unwrap()
                .timestamp_millis()
        };
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(business_day(at("2024-12-01 05:59:59")), d("2024-11-30"));
        assert_eq!(business_day(at("2024-12-01 06:00:00")), d("2024-12-01"));
        assert_eq!(business_day(at("2024-11-30 23:30:00")), d("2024-11-30"));
    }
}
