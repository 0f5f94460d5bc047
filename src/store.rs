//! The artifact store: `artifacts/<stage>/<key>/` folders holding Parquet tables and a
//! manifest, written in a temporary folder and renamed into place only when complete.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use indexmap::IndexMap;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when the artifact layout changes, so old artifacts are not trusted.
pub const STORE_FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";

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
    pub stats: Value,
    pub summary: String,
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
    pub fn load(&self, stage: &str, key: &str) -> Option<Artifact> {
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

    /// Starts a new artifact in a private temporary folder.
    pub fn begin(&self, stage: &str, key: &str) -> Result<PathBuf> {
        let dir = self.root.join(stage).join(format!(".tmp-{key}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// Writes the manifest last, then renames the folder into place (replacing an older
    /// artifact with the same key only after the new one is complete).
    pub fn publish(&self, tmp: &Path, manifest: Manifest) -> Result<Artifact> {
        write_json_atomic(&tmp.join(MANIFEST), &manifest)?;
        sync_dir(tmp);
        let dest = self.artifact_dir(&manifest.stage, &manifest.key);
        if dest.exists() {
            let old = dest.with_file_name(format!(".old-{}-{}", manifest.key, std::process::id()));
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
        Ok(Artifact { dir: dest, manifest })
    }

    /// Removes leftovers of interrupted runs; call only while holding the workspace lock.
    pub fn sweep_temporaries(&self) -> usize {
        let mut removed = 0;
        for stage_dir in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if !stage_dir.path().is_dir() {
                continue;
            }
            for e in fs::read_dir(stage_dir.path()).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if (name.starts_with(".tmp-") || name.starts_with(".old-"))
                    && fs::remove_dir_all(e.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Stage folders present on disk.
    pub fn stages_on_disk(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().to_string())
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

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes one table as `<name>.parquet` in `dir`.
pub fn write_table(dir: &Path, name: &str, batch: &RecordBatch) -> Result<TableInfo> {
    let file_name = format!("{name}.parquet");
    let path = dir.join(&file_name);
    let file = fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    let bytes = fs::metadata(&path)?.len();
    Ok(TableInfo {
        path: file_name,
        rows: batch.num_rows() as u64,
        bytes,
        schema: describe_schema(batch.schema().as_ref()),
    })
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

/// Fails with a clear message when a name is not usable as a folder name.
pub fn check_stage_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        bail!("stage name {name:?} may only use letters, digits, `_` and `-`");
    }
    Ok(())
}
