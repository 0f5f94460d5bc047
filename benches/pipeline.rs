//! `cargo bench --bench pipeline`: wall time and peak memory of the pipeline binary on the
//! real EmpatheticDialogues (../shared/data): a cold ingest + tokenize of all three splits,
//! and a no-op `run all` when everything is cached.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_iamm-pipe");

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let data = data.canonicalize().expect("../shared/data beside the checkout");
    let punkt = data.join("golden/punkt_english_params");
    let plain = format!(
        "stages:\n  ingest:\n    params: {{source: {}}}\n  tokenize:\n    deps: [ingest]\n    params: {{punkt: {}}}\n",
        data.join("ed").display(),
        punkt.display()
    );
    let with_vectors = plain.replace(
        "params: {punkt:",
        &format!("params: {{vectors: {}, punkt:", data.join("vectors/spacy-en-md.300d.ed-vocab.txt").display()),
    );
    println!("iamm-pipe pipeline benchmark ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    cold("ingest + tokenize, cold cache (3 splits, Punkt)", &plain, 5);
    cold("ingest + tokenize + 300-d vectors, cold cache", &with_vectors, 3);
    noop(&plain, 30);
}

/// Runs `run all` in fresh workspaces and reports wall time and peak RSS.
fn cold(label: &str, pipeline: &str, reps: usize) {
    let mut times = Vec::new();
    let mut peak_kb = 0;
    for _ in 0..reps {
        let ws = workspace(pipeline);
        let (secs, rss) = timed(&ws, &["run", "all"]);
        times.push(secs);
        peak_kb = peak_kb.max(rss);
        let _ = std::fs::remove_dir_all(&ws);
    }
    report(label, &mut times);
    println!("  peak memory  {:.0} MB", peak_kb as f64 / 1024.0);
}

fn noop(pipeline: &str, reps: usize) {
    let ws = workspace(pipeline);
    timed(&ws, &["run", "all"]);
    let mut times: Vec<f64> = (0..reps).map(|_| timed(&ws, &["run", "all"]).0).collect();
    report("no-op `run all`, everything cached", &mut times);
    let _ = std::fs::remove_dir_all(&ws);
}

fn report(label: &str, times: &mut [f64]) {
    times.sort_by(f64::total_cmp);
    println!("{label}\n  wall  median {:.3} s  min {:.3} s  max {:.3} s  ({} runs)",
        times[times.len() / 2], times[0], times[times.len() - 1], times.len());
}

fn workspace(pipeline: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iamm-bench-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("bench workspace");
    std::fs::write(dir.join("pipeline.yaml"), pipeline).expect("pipeline.yaml");
    dir
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Wall seconds and the child's peak resident set in KB.
fn timed(dir: &Path, args: &[&str]) -> (f64, i64) {
    let start = Instant::now();
    // Reaped by wait4 below, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(BIN).args(args).current_dir(dir).stdout(std::process::Stdio::null()).spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is fully written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "iamm-pipe {args:?} failed");
    (secs, usage.ru_maxrss)
}
