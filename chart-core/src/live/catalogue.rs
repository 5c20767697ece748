//! The songs and venues a live month counts against, read once from a session, with
//! integer codes: a song's code is its rank in song id order (so that ordering by code
//! is ordering by id), a venue's its rank in venue id order.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use chrono::NaiveDate;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use hashbrown::HashTable;

use super::live_error;
use crate::error::Result;

/// The songs of the catalogue in song id order (a song's code is its index), held as
/// columns: hundreds of thousands of songs, each with three strings, take about a third
/// of the room they would as a `String` each.
#[derive(Debug)]
pub(crate) struct Songs {
    ids: StringArray,
    titles: StringArray,
    artists: StringArray,
    released: Date32Array,
}

impl Songs {
    /// Songs with a non-NULL id from batches of (song_id, title, artist, release_date).
    fn of(batches: &[RecordBatch]) -> Result<Songs> {
        let column = |name: &str, to: &DataType| -> Result<ArrayRef> {
            let parts = batches
                .iter()
                .map(|b| {
                    let ids = column(b, "song_id")?;
                    let kept = arrow::compute::is_not_null(ids).map_err(DataFusionError::from)?;
                    let part = cast(column(b, name)?, to).map_err(DataFusionError::from)?;
                    Ok(arrow::compute::filter(&part, &kept).map_err(DataFusionError::from)?)
                })
                .collect::<Result<Vec<ArrayRef>>>()?;
            let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
            Ok(match parts.as_slice() {
                [] => arrow::array::new_empty_array(to),
                // One copy, with buffers of its own (a batch's may be slices of larger ones).
                parts => arrow::compute::concat(parts).map_err(DataFusionError::from)?,
            })
        };
        Ok(Songs {
            ids: column("song_id", &DataType::Utf8)?
                .as_string::<i32>()
                .clone(),
            titles: column("title", &DataType::Utf8)?.as_string::<i32>().clone(),
            artists: column("artist", &DataType::Utf8)?
                .as_string::<i32>()
                .clone(),
            released: column("release_date", &DataType::Date32)?
                .as_primitive::<Date32Type>()
                .clone(),
        })
    }

    /// Songs with these ids and no titles, artists or release dates (for unit tests).
    #[cfg(test)]
    fn of_ids(ids: &[&str]) -> Songs {
        let n = ids.len();
        Songs {
            ids: StringArray::from_iter_values(ids),
            titles: StringArray::from_iter_values(std::iter::repeat_n("", n)),
            artists: StringArray::from_iter_values(std::iter::repeat_n("", n)),
            released: Date32Array::from(vec![None; n]),
        }
    }

    /// How many songs.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// A song's id.
    pub fn id(&self, code: u32) -> &str {
        self.ids.value(code as usize)
    }

    /// A song's title ("" when NULL).
    pub fn title(&self, code: u32) -> &str {
        text(&self.titles, code)
    }

    /// A song's artist ("" when NULL).
    pub fn artist(&self, code: u32) -> &str {
        text(&self.artists, code)
    }

    /// A song's release date.
    pub fn release_date(&self, code: u32) -> Option<NaiveDate> {
        let i = code as usize;
        self.released
            .is_valid(i)
            .then(|| self.released.value_as_date(i))
            .flatten()
    }
}

