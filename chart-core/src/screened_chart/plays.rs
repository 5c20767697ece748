//! The inputs of GM-2's rules, read once from a session: a month's valid plays
//! (GM-1's `valid_plays`: deduplicated by event id, long enough, of a known song in a
//! known venue), coded as integers whose order is the order of the ids they stand for,
//! and counted per business day, venue and vendor for rule 5; the venues' cities; the
//! songs' titles and release dates.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int32Type, TimeUnit, TimestampMillisecondType};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::holds::DailyPlays;
use crate::error::{ChartError, Result};
use crate::methodology::Period;

/// A hash map with a fast hash, seeded per process (the keys are ids senders chose).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A code standing for "no vendor" (`vod_vendor` is NULL).
pub(crate) const NO_VENDOR: u32 = u32::MAX;

/// Strings coded as `u32`, in first-seen order until [`Dictionary::sorted`].
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    codes: FastMap<String, u32>,
    values: Vec<String>,
}

impl Dictionary {
    pub(crate) fn code(&mut self, value: &str) -> u32 {
        if let Some(&code) = self.codes.get(value) {
            return code;
        }
        let code = self.values.len() as u32;
        self.codes.insert(value.to_string(), code);
        self.values.push(value.to_string());
        code
    }

    /// The values in ascending order, and each old code's new code.
    fn sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.values.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.values[a as usize].cmp(&self.values[b as usize]));
        let mut new_code = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_code[old as usize] = new as u32;
        }
        let mut values = self.values;
        let sorted = order
            .iter()
            .map(|&old| std::mem::take(&mut values[old as usize]))
            .collect();
        (sorted, new_code)
    }
}

/// One month's valid plays, a column per field. Codes follow the order of the ids:
/// songs by `song_id`, venues by `venue_id`, rooms by (`venue_id`, `room_id`),
/// vendors by name.
#[derive(Debug, Default)]
pub(crate) struct MonthPlays {
    /// Business day, in days since 1970-01-01.
    pub day: Vec<i32>,
    pub venue: Vec<u32>,
    pub room: Vec<u32>,
    pub song: Vec<u32>,
    pub started_ms: Vec<i64>,
    pub played_ms: Vec<i32>,
    pub vendor: Vec<u32>,
    /// Code → `song_id`.
    pub songs: Vec<String>,
    /// Code → `venue_id`.
    pub venues: Vec<String>,
    /// Code → `vod_vendor`.
    pub vendors: Vec<String>,
    /// Room code → `room_id` (its venue is any of its plays').
    pub rooms: Vec<String>,
}

impl MonthPlays {
    pub(crate) fn len(&self) -> usize {
        self.day.len()
    }

    /// Adds the month's valid plays per business day, venue and vendor to `daily`.
    pub(crate) fn add_daily_plays(&self, daily: &mut DailyPlays) {
        let mut counts: FastMap<(i32, u32, u32), i64> = FastMap::default();
        for i in 0..self.len() {
            *counts
                .entry((self.day[i], self.venue[i], self.vendor[i]))
                .or_default() += 1;
        }
        for ((day, venue, vendor), plays) in counts {
            let vendor = (vendor != NO_VENDOR).then(|| self.vendors[vendor as usize].as_str());
            daily.add(day, &self.venues[venue as usize], vendor, plays);
        }
    }
}

/// The columns a [`MonthPlaysCoder`] reads, in this order.
pub(crate) const MONTH_PLAYS_COLUMNS: [&str; 7] = [
    "business_day",
    "venue_id",
    "room_id",
    "song_id",
    "started_at",
    "played_ms",
    "vod_vendor",
];

/// The rows of `valid_plays` in `period`'s business days (for [`MONTH_PLAYS_COLUMNS`]).
pub(crate) fn in_period(period: &Period) -> datafusion::prelude::Expr {
    use datafusion::prelude::{col, lit};
    let day = |d: NaiveDate| {
        lit(datafusion::scalar::ScalarValue::Date32(Some(
            super::days_since_epoch(d),
        )))
    };
    col("business_day").between(day(period.first_day()), day(period.last_day()))
}

/// Reads the valid plays of `period`'s business days.
pub(crate) async fn month_plays(ctx: &SessionContext, period: &Period) -> Result<MonthPlays> {
    let mut coder = MonthPlaysCoder::default();
    let mut stream = ctx
        .table("valid_plays")
        .await?
        .filter(in_period(period))?
        .select_columns(&MONTH_PLAYS_COLUMNS)?
        .execute_stream()
        .await?;
    while let Some(batch) = stream.next().await {
        coder.push(&batch?)?;
    }
    Ok(coder.finish())
}

