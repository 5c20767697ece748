//! How fast a month's per-song figures could be computed from per-day aggregates ("day
//! digests", docs/PERFORMANCE.md), were they stored with integer codes and sorted: a
//! k-way merge of the days' runs, timed on one and two threads.
//!
//! The digest is `room_day_plays` written to Parquet, e.g. at 51M plays:
//!
//! ```sh
//! chart-job sql --data target/bench-data/plays-50000000-venue-room --allow-writes -c \
//!   "COPY (SELECT business_day, song_id, venue_id, room_id, plays, score FROM room_day_plays) \
//!    TO '/tmp/room_day_plays.parquet' STORED AS PARQUET"
//! cargo run --release -p benches --example day_digest_merge -- /tmp/room_day_plays.parquet
//! ```
//!
//! Reading the file and coding it are not timed. The merge's figures are checked against
//! a hash aggregate of the same entries before any time is printed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

/// One business day's entries, sorted by (song code, room code).
struct DayRun {
    songs: Vec<u32>,
    rooms: Vec<u32>,
    venues: Vec<u32>,
    plays: Vec<u32>,
    scores: Vec<u32>,
}

/// The month's figures summed over songs: songs, score, plays, venues, rooms.
type Totals = [u64; 5];

fn strings(batch: &RecordBatch, name: &str) -> StringArray {
    let column = cast(batch.column_by_name(name).expect("column"), &DataType::Utf8).expect("cast");
    column.as_string::<i32>().clone()
}

fn integers(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let column = cast(
        batch.column_by_name(name).expect("column"),
        &DataType::Int64,
    )
    .expect("cast");
    column.as_primitive::<Int64Type>().values().to_vec()
}

/// Codes in the order of the values, so that merging by code merges by value.
fn codes<T: Ord + Clone + std::hash::Hash>(values: &[T]) -> HashMap<T, u32> {
    let mut distinct: Vec<T> = values.to_vec();
    distinct.sort();
    distinct.dedup();
    distinct.into_iter().zip(0..).collect()
}

/// Merges the runs' entries of songs in `[first, end)`: per song its score, plays, rooms
/// (distinct room codes) and venues (distinct venue codes; rooms are coded in venue order).
fn merge(runs: &[DayRun], first: u32, end: u32) -> Totals {
    let mut next: Vec<usize> = runs
        .iter()
        .map(|r| r.songs.partition_point(|&s| s < first))
        .collect();
    let stop: Vec<usize> = runs
        .iter()
        .map(|r| r.songs.partition_point(|&s| s < end))
        .collect();
    let key = |run: &DayRun, i: usize| (u64::from(run.songs[i]) << 32) | u64::from(run.rooms[i]);
    let mut heap = BinaryHeap::new();
    for (r, run) in runs.iter().enumerate() {
        if next[r] < stop[r] {
            heap.push(Reverse((key(run, next[r]), r)));
        }
    }
    let mut totals = [0u64; 5];
    let (mut song, mut room, mut venue) = (u64::MAX, u64::MAX, u32::MAX);
    while let Some(Reverse((entry, r))) = heap.pop() {
        let run = &runs[r];
        let i = next[r];
        if entry >> 32 != song {
            song = entry >> 32;
            venue = u32::MAX;
            totals[0] += 1;
        }
        totals[1] += u64::from(run.scores[i]);
        totals[2] += u64::from(run.plays[i]);
        if entry != room {
            room = entry;
            totals[4] += 1;
            if run.venues[i] != venue {
                venue = run.venues[i];
                totals[3] += 1;
            }
        }
        next[r] += 1;
        if next[r] < stop[r] {
            heap.push(Reverse((key(run, next[r]), r)));
        }
    }
    totals
}

fn merge_on(runs: &[DayRun], threads: u32) -> Totals {
    let songs = runs
        .iter()
        .filter_map(|r| r.songs.last())
        .max()
        .map_or(0, |&s| s + 1);
    let bounds: Vec<u32> = (0..=threads)
        .map(|t| (u64::from(songs) * u64::from(t) / u64::from(threads)) as u32)
        .collect();
    let parts: Vec<Totals> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| scope.spawn(move || merge(runs, w[0], w[1])))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("merge thread"))
            .collect()
    });
    parts.iter().fold([0; 5], |mut sum, part| {
        sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
        sum
    })
}

