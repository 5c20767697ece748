//! The HTTP API.
//!
//! | request | answers |
//! |---|---|
//! | `POST /v1/plays` | `200` with `{"accepted", "duplicate", "rejected", "rejects": [{"line", "field", "reason"}]}` once the accepted plays are synced to the log; `422` with the same body when every line was rejected |
//! | | `400` no or bad `Idempotency-Key`, empty body · `401` no or unknown token · `408` body too slow · `409` the same batch is in flight · `413` body or its decompression too large · `415` unknown `Content-Type` or `Content-Encoding` · `422` key reused with another body · `429` + `Retry-After` log, queue or requests in flight full, or the vendor past its rate · `503` log stopped · `507` disk full |
//! | `GET /healthz` | `200` while the process serves |
//! | `GET /readyz` | `200` when the log accepts, `503` otherwise |
//! | `GET /metrics` | Prometheus text ([`crate::metrics`]) |
//!
//! A retried batch gets its first reply again, with `duplicate` equal to `accepted`
//! (none of it landed anew) and the header `Idempotent-Replayed: true`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::body::{self, BodyError, Encoding, Format};
use crate::event::Rejection;
use crate::idempotency::Claim;
use crate::metrics::Gauges;
use crate::state::Service;
use crate::wal::AppendError;
use crate::wal::record::{self, BatchRecord, KeyRecord, Record};

/// The longest `Idempotency-Key`, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// The service's routes.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/v1/plays", post(post_plays))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(service)
}

