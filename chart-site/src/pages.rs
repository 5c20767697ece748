//! What each page shows: the published rows turned into the values the templates
//! print (movement symbols, links, plots), and the site's file list. Paths are
//! relative, so the site can be served from any prefix.

use std::collections::BTreeMap;

use bytes::Bytes;
use chart_core::publication::Manifest;
use chart_core::{Methodology, PeriodKind};
use serde::Serialize;

use crate::error::Result;
use crate::plot::{self, BarChart, LinePlot, SeriesValues};
use crate::published::{ChartRow, Published, PublishedPeriod};
use crate::templates::{SITE_STATIC_FILES, Templates};

/// A file of the site: its path below the site root and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFile {
    /// `/`-separated path below the site root.
    pub path: String,
    /// The content.
    pub bytes: Bytes,
}

/// The two charts, as they appear in paths and on pages.
pub(crate) const CHARTS: [(&str, &str, &str); 2] = [
    ("hot", "热歌榜", "Hot songs"),
    ("new", "新歌榜", "New songs"),
];

/// Entries of the newest month shown on the index.
const INDEX_TOP: usize = 10;

/// Every file of the site, in a fixed order (pages first, the index last), rendered
/// from `published` with `templates`.
pub fn site_files(published: &Published, templates: &Templates) -> Result<Vec<SiteFile>> {
    let mut files = Vec::new();
    let footer = newest_footer(published);
    for kind in [PeriodKind::Month, PeriodKind::Year] {
        let periods = published.of(kind);
        for (i, period) in periods.iter().enumerate() {
            let dir = period_dir(period);
            for (chart, name, english) in CHARTS {
                let page = ChartPage::new(periods, i, chart, name, english);
                files.push(html(
                    format!("{dir}/{chart}.html"),
                    templates.render("chart.html", &page)?,
                ));
            }
            files.push(file(format!("{dir}/hot.csv"), period.hot_csv.clone()));
            files.push(file(format!("{dir}/new.csv"), period.new_csv.clone()));
            files.push(file(
                format!("{dir}/manifest.json"),
                period.manifest_file.clone(),
            ));
        }
    }
    for song in SongPage::all(published, &footer) {
        files.push(html(
            format!("song/{}.html", song_file(&song.song_id)),
            templates.render("song.html", &song)?,
        ));
    }
    if !published.months.is_empty() {
        let coverage = CoveragePage::new(published, &footer);
        files.push(html(
            "coverage.html".into(),
            templates.render("coverage.html", &coverage)?,
        ));
    }
    for name in SITE_STATIC_FILES {
        if let Some(text) = templates.static_file(name) {
            files.push(file(name.to_string(), Bytes::from(text.to_string())));
        }
    }
    files.push(html(
        "index.html".into(),
        templates.render("index.html", &IndexPage::new(published, footer))?,
    ));
    Ok(files)
}

pub(crate) fn html(path: String, text: String) -> SiteFile {
    file(path, Bytes::from(text))
}

pub(crate) fn file(path: String, bytes: Bytes) -> SiteFile {
    SiteFile { path, bytes }
}

/// `month/2024-11` or `year/2024`.
fn period_dir(period: &PublishedPeriod) -> String {
    format!("{}/{}", period.period.kind().as_str(), period.period)
}

/// A song's page name: letters, digits, `-` and `_` kept, every other byte as `~XX`
/// (so any id gives a distinct, safe file name).
pub fn song_file(song_id: &str) -> String {
    let mut name = String::with_capacity(song_id.len());
    for byte in song_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(byte as char);
        } else {
            name.push_str(&format!("~{byte:02X}"));
        }
    }
    name
}

/// What the footer says: the methodology and, for a page of one version, how to
/// check it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Footer {
    methodology: String,
    parameters: Vec<Parameter>,
    version: Option<VersionInfo>,
}

#[derive(Debug, Clone, Serialize)]
struct Parameter {
    name: String,
    value: String,
}

#[derive(Debug, Clone, Serialize)]
struct VersionInfo {
    period: String,
    version: u32,
    published_at: String,
    input_digest: String,
    input_files: usize,
    play_rows: i64,
    manifest_href: String,
    verify: String,
    files: Vec<(String, String)>,
}

