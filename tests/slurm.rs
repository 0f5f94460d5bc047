//! `run --executor slurm` on a real single-node Slurm cluster (slurmctld, slurmd and munged
//! started by scripts/slurm-local.sh in a scratch folder, stopped when the test ends): the jobs
//! build ingest -> comet (an array of 3 shards and a merge job) -> tokenize -> one training, and
//! publish what a local run publishes; a cancelled training resumes from its checkpoint when
//! submitted again. Needs root (the daemons run as root) and Debian's
//! slurm-wlm and munge, which the script installs with apt-get when missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Ws;

/// The demo's ingest, comet and tokenize, and a 4-update training of one variant.
const PIPELINE: &str = "\
stages:
  ingest:
    params: {source: demo/ed}
  comet:
    deps: [ingest]
    params: {model: demo/comet/tiny-bart, threads: 1}
  tokenize:
    deps: [ingest, comet]
    params: {vectors: demo/vectors/demo-vectors.16d.txt}
  train:
    deps: [tokenize]
    matrix: {variant: [wo_ia]}
    params: {dim: 16, max_steps: 4, warmup: 4, eval_every: 4, eval_after: 0, checkpoint_every: 4}
    slurm: {time: 10, mem: 2G}
";

const STAGES: [&str; 4] = ["ingest", "comet", "tokenize", "train[variant=wo_ia]"];

/// The local cluster, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    conf: String,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(common::repo().join("scripts/slurm-local.sh")).arg("start").arg(dir.path()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "the local Slurm cluster did not start: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let conf = stdout.trim().strip_prefix("export SLURM_CONF=").unwrap_or_else(|| panic!("no SLURM_CONF in {stdout}")).to_string();
        Cluster { dir, conf }
    }

    fn run(&self, ws: &Ws, args: &[&str]) -> Output {
        Command::new(common::BIN)
            .args(args)
            .current_dir(ws.dir.path())
            .env("SLURM_CONF", &self.conf)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap()
    }

    fn ok(&self, ws: &Ws, args: &[&str]) -> String {
        let out = self.run(ws, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "iamm-pipe {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(common::repo().join("scripts/slurm-local.sh")).arg("stop").arg(self.dir.path()).status();
    }
}

/// Stage -> (key, content hash of each published table).
fn published(ws: &Ws) -> Vec<(String, String, Vec<String>)> {
    STAGES
        .iter()
        .map(|s| {
            let m = ws.json(&["show", s, "--json"]);
            let tables = m["tables"].as_object().unwrap().values().map(|t| hash(Path::new(t["path"].as_str().unwrap()))).collect();
            (s.to_string(), m["key"].as_str().unwrap().to_string(), tables)
        })
        .collect()
}

fn hash(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(ext)).collect();
    out.sort();
    out
}

