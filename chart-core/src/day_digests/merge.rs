//! Merging the digests of disjoint units into `song_period_stats` and
//! `room_period_outcomes`: GM-1's steps after the rules on the plays alone, in Rust
//! over the digests' coded entries instead of SQL over the plays. Each step mirrors a
//! view of `queries/`, and `tests/day_digests.rs` checks every row against the SQL
//! and the reference implementation:
//!
//! | step here | the SQL it mirrors |
//! |---|---|
//! | a `first_rule` of [`NO_EXCLUSION_RANK`] whose song is not in `songs`, or whose venue is not in `venues`, becomes `unknown_song` or `unknown_venue` ([`Exclusion`]) | `classified_plays.sql` (the lookups and `LEAST` of ranks) |
//! | events and rows summed per period, room and outcome | `room_period_outcomes.sql` |
//! | a room-day's valid plays summed over units, then `least(plays, cap)` | `room_day_plays.sql` (the room cap) |
//! | per period and song: the capped score, plays, distinct rooms and venues | `song_period_stats.sql` (`room_figures`) |
//! | a business day's month and year (`Calendar`) | `period_of(kind, day)` |
//!
//! The song ids are cut into ranges merged in parallel, each reading every unit's
//! entries of its songs once, in order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use chrono::{Datelike, NaiveDate};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionContext, col};
use foldhash::HashSet;

use futures::{StreamExt, TryStreamExt};

use super::kept::{Bound, KeptDigest};
use super::*;
use crate::error::Result;
use crate::methodology::{Exclusion, NO_EXCLUSION_RANK, PeriodKind};

/// Outcomes the merge counts per period and room: a valid play (slot 0), and each
/// exclusion rule (its rank).
const OUTCOMES: usize = Exclusion::ALL.len() + 1;

/// The outcome slot of an exclusion, or of a valid play.
fn outcome_slot(exclusion: Option<Exclusion>) -> usize {
    exclusion.map_or(0, |e| usize::from(e.rank()))
}

/// What the merge needs besides the digests.
pub(crate) struct MergeInputs {
    /// The song ids of `songs`.
    pub known_songs: Arc<HashSet<String>>,
    /// The venue ids of `venues`.
    pub known_venues: HashSet<String>,
    /// `gm_param('room_cap')`.
    pub room_cap: u64,
    /// The period kinds to compute.
    pub kinds: Vec<PeriodKind>,
    /// Parts merged at the same time.
    pub threads: usize,
    /// Entries per range of songs ([`CHUNK_ENTRIES`] but in tests).
    pub chunk_entries: usize,
}

/// A period of the merge: its kind and name (`YYYY-MM` or `YYYY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PeriodName {
    kind: PeriodKind,
    name: String,
}

/// The periods each business day of the digests belongs to.
struct Calendar {
    first_day: i32,
    /// Per day from `first_day`: the indices of its periods in `periods`.
    day_periods: Vec<[u32; 2]>,
    periods: Vec<PeriodName>,
}

/// No period (of a kind not computed).
const NO_PERIOD: u32 = u32::MAX;

/// Days from 0001-01-01 to 1970-01-01, the origin of `Date32`.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

impl Calendar {
    fn new(units: &[KeptDigest], kinds: &[PeriodKind]) -> Result<Calendar> {
        let days = units.iter().filter_map(|u| u.info.days);
        let first = days.clone().map(|d| d.0).min().unwrap_or(0);
        let last = days.map(|d| d.1).max().unwrap_or(-1);
        let mut calendar = Calendar {
            first_day: first,
            day_periods: Vec::new(),
            periods: Vec::new(),
        };
        let mut index: HashMap<PeriodName, u32> = HashMap::new();
        for day in first..=last {
            let date = NaiveDate::from_num_days_from_ce_opt(day + EPOCH_DAYS_FROM_CE)
                .ok_or_else(|| digest_error(format!("business day {day} out of range")))?;
            let mut slots = [NO_PERIOD; 2];
            for (slot, kind) in slots.iter_mut().zip(kinds) {
                let name = match kind {
                    PeriodKind::Month => format!("{:04}-{:02}", date.year(), date.month()),
                    PeriodKind::Year => format!("{:04}", date.year()),
                };
                let period = PeriodName { kind: *kind, name };
                let next = calendar.periods.len() as u32;
                *slot = *index.entry(period.clone()).or_insert_with(|| {
                    calendar.periods.push(period);
                    next
                });
            }
            calendar.day_periods.push(slots);
        }
        Ok(calendar)
    }

