//! The artifact store: `artifacts/<stage>/<key>/` folders holding Parquet tables and a
//! manifest, written in a temporary folder and renamed into place only when complete.
//! The manifest records a blake3 hash of every file, checked before an artifact is reused.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use indexmap::IndexMap;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hashing::{HashMemo, Stamp, hash_file_content};
use crate::lock::writer_gone;
use iamm_core::writer_tag;

/// Bumped when the artifact layout changes, so old artifacts are not trusted.
/// 2: the manifest carries a content hash of every file (`content`).
pub const STORE_FORMAT: u32 = 2;
const MANIFEST: &str = "manifest.json";
/// Where removed folders go before they are deleted (see `Store::discard`).
const TRASH: &str = ".trash";
/// `artifacts/<stage>/current`: a relative symbolic link to the artifact the last `run`
/// published or reused for the stage, for notebooks and for `status` reasons.
pub const CURRENT: &str = "current";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputInfo {
    pub path: String,
    pub hash: String,
    pub bytes: u64,
}

/// Everything the cache key is made of; kept in the manifest so `status` can say what changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyParts {
    pub kind: String,
    pub code: String,
    /// Canonical params without the path params (those count through their content).
    pub params: IndexMap<String, Value>,
    pub inputs: IndexMap<String, InputInfo>,
    pub upstream: IndexMap<String, String>,
}

impl KeyParts {
    pub fn key(&self) -> String {
        let canonical = serde_json::json!({
            "format": STORE_FORMAT,
            "kind": self.kind,
            "code": self.code,
            "params": self.params,
            "inputs": self.inputs.iter().map(|(k, v)| (k.clone(), v.hash.clone())).collect::<BTreeMap<_, _>>(),
            "upstream": self.upstream,
        });
        let hex = blake3::hash(canonical.to_string().as_bytes()).to_hex();
        hex[..20].to_string()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableInfo {
    /// File name inside the artifact folder.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub schema: Vec<Column>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub stage: String,
    pub key: String,
    pub tool_version: String,
    pub created_unix_ms: u64,
    pub wall_time_s: f64,
    /// All params as the stage read them, paths included.
    pub params: IndexMap<String, Value>,
    pub key_parts: KeyParts,
    pub tables: IndexMap<String, TableInfo>,
    /// Other published files (name -> bytes), e.g. model weights.
    #[serde(default)]
    pub files: IndexMap<String, u64>,
    /// Every file of the artifact but the manifest (tables included), by relative path.
    #[serde(default)]
    pub content: IndexMap<String, FileDigest>,
    pub stats: Value,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileDigest {
    pub bytes: u64,
    pub blake3: String,
}

pub struct Artifact {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Artifact {
    pub fn table_path(&self, name: &str) -> Option<PathBuf> {
        self.manifest.tables.get(name).map(|t| self.dir.join(&t.path))
    }

    pub fn read_table(&self, name: &str) -> Result<RecordBatch> {
        let path = self
            .table_path(name)
            .with_context(|| format!("artifact {} has no table `{name}`", self.dir.display()))?;
        read_parquet(&path, None)
    }
}

pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn artifact_dir(&self, stage: &str, key: &str) -> PathBuf {
        self.root.join(stage).join(key)
    }

    /// A published artifact, or `None` (a folder without a readable manifest is not one).
    /// Its files are not checked here: see `check`.
    pub fn load(&self, stage: &str, key: &str) -> Option<Artifact> {
        // Keys come from users too (`STAGE@KEY`): only a plain hex name is a key.
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) || check_stage_name(stage).is_err() {
            return None;
        }
        let dir = self.artifact_dir(stage, key);
        let manifest = read_manifest(&dir.join(MANIFEST)).ok()?;
        (manifest.key == key).then_some(Artifact { dir, manifest })
    }

    /// All published artifacts of a stage, newest first.
    pub fn all(&self, stage: &str) -> Vec<Artifact> {
        let mut found: Vec<Artifact> = fs::read_dir(self.root.join(stage))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') { None } else { self.load(stage, &name) }
            })
            .collect();
        found.sort_by_key(|a| std::cmp::Reverse(a.manifest.created_unix_ms));
        found
    }