impl Footer {
    fn of(manifest: &Manifest) -> Footer {
        Footer::of_methodology(&manifest.methodology)
    }

    /// The methodology's version and parameters, with no version of a period.
    pub(crate) fn of_methodology(methodology: &Methodology) -> Footer {
        let parameters = match serde_json::to_value(methodology) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter(|(name, _)| name != "version")
                .map(|(name, value)| Parameter {
                    name,
                    value: match value {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    },
                })
                .collect(),
            _ => Vec::new(),
        };
        Footer {
            methodology: methodology.version.clone(),
            parameters,
            version: None,
        }
    }

    fn with_version(manifest: &Manifest, root: &str) -> Footer {
        let period_kind = manifest.period_kind.as_str();
        let dir = format!("{root}{period_kind}/{}", manifest.period);
        let mut footer = Footer::of(manifest);
        footer.version = Some(VersionInfo {
            period: manifest.period.clone(),
            version: manifest.version,
            published_at: manifest.run.finished_at.clone(),
            input_digest: manifest.input_digest.clone(),
            input_files: manifest.inputs.len(),
            play_rows: manifest.input_rows.plays,
            manifest_href: format!("{dir}/manifest.json"),
            verify: format!(
                "chart-job verify --out <publication root> --{period_kind} {} --version {}",
                manifest.period, manifest.version
            ),
            files: manifest
                .outputs
                .iter()
                .filter(|f| f.path == "hot.csv" || f.path == "new.csv")
                .map(|f| (f.path.clone(), f.sha256.clone()))
                .collect(),
        });
        footer
    }
}

/// The footer of pages drawn from several versions: the newest period's methodology.
fn newest_footer(published: &Published) -> Footer {
    let newest = published
        .months
        .last()
        .or(published.years.last())
        .expect("a site has at least one period");
    Footer::of(&newest.manifest)
}

/// A link to another page.
#[derive(Debug, Clone, Serialize)]
struct Link {
    href: String,
    label: String,
}

/// A chart row as printed.
#[derive(Debug, Clone, Serialize)]
struct RowView {
    rank: u32,
    movement: Movement,
    song_href: String,
    title: String,
    artist: String,
    score: i64,
    plays: i64,
    venues: i64,
    rooms: i64,
    prev_rank: String,
    peak_rank: String,
    periods_on_chart: u32,
}

/// ▲ 2, ▼ 3, NEW, RE or =, with words for screen readers.
#[derive(Debug, Clone, Serialize)]
struct Movement {
    symbol: String,
    class: &'static str,
    words: String,
}

impl Movement {
    fn of(row: &ChartRow) -> Movement {
        let places = row.prev_rank.map(|p| p.abs_diff(row.rank)).unwrap_or(0);
        let (symbol, class, words) = match row.movement.as_str() {
            "UP" => (format!("▲ {places}"), "up", format!("up {places}")),
            "DOWN" => (format!("▼ {places}"), "down", format!("down {places}")),
            "NEW" => ("NEW".into(), "new", "new entry".into()),
            "RE" => ("RE".into(), "re", "re-entry".into()),
            "SAME" => ("=".into(), "same", "no change".into()),
            other => (other.into(), "same", other.into()),
        };
        Movement {
            symbol,
            class,
            words,
        }
    }
}

fn row_view(row: &ChartRow, root: &str) -> RowView {
    let dash = |v: Option<u32>| v.map(|r| r.to_string()).unwrap_or_else(|| "—".into());
    RowView {
        rank: row.rank,
        movement: Movement::of(row),
        song_href: format!("{root}song/{}.html", song_file(&row.song_id)),
        title: row.title.clone(),
        artist: row.artist.clone(),
        score: row.score,
        plays: row.plays,
        venues: row.venues,
        rooms: row.rooms,
        prev_rank: dash(row.prev_rank),
        peak_rank: dash(row.peak_rank),
        periods_on_chart: row.months_on_chart,
    }
}

