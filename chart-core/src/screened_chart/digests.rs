//! GM-2's day digests: what rules 1, 2 and the cap make of each room-day of a unit of
//! `date=` partitions (a unit of GM-1's day digests), kept beside that unit's GM-1
//! digest and merged per month, so that a publication with day digests kept reads no
//! play.
//!
//! A unit's digest holds, coded with its own dictionaries:
//! - `entries`: per business day, song, venue and the room-day's vendor (or
//!   [`MIXED_VENDORS`]), the valid plays, those rules 1 and 2 kept, those counted, the
//!   rules that removed some ([`touched`]), and the rooms with a counted play;
//! - `room_days`: per room-day, its vendor, valid plays, clock hours, plays removed by
//!   rule 1, plays rule 1 kept, whether rule 2 removed them, plays over the cap;
//! - `daily`: valid plays per business day, venue and vendor (rule 5's input);
//! - `mixed`: the (business day, vendor) pairs of room-days with more than one vendor.
//!
//! Rule 5 holds whole venue-days and vendor-days, so a month merges the entries and
//! room-days that no hold removes. That is exact when each room-day is in one unit and
//! has one vendor or none held; a month where a business day's plays are in more than
//! one unit, or where a held vendor-day has a room-day shared with another vendor, is
//! screened from its plays instead. A digest depends on which of the unit's songs and
//! venues are known (rule 2 counts valid plays): its key names the unknown ones.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow::buffer::Buffer;
use arrow::datatypes::{Int32Type, UInt8Type, UInt32Type};
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use chrono_tz::Tz;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::plays::{MonthPlays, NO_VENDOR};
use super::room_days::{Counted, RoomDayScreen, SongTally, room_days, touched};
use super::{FlaggedRoom, Hold, HoldKind, MonthCounts, date_of, holds::DailyPlays};
use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use crate::methodology::{Methodology, Period};

/// The format of GM-2's kept digests; part of every key.
pub(crate) const FORMAT: &str = "golden-mic-screened-day-digest/2";

/// A digest's files besides `screened.json`, in the order they are decoded.
const FILES: [&str; 9] = [
    "songs.arrow",
    "venues.arrow",
    "rooms.arrow",
    "vendors.arrow",
    "entries.arrow",
    "entry_rooms.arrow",
    "room_days.arrow",
    "daily.arrow",
    "mixed.arrow",
];

/// The vendor of a room-day whose plays came from more than one vendor.
pub(crate) const MIXED_VENDORS: u32 = u32::MAX - 1;

/// A hash map with a fast hash, seeded per process.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// `screened.json`: written last; a directory without it holds no digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ScreenedInfo {
    pub format: String,
    /// Business days with a valid play, ascending (days since 1970-01-01).
    pub days: Vec<i32>,
    pub entries: usize,
    pub room_days: usize,
}

/// One unit's digest, loaded.
#[derive(Debug)]
pub(crate) struct UnitDigest {
    pub info: ScreenedInfo,
    songs: StringArray,
    venues: StringArray,
    /// Per room code: its `room_id` and its venue's code.
    room_ids: StringArray,
    room_venues: UInt32Array,
    vendors: StringArray,
    entries: Entries,
    room_days: RoomDays,
    daily: Daily,
    /// (business day, vendor) of room-days with more than one vendor.
    mixed: (Int32Array, UInt32Array),
}

/// Per (business day, song, venue, room-day vendor), sorted so.
#[derive(Debug)]
struct Entries {
    day: Int32Array,
    venue: UInt32Array,
    song: UInt32Array,
    vendor: UInt32Array,
    valid: UInt32Array,
    plays: UInt32Array,
    counted: UInt32Array,
    touched: UInt8Array,
    /// Where the entry's rooms end in `rooms` (they start where the previous end).
    rooms_end: UInt32Array,
    /// Rooms with a counted play, per entry.
    rooms: UInt32Array,
}

/// Per room-day, sorted by (business day, room).
#[derive(Debug)]
struct RoomDays {
    day: Int32Array,
    room: UInt32Array,
    vendor: UInt32Array,
    valid: UInt32Array,
    hours: UInt8Array,
    resent: UInt32Array,
    kept: UInt32Array,
    impossible: UInt8Array,
    over_cap: UInt32Array,
    /// 1 when a play of it counted.
    counts: UInt8Array,
}

/// Valid plays per (business day, venue, vendor or [`NO_VENDOR`]).
#[derive(Debug)]
struct Daily {
    day: Int32Array,
    venue: UInt32Array,
    vendor: UInt32Array,
    valid: UInt32Array,
}

