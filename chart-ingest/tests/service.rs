//! The HTTP API on loopback: what is accepted, what is refused with which status and
//! reason, what lands and what goes to quarantine.

mod support;

use std::io::Write;

use serde_json::json;
use support::{NOV_30_EVENING_MS, Running, VENDORS, landed_rows, line, options, post};

const LEISHI: &str = VENDORS[0].1;
const SHIYI: &str = VENDORS[1].1;

fn body(lines: &[String]) -> Vec<u8> {
    lines.join("\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_plays_land_in_their_business_day_with_the_vendor() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let service = Running::start(options(data.path(), wal.path())).await;
    // 05:59 on Dec 1 in Shanghai is still Nov 30's business day; 06:00 is Dec 1's.
    let dec_1_0559 = NOV_30_EVENING_MS + (7 * 60 + 44) * 60_000 + 59_000;
    let lines = vec![
        line("e1", NOV_30_EVENING_MS),
        line("e2", dec_1_0559),
        line("e3", dec_1_0559 + 1_000),
        line("e1", NOV_30_EVENING_MS),
        format!(
            r#"{{"event_id":"e4","venue_id":"V2","room_id":"R2","song_id":"S2","started_at":"2024-11-30T14:15:00Z","played_ms":0,"vod_vendor":"雷石","mood":"happy"}}"#
        ),
    ];
    let (status, reply, _) = post(&service.url, Some(LEISHI), Some("b1"), &[], body(&lines)).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply,
        json!({"accepted": 5, "duplicate": 0, "rejected": 0, "rejects": []})
    );
    service.stop().await.unwrap();
    let rows = landed_rows(data.path(), "plays");
    let days: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["partition"].as_str(),
                r["event_id"].as_str(),
                r["vod_vendor"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        days,
        vec![
            ("date=2024-11-30", "e1", "雷石"),
            ("date=2024-11-30", "e2", "雷石"),
            ("date=2024-11-30", "e1", "雷石"),
            ("date=2024-11-30", "e4", "雷石"),
            ("date=2024-12-01", "e3", "雷石"),
        ],
        "a re-sent event id lands as sent; unknown fields are dropped"
    );
    assert!(
        std::fs::read_dir(wal.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("segment-")),
        "every segment landed and was deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_is_answered_as_the_first_time_and_lands_once() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let service = Running::start(options(data.path(), wal.path())).await;
    let batch = body(&[line("e1", NOV_30_EVENING_MS), "{oops".to_string()]);
    let (status, first, _) = post(&service.url, Some(LEISHI), Some("k1"), &[], batch.clone()).await;
    assert_eq!(
        (
            status,
            first["accepted"].as_u64(),
            first["rejected"].as_u64()
        ),
        (200, Some(1), Some(1))
    );
    let (status, again, headers) =
        post(&service.url, Some(LEISHI), Some("k1"), &[], batch.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(again["accepted"], 1);
    assert_eq!(again["duplicate"], 1);
    assert_eq!(again["rejects"], first["rejects"]);
    // The same key from another vendor is another batch.
    let (status, other, _) = post(
        &service.url,
        Some(SHIYI),
        Some("k1"),
        &[],
        body(&[line("e9", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!((status, other["duplicate"].as_u64()), (200, Some(0)));
    // The same key with another body is refused.
    let (status, refused, _) = post(
        &service.url,
        Some(LEISHI),
        Some("k1"),
        &[],
        body(&[line("e2", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("was used for another body")
    );
    service.stop().await.unwrap();

    // Across a restart (the keys now come from keys.log), the retry is still a replay.
    let service = Running::start(options(data.path(), wal.path())).await;
    let (status, after, headers) = post(&service.url, Some(LEISHI), Some("k1"), &[], batch).await;
    assert_eq!((status, after["duplicate"].as_u64()), (200, Some(1)));
    assert_eq!(headers["idempotent-replayed"], "true");
    service.stop().await.unwrap();
    let ids: Vec<String> = landed_rows(data.path(), "plays")
        .iter()
        .map(|r| r["event_id"].clone())
        .collect();
    assert_eq!(ids.iter().filter(|i| *i == "e1").count(), 1, "{ids:?}");
    assert_eq!(
        landed_rows(data.path(), "rejects").len(),
        1,
        "the bad line is quarantined once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_are_rejected_with_reasons_and_quarantined_not_landed() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = options(data.path(), wal.path());
    opts.late_window = Some(std::time::Duration::from_secs(3600));
    let service = Running::start(opts).await;
    let now = chart_ingest::clock::now_ms();
    let lines = vec![
        "{\"event_id\": ".to_string(),
        r#"{"event_id":"e1","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":"noon","played_ms":1}"#.to_string(),
        r#"{"event_id":"e1","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":1,"played_ms":"long"}"#.replace("\"started_at\":1", &format!("\"started_at\":{now}")),
        r#"{"venue_id":"V1","room_id":"R1","song_id":"S1","played_ms":1}"#.to_string(),
        line("future", now + 3_600_000),
        line("old", now - 7_200_000),
        format!(r#"{{"event_id":"e5","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":{now},"played_ms":1,"vod_vendor":"视易"}}"#),
    ];
    let (status, reply, _) = post(&service.url, Some(LEISHI), Some("bad"), &[], body(&lines)).await;
    assert_eq!(status, 422, "every line rejected: {reply}");
    let rejects: Vec<(u64, String)> = reply["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                format!(
                    "{}: {}",
                    r["field"].as_str().unwrap(),
                    r["reason"].as_str().unwrap()
                ),
            )
        })
        .collect();
    let expected = [
        (1, "-: malformed JSON"),
        (2, "started_at: `noon` is not RFC 3339"),
        (3, "played_ms: expected an integer, got a string"),
        (4, "event_id: missing"),
        (5, "started_at: "),
        (6, "started_at: "),
        (
            7,
            "vod_vendor: `视易` is not the authenticated vendor `雷石`",
        ),
    ];
    assert_eq!(rejects.len(), expected.len(), "{rejects:?}");
    for ((line, reason), (want_line, want)) in rejects.iter().zip(expected) {
        assert_eq!(*line, want_line);
        assert!(
            reason.starts_with(want),
            "line {line}: `{reason}` should start with `{want}`"
        );
    }
    assert!(rejects[4].1.contains("in the future"));
    assert!(rejects[5].1.contains("older than the late window"));
    service.stop().await.unwrap();
    assert!(
        landed_rows(data.path(), "plays").is_empty(),
        "nothing of it landed"
    );
    let quarantined = landed_rows(data.path(), "rejects");
    assert_eq!(quarantined.len(), 7);
    assert_eq!(quarantined[0]["raw"], "{\"event_id\": ");
    assert_eq!(quarantined[0]["vod_vendor"], "雷石");
    assert_eq!(quarantined[0]["idempotency_key"], "bad");
    assert_eq!(quarantined[6]["field"], "vod_vendor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_as_a_whole_land_nothing() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = options(data.path(), wal.path());
    opts.limits.max_body_bytes = 64 << 10;
    opts.limits.max_decompressed_bytes = 1 << 20;
    let service = Running::start(opts).await;
    let url = service.url.clone();
    let one = body(&[line("e1", NOV_30_EVENING_MS)]);
    let cases: Vec<Case> = vec![
        (
            "no token",
            401,
            "missing Authorization",
            None,
            Some("k"),
            vec![],
            one.clone(),
        ),
        (
            "wrong token",
            401,
            "unknown vendor token",
            Some("token-nobody"),
            Some("k"),
            vec![],
            one.clone(),
        ),
        (
            "no key",
            400,
            "missing Idempotency-Key",
            Some(LEISHI),
            None,
            vec![],
            one.clone(),
        ),
        (
            "bad key",
            400,
            "Idempotency-Key must be",
            Some(LEISHI),
            Some("has space"),
            vec![],
            one.clone(),
        ),
        (
            "empty",
            400,
            "empty batch",
            Some(LEISHI),
            Some("k-empty"),
            vec![],
            b"\n\n".to_vec(),
        ),
        (
            "encoding",
            415,
            "Content-Encoding `br`",
            Some(LEISHI),
            Some("k"),
            vec![("content-encoding", "br")],
            one.clone(),
        ),
        (
            "type",
            415,
            "Content-Type `text/csv`",
            Some(LEISHI),
            Some("k"),
            vec![("content-type", "text/csv")],
            one.clone(),
        ),
        (
            "oversize",
            413,
            "larger than 65536 bytes",
            Some(LEISHI),
            Some("k-big"),
            vec![],
            vec![b' '; 100 << 10],
        ),
        (
            "bomb",
            413,
            "decompresses past",
            Some(LEISHI),
            Some("k-bomb"),
            vec![("content-encoding", "gzip")],
            gzip(&vec![b' '; 8 << 20]),
        ),
        (
            "bad gzip",
            400,
            "Gzip body",
            Some(LEISHI),
            Some("k-gz"),
            vec![("content-encoding", "gzip")],
            b"not gzip".to_vec(),
        ),
        (
            "bad arrow",
            400,
            "Arrow IPC stream",
            Some(LEISHI),
            Some("k-arrow"),
            vec![("content-type", "application/vnd.apache.arrow.stream")],
            b"not arrow".to_vec(),
        ),
    ];
    for (what, status, needle, token, key, headers, bytes) in cases {
        let (got, reply, response_headers) = post(&url, token, key, &headers, bytes).await;
        assert_eq!(got, status, "{what}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{what}: `{error}` lacks `{needle}`");
        assert!(
            !error.contains("token-nobody"),
            "a token never appears in an error"
        );
        if status == 401 {
            assert_eq!(response_headers["www-authenticate"], "Bearer");
        }
    }
    service.stop().await.unwrap();
    assert!(landed_rows(data.path(), "plays").is_empty());
    assert!(landed_rows(data.path(), "rejects").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_and_arrow_bodies_are_accepted() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let service = Running::start(options(data.path(), wal.path())).await;
    let plain = body(&[line("g1", NOV_30_EVENING_MS), line("g2", NOV_30_EVENING_MS)]);
    let (status, reply, _) = post(
        &service.url,
        Some(LEISHI),
        Some("gz"),
        &[("content-encoding", "gzip")],
        gzip(&plain),
    )
    .await;
    assert_eq!(
        (status, reply["accepted"].as_u64()),
        (200, Some(2)),
        "{reply}"
    );
    let zstd = zstd::encode_all(&body(&[line("z1", NOV_30_EVENING_MS)])[..], 3).unwrap();
    let (status, reply, _) = post(
        &service.url,
        Some(LEISHI),
        Some("zs"),
        &[("content-encoding", "zstd")],
        zstd,
    )
    .await;
    assert_eq!(
        (status, reply["accepted"].as_u64()),
        (200, Some(1)),
        "{reply}"
    );
    let (status, reply, _) = post(
        &service.url,
        Some(SHIYI),
        Some("arrow"),
        &[("content-type", "application/vnd.apache.arrow.stream")],
        arrow_body(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["accepted"].as_u64(), reply["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{reply}"
    );
    assert_eq!(reply["rejects"][0]["field"], "played_ms");
    service.stop().await.unwrap();
    let mut ids: Vec<String> = landed_rows(data.path(), "plays")
        .iter()
        .map(|r| r["event_id"].clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["a1", "a2", "g1", "g2", "z1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_read_health_readiness_and_metrics() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let service = Running::start(options(data.path(), wal.path())).await;
    let lines = body(&[
        line("e1", NOV_30_EVENING_MS),
        line("e1", NOV_30_EVENING_MS),
        "[]".into(),
    ]);
    let (status, _, _) = post(&service.url, Some(LEISHI), Some("m1"), &[], lines.clone()).await;
    assert_eq!(status, 200);
    post(&service.url, Some(LEISHI), Some("m1"), &[], lines).await;
    post(&service.url, Some("wrong"), Some("m2"), &[], b"x".to_vec()).await;
    let get = |path: &str| {
        let url = format!("{}{path}", service.url);
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    let (status, text) = get("/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "ingest_plays_accepted_total{vendor=\"雷石\"} 2",
        "ingest_plays_rejected_total{vendor=\"雷石\",field=\"-\"} 1",
        "ingest_batches_total{vendor=\"雷石\",outcome=\"replayed\"} 1",
        "ingest_repeated_event_ids_total{vendor=\"雷石\"} 1",
        "ingest_requests_total{status=\"200\"} 2",
        "ingest_requests_total{status=\"401\"} 1",
        "ingest_request_seconds_count 3",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "`{expected}` not in\n{text}"
        );
    }
    assert!(!text.contains(LEISHI), "tokens never appear in metrics");
    service.stop().await.unwrap();
}

/// What a refused request sends: a name, the expected status and error text, the
/// token, the key, headers and the body.
type Case<'a> = (
    &'a str,
    u16,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Two valid rows and one whose `played_ms` is negative, as an Arrow IPC stream.
fn arrow_body() -> Vec<u8> {
    use std::sync::Arc;

    use arrow::array::{Int32Array, RecordBatch, StringArray, TimestampMillisecondArray};
    let schema = chart_ingest::landing::plays_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a1", "a2", "a3"])),
            Arc::new(StringArray::from(vec!["V1", "V1", "V1"])),
            Arc::new(StringArray::from(vec!["R1", "R1", "R1"])),
            Arc::new(StringArray::from(vec!["S1", "S2", "S3"])),
            Arc::new(
                TimestampMillisecondArray::from(vec![NOV_30_EVENING_MS; 3]).with_timezone("UTC"),
            ),
            Arc::new(Int32Array::from(vec![1, 2, -3])),
            Arc::new(StringArray::from(vec![Some("视易"), None, None])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_times_out_and_holds_back_others_only_until_then() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = options(data.path(), wal.path());
    opts.limits.body_timeout = std::time::Duration::from_millis(700);
    opts.limits.max_in_flight = 1;
    let service = Running::start(opts).await;
    let addr = service.url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/plays HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {LEISHI}\r\nIdempotency-Key: slow\r\nContent-Length: 1000\r\n\r\n{{\"event_id\""
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, reply, headers) = post(
        &service.url,
        Some(LEISHI),
        Some("other"),
        &[],
        body(&[line("e1", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!(
        status, 429,
        "the one slot is taken by the slow body: {reply}"
    );
    assert!(headers.contains_key("retry-after"));
    let mut answer = vec![0u8; 4096];
    let n = slow.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
    let (status, _, _) = post(
        &service.url,
        Some(LEISHI),
        Some("other"),
        &[],
        body(&[line("e1", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!(status, 200, "the slot is free again");
    service.stop().await.unwrap();
    let ids: Vec<String> = landed_rows(data.path(), "plays")
        .iter()
        .map(|r| r["event_id"].clone())
        .collect();
    assert_eq!(ids, ["e1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_certificate_and_key() {
    let (data, wal, certs) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a self-signed certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut opts = options(data.path(), wal.path());
    opts.tls = Some(chart_ingest::tls::TlsFiles {
        cert: cert.clone(),
        key,
    });
    let service = Running::start(opts).await;
    let https = service.url.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let response = client
        .post(format!("{https}/v1/plays"))
        .header("authorization", format!("Bearer {LEISHI}"))
        .header("idempotency-key", "tls-1")
        .body(line("t1", NOV_30_EVENING_MS))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        reqwest::get(format!("{}/healthz", service.url))
            .await
            .is_err(),
        "plain HTTP gets no answer"
    );
    assert_eq!(
        client
            .get(format!("{https}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    service.stop().await.unwrap();
    assert_eq!(landed_rows(data.path(), "plays").len(), 1);
}

#[tokio::test]
async fn unusable_certificate_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let files = chart_ingest::tls::TlsFiles {
        cert: dir.path().join("empty.pem"),
        key: dir.path().join("missing.pem"),
    };
    let err = files.acceptor().err().unwrap().to_string();
    assert!(
        err.contains("empty.pem") && err.contains("no certificate"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = options(data.path(), wal.path());
    opts.limits.header_timeout = std::time::Duration::from_millis(300);
    let service = Running::start(opts).await;
    let addr = service.url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /v1/plays HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(read.is_ok(), "the connection is still open after 5 s");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    let (status, _, _) = post(
        &service.url,
        Some(LEISHI),
        Some("after"),
        &[],
        body(&[line("e1", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!(status, 200, "others are served");
    service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_past_its_rate_gets_429_and_lands_nothing_of_that_batch() {
    let (data, wal) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut opts = options(data.path(), wal.path());
    opts.vendors = chart_ingest::Vendors::parse(&format!(
        "{}max_plays_per_second = 3\n",
        support::vendors_toml()
    ))
    .unwrap();
    let service = Running::start(opts).await;
    // The limit is the last vendor's (视易); 雷石 has none.
    let four: Vec<String> = (0..4)
        .map(|i| line(&format!("r{i}"), NOV_30_EVENING_MS))
        .collect();
    let (status, _, _) = post(&service.url, Some(SHIYI), Some("r1"), &[], body(&four)).await;
    assert_eq!(status, 200, "a full bucket lets a batch through");
    let (status, reply, headers) = post(
        &service.url,
        Some(SHIYI),
        Some("r2"),
        &[],
        body(&[line("late", NOV_30_EVENING_MS)]),
    )
    .await;
    assert_eq!(status, 429, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("max_plays_per_second")
    );
    assert_eq!(headers["retry-after"], "1");
    let (status, _, _) = post(&service.url, Some(LEISHI), Some("r3"), &[], body(&four)).await;
    assert_eq!(status, 200, "other vendors are not held back");
    service.stop().await.unwrap();
    let landed = landed_rows(data.path(), "plays");
    assert_eq!(landed.len(), 8);
    assert!(landed.iter().all(|r| r["event_id"] != "late"));
}
