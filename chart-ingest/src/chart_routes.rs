//! The live charts over HTTP.
//!
//! | request | answers |
//! |---|---|
//! | `GET /v1/charts/hot?period=YYYY-MM[&top=N][&province=P]`, the same for `new` | `200` with `{"period", "chart", "province", "as_of", "methodology", "rows"}`, each row a published chart's columns |
//! | `GET /v1/coverage?period=YYYY-MM[&province=P]` | `200` with `{"period", "province", "as_of", "methodology", "rows"}`: the national row (with `provinces`), or the province's |
//! | `GET /v1/charts/hot/stream?…`, the same for `new` | server-sent events: an `event: chart` with the body above at once and after each refresh that changes the rows (`id` the refresh), comments to keep the connection open |
//! | | `400` a bad or unknown parameter · `401` no or unknown reader token (when readers are configured) · `404` a period other than the live month, an unknown chart or province · `409` a province's chart while an event was sent from venues in two provinces (or a song's plays in a province passed 2³² in the month) · `503` + `Retry-After` the month is being built |
//!
//! `period` may be left out (the live month). `as_of` says what the figures count: the
//! latest `started_at`, the last landed file, the files counted, when they were
//! computed, and the refresh's number.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chart_core::live::{ChartRow, History, Standings};
use chart_core::{ChartError, ChartKind, Period};
use serde_json::json;

use crate::live_charts::{LiveCharts, Snapshot};
use crate::vendors::Vendors;

/// What the chart routes share.
#[derive(Clone)]
pub struct ChartRoutes {
    /// The live month.
    pub live: Arc<LiveCharts>,
    /// Who may read; `None`: anyone.
    pub readers: Option<Arc<Vendors>>,
}

/// The chart routes.
pub fn router(routes: ChartRoutes) -> Router {
    Router::new()
        .route("/v1/charts/{chart}", get(chart))
        .route("/v1/charts/{chart}/stream", get(stream))
        .route("/v1/coverage", get(coverage))
        .with_state(routes)
}

/// A request refused.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(json!({ "error": self.1 }))).into_response();
        match self.0 {
            StatusCode::SERVICE_UNAVAILABLE => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(5));
            }
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// What a chart or coverage request asks.
struct Ask {
    period: Option<Period>,
    top: Option<usize>,
    province: Option<String>,
}

fn parse_query(query: &HashMap<String, String>, allowed: &[&str]) -> Result<Ask, Refusal> {
    let bad = |m: String| Refusal(StatusCode::BAD_REQUEST, m);
    if let Some(unknown) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown parameter `{unknown}`: expected {}",
            allowed.join(", ")
        )));
    }
    let period = query
        .get("period")
        .map(|p| {
            Period::parse_kind(chart_core::PeriodKind::Month, p)
                .map_err(|_| bad(format!("invalid period `{p}`: expected YYYY-MM")))
        })
        .transpose()?;
    let top = query
        .get("top")
        .map(|t| {
            t.parse::<usize>()
                .map_err(|_| bad(format!("invalid top `{t}`: expected a whole number")))
        })
        .transpose()?;
    let province = query.get("province").cloned();
    if province.as_deref() == Some("") {
        return Err(bad("province is empty".into()));
    }
    Ok(Ask {
        period,
        top,
        province,
    })
}

fn authenticate(routes: &ChartRoutes, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(readers) = &routes.readers else {
        return Ok(());
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Refusal(
                StatusCode::UNAUTHORIZED,
                "missing Authorization: Bearer <reader token>".into(),
            )
        })?;
    readers
        .authenticate(token)
        .map(|_| ())
        .ok_or_else(|| Refusal(StatusCode::UNAUTHORIZED, "unknown reader token".into()))
}

/// The refresh being served, checked against the period asked.
fn snapshot(live: &LiveCharts, period: Option<Period>) -> Result<Arc<Snapshot>, Refusal> {
    let snapshot = live.current().ok_or_else(|| {
        let why = live.error().map_or_else(
            || "the live month is being built".to_string(),
            |e| format!("the live month could not be built (retrying): {e}"),
        );
        Refusal(StatusCode::SERVICE_UNAVAILABLE, why)
    })?;
    let month = *snapshot.standings.month();
    if let Some(period) = period
        && period != month
    {
        return Err(Refusal(
            StatusCode::NOT_FOUND,
            format!(
                "{period} is not the live month ({month}): a closed month's charts are published"
            ),
        ));
    }
    Ok(snapshot)
}

fn chart_kind(chart: &str) -> Result<ChartKind, Refusal> {
    match chart {
        "hot" => Ok(ChartKind::Hot),
        "new" => Ok(ChartKind::New),
        other => Err(Refusal(
            StatusCode::NOT_FOUND,
            format!("unknown chart `{other}`: expected hot or new"),
        )),
    }
}