    /// The periods of a business day of the digests.
    fn periods_of(&self, day: i32) -> Result<&[u32; 2]> {
        usize::try_from(day - self.first_day)
            .ok()
            .and_then(|i| self.day_periods.get(i))
            .ok_or_else(|| digest_error(format!("business day {day} outside digest.json's days")))
    }
}

/// One song's figures in one period.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    score: i64,
    plays: i64,
    venues: i64,
    rooms: i64,
}

/// The merge's result: the rows of `song_period_stats` and `room_period_outcomes`.
pub(crate) struct Merged {
    /// (period, song id, figures).
    songs: Vec<(u32, String, Figures)>,
    /// Per period, room (global code) and exclusion: events and rows.
    outcomes: Vec<[i64; 2]>,
    rooms: Vec<(Option<String>, Option<String>)>,
    calendar: Arc<Calendar>,
}

/// Entries gathered for one range of songs.
pub(crate) const CHUNK_ENTRIES: usize = 1 << 20;

/// Bits of a record's sort key: chunk song, room (global code), business day.
const SONG_BITS: u32 = 24;
const ROOM_BITS: u32 = 24;
const DAY_BITS: u32 = 16;

/// What a part of a merge gives: (period, song id, figures) of its songs, and the
/// outcomes (events, rows) per period, room and exclusion of its entries.
type PartFigures = (Vec<(u32, String, Figures)>, Vec<[i64; 2]>);

/// What every part of a merge reads.
struct MergeContext {
    units: Vec<KeptDigest>,
    /// Per unit, the global code of each of its rooms (global codes in the order of
    /// (venue_id, room_id), so that a venue's rooms are consecutive).
    unit_rooms: Vec<Vec<u32>>,
    room_venue: Vec<u32>,
    venue_known: Vec<bool>,
    rooms: usize,
    known_songs: Arc<HashSet<String>>,
    calendar: Arc<Calendar>,
    room_cap: u64,
}