/// A month's (or year's) hot or new chart.
#[derive(Debug, Clone, Serialize)]
struct ChartPage {
    root: &'static str,
    title: String,
    period: String,
    kind: &'static str,
    chart: &'static str,
    chart_name: &'static str,
    chart_english: &'static str,
    switch: Vec<ChartSwitch>,
    previous: Option<Link>,
    next: Option<Link>,
    csv_href: String,
    rows: Vec<RowView>,
    footer: Footer,
}

/// One tab of the switch between the hot and the new chart.
#[derive(Debug, Clone, Serialize)]
struct ChartSwitch {
    href: String,
    name: &'static str,
    english: &'static str,
    current: bool,
}

impl ChartPage {
    fn new(
        periods: &[PublishedPeriod],
        i: usize,
        chart: &'static str,
        chart_name: &'static str,
        chart_english: &'static str,
    ) -> ChartPage {
        const ROOT: &str = "../../";
        let period = &periods[i];
        let rows = if chart == "hot" {
            &period.hot
        } else {
            &period.new
        };
        let link = |p: &PublishedPeriod| Link {
            href: format!("{ROOT}{}/{chart}.html", period_dir(p)),
            label: p.period.to_string(),
        };
        ChartPage {
            root: ROOT,
            title: format!("{chart_name} {}", period.period),
            period: period.period.to_string(),
            kind: period.period.kind().as_str(),
            chart,
            chart_name,
            chart_english,
            switch: CHARTS
                .iter()
                .map(|&(c, name, english)| ChartSwitch {
                    href: format!("{c}.html"),
                    name,
                    english,
                    current: c == chart,
                })
                .collect(),
            previous: i.checked_sub(1).map(|j| link(&periods[j])),
            next: periods.get(i + 1).map(link),
            csv_href: format!("{chart}.csv"),
            rows: rows.iter().map(|r| row_view(r, ROOT)).collect(),
            footer: Footer::with_version(&period.manifest, ROOT),
        }
    }
}

/// A song's ranks over the published periods.
#[derive(Debug, Clone, Serialize)]
struct SongPage {
    root: &'static str,
    title: String,
    song_id: String,
    song_title: String,
    artist: String,
    plot: LinePlot,
    months: Vec<SongPeriod>,
    years: Vec<SongPeriod>,
    summaries: Vec<SongSummary>,
    footer: Footer,
}

/// A song's ranks in one period (`None`: not charted).
#[derive(Debug, Clone, Serialize)]
struct SongPeriod {
    period: String,
    hot: Option<u32>,
    new: Option<u32>,
    hot_href: String,
    new_href: String,
}

/// A song's peak and periods on one chart, as its latest published entry says.
#[derive(Debug, Clone, Serialize)]
struct SongSummary {
    chart_name: &'static str,
    chart_english: &'static str,
    peak_rank: String,
    months_on_chart: u32,
    latest: String,
}

