//! The songs and venues a live month counts against, read once from a session, with
//! integer codes: a song's code is its rank in song id order (so that ordering by code
//! is ordering by id), a venue's its rank in venue id order.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use hashbrown::HashTable;

use super::live_error;
use crate::error::Result;

/// A song of the catalogue.
#[derive(Debug, Clone)]
pub(crate) struct Song {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub release_date: Option<NaiveDate>,
}

/// A venue of the register.
#[derive(Debug, Clone)]
pub(crate) struct Venue {
    pub province: u16,
    pub city: String,
    pub rooms: i64,
    pub licensed_since: Option<NaiveDate>,
    pub connected_on: Option<NaiveDate>,
}

/// `songs` and `venues`, coded.
#[derive(Debug)]
pub(crate) struct Catalogue {
    /// Song codes, found by the hash of their id in `songs` (hundreds of thousands of
    /// songs: their ids are not held twice).
    song_codes: HashTable<u32>,
    hasher: foldhash::fast::FixedState,
    pub songs: Vec<Song>,
    venue_codes: HashMap<String, u32, foldhash::fast::RandomState>,
    venue_ids: Vec<String>,
    pub venues: Vec<Venue>,
    /// The provinces of `venues`, sorted; a venue's `province` indexes this.
    pub provinces: Vec<String>,
}

impl Catalogue {
    /// Reads `songs` and `venues` from a session where they are registered.
    pub async fn load(ctx: &SessionContext) -> Result<Catalogue> {
        let songs = ctx
            .sql("SELECT song_id, title, artist, release_date FROM songs ORDER BY song_id")
            .await?
            .collect()
            .await?;
        let mut catalogue = Catalogue {
            song_codes: HashTable::new(),
            hasher: foldhash::fast::FixedState::default(),
            songs: Vec::with_capacity(songs.iter().map(RecordBatch::num_rows).sum()),
            venue_codes: HashMap::default(),
            venue_ids: Vec::new(),
            venues: Vec::new(),
            provinces: Vec::new(),
        };
        for batch in &songs {
            let (ids, titles, artists) = (
                strings(batch, "song_id")?,
                strings(batch, "title")?,
                strings(batch, "artist")?,
            );
            let released = dates(batch, "release_date")?;
            for i in 0..batch.num_rows() {
                let Some(id) = ids[i].clone() else { continue };
                catalogue.add_song(Song {
                    id,
                    title: titles[i].clone().unwrap_or_default(),
                    artist: artists[i].clone().unwrap_or_default(),
                    release_date: released[i],
                })?;
            }
        }
        let venues = ctx
            .sql(
                "SELECT venue_id, province, city, rooms, licensed_since, connected_on \
                 FROM venues ORDER BY venue_id",
            )
            .await?
            .collect()
            .await?;
        let mut provinces = BTreeSet::new();
        let mut rows = Vec::new();
        for batch in &venues {
            let (ids, province, city) = (
                strings(batch, "venue_id")?,
                strings(batch, "province")?,
                strings(batch, "city")?,
            );
            let rooms =
                cast(column(batch, "rooms")?, &DataType::Int64).map_err(DataFusionError::from)?;
            let rooms = rooms.as_primitive::<Int64Type>();
            let (licensed, connected) = (
                dates(batch, "licensed_since")?,
                dates(batch, "connected_on")?,
            );
            for i in 0..batch.num_rows() {
                let Some(id) = ids[i].clone() else { continue };
                let province = province[i].clone().unwrap_or_default();
                provinces.insert(province.clone());
                rows.push((
                    id,
                    province,
                    city[i].clone().unwrap_or_default(),
                    if rooms.is_valid(i) { rooms.value(i) } else { 0 },
                    licensed[i],
                    connected[i],
                ));
            }
        }
        catalogue.provinces = provinces.into_iter().collect();
        if catalogue.provinces.len() > usize::from(u16::MAX) {
            return Err(live_error("venues: more provinces than a live month codes"));
        }
        for (id, province, city, rooms, licensed_since, connected_on) in rows {
            let code = catalogue.venues.len() as u32;
            if catalogue.venue_codes.insert(id.clone(), code).is_some() {
                return Err(live_error(format!("venues: venue_id {id} appears twice")));
            }
            let province = catalogue
                .provinces
                .binary_search(&province)
                .expect("every province was collected") as u16;
            catalogue.venue_ids.push(id);
            catalogue.venues.push(Venue {
                province,
                city,
                rooms,
                licensed_since,
                connected_on,
            });
        }
        Ok(catalogue)
    }

    /// A catalogue of `songs` and of `venues`, all in one province (for unit tests).
    #[cfg(test)]
    pub fn of(songs: &[&str], venues: &[&str]) -> Catalogue {
        let codes = |ids: &[&str]| {
            ids.iter()
                .zip(0..)
                .map(|(id, c)| (id.to_string(), c))
                .collect()
        };
        let mut catalogue = Catalogue {
            song_codes: HashTable::new(),
            hasher: foldhash::fast::FixedState::default(),
            songs: Vec::new(),
            venue_codes: codes(venues),
            venue_ids: venues.iter().map(|id| id.to_string()).collect(),
            venues: (venues.iter())
                .map(|_| Venue {
                    province: 0,
                    city: String::new(),
                    rooms: 1,
                    licensed_since: None,
                    connected_on: None,
                })
                .collect(),
            provinces: vec![String::new()],
        };
        for id in songs {
            let song = Song {
                id: id.to_string(),
                title: String::new(),
                artist: String::new(),
                release_date: None,
            };
            catalogue.add_song(song).expect("distinct song ids");
        }
        catalogue
    }

    /// Adds a song, coded by its place.
    fn add_song(&mut self, song: Song) -> Result<()> {
        if self.song(&song.id).is_some() {
            return Err(live_error(format!(
                "songs: song_id {} appears twice",
                song.id
            )));
        }
        let code = u32::try_from(self.songs.len())
            .map_err(|_| live_error("songs: more than 2^32 songs"))?;
        let hash = self.hasher.hash_one(song.id.as_str());
        self.songs.push(song);
        let (songs, hasher) = (&self.songs, &self.hasher);
        self.song_codes.insert_unique(hash, code, |&c| {
            hasher.hash_one(songs[c as usize].id.as_str())
        });
        Ok(())
    }

    /// A song's code.
    pub fn song(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.song_codes
            .find(hash, |&c| self.songs[c as usize].id == id)
            .copied()
    }

    /// A venue's code.
    pub fn venue(&self, id: &str) -> Option<u32> {
        self.venue_codes.get(id).copied()
    }

    /// A venue's id.
    pub fn venue_id(&self, code: u32) -> &str {
        &self.venue_ids[code as usize]
    }

    /// A province's index.
    pub fn province(&self, name: &str) -> Option<u16> {
        self.provinces
            .binary_search_by(|p| p.as_str().cmp(name))
            .ok()
            .map(|i| i as u16)
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| live_error(format!("no column {name}")))
}

/// A column as optional strings.
pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let array = cast(column(batch, name)?, &DataType::Utf8).map_err(DataFusionError::from)?;
    Ok(array
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect())
}

fn dates(batch: &RecordBatch, name: &str) -> Result<Vec<Option<NaiveDate>>> {
    let array = cast(column(batch, name)?, &DataType::Date32).map_err(DataFusionError::from)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
    Ok(array
        .as_primitive::<Date32Type>()
        .iter()
        .map(|d| d.map(|d| epoch + chrono::Duration::days(i64::from(d))))
        .collect())
}
