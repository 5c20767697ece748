//! Benchmarks of the Golden Mic chart computation live in `benches/`; this library
//! holds their shared set-up.
#![warn(missing_docs)]

use std::path::Path;

/// Generates `plays_per_month` plays for one month (2024-11) with a catalogue of
/// `catalogue` songs into `root`.
pub fn generate_month(root: &Path, plays_per_month: usize, catalogue: usize) {
    let spec = sample_data::SampleSpec {
        plays_per_month,
        catalogue_size: catalogue,
        first_month: chrono_month(2024, 11),
        months: 1,
        ..sample_data::SampleSpec::default()
    };
    sample_data::generate(&spec, root).expect("sample data is written");
}

fn chrono_month(year: i32, month: u32) -> sample_data::NaiveDate {
    sample_data::NaiveDate::from_ymd_opt(year, month, 1).expect("valid month")
}

/// A hot path's query in `queries/`' formulation and a peer formulation of it
/// (`benches/peers/*.sql`), which must give the same result on any data.
#[derive(Debug, Clone)]
pub struct SqlPeer {
    /// The hot path, e.g. `re-sent events`.
    pub hot_path: &'static str,
    /// The peer's name in the benchmark's output.
    pub peer: &'static str,
    /// The project's query.
    pub ours: String,
    /// The peer's query.
    pub theirs: String,
}

/// A summary of `classified_plays`-shaped rows, to compare formulations of it.
pub fn classified(source: &str) -> String {
    format!(
        "SELECT COUNT(*) AS events, SUM(copies) AS rows_received, \
         COUNT(exclusion) AS excluded, COUNT(DISTINCT business_day) AS days \
         FROM ({source}) AS classified"
    )
}

/// A summary of `resent_events`-shaped rows, to compare formulations of it.
pub fn resent(source: &str) -> String {
    format!(
        "SELECT COUNT(*) AS events, SUM(copies) AS copies, MIN(event_id) AS first, \
         MAX(event_id) AS last FROM ({source}) AS resent"
    )
}

/// The month's per-song figures as `song_period_stats` computes them, summed.
pub const SONG_FIGURES: &str = "SELECT COUNT(*) AS songs, SUM(score) AS score, \
    SUM(venues) AS venues, SUM(rooms) AS rooms FROM song_period_stats WHERE period_kind = 'month'";

/// Every peer of `benches/peers/`, with the project's query it replaced.
pub fn sql_peers() -> Vec<SqlPeer> {
    let pair = |hot_path, peer, ours: String, theirs: String| SqlPeer {
        hot_path,
        peer,
        ours,
        theirs,
    };
    vec![
        pair(
            "re-sent events",
            "one aggregate",
            resent("SELECT * FROM resent_events"),
            resent(include_str!("../peers/group_by_resent_events.sql")),
        ),
        pair(
            "deduplication",
            "peer",
            classified("SELECT * FROM classified_plays"),
            classified(include_str!("../peers/window_classified_plays.sql")),
        ),
        pair(
            "song figures of the months",
            "peer",
            SONG_FIGURES.to_string(),
            include_str!("../peers/cross_join_song_stats.sql").to_string(),
        ),
        pair(
            "song figures of the months",
            "three aggregates",
            SONG_FIGURES.to_string(),
            include_str!("../peers/three_aggregates_song_stats.sql").to_string(),
        ),
        pair(
            "song figures of the months",
            "per venue first",
            SONG_FIGURES.to_string(),
            include_str!("../peers/per_venue_song_stats.sql").to_string(),
        ),
        pair(
            "business month of every play",
            "peer",
            "SELECT period_of('month', business_day(started_at)) AS period, COUNT(*) AS plays \
             FROM plays GROUP BY 1 ORDER BY 1"
                .to_string(),
            include_str!("../peers/builtin_business_month.sql").to_string(),
        ),
    ]
}