#[test]
fn slurm_jobs_publish_what_a_local_run_publishes() {
    let local = Ws::new(PIPELINE);
    local.ok(&["run", "all"]);
    let expected = published(&local);

    let cluster = Cluster::start();
    let ws = Ws::new(PIPELINE);
    let submit = ["run", "all", "--executor", "slurm", "--array-size", "3", "--cpus", "1"];

    // The scripts, without submitting: a member's name is quoted, the shards are an array.
    let dry = cluster.ok(&ws, &[&submit[..], &["--dry-run"]].concat());
    assert!(dry.contains("run --no-deps --shard \"$SLURM_ARRAY_TASK_ID\"/3 comet"), "{dry}");
    assert!(dry.contains(" --array=0-2 "), "{dry}");
    assert!(dry.contains("run --no-deps 'train[variant=wo_ia]'"), "{dry}");
    assert!(dry.contains("#SBATCH --cpus-per-task=2\n#SBATCH --mem=2G\n#SBATCH --time=10\n"), "{dry}");
    assert!(!ws.path("artifacts/.jobs/submitted.json").exists(), "a dry run submits nothing");

    let out = cluster.ok(&ws, &submit);
    assert_eq!(out.matches("submitted ").count(), 5, "ingest, comet shards, comet, tokenize, train: {out}");
    let err = String::from_utf8_lossy(&cluster.run(&ws, &submit).stderr).into_owned();
    assert!(err.contains("jobs of an earlier submission are still queued or running"), "{err}");

    let done = cluster.ok(&ws, &["jobs", "--wait"]);
    assert_eq!(done.matches(" done").count(), 5, "{done}");
    assert_eq!(published(&ws), expected, "the jobs publish the keys and tables of a local run");

    // Each shard and job left its log and exit status; nothing is left to submit.
    let comet = ws.path("artifacts/.jobs/comet");
    assert_eq!(files(&comet, ".exit").len(), 4, "3 shards and the merge job");
    for exit in files(&comet, ".exit") {
        assert_eq!(std::fs::read_to_string(&exit).unwrap().trim(), "0", "{}", exit.display());
    }
    let shard_log = std::fs::read_to_string(&files(&comet, "_1.log")[0]).unwrap();
    assert!(shard_log.contains("shard 1/3:"), "{shard_log}");
    assert!(cluster.ok(&ws, &submit).contains("nothing to submit"));

    // A held job (per-stage sbatch options) stays queued until cancelled; `jobs` then fails.
    let held = PIPELINE.replace("slurm: {time: 10, mem: 2G}", "slurm: {time: 10, mem: 2G, extra: [--hold]}");
    std::fs::write(ws.path("pipeline.yaml"), held).unwrap();
    cluster.ok(&ws, &["run", "train", "--force", "--executor", "slurm", "--cpus", "1"]);
    let queued = cluster.ok(&ws, &["jobs"]);
    assert!(queued.contains("PENDING (JobHeldUser)"), "{queued}");
    assert!(cluster.ok(&ws, &["jobs", "--cancel"]).contains("cancelled 1 job(s)"));
    let out = cluster.run(&ws, &["jobs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED: ended without an exit status"), "{out:?}");
    assert_eq!(published(&ws), expected, "the cancelled job changed nothing");

    // A training killed by the scheduler resumes from its checkpoint when submitted again, and
    // ends with the weights of an uninterrupted run.
    let longer = PIPELINE.replace("max_steps: 4, warmup: 4, eval_every: 4", "max_steps: 40, warmup: 4, eval_every: 40");
    std::fs::write(local.path("pipeline.yaml"), &longer).unwrap();
    local.ok(&["run", "all"]);
    let weights = |ws: &Ws| {
        let m = ws.json(&["show", "train[variant=wo_ia]", "--json"]);
        hash(&Path::new(m["dir"].as_str().unwrap()).join("model.safetensors"))
    };
    let expected = weights(&local);
    std::fs::write(ws.path("pipeline.yaml"), &longer).unwrap();
    let before = ws.artifacts("train[variant=wo_ia]");
    cluster.ok(&ws, &["run", "all", "--executor", "slurm", "--cpus", "1"]);
    let work = ws.path("artifacts/.rows/train");
    let started = std::time::Instant::now();
    while checkpoints(&work) == 0 && started.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(cluster.ok(&ws, &["jobs", "--cancel"]).contains("cancelled 1 job(s)"));
    assert!(checkpoints(&work) > 0, "a checkpoint was written before the job was cancelled");
    assert_eq!(ws.artifacts("train[variant=wo_ia]"), before, "a cancelled job publishes nothing");
    cluster.ok(&ws, &["run", "all", "--executor", "slurm", "--cpus", "1"]);
    cluster.ok(&ws, &["jobs", "--wait"]);
    let m = ws.json(&["show", "train[variant=wo_ia]", "--json"]);
    assert!(m["stats"]["resumed_from_step"].as_u64().unwrap() >= 4, "{}", m["stats"]);
    assert_eq!(weights(&ws), expected, "the resumed job ends with the weights of a local run");
}

/// Checkpoints of the trainings under `work` (artifacts/.rows/train/<key>/step-*).
fn checkpoints(work: &Path) -> usize {
    let keys = std::fs::read_dir(work).into_iter().flatten().flatten();
    keys.flat_map(|k| std::fs::read_dir(k.path()).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("step-"))
        .count()
}

#[test]
fn bad_slurm_options_name_the_file_and_line() {
    for (options, expected) in [
        ("{tme: 10}", "pipeline.yaml:14: stage `train`, key `slurm.tme`: unknown key; the keys of `slurm:` are partition"),
        ("{cpus: 0}", "key `slurm.cpus`: expected a whole number of at least 1, found 0"),
        ("{time: 1 h}", "key `slurm.time`: expected one word (an sbatch value)"),
        ("{extra: [constraint=a100]}", "key `slurm.extra`: expected a list of sbatch options, each starting with `--`"),
    ] {
        let ws = Ws::new(&PIPELINE.replace("slurm: {time: 10, mem: 2G}", &format!("slurm: {options}")));
        let err = ws.fails(&["run", "all", "--executor", "slurm", "--dry-run"]);
        assert!(err.contains(expected), "{options}: {err}");
    }
}