impl UnitDigest {
    /// Screens every room-day of a unit's valid plays (all its business days).
    pub(crate) fn compute(methodology: &Methodology, tz: Tz, plays: &MonthPlays) -> UnitDigest {
        let order = super::room_day_order(plays, |_| false);
        let mut screen = RoomDayScreen::new(methodology, tz);
        let mut rows: Vec<SongRow> = Vec::new();
        let mut room_days_rows = Vec::new();
        let mut mixed: Vec<(i32, u32)> = Vec::new();
        for group in room_days(plays, &order) {
            let first = group[0] as usize;
            let (day, venue, room) = (plays.day[first], plays.venue[first], plays.room[first]);
            let vendor = plays.vendor[first];
            let vendor = if group.iter().all(|&i| plays.vendor[i as usize] == vendor) {
                vendor
            } else {
                for &i in group {
                    mixed.push((day, plays.vendor[i as usize]));
                }
                MIXED_VENDORS
            };
            let mut counts = false;
            let outcome = screen.screen(plays, group, |song| {
                counts |= song.counted > 0;
                rows.push(SongRow {
                    key: (day, song.song, venue, vendor),
                    room,
                    valid: song.valid as u32,
                    plays: song.plays as u32,
                    counted: song.counted as u32,
                    touched: song.touched,
                });
            });
            room_days_rows.push((day, room, vendor, outcome, counts));
        }
        rows.sort_unstable();
        mixed.sort_unstable();
        mixed.dedup();
        mixed.retain(|m| m.1 != NO_VENDOR);
        let mut entries = EntriesBuilder::default();
        for row in &rows {
            entries.push(row);
        }
        let entries = entries.finish();
        room_days_rows.sort_unstable_by_key(|r| (r.0, r.1));
        let room_days = RoomDays {
            day: room_days_rows.iter().map(|r| r.0).collect(),
            room: room_days_rows.iter().map(|r| r.1).collect(),
            vendor: room_days_rows.iter().map(|r| r.2).collect(),
            valid: room_days_rows.iter().map(|r| r.3.valid as u32).collect(),
            hours: room_days_rows.iter().map(|r| r.3.hours as u8).collect(),
            resent: room_days_rows.iter().map(|r| r.3.resent as u32).collect(),
            kept: room_days_rows.iter().map(|r| r.3.kept as u32).collect(),
            impossible: room_days_rows
                .iter()
                .map(|r| r.3.impossible as u8)
                .collect(),
            over_cap: room_days_rows.iter().map(|r| r.3.over_cap as u32).collect(),
            counts: room_days_rows.iter().map(|r| r.4 as u8).collect(),
        };
        let mut daily: Vec<((i32, u32, u32), u32)> = {
            let mut counts: FastMap<(i32, u32, u32), u32> = FastMap::default();
            for i in 0..plays.len() {
                *counts
                    .entry((plays.day[i], plays.venue[i], plays.vendor[i]))
                    .or_default() += 1;
            }
            counts.into_iter().collect()
        };
        daily.sort_unstable();
        let mut days: Vec<i32> = plays.day.clone();
        days.sort_unstable();
        days.dedup();
        let room_venues = {
            let mut venues = vec![0u32; plays.rooms.len()];
            for i in 0..plays.len() {
                venues[plays.room[i] as usize] = plays.venue[i];
            }
            venues
        };
        UnitDigest {
            info: ScreenedInfo {
                format: FORMAT.to_string(),
                days,
                entries: entries.day.len(),
                room_days: room_days.day.len(),
            },
            songs: StringArray::from_iter_values(&plays.songs),
            venues: StringArray::from_iter_values(&plays.venues),
            room_ids: StringArray::from_iter_values(&plays.rooms),
            room_venues: UInt32Array::from(room_venues),
            vendors: StringArray::from_iter_values(&plays.vendors),
            entries,
            room_days,
            daily: Daily {
                day: daily.iter().map(|d| d.0.0).collect(),
                venue: daily.iter().map(|d| d.0.1).collect(),
                vendor: daily.iter().map(|d| d.0.2).collect(),
                valid: daily.iter().map(|d| d.1).collect(),
            },
            mixed: (
                mixed.iter().map(|m| m.0).collect(),
                mixed.iter().map(|m| m.1).collect(),
            ),
        }
    }

    /// What the digest kept in `dir` holds, or `None` if there is none.
    pub(crate) async fn open_info(dir: &Location) -> Result<Option<ScreenedInfo>> {
        let Some(json) = dir.read("screened.json").await? else {
            return Ok(None);
        };
        let info: ScreenedInfo =
            serde_json::from_slice(&json).map_err(|e| ChartError::Corrupt {
                file: dir.join("screened.json").to_string(),
                problem: e.to_string(),
            })?;
        Ok((info.format == FORMAT).then_some(info))
    }