fn refusal_of(error: ChartError) -> Refusal {
    match error {
        ChartError::UnknownProvince { .. } => Refusal(StatusCode::NOT_FOUND, error.to_string()),
        ChartError::Live(_) => Refusal(StatusCode::CONFLICT, error.to_string()),
        other => Refusal(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}

/// The rows of a chart in a refresh.
fn rows(
    standings: &Standings,
    kind: ChartKind,
    province: Option<(&str, &History)>,
    top: usize,
) -> Result<Vec<ChartRow>, Refusal> {
    let mut rows = match province {
        None => standings.chart(kind),
        Some((province, history)) => standings
            .regional_chart(kind, province, history)
            .map_err(refusal_of)?,
    };
    rows.truncate(top);
    Ok(rows)
}

/// What a chart request needs besides the refresh: its kind, the top, a province
/// with its history.
struct ChartAsk {
    kind: ChartKind,
    top: usize,
    province: Option<(String, Arc<History>)>,
    period: Option<Period>,
}

async fn chart_ask(
    routes: &ChartRoutes,
    headers: &HeaderMap,
    chart: &str,
    query: &HashMap<String, String>,
) -> Result<ChartAsk, Refusal> {
    authenticate(routes, headers)?;
    let kind = chart_kind(chart)?;
    let ask = parse_query(query, &["period", "top", "province"])?;
    let top_n = usize::try_from(routes.live.methodology().top_n).unwrap_or(0);
    let top = ask.top.unwrap_or(top_n);
    if top == 0 || top > top_n {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("top must be 1 to {top_n}, got {top}"),
        ));
    }
    let snapshot = snapshot(&routes.live, ask.period)?;
    let province = match ask.province {
        None => None,
        Some(province) => {
            snapshot
                .standings
                .check_province(&province)
                .map_err(refusal_of)?;
            let history = routes
                .live
                .regional_history(snapshot.standings.month(), &province)
                .await
                .map_err(refusal_of)?;
            Some((province, history))
        }
    };
    Ok(ChartAsk {
        kind,
        top,
        province,
        period: ask.period,
    })
}

fn chart_body(
    routes: &ChartRoutes,
    snapshot: &Snapshot,
    ask: &ChartAsk,
) -> Result<serde_json::Value, Refusal> {
    let province = ask.province.as_ref().map(|(p, h)| (p.as_str(), h.as_ref()));
    let rows = rows(&snapshot.standings, ask.kind, province, ask.top)?;
    Ok(json!({
        "period": snapshot.standings.month().to_string(),
        "chart": ask.kind.as_str(),
        "province": province.map(|(p, _)| p),
        "as_of": snapshot.as_of,
        "methodology": routes.live.methodology(),
        "rows": rows,
    }))
}

async fn chart(
    State(routes): State<ChartRoutes>,
    Path(chart): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let ask = chart_ask(&routes, &headers, &chart, &query).await?;
        let snapshot = snapshot(&routes.live, ask.period)?;
        chart_body(&routes, &snapshot, &ask)
    };
    match answer.await {
        Ok(body) => axum::Json(body).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn coverage(
    State(routes): State<ChartRoutes>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let answer = || -> Result<serde_json::Value, Refusal> {
        authenticate(&routes, &headers)?;
        let ask = parse_query(&query, &["period", "province"])?;
        let snapshot = snapshot(&routes.live, ask.period)?;
        let row = snapshot
            .standings
            .coverage(ask.province.as_deref())
            .map_err(refusal_of)?;
        Ok(json!({
            "period": snapshot.standings.month().to_string(),
            "province": ask.province,
            "as_of": snapshot.as_of,
            "methodology": routes.live.methodology(),
            "rows": [row],
        }))
    };
    match answer() {
        Ok(body) => axum::Json(body).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn stream(
    State(routes): State<ChartRoutes>,
    Path(chart): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let ask = match chart_ask(&routes, &headers, &chart, &query).await {
        Ok(ask) => ask,
        Err(refusal) => return refusal.into_response(),
    };
    let routes_receiver = routes.live.subscribe();
    let closing = routes.live.closing();
    let watching = Watching {
        routes,
        ask,
        receiver: routes_receiver,
        closing,
        last_rows: None,
        first: true,
        done: false,
    };
    let events = futures::stream::unfold(watching, |mut w| async move {
        if w.done {
            return None;
        }
        loop {
            if *w.closing.borrow() {
                return None;
            }
            if !w.first {
                tokio::select! {
                    changed = w.receiver.changed() => if changed.is_err() {
                        return None;
                    },
                    _ = w.closing.changed() => return None,
                }
            }
            w.first = false;
            let snapshot = w.receiver.borrow_and_update().clone();
            let Some(snapshot) = snapshot else { continue };
            if w.ask
                .period
                .is_some_and(|p| p != *snapshot.standings.month())
            {
                // The live month moved on: this stream's month is over.
                w.done = true;
                let event = Event::default().event("closed").data(format!(
                    "the live month is now {}",
                    snapshot.standings.month()
                ));
                return Some((Ok::<_, Infallible>(event), w));
            }
            let body = match chart_body(&w.routes, &snapshot, &w.ask) {
                Ok(body) => body,
                Err(Refusal(_, message)) => json!({ "error": message }),
            };
            if w.last_rows.as_ref() == Some(&body["rows"]) {
                continue;
            }
            w.last_rows = Some(body["rows"].clone());
            let event = Event::default()
                .event("chart")
                .id(snapshot.as_of.refresh.to_string())
                .data(body.to_string());
            return Some((Ok(event), w));
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// A stream's state: what it asks, the refreshes, the rows it sent last.
struct Watching {
    routes: ChartRoutes,
    ask: ChartAsk,
    receiver: tokio::sync::watch::Receiver<Option<Arc<Snapshot>>>,
    closing: tokio::sync::watch::Receiver<bool>,
    last_rows: Option<serde_json::Value>,
    first: bool,
    done: bool,
}
