//! The venue register, calibrated to the 2024 annual report.

use std::sync::Arc;

use arrow::array::{Date32Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Calibration;
use crate::names::{PROVINCES, city_name};

/// One row of `venues`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Venue {
    /// `venue_id`.
    pub venue_id: String,
    /// `name`.
    pub name: String,
    /// `province`.
    pub province: String,
    /// `city`.
    pub city: String,
    /// `rooms`.
    pub rooms: i32,
    /// `licensed_since`.
    pub licensed_since: Option<NaiveDate>,
    /// `connected_on`.
    pub connected_on: Option<NaiveDate>,
    /// The VOD vendor this venue's plays report (not a column of `venues`).
    pub vod_vendor: Option<&'static str>,
}

/// Venues connected before 2023 (2019 to 2022).
const CONNECTED_BEFORE_2023: usize = Calibration::CONNECTED_VENUES_2024
    - Calibration::NEW_VENUES_2024
    - Calibration::NEW_VENUES_2023;
/// Venues in the register that are neither licensed nor connected.
const UNLICENSED_VENUES: usize = 150;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn random_day(rng: &mut ChaCha8Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + chrono::Duration::days(rng.random_range(0..=span))
}

/// A day in `year`, later months more likely (the platform's roll-out accelerates).
fn connection_day(rng: &mut ChaCha8Rng, year: i32) -> NaiveDate {
    let u: f64 = rng.random();
    let month = (1.0 + 12.0 * u.sqrt()).floor().min(12.0) as u32;
    let first = date(year, month, 1);
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .expect("in range")
        - chrono::Duration::days(1);
    random_day(rng, first, last)
}

/// Generates the register: connected venues first, then licensed-only, then unlicensed ones.
pub(crate) fn generate_venues(seed: u64) -> Vec<Venue> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7665_6e75_6573);
    let cities: Vec<(usize, usize)> = PROVINCES
        .iter()
        .enumerate()
        .flat_map(|(p, prov)| (0..prov.connected_cities).map(move |c| (p, c)))
        .collect();
    let connected = Calibration::CONNECTED_VENUES_2024;
    let mut venues = Vec::with_capacity(Calibration::LICENSED_VENUES_2024 + UNLICENSED_VENUES);

    // Connection years: the first venues joined 2019-2022, then 363 in 2023 and 599 in 2024.
    let mut years: Vec<i32> = Vec::with_capacity(connected);
    years.extend((0..CONNECTED_BEFORE_2023).map(|i| 2019 + (i % 4) as i32));
    years.extend(std::iter::repeat_n(2023, Calibration::NEW_VENUES_2023));
    years.extend(std::iter::repeat_n(2024, Calibration::NEW_VENUES_2024));

    let mut rooms: Vec<i32> = (0..connected)
        .map(|_| rng.random_range(6..=24) + rng.random_range(0..=20))
        .collect();
    balance_rooms(&mut rooms, Calibration::ROOMS);

    for (i, year) in years.iter().enumerate() {
        // Every city gets a venue first, then the big provinces get more.
        let (p, c) = if i < cities.len() {
            cities[i]
        } else {
            cities[weighted_city(&mut rng, cities.len())]
        };
        let province = &PROVINCES[p];
        let connected_on = connection_day(&mut rng, *year);
        let licensed_since = random_day(&mut rng, date(2006, 6, 1), connected_on);
        venues.push(Venue {
            venue_id: String::new(),
            name: String::new(),
            province: province.name.to_string(),
            city: city_name(province, c),
            rooms: rooms[i],
            licensed_since: Some(licensed_since),
            connected_on: Some(connected_on),
            vod_vendor: vendor(&mut rng),
        });
    }
    // Licensed venues not (yet) connected, in every province including the three
    // without connected venues.
    for _ in connected..Calibration::LICENSED_VENUES_2024 {
        let p = rng.random_range(0..PROVINCES.len());
        let province = &PROVINCES[p];
        let c = rng.random_range(0..province.connected_cities.max(2));
        venues.push(Venue {
            venue_id: String::new(),
            name: String::new(),
            province: province.name.to_string(),
            city: city_name(province, c),
            rooms: rng.random_range(4..=40),
            licensed_since: Some(random_day(&mut rng, date(2006, 6, 1), date(2024, 12, 31))),
            connected_on: None,
            vod_vendor: vendor(&mut rng),
        });
    }
    for _ in 0..UNLICENSED_VENUES {
        let p = rng.random_range(0..PROVINCES.len());
        let province = &PROVINCES[p];
        venues.push(Venue {
            venue_id: String::new(),
            name: String::new(),
            province: province.name.to_string(),
            city: city_name(province, 0),
            rooms: rng.random_range(4..=20),
            licensed_since: None,
            connected_on: None,
            vod_vendor: None,
        });
    }
    // Ids in a shuffled order so that connected venues are spread over the id space.
    let mut ids: Vec<usize> = (0..venues.len()).collect();
    for i in (1..ids.len()).rev() {
        let j = rng.random_range(0..=i);
        ids.swap(i, j);
    }
    for (venue, id) in venues.iter_mut().zip(ids) {
        venue.venue_id = format!("V{:06}", id + 1);
        venue.name = format!("{}{}量贩KTV", venue.city, id % 97 + 1);
    }
    venues.sort_by(|a, b| a.venue_id.cmp(&b.venue_id));
    venues
}

