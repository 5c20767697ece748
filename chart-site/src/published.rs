//! The published versions a site is rendered from: for every period under
//! `charts/`, its current version's manifest and tables, read from the files the
//! publication wrote (never recomputed).

use std::collections::BTreeSet;

use bytes::Bytes;
use chart_core::publication::{Manifest, history, period_location};
use chart_core::{Location, Period, PeriodKind};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, SiteError};

/// Periods read at the same time.
const READS_IN_FLIGHT: usize = 4;

/// Every published period's current version, oldest first.
#[derive(Debug, Clone)]
pub struct Published {
    /// Published months, oldest first.
    pub months: Vec<PublishedPeriod>,
    /// Published years, oldest first.
    pub years: Vec<PublishedPeriod>,
}

impl Published {
    /// The periods of one kind, oldest first.
    pub fn of(&self, kind: PeriodKind) -> &[PublishedPeriod] {
        match kind {
            PeriodKind::Month => &self.months,
            PeriodKind::Year => &self.years,
        }
    }
}

/// A period's current version.
#[derive(Debug, Clone)]
pub struct PublishedPeriod {
    /// The period.
    pub period: Period,
    /// The current version's manifest.
    pub manifest: Manifest,
    /// The manifest as published (copied into the site, byte for byte).
    pub manifest_file: Bytes,
    /// The hot-song chart, by rank.
    pub hot: Vec<ChartRow>,
    /// The new-song chart, by rank.
    pub new: Vec<ChartRow>,
    /// The published CSV files of the two charts (copied into the site).
    pub hot_csv: Bytes,
    /// See `hot_csv`.
    pub new_csv: Bytes,
    /// National coverage.
    pub coverage: CoverageRow,
    /// Coverage per province, as published (by province).
    pub provinces: Vec<ProvinceRow>,
}

/// One row of a published chart (`hot.json`, `new.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChartRow {
    /// Position, from 1.
    pub rank: u32,
    /// The song.
    pub song_id: String,
    /// Its title.
    pub title: String,
    /// Its artist.
    pub artist: String,
    /// Valid plays after the room cap.
    pub score: i64,
    /// Valid plays.
    pub plays: i64,
    /// Venues that played it.
    pub venues: i64,
    /// Rooms that played it.
    pub rooms: i64,
    /// Rank in the previous period, when charted there.
    pub prev_rank: Option<u32>,
    /// Best rank up to this period.
    pub peak_rank: Option<u32>,
    /// Periods on this chart up to this one.
    pub months_on_chart: u32,
    /// `NEW`, `RE`, `UP`, `DOWN` or `SAME`.
    pub movement: String,
}

/// The national coverage row (`coverage.json`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CoverageRow {
    /// Licensed venues.
    pub licensed_venues: i64,
    /// Venues connected to the platform.
    pub connected_venues: i64,
    /// Connected over licensed.
    pub coverage_share: Option<f64>,
    /// Provinces with a connected venue.
    pub provinces: i64,
    /// Cities with a connected venue.
    pub cities: i64,
    /// Rooms of connected venues.
    pub rooms: i64,
    /// Venues connected during the period.
    pub new_venues: i64,
    /// Venues connected during the previous period.
    pub new_venues_prev: i64,
    /// Growth of new venues over the previous period.
    pub new_venues_growth: Option<f64>,
    /// Venues with a valid play.
    pub active_venues: i64,
    /// Rooms with a valid play.
    pub active_rooms: i64,
}

/// One province's coverage row (`coverage_by_province.json`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProvinceRow {
    /// The province.
    pub province: String,
    /// Licensed venues.
    pub licensed_venues: i64,
    /// Connected venues.
    pub connected_venues: i64,
    /// Connected over licensed.
    pub coverage_share: Option<f64>,
    /// Rooms of connected venues.
    pub rooms: i64,
    /// Venues with a valid play.
    pub active_venues: i64,
}

/// A published JSON table: only its rows are read.
#[derive(Deserialize)]
struct TableFile<T> {
    rows: Vec<T>,
}

/// Reads the current version of every period published under `out`.
pub async fn read_published(out: &Location) -> Result<Published> {
    let charts = out.join("charts");
    let mut periods = BTreeSet::new();
    for object in charts.list().await? {
        let Some(relative) = charts.relative(&object.location) else {
            continue;
        };
        let Some(directory) = relative.split('/').next() else {
            continue;
        };
        let Some((kind, period)) = directory.split_once('=') else {
            continue;
        };
        let kind = match kind {
            "month" => PeriodKind::Month,
            "year" => PeriodKind::Year,
            _ => continue,
        };
        let period = Period::parse_kind(kind, period).map_err(|_| SiteError::Published {
            file: charts.join(directory).to_string(),
            problem: format!("not a {} directory", kind.as_str()),
        })?;
        periods.insert(period);
    }
    let read: Vec<Option<PublishedPeriod>> = stream::iter(periods)
        .map(|period| read_period(out, period))
        .buffered(READS_IN_FLIGHT)
        .try_collect()
        .await?;
    let (mut months, mut years) = (Vec::new(), Vec::new());
    for period in read.into_iter().flatten() {
        match period.period.kind() {
            PeriodKind::Month => months.push(period),
            PeriodKind::Year => years.push(period),
        }
    }
    if months.is_empty() && years.is_empty() {
        return Err(SiteError::NothingPublished {
            out: out.to_string(),
        });
    }
    Ok(Published { months, years })
}

/// The current version of one period, or `None` when it has no version yet (only
/// unreferenced data files, left by an interrupted publisher).
async fn read_period(out: &Location, period: Period) -> Result<Option<PublishedPeriod>> {
    let Some(manifest) = history(out, &period).await?.pop() else {
        return Ok(None);
    };
    let period_dir = period_location(out, &period);
    let manifest_name = format!("versions/{:06}.json", manifest.version);
    let manifest_file = read_file(&period_dir, &manifest_name).await?;
    let directory = period_dir.join(&manifest.directory);
    Ok(Some(PublishedPeriod {
        period,
        hot: read_rows(&directory, "hot.json").await?,
        new: read_rows(&directory, "new.json").await?,
        hot_csv: read_file(&directory, "hot.csv").await?,
        new_csv: read_file(&directory, "new.csv").await?,
        coverage: read_rows(&directory, "coverage.json")
            .await?
            .pop()
            .ok_or_else(|| SiteError::Published {
                file: directory.join("coverage.json").to_string(),
                problem: "no rows".into(),
            })?,
        provinces: read_rows(&directory, "coverage_by_province.json").await?,
        manifest,
        manifest_file,
    }))
}

async fn read_file(directory: &Location, name: &str) -> Result<Bytes> {
    directory
        .read(name)
        .await?
        .ok_or_else(|| SiteError::Published {
            file: directory.join(name).to_string(),
            problem: "missing (the manifest lists it)".into(),
        })
}

async fn read_rows<T: DeserializeOwned>(directory: &Location, name: &str) -> Result<Vec<T>> {
    let bytes = read_file(directory, name).await?;
    let table: TableFile<T> = serde_json::from_slice(&bytes).map_err(|e| SiteError::Published {
        file: directory.join(name).to_string(),
        problem: format!("not a published table: {e}"),
    })?;
    Ok(table.rows)
}
