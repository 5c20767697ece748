//! The site in a real browser: Debian's Chromium driven by Playwright for Python
//! (`tests/browser/check_site.py`, which says what it checks), over the sample data's
//! six months. Screenshots of every page kind at desktop and phone width are left in
//! `target/site-screenshots/` (the README shows them).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chart_core::Location;
use chart_site::{Templates, render_site};
use support::{published, run};

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
