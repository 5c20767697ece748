//! The SQL of `queries/`, in dependency order. Each file is a plain `SELECT` that
//! the library registers as a view of the same name; an analyst can run it as
//! written on a session where the tables and functions are registered.

/// One SQL file of `queries/`.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// The view name (the file name without `.sql`).
    pub name: &'static str,
    /// The SQL text.
    pub sql: &'static str,
}

macro_rules! query {
    ($name:literal) => {
        Query {
            name: $name,
            sql: include_str!(concat!("../../queries/", $name, ".sql")),
        }
    };
}

/// Every query, each after the views it reads.
pub const QUERIES: [Query; 16] = [
    query!("resent_events"),
    query!("checked_plays"),
    query!("room_day_events"),
    query!("classified_plays"),
    query!("valid_plays"),
    query!("room_day_plays"),
    query!("room_period_plays"),
    query!("song_period_stats"),
    query!("song_month_stats"),
    query!("room_period_outcomes"),
    query!("chart_entries"),
    query!("hot_chart"),
    query!("new_chart"),
    query!("coverage_by_province"),
    query!("coverage"),
    query!("data_quality"),
];
