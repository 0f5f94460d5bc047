//! What training leaves for people to look at: TensorBoard event files, live during the run
//! and published with the artifact, read back by TensorBoard's own reader (every scalar of
//! every step once, across a kill and a resume, the losses those of `curve_steps`); the
//! growing curve that `show` reports while a run is unpublished; and the metadata in the
//! header of `model.safetensors`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::Float64Array;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use common::Ws;
use common::demo::{self, TRAIN};
use serde_json::Value;

/// The Python with TensorBoard that scripts/test.sh sets up.
fn python() -> PathBuf {
    let venv = common::repo().join("target/test-venv/bin/python");
    let python = std::env::var_os("IAMM_TEST_PYTHON").map(PathBuf::from).unwrap_or(venv);
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once (it makes target/test-venv with TensorBoard and sets \
         IAMM_TEST_PYTHON), or point IAMM_TEST_PYTHON at a Python that has the `tensorboard` package",
        python.display()
    );
    python
}

/// TensorBoard's reading of `logdir`, as `tensorboard --logdir` loads it: for each run, each
/// scalar tag's (step, value) pairs; and for each event file under `files` (a folder), the
/// steps of its `train/loss` events as written. (Member names' brackets are glob syntax.)
const READ: &str = r#"
import glob, json, os, sys
from tensorboard.backend.event_processing import event_file_loader, event_multiplexer
logdir, files = sys.argv[1], sys.argv[2]
mux = event_multiplexer.EventMultiplexer(size_guidance={"scalars": 0})
mux.AddRunsFromDirectory(logdir)
mux.Reload()
runs = {}
for run in mux.Runs():
    acc = mux.GetAccumulator(run)
    runs[run] = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
written = {}
for path in sorted(glob.glob(os.path.join(glob.escape(files), "**", "events.out.tfevents.*"), recursive=True)):
    events = event_file_loader.LegacyEventFileLoader(path).Load()
    written[os.path.basename(path)] = [
        e.step for e in events if e.HasField("summary") and any(v.tag == "train/loss" for v in e.summary.value)
    ]
print(json.dumps({"runs": runs, "files": written}))
"#;

fn tensorboard_reads(python: &Path, logdir: &Path, files: &Path) -> Value {
    let out = Command::new(python).arg("-c").arg(READ).arg(logdir).arg(files).output().expect("run python");
    assert!(out.status.success(), "TensorBoard's reader failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from the reader")
}

fn f64s(t: &arrow_array::RecordBatch, name: &str) -> Vec<f64> {
    t.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec()
}

fn steps(t: &arrow_array::RecordBatch) -> Vec<u64> {
    t.column_by_name("step").unwrap().as_primitive::<UInt64Type>().values().to_vec()
}

/// A scalar's (step, value) pairs in a run read by TensorBoard.
fn scalar(run: &Value, tag: &str) -> Vec<(u64, f64)> {
    let points = run[tag].as_array().unwrap_or_else(|| panic!("no scalar {tag} in {run}"));
    points.iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect()
}