    /// The key `artifacts/<stage>/current` names, whether or not that artifact still exists.
    pub fn current_key(&self, stage: &str) -> Option<String> {
        fs::read_link(self.root.join(stage).join(CURRENT)).ok()?.to_str().map(str::to_string)
    }

    /// The artifact `artifacts/<stage>/current` points to, if it still exists.
    pub fn current(&self, stage: &str) -> Option<Artifact> {
        self.load(stage, &self.current_key(stage)?)
    }

    /// What the stage's present state is compared with: the current artifact, else the newest.
    pub fn last_used(&self, stage: &str) -> Option<Artifact> {
        self.current(stage).or_else(|| self.all(stage).into_iter().next())
    }

    /// Points `artifacts/<stage>/current` at `key`, atomically (a new link renamed over the old).
    pub fn set_current(&self, stage: &str, key: &str) -> Result<()> {
        if self.current_key(stage).as_deref() == Some(key) {
            return Ok(());
        }
        let link = self.root.join(stage).join(CURRENT);
        let tmp = link.with_file_name(format!(".tmp-{CURRENT}-{}", writer_tag()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(key, &tmp)
            .and_then(|()| fs::rename(&tmp, &link))
            .with_context(|| format!("cannot point {} at {key}", link.display()))
    }

    /// Starts a new artifact in a private temporary folder.
    pub fn begin(&self, stage: &str, key: &str) -> Result<PathBuf> {
        let dir = self.root.join(stage).join(format!(".tmp-{key}-{}", writer_tag()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// Hashes every file, writes the manifest last, then renames the folder into place
    /// (replacing an older artifact with the same key only after the new one is complete).
    /// The hashes go into `memo` too, so that checking the fresh artifact reads nothing.
    pub fn publish(&self, tmp: &Path, mut manifest: Manifest, memo: &HashMemo) -> Result<Artifact> {
        let mut stamps = Vec::new();
        for rel in files_under(tmp)? {
            let path = tmp.join(&rel);
            let meta = fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let blake3 = hash_file_content(&path)?;
            stamps.push((rel.clone(), Stamp::of(&meta), blake3.clone()));
            manifest.content.insert(rel, FileDigest { bytes: meta.len(), blake3 });
        }
        write_json_atomic(&tmp.join(MANIFEST), &manifest)?;
        sync_dir(tmp);
        let dest = self.artifact_dir(&manifest.stage, &manifest.key);
        if dest.exists() {
            let old = dest.with_file_name(format!(".old-{}-{}", manifest.key, writer_tag()));
            fs::rename(&dest, &old)?;
            fs::rename(tmp, &dest)?;
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(tmp, &dest)
                .with_context(|| format!("cannot publish {}", dest.display()))?;
        }
        if let Some(parent) = dest.parent() {
            sync_dir(parent);
        }
        // Renaming the folder leaves its files' inodes and stamps as they were.
        for (rel, stamp, hash) in stamps {
            memo.remember(&dest.join(rel), stamp, &hash);
        }
        Ok(Artifact { dir: dest, manifest })
    }

    /// What is wrong with an artifact's files, one problem per entry (none: intact). A file
    /// whose stamp the memo knows is not read again unless `reread`.
    pub fn check(&self, a: &Artifact, memo: &HashMemo, reread: bool) -> Vec<String> {
        let m = &a.manifest;
        let mut problems = Vec::new();
        let listed = m.tables.values().map(|t| &t.path).chain(m.files.keys());
        for name in listed {
            // A listed folder (human_eval's `sheets/`) is covered by the files in it.
            let folder = format!("{name}/");
            if !m.content.keys().any(|rel| rel == name || rel.starts_with(&folder)) {
                problems.push(format!("`{name}` has no content hash in the manifest"));
            }
        }
        for (rel, want) in &m.content {
            let path = a.dir.join(rel);
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => {
                    problems.push(format!("`{rel}` is no longer a plain file"));
                    continue;
                }
                Err(_) => {
                    problems.push(format!("`{rel}` is missing"));
                    continue;
                }
            };
            if meta.len() != want.bytes {
                problems.push(format!("`{rel}` has {} bytes, {} were published", meta.len(), want.bytes));
                continue;
            }
            let got = if reread {
                hash_file_content(&path).inspect(|h| memo.remember(&path, Stamp::of(&meta), h))
            } else {
                memo.hash_file(&path, &meta).map(|h| h.hash)
            };
            match got {
                Ok(h) if h == want.blake3 => {}
                Ok(_) => problems.push(format!("`{rel}` is damaged: its content differs from what was published")),
                Err(e) => problems.push(format!("`{rel}` cannot be read: {e:#}")),
            }
        }
        problems
    }

    /// Removes `artifacts/<stage>` (`entry` = None) or `artifacts/<stage>/<entry>`. Only a
    /// direct child of the store can go: names are checked, and a symbolic link is removed as
    /// a link, never followed. The folder is first renamed into `artifacts/.trash/`, so an
    /// interrupted removal never leaves a half-deleted folder that looks like an artifact.
    pub fn discard(&self, stage: &str, entry: Option<&str>, memo: &HashMemo) -> Result<()> {
        check_stage_name(stage)?;
        let stage_dir = self.root.join(stage);
        let meta = fs::symlink_metadata(&stage_dir)
            .with_context(|| format!("{} does not exist", stage_dir.display()))?;
        if !meta.is_dir() {
            bail!(
                "{} is not a folder of the store (a symbolic link or a file); iamm-pipe deletes                  nothing outside {}: remove it yourself",
                stage_dir.display(),
                self.root.display()
            );
        }
        let target = match entry {
            None => stage_dir,
            Some(name) => {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    bail!("`{name}` is not an entry of {}", stage_dir.display());
                }
                stage_dir.join(name)
            }
        };
        memo.forget_under(&target);
        if entry.is_some() && self.current_key(stage).as_deref() == entry {
            let _ = fs::remove_file(self.root.join(stage).join(CURRENT));
        }
        let trash = self.root.join(TRASH);
        fs::create_dir_all(&trash).with_context(|| format!("cannot create {}", trash.display()))?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let parked = trash.join(format!("{stage}-{n}-{}", writer_tag()));
        fs::rename(&target, &parked).with_context(|| format!("cannot remove {}", target.display()))?;
        remove_entry(&parked).with_context(|| format!("cannot delete {}", parked.display()))
    }

    /// Every leftover of interrupted runs (temporary artifact folders, half-written row-cache
    /// shards and checkpoints, half-removed folders), removed if `remove` (and with them the
    /// stages' lock files, which are not listed); call only while holding the store lock
    /// exclusively (`gc`), when no run of this machine is writing or holds a lock. Unless
    /// `every_writer`, only leftovers whose writer is known to be dead count: the store lock
    /// says nothing of other machines that share the store (see `lock.rs`).
    pub fn sweep_temporaries(&self, remove: bool, every_writer: bool) -> Vec<PathBuf> {
        let temporary = |name: &str| name.starts_with(".tmp-") || name.starts_with(".old-");
        let mut found = Vec::new();
        let mut sweep = |dir: &Path, all: bool| {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if remove && name.starts_with(crate::lock::STAGE_LOCK_PREFIX) {
                    let _ = fs::remove_file(e.path());
                } else if (all || temporary(&name))
                    && (every_writer || writer_gone(&name))
                    && (!remove || remove_entry(&e.path()).is_ok())
                {
                    found.push(e.path());
                }
            }
        };
        sweep(&self.root.join(TRASH), true);
        for stage_dir in self.real_subdirs(&self.root) {
            sweep(&stage_dir, false);
        }
        // Row caches: `.rows/<kind>/<key>/` (comet shards, train checkpoints).
        for kind_dir in self.real_subdirs(&self.root.join(".rows")) {
            for cache in self.real_subdirs(&kind_dir) {
                sweep(&cache, false);
            }
        }
        found
    }

    /// Removes what an interrupted run of this stage and key left (its temporary and
    /// half-replaced folders); call only while holding the stage's lock for `key`, so that
    /// no live run's folder can be among them.
    pub fn sweep_key(&self, stage: &str, key: &str) {
        let ours = |name: &str| [".tmp-", ".old-"].iter().any(|p| name.strip_prefix(p).is_some_and(|r| r.starts_with(&format!("{key}-"))));
        for e in fs::read_dir(self.root.join(stage)).into_iter().flatten().flatten() {
            if ours(&e.file_name().to_string_lossy()) {
                let _ = remove_entry(&e.path());
            }
        }
    }

    /// Records that a run used `a` now (the artifact folder's modification time, which nothing
    /// else changes once it is published), for `gc --dry-run`'s "last used".
    pub fn mark_used(&self, a: &Artifact) {
        let _ = fs::File::open(&a.dir).and_then(|f| f.set_modified(std::time::SystemTime::now()));
    }

    /// When a run last used `a` (see `mark_used`).
    pub fn last_use(&self, a: &Artifact) -> Option<std::time::SystemTime> {
        fs::metadata(&a.dir).and_then(|m| m.modified()).ok()
    }

    /// Sub-folders of `dir` that are folders themselves, not links to elsewhere.
    fn real_subdirs(&self, dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    }

    /// Stage folders present on disk (real folders, not links).
    pub fn stages_on_disk(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .real_subdirs(&self.root)
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }
}

pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a valid manifest", path.display()))
}

pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.partial");
    let bytes = serde_json::to_vec_pretty(value)?;
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::File::open(&tmp).and_then(|f| f.sync_all()).ok();
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Deletes a file, a link (not what it points to) or a folder with everything in it.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) }
}

