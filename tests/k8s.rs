//! `run comet --executor k8s-export`: the Indexed Job of shards and the merge Job are valid
//! Kubernetes (checked against its schema by kubernetes-validate, from scripts/test.sh's venv),
//! and their pods' commands, run here with the workspace where the volume would be mounted,
//! fill the row cache and publish comet's table.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Ws;

/// The Python with kubernetes-validate that scripts/test.sh sets up.
fn python() -> PathBuf {
    let venv = common::repo().join("target/test-venv/bin/python");
    let python = std::env::var_os("IAMM_TEST_PYTHON").map(PathBuf::from).unwrap_or(venv);
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once (it makes target/test-venv with kubernetes-validate and sets \
         IAMM_TEST_PYTHON), or point IAMM_TEST_PYTHON at a Python that has the `kubernetes-validate` package",
        python.display()
    );
    python
}

/// kubernetes-validate's strict verdict (unknown fields are errors) on a manifest: its output
/// when it rejects it.
fn validate(manifest: &Path) -> Result<(), String> {
    let out = Command::new(python()).args(["-m", "kubernetes_validate", "--strict"]).arg(manifest).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(()) } else { Err(text) }
}

fn manifest(path: &Path) -> serde_json::Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs a pod's command here: the volume's mount point is the workspace, `iamm-pipe` this build.
fn run_pod(ws: &Ws, job: &serde_json::Value, index: Option<usize>) {
    let command = &job["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(command[0], "/bin/sh");
    let script = command[2].as_str().unwrap().replace("/workspace", &ws.dir.path().display().to_string());
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).env("PATH", format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()));
    if let Some(i) = index {
        cmd.env("JOB_COMPLETION_INDEX", i.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn exported_jobs_validate_and_their_pods_publish_comet() {
    let ws = Ws::demo();
    ws.ok(&["run", "ingest"]);
    let out = ws.ok(&[
        "run", "comet", "--executor", "k8s-export", "--image", "registry.example/iamm-pipe:1", "--volume-claim", "iamm-work",
        "--array-size", "3", "--array-limit", "2", "-p", "comet.threads=1",
    ]);
    assert!(out.contains("kubectl wait --for=condition=complete --timeout=48h job/iamm-comet-shards"), "{out}");
    let (shards_file, merge_file) = (ws.path("k8s/comet-shards.yaml"), ws.path("k8s/comet-merge.yaml"));
    for file in [&shards_file, &merge_file] {
        validate(file).unwrap_or_else(|e| panic!("{} is not a valid Job: {e}", file.display()));
    }
    // The validator is not lenient: a misspelt field fails it.
    let typo = ws.path("k8s/typo.yaml");
    std::fs::write(&typo, std::fs::read_to_string(&shards_file).unwrap().replace("completionMode", "completionMod")).unwrap();
    assert!(validate(&typo).unwrap_err().contains("completionMod"));

    let shards = manifest(&shards_file);
    assert_eq!(shards["spec"]["completionMode"], "Indexed");
    assert_eq!((shards["spec"]["completions"].as_u64(), shards["spec"]["parallelism"].as_u64()), (Some(3), Some(2)));
    let volume = &shards["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"];
    assert_eq!(volume, "iamm-work");

    for i in 0..3 {
        run_pod(&ws, &shards, Some(i));
    }
    assert!(ws.artifacts("comet").is_empty(), "the shards publish nothing");
    run_pod(&ws, &manifest(&merge_file), None);
    let comet = ws.json(&["show", "comet", "--json", "-p", "comet.threads=1"]);
    assert_eq!(comet["stats"]["source"]["queries_generated"], 0, "the merge found every row in the cache");
    assert!(common::rows(&comet, "knowledge") > 0);
}

#[test]
fn only_one_shardable_stage_is_exported() {
    let ws = Ws::demo();
    let err = ws.fails(&["run", "comet", "--executor", "k8s-export", "--image", "x"]);
    assert!(err.contains("needs --image IMAGE (with iamm-pipe on its PATH) and --volume-claim NAME"), "{err}");
    let err = ws.fails(&["run", "tokenize", "--executor", "k8s-export", "--image", "x", "--volume-claim", "v"]);
    assert!(err.contains("stage `tokenize` (kind tokenize) cannot run in shards"), "{err}");
    assert!(!ws.path("k8s").exists());
}
