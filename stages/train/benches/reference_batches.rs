//! Training throughput at the reference size on the batch shapes of
//! `../shared/data/bench/reference_batches.json` (35 batches of 16 sampled from ED training
//! epochs; the reference PyTorch code trains at 0.904 steps/s on these with 2 threads, 0.583
//! with 1, on this kind of machine).
//!
//! ```sh
//! cargo bench -p iamm-train --bench reference_batches -- --threads 2 [--steps 35] [--warmup 3]
//!     [--variant full|wo_ea|wo_ia|wo_ws] [--profile] [--device cpu|cuda] [--batches FILE]
//! ```
//!
//! `--device cuda` needs `--features cuda`; each phase is then timed after a device
//! synchronisation. `--batches` reads the shapes from another copy of the JSON (a machine
//! without `../shared` beside the checkout).
//!
//! (`IAMM_BENCH_THREADS` also sets the thread count; default 2.) A full training step is what
//! the trainer does per update: collate, loss and gradients (`training::gradients`), Adam with the Noam
//! rate, reading the losses. Each variant runs in a child process of its own so that its peak
//! memory (VmHWM) is its own. `--profile` also times the phases and a standalone vocabulary
//! projection + log-softmax of the batch's target tokens, forward and backward, which is the
//! bulk of the generator's work.
//!
//! The batches have the JSON's exact shapes: per example the token count of each context
//! utterance, the situation and the target (before `[CLS]` / EOS), and the emotion. Ids are
//! random in the vocabulary (23,712, all of ED), which costs the same as real words. COMET
//! knowledge is not in the file: every utterance and the situation get 17 ids per relation
//! after `[CLS]`, xReact 6 (typical lengths of the 5 beams joined, "to"/"none" dropped).
//!
//! The process is set up as `iamm-pipe` sets itself up (`iamm_train::cpu::configure`: no extra
//! candle element-wise workers, freed memory kept for reuse); gemm, the fused kernels and the
//! two half batches of a step use the `RAYON_NUM_THREADS` threads.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use iamm_core::special::{CLS, EOS, SYS, USR};
use iamm_train::training::{Adam, AdamParams, Noam, gradients};
use iamm_train::{Comet, Example, Iamm, IammConfig, Variant, collate};
use serde_json::Value;

const VOCAB: usize = 23_712;
/// The reference PyTorch code on these batches (steps/s), by thread count.
const REFERENCE: [(usize, f64); 2] = [(1, 0.583), (2, 0.904)];
const VARIANTS: [(&str, Variant); 4] =
    [("full", Variant::Full), ("wo_ea", Variant::WithoutEA), ("wo_ia", Variant::WithoutIA), ("wo_ws", Variant::WithoutWS)];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Args {
    threads: usize,
    steps: usize,
    warmup: usize,
    variant: Option<String>,
    profile: bool,
    device: String,
    batches: Option<String>,
}

fn args() -> Result<Args> {
    let mut a = Args {
        threads: match std::env::var("IAMM_BENCH_THREADS") {
            Ok(v) => v.parse().map_err(|_| format!("IAMM_BENCH_THREADS={v}: not a thread count"))?,
            Err(_) => 2,
        },
        steps: 35,
        warmup: 3,
        variant: None,
        profile: false,
        device: "cpu".into(),
        batches: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let count = |name: &str, v: String| v.parse::<usize>().map_err(|_| format!("{name} {v}: not a count"));
        match arg.as_str() {
            "--threads" => a.threads = count("--threads", value("--threads")?)?,
            "--steps" => a.steps = count("--steps", value("--steps")?)?,
            "--warmup" => a.warmup = count("--warmup", value("--warmup")?)?,
            "--variant" => {
                let v = value("--variant")?;
                if !VARIANTS.iter().any(|(n, _)| *n == v) {
                    return Err(format!("--variant {v}: one of full, wo_ea, wo_ia, wo_ws").into());
                }
                a.variant = Some(v);
            }
            "--profile" => a.profile = true,
            "--device" => {
                a.device = value("--device")?;
                if !["cpu", "cuda"].contains(&a.device.as_str()) {
                    return Err(format!("--device {}: cpu or cuda", a.device).into());
                }
            }
            "--batches" => a.batches = Some(value("--batches")?),
            // cargo bench passes `--bench`; the harness has nothing else to filter.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}; see the file's header for the usage").into()),
        }
    }
    if a.threads == 0 || a.steps == 0 {
        return Err("--threads and --steps must be at least 1".into());
    }
    Ok(a)
}

/// Deterministic pseudo-random ids in `7..vocab` (above the special ids).
struct Ids(u64);

impl Ids {
    fn id(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        7 + ((self.0 >> 33) % (VOCAB as u64 - 7)) as u32
    }
    fn seq(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.id()).collect()
    }
}

