//! Fingerprints each stage kind's code (its crate, the shared crates it uses and its engine
//! adapter) so that editing a stage invalidates exactly that stage's cached artifacts.

use std::path::Path;

/// Stage kind -> the source paths its outputs depend on.
const KINDS: &[(&str, &[&str])] = &[
    ("ingest", &["stages/ingest/src", "crates/core/src", "src/kinds/ingest.rs"]),
    ("tokenize", &["stages/tokenize/src", "crates/core/src", "crates/text/src", "src/kinds/tokenize.rs"]),
    ("train", &["stages/train/src", "crates/core/src", "crates/plot/src", "crates/tensorboard/src", "src/kinds/train.rs", "src/kinds/model_io.rs"]),
    // Decoding code lives in the train crate and the figure in the plot crate: both shape the outputs.
    ("evaluate", &["stages/evaluate/src", "stages/train/src", "crates/core/src", "crates/text/src", "crates/plot/src", "src/kinds/evaluate.rs", "src/kinds/model_io.rs"]),
    ("report", &["stages/report/src", "crates/core/src", "src/kinds/report.rs"]),
    ("analysis", &["stages/analysis/src", "stages/train/src", "crates/core/src", "crates/plot/src", "src/kinds/analysis.rs", "src/kinds/model_io.rs"]),
    ("viewer", &["stages/viewer/src", "crates/core/src", "src/kinds/viewer.rs", "src/kinds/model_io.rs"]),
    ("human_eval", &["stages/human_eval/src", "crates/core/src", "src/kinds/human_eval.rs", "src/kinds/model_io.rs"]),
    ("human_eval_score", &["stages/human_eval/src", "crates/core/src", "src/kinds/human_eval.rs", "src/kinds/model_io.rs"]),
    ("comet", &["stages/comet/src", "crates/core/src", "crates/text/src", "src/kinds/comet.rs", "src/shards.rs"]),
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    for (kind, paths) in KINDS {
        let mut hasher = blake3::Hasher::new();
        for p in *paths {
            println!("cargo:rerun-if-changed={p}");
            let mut files = Vec::new();
            collect(&root.join(p), &mut files);
            files.sort();
            for f in files {
                let rel = f.strip_prefix(root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
                hasher.update(rel.as_bytes());
                hasher.update(&std::fs::read(&f).unwrap_or_default());
            }
        }
        let hex = hasher.finalize().to_hex();
        out.push_str(&format!("pub const {}: &str = \"{}\";\n", kind.to_uppercase(), &hex[..16]));
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("fingerprints.rs");
    std::fs::write(dest, out).expect("write fingerprints.rs");
}

fn collect(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_file() {
        out.push(path.to_path_buf());
    } else if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            collect(&e.path(), out);
        }
    }
}