/// Merges the digests of disjoint units (no event id in two of them). The song ids
/// are cut into ranges of about [`CHUNK_ENTRIES`] entries, and consecutive ranges
/// into parts merged in parallel (`threads` at a time), each reading every unit's
/// entries of its songs once, in order, from the row group its songs start in.
pub(crate) async fn merge(units: Vec<KeptDigest>, inputs: MergeInputs) -> Result<Merged> {
    let calendar = Arc::new(Calendar::new(&units, &inputs.kinds)?);
    let days = calendar.day_periods.len();
    let mut all_rooms: Vec<(Option<&str>, Option<&str>)> = units
        .iter()
        .flat_map(|u| (0..u.rooms.len()).map(move |i| (option(&u.venues, i), option(&u.rooms, i))))
        .collect();
    all_rooms.sort_unstable();
    all_rooms.dedup();
    if all_rooms.len() >= 1 << ROOM_BITS || days >= 1 << DAY_BITS {
        return Err(digest_error(format!(
            "{} rooms over {days} business days, more than a merge can code",
            all_rooms.len()
        )));
    }
    let codes: HashMap<(Option<&str>, Option<&str>), u32, foldhash::fast::RandomState> = all_rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (*r, i as u32))
        .collect();
    let unit_rooms: Vec<Vec<u32>> = units
        .iter()
        .map(|u| {
            (0..u.rooms.len())
                .map(|i| codes[&(option(&u.venues, i), option(&u.rooms, i))])
                .collect()
        })
        .collect();
    let mut room_venue = Vec::with_capacity(all_rooms.len());
    let mut venue_known = Vec::new();
    for (i, (venue, _)) in all_rooms.iter().enumerate() {
        if i == 0 || all_rooms[i - 1].0 != *venue {
            venue_known.push(venue.is_some_and(|v| inputs.known_venues.contains(v)));
        }
        room_venue.push(venue_known.len() as u32 - 1);
    }
    let rooms: Vec<(Option<String>, Option<String>)> = all_rooms
        .iter()
        .map(|(v, r)| (v.map(str::to_string), r.map(str::to_string)))
        .collect();
    drop(codes);
    drop(all_rooms);

    let bounds = chunk_bounds(&units, inputs.chunk_entries);
    let threads = inputs.threads.max(1);
    // Each part merges consecutive chunks.
    let parts = threads * 2;
    let chunks = bounds.len() + 1;
    let per_part = chunks.div_ceil(parts);
    let part_bounds: Vec<(Option<Bound>, Option<Bound>, Vec<Bound>)> = (0..chunks)
        .step_by(per_part)
        .map(|first| {
            let last = (first + per_part).min(chunks);
            let low = first.checked_sub(1).map(|i| bounds[i].clone());
            let high = bounds.get(last - 1).cloned();
            (low, high, bounds[first..last - 1].to_vec())
        })
        .collect();
    let context = Arc::new(MergeContext {
        rooms: rooms.len(),
        units,
        unit_rooms,
        room_venue,
        venue_known,
        known_songs: inputs.known_songs,
        calendar: calendar.clone(),
        room_cap: inputs.room_cap,
    });
    let results: Vec<PartFigures> = futures::stream::iter(part_bounds)
        .map(|(low, high, inner)| {
            let context = context.clone();
            tokio::spawn(async move { merge_part(&context, low, high, inner).await })
        })
        .buffer_unordered(threads)
        .map(|joined| joined.map_err(|e| digest_failure("a merge task failed", e))?)
        .try_collect()
        .await?;
    let slots = calendar.periods.len() * rooms.len() * OUTCOMES;
    let mut outcomes = vec![[0i64; 2]; slots];
    let mut songs = Vec::new();
    for (part_songs, part_outcomes) in results {
        songs.extend(part_songs);
        for (total, part) in outcomes.iter_mut().zip(part_outcomes) {
            total[0] += part[0];
            total[1] += part[1];
        }
    }
    Ok(Merged {
        songs,
        outcomes,
        rooms,
        calendar,
    })
}

