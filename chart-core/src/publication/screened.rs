//! The tables of a screened (GM-2) version: each chart's first `top_n` entries in
//! `hot` and `new` (GM-1's columns and GM-2's), the next entries in
//! `*_bubbling_under`, the transparency report, the held days, the flagged rooms, and
//! the edition's changes against the version before it; and the earlier months'
//! latest editions, which a screened month's history reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use super::read::read_tables;
use super::transaction::read_versions;
use super::{Edition, InputRecord, Manifest, Product, product_location};
use crate::contract::store::Location;
use crate::error::{ChartError, Result};
use crate::methodology::{Period, PeriodKind};
use crate::screened_chart::{EarlierCharts, ScreenedMonth, entries_batch};

/// The tables a screened version publishes besides `hot`, `new` and the coverage.
pub const SCREENED_TABLE_NAMES: [&str; 6] = [
    "hot_bubbling_under",
    "new_bubbling_under",
    "transparency",
    "holds",
    "flagged_rooms",
    "edition_changes",
];

/// A screened month's tables, by name: `hot`, `new`, then [`SCREENED_TABLE_NAMES`].
pub(super) async fn screened_tables(
    screened: &ScreenedMonth,
    top_n: usize,
    reason: Option<&str>,
    previous: Option<(&Manifest, Location)>,
) -> Result<(Vec<(&'static str, RecordBatch)>, Edition)> {
    let split = |entries: &[_]| -> Result<(RecordBatch, RecordBatch)> {
        let cut = top_n.min(entries.len());
        Ok((
            entries_batch(&entries[..cut])?,
            entries_batch(&entries[cut..])?,
        ))
    };
    let (hot, hot_under) = split(&screened.hot)?;
    let (new, new_under) = split(&screened.new)?;
    let (changes, compared_with) = match previous {
        Some((manifest, directory)) => {
            let before = read_tables(&directory, &["hot", "new"]).await?;
            let rows = rank_changes(&[("hot", &before[0], &hot), ("new", &before[1], &new)]);
            (rows, Some(manifest.version))
        }
        None => (Vec::new(), None),
    };
    let edition = Edition {
        reason: reason.unwrap_or("first edition").to_string(),
        compared_with,
        changed_entries: changes.len(),
    };
    let tables = vec![
        ("hot", hot),
        ("new", new),
        ("hot_bubbling_under", hot_under),
        ("new_bubbling_under", new_under),
        ("transparency", screened.transparency_batch()?),
        ("holds", screened.holds_batch()?),
        ("flagged_rooms", screened.flagged_rooms_batch()?),
        ("edition_changes", changes_batch(&edition, &changes)?),
    ];
    Ok((tables, edition))
}

/// The charts of every month before `period` published under `out` (each month's
/// latest version), which a screened month's history reads, and the input records of
/// the files read (so that a new edition of an earlier month is a new input).
pub(super) async fn earlier_charts(
    out: &Location,
    period: &Period,
) -> Result<(EarlierCharts, Vec<InputRecord>)> {
    let charts = out.join(Product::Charts.directory());
    let mut earlier = EarlierCharts::new();
    let mut records = Vec::new();
    for name in charts.directories().await? {
        let Some(month) = name
            .trim_end_matches('/')
            .strip_prefix("month=")
            .and_then(|m| Period::parse_kind(PeriodKind::Month, m).ok())
        else {
            continue;
        };
        if month >= *period {
            continue;
        }
        let month_dir = product_location(out, Product::Charts, &month);
        let Some(latest) = read_versions(&month_dir).await?.pop() else {
            continue;
        };
        let directory = month_dir.join(&latest.directory);
        let tables = read_tables(&directory, &["hot", "new"]).await?;
        let songs = |batch: &RecordBatch| {
            let mut ranked: Vec<(i64, String)> = ranks(batch)
                .into_iter()
                .map(|(song, rank)| (rank, song))
                .collect();
            ranked.sort();
            ranked.into_iter().map(|(_, song)| song).collect::<Vec<_>>()
        };
        earlier.insert(month, [songs(&tables[0]), songs(&tables[1])]);
        for file in ["hot.parquet", "new.parquet"] {
            let output = latest
                .outputs
                .iter()
                .find(|o| o.path == file)
                .ok_or_else(|| ChartError::Corrupt {
                    file: month_dir
                        .join(&format!("versions/{:06}.json", latest.version))
                        .to_string(),
                    problem: format!("lists no {file}"),
                })?;
            records.push(InputRecord {
                table: EARLIER_CHARTS_TABLE.to_string(),
                path: format!(
                    "{}/{}/{}/{file}",
                    Product::Charts.directory(),
                    month.directory_name(),
                    latest.directory
                ),
                rows: output.rows as i64,
                bytes: output.bytes,
                sha256: output.sha256.clone(),
            });
        }
    }
    Ok((earlier, records))
}

/// The input table of [`earlier_charts`]' records.
pub(super) const EARLIER_CHARTS_TABLE: &str = "charts";

/// A song whose rank differs between two editions: (chart, song_id, before, after).
type RankChange = (&'static str, String, Option<i64>, Option<i64>);

fn ranks(batch: &RecordBatch) -> BTreeMap<String, i64> {
    let (Some(songs), Some(ranks)) = (
        batch.column_by_name("song_id"),
        batch.column_by_name("rank"),
    ) else {
        return BTreeMap::new();
    };
    let songs = arrow::compute::cast(songs, &DataType::Utf8).unwrap_or(songs.clone());
    let (Some(songs), Some(ranks)) = (
        songs.as_string_opt::<i32>(),
        ranks.as_primitive_opt::<Int64Type>(),
    ) else {
        return BTreeMap::new();
    };
    (0..batch.num_rows())
        .filter(|&i| songs.is_valid(i) && ranks.is_valid(i))
        .map(|i| (songs.value(i).to_string(), ranks.value(i)))
        .collect()
}

fn rank_changes(charts: &[(&'static str, &RecordBatch, &RecordBatch)]) -> Vec<RankChange> {
    let mut changes = Vec::new();
    for (chart, before, after) in charts {
        let (before, after) = (ranks(before), ranks(after));
        let mut songs: Vec<&String> = before.keys().chain(after.keys()).collect();
        songs.sort();
        songs.dedup();
        for song in songs {
            let (b, a) = (before.get(song).copied(), after.get(song).copied());
            if b != a {
                changes.push((*chart, song.clone(), b, a));
            }
        }
    }
    changes.sort_by_key(|c| (c.0, c.3.or(c.2), c.1.clone()));
    changes
}

fn changes_batch(edition: &Edition, changes: &[RankChange]) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("reason", DataType::Utf8, false),
        Field::new("compared_with_version", DataType::Int64, true),
        Field::new("chart", DataType::Utf8, false),
        Field::new("song_id", DataType::Utf8, false),
        Field::new("rank_before", DataType::Int64, true),
        Field::new("rank_after", DataType::Int64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(
                changes.iter().map(|_| edition.reason.as_str()),
            )),
            Arc::new(Int64Array::from_iter(
                changes.iter().map(|_| edition.compared_with.map(i64::from)),
            )),
            Arc::new(StringArray::from_iter_values(changes.iter().map(|c| c.0))),
            Arc::new(StringArray::from_iter_values(
                changes.iter().map(|c| c.1.as_str()),
            )),
            Arc::new(Int64Array::from_iter(changes.iter().map(|c| c.2))),
            Arc::new(Int64Array::from_iter(changes.iter().map(|c| c.3))),
        ],
    )
    .map_err(|e| ChartError::Query(e.into()))
}