/// Every file under `dir` but the manifest, as sorted relative paths with `/`.
fn files_under(dir: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let e = e?;
            let path = e.path();
            if e.file_type()?.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if rel != MANIFEST {
                    out.push(rel);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes one table as `<name>.parquet` in `dir`.
pub fn write_table(dir: &Path, name: &str, batch: &RecordBatch) -> Result<TableInfo> {
    let file_name = format!("{name}.parquet");
    let path = dir.join(&file_name);
    write_parquet(&path, batch)?;
    let bytes = fs::metadata(&path)?.len();
    Ok(TableInfo {
        path: file_name,
        rows: batch.num_rows() as u64,
        bytes,
        schema: describe_schema(batch.schema().as_ref()),
    })
}

/// Writes `batch` to the Parquet file `path` (zstd).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer
        .write(batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), plain_io_error(&e)))
}

/// The I/O error under a Parquet error, said once ("No space left on device (os error 28)").
fn plain_io_error(e: &parquet::errors::ParquetError) -> String {
    match e {
        parquet::errors::ParquetError::External(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

pub fn describe_schema(schema: &arrow_schema::Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column { name: f.name().clone(), ty: f.data_type().to_string() })
        .collect()
}

/// Reads a Parquet file into one batch (all of it, or its first `limit` rows).
pub fn read_parquet(path: &Path, limit: Option<usize>) -> Result<RecordBatch> {
    let file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a readable Parquet file", path.display()))?;
    if let Some(n) = limit {
        builder = builder.with_limit(n);
    }
    let schema: Arc<arrow_schema::Schema> = builder.schema().clone();
    let batches = builder
        .with_batch_size(64 * 1024)
        .build()?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    if batches.len() == 1 {
        return Ok(batches.into_iter().next().expect("one batch"));
    }
    arrow_select::concat::concat_batches(&schema, &batches).context("cannot join record batches")
}

/// Fails with a clear message when a name is not usable as a folder name: a declared stage's
/// name or a matrix member's (`train[seed=2,variant=wo_ea]`, see `matrix.rs`).
pub fn check_stage_name(name: &str) -> Result<()> {
    if crate::matrix::parse_member(name).is_none() {
        bail!("stage name {name:?} may only use letters, digits, `_` and `-` (a matrix member's: `stage[axis=value,…]`)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};

    #[test]
    fn a_full_disk_names_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        // Writes to /dev/full fail with ENOSPC, as on a full disk.
        std::os::unix::fs::symlink("/dev/full", dir.path().join("t.parquet")).unwrap();
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
        let batch = RecordBatch::try_from_iter([("v", values)]).unwrap();
        let err = format!("{:#}", write_table(dir.path(), "t", &batch).unwrap_err());
        assert!(err.contains(&format!("cannot write {}", dir.path().join("t.parquet").display())), "{err}");
        assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    }
}
