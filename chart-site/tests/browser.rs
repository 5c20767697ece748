//! The site in a real browser: Debian's Chromium driven by Playwright for Python
//! (`tests/browser/check_site.py` and `check_live.py`, which say what they check), over
//! the sample data's six months; and the live pages, served by the ingestion service
//! over the same data. Screenshots of every page kind at desktop and phone width are
//! left in `target/site-screenshots/` (the README shows them).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use chart_core::{Location, Methodology};
use chart_ingest::live_pages::PageFile;
use chart_ingest::{IngestOptions, LiveOptions, Vendors};
use chart_site::{LivePages, Templates, content_type, live_files, render_site};
use support::{copy_dir, published, run};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Python with Playwright that `.ci/install-site-browser` installs (installing it,
/// with Chromium, when missing).
fn playwright_python() -> PathBuf {
    let python = workspace().join("target/tools/site-browser/bin/python");
    let chromium = std::env::var_os("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && Command::new(&python)
            .args(["-c", "import playwright"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let status = Command::new("bash")
            .arg(workspace().join(".ci/install-site-browser"))
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "installing the browser failed: run .ci/install-site-browser (needs root for apt-get, and PyPI)"
        );
    }
    python
}

#[test]
fn every_page_kind_works_in_chromium_at_desktop_and_phone_width() {
    let python = playwright_python();
    let (_, out) = published();
    let site = tempfile::tempdir().unwrap();
    run(render_site(
        &Location::local(out).unwrap(),
        &Location::local(site.path()).unwrap(),
        &Templates::built_in().unwrap(),
    ))
    .unwrap();
    let shots = workspace().join("target/site-screenshots");
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check_site.py"))
        .args([site.path(), out, &shots])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["hot_rows"], 100, "{summary}");
    assert_eq!(summary["new_rows"], 100, "{summary}");
    assert_eq!(summary["failures"], 0, "{summary}");
    for kind in ["index", "month", "year", "song", "coverage"] {
        for width in ["desktop", "phone"] {
            let shot = shots.join(format!("{kind}-{width}.png"));
            assert!(
                std::fs::metadata(&shot).unwrap().len() > 1000,
                "{}",
                shot.display()
            );
        }
    }
}

const VENDOR_TOKEN: &str = "tok-vendor-live-page-000";
const READER_TOKEN: &str = "tok-reader-live-page-000";

/// `chart_ingest::serve` on loopback over `data`, with the live pages, on a thread of
/// its own: its URL and what stops it.
fn serve_live(data: &Path, wal: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let entry = |name: &str, token: &str| {
        format!(
            "[[vendor]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n",
            chart_ingest::vendors::token_sha256(token)
        )
    };
    let vendors = Vendors::parse(&entry("雷石", VENDOR_TOKEN)).unwrap();
    let readers = Vendors::parse(&entry("press", READER_TOKEN)).unwrap();
    let methodology = Methodology::default();
    let pages = LivePages {
        methodology: &methodology,
        top: 100,
        site_url: Some("/site/"),
    };
    let live_pages = live_files(&Templates::built_in().unwrap(), &pages)
        .unwrap()
        .into_iter()
        .map(|f| PageFile {
            content_type: content_type(&f.path),
            path: f.path,
            bytes: f.bytes,
        })
        .collect();
    let mut options =
        IngestOptions::new(Location::local(data).unwrap(), wal.to_path_buf(), vendors);
    options.late_window = Some(Duration::from_secs(3650 * 86_400));
    options.seal.every = Duration::from_millis(200);
    options.live = Some(LiveOptions {
        refresh: Duration::from_millis(100),
        grace: Duration::from_secs(7200),
        ..LiveOptions::default()
    });
    options.chart_readers = Some(readers);
    options.live_pages = live_pages;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (address, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        run(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            address.send(listener.local_addr().unwrap()).unwrap();
            chart_ingest::serve(options, listener, async {
                stopped.await.ok();
            })
            .await
            .unwrap();
        })
    });
    let url = format!("http://{}", listening.recv().unwrap());
    wait_until_built(&url);
    (url, stop)
}

/// Waits until the service answers the live month (`503` while it is built).
fn wait_until_built(url: &str) {
    use std::io::{Read, Write};
    let address = url.strip_prefix("http://").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /v1/charts/hot?top=1 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {READER_TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        if response.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the live month was not built within 2 minutes: {response}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The live pages follow the service's event stream: they ask for a reader's token,
/// show the JSON's rows at each refresh, move a song that plays lift without a reload,
/// switch charts and show a province.
#[test]
fn live_pages_follow_the_stream_in_chromium() {
    let python = playwright_python();
    let (data, _) = published();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    for table in ["songs", "venues", "plays"] {
        copy_dir(&data.join(table), &root.join(table));
    }
    let (url, stop) = serve_live(&root, &dir.path().join("wal"));
    let venues = sample_data::connected_venues(&support::spec());
    let mut by_province = std::collections::BTreeMap::<&str, usize>::new();
    for (_, province) in &venues {
        *by_province.entry(province.as_str()).or_default() += 1;
    }
    let province = by_province
        .iter()
        .max_by_key(|(_, venues)| **venues)
        .map(|(province, _)| province.to_string())
        .unwrap();
    let ids: Vec<&str> = venues.iter().take(20).map(|(id, _)| id.as_str()).collect();
    let shots = workspace().join("target/site-screenshots");
    let output = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check_live.py"))
        .args([&url, READER_TOKEN, VENDOR_TOKEN, &ids.join(","), &province])
        .arg(&shots)
        .output()
        .unwrap();
    stop.send(()).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["failures"], 0, "{summary}");
    assert_eq!(summary["hot_rows_desktop"], 100, "{summary}");
    assert_eq!(summary["hot_rows_phone"], 100, "{summary}");
    assert_eq!(summary["accepted"], summary["sent"], "{summary}");
    assert!(summary["province_rows"].as_u64().unwrap() > 0, "{summary}");
    for width in ["desktop", "phone"] {
        let shot = shots.join(format!("live-{width}.png"));
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 1000,
            "{}",
            shot.display()
        );
    }
}