/// Merges the songs in `[low, high)`, a chunk between each of `bounds` (which lie
/// inside it): their figures, and the outcomes of their entries.
async fn merge_part(
    context: &MergeContext,
    low: Option<Bound>,
    high: Option<Bound>,
    bounds: Vec<Bound>,
) -> Result<PartFigures> {
    let calendar = &context.calendar;
    let rooms = context.rooms;
    let mut outcomes = vec![[0i64; 2]; calendar.periods.len() * rooms * OUTCOMES];
    let mut cursors = Vec::with_capacity(context.units.len());
    for u in &context.units {
        let start = low.as_ref().map_or(0, |b| u.song_code(b));
        cursors.push((start, u.entries_from(start).await?));
    }
    let mut songs_out = Vec::new();
    let mut records: Vec<(u64, u32)> = Vec::new();
    let ends: Vec<Option<&Bound>> = bounds.iter().map(Some).chain([high.as_ref()]).collect();
    for end_bound in ends {
        records.clear();
        let mut names: Vec<&str> = Vec::new();
        let mut song_ids: HashMap<&str, (u32, bool), foldhash::fast::RandomState> =
            HashMap::default();
        for (u, unit) in context.units.iter().enumerate() {
            let (start, cursor) = &mut cursors[u];
            let end = end_bound.map_or(u32::MAX, |b| unit.song_code(b));
            // The song of the previous entry: entries come sorted by song.
            let mut current: Option<(u32, Option<(u32, bool)>)> = None;
            while let Some((batch, next)) = cursor.current().await? {
                let n = batch.song.len();
                while *next < n {
                    let e = *next;
                    let code = batch.song.value(e);
                    if code >= end {
                        break;
                    }
                    *next += 1;
                    if code < *start {
                        continue;
                    }
                    let song = match current {
                        Some((c, song)) if c == code => song,
                        _ => {
                            let song = unit.song(code as usize).map(|name| {
                                let id = names.len() as u32;
                                *song_ids.entry(name).or_insert_with(|| {
                                    names.push(name);
                                    (id, context.known_songs.contains(name))
                                })
                            });
                            current = Some((code, song));
                            song
                        }
                    };
                    let room = *context.unit_rooms[u]
                        .get(batch.room.value(e) as usize)
                        .ok_or_else(|| {
                            unit.corrupt("entries.parquet", "a room code out of range")
                        })?;
                    // The rules after the lookups, as classified_plays.sql applies them.
                    let exclusion = match batch.rule.value(e) {
                        NO_EXCLUSION_RANK if !song.is_some_and(|s| s.1) => {
                            Some(Exclusion::UnknownSong)
                        }
                        NO_EXCLUSION_RANK
                            if !context.venue_known[context.room_venue[room as usize] as usize] =>
                        {
                            Some(Exclusion::UnknownVenue)
                        }
                        NO_EXCLUSION_RANK => None,
                        rank => match Exclusion::from_rank(rank) {
                            Some(rule) if !rule.needs_lookup() => Some(rule),
                            _ => {
                                return Err(
                                    unit.corrupt("entries.parquet", format!("first_rule {rank}"))
                                );
                            }
                        },
                    };
                    let exclusion = outcome_slot(exclusion);
                    let day = batch.day.value(e);
                    for &p in calendar.periods_of(day)? {
                        if p == NO_PERIOD {
                            continue;
                        }
                        let slot = (p as usize * rooms + room as usize) * OUTCOMES + exclusion;
                        outcomes[slot][0] += i64::from(batch.events.value(e));
                        outcomes[slot][1] += i64::from(batch.rows.value(e));
                    }
                    if exclusion == outcome_slot(None) {
                        let song = u64::from(song.expect("a valid play has a known song").0);
                        let key = (song << (ROOM_BITS + DAY_BITS))
                            | (u64::from(room) << DAY_BITS)
                            | (day - calendar.first_day) as u64;
                        records.push((key, batch.events.value(e)));
                    }
                }
                if *next < n {
                    break;
                }
            }
        }
        if names.len() >= 1 << SONG_BITS {
            return Err(digest_error(format!(
                "{} songs in one range, more than a merge can code",
                names.len()
            )));
        }
        // Stable: a sort that finds runs. Each unit's records come sorted by room
        // within a song (its rooms are coded in the merge's order), so that here they
        // are about one sorted run per unit.
        records.sort_by_key(|r| r.0);
        let figures = song_figures(&records, context);
        songs_out.extend(
            figures
                .into_iter()
                .map(|(p, s, f)| (p, names[s as usize].to_string(), f)),
        );
    }
    Ok((songs_out, outcomes))
}

/// Song ids that cut the songs of every unit into ranges of about `chunk_entries`
/// entries in all.
fn chunk_bounds(units: &[KeptDigest], chunk_entries: usize) -> Vec<Bound> {
    let entries: usize = units.iter().map(|u| u.info.entries).sum();
    let chunks = entries.div_ceil(chunk_entries.max(1)).max(1);
    // About eight songs of each unit per range.
    let mut samples: Vec<Option<&str>> = units
        .iter()
        .flat_map(|u| {
            let every = (u.songs.len() / (chunks * 8)).max(1);
            (0..u.songs.len()).step_by(every).map(|i| u.song(i))
        })
        .collect();
    samples.sort_unstable();
    samples.dedup();
    let step = samples.len().div_ceil(chunks).max(1);
    samples
        .into_iter()
        .skip(step)
        .step_by(step)
        .map(|s| s.map(str::to_string))
        .collect()
}

