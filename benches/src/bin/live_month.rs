//! The live month at scale: a data root's month counted partition by partition in
//! batches, as the service's live charts count landed files, with days closed by event
//! time `--grace-minutes` after their end. Prints, as JSON: the time to load the songs,
//! venues and the earlier months' charts (from the day digests kept at `--day-digests`,
//! as the service does, or from the plays); the rows counted per second of counting (the
//! scan of the files is timed apart: the service gets its batches from the lander); the
//! time to close each day; the refresh (the month's figures) after each partition and
//! at the month's end, and the charts and coverage ranked from it; the live month's
//! heap by part (at the month's end, and at its largest); the process's peak and final
//! RSS.
//!
//! ```sh
//! cargo run --release -p benches --bin live_month -- DATA_ROOT 2024-11
//! cargo run --release -p benches --bin live_month -- DATA_ROOT 2024-12 --day-digests DIR
//! ```

use std::time::{Duration, Instant};

use chart_core::live::LiveMonth;
use chart_core::{ChartKind, GoldenMic, Location, Methodology, Period, PeriodKind};
use futures::StreamExt;

type BoxError = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: live_month DATA_ROOT MONTH [--grace-minutes N] [--day-digests DIR]";
    let root = args.next().ok_or(usage)?;
    let month: Period = args.next().ok_or(usage)?.parse()?;
    let mut grace = Duration::from_secs(3600);
    let mut digests = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(usage)?;
        match flag.as_str() {
            "--grace-minutes" => grace = Duration::from_secs(value.parse::<u64>()? * 60),
            "--day-digests" => digests = Some(Location::local(&value)?),
            _ => return Err(usage.into()),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure(&root, month, grace, digests))
}

/// Peak and current resident memory of this process, MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn measure(
    root: &str,
    month: Period,
    grace: Duration,
    digests: Option<Location>,
) -> Result<(), BoxError> {
    let mut engine = GoldenMic::open(root, Methodology::default()).await?;
    if digests.is_some() {
        engine = engine.with_day_digests(digests);
    }
    let started = Instant::now();
    let mut live = LiveMonth::start(&engine, month).await?;
    let start_s = started.elapsed().as_secs_f64();
    let partitions: Vec<_> = engine
        .data()
        .ok_or("the data root has no plays")?
        .play_days()
        .keys()
        .copied()
        .filter(|d| {
            Period::containing(PeriodKind::Month, *d) == month
                || d.pred_opt()
                    .is_some_and(|p| Period::containing(PeriodKind::Month, p) == month)
        })
        .collect();
    let (mut rows, mut late, mut batches) = (0u64, 0u64, 0u64);
    let (mut scan, mut counting) = (Duration::ZERO, Duration::ZERO);
    let mut closes = Vec::new();
    let mut refreshes = Vec::new();
    let mut most_memory = (0, live.memory());
    for day in partitions {
        let mut stream = engine
            .context()
            .sql(&format!(
                "SELECT event_id, venue_id, room_id, song_id, started_at, played_ms \
                 FROM plays WHERE date = DATE '{day}'"
            ))
            .await?
            .execute_stream()
            .await?;
        loop {
            let read = Instant::now();
            let Some(batch) = stream.next().await else {
                break;
            };
            let batch = batch?;
            scan += read.elapsed();
            let t = Instant::now();
            let counted = live.count(&batch, day)?;
            counting += t.elapsed();
            rows += counted.rows;
            late += counted.late_days.len() as u64;
            batches += 1;
            let memory = live.memory();
            let total = memory.open_days + memory.month_keys + memory.month_figures;
            if total > most_memory.0 {
                most_memory = (total, memory);
            }
            let t = Instant::now();
            let closed = live.close_with_grace(grace);
            if !closed.is_empty() {
                closes.push((closed, t.elapsed().as_secs_f64()));
            }
        }
        let t = Instant::now();
        let standings = live.standings();
        refreshes.push((day, t.elapsed().as_secs_f64()));
        drop(standings);
    }
    let t = Instant::now();
    let standings = live.standings();
    let refresh_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hot = standings.chart(ChartKind::Hot);
    let new = standings.chart(ChartKind::New);
    let coverage = standings.coverage(None)?;
    let provinces = standings.coverage_by_province();
    let rank_s = t.elapsed().as_secs_f64();
    let (peak, now) = rss_mib();
    let close_times: Vec<f64> = closes.iter().map(|(_, s)| *s).collect();
    let refresh_times: Vec<f64> = refreshes.iter().map(|(_, s)| *s).collect();
    println!("{{");
    println!("  \"month\": \"{month}\",");
    println!("  \"start_s\": {start_s:.3},");
    println!("  \"rows_counted\": {rows},");
    println!("  \"batches\": {batches},");
    println!("  \"late_day_batches\": {late},");
    println!("  \"scan_s\": {:.3},", scan.as_secs_f64());
    println!("  \"count_s\": {:.3},", counting.as_secs_f64());
    println!(
        "  \"rows_per_count_s\": {:.0},",
        rows as f64 / counting.as_secs_f64().max(1e-9)
    );
    println!("  \"days_closed\": {},", live.closed_days().len());
    println!(
        "  \"open_days\": {:?},",
        live.open_days()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    );
    println!("  \"close_s\": {close_times:.3?},");
    println!("  \"refresh_s_after_each_partition\": {refresh_times:.3?},");
    println!("  \"refresh_s_month_end\": {refresh_s:.3},");
    println!("  \"rank_charts_and_coverage_s\": {rank_s:.3},");
    println!(
        "  \"hot_rows\": {}, \"new_rows\": {},",
        hot.len(),
        new.len()
    );
    println!("  \"active_rooms\": {},", coverage.active_rooms);
    println!("  \"provinces\": {},", provinces.len());
    let mib = |bytes: usize| bytes as f64 / (1u64 << 20) as f64;
    for (name, memory) in [("month_end", live.memory()), ("most", most_memory.1)] {
        println!(
            "  \"live_heap_mib_{name}\": {{\"open_days\": {:.0}, \"month_keys\": {:.0}, \"month_figures\": {:.0}}},",
            mib(memory.open_days),
            mib(memory.month_keys),
            mib(memory.month_figures)
        );
    }
    println!("  \"peak_rss_mib\": {peak:.0},");
    println!("  \"final_rss_mib\": {now:.0}");
    println!("}}");
    Ok(())
}
