//! A full disk under the write-ahead log: `507`, nothing of the refused batch kept or
//! landed, and batches accepted again once space returns. The log lives on a small
//! tmpfs the test mounts (it needs root; elsewhere it says so and checks nothing).

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use support::{NOV_30_EVENING_MS, Running, VENDORS, landed_rows, line, options, post};

struct Mount<'a>(&'a Path);

impl Drop for Mount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

/// Fills the file system of `dir` with `filler` until a write fails.
fn fill(filler: &Path) {
    let mut file = std::fs::File::create(filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while file
        .write_all(&chunk)
        .and_then(|()| file.sync_all())
        .is_ok()
    {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_with_507_and_recovers() {
    let (data, mount_point) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount_point.path())
        .output();
    if !mounted.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here ({mounted:?}); .ci/run runs as root");
        return;
    }
    let _mount = Mount(mount_point.path());
    let wal = mount_point.path().join("wal");
    let service = Running::start(options(data.path(), &wal)).await;
    let token = Some(VENDORS[0].1);
    let (status, reply, _) = post(
        &service.url,
        token,
        Some("before"),
        &[],
        line("ok-1", NOV_30_EVENING_MS).into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");

    let filler = mount_point.path().join("filler");
    fill(&filler);
    let big: Vec<String> = (0..2_000)
        .map(|i| line(&format!("lost-{i}"), NOV_30_EVENING_MS))
        .collect();
    let (status, reply, headers) = post(
        &service.url,
        token,
        Some("full"),
        &[],
        big.join("\n").into_bytes(),
    )
    .await;
    assert_eq!(status, 507, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("disk is full"),
        "{reply}"
    );
    assert!(headers.contains_key("retry-after"));

    std::fs::remove_file(&filler).unwrap();
    let (status, reply, _) = post(
        &service.url,
        token,
        Some("full"),
        &[],
        big.join("\n").into_bytes(),
    )
    .await;
    assert_eq!(
        (
            status,
            reply["accepted"].as_u64(),
            reply["duplicate"].as_u64()
        ),
        (200, Some(2_000), Some(0)),
        "the same key is new: nothing of it was kept"
    );
    service.stop().await.unwrap();

    let rows = landed_rows(data.path(), "plays");
    assert_eq!(rows.len(), 2_001);
    assert_eq!(rows.iter().filter(|r| r["event_id"] == "ok-1").count(), 1);
    assert_eq!(rows.iter().filter(|r| r["event_id"] == "lost-0").count(), 1);
}
