//! The store trusts nothing on disk: `clean` and `gc` never delete outside it, damaged
//! artifacts are found by their content hashes and rebuilt, interrupted removals and writes
//! leave nothing that looks complete, and a run opens no network connection.

mod common;

use std::path::Path;
use std::process::Command;

use common::{SMALL, Ws};


/// Every file under `dir` with its content, to prove that nothing there changed.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn state_of(ws: &Ws, stage: &str) -> serde_json::Value {
    let status = ws.status_json();
    status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == stage).unwrap().clone()
}

/// Flips one byte in the middle of a file and puts its mtime back, as a hostile edit would.
fn flip_byte(path: &Path) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(path, &bytes).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_modified(mtime).unwrap();
}

#[test]
fn clean_takes_only_stage_names_and_never_leaves_the_store() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("sub/precious.txt"), "keep me").unwrap();
    let ws = Ws::new(SMALL);
    ws.ok(&["run", "tokenize"]);
    let before_ws = contents(ws.dir.path());
    let before_victim = contents(&victim);

    let abs = victim.display().to_string();
    for name in ["../demo", "..", ".", "../../victim", abs.as_str(), "ingest/..", "tokenize/../../demo", "nosuchstage", ""] {
        let err = ws.fails(&["clean", name]);
        assert!(err.contains("`clean` takes the names of its stages (ingest, tokenize, train)"), "{name:?}: {err}");
        assert_eq!(contents(ws.dir.path()), before_ws, "`clean {name}` changed the workspace");
    }
    assert_eq!(contents(&victim), before_victim);

    // A stage folder that is a link out of the store is refused, and --all leaves it alone.
    std::fs::remove_dir_all(ws.path("artifacts/tokenize")).unwrap();
    std::os::unix::fs::symlink(&victim, ws.path("artifacts/tokenize")).unwrap();
    let err = ws.fails(&["clean", "tokenize"]);
    assert!(err.contains("is not a folder of the store"), "{err}");
    let out = ws.ok(&["clean", "--all"]);
    assert!(out.contains("removed 1 artifact(s) of `ingest`"), "{out}");
    assert!(!out.contains("tokenize"), "the link is not a stage folder: {out}");
    assert_eq!(contents(&victim), before_victim);
    assert!(ws.path("demo/ed/train.csv").exists());
}

#[test]
fn gc_removes_a_linked_artifact_as_a_link() {
    let ws = Ws::new(SMALL);
    ws.ok(&["run", "ingest"]);
    let key = ws.artifacts("ingest")[0].clone();
    // An artifact-looking folder outside the store, linked in under another key.
    let outside = tempfile::tempdir().unwrap();
    let fake_key = "0123456789abcdef0123";
    let manifest = std::fs::read_to_string(ws.path(&format!("artifacts/ingest/{key}/manifest.json"))).unwrap();
    std::fs::write(outside.path().join("manifest.json"), manifest.replace(&key, fake_key)).unwrap();
    std::fs::write(outside.path().join("precious.txt"), "keep me").unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path(&format!("artifacts/ingest/{fake_key}"))).unwrap();
    let out = ws.ok(&["gc"]);
    assert!(out.contains(&format!("removed ingest/{fake_key}")), "{out}");
    assert!(!ws.path(&format!("artifacts/ingest/{fake_key}")).exists());
    assert_eq!(std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(), "keep me");
    assert_eq!(ws.artifacts("ingest"), vec![key]);
}