impl SongPage {
    /// A page for every song on any published chart, by song id.
    fn all(published: &Published, footer: &Footer) -> Vec<SongPage> {
        const ROOT: &str = "../";
        // song id → (title, artist) of its latest entry
        let mut songs: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for period in published.years.iter().chain(&published.months) {
            for row in period.hot.iter().chain(&period.new) {
                songs.insert(&row.song_id, (&row.title, &row.artist));
            }
        }
        let month_names: Vec<String> = published
            .months
            .iter()
            .map(|p| p.period.to_string())
            .collect();
        let max_rank = published
            .months
            .iter()
            .flat_map(|p| p.hot.iter().chain(&p.new))
            .map(|r| r.rank)
            .max()
            .unwrap_or(1);
        let rank_in =
            |rows: &[ChartRow], id: &str| rows.iter().find(|r| r.song_id == id).map(|r| r.rank);
        songs
            .into_iter()
            .map(|(id, (title, artist))| {
                let ranks = |periods: &[PublishedPeriod]| -> Vec<SongPeriod> {
                    periods
                        .iter()
                        .map(|p| SongPeriod {
                            period: p.period.to_string(),
                            hot: rank_in(&p.hot, id),
                            new: rank_in(&p.new, id),
                            hot_href: format!("{ROOT}{}/hot.html", period_dir(p)),
                            new_href: format!("{ROOT}{}/new.html", period_dir(p)),
                        })
                        .collect()
                };
                let months = ranks(&published.months);
                let series = vec![
                    SeriesValues {
                        name: "热歌榜 Hot".into(),
                        class: "hot".into(),
                        values: months.iter().map(|m| m.hot.map(i64::from)).collect(),
                    },
                    SeriesValues {
                        name: "新歌榜 New".into(),
                        class: "new".into(),
                        values: months.iter().map(|m| m.new.map(i64::from)).collect(),
                    },
                ];
                let summaries = CHARTS
                    .iter()
                    .filter_map(|&(chart, chart_name, chart_english)| {
                        let (period, row) = published.months.iter().rev().find_map(|p| {
                            let rows = if chart == "hot" { &p.hot } else { &p.new };
                            rows.iter().find(|r| r.song_id == id).map(|r| (p, r))
                        })?;
                        Some(SongSummary {
                            chart_name,
                            chart_english,
                            peak_rank: row
                                .peak_rank
                                .map(|r| r.to_string())
                                .unwrap_or_else(|| "—".into()),
                            months_on_chart: row.months_on_chart,
                            latest: period.period.to_string(),
                        })
                    })
                    .collect();
                SongPage {
                    root: ROOT,
                    title: format!("{title} — {artist}"),
                    song_id: id.to_string(),
                    song_title: title.to_string(),
                    artist: artist.to_string(),
                    plot: plot::rank_plot(
                        format!("{title}: rank on the hot and new charts by month (1 at the top)"),
                        &month_names,
                        series,
                        max_rank,
                    ),
                    months,
                    years: ranks(&published.years),
                    summaries,
                    footer: footer.clone(),
                }
            })
            .collect()
    }
}

/// National coverage by period, its plots, and the newest month by province.
#[derive(Debug, Clone, Serialize)]
struct CoveragePage {
    root: &'static str,
    title: String,
    national: Vec<CoverageView>,
    venues_plot: LinePlot,
    rooms_plot: LinePlot,
    province_period: String,
    provinces: BarChart,
    province_rows: Vec<ProvinceView>,
    footer: Footer,
}

#[derive(Debug, Clone, Serialize)]
struct CoverageView {
    period: String,
    href: String,
    licensed_venues: i64,
    connected_venues: i64,
    coverage_share: String,
    provinces: i64,
    cities: i64,
    rooms: i64,
    new_venues: i64,
    new_venues_growth: String,
    active_venues: i64,
    active_rooms: i64,
}

#[derive(Debug, Clone, Serialize)]
struct ProvinceView {
    province: String,
    licensed_venues: i64,
    connected_venues: i64,
    coverage_share: String,
    rooms: i64,
    active_venues: i64,
}

/// A share as a percentage with one decimal (`—` when undefined).
fn percent(share: Option<f64>) -> String {
    match share {
        Some(s) if s.is_finite() => format!("{:.1} %", s * 100.0),
        _ => "—".into(),
    }
}

/// A growth as a signed percentage.
fn growth(share: Option<f64>) -> String {
    match share {
        Some(s) if s.is_finite() => format!("{:+.1} %", s * 100.0),
        _ => "—".into(),
    }
}