/// Codes batches of valid plays (the columns of [`MONTH_PLAYS_COLUMNS`], in order) into
/// a [`MonthPlays`].
#[derive(Debug, Default)]
pub(crate) struct MonthPlaysCoder {
    songs: Dictionary,
    venues: Dictionary,
    vendors: Dictionary,
    /// Per venue code, its rooms' codes by room_id (looked up without allocating).
    rooms: Vec<FastMap<String, u32>>,
    room_keys: Vec<(u32, String)>,
    plays: MonthPlays,
}

impl MonthPlaysCoder {
    /// Adds a batch's plays.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let days = date_column(batch, 0)?;
        let (venue_ids, room_ids, song_ids, vendor_ids) = (
            Text::of(batch, 1)?,
            Text::of(batch, 2)?,
            Text::of(batch, 3)?,
            Text::of(batch, 6)?,
        );
        let started = cast(
            batch.column(4),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )
        .map_err(to_query)?;
        let started = started.as_primitive::<TimestampMillisecondType>();
        let played = cast(batch.column(5), &DataType::Int32).map_err(to_query)?;
        let played = played.as_primitive::<Int32Type>();
        let plays = &mut self.plays;
        // The previous row's venue, room and vendor: files sorted by venue and room
        // repeat them row after row, so most rows need no lookup.
        let mut last_room: Option<(&str, &str, u32, u32)> = None;
        let mut last_vendor: Option<(&str, u32)> = None;
        for i in 0..batch.num_rows() {
            let (venue_id, room_id) = (venue_ids.value(i), room_ids.value(i));
            let (venue, room) = match last_room {
                Some((v, r, venue, room)) if v == venue_id && r == room_id => (venue, room),
                _ => {
                    let venue = self.venues.code(venue_id);
                    if self.rooms.len() <= venue as usize {
                        self.rooms.resize_with(venue as usize + 1, FastMap::default);
                    }
                    let room = match self.rooms[venue as usize].get(room_id) {
                        Some(&room) => room,
                        None => {
                            let room = self.room_keys.len() as u32;
                            self.rooms[venue as usize].insert(room_id.to_string(), room);
                            self.room_keys.push((venue, room_id.to_string()));
                            room
                        }
                    };
                    last_room = Some((venue_id, room_id, venue, room));
                    (venue, room)
                }
            };
            let vendor = if vendor_ids.is_valid(i) {
                let vendor_id = vendor_ids.value(i);
                match last_vendor {
                    Some((v, code)) if v == vendor_id => code,
                    _ => {
                        let code = self.vendors.code(vendor_id);
                        last_vendor = Some((vendor_id, code));
                        code
                    }
                }
            } else {
                NO_VENDOR
            };
            plays.day.push(days.value(i));
            plays.venue.push(venue);
            plays.room.push(room);
            plays.song.push(self.songs.code(song_ids.value(i)));
            plays.started_ms.push(started.value(i));
            plays.played_ms.push(played.value(i));
            plays.vendor.push(vendor);
        }
        Ok(())
    }

    /// The plays, with codes in the order of the ids, so that every order below is the
    /// ids' order.
    pub(crate) fn finish(self) -> MonthPlays {
        let MonthPlaysCoder {
            songs,
            venues,
            vendors,
            room_keys,
            mut plays,
            ..
        } = self;
        let (song_values, song_code) = songs.sorted();
        let (venue_values, venue_code) = venues.sorted();
        let (vendor_values, vendor_code) = vendors.sorted();
        let mut room_order: Vec<u32> = (0..room_keys.len() as u32).collect();
        room_order.sort_unstable_by(|&a, &b| {
            let (va, ra) = &room_keys[a as usize];
            let (vb, rb) = &room_keys[b as usize];
            (venue_code[*va as usize], ra).cmp(&(venue_code[*vb as usize], rb))
        });
        let mut room_code = vec![0u32; room_order.len()];
        for (new, &old) in room_order.iter().enumerate() {
            room_code[old as usize] = new as u32;
        }
        for i in 0..plays.len() {
            plays.song[i] = song_code[plays.song[i] as usize];
            plays.venue[i] = venue_code[plays.venue[i] as usize];
            plays.room[i] = room_code[plays.room[i] as usize];
            if plays.vendor[i] != NO_VENDOR {
                plays.vendor[i] = vendor_code[plays.vendor[i] as usize];
            }
        }
        plays.rooms = room_order
            .iter()
            .map(|&old| room_keys[old as usize].1.clone())
            .collect();
        plays.songs = song_values;
        plays.venues = venue_values;
        plays.vendors = vendor_values;
        plays
    }
}

/// A text column as it comes (Utf8View from the files, Utf8 from memory), read
/// without a copy.
enum Text {
    View(arrow::array::StringViewArray),
    Utf8(arrow::array::StringArray),
}

impl Text {
    fn of(batch: &RecordBatch, i: usize) -> Result<Text> {
        let column = batch.column(i);
        Ok(match column.data_type() {
            DataType::Utf8View => Text::View(column.as_string_view().clone()),
            _ => Text::Utf8(text_column(batch, i)?),
        })
    }

