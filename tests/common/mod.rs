//! A scratch workspace for running the built binary, as a user would.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_iamm-pipe");

/// ingest -> tokenize -> a 4-update training, no COMET: a few seconds on one core.
pub const SMALL: &str = "\
stages:
  ingest:
    params: {source: demo/ed}
  tokenize:
    deps: [ingest]
    params: {vectors: demo/vectors/demo-vectors.16d.txt}
  train:
    deps: [tokenize]
    params: {variant: wo_ia, dim: 16, max_steps: 4, warmup: 4, eval_every: 4, eval_after: 0, checkpoint_every: 4}
";

/// Stage names in the demo pipeline (`pipeline.yaml`): `train` and `evaluate` are matrices over
/// `variant` and `seed`, and the stages after them run per seed; the demo has one seed, 42.
pub mod demo {
    pub const TRAIN: &str = "train[seed=42,variant=full]";
    pub const EVALUATE: &str = "evaluate[seed=42,variant=full]";
    pub const ANALYSIS: &str = "analysis[seed=42]";
    pub const HUMAN_EVAL: &str = "human_eval[seed=42]";
    pub const HUMAN_EVAL_SCORE: &str = "human_eval_score[seed=42]";
    pub const VIEWER: &str = "viewer[seed=42]";

    /// The member of `stage` (`train` or `evaluate`) for one variant.
    pub fn variant(stage: &str, variant: &str) -> String {
        format!("{stage}[seed=42,variant={variant}]")
    }
}

/// `../shared/data` beside the checkout (also there in CI).
pub fn shared_data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(p.join("ed/train.csv").exists(), "real data missing: expected {}", p.display());
    p.canonicalize().expect("shared data path")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    /// A workspace with the given pipeline.yaml and a copy of the demo corpus.
    pub fn new(pipeline: &str) -> Ws {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
        copy_dir(&repo().join("demo"), &dir.path().join("demo"));
        Ws { dir }
    }

    /// The repository's own pipeline.yaml (the demo default).
    pub fn demo() -> Ws {
        Ws::new(&std::fs::read_to_string(repo().join("pipeline.yaml")).expect("pipeline.yaml"))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .expect("run iamm-pipe")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "iamm-pipe {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure with exit code 2; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "expected exit 2 from {args:?}, stderr: {stderr}");
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        stderr
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }

    /// `status --json`, which exits 1 while anything is not fresh.
    pub fn status_json(&self) -> serde_json::Value {
        self.status_json_with(&[])
    }

    /// `status --json` with more arguments (`-p …`, a profile).
    pub fn status_json_with(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(&[&["status", "--json"][..], args].concat());
        assert!(matches!(out.status.code(), Some(0 | 1)), "status failed: {out:?}");
        serde_json::from_slice(&out.stdout).expect("JSON status")
    }

    /// Published artifact folders of a stage (not the `current` link).
    pub fn artifacts(&self, stage: &str) -> Vec<String> {
        let mut keys: Vec<String> = std::fs::read_dir(self.path("artifacts").join(stage))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n != "current")
            .collect();
        keys.sort();
        keys
    }

    /// Every file under artifacts/ with its content hash, to prove nothing changed.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk(&self.path("artifacts"), &mut |p| {
            if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                let bytes = std::fs::read(p).unwrap_or_default();
                out.push((p.display().to_string(), blake3::hash(&bytes).to_hex().to_string()));
            }
        });
        out.sort();
        out
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        // `current` links would list an artifact twice.
        match e.file_type() {
            Ok(t) if t.is_symlink() => {}
            Ok(t) if t.is_dir() => walk(&p, f),
            _ => f(&p),
        }
    }
}

/// Parquet files under `dir`, at any depth (row-cache shards).
pub fn parquet_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { parquet_files(&p) } else { usize::from(p.extension().is_some_and(|x| x == "parquet")) }
        })
        .sum()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() { copy_dir(&p, &dest) } else { std::fs::copy(&p, &dest).expect("copy"); }
    }
}

/// Rows of a table in a stage's manifest, read through `show --json`.
pub fn rows(manifest: &serde_json::Value, table: &str) -> u64 {
    manifest["tables"][table]["rows"].as_u64().unwrap_or_else(|| panic!("no table {table} in {manifest}"))
}

/// A table of an artifact, from `show STAGE --json` output.
pub fn table(manifest: &serde_json::Value, name: &str) -> arrow_array::RecordBatch {
    let path = manifest["tables"][name]["path"].as_str().unwrap_or_else(|| panic!("no table {name} in {manifest}"));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<arrow_array::RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

pub fn u32s(t: &arrow_array::RecordBatch, name: &str) -> Vec<u32> {
    use arrow_array::cast::AsArray;
    let c = t.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    c.as_primitive::<arrow_array::types::UInt32Type>().values().to_vec()
}

pub fn strs(t: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let c = t.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_string::<i32>();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}
