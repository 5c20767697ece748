//! The files a data root was opened with, as DataFusion sees them: an object store
//! that answers listings of the root's table directories from the files validated
//! (and later hashed into a manifest) at open, and passes everything else through.
//!
//! Without it, a listing table lists its directory again at every query, so a file
//! landing (or a day being compacted) between opening a root and reading it would be
//! read without being among the manifest's inputs, or be read twice.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Numbers each opened data root, so that a runtime registers its snapshot once.
static NEXT_SNAPSHOT: AtomicU64 = AtomicU64::new(1);

/// A new snapshot number.
pub(crate) fn next_snapshot_id() -> u64 {
    NEXT_SNAPSHOT.fetch_add(1, Ordering::Relaxed)
}

/// Listings under `directories` come from `objects`; all else goes to `inner`.
#[derive(Debug)]
pub(crate) struct SnapshotStore {
    id: u64,
    inner: Arc<dyn ObjectStore>,
    directories: Vec<ObjectPath>,
    /// The files under `directories`, sorted by path.
    objects: Arc<Vec<ObjectMeta>>,
}

impl SnapshotStore {
    pub(crate) fn new(
        id: u64,
        inner: Arc<dyn ObjectStore>,
        directories: Vec<ObjectPath>,
        mut objects: Vec<ObjectMeta>,
    ) -> SnapshotStore {
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        SnapshotStore {
            id,
            inner,
            directories,
            objects: Arc::new(objects),
        }
    }

    /// How the store names itself: registering the same snapshot twice is detected by it.
    pub(crate) fn tag(id: u64) -> String {
        format!("data root snapshot #{id} ")
    }

    /// Whether listings under `prefix` are answered from the snapshot alone.
    fn answers(&self, prefix: Option<&ObjectPath>) -> bool {
        let Some(prefix) = prefix else {
            return false;
        };
        self.directories
            .iter()
            .any(|dir| prefix.prefix_matches(dir) || prefix == dir)
    }

    /// Whether `path` is below one of the snapshot's directories.
    fn covers(&self, path: &ObjectPath) -> bool {
        self.directories.iter().any(|dir| path.prefix_matches(dir))
    }

    fn snapshot_under(&self, prefix: Option<&ObjectPath>) -> Vec<ObjectMeta> {
        self.objects
            .iter()
            .filter(|o| prefix.is_none_or(|p| o.location.prefix_matches(p)))
            .cloned()
            .collect()
    }
}

impl fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}({} files) over {}",
            Self::tag(self.id),
            self.objects.len(),
            self.inner
        )
    }
}

#[async_trait]
impl ObjectStore for SnapshotStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &ObjectPath, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &ObjectPath, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<ObjectPath>>,
    ) -> BoxStream<'static, Result<ObjectPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&ObjectPath>) -> BoxStream<'static, Result<ObjectMeta>> {
        if self.answers(prefix) {
            return stream::iter(self.snapshot_under(prefix).into_iter().map(Ok)).boxed();
        }
        // Above the table directories: the store's objects outside them, the
        // snapshot's inside them.
        let directories = self.directories.clone();
        let outside = self.inner.list(prefix).filter(move |o| {
            let keep = match o {
                Ok(o) => !directories.iter().any(|d| o.location.prefix_matches(d)),
                Err(_) => true,
            };
            futures::future::ready(keep)
        });
        let inside = stream::iter(self.snapshot_under(prefix).into_iter().map(Ok));
        outside.chain(inside).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&ObjectPath>) -> Result<ListResult> {
        if !self.answers(prefix) {
            let mut result = self.inner.list_with_delimiter(prefix).await?;
            result.objects.retain(|o| !self.covers(&o.location));
            return Ok(result);
        }
        let depth = prefix.map_or(0, |p| p.parts().count());
        let mut common_prefixes: Vec<ObjectPath> = Vec::new();
        let mut objects = Vec::new();
        for object in self.snapshot_under(prefix) {
            let parts: Vec<_> = object.location.parts().collect();
            if parts.len() == depth + 1 {
                objects.push(object);
            } else {
                let directory: ObjectPath = parts[..=depth].iter().cloned().collect();
                if common_prefixes.last() != Some(&directory) {
                    common_prefixes.push(directory);
                }
            }
        }
        Ok(ListResult {
            common_prefixes,
            objects,
        })
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: RenameOptions,
    ) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    async fn put(store: &InMemory, path: &str) {
        store
            .put(&ObjectPath::from(path), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }

    async fn names(stream: BoxStream<'static, Result<ObjectMeta>>) -> Vec<String> {
        let mut names: Vec<String> = stream
            .map(|o| o.unwrap().location.to_string())
            .collect()
            .await;
        names.sort();
        names
    }

    #[tokio::test]
    async fn listings_under_the_tables_are_the_snapshot_and_the_rest_passes_through() {
        let inner = InMemory::new();
        for path in [
            "root/plays/date=2024-11-01/a.parquet",
            "root/songs/s.parquet",
            "root/other/o.txt",
        ] {
            put(&inner, path).await;
        }
        let listed: Vec<ObjectMeta> = inner
            .list(Some(&ObjectPath::from("root/plays")))
            .map(|o| o.unwrap())
            .collect()
            .await;
        // After the snapshot: a file lands, another partition appears.
        put(&inner, "root/plays/date=2024-11-01/late.parquet").await;
        put(&inner, "root/plays/date=2024-11-02/b.parquet").await;
        let store = SnapshotStore::new(
            7,
            Arc::new(inner),
            vec![ObjectPath::from("root/plays")],
            listed,
        );
        assert_eq!(
            names(store.list(Some(&ObjectPath::from("root/plays")))).await,
            ["root/plays/date=2024-11-01/a.parquet"]
        );
        assert_eq!(
            names(store.list(Some(&ObjectPath::from("root/plays/date=2024-11-02")))).await,
            Vec::<String>::new()
        );
        assert_eq!(
            names(store.list(Some(&ObjectPath::from("root")))).await,
            [
                "root/other/o.txt",
                "root/plays/date=2024-11-01/a.parquet",
                "root/songs/s.parquet"
            ]
        );
        let top = store
            .list_with_delimiter(Some(&ObjectPath::from("root/plays")))
            .await
            .unwrap();
        assert_eq!(
            top.common_prefixes,
            [ObjectPath::from("root/plays/date=2024-11-01")]
        );
        assert!(top.objects.is_empty());
        let day = store
            .list_with_delimiter(Some(&ObjectPath::from("root/plays/date=2024-11-01")))
            .await
            .unwrap();
        assert_eq!(day.objects.len(), 1);
        // Reads pass through, also of files not in the snapshot.
        assert!(
            store
                .get(&ObjectPath::from("root/plays/date=2024-11-01/late.parquet"))
                .await
                .is_ok()
        );
        assert!(store.to_string().starts_with(&SnapshotStore::tag(7)));
    }
}
