//! Parallel runs on the binary: `-j` gives the same tables and weights as one stage at a
//! time; concurrent `run` commands share the store, building each artifact once; a failure
//! stops new work (or, with `--keep-going`, only what depends on it).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::Ws;
use common::demo::{self, TRAIN};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every stage's artifact folder, from `status --json`.
fn artifact_dirs(ws: &Ws) -> BTreeMap<String, PathBuf> {
    let status = ws.status_json();
    status["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap().to_string(), PathBuf::from(s["artifact"].as_str().expect("every stage fresh"))))
        .collect()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// The tensor bytes of a safetensors file (after its header, which holds metadata).
fn tensor_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..].to_vec()
}

/// (start, end) of a stage's run in unix ms, from its manifest.
fn span(m: &Value) -> (f64, f64) {
    let end = m["created_unix_ms"].as_f64().unwrap();
    (end - m["wall_time_s"].as_f64().unwrap() * 1000.0, end)
}

fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn results_do_not_depend_on_jobs() {
    // Four cores for the scheduler (on any machine): two 2-thread trainings run at once.
    let (one, four) = (Ws::demo(), Ws::demo());
    one.ok(&["--threads", "4", "run", "all", "-j", "1"]);
    let out = four.ok(&["--threads", "4", "run", "all", "-j", "4"]);
    let wo_ea = demo::variant("train", "wo_ea");
    // The name column is padded to the longest name: compare words.
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(out.lines().any(|l| words(l) == format!("start {TRAIN} 2 threads")), "{out}");
    let waiting = format!("  waiting {}: needs 2 core(s); 4 of 4 held by {TRAIN}, {wo_ea}", demo::variant("train", "wo_ia"));
    assert!(out.contains(&waiting), "{waiting}\nnot in\n{out}");

    let (a, b) = (artifact_dirs(&one), artifact_dirs(&four));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let (mut tables, mut weights) = (0, 0);
    for (stage, dir) in &a {
        let (ma, mb) = (manifest(dir), manifest(&b[stage]));
        assert_eq!(ma["key"], mb["key"], "{stage}");
        for (file, digest) in ma["content"].as_object().unwrap() {
            if file.ends_with(".parquet") {
                assert_eq!(std::fs::read(dir.join(file)).unwrap(), std::fs::read(b[stage].join(file)).unwrap(), "{stage}/{file}");
                assert_eq!(digest, &mb["content"][file]);
                tables += 1;
            } else if file == "model.safetensors" {
                assert_eq!(tensor_bytes(&dir.join(file)), tensor_bytes(&b[stage].join(file)), "{stage}/{file}");
                weights += 1;
            }
        }
    }
    assert!(tables > 40, "{tables} tables compared");
    assert_eq!(weights, 4, "the four trained variants");
    let trains = [TRAIN, wo_ea.as_str()].map(|s| span(&manifest(&b[s])));
    assert!(overlap(trains[0], trains[1]), "-j 4 trained two variants at once: {trains:?}");
}