fn text(array: &StringArray, code: u32) -> &str {
    let i = code as usize;
    if array.is_valid(i) {
        array.value(i)
    } else {
        ""
    }
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
    pub songs: Songs,
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
            songs: Songs::of(&songs)?,
            venue_codes: HashMap::default(),
            venue_ids: Vec::new(),
            venues: Vec::new(),
            provinces: Vec::new(),
        };
        drop(songs);
        catalogue.code_songs()?;
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
            songs: Songs::of_ids(songs),
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
        catalogue.code_songs().expect("distinct song ids");
        catalogue
    }

    /// Codes every song by its index.
    fn code_songs(&mut self) -> Result<()> {
        u32::try_from(self.songs.len()).map_err(|_| live_error("songs: more than 2^32 songs"))?;
        self.song_codes = HashTable::with_capacity(self.songs.len());
        for code in 0..self.songs.len() as u32 {
            let id = self.songs.id(code);
            if self.song(id).is_some() {
                return Err(live_error(format!("songs: song_id {id} appears twice")));
            }
            let (songs, hasher) = (&self.songs, &self.hasher);
            self.song_codes
                .insert_unique(hasher.hash_one(id), code, |&c| hasher.hash_one(songs.id(c)));
        }
        Ok(())
    }

    /// A song's code.
    pub fn song(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.song_codes
            .find(hash, |&c| self.songs.id(c) == id)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;

    /// A session with `songs` in two batches (rows of id, title, artist, release day
    /// as days since 1970) and one venue.
    fn session(songs: &[[Option<&str>; 3]], released: &[Option<i32>]) -> SessionContext {
        let schema = Arc::new(Schema::new(vec![
            Field::new("song_id", DataType::Utf8, true),
            Field::new("title", DataType::Utf8, true),
            Field::new("artist", DataType::Utf8, true),
            Field::new("release_date", DataType::Date32, true),
        ]));
        let batch = |rows: std::ops::Range<usize>| {
            let text = |c: usize| -> ArrayRef {
                Arc::new(
                    songs[rows.clone()]
                        .iter()
                        .map(|s| s[c])
                        .collect::<StringArray>(),
                )
            };
            let dates: ArrayRef = Arc::new(Date32Array::from(released[rows.clone()].to_vec()));
            RecordBatch::try_new(schema.clone(), vec![text(0), text(1), text(2), dates]).unwrap()
        };
        let half = songs.len() / 2;
        let ctx = SessionContext::new();
        let songs = MemTable::try_new(
            schema.clone(),
            vec![vec![batch(0..half)], vec![batch(half..songs.len())]],
        )
        .unwrap();
        ctx.register_table("songs", Arc::new(songs)).unwrap();
        let venues = Arc::new(Schema::new(vec![
            Field::new("venue_id", DataType::Utf8, false),
            Field::new("province", DataType::Utf8, false),
            Field::new("city", DataType::Utf8, false),
            Field::new("rooms", DataType::Int32, false),
            Field::new("licensed_since", DataType::Date32, true),
            Field::new("connected_on", DataType::Date32, true),
        ]));
        let venue = RecordBatch::try_new(
            venues.clone(),
            vec![
                Arc::new(StringArray::from(vec!["v1"])),
                Arc::new(StringArray::from(vec!["广东"])),
                Arc::new(StringArray::from(vec!["广州"])),
                Arc::new(arrow::array::Int32Array::from(vec![8])),
                Arc::new(Date32Array::from(vec![None])),
                Arc::new(Date32Array::from(vec![None])),
            ],
        )
        .unwrap();
        let venues = MemTable::try_new(venues, vec![vec![venue]]).unwrap();
        ctx.register_table("venues", Arc::new(venues)).unwrap();
        ctx
    }

    #[tokio::test]
    async fn songs_are_coded_in_id_order_with_their_titles_artists_and_dates() {
        let ctx = session(
            &[
                [Some("s3"), Some("晴天"), Some("周杰伦")],
                [None, Some("no id"), Some("skipped")],
                [Some("s1"), None, Some("A")],
                [Some("s2"), Some("T"), None],
            ],
            &[Some(19_000), Some(1), None, Some(20_000)],
        );
        let catalogue = Catalogue::load(&ctx).await.unwrap();
        assert_eq!(
            catalogue.songs.len(),
            3,
            "the song without an id is left out"
        );
        let codes: Vec<Option<u32>> = ["s1", "s2", "s3", "s4"]
            .iter()
            .map(|id| catalogue.song(id))
            .collect();
        assert_eq!(codes, [Some(0), Some(1), Some(2), None]);
        let songs = &catalogue.songs;
        let rows: Vec<(&str, &str, &str, Option<NaiveDate>)> = (0..3)
            .map(|c| {
                (
                    songs.id(c),
                    songs.title(c),
                    songs.artist(c),
                    songs.release_date(c),
                )
            })
            .collect();
        let day =
            |d: i64| NaiveDate::from_ymd_opt(1970, 1, 1).map(|e| e + chrono::Duration::days(d));
        assert_eq!(
            rows,
            [
                ("s1", "", "A", None),
                ("s2", "T", "", day(20_000)),
                ("s3", "晴天", "周杰伦", day(19_000)),
            ]
        );
    }

    #[tokio::test]
    async fn a_song_id_twice_is_an_error_naming_it() {
        let ctx = session(
            &[[Some("s1"), None, None], [Some("s1"), None, None]],
            &[None, None],
        );
        let error = Catalogue::load(&ctx).await.unwrap_err().to_string();
        assert!(error.contains("song_id s1 appears twice"), "{error}");
    }
}