async fn readyz(State(service): State<Arc<Service>>) -> Response {
    if service.wal.gauges.broken.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the write-ahead log has stopped\n",
        )
            .into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    let g = &service.wal.gauges;
    let text = service.metrics.render(&Gauges {
        wal_unlanded_bytes: g.unlanded_bytes.load(Ordering::Relaxed),
        wal_commits: g.commits.load(Ordering::Relaxed),
        wal_sync: Duration::from_micros(g.sync_micros.load(Ordering::Relaxed)),
        idempotency_keys: service.keys.len(),
        now_ms: crate::clock::now_ms() as u64,
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The JSON reply to a batch.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Reply {
    /// Plays accepted under this key.
    pub accepted: u32,
    /// Of those, plays that were accepted by an earlier request with this key.
    pub duplicate: u32,
    /// Lines rejected.
    pub rejected: u32,
    /// Each rejected line.
    pub rejects: Vec<Rejection>,
}

/// A request refused as a whole.
struct Refusal {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
        retry_after: None,
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn post_plays(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let response = match receive(&service, &headers, body).await {
        Ok(response) => response,
        Err(refusal) => {
            tracing::debug!(status = %refusal.status, message = %refusal.message, "refused a batch");
            refusal.into_response()
        }
    };
    service
        .metrics
        .response(response.status().as_u16(), started.elapsed());
    response
}

async fn receive(service: &Service, headers: &HeaderMap, body: Body) -> Result<Response, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "missing Authorization: Bearer <vendor token>",
            )
        })?;
    let vendor = service
        .vendors
        .authenticate(token.trim())
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "unknown vendor token"))?;
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "missing Idempotency-Key: <batch id>",
            )
        })?
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_BYTES && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"),
            )
        })?
        .to_string();
    let encoding = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None | Some("identity") => Encoding::Identity,
        Some("gzip") => Encoding::Gzip,
        Some("zstd") => Encoding::Zstd,
        Some(other) => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding `{other}`: use gzip, zstd or none"),
            ));
        }
    };
    let format = match headers
        .get(header::CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .unwrap_or("?")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .as_deref()
    {
        None
        | Some("application/x-ndjson" | "application/jsonl" | "application/json" | "text/plain") => {
            Format::Ndjson
        }
        Some("application/vnd.apache.arrow.stream") => Format::ArrowStream,
        Some(other) => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type `{other}`: use application/x-ndjson or application/vnd.apache.arrow.stream"
                ),
            ));
        }
    };
    let limits = &service.limits;
    let _permit = service.in_flight.try_acquire().map_err(|_| Refusal {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: format!(
            "{} batches are being received; retry later",
            limits.max_in_flight
        ),
        retry_after: Some(1),
    })?;
    if service.wal.gauges.unlanded_bytes.load(Ordering::Relaxed) > limits.max_unlanded_bytes {
        return Err(Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the log waiting to land is full; retry later".into(),
            retry_after: Some(1),
        });
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(too_large(limits.max_body_bytes));
    }
    let raw = match tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    {
        Err(_) => {
            return Err(refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {:?}", limits.body_timeout),
            ));
        }
        Ok(Err(e)) => {
            let text = e.to_string();
            return Err(if text.contains("length limit") {
                too_large(limits.max_body_bytes)
            } else {
                refuse(StatusCode::BAD_REQUEST, format!("reading the body: {text}"))
            });
        }
        Ok(Ok(raw)) => raw,
    };
    let decompressed = body::decompress(
        &raw,
        encoding,
        limits.max_decompressed_bytes,
        limits.max_ratio,
    )
    .map_err(|e| match e {
        BodyError::TooLarge(m) => refuse(StatusCode::PAYLOAD_TOO_LARGE, m),
        BodyError::Unreadable(m) => refuse(StatusCode::BAD_REQUEST, m),
    })?;
    let body_sha256: [u8; 32] = Sha256::digest(&decompressed).into();
    let ticket = match service.keys.claim(&vendor.name, &key, body_sha256) {
        Claim::Replay(first) => {
            service.metrics.replayed(&vendor.name);
            let mut response = reply(&first, true);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
        Claim::Mismatch => {
            return Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Idempotency-Key `{key}` was used for another body: a new batch needs a new key"
                ),
            ));
        }
        Claim::InFlight => {
            return Err(Refusal {
                status: StatusCode::CONFLICT,
                message: format!("a request with Idempotency-Key `{key}` is in flight"),
                retry_after: Some(1),
            });
        }
        Claim::New(ticket) => ticket,
    };
    let window = service.window();
    let parsed = body::parse(&decompressed, format, vendor, window).map_err(|e| match e {
        BodyError::TooLarge(m) => refuse(StatusCode::PAYLOAD_TOO_LARGE, m),
        BodyError::Unreadable(m) => refuse(StatusCode::BAD_REQUEST, m),
    })?;
    if parsed.events.is_empty() && parsed.rejects.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "empty batch: no lines"));
    }
    vendor
        .take(parsed.events.len() + parsed.rejects.len())
        .map_err(|seconds| Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "vendor `{}` is past its max_plays_per_second; retry later",
                vendor.name
            ),
            retry_after: Some(seconds),
        })?;
    let mut seen = HashSet::with_capacity(parsed.events.len());
    let repeated = parsed
        .events
        .iter()
        .filter(|e| !seen.insert(e.event_id.as_str()))
        .count() as u64;
    let (rejections, raw_rejects): (Vec<_>, Vec<_>) = parsed.rejects.into_iter().unzip();
    let key_record = KeyRecord {
        vendor: vendor.name.clone(),
        key,
        body_sha256,
        received_at_ms: crate::clock::now_ms(),
        accepted: parsed.events.len() as u32,
        rejections,
    };
    let rows = parsed.events.len();
    let batch = Record::Batch(BatchRecord {
        key: key_record,
        events: parsed.events,
        raw_rejects,
    });
    let mut bytes = Vec::new();
    record::encode(&batch, &mut bytes);
    let Record::Batch(batch) = batch else {
        unreachable!("built above")
    };
    service.wal.append(bytes, rows).await.map_err(|e| match e {
        AppendError::Busy => Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the log's queue is full; retry later".into(),
            retry_after: Some(1),
        },
        AppendError::DiskFull => Refusal {
            status: StatusCode::INSUFFICIENT_STORAGE,
            message: "the log's disk is full: nothing of this batch was kept; retry later".into(),
            retry_after: Some(5),
        },
        AppendError::Failed(m) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("writing the log failed, nothing of this batch was kept: {m}"),
        ),
        AppendError::Stopped => refuse(StatusCode::SERVICE_UNAVAILABLE, "the log has stopped"),
    })?;
    let fields: Vec<&str> = batch
        .key
        .rejections
        .iter()
        .map(|r| r.field.as_str())
        .collect();
    service.metrics.batch(
        &vendor.name,
        u64::from(batch.key.accepted),
        &fields,
        repeated,
    );
    let response = reply(&batch.key, false);
    ticket.complete(batch.key);
    Ok(response)
}

fn too_large(limit: usize) -> Refusal {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {limit} bytes: send smaller batches"),
    )
}

fn reply(key: &KeyRecord, replayed: bool) -> Response {
    let status = if key.accepted == 0 && !key.rejections.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = Reply {
        accepted: key.accepted,
        duplicate: if replayed { key.accepted } else { 0 },
        rejected: key.rejections.len() as u32,
        rejects: key.rejections.clone(),
    };
    (status, axum::Json(body)).into_response()
}
