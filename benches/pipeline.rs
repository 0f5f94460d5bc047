//! `cargo bench --bench pipeline`: wall time and peak memory of the pipeline binary on the
//! real EmpatheticDialogues (../shared/data): a cold ingest + tokenize of all three splits,
//! and a no-op `run all` when everything is cached; then, on the shipped demo, `run all -j 2`
//! against `-j 1` (wall time and CPU utilisation) and a no-op `run all` of a 3-seed x
//! 4-variant matrix. `cargo bench --bench pipeline -- demo` runs only the demo figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_iamm-pipe");

fn main() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("iamm-pipe pipeline benchmark ({cores} cores, load average before: {})", load_average());
    let only_demo = std::env::args().skip(1).any(|a| a == "demo");
    if !only_demo {
        real_ed();
    }
    parallel_demo();
    matrix_noop(30);
}

fn real_ed() {
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
    cold("ingest + tokenize, cold cache (3 splits, Punkt)", &plain, 5);
    cold("ingest + tokenize + 300-d vectors, cold cache", &with_vectors, 3);
    noop(&plain, 30);
}

/// The shipped demo (`run all`) at `-j 1` and `-j 2`, each in a fresh workspace.
fn parallel_demo() {
    let pipeline = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.yaml")).expect("pipeline.yaml");
    println!("the demo's `run all`, fresh workspace, one run each");
    for jobs in ["1", "2"] {
        let ws = demo_workspace(&pipeline);
        let run = timed(&ws, &["run", "all", "-j", jobs]);
        println!(
            "  -j {jobs}  wall {:.1} s  CPU {:.1} s  utilisation {:.2} cores",
            run.secs,
            run.cpu_secs,
            run.cpu_secs / run.secs
        );
        let _ = std::fs::remove_dir_all(&ws);
    }
}

/// A no-op `run all` of `tests/matrix-pipeline.yaml` with train as a 3-seed x 4-variant
/// matrix: 12 trainings of 4 updates, their evaluations, 3 analyses, 3 human evaluations and a
/// report over all of them, 34 stages.
fn matrix_noop(reps: usize) {
    let pipeline = include_str!("../tests/matrix-pipeline.yaml")
        .replace("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: [1, 2, 3], variant: [full, wo_ea, wo_ia, wo_ws]}");
    let ws = demo_workspace(&pipeline);
    timed(&ws, &["run", "all", "-j", "0"]);
    let mut times: Vec<f64> = (0..reps).map(|_| timed(&ws, &["run", "all"]).secs).collect();
    report("no-op `run all` of a 3-seed x 4-variant matrix (34 stages), everything cached", &mut times);
    let _ = std::fs::remove_dir_all(&ws);
}

fn demo_workspace(pipeline: &str) -> PathBuf {
    let ws = workspace(pipeline);
    let status = Command::new("cp").arg("-r").arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")).arg(&ws).status();
    assert!(status.is_ok_and(|s| s.success()), "copy the demo");
    ws
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// Runs `run all` in fresh workspaces and reports wall time and peak RSS.
fn cold(label: &str, pipeline: &str, reps: usize) {
    let mut times = Vec::new();
    let mut peak_kb = 0;
    for _ in 0..reps {
        let ws = workspace(pipeline);
        let run = timed(&ws, &["run", "all"]);
        times.push(run.secs);
        peak_kb = peak_kb.max(run.max_rss_kb);
        let _ = std::fs::remove_dir_all(&ws);
    }
    report(label, &mut times);
    println!("  peak memory  {:.0} MB", peak_kb as f64 / 1024.0);
}

fn noop(pipeline: &str, reps: usize) {
    let ws = workspace(pipeline);
    timed(&ws, &["run", "all"]);
    let mut times: Vec<f64> = (0..reps).map(|_| timed(&ws, &["run", "all"]).secs).collect();
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

/// What one run of the binary cost.
struct Timed {
    secs: f64,
    /// user + system CPU time of the child.
    cpu_secs: f64,
    /// Peak resident set in KB.
    max_rss_kb: i64,
}

fn timed(dir: &Path, args: &[&str]) -> Timed {
    let start = Instant::now();
    // Reaped by wait4 below, which also reports the child's peak memory and CPU time.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is fully written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "iamm-pipe {args:?} failed");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Timed { secs, cpu_secs: tv(usage.ru_utime) + tv(usage.ru_stime), max_rss_kb: usage.ru_maxrss }
}
