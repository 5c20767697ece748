//! The live chart's pages over HTTP: files rendered once at start (by the caller) and
//! served as they are under `/live/`, beside the event stream they follow.
//!
//! | request | answers |
//! |---|---|
//! | `GET /live`, `GET /live/` | `308` to `/live/hot.html` |
//! | `GET /live/{file}` | `200` with the file, `Cache-Control: no-cache` and a Content-Security-Policy that lets the page load and connect to this service only · `404` another name |
//!
//! The pages hold no figures (their script asks the stream for them), so they are
//! served to anyone; the stream itself asks for a reader's token when readers are
//! configured.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bytes::Bytes;

/// A file served under `/live/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    /// Its name below `/live/`.
    pub path: String,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its content.
    pub bytes: Bytes,
}

/// What the pages may load and where they may connect: this service only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The routes of the live pages.
pub fn router(files: Vec<PageFile>) -> Router {
    let files: Arc<BTreeMap<String, PageFile>> =
        Arc::new(files.into_iter().map(|f| (f.path.clone(), f)).collect());
    Router::new()
        .route(
            "/live",
            get(|| async { Redirect::permanent("/live/hot.html") }),
        )
        .route(
            "/live/",
            get(|| async { Redirect::permanent("/live/hot.html") }),
        )
        .route("/live/{file}", get(page))
        .with_state(files)
}

async fn page(
    State(files): State<Arc<BTreeMap<String, PageFile>>>,
    Path(name): Path<String>,
) -> Response {
    let Some(file) = files.get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": format!("no live page `{name}`") })),
        )
            .into_response();
    };
    let mut response = file.bytes.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(router: &Router, path: &str) -> Response {
        router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn files_redirects_and_unknown_names() {
        let router = router(vec![PageFile {
            path: "hot.html".into(),
            content_type: "text/html; charset=utf-8",
            bytes: Bytes::from_static(b"<p>hot</p>"),
        }]);
        let hot = get(&router, "/live/hot.html").await;
        assert_eq!(hot.status(), StatusCode::OK);
        assert_eq!(
            hot.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(hot.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(
            hot.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("connect-src 'self'")
        );
        let body = axum::body::to_bytes(hot.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&body[..], b"<p>hot</p>");
        for path in ["/live", "/live/"] {
            let moved = get(&router, path).await;
            assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
            assert_eq!(moved.headers()[header::LOCATION], "/live/hot.html");
        }
        let missing = get(&router, "/live/old.html").await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(missing.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("no live page `old.html`"));
    }
}