    /// Writes the digest into `dir`, `screened.json` last.
    pub(crate) async fn write(&self, dir: &Location) -> Result<()> {
        let e = &self.entries;
        let r = &self.room_days;
        let d = &self.daily;
        let files: [(&str, Vec<(&str, ArrayRef)>); 8] = [
            (
                "songs.arrow",
                vec![("song_id", Arc::new(self.songs.clone()))],
            ),
            (
                "venues.arrow",
                vec![("venue_id", Arc::new(self.venues.clone()))],
            ),
            (
                "rooms.arrow",
                vec![
                    ("room_id", Arc::new(self.room_ids.clone())),
                    ("venue", Arc::new(self.room_venues.clone())),
                ],
            ),
            (
                "vendors.arrow",
                vec![("vod_vendor", Arc::new(self.vendors.clone()))],
            ),
            (
                "entries.arrow",
                vec![
                    ("day", Arc::new(e.day.clone())),
                    ("venue", Arc::new(e.venue.clone())),
                    ("song", Arc::new(e.song.clone())),
                    ("vendor", Arc::new(e.vendor.clone())),
                    ("valid", Arc::new(e.valid.clone())),
                    ("plays", Arc::new(e.plays.clone())),
                    ("counted", Arc::new(e.counted.clone())),
                    ("touched", Arc::new(e.touched.clone())),
                    ("rooms_end", Arc::new(e.rooms_end.clone())),
                ],
            ),
            (
                "entry_rooms.arrow",
                vec![("room", Arc::new(e.rooms.clone()))],
            ),
            (
                "room_days.arrow",
                vec![
                    ("day", Arc::new(r.day.clone())),
                    ("room", Arc::new(r.room.clone())),
                    ("vendor", Arc::new(r.vendor.clone())),
                    ("valid", Arc::new(r.valid.clone())),
                    ("hours", Arc::new(r.hours.clone())),
                    ("resent", Arc::new(r.resent.clone())),
                    ("kept", Arc::new(r.kept.clone())),
                    ("impossible", Arc::new(r.impossible.clone())),
                    ("over_cap", Arc::new(r.over_cap.clone())),
                    ("counts", Arc::new(r.counts.clone())),
                ],
            ),
            (
                "daily.arrow",
                vec![
                    ("day", Arc::new(d.day.clone())),
                    ("venue", Arc::new(d.venue.clone())),
                    ("vendor", Arc::new(d.vendor.clone())),
                    ("valid", Arc::new(d.valid.clone())),
                ],
            ),
        ];
        for (name, columns) in files {
            dir.write(name, ipc_bytes(dir, name, columns)?).await?;
        }
        let mixed = vec![
            ("day", Arc::new(self.mixed.0.clone()) as ArrayRef),
            ("vendor", Arc::new(self.mixed.1.clone()) as ArrayRef),
        ];
        dir.write("mixed.arrow", ipc_bytes(dir, "mixed.arrow", mixed)?)
            .await?;
        let json = serde_json::to_vec_pretty(&self.info).map_err(|e| ChartError::Corrupt {
            file: dir.join("screened.json").to_string(),
            problem: e.to_string(),
        })?;
        dir.write("screened.json", Bytes::from(json)).await
    }

    /// The digest kept in `dir`, or `None` if there is none (or only part of one).
    pub(crate) async fn open(dir: &Location) -> Result<Option<UnitDigest>> {
        let Some(json) = dir.read("screened.json").await? else {
            return Ok(None);
        };
        let corrupt = |file: &str, problem: String| ChartError::Corrupt {
            file: dir.join(file).to_string(),
            problem,
        };
        let info: ScreenedInfo =
            serde_json::from_slice(&json).map_err(|e| corrupt("screened.json", e.to_string()))?;
        if info.format != FORMAT {
            return Err(corrupt(
                "screened.json",
                format!("format {}, expected {FORMAT}", info.format),
            ));
        }
        let mut files = Vec::with_capacity(FILES.len());
        for name in FILES {
            let file = dir.join(name).to_string();
            let bytes = dir.read(name).await?.ok_or_else(|| ChartError::Corrupt {
                file: file.clone(),
                problem: "missing".into(),
            })?;
            files.push((file, bytes));
        }
        let json_file = dir.join("screened.json").to_string();
        // Decoding on a blocking thread: the digests of a month are decoded in parallel.
        tokio::task::spawn_blocking(move || Self::decode(info, files, json_file))
            .await
            .map_err(|e| ChartError::Corrupt {
                file: dir.join("screened.json").to_string(),
                problem: format!("the decoding task failed: {e}"),
            })?
            .map(Some)
    }

    /// The digest from its files' bytes (in [`FILES`] order).
    fn decode(
        info: ScreenedInfo,
        files: Vec<(String, Bytes)>,
        json_file: String,
    ) -> Result<UnitDigest> {
        let mut tables = files
            .into_iter()
            .map(|(file, bytes)| Table::decode(file, bytes));
        let mut next = || tables.next().expect("one table per file");
        let (songs, venues, rooms, vendors) = (next()?, next()?, next()?, next()?);
        let (e, entry_rooms, r, d, m) = (next()?, next()?, next()?, next()?, next()?);
        let digest = UnitDigest {
            songs: songs.strings("song_id")?,
            venues: venues.strings("venue_id")?,
            room_ids: rooms.strings("room_id")?,
            room_venues: rooms.u32s("venue")?,
            vendors: vendors.strings("vod_vendor")?,
            entries: Entries {
                day: e.i32s("day")?,
                venue: e.u32s("venue")?,
                song: e.u32s("song")?,
                vendor: e.u32s("vendor")?,
                valid: e.u32s("valid")?,
                plays: e.u32s("plays")?,
                counted: e.u32s("counted")?,
                touched: e.u8s("touched")?,
                rooms_end: e.u32s("rooms_end")?,
                rooms: entry_rooms.u32s("room")?,
            },
            room_days: RoomDays {
                day: r.i32s("day")?,
                room: r.u32s("room")?,
                vendor: r.u32s("vendor")?,
                valid: r.u32s("valid")?,
                hours: r.u8s("hours")?,
                resent: r.u32s("resent")?,
                kept: r.u32s("kept")?,
                impossible: r.u8s("impossible")?,
                over_cap: r.u32s("over_cap")?,
                counts: r.u8s("counts")?,
            },
            daily: Daily {
                day: d.i32s("day")?,
                venue: d.u32s("venue")?,
                vendor: d.u32s("vendor")?,
                valid: d.u32s("valid")?,
            },
            mixed: (m.i32s("day")?, m.u32s("vendor")?),
            info,
        };
        digest.check().map_err(|problem| ChartError::Corrupt {
            file: json_file,
            problem,
        })?;
        Ok(digest)
    }

