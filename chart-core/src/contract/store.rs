//! Where data is read from and published to: a local directory, a `file://` URL or
//! an S3 (or S3-compatible) `s3://bucket/prefix`, all through the `object_store`
//! crate, so the rest of the library reads and writes one way.
//!
//! S3 settings come from the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`, …), which [`StoreOptions`] may override. Requests are bounded:
//! a connection attempt gives up after [`StoreOptions::connect_timeout`] and a request
//! (with its retries) after [`StoreOptions::request_timeout`], so a wrong endpoint is
//! an error in seconds, not a hang.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMode, PutOptions, PutPayload, RetryConfig,
};
use url::Url;

use crate::error::{ChartError, Result};

/// Settings for `s3://` locations; `None` leaves the `AWS_*` environment (or the
/// default) in force.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:8333`.
    pub endpoint: Option<String>,
    /// Region, e.g. `us-east-1`.
    pub region: Option<String>,
    /// Access key id and secret access key (else `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, or the instance's role).
    pub credentials: Option<(String, String)>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted style
    /// (`bucket.endpoint/key`). The default is path-style, which S3-compatible servers expect.
    pub path_style: Option<bool>,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one request may take, all retries included.
    pub request_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            endpoint: None,
            region: None,
            credentials: None,
            path_style: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A directory-like place in a store: a local directory or an object-store prefix.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket` or `file:///`: the URL the store is registered under.
    store_url: Url,
    /// The prefix inside the store (for local files, the absolute path).
    prefix: ObjectPath,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Display for Location {
    /// `s3://bucket/prefix`, or the absolute local path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.store_url.scheme() {
            "file" => write!(f, "/{}", self.prefix),
            _ if self.prefix.as_ref().is_empty() => write!(f, "{}", self.store_url),
            _ => write!(
                f,
                "{}/{}",
                self.store_url.as_str().trim_end_matches('/'),
                self.prefix
            ),
        }
    }
}

