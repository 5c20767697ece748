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

/// A code standing for "no vendor" (`vod_vendor` is NULL).
pub(crate) const NO_VENDOR: u32 = u32::MAX;

/// Strings coded as `u32`, in first-seen order until [`Dictionary::sorted`].
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    codes: HashMap<String, u32>,
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
        let mut counts: HashMap<(i32, u32, u32), i64> = HashMap::new();
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

/// Reads the valid plays of `period`'s business days.
pub(crate) async fn month_plays(ctx: &SessionContext, period: &Period) -> Result<MonthPlays> {
    let sql = format!(
        "SELECT business_day, venue_id, room_id, song_id, started_at, played_ms, vod_vendor \
         FROM valid_plays WHERE business_day BETWEEN DATE '{}' AND DATE '{}'",
        period.first_day(),
        period.last_day()
    );
    let (mut songs, mut venues, mut vendors) = (
        Dictionary::default(),
        Dictionary::default(),
        Dictionary::default(),
    );
    // Per venue code, its rooms' codes by room_id (looked up without allocating).
    let mut rooms: Vec<HashMap<String, u32>> = Vec::new();
    let mut room_keys: Vec<(u32, String)> = Vec::new();
    let mut plays = MonthPlays::default();
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let days = date_column(&batch, 0)?;
        let (venue_ids, room_ids, song_ids, vendor_ids) = (
            text_column(&batch, 1)?,
            text_column(&batch, 2)?,
            text_column(&batch, 3)?,
            text_column(&batch, 6)?,
        );
        let started = cast(
            batch.column(4),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        )
        .map_err(to_query)?;
        let started = started.as_primitive::<TimestampMillisecondType>();
        let played = cast(batch.column(5), &DataType::Int32).map_err(to_query)?;
        let played = played.as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            let venue = venues.code(venue_ids.value(i));
            if rooms.len() <= venue as usize {
                rooms.resize_with(venue as usize + 1, HashMap::new);
            }
            let room_id = room_ids.value(i);
            let room = match rooms[venue as usize].get(room_id) {
                Some(&room) => room,
                None => {
                    let room = room_keys.len() as u32;
                    rooms[venue as usize].insert(room_id.to_string(), room);
                    room_keys.push((venue, room_id.to_string()));
                    room
                }
            };
            plays.day.push(days.value(i));
            plays.venue.push(venue);
            plays.room.push(room);
            plays.song.push(songs.code(song_ids.value(i)));
            plays.started_ms.push(started.value(i));
            plays.played_ms.push(played.value(i));
            plays.vendor.push(if vendor_ids.is_valid(i) {
                vendors.code(vendor_ids.value(i))
            } else {
                NO_VENDOR
            });
        }
    }
    // Codes in the order of the ids, so that every order below is the ids' order.
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
    Ok(plays)
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

/// Each song's title, artist and release date, of the songs `keep` accepts.
pub(crate) async fn song_details(
    ctx: &SessionContext,
    keep: impl Fn(&str) -> bool,
) -> Result<HashMap<String, (String, String, Option<NaiveDate>)>> {
    let mut details = HashMap::new();
    let mut stream = ctx
        .sql("SELECT song_id, title, artist, release_date FROM songs")
        .await?
        .execute_stream()
        .await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let (ids, titles, artists) = (
            text_column(&batch, 0)?,
            text_column(&batch, 1)?,
            text_column(&batch, 2)?,
        );
        let released = date_column(&batch, 3)?;
        for i in 0..batch.num_rows() {
            if !keep(ids.value(i)) {
                continue;
            }
            details.insert(
                ids.value(i).to_string(),
                (
                    titles.value(i).to_string(),
                    artists.value(i).to_string(),
                    released.value_as_date(i).filter(|_| released.is_valid(i)),
                ),
            );
        }
    }
    Ok(details)
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