    fn value(&self, i: usize) -> &str {
        match self {
            Text::View(a) => a.value(i),
            Text::Utf8(a) => a.value(i),
        }
    }

    fn is_valid(&self, i: usize) -> bool {
        match self {
            Text::View(a) => a.is_valid(i),
            Text::Utf8(a) => a.is_valid(i),
        }
    }
}

/// Each venue's province and city.
pub(crate) async fn venue_places(
    ctx: &SessionContext,
) -> Result<HashMap<String, (String, String)>> {
    let mut places = HashMap::new();
    let mut stream = ctx
        .sql("SELECT venue_id, province, city FROM venues")
        .await?
        .execute_stream()
        .await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let (ids, provinces, cities) = (
            text_column(&batch, 0)?,
            text_column(&batch, 1)?,
            text_column(&batch, 2)?,
        );
        for i in 0..batch.num_rows() {
            places.insert(
                ids.value(i).to_string(),
                (provinces.value(i).to_string(), cities.value(i).to_string()),
            );
        }
    }
    Ok(places)
}

/// The songs table sorted by `song_id` (each id once): what the charts show of a song,
/// and the order of the month's song codes from day digests.
pub(crate) struct SongCatalogue {
    ids: arrow::array::StringArray,
    titles: arrow::array::StringArray,
    artists: arrow::array::StringArray,
    released: arrow::array::Date32Array,
}

impl SongCatalogue {
    pub(crate) async fn read(ctx: &SessionContext) -> Result<SongCatalogue> {
        let batches = ctx
            .sql("SELECT song_id, title, artist, release_date FROM songs WHERE song_id IS NOT NULL")
            .await?
            .collect()
            .await?;
        let column = |i: usize, kind: &DataType| -> Result<arrow::array::ArrayRef> {
            let parts = batches
                .iter()
                .map(|b| cast(b.column(i), kind))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(to_query)?;
            let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
            if parts.is_empty() {
                return Ok(arrow::array::new_empty_array(kind));
            }
            arrow::compute::concat(&parts).map_err(to_query)
        };
        let ids = column(0, &DataType::Utf8)?;
        let order = arrow::compute::sort_to_indices(&ids, None, None).map_err(to_query)?;
        let take = |array: arrow::array::ArrayRef| {
            arrow::compute::take(&array, &order, None).map_err(to_query)
        };
        let ids = take(ids)?;
        let ids = ids.as_string::<i32>();
        // Each id once (its first row).
        let first: arrow::array::BooleanArray = (0..ids.len())
            .map(|i| Some(i == 0 || ids.value(i) != ids.value(i - 1)))
            .collect();
        let keep = |array: arrow::array::ArrayRef| {
            arrow::compute::filter(&array, &first).map_err(to_query)
        };
        Ok(SongCatalogue {
            ids: keep(std::sync::Arc::new(ids.clone()))?
                .as_string::<i32>()
                .clone(),
            titles: keep(take(column(1, &DataType::Utf8)?)?)?
                .as_string::<i32>()
                .clone(),
            artists: keep(take(column(2, &DataType::Utf8)?)?)?
                .as_string::<i32>()
                .clone(),
            released: keep(take(column(3, &DataType::Date32)?)?)?
                .as_primitive::<Date32Type>()
                .clone(),
        })
    }

    /// The ids, ascending.
    pub(crate) fn ids(&self) -> Vec<&str> {
        (0..self.ids.len()).map(|i| self.ids.value(i)).collect()
    }

    /// Where `id` is (a binary search).
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.ids.len());
        while low < high {
            let middle = (low + high) / 2;
            if self.ids.value(middle) < id {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        (low < self.ids.len() && self.ids.value(low) == id).then_some(low)
    }

    /// Title and artist of the song at `position`.
    pub(crate) fn title_artist(&self, position: usize) -> (String, String) {
        (
            self.titles.value(position).to_string(),
            self.artists.value(position).to_string(),
        )
    }

    /// Release date of the song at `position`.
    pub(crate) fn released(&self, position: usize) -> Option<NaiveDate> {
        self.released
            .is_valid(position)
            .then(|| self.released.value_as_date(position))
            .flatten()
    }
}

fn text_column(batch: &RecordBatch, i: usize) -> Result<arrow::array::StringArray> {
    let column = cast(batch.column(i), &DataType::Utf8).map_err(to_query)?;
    Ok(column.as_string::<i32>().clone())
}

fn date_column(batch: &RecordBatch, i: usize) -> Result<arrow::array::Date32Array> {
    let column = cast(batch.column(i), &DataType::Date32).map_err(to_query)?;
    Ok(column.as_primitive::<Date32Type>().clone())
}

fn to_query(e: arrow::error::ArrowError) -> ChartError {
    ChartError::Query(e.into())
}