/// One JSON example (`{"ctx": [lens], "sit": len, "tgt": len, "emo": id}`) as an [`Example`].
fn example(ids: &mut Ids, e: &Value, with_comet: bool, at: &str) -> Result<Example> {
    let len = |v: &Value, what: &str| v.as_u64().map(|n| n as usize).ok_or_else(|| format!("{at}: `{what}` is not a length"));
    let ctx = e["ctx"].as_array().ok_or_else(|| format!("{at}: no `ctx` list"))?;
    let lens = ctx.iter().map(|v| len(v, "ctx")).collect::<std::result::Result<Vec<_>, String>>()?;
    let emotion = len(&e["emo"], "emo")?;
    if lens.is_empty() || emotion >= iamm_core::EMOTIONS.len() {
        return Err(format!("{at}: needs at least one utterance and an emotion below 32").into());
    }
    let context = lens.iter().map(|&n| [vec![CLS], ids.seq(n)].concat()).collect();
    let roles = lens.iter().enumerate().map(|(j, &n)| [vec![CLS], vec![if j % 2 == 0 { USR } else { SYS }; n]].concat()).collect();
    let rel = |ids: &mut Ids, r: usize| if r == 4 { ids.seq(6) } else { [vec![CLS], ids.seq(17)].concat() };
    let comet = with_comet.then(|| Comet {
        context: std::array::from_fn(|r| lens.iter().map(|_| rel(ids, r)).collect()),
        situation: std::array::from_fn(|r| rel(ids, r)),
    });
    Ok(Example {
        context,
        roles,
        situation: [vec![CLS], ids.seq(len(&e["sit"], "sit")?)].concat(),
        target: [ids.seq(len(&e["tgt"], "tgt")?), vec![EOS]].concat(),
        emotion: emotion as u8,
        comet,
    })
}

fn load_batches(file: Option<&str>, with_comet: bool) -> Result<Vec<Vec<Example>>> {
    let path = match file {
        Some(f) => Path::new(f).to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bench/reference_batches.json"),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (the shared data beside the checkout)", path.display()))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut ids = Ids(json["seed"].as_u64().unwrap_or(20));
    let batches = json["batches"].as_array().ok_or_else(|| format!("{}: no `batches` list", path.display()))?;
    batches
        .iter()
        .enumerate()
        .map(|(b, batch)| {
            let batch = batch.as_array().ok_or_else(|| format!("{}: batch {b} is not a list", path.display()))?;
            batch.iter().enumerate().map(|(i, e)| example(&mut ids, e, with_comet, &format!("batch {b} example {i}"))).collect()
        })
        .collect()
}

/// `VmHWM` (peak resident memory) of this process in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kb.map(|kb| kb / 1024.0).unwrap_or(f64::NAN)
}

/// CPU time of this process (user + system, all threads) in ms from `/proc/self/stat`
/// (clock ticks of 10 ms): on a shared machine it says more about the work than wall time.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) * 10.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Time of each phase of one step, ms.
#[derive(Default, Clone, Copy)]
struct Phases {
    collate: f64,
    /// Forward, loss and backward (on the CPU two half batches at once).
    gradients: f64,
    optimizer: f64,
    total: f64,
}

