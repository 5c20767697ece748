//! `chart-job serve-sql` with real clients: psql and psycopg over the PostgreSQL
//! protocol (`tests/sql_clients/check_pg.py`), ADBC's Flight SQL driver over Flight SQL
//! (`check_flight.py`; each says what it checks), against three servers over the test
//! data root, every result compared with `chart-job sql`'s. `.ci/install-sql-clients`
//! installs the clients (the test runs it when they are missing).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_one_line_error, chart_job, data};

const PASSWORD: &str = "correct horse battery staple";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The Python with psycopg that `.ci/install-sql-clients` installs (with psql).
fn clients_python() -> PathBuf {
    let python = workspace().join("target/tools/sql-clients/bin/python");
    let ready = Command::new("psql").arg("--version").output().is_ok()
        && Command::new(&python)
            .args(["-c", "import psycopg, adbc_driver_flightsql, pyarrow"])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let status = Command::new("bash")
            .arg(workspace().join(".ci/install-sql-clients"))
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "installing the SQL clients failed: run .ci/install-sql-clients (needs root for apt-get, and PyPI)"
        );
    }
    python
}

/// `users.toml` with the user `ana`, written by `chart-job hash-password`.
fn users_file(dir: &Path) -> PathBuf {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args(["hash-password", "ana"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains(PASSWORD), "the password is never printed");
    let path = dir.join("users.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `serve-sql` (both protocols), killed when dropped.
struct Server {
    child: Child,
    port: u16,
    flight_port: u16,
}

impl Server {
    fn start(users: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chart-job"))
            .args(["serve-sql", "--data", data().to_str().unwrap()])
            .args([
                "--users",
                users.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(["--pg", "--flight", "--flight-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut port = |scheme: &str| -> u16 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let addr = line
                .strip_prefix(&format!("listening on {scheme}://"))
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("no {scheme} address in {line:?}"));
            addr.rsplit(':').next().unwrap().parse().unwrap()
        };
        let port_of_pg = port("postgresql");
        let tls = extra.contains(&"--tls-cert");
        let flight_port = port(if tls { "grpc+tls" } else { "grpc" });
        Server {
            child,
            port: port_of_pg,
            flight_port,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext"])
        .args(["subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a self-signed certificate");
    assert!(made.status.success());
    (cert, key)
}

#[test]
fn psql_psycopg_and_adbc_get_what_chart_job_sql_gets_and_nothing_else() {
    let python = clients_python();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let (cert, key) = self_signed_certificate(dir.path());
    let main = Server::start(&users, &[]);
    let limits = Server::start(
        &users,
        &[
            "--max-connections",
            "2",
            "--query-memory",
            "1M",
            "--timeout",
            "1s",
        ],
    );
    let tls = Server::start(
        &users,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let config = serde_json::json!({
        "chart_job": env!("CARGO_BIN_EXE_chart-job"),
        "data": data(),
        "user": "ana",
        "password": PASSWORD,
        "month": "2024-11",
        "cert": cert,
        "main": {"port": main.port, "flight_port": main.flight_port, "pid": main.child.id()},
        "limits": {"port": limits.port, "flight_port": limits.flight_port},
        "tls": {"port": tls.port, "flight_port": tls.flight_port},
    });
    for (script, least_checks) in [("check_pg.py", 80), ("check_flight.py", 40)] {
        let output = Command::new(&python)
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/sql_clients")
                    .join(script),
            )
            .arg(config.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{script}: {stdout}\n{stderr}");
        let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(
            summary["failures"],
            serde_json::json!([]),
            "{script}: {summary}"
        );
        assert!(
            summary["checks"].as_u64().unwrap() >= least_checks,
            "{script}: {summary}"
        );
        eprintln!("{script}: {summary}");
    }
}

#[test]
fn bad_configurations_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, "[[user]]\nname = \"ana\"\npassword = \"x\"\n").unwrap();
    let serve = |users: &Path, extra: &[&str]| {
        let mut args = vec!["serve-sql", "--data", data().to_str().unwrap()];
        args.extend([
            "--users",
            users.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ]);
        args.extend_from_slice(extra);
        chart_job(&args)
    };
    assert_one_line_error(&serve(&plain, &[]), "unknown field `password`");
    assert_one_line_error(
        &serve(&dir.path().join("missing.toml"), &[]),
        "missing.toml",
    );
    let not_pem = dir.path().join("cert.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    assert_one_line_error(
        &serve(&users, &["--tls-cert", not_pem, "--tls-key", not_pem]),
        "TLS",
    );
    assert_one_line_error(
        &chart_job(&[
            "serve-sql",
            "--data",
            dir.path().join("nothing").to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
        ]),
        "nothing",
    );
    let empty = Command::new(env!("CARGO_BIN_EXE_chart-job"))
        .args(["hash-password", "ana"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_one_line_error(&empty, "the password (one line on stdin) is empty");
}