impl CoveragePage {
    fn new(published: &Published, footer: &Footer) -> CoveragePage {
        let view = |p: &PublishedPeriod| CoverageView {
            period: p.period.to_string(),
            href: format!("{}/hot.html", period_dir(p)),
            licensed_venues: p.coverage.licensed_venues,
            connected_venues: p.coverage.connected_venues,
            coverage_share: percent(p.coverage.coverage_share),
            provinces: p.coverage.provinces,
            cities: p.coverage.cities,
            rooms: p.coverage.rooms,
            new_venues: p.coverage.new_venues,
            new_venues_growth: growth(p.coverage.new_venues_growth),
            active_venues: p.coverage.active_venues,
            active_rooms: p.coverage.active_rooms,
        };
        let months: Vec<String> = published
            .months
            .iter()
            .map(|p| p.period.to_string())
            .collect();
        let series = |name: &str, class: &str, value: fn(&PublishedPeriod) -> i64| SeriesValues {
            name: name.into(),
            class: class.into(),
            values: published.months.iter().map(|p| Some(value(p))).collect(),
        };
        let newest = published.months.last().expect("called with months");
        let mut province_rows: Vec<ProvinceView> = newest
            .provinces
            .iter()
            .map(|p| ProvinceView {
                province: p.province.clone(),
                licensed_venues: p.licensed_venues,
                connected_venues: p.connected_venues,
                coverage_share: percent(p.coverage_share),
                rooms: p.rooms,
                active_venues: p.active_venues,
            })
            .collect();
        province_rows.sort_by(|a, b| {
            b.connected_venues
                .cmp(&a.connected_venues)
                .then_with(|| a.province.cmp(&b.province))
        });
        CoveragePage {
            root: "",
            title: "覆盖 Coverage".into(),
            national: (published.months.iter().rev())
                .chain(published.years.iter().rev())
                .map(view)
                .collect(),
            venues_plot: plot::count_plot(
                "Connected venues by month".into(),
                &months,
                vec![
                    series("接入场所 Connected venues", "venues", |p| {
                        p.coverage.connected_venues
                    }),
                    series("活跃场所 Active venues", "active", |p| {
                        p.coverage.active_venues
                    }),
                ],
            ),
            rooms_plot: plot::count_plot(
                "Rooms of connected venues by month".into(),
                &months,
                vec![
                    series("包房 Rooms", "rooms", |p| p.coverage.rooms),
                    series("活跃包房 Active rooms", "active", |p| {
                        p.coverage.active_rooms
                    }),
                ],
            ),
            province_period: newest.period.to_string(),
            provinces: plot::bar_chart(
                format!(
                    "Connected venues by province in {}, largest first",
                    newest.period
                ),
                newest
                    .provinces
                    .iter()
                    .map(|p| {
                        (
                            p.province.clone(),
                            p.connected_venues,
                            format!("{} ({})", p.connected_venues, percent(p.coverage_share)),
                        )
                    })
                    .collect(),
            ),
            province_rows,
            footer: footer.clone(),
        }
    }
}

/// The index: every published period, newest first, and the newest month's top 10.
#[derive(Debug, Clone, Serialize)]
struct IndexPage {
    root: &'static str,
    title: String,
    months: Vec<PeriodLink>,
    years: Vec<PeriodLink>,
    latest: Option<Latest>,
    has_coverage: bool,
    footer: Footer,
}

#[derive(Debug, Clone, Serialize)]
struct PeriodLink {
    period: String,
    version: u32,
    published_at: String,
    hot_href: String,
    new_href: String,
    manifest_href: String,
    number_one: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Latest {
    period: String,
    href: String,
    rows: Vec<RowView>,
}

impl IndexPage {
    fn new(published: &Published, footer: Footer) -> IndexPage {
        let link = |p: &PublishedPeriod| {
            let dir = period_dir(p);
            PeriodLink {
                period: p.period.to_string(),
                version: p.manifest.version,
                published_at: p.manifest.run.finished_at.clone(),
                hot_href: format!("{dir}/hot.html"),
                new_href: format!("{dir}/new.html"),
                manifest_href: format!("{dir}/manifest.json"),
                number_one: p.hot.first().map(|r| format!("{} — {}", r.title, r.artist)),
            }
        };
        IndexPage {
            root: "",
            title: "金麦榜 Golden Mic charts".into(),
            months: published.months.iter().rev().map(link).collect(),
            years: published.years.iter().rev().map(link).collect(),
            latest: published.months.last().map(|p| Latest {
                period: p.period.to_string(),
                href: format!("{}/hot.html", period_dir(p)),
                rows: p
                    .hot
                    .iter()
                    .take(INDEX_TOP)
                    .map(|r| row_view(r, ""))
                    .collect(),
            }),
            has_coverage: !published.months.is_empty(),
            footer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn song_files_are_safe_and_distinct() {
        assert_eq!(song_file("S0227430"), "S0227430");
        assert_eq!(song_file("a/b"), "a~2Fb");
        assert_eq!(song_file("a~2Fb"), "a~7E2Fb");
        assert_eq!(song_file("歌"), "~E6~AD~8C");
    }
}