/// The figures of the songs of `records` (sort keys of song, room, business day,
/// sorted, and plays): (period, song, figures).
fn song_figures(records: &[(u64, u32)], context: &MergeContext) -> Vec<(u32, u32, Figures)> {
    let calendar = &context.calendar;
    let room_mask = (1u64 << ROOM_BITS) - 1;
    let day_mask = (1u64 << DAY_BITS) - 1;
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let song = records[i].0 >> (ROOM_BITS + DAY_BITS);
        let mut figures: Vec<(u32, Figures)> = Vec::new();
        let mut venue_periods: Vec<u32> = Vec::new();
        let mut room_periods: Vec<u32> = Vec::new();
        let mut previous: Option<(u32, u32)> = None;
        while i < records.len() && records[i].0 >> (ROOM_BITS + DAY_BITS) == song {
            let key = records[i].0;
            let room = ((key >> DAY_BITS) & room_mask) as u32;
            let venue = context.room_venue[room as usize];
            let day = (key & day_mask) as i32 + calendar.first_day;
            if previous.is_none_or(|(v, _)| v != venue) {
                venue_periods.clear();
            }
            if previous.is_none_or(|(_, r)| r != room) {
                room_periods.clear();
            }
            previous = Some((venue, room));
            // Every unit's plays of this room and day, then the cap.
            let mut plays = 0u64;
            while i < records.len() && records[i].0 == key {
                plays += u64::from(records[i].1);
                i += 1;
            }
            let score = plays.min(context.room_cap);
            let periods = calendar
                .periods_of(day)
                .expect("checked when the entry was read");
            for &p in periods {
                if p == NO_PERIOD {
                    continue;
                }
                let f = match figures.iter().position(|(q, _)| *q == p) {
                    Some(k) => &mut figures[k].1,
                    None => {
                        figures.push((p, Figures::default()));
                        &mut figures.last_mut().expect("pushed").1
                    }
                };
                f.plays += plays as i64;
                f.score += score as i64;
                if !room_periods.contains(&p) {
                    room_periods.push(p);
                    f.rooms += 1;
                }
                if !venue_periods.contains(&p) {
                    venue_periods.push(p);
                    f.venues += 1;
                }
            }
        }
        out.extend(figures.into_iter().map(|(p, f)| (p, song as u32, f)));
    }
    out
}

impl Merged {
    /// The rows of `song_period_stats`, in its `schema`.
    pub(crate) fn song_period_stats(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let period = |i: usize| &self.calendar.periods[self.songs[i].0 as usize];
        let n = self.songs.len();
        let kind: StringArray = (0..n).map(|i| Some(period(i).kind.as_str())).collect();
        let name: StringArray = (0..n).map(|i| Some(period(i).name.as_str())).collect();
        let song: StringArray = self.songs.iter().map(|s| Some(s.1.as_str())).collect();
        let figure = |f: fn(&Figures) -> i64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                self.songs.iter().map(|s| f(&s.2)),
            ))
        };
        cast_batch(
            schema,
            vec![
                Arc::new(kind),
                Arc::new(name),
                Arc::new(song),
                figure(|f| f.score),
                figure(|f| f.plays),
                figure(|f| f.venues),
                figure(|f| f.rooms),
            ],
        )
    }

    /// The rows of `room_period_outcomes`, in its `schema`.
    pub(crate) fn room_period_outcomes(&self, schema: &SchemaRef) -> Result<RecordBatch> {
        let rooms = self.rooms.len();
        let mut kind = StringBuilder::new();
        let mut name = StringBuilder::new();
        let mut venue = StringBuilder::new();
        let mut room = StringBuilder::new();
        let mut exclusion = StringBuilder::new();
        let mut events = Vec::new();
        let mut rows = Vec::new();
        for (slot, [e, r]) in self.outcomes.iter().enumerate() {
            if *e == 0 && *r == 0 {
                continue;
            }
            let x = slot % OUTCOMES;
            let rest = slot / OUTCOMES;
            let (p, k) = (rest / rooms, rest % rooms);
            let period = &self.calendar.periods[p];
            kind.append_value(period.kind.as_str());
            name.append_value(&period.name);
            venue.append_option(self.rooms[k].0.as_deref());
            room.append_option(self.rooms[k].1.as_deref());
            exclusion.append_option(
                Exclusion::ALL
                    .into_iter()
                    .find(|e| outcome_slot(Some(*e)) == x)
                    .map(Exclusion::name),
            );
            events.push(*e);
            rows.push(*r);
        }
        cast_batch(
            schema,
            vec![
                Arc::new(kind.finish()),
                Arc::new(name.finish()),
                Arc::new(venue.finish()),
                Arc::new(room.finish()),
                Arc::new(exclusion.finish()),
                Arc::new(Int64Array::from(events)),
                Arc::new(Int64Array::from(rows)),
            ],
        )
    }
}

