//! A static website of the published Golden Mic charts: an index of the published
//! months and years, a page per period for the hot and the new chart, a page per
//! charted song with its rank history, and a coverage page; and the live chart's pages,
//! which the ingestion service serves beside its event stream ([`live_files`]).
//!
//! The site is rendered from the published versions' files only (their JSON tables,
//! CSV files and manifests), never recomputed: [`read_published`] reads them,
//! [`site_files`] renders every page with [`Templates`], and [`write_site`] writes
//! the files whose bytes changed. The same versions give byte-identical pages. Every
//! style and plot is in the site (plots are SVG drawn by the templates; the text uses
//! the reader's CJK fonts), so a page makes no request outside it.
//!
//! ```no_run
//! # async fn example() -> Result<(), chart_site::SiteError> {
//! use chart_core::Location;
//! let out = Location::local("out")?;
//! let site = Location::local("site")?;
//! let report = chart_site::render_site(&out, &site, &chart_site::Templates::built_in()?).await?;
//! println!("{} files written", report.written.written.len());
//! # Ok(()) }
//! ```

mod error;
mod live;
mod pages;
mod plot;
mod published;
mod templates;
mod write;

pub use error::{Result, SiteError};
pub use live::{LivePages, live_files};
pub use pages::{SiteFile, site_files, song_file};
pub use published::{
    ChartRow, CoverageRow, ProvinceRow, Published, PublishedPeriod, read_published,
};
pub use templates::Templates;
pub use write::{WriteReport, content_type, write_site};

/// What [`render_site`] rendered and wrote.
#[derive(Debug, Clone)]
pub struct SiteReport {
    /// Months published.
    pub months: usize,
    /// Years published.
    pub years: usize,
    /// Files of the site.
    pub files: usize,
    /// What was written, unchanged and removed.
    pub written: WriteReport,
}

/// Renders the site of everything published under `out` into `site`.
pub async fn render_site(
    out: &chart_core::Location,
    site: &chart_core::Location,
    templates: &Templates,
) -> Result<SiteReport> {
    let published = read_published(out).await?;
    let files = site_files(&published, templates)?;
    let count = files.len();
    let written = write_site(site, files).await?;
    Ok(SiteReport {
        months: published.months.len(),
        years: published.years.len(),
        files: count,
        written,
    })
}