#[test]
fn a_damaged_or_missing_file_is_found_reported_and_rebuilt() {
    let ws = Ws::new(SMALL);
    ws.ok(&["run", "all"]);
    assert!(ws.ok(&["verify"]).contains("verify: 3 artifact(s) intact"));
    let tok_key = ws.artifacts("tokenize")[0].clone();
    let tok_dir = ws.path(&format!("artifacts/tokenize/{tok_key}"));
    let original = std::fs::read(tok_dir.join("examples_test.parquet")).unwrap();

    flip_byte(&tok_dir.join("examples_test.parquet"));
    let s = state_of(&ws, "tokenize");
    assert_eq!(s["state"], "damaged", "{s}");
    assert!(s["reasons"][0].as_str().unwrap().contains("`examples_test.parquet` is damaged"), "{s}");
    assert_eq!(state_of(&ws, "train")["state"], "fresh", "downstream keys do not depend on outputs");
    let err = ws.fails(&["run", "all", "--no-rebuild"]);
    assert!(err.contains("examples_test.parquet") && err.contains("without --no-rebuild"), "{err}");
    let out = ws.run(&["verify", "tokenize"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("DAMAGED  tokenize/{tok_key}")));

    let run = ws.ok(&["run", "all"]);
    assert!(run.contains("ran     tokenize") && run.contains("cached  train"), "{run}");
    assert_eq!(std::fs::read(tok_dir.join("examples_test.parquet")).unwrap(), original, "rebuilt bit for bit");

    // A deleted table, and a flipped byte in the weights.
    std::fs::remove_file(tok_dir.join("vocab.parquet")).unwrap();
    let train_dir = ws.path(&format!("artifacts/train/{}", ws.artifacts("train")[0]));
    flip_byte(&train_dir.join("model.safetensors"));
    let s = state_of(&ws, "tokenize");
    assert!(s["reasons"][0].as_str().unwrap().contains("`vocab.parquet` is missing"), "{s}");
    let s = state_of(&ws, "train");
    assert!(s["reasons"][0].as_str().unwrap().contains("`model.safetensors` is damaged"), "{s}");
    assert_eq!(ws.run(&["status"]).status.code(), Some(1));
    let run = ws.ok(&["run", "all"]);
    assert!(run.contains("ran     tokenize") && run.contains("ran     train"), "{run}");
    let verify = ws.ok(&["verify"]);
    assert!(verify.contains("verify: 3 artifact(s) intact") && verify.contains(", 0 damaged"), "{verify}");
    assert!(ws.ok(&["run", "all"]).contains("0 ran, 3 cached"));
}

#[test]
fn an_edit_with_its_mtime_restored_makes_the_stage_stale() {
    let ws = Ws::new(SMALL);
    ws.ok(&["run", "ingest"]);
    let csv = ws.path("demo/ed/test.csv");
    flip_byte(&csv);
    let s = state_of(&ws, "ingest");
    assert_eq!(s["state"], "stale", "{s}");
    assert!(s["reasons"][0].as_str().unwrap().contains("input `source` changed"), "{s}");
}

#[test]
fn leftovers_in_row_caches_and_the_trash_are_swept() {
    let ws = Ws::new(SMALL);
    ws.ok(&["run", "ingest"]);
    let leftovers = [
        "artifacts/.rows/train/00aa/.tmp-step-00000020-4242",
        "artifacts/.rows/comet/model-settings/.tmp-shard-0000-1-00000",
        "artifacts/.trash/tokenize-4242-0",
    ];
    for l in leftovers {
        std::fs::create_dir_all(ws.path(l)).unwrap();
        std::fs::write(ws.path(l).join("half.parquet"), b"half").unwrap();
    }
    std::fs::create_dir_all(ws.path("artifacts/.rows/train/00aa/step-00000010")).unwrap();
    ws.ok(&["run", "tokenize"]);
    for l in leftovers {
        assert!(!ws.path(l).exists(), "{l} was not swept");
    }
    assert!(ws.path("artifacts/.rows/train/00aa/step-00000010").exists(), "complete checkpoints stay");
}

#[test]
fn a_killed_clean_never_leaves_an_artifact_that_looks_complete() {
    let ws = Ws::new(SMALL);
    for delay_ms in [5u64, 20, 60] {
        ws.ok(&["run", "tokenize"]);
        // Many extra files make the deletion slow enough to be killed in the middle.
        let dir = ws.path(&format!("artifacts/tokenize/{}", ws.artifacts("tokenize")[0]));
        std::fs::create_dir_all(dir.join("bulk")).unwrap();
        for i in 0..20_000 {
            std::fs::write(dir.join(format!("bulk/{i}")), b"x").unwrap();
        }
        let mut child = Command::new(common::BIN).args(["clean", "tokenize"]).current_dir(ws.dir.path()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let s = state_of(&ws, "tokenize");
        assert!(s["state"] == "fresh" || s["state"] == "missing", "after a kill at {delay_ms} ms: {s}");
        ws.ok(&["run", "tokenize", "--no-rebuild"]);
        ws.ok(&["clean", "tokenize"]);
    }
    assert!(!ws.path("artifacts/.trash").exists() || std::fs::read_dir(ws.path("artifacts/.trash")).unwrap().next().is_none());
}

#[test]
fn comet_opens_no_network_socket() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(strace.is_ok(), "this test needs strace (scripts/test.sh installs it with apt-get)");
    let ws = Ws::demo();
    let log = ws.path("strace.log");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=socket,connect", "-o", log.to_str().unwrap(), common::BIN, "run", "comet"])
        .current_dir(ws.dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ran     comet"));
    let trace = std::fs::read_to_string(&log).unwrap();
    // Local sockets (nscd user lookups when HOME is unset, for example) never leave the machine.
    let calls: Vec<&str> = trace.lines().filter(|l| l.contains("AF_INET")).collect();
    assert!(calls.is_empty(), "network calls during comet:\n{}", calls.join("\n"));
}