fn spawn(ws: &Ws, args: &[&str]) -> Child {
    Command::new(common::BIN)
        .args(args)
        .current_dir(ws.dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iamm-pipe")
}

#[test]
fn two_runs_on_different_stages_proceed_together() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let (wo_ea, wo_ia) = (demo::variant("train", "wo_ea"), demo::variant("train", "wo_ia"));
    let (a, b) = (spawn(&ws, &["run", &wo_ea]), spawn(&ws, &["run", &wo_ia]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{a:?}\n{b:?}");
    assert!(stdout(&a).contains(&format!("ran     {wo_ea}")) && stdout(&b).contains(&format!("ran     {wo_ia}")));
    assert!(!stdout(&a).contains("waiting") && !stdout(&b).contains("waiting"), "{}{}", stdout(&a), stdout(&b));
    let dirs = artifact_dirs_of(&ws, &[&wo_ea, &wo_ia]);
    let (x, y) = (span(&manifest(&dirs[0])), span(&manifest(&dirs[1])));
    assert!(overlap(x, y), "the two trainings ran at the same time: {x:?} {y:?}");
}

fn artifact_dirs_of(ws: &Ws, stages: &[&str]) -> Vec<PathBuf> {
    stages.iter().map(|s| PathBuf::from(ws.json(&["show", s, "--json"])["dir"].as_str().unwrap())).collect()
}

/// Whether some process holds the (flock) lock file at `path`.
fn held(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    match f.try_lock_shared() {
        Ok(()) => {
            f.unlock().unwrap();
            false
        }
        Err(_) => true,
    }
}

#[test]
fn a_second_run_of_the_same_stage_waits_then_reports_it_cached() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let status = ws.status_json();
    let key = status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == TRAIN).unwrap()["key"].as_str().unwrap().to_string();
    let lock = ws.path(&format!("artifacts/{TRAIN}/.lock-{key}"));
    let mut first = spawn(&ws, &["run", TRAIN]);
    while !held(&lock) {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended before it was seen holding the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = first.id();
    let err = ws.fails(&["run", TRAIN, "--no-wait"]);
    assert!(err.contains(&format!("stage `{TRAIN}` failed: another iamm-pipe command (pid {pid} since unix time")), "{err}");
    let second = spawn(&ws, &["run", TRAIN]);
    let (first, second) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    assert!(first.status.success() && second.status.success(), "{first:?}\n{second:?}");
    assert!(stdout(&first).contains(&format!("ran     {TRAIN}")), "{}", stdout(&first));
    let text = stdout(&second);
    assert!(text.contains(&format!("  waiting {TRAIN}: another iamm-pipe command (pid {pid} since unix time")), "{text}");
    assert!(text.contains(&format!("cached  {TRAIN}")) && text.contains("0 ran, 4 cached"), "{text}");
    assert_eq!(ws.artifacts(TRAIN).len(), 1);
}

/// `train[dim=20]` fails at once (the vectors are 16-d) while `train[dim=16]` trains 40 updates.
fn failing() -> String {
    let matrix = common::SMALL.replace(
        "params: {variant: wo_ia, dim: 16, max_steps: 4,",
        "matrix: {dim: [16, 20]}\n    params: {variant: wo_ia, max_steps: 40,",
    );
    assert_ne!(matrix, common::SMALL);
    format!("{matrix}  evaluate:\n    deps: [tokenize, train]\n")
}

#[test]
fn a_failure_stops_new_work_lets_siblings_finish_and_keep_going_runs_the_rest() {
    let ws = Ws::new(&failing());
    let out = ws.run(&["--threads", "4", "run", "-j", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let (text, err) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(text.contains("  failed  train[dim=20]"), "{text}");
    assert!(text.contains("  ran     train[dim=16]"), "the running sibling finishes: {text}");
    assert!(err.contains("stage `train[dim=20]` failed: the word vectors are 16-d but the model is 20-d"), "{err}");
    assert!(err.contains("2 stage(s) did not run; --keep-going runs every stage that does not depend on a failure"), "{err}");
    assert!(ws.artifacts("train[dim=20]").is_empty(), "no artifact");
    assert!(ws.artifacts("evaluate[dim=16]").is_empty(), "no new work after a failure");

    let out = ws.run(&["--threads", "4", "run", "-j", "2", "--keep-going"]);
    assert_eq!(out.status.code(), Some(2));
    let (text, err) = (stdout(&out), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(text.contains("  cached  train[dim=16]") && text.contains("  ran     evaluate[dim=16]"), "{text}");
    assert!(err.contains("stage `train[dim=20]` failed:") && err.contains("1 stage(s) did not run (they depend on a failed stage)"), "{err}");
    assert!(ws.artifacts("evaluate[dim=20]").is_empty());
    let temporary = std::fs::read_dir(ws.path("artifacts/train[dim=20]")).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"));
    assert!(!temporary, "a failed stage leaves no half artifact");
}