impl Location {
    /// A local directory (it need not exist yet); relative paths are made absolute.
    pub fn local(path: impl AsRef<Path>) -> Result<Location> {
        let path = path.as_ref();
        let invalid = |reason: String| ChartError::InvalidLocation {
            location: path.display().to_string(),
            reason,
        };
        let absolute = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => std::path::absolute(path).map_err(|e| invalid(e.to_string()))?,
        };
        let prefix =
            ObjectPath::from_absolute_path(&absolute).map_err(|e| invalid(e.to_string()))?;
        Ok(Location {
            store: Arc::new(LocalFileSystem::new()),
            store_url: Url::parse("file:///").expect("a valid URL"),
            prefix,
        })
    }

    /// Parses a local path, a `file://` URL or `s3://bucket[/prefix]`.
    pub fn parse(text: &str, options: &StoreOptions) -> Result<Location> {
        let invalid = |reason: &str| ChartError::InvalidLocation {
            location: text.to_string(),
            reason: reason.to_string(),
        };
        if text.is_empty() {
            return Err(invalid("empty path"));
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Location::local(text);
        };
        let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        match scheme {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|_| invalid("not an absolute local path"))?;
                Location::local(path)
            }
            "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("no bucket: expected s3://bucket/prefix"))?;
                let store = s3_store(bucket, options).map_err(|e| invalid(&e))?;
                let prefix = ObjectPath::parse(url.path().trim_matches('/'))
                    .map_err(|e| invalid(&e.to_string()))?;
                Ok(Location {
                    store,
                    store_url: Url::parse(&format!("s3://{bucket}"))
                        .map_err(|e| invalid(&e.to_string()))?,
                    prefix,
                })
            }
            other => Err(invalid(&format!(
                "unknown scheme `{other}://`: expected a local path, file:// or s3://"
            ))),
        }
    }

    /// The location `relative` (`/`-separated) below this one.
    pub fn join(&self, relative: &str) -> Location {
        let mut prefix = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            prefix = prefix.clone().join(part);
        }
        Location {
            store: self.store.clone(),
            store_url: self.store_url.clone(),
            prefix,
        }
    }

    /// The store holding this location.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The path of this location inside its store.
    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// The local directory, when this location is one.
    pub fn local_path(&self) -> Option<PathBuf> {
        (self.store_url.scheme() == "file").then(|| PathBuf::from(self.to_string()))
    }

    /// The display name of the object at `path` (a path inside the store).
    pub fn describe(&self, path: &ObjectPath) -> String {
        match self.store_url.scheme() {
            "file" => format!("/{path}"),
            _ => format!("{}/{path}", self.store_url.as_str().trim_end_matches('/')),
        }
    }

    /// The path of `path` relative to this location, `/`-separated.
    pub fn relative(&self, path: &ObjectPath) -> Option<String> {
        path.prefix_match(&self.prefix).map(|parts| {
            parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/")
        })
    }

    /// This location as a directory URL for a DataFusion listing table.
    pub fn table_url(&self) -> Result<ListingTableUrl> {
        let url = match self.store_url.scheme() {
            "file" => format!("file:///{}/", self.prefix),
            _ => format!("{}/", self),
        };
        Ok(ListingTableUrl::parse(url)?)
    }

    /// This location as the URL of one object, for DataFusion's `read_parquet`.
    pub fn file_url(&self) -> String {
        match self.store_url.scheme() {
            "file" => format!("file:///{}", self.prefix),
            _ => self.to_string(),
        }
    }

    /// The URL the store is registered under in a DataFusion runtime.
    pub(crate) fn store_url(&self) -> &Url {
        &self.store_url
    }

    /// The names of the directories directly below this location, sorted.
    pub async fn directories(&self) -> Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| self.error(&self.prefix, e))?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| self.relative(p))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Makes this location's store known to a DataFusion runtime, so that tables on
    /// it can be scanned.
    pub fn register_store(&self, runtime: &RuntimeEnv) {
        if self.store_url.scheme() != "file" {
            runtime.register_object_store(&self.store_url, self.store.clone());
        }
    }

    /// Every object below this location, in path order.
    pub async fn list(&self) -> Result<Vec<ObjectMeta>> {
        let mut objects: Vec<ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| self.error(&self.prefix, e))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The object `relative` below this location, or `None` when it does not exist.
    pub async fn read(&self, relative: &str) -> Result<Option<Bytes>> {
        let path = self.join(relative).prefix;
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(
                result.bytes().await.map_err(|e| self.error(&path, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    /// Writes the object `relative` below this location in one request: readers see
    /// the old object or the new one, never a part.
    pub async fn write(&self, relative: &str, bytes: Bytes) -> Result<()> {
        let path = self.join(relative).prefix;
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(())
    }

    /// A writer of the object `relative` below this location that uploads as it goes
    /// (in parts, past a few MiB): the object appears whole when the writer is shut
    /// down, and not at all before.
    pub fn writer(&self, relative: &str) -> object_store::buffered::BufWriter {
        object_store::buffered::BufWriter::new(Arc::clone(&self.store), self.join(relative).prefix)
    }

    /// [`Location::write`] with a `Content-Type` for object stores that keep one (S3, so
    /// that a bucket serving a website hands out pages as pages); local files have none.
    pub async fn write_typed(
        &self,
        relative: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<()> {
        if self.store_url.scheme() == "file" {
            return self.write(relative, bytes).await;
        }
        let path = self.join(relative).prefix;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, PutPayload::from_bytes(bytes), options)
            .await
            .map_err(|e| self.error(&path, e))?;
        Ok(())
    }

    /// Writes the object `relative` only if it does not exist yet; `Ok(false)` when it
    /// does (another writer got there first).
    pub async fn create(&self, relative: &str, bytes: Bytes) -> Result<bool> {
        let path = self.join(relative).prefix;
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from_bytes(bytes), options)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    /// Deletes the object `relative` below this location; nothing when it is absent.
    pub async fn delete(&self, relative: &str) -> Result<()> {
        let path = self.join(relative).prefix;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(&path, e)),
        }
    }

    /// A one-line error for a failed store operation on `path`.
    pub(crate) fn error(&self, path: &ObjectPath, error: object_store::Error) -> ChartError {
        ChartError::Store {
            location: self.describe(path),
            reason: store_reason(&error),
            source: error,
        }
    }
}

/// An S3 client for `bucket`: the `AWS_*` environment, then `options`.
fn s3_store(
    bucket: &str,
    options: &StoreOptions,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = options
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT").ok());
    let path_style = options.path_style.unwrap_or(true);
    let mut client = ClientOptions::new()
        .with_connect_timeout(options.connect_timeout)
        .with_timeout(options.request_timeout);
    if let Some(endpoint) = &endpoint {
        let mut url = Url::parse(endpoint).map_err(|e| format!("endpoint `{endpoint}`: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "endpoint `{endpoint}` is not an http:// or https:// URL"
            ));
        }
        if !path_style {
            let host = format!("{bucket}.{}", url.host_str().unwrap_or_default());
            url.set_host(Some(&host))
                .map_err(|e| format!("endpoint `{endpoint}`: {e}"))?;
        }
        builder = builder.with_endpoint(url.as_str().trim_end_matches('/'));
        client = client.with_allow_http(url.scheme() == "http");
    }
    if let Some(region) = &options.region {
        builder = builder.with_region(region);
    }
    if let Some((key, secret)) = &options.credentials {
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret);
    }
    builder = builder
        .with_virtual_hosted_style_request(!path_style)
        .with_client_options(client)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: options.request_timeout,
        });
    let store = builder.build().map_err(|e| store_reason(&e))?;
    Ok(Arc::new(store))
}