/// A batch of `schema` from `columns`, each cast to its field's type.
fn cast_batch(schema: &SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(field, column)| cast(&column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(DataFusionError::from)?;
    Ok(RecordBatch::try_new(schema.clone(), columns).map_err(DataFusionError::from)?)
}

/// The song or venue ids of a table (`songs` or `venues`) registered on `ctx`.
pub(crate) async fn known_ids(
    ctx: &SessionContext,
    table: &str,
    id: &str,
) -> Result<HashSet<String>> {
    let mut stream = ctx
        .table(table)
        .await?
        .filter(col(id).is_not_null())?
        .select_columns(&[id])?
        .execute_stream()
        .await?;
    let mut ids = HashSet::default();
    while let Some(b) = stream.next().await {
        ids.extend(strings(&b?, id)?.iter().flatten().map(str::to_string));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GoldenMic, Methodology};

    async fn rows(engine: &GoldenMic, table: &str) -> Vec<String> {
        let batches = engine
            .context()
            .sql(&format!("SELECT * FROM {table}"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut rows: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    (0..b.num_columns())
                        .map(|c| {
                            arrow::util::display::array_value_to_string(b.column(c), r).unwrap()
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
            })
            .collect();
        rows.sort();
        rows
    }

    /// Many small ranges of songs, merged in parallel parts that start inside the
    /// digests' row groups, give what one range does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ranges_parts_and_row_groups_do_not_change_the_merge() {
        let dir = tempfile::tempdir().unwrap();
        sample_data::generate(&sample_data::SampleSpec::small(3), dir.path()).unwrap();
        let kept = tempfile::tempdir().unwrap();
        let open = |row_groups: usize, chunks: usize| {
            let dir = dir.path().to_path_buf();
            let kept = Location::local(kept.path().join(row_groups.to_string())).unwrap();
            async move {
                let mut engine = GoldenMic::open(&dir, Methodology::default())
                    .await
                    .unwrap()
                    .with_day_digests(Some(kept));
                engine.digest_row_group_entries = row_groups;
                engine.merge_chunk_entries = chunks;
                engine.materialize_by_day(None).await.unwrap().0
            }
        };
        let whole = open(ROW_GROUP_ENTRIES, CHUNK_ENTRIES).await;
        let cut = open(13, 300).await;
        for table in ["song_period_stats", "room_period_outcomes"] {
            let (want, got) = (rows(&whole, table).await, rows(&cut, table).await);
            assert!(want.len() > 1000, "{table}: {} rows", want.len());
            assert_eq!(got, want, "{table}");
        }
        // The cut merge had many ranges, and digests of many row groups.
        let mut units = Vec::new();
        for entry in std::fs::read_dir(kept.path().join("13")).unwrap() {
            let dir = Location::local(entry.unwrap().path()).unwrap();
            units.push(KeptDigest::open(&dir).await.unwrap().unwrap());
        }
        let entries: usize = units.iter().map(|u| u.info.entries).sum();
        let songs: usize = units.iter().map(|u| u.info.songs).sum();
        assert!(
            chunk_bounds(&units, 300).len() > 20,
            "{entries} entries, {songs} songs, {:?}",
            chunk_bounds(&units, 300).len()
        );
        assert!(units.iter().any(|u| u.info.entries > 10 * 13));
    }
}