/// Picks a city index with a bias to the first (largest) provinces.
fn weighted_city(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u) * n as f64) as usize % n
}

fn vendor(rng: &mut ChaCha8Rng) -> Option<&'static str> {
    let i = rng.random_range(0..super::names::VOD_VENDORS.len() + 1);
    super::names::VOD_VENDORS.get(i).copied()
}

/// Adjusts room counts one by one so that they add up to `total`, keeping each in 4..=60.
fn balance_rooms(rooms: &mut [i32], total: i64) {
    let mut sum: i64 = rooms.iter().map(|&r| r as i64).sum();
    let mut i = 0;
    while sum != total {
        let r = &mut rooms[i % rooms.len()];
        if sum < total && *r < 60 {
            *r += 1;
            sum += 1;
        } else if sum > total && *r > 4 {
            *r -= 1;
            sum -= 1;
        }
        i += 1;
    }
}

/// The `venues` table as one batch in the data contract's schema.
pub(crate) fn venues_batch(venues: &[Venue]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("province", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("rooms", DataType::Int32, false),
        Field::new("licensed_since", DataType::Date32, true),
        Field::new("connected_on", DataType::Date32, true),
    ]));
    let days = |d: Option<NaiveDate>| d.map(|d| d.num_days_from_ce() - EPOCH_DAYS_FROM_CE);
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                venues.iter().map(|v| &v.venue_id),
            )),
            Arc::new(StringArray::from_iter_values(
                venues.iter().map(|v| &v.name),
            )),
            Arc::new(StringArray::from_iter_values(
                venues.iter().map(|v| &v.province),
            )),
            Arc::new(StringArray::from_iter_values(
                venues.iter().map(|v| &v.city),
            )),
            Arc::new(Int32Array::from_iter_values(venues.iter().map(|v| v.rooms))),
            Arc::new(Date32Array::from_iter(
                venues.iter().map(|v| days(v.licensed_since)),
            )),
            Arc::new(Date32Array::from_iter(
                venues.iter().map(|v| days(v.connected_on)),
            )),
        ],
    )
    .expect("columns match the schema")
}

/// Days from 0001-01-01 (CE day 1) to 1970-01-01, for Date32 values.
pub(crate) const EPOCH_DAYS_FROM_CE: i32 = 719_163;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn register_matches_the_report() {
        let venues = generate_venues(7);
        let end = date(2024, 12, 31);
        let connected: Vec<&Venue> = venues
            .iter()
            .filter(|v| v.connected_on.is_some_and(|d| d <= end))
            .collect();
        assert_eq!(connected.len(), 1_515);
        let provinces: HashSet<&str> = connected.iter().map(|v| v.province.as_str()).collect();
        assert_eq!(provinces.len(), 28);
        let cities: HashSet<(&str, &str)> = connected
            .iter()
            .map(|v| (v.province.as_str(), v.city.as_str()))
            .collect();
        assert_eq!(cities.len(), 167);
        assert_eq!(
            connected.iter().map(|v| v.rooms as i64).sum::<i64>(),
            33_000
        );
        let licensed = venues
            .iter()
            .filter(|v| v.licensed_since.is_some_and(|d| d <= end))
            .count();
        assert_eq!(licensed, 12_731);
        let joined = |y| {
            connected
                .iter()
                .filter(|v| v.connected_on.unwrap().year() == y)
                .count()
        };
        assert_eq!((joined(2023), joined(2024)), (363, 599));
        let ids: HashSet<&str> = venues.iter().map(|v| v.venue_id.as_str()).collect();
        assert_eq!(ids.len(), venues.len());
    }
}