    /// Every code within its dictionary, and the sizes `screened.json` says.
    fn check(&self) -> std::result::Result<(), String> {
        let e = &self.entries;
        let within = |codes: &UInt32Array, len: usize, what: &str, extra: &[u32]| match codes
            .values()
            .iter()
            .find(|&&c| c as usize >= len && !extra.contains(&c))
        {
            Some(c) => Err(format!("{what} code {c} out of {len}")),
            None => Ok(()),
        };
        if e.day.len() != self.info.entries || self.room_days.day.len() != self.info.room_days {
            return Err("tables of other sizes than it says".into());
        }
        within(&e.song, self.songs.len(), "song", &[])?;
        within(&e.venue, self.venues.len(), "venue", &[])?;
        within(
            &e.vendor,
            self.vendors.len(),
            "vendor",
            &[NO_VENDOR, MIXED_VENDORS],
        )?;
        within(&e.rooms, self.room_ids.len(), "room", &[])?;
        within(&self.room_venues, self.venues.len(), "venue", &[])?;
        within(&self.room_days.room, self.room_ids.len(), "room", &[])?;
        within(
            &self.room_days.vendor,
            self.vendors.len(),
            "vendor",
            &[NO_VENDOR, MIXED_VENDORS],
        )?;
        within(&self.daily.venue, self.venues.len(), "venue", &[])?;
        within(
            &self.daily.vendor,
            self.vendors.len(),
            "vendor",
            &[NO_VENDOR],
        )?;
        within(&self.mixed.1, self.vendors.len(), "vendor", &[])?;
        let ends = e.rooms_end.values();
        if ends.len() != e.day.len()
            || ends.windows(2).any(|w| w[0] > w[1])
            || ends.last().map_or(0, |&n| n as usize) != e.rooms.len()
        {
            return Err("room ranges out of order".into());
        }
        Ok(())
    }

    /// The range of rows of a table sorted by day whose day is in `days`.
    fn rows_in(day: &Int32Array, days: (i32, i32)) -> std::ops::Range<usize> {
        let values = day.values();
        values.partition_point(|&d| d < days.0)..values.partition_point(|&d| d <= days.1)
    }

    /// Adds the valid plays of `days` to rule 5's daily plays.
    pub(crate) fn add_daily_plays(&self, days: (i32, i32), daily: &mut DailyPlays) {
        let d = &self.daily;
        for i in Self::rows_in(&d.day, days) {
            let vendor = d.vendor.value(i);
            let vendor = (vendor != NO_VENDOR).then(|| self.vendors.value(vendor as usize));
            daily.add(
                d.day.value(i),
                self.venues.value(d.venue.value(i) as usize),
                vendor,
                d.valid.value(i) as i64,
            );
        }
    }
}

/// GM-2's digests of a data root's units: where each is kept, and its business days.
#[derive(Debug, Clone)]
pub(crate) struct ScreenedDigests {
    units: Vec<(Location, ScreenedInfo)>,
}

impl ScreenedDigests {
    pub(crate) fn new(units: Vec<(Location, ScreenedInfo)>) -> ScreenedDigests {
        ScreenedDigests { units }
    }