/// TensorBoard stores 32-bit floats: the curve's values as they read back.
fn as_stored(values: &[f64]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v as f32)).collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tensorboard_reads_each_step_once_live_and_across_a_resume_with_the_curves_values() {
    let python = python();
    let params = ["-p", "train.max_steps=60", "-p", "train.checkpoint_every=20", "-p", "train.eval_every=20"];
    let run: Vec<&str> = ["run", TRAIN].into_iter().chain(params).collect();
    let show: Vec<&str> = ["show", TRAIN].into_iter().chain(params).collect();
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let mut child = Command::new(common::BIN)
        .args(&run)
        .current_dir(ws.dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let work_dir = || {
        std::fs::read_dir(ws.path("artifacts/.rows/train")).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir())
    };
    wait_for("the checkpoint of update 20", || work_dir().is_some_and(|w| w.join("step-00000020").is_dir()));
    let work = work_dir().unwrap();
    let board = work.join(format!("tensorboard/{TRAIN}.full"));
    let event_file = || std::fs::read_dir(&board).unwrap().flatten().next().unwrap().path();
    // A few updates past the checkpoint, which the resumed run makes again.
    let size = std::fs::metadata(event_file()).unwrap().len();
    wait_for("updates past the checkpoint", || std::fs::metadata(event_file()).unwrap().len() > size + 600);

    // While it runs, `show` reports the curve so far (written at each checkpoint and validation).
    let shown = ws.ok(&show);
    assert!(shown.contains("unpublished run") && shown.contains(&work.display().to_string()), "{shown}");
    assert!(shown.contains("csv curve_steps.csv: 20 rows so far") && shown.contains("  step=20 loss="), "{shown}");
    assert!(shown.contains("csv curve_evals.csv: 1 rows so far") && shown.contains("  step=20 ppl="), "{shown}");
    let _ = child.kill();
    let _ = child.wait();

    // The killed run's log is there for TensorBoard, past its last checkpoint.
    let live = tensorboard_reads(&python, &ws.path("artifacts"), &board);
    let live_run = format!(".rows/train/{}/tensorboard/{TRAIN}.full", work.file_name().unwrap().to_string_lossy());
    let live_steps = scalar(&live["runs"][&live_run], "train/loss");
    assert!(live_steps.len() > 20, "{live_run}: {} steps", live_steps.len());

    ws.ok(&run);
    let m = ws.json(&["show", TRAIN, "--json"].into_iter().chain(params).collect::<Vec<_>>());
    assert_eq!(m["stats"]["resumed_from_step"], 20, "{}", m["stats"]);
    assert!(!work.exists(), "the work folder goes once the artifact is published");
    let published = Path::new(m["dir"].as_str().unwrap()).join("tensorboard");
    let read = tensorboard_reads(&python, &ws.path("artifacts"), &published);

    // Two files, the killed process's holding updates the resumed one wrote again.
    let files: Vec<Vec<u64>> = read["files"].as_object().unwrap().values().map(|v| serde_json::from_value(v.clone()).unwrap()).collect();
    assert_eq!(files.len(), 2, "{}", read["files"]);
    assert!(files[0].len() > 20 && files[1].first() == Some(&21), "{}", read["files"]);

    let name = format!("{TRAIN}/{}/tensorboard/{TRAIN}.full", m["key"].as_str().unwrap());
    let board = &read["runs"][&name];
    let mut tags: Vec<&str> = board.as_object().unwrap_or_else(|| panic!("no run {name}: {read}")).keys().map(|k| k.as_str()).collect();
    tags.sort();
    let expected = ["train/accuracy", "train/emotion_loss", "train/loss", "train/lr", "train/nll", "train/ppl", "valid/accuracy", "valid/ppl"];
    assert_eq!(tags, expected);

    let curve = common::table(&m, "curve_steps");
    let curve_steps = steps(&curve);
    assert_eq!(curve_steps, (1..=60).collect::<Vec<u64>>());
    for (tag, column) in [("train/loss", "loss"), ("train/nll", "nll"), ("train/emotion_loss", "emotion_loss"), ("train/lr", "lr")] {
        let points = scalar(board, tag);
        let at: Vec<u64> = points.iter().map(|p| p.0).collect();
        assert_eq!(at, curve_steps, "{tag}: every update once");
        let values: Vec<f64> = points.iter().map(|p| p.1).collect();
        assert_eq!(values, as_stored(&f64s(&curve, column)), "{tag} is curve_steps.{column}");
    }
    let evals = common::table(&m, "curve_evals");
    for (tag, column) in [("valid/ppl", "ppl"), ("valid/accuracy", "accuracy")] {
        let points = scalar(board, tag);
        assert_eq!(points.iter().map(|p| p.0).collect::<Vec<_>>(), vec![20, 40, 60], "{tag}");
        assert_eq!(points.iter().map(|p| p.1).collect::<Vec<_>>(), as_stored(&f64s(&evals, column)), "{tag}");
    }
}

/// The JSON header of a safetensors file (8 bytes of length, little-endian, then JSON).
fn safetensors_header(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

#[test]
fn the_published_weights_carry_stage_key_step_and_params() {
    let ws = Ws::demo();
    let wo_ws = demo::variant("train", "wo_ws");
    let params = ["-p", "train[variant=wo_ws].max_steps=30", "-p", "train[variant=wo_ws].eval_every=10"];
    ws.ok(&["run", &wo_ws].into_iter().chain(params).collect::<Vec<_>>());
    let m = ws.json(&["show", &wo_ws, "--json"].into_iter().chain(params).collect::<Vec<_>>());
    let header = safetensors_header(&Path::new(m["dir"].as_str().unwrap()).join("model.safetensors"));
    let meta = header["__metadata__"].as_object().unwrap_or_else(|| panic!("no __metadata__ in {header}"));
    assert_eq!(meta["stage"], wo_ws.as_str());
    assert_eq!(meta["key"], m["key"]);
    assert_eq!(meta["step"], m["stats"]["selected"]["step"].to_string().as_str(), "the selected weights' update");
    let params: Value = serde_json::from_str(meta["params"].as_str().unwrap()).unwrap();
    assert_eq!(params, m["params"]);
    assert_eq!((params["variant"].as_str(), params["max_steps"].as_u64()), (Some("wo_ws"), Some(30)));
    assert_eq!(meta.len(), 4, "{meta:?}");
    // The tensors are all there beside it.
    assert!(header.as_object().unwrap().keys().filter(|k| *k != "__metadata__").count() > 10, "{header}");
}
