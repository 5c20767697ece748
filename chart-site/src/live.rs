//! The live chart's pages, served by the ingestion service beside its event stream:
//! `hot.html` and `new.html` hold the month to date's table, which `live.js` fills from
//! the stream at each refresh, with the site's stylesheet and icon. Their requests go to
//! the service that serves them (the stream is addressed relative to the page).

use bytes::Bytes;
use chart_core::Methodology;
use serde::Serialize;

use crate::error::Result;
use crate::pages::{CHARTS, Footer, SiteFile, file, html};
use crate::templates::{LIVE_STATIC_FILES, Templates};

/// What the live pages need to know.
#[derive(Debug, Clone)]
pub struct LivePages<'a> {
    /// The methodology the service counts with (shown in the footer).
    pub methodology: &'a Methodology,
    /// The rows each chart shows.
    pub top: usize,
    /// The published site's address (ending in `/`), linked from the pages; `None`:
    /// no links to it.
    pub site_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct LivePage<'a> {
    root: &'static str,
    title: String,
    chart: &'static str,
    chart_name: &'static str,
    chart_english: &'static str,
    switch: Vec<Switch>,
    top: usize,
    stream_path: String,
    api_path: String,
    site_url: Option<&'a str>,
    footer: Footer,
}

#[derive(Debug, Serialize)]
struct Switch {
    href: String,
    name: &'static str,
    english: &'static str,
    current: bool,
}

/// The live pages and the files they load, with paths relative to where the service
/// serves them (one folder below its root: the stream is at `../v1/charts/…`).
pub fn live_files(templates: &Templates, live: &LivePages<'_>) -> Result<Vec<SiteFile>> {
    let footer = Footer::of_methodology(live.methodology);
    let mut files = Vec::new();
    for (chart, chart_name, chart_english) in CHARTS {
        let page = LivePage {
            root: "",
            title: format!("{chart_name} {chart_english}, month to date"),
            chart,
            chart_name,
            chart_english,
            switch: CHARTS
                .iter()
                .map(|&(other, name, english)| Switch {
                    href: format!("{other}.html"),
                    name,
                    english,
                    current: other == chart,
                })
                .collect(),
            top: live.top,
            stream_path: format!("../v1/charts/{chart}/stream"),
            api_path: format!("../v1/charts/{chart}"),
            site_url: live.site_url,
            footer: footer.clone(),
        };
        files.push(html(
            format!("{chart}.html"),
            templates.render("live.html", &page)?,
        ));
    }
    for name in LIVE_STATIC_FILES {
        if let Some(text) = templates.static_file(name) {
            files.push(file(name.to_string(), Bytes::from(text.to_string())));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(files: &[SiteFile], path: &str) -> String {
        let file = files.iter().find(|f| f.path == path).unwrap();
        String::from_utf8(file.bytes.to_vec()).unwrap()
    }

    #[test]
    fn each_chart_has_a_page_that_follows_its_stream() {
        let methodology = Methodology::default();
        let live = LivePages {
            methodology: &methodology,
            top: 100,
            site_url: None,
        };
        let files = live_files(&Templates::built_in().unwrap(), &live).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "hot.html",
                "new.html",
                "style.css",
                "favicon.svg",
                "live.js"
            ]
        );
        let hot = text(&files, "hot.html");
        assert!(
            hot.contains(r#"data-stream="../v1/charts/hot/stream""#),
            "{hot}"
        );
        assert!(hot.contains(r#"data-top="100""#), "{hot}");
        assert!(
            hot.contains(r#"<script src="live.js" defer></script>"#),
            "{hot}"
        );
        assert!(hot.contains(r#"<a href="new.html">新歌榜"#), "{hot}");
        assert!(hot.contains("<code>room_cap=3</code>"), "{hot}");
        assert!(!hot.contains("index.html"), "no site, no link to it: {hot}");
        let new = text(&files, "new.html");
        assert!(
            new.contains(r#"data-stream="../v1/charts/new/stream""#),
            "{new}"
        );
        assert_eq!(
            files,
            live_files(&Templates::built_in().unwrap(), &live).unwrap(),
            "the same pages each time"
        );
    }

    #[test]
    fn the_published_site_is_linked_when_given() {
        let methodology = Methodology::default();
        let live = LivePages {
            methodology: &methodology,
            top: 10,
            site_url: Some("https://charts.example/"),
        };
        let files = live_files(&Templates::built_in().unwrap(), &live).unwrap();
        let hot = text(&files, "hot.html");
        assert!(
            hot.contains(r#"href="https://charts.example/coverage.html""#),
            "{hot}"
        );
        assert!(hot.contains(r#"data-top="10""#), "{hot}");
    }
}
