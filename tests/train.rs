//! The train stage in the pipeline: the demo trains, variants sit side by side, a killed
//! run resumes to the same weights, and a size mismatch is explained.

mod common;

use common::demo::{self, TRAIN};
use common::{Ws, rows};

fn file_hash(manifest: &serde_json::Value, file: &str) -> String {
    let dir = manifest["dir"].as_str().unwrap();
    blake3::hash(&std::fs::read(std::path::Path::new(dir).join(file)).unwrap()).to_hex().to_string()
}

/// `curve.svg` and `curve.png` are published and show `panels` panels (loss, validation PPL
/// when there were checks, accuracy) of 960 x 480 px.
fn assert_curve_plot(manifest: &serde_json::Value, panels: u32) {
    let dir = std::path::Path::new(manifest["dir"].as_str().unwrap());
    let svg = std::fs::read_to_string(dir.join("curve.svg")).expect("curve.svg published");
    let titles = ["Training loss (", "token NLL", "Validation perplexity", "Emotion accuracy"];
    assert_eq!(titles.iter().filter(|t| svg.contains(*t)).count() as u32, panels + 1, "panels of curve.svg");
    let png = std::fs::read(dir.join("curve.png")).expect("curve.png published");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!((be(16), be(20)), (960, 480 * panels), "PNG size");
    assert!(png.len() > 20_000, "a drawn PNG, not a blank one: {} bytes", png.len());
    assert_eq!(manifest["files"]["curve.png"].as_u64(), Some(png.len() as u64));
}

#[test]
fn demo_trains_and_variants_sit_side_by_side() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", "all"]);
    assert!(out.contains(&format!("ran     {TRAIN}")), "{out}");
    let m = ws.json(&["show", TRAIN, "--json"]);
    assert_eq!(rows(&m, "curve_steps"), 40);
    assert_eq!(rows(&m, "curve_evals"), 2);
    assert!(m["files"]["model.safetensors"].as_u64().unwrap() > 100_000);
    assert_eq!(m["stats"]["train_examples"], 126);
    assert_eq!(m["stats"]["vectors"], true);
    let first = m["stats"]["final_loss"].as_f64().unwrap();
    assert!(first.is_finite());
    assert_curve_plot(&m, 3);

    // Each variant is a member of the matrix, cached on its own.
    let mut keys = Vec::new();
    for variant in ["full", "wo_ea", "wo_ia", "wo_ws"] {
        let member = demo::variant("train", variant);
        assert!(out.contains(&format!("ran     {member} ")), "{out}");
        let artifacts = ws.artifacts(&member);
        assert_eq!(artifacts.len(), 1, "{member}: {artifacts:?}");
        keys.extend(artifacts);
    }
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 4, "four keys: {keys:?}");
    let wo_ia = ws.ok(&["run", "train[variant=wo_ia]"]);
    assert!(wo_ia.contains(&format!("cached  {}", demo::variant("train", "wo_ia"))) && wo_ia.contains("0 ran, 4 cached"), "{wo_ia}");
    let m2 = ws.json(&["show", "train[variant=wo_ia]", "--json"]);
    assert_eq!(m2["stats"]["variant"], "wo_ia");
    assert!(m2["files"]["model.safetensors"].as_u64().unwrap() < m["files"]["model.safetensors"].as_u64().unwrap());
    // Everything is cached now (the count of stages follows pipeline.yaml).
    let again = ws.ok(&["run", "all"]);
    assert!(again.contains("0 ran, ") && !again.contains("ran     "), "{again}");
}

#[test]
fn loss_falls_on_the_demo() {
    let ws = Ws::demo();
    ws.ok(&["run", TRAIN, "-p", "train.max_steps=120", "-p", "train.eval_every=60"]);
    let m = ws.json(&["show", TRAIN, "--json", "-p", "train.max_steps=120", "-p", "train.eval_every=60"]);
    let path = m["tables"]["curve_steps"]["path"].as_str().unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut losses = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = b.column_by_name("loss").unwrap();
        let l = col.as_any().downcast_ref::<arrow_array::Float64Array>().unwrap();
        losses.extend(l.values().iter().copied());
    }
    assert_eq!(losses.len(), 120);
    let head: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = losses[110..].iter().sum::<f64>() / 10.0;
    assert!(tail < head - 2.0, "loss {head:.3} -> {tail:.3}");
}

#[test]
fn a_killed_training_resumes_to_the_same_weights() {
    let args = ["run", TRAIN, "-p", "train.max_steps=80", "-p", "train.checkpoint_every=10", "-p", "train.eval_every=40"];
    let show = ["show", TRAIN, "--json", "-p", "train.max_steps=80", "-p", "train.checkpoint_every=10", "-p", "train.eval_every=40"];
    let reference = Ws::demo();
    reference.ok(&args);
    let expected = file_hash(&reference.json(&show), "model.safetensors");

    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .current_dir(ws.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let work = ws.path("artifacts/.rows/train");
    let checkpoints = || {
        std::fs::read_dir(&work)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|k| std::fs::read_dir(k.path()).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
            .count()
    };
    let started = std::time::Instant::now();
    while checkpoints() < 2 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(checkpoints() >= 1, "a checkpoint was written before the kill");
    assert!(ws.artifacts(TRAIN).is_empty(), "a killed run publishes nothing");

    ws.ok(&args);
    let m = ws.json(&show);
    assert!(m["stats"]["resumed_from_step"].as_u64().unwrap() >= 10, "{}", m["stats"]);
    assert_eq!(file_hash(&m, "model.safetensors"), expected, "same weights as an uninterrupted run");
}

#[test]
fn vector_size_mismatch_is_explained() {
    let ws = Ws::demo();
    let err = ws.fails(&["run", TRAIN, "-p", "train.dim=32"]);
    assert!(err.contains("16-d") && err.contains("set `train.dim` to 16"), "{err}");
    assert!(ws.artifacts(TRAIN).is_empty());
}
