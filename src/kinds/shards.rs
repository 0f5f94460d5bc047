//! Row-level caches that outlive artifacts: a stage that produces rows one by one (COMET
//! generation) appends finished work as Parquet shards, each published atomically, so a
//! killed run resumes where it stopped and a rerun with other params reuses every row
//! whose own key did not change.
//!
//! Many writers, on many machines sharing the store over a network filesystem (the tasks of
//! a cluster job array), may append to one cache at once without a lock: each shard is
//! written, synced and closed under a name no other writer uses (time, counter, process and
//! host) and then renamed into the cache folder, so a reader that lists the folder sees only
//! complete shards (rename is atomic within a folder, and NFS's close-to-open consistency
//! makes a file closed before its rename complete for whoever opens it after). Two writers
//! that generate the same rows add two shards; readers keep one (see comet's `read_answers`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use arrow_array::RecordBatch;

use crate::lock::unix_now_ms;
use crate::store::{read_parquet, write_table};

pub struct ShardStore {
    dir: PathBuf,
    written: AtomicU64,
}

impl ShardStore {
    /// The store `name` (a relative path naming the rows' key) under `root`.
    pub fn open(root: &Path, name: &str) -> Result<ShardStore> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(ShardStore { dir, written: AtomicU64::new(0) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every complete shard, in name order (oldest first for shards of one writer).
    pub fn read_all(&self) -> Result<Vec<RecordBatch>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        files.iter().map(|f| read_parquet(f, None)).collect()
    }

    /// Publishes one shard: written under a temporary name, then renamed.
    pub fn append(&self, batch: &RecordBatch) -> Result<()> {
        let n = self.written.fetch_add(1, Ordering::Relaxed);
        let name = format!("shard-{:013}-{n:05}-{}", unix_now_ms(), iamm_core::writer_tag());
        let tmp_dir = self.dir.join(format!(".tmp-{name}"));
        std::fs::create_dir_all(&tmp_dir)?;
        let result = write_table(&tmp_dir, &name, batch).and_then(|info| {
            let file = tmp_dir.join(&info.path);
            std::fs::File::open(&file).and_then(|f| f.sync_all()).ok();
            std::fs::rename(&file, self.dir.join(&info.path)).context("cannot publish shard")
        });
        let _ = std::fs::remove_dir_all(&tmp_dir);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, StringArray};
    use std::sync::Arc;

    #[test]
    fn shards_round_trip_and_leftovers_are_ignored() {
        let root = tempfile::tempdir().unwrap();
        let store = ShardStore::open(root.path(), "comet/abc").unwrap();
        let batch = |v: &str| {
            RecordBatch::try_from_iter([("q", Arc::new(StringArray::from(vec![v])) as ArrayRef)]).unwrap()
        };
        store.append(&batch("a")).unwrap();
        store.append(&batch("b")).unwrap();
        // What a kill during a write leaves behind is not a shard.
        std::fs::create_dir_all(store.dir().join(".tmp-shard-x")).unwrap();
        std::fs::write(store.dir().join(".tmp-shard-x/shard-x.parquet"), b"half").unwrap();
        let again = ShardStore::open(root.path(), "comet/abc").unwrap();
        let read = again.read_all().unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], batch("a"));
        assert_eq!(read[1], batch("b"));
    }
}