/// A short reason for a store error: S3's error code and message when there is
/// one, else the innermost cause.
fn store_reason(error: &object_store::Error) -> String {
    if let object_store::Error::NotFound { .. } = error {
        return "not found".to_string();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(code) = xml_element(&text, "Code") {
        let reason = match code.as_str() {
            "NoSuchBucket" => "the bucket does not exist".to_string(),
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
                "access denied: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string()
            }
            _ => xml_element(&text, "Message").unwrap_or_default(),
        };
        return format!("{code}: {reason}");
    }
    if text.contains("error sending request")
        || text.contains("Connect")
        || text.contains("connect")
    {
        return format!("cannot reach the endpoint ({})", last_cause(error));
    }
    last_cause(error)
}

fn last_cause(error: &object_store::Error) -> String {
    let mut last = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() {
            last = text;
        }
        source = cause.source();
    }
    last.lines().next().unwrap_or_default().trim().to_string()
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(text[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Location> {
        Location::parse(text, &StoreOptions::default())
    }

    #[tokio::test]
    async fn typed_writes_keep_their_content_type_where_the_store_keeps_one() {
        let location = Location {
            store: Arc::new(object_store::memory::InMemory::new()),
            store_url: Url::parse("memory://site").unwrap(),
            prefix: ObjectPath::from("site"),
        };
        location
            .write_typed(
                "index.html",
                Bytes::from_static(b"<p>"),
                "text/html; charset=utf-8",
            )
            .await
            .unwrap();
        let path = location.join("index.html").prefix;
        let got = location.store.get(&path).await.unwrap();
        assert_eq!(
            got.attributes
                .get(&Attribute::ContentType)
                .map(|v| v.as_ref()),
            Some("text/html; charset=utf-8")
        );
        // Local files keep no attributes: a typed write is a plain one there.
        let dir = tempfile::tempdir().unwrap();
        let local = Location::local(dir.path()).unwrap();
        local
            .write_typed("index.html", Bytes::from_static(b"<p>"), "text/html")
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("index.html")).unwrap(),
            b"<p>"
        );
    }

    #[test]
    fn s3_locations_name_bucket_and_prefix() {
        let location = parse("s3://charts/published/").unwrap();
        assert_eq!(location.to_string(), "s3://charts/published");
        assert_eq!(location.local_path(), None);
        let month = location.join("charts/month=2024-11/");
        assert_eq!(
            month.to_string(),
            "s3://charts/published/charts/month=2024-11"
        );
        assert_eq!(
            location.relative(month.prefix()).as_deref(),
            Some("charts/month=2024-11")
        );
        assert_eq!(
            month.table_url().unwrap().as_str(),
            "s3://charts/published/charts/month=2024-11/"
        );
        assert_eq!(parse("s3://charts").unwrap().to_string(), "s3://charts");
    }

    #[test]
    fn local_paths_and_file_urls_are_the_same_location() {
        let dir = std::env::temp_dir();
        let from_path = parse(dir.to_str().unwrap()).unwrap();
        let from_url = parse(&format!("file://{}", dir.display())).unwrap();
        assert_eq!(from_path.to_string(), from_url.to_string());
        assert_eq!(
            from_path.local_path(),
            Some(std::fs::canonicalize(&dir).unwrap())
        );
    }

    #[test]
    fn unusable_locations_are_one_line_errors() {
        for (text, message) in [
            (
                "gs://bucket/x",
                "gs://bucket/x: unknown scheme `gs://`: expected a local path, file:// or s3://",
            ),
            ("s3:///x", "s3:///x: no bucket: expected s3://bucket/prefix"),
            ("", ": empty path"),
            (
                "file://relative",
                "file://relative: not an absolute local path",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err().to_string(), message, "{text}");
        }
        let options = StoreOptions {
            endpoint: Some("ftp://host".into()),
            ..StoreOptions::default()
        };
        assert_eq!(
            Location::parse("s3://b/x", &options)
                .unwrap_err()
                .to_string(),
            "s3://b/x: endpoint `ftp://host` is not an http:// or https:// URL"
        );
    }

    #[test]
    fn s3_error_bodies_become_short_reasons() {
        let error = |body: &str| object_store::Error::Generic {
            store: "S3",
            source: body.to_string().into(),
        };
        assert_eq!(
            store_reason(&error(
                "Client error with status 404: <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"
            )),
            "NoSuchBucket: the bucket does not exist"
        );
        assert_eq!(
            store_reason(&error(
                "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>"
            )),
            "SlowDown: Reduce your rate"
        );
    }
}