    /// The digests of the units with valid plays in `month`, loaded; `None` when one of
    /// its business days has plays in more than one unit (its room-days may be split).
    pub(crate) async fn month(&self, month: &Period) -> Result<Option<Vec<Arc<UnitDigest>>>> {
        let days = (
            super::days_since_epoch(month.first_day()),
            super::days_since_epoch(month.last_day()),
        );
        let mut seen = std::collections::BTreeSet::new();
        let mut dirs = Vec::new();
        for (dir, info) in &self.units {
            let in_month: Vec<i32> = info
                .days
                .iter()
                .copied()
                .filter(|d| (days.0..=days.1).contains(d))
                .collect();
            if in_month.is_empty() {
                continue;
            }
            for day in in_month {
                if !seen.insert(day) {
                    return Ok(None);
                }
            }
            dirs.push(dir.clone());
        }
        let started = std::time::Instant::now();
        let units: Vec<Option<UnitDigest>> = futures::stream::iter(&dirs)
            .map(UnitDigest::open)
            .buffered(4)
            .try_collect()
            .await?;
        units
            .into_iter()
            .zip(&dirs)
            .map(|(unit, dir)| {
                unit.map(Arc::new).ok_or_else(|| ChartError::Corrupt {
                    file: dir.join("screened.json").to_string(),
                    problem: "gone since it was listed".into(),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(|units| {
                tracing::debug!(seconds = started.elapsed().as_secs_f64(), "loaded");
                Some(units)
            })
    }
}

/// One song in one room-day: (day, song, venue, room-day vendor), room, figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SongRow {
    key: (i32, u32, u32, u32),
    room: u32,
    valid: u32,
    plays: u32,
    counted: u32,
    touched: u8,
}

/// Accumulates sorted rows into [`Entries`].
#[derive(Default)]
struct EntriesBuilder {
    keys: Vec<(i32, u32, u32, u32)>,
    figures: Vec<(u32, u32, u32, u8)>,
    rooms_end: Vec<u32>,
    rooms: Vec<u32>,
}

impl EntriesBuilder {
    fn push(&mut self, row: &SongRow) {
        if self.keys.last() != Some(&row.key) {
            self.keys.push(row.key);
            self.figures.push((0, 0, 0, 0));
            self.rooms_end.push(self.rooms.len() as u32);
        }
        let figures = self.figures.last_mut().expect("an entry");
        figures.0 += row.valid;
        figures.1 += row.plays;
        figures.2 += row.counted;
        figures.3 |= row.touched;
        if row.counted > 0 {
            self.rooms.push(row.room);
            *self.rooms_end.last_mut().expect("an entry") = self.rooms.len() as u32;
        }
    }

    fn finish(self) -> Entries {
        Entries {
            day: self.keys.iter().map(|k| k.0).collect(),
            song: self.keys.iter().map(|k| k.1).collect(),
            venue: self.keys.iter().map(|k| k.2).collect(),
            vendor: self.keys.iter().map(|k| k.3).collect(),
            valid: self.figures.iter().map(|f| f.0).collect(),
            plays: self.figures.iter().map(|f| f.1).collect(),
            counted: self.figures.iter().map(|f| f.2).collect(),
            touched: self.figures.iter().map(|f| f.3).collect(),
            rooms_end: UInt32Array::from(self.rooms_end),
            rooms: UInt32Array::from(self.rooms),
        }
    }
}

/// An Arrow IPC stream of one batch with `columns`.
fn ipc_bytes(dir: &Location, name: &str, columns: Vec<(&str, ArrayRef)>) -> Result<Bytes> {
    let failed = |e: arrow::error::ArrowError| ChartError::Corrupt {
        file: dir.join(name).to_string(),
        problem: format!("cannot encode: {e}"),
    };
    let batch = RecordBatch::try_from_iter(columns).map_err(failed)?;
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema()).map_err(failed)?;
    writer.write(&batch).map_err(failed)?;
    writer.finish().map_err(failed)?;
    drop(writer);
    Ok(Bytes::from(bytes))
}

/// One kept Arrow IPC stream's batch, with the file's name for errors.
struct Table {
    file: String,
    batch: RecordBatch,
}

impl Table {
    fn decode(file: String, bytes: Bytes) -> Result<Table> {
        let corrupt = |problem: String| ChartError::Corrupt {
            file: file.clone(),
            problem,
        };
        // Decoded in place: the arrays share the bytes read (aligned buffers are not
        // copied).
        let mut buffer = Buffer::from_vec(Vec::<u8>::from(bytes));
        let mut decoder = StreamDecoder::new();
        let mut batches = Vec::new();
        while !buffer.is_empty() {
            if let Some(batch) = decoder
                .decode(&mut buffer)
                .map_err(|e| corrupt(e.to_string()))?
            {
                batches.push(batch);
            }
        }
        decoder.finish().map_err(|e| corrupt(e.to_string()))?;
        let [batch]: [RecordBatch; 1] = batches
            .try_into()
            .map_err(|b: Vec<RecordBatch>| corrupt(format!("{} batches, not one", b.len())))?;
        Ok(Table { file, batch })
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .filter(|c| c.null_count() == 0)
            .ok_or_else(|| ChartError::Corrupt {
                file: self.file.clone(),
                problem: format!("no column {name} without nulls"),
            })
    }

    fn typed<T: arrow::datatypes::ArrowPrimitiveType>(
        &self,
        name: &str,
    ) -> Result<arrow::array::PrimitiveArray<T>> {
        self.column(name)?
            .as_primitive_opt::<T>()
            .cloned()
            .ok_or_else(|| ChartError::Corrupt {
                file: self.file.clone(),
                problem: format!("column {name} of another type"),
            })
    }

    fn i32s(&self, name: &str) -> Result<Int32Array> {
        self.typed::<Int32Type>(name)
    }

    fn u32s(&self, name: &str) -> Result<UInt32Array> {
        self.typed::<UInt32Type>(name)
    }

    fn u8s(&self, name: &str) -> Result<UInt8Array> {
        self.typed::<UInt8Type>(name)
    }

    fn strings(&self, name: &str) -> Result<StringArray> {
        self.column(name)?
            .as_string_opt::<i32>()
            .cloned()
            .ok_or_else(|| ChartError::Corrupt {
                file: self.file.clone(),
                problem: format!("column {name} of another type"),
            })
    }
}

/// The units' digests of one month, their codes mapped to the month's, and the days
/// its holds remove.
struct MonthMerge {
    units: Vec<Arc<UnitDigest>>,
    /// Rooms in the month's dictionary.
    room_count: usize,
    days: (i32, i32),
    /// Per unit: its song, venue and vendor codes → the month's.
    songs: Vec<Vec<u32>>,
    venues: Vec<Vec<u32>>,
    vendors: Vec<Vec<u32>>,
    /// Per unit: its room codes → the month's.
    rooms: Vec<Vec<u32>>,
    /// Per month venue and vendor code: its held days.
    venue_held: Vec<Vec<i32>>,
    vendor_held: Vec<Vec<i32>>,
}

impl MonthMerge {
    fn vendor_of(&self, unit: usize, vendor: u32) -> u32 {
        if vendor == NO_VENDOR || vendor == MIXED_VENDORS {
            vendor
        } else {
            self.vendors[unit][vendor as usize]
        }
    }

    /// Whether rule 5 removes the plays of a venue (month code) on a day with a
    /// room-day vendor (month code, [`NO_VENDOR`] or [`MIXED_VENDORS`]).
    fn held(&self, venue: u32, vendor: u32, day: i32) -> bool {
        self.venue_held[venue as usize].contains(&day)
            || (vendor != NO_VENDOR
                && vendor != MIXED_VENDORS
                && self.vendor_held[vendor as usize].contains(&day))
    }

    /// Each unit's entries of the month, a run per business day (sorted by song).
    fn day_runs(&self) -> Vec<(usize, std::ops::Range<usize>)> {
        let mut runs = Vec::new();
        for (u, unit) in self.units.iter().enumerate() {
            let days = unit.entries.day.values();
            let mut start = UnitDigest::rows_in(&unit.entries.day, self.days).start;
            let end = UnitDigest::rows_in(&unit.entries.day, self.days).end;
            while start < end {
                let day = days[start];
                let run_end = start + days[start..end].partition_point(|&d| d == day);
                runs.push((u, start..run_end));
                start = run_end;
            }
        }
        runs
    }

    /// The entries not held added up per song, and per (song, venue) their counted
    /// plays (by song); and the month's valid and held plays. The songs are split into
    /// one range per core; each range's songs are taken in order from every day's run
    /// (runs are sorted by song, and a unit's song codes follow the month's).
    fn count_entries(&self, song_count: usize, venue_count: usize) -> (Counted, i64, i64) {
        let runs = self.day_runs();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ranges: Vec<(u32, u32)> = (0..threads)
            .map(|t| {
                (
                    (song_count * t / threads) as u32,
                    (song_count * (t + 1) / threads) as u32,
                )
            })
            .collect();
        let runs = &runs;
        let parts: Vec<(Counted, i64, i64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = ranges
                .iter()
                .map(|&range| {
                    scope.spawn(move || self.count_songs(runs, range, song_count, venue_count))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("counting entries does not panic"))
                .collect()
        });
        let mut total = Counted {
            songs: vec![SongTally::default(); song_count],
            ..Counted::default()
        };
        let (mut valid, mut held) = (0, 0);
        for (part, part_valid, part_held) in parts {
            for (sum, tally) in total.songs.iter_mut().zip(part.songs) {
                sum.plays += tally.plays;
                sum.room_days += tally.room_days;
                sum.touched |= tally.touched;
            }
            total.song_venues.extend(part.song_venues);
            valid += part_valid;
            held += part_held;
        }
        (total, valid, held)
    }

    /// [`MonthMerge::count_entries`] of the songs in `range` (month codes).
    fn count_songs(
        &self,
        runs: &[(usize, std::ops::Range<usize>)],
        range: (u32, u32),
        song_count: usize,
        venue_count: usize,
    ) -> (Counted, i64, i64) {
        let mut counted = Counted {
            songs: vec![SongTally::default(); song_count],
            ..Counted::default()
        };
        let (mut valid_plays, mut held_plays) = (0i64, 0i64);
        let song_at =
            |u: usize, i: usize| self.songs[u][self.units[u].entries.song.value(i) as usize];
        let mut cursors: Vec<usize> = runs
            .iter()
            .map(|(u, rows)| {
                // The first row whose song is in the range (a binary search).
                let (mut low, mut high) = (rows.start, rows.end);
                while low < high {
                    let middle = (low + high) / 2;
                    if song_at(*u, middle) < range.0 {
                        low = middle + 1;
                    } else {
                        high = middle;
                    }
                }
                low
            })
            .collect();
        // One song's counted plays per venue, from every run, and its venues.
        let mut scores = vec![0i64; venue_count];
        let mut scored: Vec<u32> = Vec::new();
        for song in range.0..range.1 {
            let tally = &mut counted.songs[song as usize];
            for ((u, rows), cursor) in runs.iter().zip(cursors.iter_mut()) {
                let (u, e) = (*u, &self.units[*u].entries);
                while *cursor < rows.end && song_at(u, *cursor) == song {
                    let i = *cursor;
                    *cursor += 1;
                    let venue = self.venues[u][e.venue.value(i) as usize];
                    let valid = e.valid.value(i) as i64;
                    valid_plays += valid;
                    if self.held(venue, self.vendor_of(u, e.vendor.value(i)), e.day.value(i)) {
                        held_plays += valid;
                        tally.touched |= touched::HELD;
                        continue;
                    }
                    tally.touched |= e.touched.value(i);
                    tally.plays += e.plays.value(i) as i64;
                    let start = if i == 0 { 0 } else { e.rooms_end.value(i - 1) };
                    tally.room_days += (e.rooms_end.value(i) - start) as i64;
                    let score = e.counted.value(i) as i64;
                    if score > 0 {
                        if scores[venue as usize] == 0 {
                            scored.push(venue);
                        }
                        scores[venue as usize] += score;
                    }
                }
            }
            for venue in scored.drain(..) {
                let score = std::mem::take(&mut scores[venue as usize]);
                counted.song_venues.push((song, venue, score));
            }
        }
        (counted, valid_plays, held_plays)
    }

    /// The distinct rooms with a counted play, not held, of each of `songs` (month
    /// codes, ascending), a bit per room and song, 64 MiB of bits at most at a time.
    fn rooms_of(&self, songs: &[u32]) -> Vec<i64> {
        let words = self.room_count.div_ceil(64).max(1);
        let at_once = ((64 << 20) / 8 / words).max(1);
        songs
            .chunks(at_once)
            .flat_map(|some| self.rooms_of_some(some))
            .collect()
    }

    /// [`MonthMerge::rooms_of`] of a few songs.
    fn rooms_of_some(&self, songs: &[u32]) -> Vec<i64> {
        // Per song asked, a bit per room of the month.
        let words = self.room_count.div_ceil(64);
        let mut rooms = vec![0u64; words * songs.len()];
        for (u, run) in self.day_runs() {
            let e = &self.units[u].entries;
            let song_at = |i: usize| self.songs[u][e.song.value(i) as usize];
            // The run is sorted by song: each song's rows found by a binary search.
            let first_at = |song: u32| {
                let (mut low, mut high) = (run.start, run.end);
                while low < high {
                    let middle = (low + high) / 2;
                    if song_at(middle) < song {
                        low = middle + 1;
                    } else {
                        high = middle;
                    }
                }
                low
            };
            for (at, &song) in songs.iter().enumerate() {
                let mut i = first_at(song);
                while i < run.end && song_at(i) == song {
                    let venue = self.venues[u][e.venue.value(i) as usize];
                    if !self.held(venue, self.vendor_of(u, e.vendor.value(i)), e.day.value(i)) {
                        let start = if i == 0 { 0 } else { e.rooms_end.value(i - 1) };
                        let end = e.rooms_end.value(i);
                        for &room in &e.rooms.values()[start as usize..end as usize] {
                            let room = self.rooms[u][room as usize] as usize;
                            rooms[at * words + room / 64] |= 1 << (room % 64);
                        }
                    }
                    i += 1;
                }
            }
        }
        (0..songs.len())
            .map(|at| {
                rooms[at * words..(at + 1) * words]
                    .iter()
                    .map(|w| w.count_ones() as i64)
                    .sum()
            })
            .collect()
    }
}

fn strings(array: &StringArray) -> Vec<&str> {
    (0..array.len()).map(|i| array.value(i)).collect()
}

/// Month codes for the ids of several units' dictionaries (each sorted, as the ids of
/// a [`MonthPlays`] are): the ids sorted, and each unit's codes mapped to them.
fn month_codes<'a>(
    dictionaries: impl Iterator<Item = Vec<&'a str>>,
) -> (Vec<String>, Vec<Vec<u32>>) {
    let dictionaries: Vec<Vec<&str>> = dictionaries.collect();
    let mut distinct: std::collections::HashSet<&str, foldhash::fast::RandomState> =
        Default::default();
    for ids in &dictionaries {
        distinct.extend(ids.iter().copied());
    }
    let mut ids: Vec<&str> = distinct.into_iter().collect();
    ids.sort_unstable();
    let maps = codes_in(&ids, dictionaries.into_iter()).expect("every id is in the union");
    (ids.into_iter().map(str::to_string).collect(), maps)
}

/// Each dictionary's codes in `universe` (both sorted), by a walk of both lists (a
/// dictionary per core at a time); `None` if an id is not in it.
fn codes_in<'a>(
    universe: &[&str],
    dictionaries: impl Iterator<Item = Vec<&'a str>>,
) -> Option<Vec<Vec<u32>>> {
    let dictionaries: Vec<Vec<&str>> = dictionaries.collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = dictionaries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = dictionaries
            .chunks(chunk)
            .map(|some| {
                scope.spawn(move || {
                    some.iter()
                        .map(|ids| {
                            let mut at = 0;
                            ids.iter()
                                .map(|id| {
                                    while at < universe.len() && universe[at] < *id {
                                        at += 1;
                                    }
                                    (at < universe.len() && universe[at] == *id)
                                        .then_some(at as u32)
                                })
                                .collect::<Option<Vec<u32>>>()
                        })
                        .collect::<Option<Vec<_>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(dictionaries.len());
        for h in handles {
            all.extend(h.join().expect("coding does not panic")?);
        }
        Some(all)
    })
}

/// The month's counts from the digests of the units with plays in it (`units`), after
/// rule 5's `held` days, flagging rooms with `max_active_hours`, songs coded as in
/// `catalogue`; `None` when they cannot give it exactly (a held vendor-day with a
/// room-day shared with another vendor, a song not in the catalogue): the month is
/// then counted from its plays.
pub(crate) fn count_digests(
    units: Vec<Arc<UnitDigest>>,
    month: &Period,
    held: &[Hold],
    max_active_hours: i64,
    catalogue: &super::plays::SongCatalogue,
) -> Option<MonthCounts> {
    let days = (
        super::days_since_epoch(month.first_day()),
        super::days_since_epoch(month.last_day()),
    );
    let started = std::time::Instant::now();
    // Song codes are the catalogue's (a digest's songs are known ones).
    let catalogue_ids = catalogue.ids();
    let song_maps = codes_in(&catalogue_ids, units.iter().map(|u| strings(&u.songs)))?;
    let songs: Vec<String> = catalogue_ids.iter().map(|id| id.to_string()).collect();
    drop(catalogue_ids);
    let (venues, venue_maps) = month_codes(units.iter().map(|u| strings(&u.venues)));
    let (vendors, vendor_maps) = month_codes(units.iter().map(|u| strings(&u.vendors)));
    // Rooms by (month venue code, room_id).
    let mut room_codes: FastMap<(u32, &str), u32> = FastMap::default();
    let mut room_maps = Vec::with_capacity(units.len());
    let mut room_names: Vec<(u32, &str)> = Vec::new();
    for (u, unit) in units.iter().enumerate() {
        let map = (0..unit.room_ids.len())
            .map(|r| {
                let key = (
                    venue_maps[u][unit.room_venues.value(r) as usize],
                    unit.room_ids.value(r),
                );
                *room_codes.entry(key).or_insert_with(|| {
                    room_names.push(key);
                    room_names.len() as u32 - 1
                })
            })
            .collect::<Vec<u32>>();
        room_maps.push(map);
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "month codes");
    let (venue_held, vendor_held) = (
        super::held_days(held, HoldKind::Venue, &venues),
        super::held_days(held, HoldKind::Vendor, &vendors),
    );
    // A held vendor-day with a room-day of several vendors: not exact from digests.
    for (u, unit) in units.iter().enumerate() {
        for i in UnitDigest::rows_in(&unit.mixed.0, days) {
            let vendor = vendor_maps[u][unit.mixed.1.value(i) as usize];
            if vendor_held[vendor as usize].contains(&unit.mixed.0.value(i)) {
                return None;
            }
        }
    }
    let room_count = room_names.len();
    let flagged_names: Vec<(String, String)> = room_names
        .iter()
        .map(|&(venue, room)| (venues[venue as usize].clone(), room.to_string()))
        .collect();
    let room_venues: Vec<u32> = room_names.iter().map(|r| r.0).collect();
    drop(room_codes);
    drop(room_names);
    let merge = MonthMerge {
        units,
        room_count,
        days,
        songs: song_maps,
        venues: venue_maps,
        vendors: vendor_maps,
        rooms: room_maps,
        venue_held,
        vendor_held,
    };

    let (mut counted, valid_plays, held_plays) = merge.count_entries(songs.len(), venues.len());
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "entries");
    let mut active = vec![false; room_count];
    let mut flagged_rooms = Vec::new();
    for (u, unit) in merge.units.iter().enumerate() {
        let r = &unit.room_days;
        for i in UnitDigest::rows_in(&r.day, days) {
            let room = merge.rooms[u][r.room.value(i) as usize];
            let venue = room_venues[room as usize];
            let day = r.day.value(i);
            if merge.held(venue, merge.vendor_of(u, r.vendor.value(i)), day) {
                continue;
            }
            counted.resent += r.resent.value(i) as i64;
            counted.over_cap += r.over_cap.value(i) as i64;
            if r.impossible.value(i) == 1 {
                counted.impossible_plays += r.kept.value(i) as i64;
                counted.impossible_room_days += 1;
            }
            if r.counts.value(i) == 1 {
                active[room as usize] = true;
            }
            let hours = r.hours.value(i) as i64;
            if hours >= max_active_hours {
                let (venue_id, room_id) = &flagged_names[room as usize];
                flagged_rooms.push(FlaggedRoom {
                    venue_id: venue_id.clone(),
                    room_id: room_id.clone(),
                    day: date_of(day),
                    hours,
                    plays: r.valid.value(i) as i64,
                });
            }
        }
    }
    counted.active_rooms = active.iter().filter(|a| **a).count() as i64;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "room-days");
    flagged_rooms
        .sort_by(|a, b| (&a.venue_id, &a.room_id, a.day).cmp(&(&b.venue_id, &b.room_id, b.day)));
    let merge = Arc::new(merge);
    Some(MonthCounts {
        songs,
        venues,
        valid_plays,
        held_plays,
        counted,
        holds: held.to_vec(),
        flagged_rooms,
        rooms: Some(Box::new(move |songs: &[u32]| merge.rooms_of(songs))),
    })
}
