//! Writing a site: only the files whose bytes changed, pages before the index that
//! links to them, then the removal of pages no longer part of the site.

use std::collections::{BTreeMap, BTreeSet};

use chart_core::Location;
use futures::{StreamExt, TryStreamExt, stream};

use crate::error::Result;
use crate::pages::SiteFile;

/// Files compared or written at the same time.
const TRANSFERS_IN_FLIGHT: usize = 8;

/// Folders and files the site owns: what is there and no longer rendered is removed.
const OWNED: [&str; 7] = [
    "month/",
    "year/",
    "song/",
    "index.html",
    "coverage.html",
    "style.css",
    "favicon.svg",
];

/// What [`write_site`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files written (new or changed), in the order written.
    pub written: Vec<String>,
    /// Files already there with the same bytes.
    pub unchanged: usize,
    /// Files of an earlier rendering that are no longer part of the site.
    pub removed: Vec<String>,
}

/// Writes `files` under `site`: every file but the index first (in parallel), the
/// index last, so that a reader never follows a link to a page not yet written.
pub async fn write_site(site: &Location, files: Vec<SiteFile>) -> Result<WriteReport> {
    let existing: BTreeMap<String, u64> = site
        .list()
        .await?
        .into_iter()
        .filter_map(|o| site.relative(&o.location).map(|r| (r, o.size)))
        .collect();
    let rendered: BTreeSet<String> = files.iter().map(|f| f.path.clone()).collect();
    let (index, pages): (Vec<SiteFile>, Vec<SiteFile>) =
        files.into_iter().partition(|f| f.path == "index.html");
    let mut report = WriteReport::default();
    for batch in [pages, index] {
        let outcomes: Vec<Option<String>> = stream::iter(batch)
            .map(|file| {
                let size = existing.get(&file.path).copied();
                async move {
                    if size == Some(file.bytes.len() as u64)
                        && site.read(&file.path).await?.as_ref() == Some(&file.bytes)
                    {
                        return Ok(None);
                    }
                    site.write_typed(&file.path, file.bytes, content_type(&file.path))
                        .await?;
                    Ok::<_, crate::error::SiteError>(Some(file.path))
                }
            })
            .buffered(TRANSFERS_IN_FLIGHT)
            .try_collect()
            .await?;
        for outcome in outcomes {
            match outcome {
                Some(path) => report.written.push(path),
                None => report.unchanged += 1,
            }
        }
    }
    for path in existing.keys() {
        let owned = OWNED
            .iter()
            .any(|o| path == o || (o.ends_with('/') && path.starts_with(o)));
        if owned && !rendered.contains(path) {
            site.delete(path).await?;
            report.removed.push(path.clone());
        }
    }
    Ok(report)
}

/// The `Content-Type` a web server would give a file of the site, by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("js") => "text/javascript; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_styles_and_data_get_their_web_types() {
        assert_eq!(
            content_type("month/2024-11/hot.html"),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type("style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("live.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("month/2024-11/hot.csv"),
            "text/csv; charset=utf-8"
        );
        assert_eq!(
            content_type("month/2024-11/manifest.json"),
            "application/json"
        );
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
