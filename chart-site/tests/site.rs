//! The site of six published months and a year: every page there, every link inside
//! the site, the same bytes every time, a new version rewriting only what it
//! affects, and bad inputs refused with one line.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chart_core::Location;
use chart_site::{SiteError, Templates, render_site, song_file};
use support::{MONTHS, copy_dir, csv_rows, current_dir, files, published, run};

fn render(out: &Path, site: &Path) -> chart_site::SiteReport {
    run(render_site(
        &Location::local(out).unwrap(),
        &Location::local(site).unwrap(),
        &Templates::built_in().unwrap(),
    ))
    .unwrap()
}

/// Every song on any published chart, from the published CSV files.
fn charted_songs(out: &Path) -> BTreeSet<String> {
    let mut songs = BTreeSet::new();
    for period in MONTHS.iter().copied().chain(["2024"]) {
        for chart in ["hot", "new"] {
            let csv = current_dir(out, period).join(format!("{chart}.csv"));
            songs.extend(csv_rows(&csv).into_iter().map(|r| r["song_id"].clone()));
        }
    }
    songs
}

/// Every `href` and `src` of a page.
fn links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').unwrap();
            links.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    links
}

/// `link` from the page `page`, as a path below the site root (`None` when it
/// leaves the site).
fn resolve(page: &str, link: &str) -> Option<String> {
    if link.contains(':') || link.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = page.split('/').collect();
    parts.pop();
    for part in link.split('#').next().unwrap().split('/') {
        match part {
            ".." => {
                parts.pop()?;
            }
            "." | "" => {}
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

#[test]
fn the_site_has_every_page_and_every_link_stays_inside_it() {
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    let report = render(out, site.path());
    assert_eq!((report.months, report.years), (6, 1));
    let site_files = files(site.path());
    let songs = charted_songs(out);
    assert!(songs.len() > 100, "{}", songs.len());
    let mut expected: BTreeSet<String> =
        ["index.html", "coverage.html", "style.css", "favicon.svg"]
            .map(String::from)
            .into();
    for period in MONTHS
        .iter()
        .map(|m| format!("month/{m}"))
        .chain(["year/2024".to_string()])
    {
        for name in [
            "hot.html",
            "new.html",
            "hot.csv",
            "new.csv",
            "manifest.json",
        ] {
            expected.insert(format!("{period}/{name}"));
        }
    }
    expected.extend(songs.iter().map(|s| format!("song/{}.html", song_file(s))));
    let actual: BTreeSet<String> = site_files.keys().cloned().collect();
    assert_eq!(actual, expected);
    assert_eq!(report.files, expected.len());
    assert_eq!(report.written.written.len(), expected.len());

    let mut checked = 0;
    for (page, bytes) in site_files.iter().filter(|(p, _)| p.ends_with(".html")) {
        let html = std::str::from_utf8(bytes).unwrap();
        for link in links(html) {
            let target = resolve(page, &link)
                .unwrap_or_else(|| panic!("{page} links outside the site: {link}"));
            assert!(
                site_files.contains_key(&target),
                "{page}: {link} is not in the site"
            );
            checked += 1;
        }
    }
    assert!(checked > 10 * expected.len(), "{checked} links checked");
}

#[test]
fn published_files_are_copied_byte_for_byte() {
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    render(out, site.path());
    for month in MONTHS {
        let published = current_dir(out, month);
        for name in ["hot.csv", "new.csv"] {
            assert_eq!(
                std::fs::read(site.path().join(format!("month/{month}/{name}"))).unwrap(),
                std::fs::read(published.join(name)).unwrap(),
                "{month} {name}"
            );
        }
        let manifest = published
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("versions/000001.json");
        assert_eq!(
            std::fs::read(site.path().join(format!("month/{month}/manifest.json"))).unwrap(),
            std::fs::read(manifest).unwrap()
        );
    }
}

#[test]
fn the_same_versions_give_the_same_bytes_and_nothing_is_rewritten() {
    let (_, out) = published();
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    render(out, first.path());
    render(out, second.path());
    assert_eq!(files(first.path()), files(second.path()));
    let again = render(out, first.path());
    assert!(
        again.written.written.is_empty(),
        "{:?}",
        again.written.written
    );
    assert_eq!(again.written.unchanged, again.files);
    assert!(again.written.removed.is_empty());
}

#[test]
fn a_new_version_rewrites_only_the_pages_it_affects() {
    let (data, out) = published();
    let (data_copy, out_copy) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    copy_dir(data, data_copy.path());
    copy_dir(out, out_copy.path());
    let site = tempfile::tempdir().unwrap();
    render(out_copy.path(), site.path());
    let before = files(site.path());

    // A late play of November's best-placed song, then November published again.
    let day = data_copy.path().join("plays/date=2024-11-15");
    let source = std::fs::read_dir(&day)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::write(
        day.join("late.parquet"),
        sample_data::late_play(&source, "late-play-1").unwrap(),
    )
    .unwrap();
    run(support::publish_periods(
        data_copy.path(),
        out_copy.path(),
        &["2024-11"],
    ));

    let report = render(out_copy.path(), site.path());
    let after = files(site.path());
    let changed: BTreeSet<&String> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(bytes))
        .map(|(path, _)| path)
        .collect();
    let written: BTreeSet<&String> = report.written.written.iter().collect();
    assert_eq!(written, changed, "written is exactly what changed");
    for must in [
        "index.html",
        "month/2024-11/hot.html",
        "month/2024-11/manifest.json",
    ] {
        assert!(
            changed.contains(&must.to_string()),
            "{must} not rewritten: {changed:?}"
        );
    }
    // November's songs may change; nothing of another period does.
    let november: BTreeSet<String> = ["hot", "new"]
        .iter()
        .flat_map(|chart| {
            let dirs = [
                current_dir(out, "2024-11"),
                current_dir(out_copy.path(), "2024-11"),
            ];
            dirs.into_iter()
                .flat_map(|d| csv_rows(&d.join(format!("{chart}.csv"))))
                .map(|r| format!("song/{}.html", song_file(&r["song_id"])))
                .collect::<Vec<_>>()
        })
        .collect();
    for path in &changed {
        let allowed = path.starts_with("month/2024-11/")
            || *path == "index.html"
            || *path == "coverage.html"
            || november.contains(*path);
        assert!(allowed, "{path} changed, but 2024-11 does not affect it");
    }
    assert!(report.written.unchanged > 100);
}

#[test]
fn pages_no_longer_rendered_are_removed() {
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("song")).unwrap();
    std::fs::write(site.path().join("song/gone.html"), "old").unwrap();
    std::fs::write(site.path().join("README.txt"), "not the site's").unwrap();
    let report = render(out, site.path());
    assert_eq!(report.written.removed, ["song/gone.html"]);
    assert!(site.path().join("README.txt").exists());
}

#[test]
fn month_pages_show_the_published_rows() {
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    render(out, site.path());
    let page = std::fs::read_to_string(site.path().join("month/2024-12/hot.html")).unwrap();
    let rows = csv_rows(&current_dir(out, "2024-12").join("hot.csv"));
    assert_eq!(rows.len(), 100);
    assert_eq!(page.matches("<td class=\"rank\">").count(), 100);
    for row in &rows {
        let title = format!("{}.html\">{}</a>", song_file(&row["song_id"]), row["title"]);
        assert!(page.contains(&title), "{title}");
    }
    assert!(page.contains("rel=\"prev\" href=\"../../month/2024-11/hot.html\""));
    assert!(
        !page.contains("rel=\"next\""),
        "December is the newest month"
    );
}

#[test]
fn templates_from_a_directory_replace_the_built_in_ones() {
    let (_, out) = published();
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("style.css"),
        "body { color: black; }\n",
    )
    .unwrap();
    let site = tempfile::tempdir().unwrap();
    run(render_site(
        &Location::local(out).unwrap(),
        &Location::local(site.path()).unwrap(),
        &Templates::from_directory(templates.path()).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(site.path().join("style.css")).unwrap(),
        "body { color: black; }\n"
    );
    assert!(site.path().join("index.html").exists());

    std::fs::write(templates.path().join("chart.html"), "{% for r in rows %}").unwrap();
    let error = Templates::from_directory(templates.path()).err().unwrap();
    let message = error.to_string();
    assert!(matches!(error, SiteError::Template { .. }));
    assert!(message.starts_with("template chart.html: "), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn every_page_links_the_live_chart_when_asked() {
    let (_, out) = published();
    let plain = tempfile::tempdir().unwrap();
    render(out, plain.path());
    let mut templates = Templates::built_in().unwrap();
    templates.link_live("https://live.example/live/hot.html");
    let linked = tempfile::tempdir().unwrap();
    run(render_site(
        &Location::local(out).unwrap(),
        &Location::local(linked.path()).unwrap(),
        &templates,
    ))
    .unwrap();
    let link = r#"<a href="https://live.example/live/hot.html">实时"#;
    let (plain, linked) = (files(plain.path()), files(linked.path()));
    assert_eq!(
        plain.keys().collect::<Vec<_>>(),
        linked.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &linked {
        let html = String::from_utf8_lossy(bytes);
        if path.ends_with(".html") {
            assert!(html.contains(link), "{path}");
            assert!(
                !String::from_utf8_lossy(&plain[path]).contains("实时"),
                "{path}"
            );
        } else {
            assert_eq!(bytes, &plain[path], "{path}");
        }
    }
}

#[test]
fn nothing_published_and_a_damaged_version_are_one_line_errors() {
    let empty = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let error = run(render_site(
        &Location::local(empty.path()).unwrap(),
        &Location::local(site.path()).unwrap(),
        &Templates::built_in().unwrap(),
    ))
    .unwrap_err();
    assert!(
        matches!(error, SiteError::NothingPublished { .. }),
        "{error}"
    );

    let (_, out) = published();
    let out_copy = tempfile::tempdir().unwrap();
    copy_dir(out, out_copy.path());
    let hot = current_dir(out_copy.path(), "2024-09").join("hot.json");
    std::fs::write(&hot, "{\"rows\": [{\"rank\": \"one\"}]}").unwrap();
    let error = run(render_site(
        &Location::local(out_copy.path()).unwrap(),
        &Location::local(site.path()).unwrap(),
        &Templates::built_in().unwrap(),
    ))
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("month=2024-09"), "{message}");
    assert!(
        message.contains("hot.json: not a published table"),
        "{message}"
    );
    assert!(!message.contains('\n'));
    assert!(
        files(site.path()).is_empty(),
        "nothing written after an error"
    );
}

#[test]
fn song_pages_have_one_point_per_charted_month() {
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    render(out, site.path());
    let mut months_of: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for month in MONTHS {
        for chart in ["hot", "new"] {
            for row in csv_rows(&current_dir(out, month).join(format!("{chart}.csv"))) {
                *months_of
                    .entry((row["song_id"].clone(), chart))
                    .or_default() += 1;
            }
        }
    }
    for song in charted_songs(out).iter().take(50) {
        let page =
            std::fs::read_to_string(site.path().join(format!("song/{}.html", song_file(song))))
                .unwrap();
        for chart in ["hot", "new"] {
            let series = page
                .split(&format!("data-series=\"{chart}\""))
                .nth(1)
                .unwrap()
                .split("</g>")
                .next()
                .unwrap();
            let expected = months_of.get(&(song.clone(), chart)).copied().unwrap_or(0);
            assert_eq!(
                series.matches("<circle").count(),
                expected,
                "{song} {chart}"
            );
        }
    }
}
