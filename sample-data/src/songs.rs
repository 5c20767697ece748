//! The licensed catalogue.

use std::sync::Arc;

use arrow::array::{Date32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::names::{FAMILY_NAMES, GIVEN_NAMES, LANGUAGES, TITLE_WORDS};
use crate::venues::EPOCH_DAYS_FROM_CE;

/// One row of `songs`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Song {
    /// `song_id`.
    pub song_id: String,
    /// `title`.
    pub title: String,
    /// `artist`.
    pub artist: String,
    /// `release_date` (None: unknown).
    pub release_date: Option<NaiveDate>,
    /// `rights_holder_id`.
    pub rights_holder_id: Option<String>,
    /// `language`.
    pub language: Option<&'static str>,
}

/// Generates `n` songs released up to `last_release`; about 10% of them in its last two years.
pub(crate) fn generate_songs(seed: u64, n: usize, last_release: NaiveDate) -> Vec<Song> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0073_6f6e_6773);
    let artists = (n / 25).clamp(20, 20_000);
    let first = NaiveDate::from_ymd_opt(1980, 1, 1).expect("valid date");
    let span_days = (last_release - first).num_days();
    (0..n)
        .map(|i| {
            let words = rng.random_range(2..=5);
            let title: String = (0..words)
                .map(|_| TITLE_WORDS[rng.random_range(0..TITLE_WORDS.len())])
                .collect();
            // Artists follow a skewed distribution: a few have many songs.
            let a = ((rng.random::<f64>().powi(2)) * artists as f64) as usize;
            let artist = format!(
                "{}{}{}",
                FAMILY_NAMES[a % FAMILY_NAMES.len()],
                GIVEN_NAMES[(a / FAMILY_NAMES.len()) % GIVEN_NAMES.len()],
                if a >= FAMILY_NAMES.len() * GIVEN_NAMES.len() {
                    GIVEN_NAMES[(a / 7) % GIVEN_NAMES.len()]
                } else {
                    ""
                }
            );
            let u: f64 = rng.random();
            let release_date = if u < 0.04 {
                None
            } else if u < 0.14 {
                Some(last_release - chrono::Duration::days(rng.random_range(0..730)))
            } else {
                // More songs in later years.
                let v: f64 = rng.random();
                Some(first + chrono::Duration::days((v.sqrt() * span_days as f64) as i64))
            };
            let rights_holder_id = if rng.random_bool(0.03) {
                None
            } else {
                Some(format!("RH{:04}", rng.random_range(1..=3000)))
            };
            let mut pick = rng.random_range(0..1000);
            let mut language = None;
            for (name, weight) in LANGUAGES {
                if pick < weight {
                    language = Some(name);
                    break;
                }
                pick -= weight;
            }
            if rng.random_bool(0.02) {
                language = None;
            }
            Song {
                song_id: format!("S{:07}", i + 1),
                title,
                artist,
                release_date,
                rights_holder_id,
                language,
            }
        })
        .collect()
}

/// The `songs` table as one batch in the data contract's schema.
pub(crate) fn songs_batch(songs: &[Song]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("song_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("artist", DataType::Utf8, false),
        Field::new("release_date", DataType::Date32, true),
        Field::new("rights_holder_id", DataType::Utf8, true),
        Field::new("language", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|s| &s.song_id),
            )),
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|s| &s.title),
            )),
            Arc::new(StringArray::from_iter_values(
                songs.iter().map(|s| &s.artist),
            )),
            Arc::new(Date32Array::from_iter(songs.iter().map(|s| {
                s.release_date
                    .map(|d| d.num_days_from_ce() - EPOCH_DAYS_FROM_CE)
            }))),
            Arc::new(StringArray::from_iter(
                songs.iter().map(|s| s.rights_holder_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter(songs.iter().map(|s| s.language))),
        ],
    )
    .expect("columns match the schema")
}