/// One variant, in this process: warm-up, then timed steps cycling over the batches.
fn run_variant(name: &str, variant: Variant, a: &Args) -> Result<()> {
    let dev = match a.device.as_str() {
        "cuda" => Device::new_cuda(0)?,
        _ => Device::Cpu,
    };
    let cfg = IammConfig { variant, ..IammConfig::reference(VOCAB) };
    let varmap = VarMap::new();
    let model = Iamm::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    iamm_train::model::reference_init(&varmap, 42)?;
    let mut vars: Vec<(String, Var)> = varmap.data().lock().expect("varmap").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|x, y| x.0.cmp(&y.0));
    let mut adam = Adam::new(vars, AdamParams::default())?;
    let noam = Noam::default();
    let batches = load_batches(a.batches.as_deref(), variant != Variant::WithoutIA)?;

    let mut step = 0usize;
    let mut one_step = |examples: &[Example]| -> Result<Phases> {
        step += 1;
        // A GPU queues its kernels: wait for them so that each phase is timed whole.
        let now = || -> Result<Instant> {
            dev.synchronize()?;
            Ok(Instant::now())
        };
        let t0 = now()?;
        let batch = collate(&examples.iter().collect::<Vec<_>>(), &dev)?;
        let t1 = now()?;
        let (grads, losses) = gradients(&model, &batch)?;
        let t2 = now()?;
        adam.step(&grads, noam.rate(step))?;
        let loss = losses.total;
        let t3 = now()?;
        if !loss.is_finite() {
            return Err(format!("{name}: loss {loss} at step {step}").into());
        }
        Ok(Phases { collate: ms(t1 - t0), gradients: ms(t2 - t1), optimizer: ms(t3 - t2), total: ms(t3 - t0) })
    };
    for i in 0..a.warmup {
        one_step(&batches[i % batches.len()])?;
    }
    let (mut phases, mut examples, mut tokens) = (Vec::new(), 0usize, 0usize);
    let (started, cpu0) = (Instant::now(), cpu_ms());
    for i in 0..a.steps {
        let batch = &batches[i % batches.len()];
        phases.push(one_step(batch)?);
        examples += batch.len();
        tokens += batch.iter().map(|e| e.target.len()).sum::<usize>();
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu_per_step = (cpu_ms() - cpu0) / a.steps as f64;
    let steps_s = a.steps as f64 / wall;
    let col = |f: fn(&Phases) -> f64| median(&mut phases.iter().map(f).collect::<Vec<_>>());
    let reference = REFERENCE.iter().find(|r| r.0 == a.threads).map(|r| r.1);
    println!(
        "{name:<6} {steps_s:>7.3} steps/s {:>7.1} examples/s {:>8.0} target tokens/s  median {:>7.1} ms/step ({:.0} ms CPU)  {}  peak RSS {:>6.0} MiB  {}",
        examples as f64 / wall,
        tokens as f64 / wall,
        col(|p| p.total),
        cpu_per_step,
        if dev.is_cpu() { format!("threads {}", a.threads) } else { format!("{} + {} CPU thread(s)", a.device, a.threads) },
        peak_rss_mib(),
        match reference {
            Some(r) if dev.is_cpu() => format!("x{:.2} the reference ({r} steps/s)", steps_s / r),
            Some(r) => format!("x{:.2} the reference on this machine's CPU ({r} steps/s)", steps_s / r),
            None => "no reference at this thread count".into(),
        },
    );
    if a.profile {
        println!(
            "       median ms: collate {:.1}, loss and gradients {:.1}, Adam {:.1}",
            col(|p| p.collate),
            col(|p| p.gradients),
            col(|p| p.optimizer)
        );
        // The generator's bulk alone: [tokens, 300] x [300, V], log-softmax, NLL, backward.
        let per_batch = tokens / a.steps;
        let w = Var::from_tensor(&(Tensor::randn(0f32, 0.05, (VOCAB, cfg.hidden_dim), &dev)?))?;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (per_batch, cfg.hidden_dim), &dev)?)?;
        let target = Tensor::from_vec(Ids(3).seq(per_batch), (per_batch, 1), &dev)?;
        let mut f = Vec::new();
        let mut b = Vec::new();
        for _ in 0..6 {
            let t0 = Instant::now();
            let logp = candle_nn::ops::log_softmax(&x.as_tensor().matmul(&w.as_tensor().t()?)?, D::Minus1)?;
            let nll = logp.gather(&target, 1)?.neg()?.mean_all()?;
            let _ = nll.to_scalar::<f32>()?;
            let t1 = Instant::now();
            let g = nll.backward()?;
            let _ = g.get(w.as_tensor()).map(|t| t.dims().to_vec());
            dev.synchronize()?;
            let t2 = Instant::now();
            f.push(ms(t1 - t0));
            b.push(ms(t2 - t1));
        }
        println!(
            "       standalone vocabulary projection + log-softmax over {per_batch} target tokens: forward {:.1} ms, backward {:.1} ms",
            median(&mut f[1..]),
            median(&mut b[1..])
        );
    }
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn main() -> Result<()> {
    iamm_train::cpu::configure();
    let a = args()?;
    if let Some(name) = &a.variant {
        // SAFETY: before any thread is started.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", a.threads.to_string());
        }
        rayon::ThreadPoolBuilder::new().num_threads(a.threads).build_global()?;
        let variant = VARIANTS.iter().find(|(n, _)| n == name).expect("checked").1;
        return run_variant(name, variant, &a);
    }
    println!(
        "IAMM training throughput, batch shapes of reference_batches.json (35 batches of 16), V = {VOCAB}, d = 300; \
         {} warm-up + {} timed steps per variant, {} thread(s), device {}; load average before: {}",
        a.warmup,
        a.steps,
        a.threads,
        a.device,
        load_average()
    );
    let exe = std::env::current_exe()?;
    for (name, _) in VARIANTS {
        let mut cmd = Command::new(&exe);
        cmd.args(["--variant", name, "--threads", &a.threads.to_string(), "--steps", &a.steps.to_string()]);
        cmd.args(["--warmup", &a.warmup.to_string(), "--device", &a.device]);
        if let Some(b) = &a.batches {
            cmd.args(["--batches", b]);
        }
        if a.profile {
            cmd.arg("--profile");
        }
        let status = cmd.status()?;
        if !status.success() {
            return Err(format!("variant {name}: {status}").into());
        }
    }
    println!("load average after: {}", load_average());
    Ok(())
}