/// The same figures by hashing, the reference the merge is checked against.
fn hashed(songs: &[u32], rooms: &[u32], venues: &[u32], plays: &[u32], scores: &[u32]) -> Totals {
    let song_set: HashSet<u32> = songs.iter().copied().collect();
    let room_set: HashSet<(u32, u32)> = songs.iter().copied().zip(rooms.iter().copied()).collect();
    let venue_set: HashSet<(u32, u32)> =
        songs.iter().copied().zip(venues.iter().copied()).collect();
    [
        song_set.len() as u64,
        scores.iter().map(|&s| u64::from(s)).sum(),
        plays.iter().map(|&p| u64::from(p)).sum(),
        venue_set.len() as u64,
        room_set.len() as u64,
    ]
}

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: day_digest_merge DIGEST.parquet");
    let ctx = SessionContext::new();
    let batches = ctx
        .read_parquet(path, ParquetReadOptions::default())
        .await?
        .collect()
        .await?;
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches)?;
    let days: Vec<i32> = {
        let column = batch.column_by_name("business_day").expect("business_day");
        column.as_primitive::<Date32Type>().values().to_vec()
    };
    let (song_ids, venue_ids, room_ids) = (
        strings(&batch, "song_id"),
        strings(&batch, "venue_id"),
        strings(&batch, "room_id"),
    );
    let song_ids: Vec<&str> = song_ids.iter().map(|s| s.expect("song_id")).collect();
    let venue_ids: Vec<&str> = venue_ids.iter().map(|v| v.expect("venue_id")).collect();
    let pairs: Vec<(&str, &str)> = venue_ids
        .iter()
        .copied()
        .zip(room_ids.iter().map(|r| r.expect("room_id")))
        .collect();
    let song_codes = codes(&song_ids);
    let room_codes = codes(&pairs);
    let venue_codes = codes(&venue_ids);
    let songs: Vec<u32> = song_ids.iter().map(|s| song_codes[s]).collect();
    let rooms: Vec<u32> = pairs.iter().map(|p| room_codes[p]).collect();
    let venues: Vec<u32> = venue_ids.iter().map(|v| venue_codes[v]).collect();
    drop((
        song_codes,
        room_codes,
        venue_codes,
        pairs,
        song_ids,
        venue_ids,
    ));
    let plays: Vec<u32> = integers(&batch, "plays")
        .into_iter()
        .map(|p| p as u32)
        .collect();
    let scores: Vec<u32> = integers(&batch, "score")
        .into_iter()
        .map(|s| s as u32)
        .collect();

    let mut order: Vec<usize> = (0..songs.len()).collect();
    order.sort_unstable_by_key(|&i| (days[i], songs[i], rooms[i]));
    let mut runs: Vec<DayRun> = Vec::new();
    let mut day = None;
    for i in order {
        if day != Some(days[i]) {
            day = Some(days[i]);
            runs.push(DayRun {
                songs: vec![],
                rooms: vec![],
                venues: vec![],
                plays: vec![],
                scores: vec![],
            });
        }
        let run = runs.last_mut().expect("a run");
        run.songs.push(songs[i]);
        run.rooms.push(rooms[i]);
        run.venues.push(venues[i]);
        run.plays.push(plays[i]);
        run.scores.push(scores[i]);
    }
    let want = hashed(&songs, &rooms, &venues, &plays, &scores);
    println!(
        "{} entries in {} days; songs, score, plays, venues, rooms: {want:?}",
        songs.len(),
        runs.len()
    );
    for threads in [1, 2] {
        for _ in 0..3 {
            let start = Instant::now();
            let got = merge_on(&runs, threads);
            let seconds = start.elapsed().as_secs_f64();
            assert_eq!(
                got, want,
                "the merge's figures differ from the hash aggregate's"
            );
            println!("{threads} thread(s): {seconds:.3} s");
        }
    }
    Ok(())
}
