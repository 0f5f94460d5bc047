//! Forward + backward time of one batch of 16 examples at the reference sizes (V = 23,712).
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p iamm-train --example bench_step [-- STEPS]
//! ```
//!
//! Two batches: `uniform` (every example 5 utterances × 20 tokens, situation 20, target 15,
//! COMET 18 tokens per relation) and `mixed` (1, 3 or 5 utterances of 8-25 tokens, targets of
//! 6-25: padding as in real ED batches). candle's element-wise thread pool spins between
//! operations and fights gemm's rayon threads for 2 cores, so this sets `CANDLE_NUM_THREADS=1`
//! unless it is set already (gemm and the fused kernels still use `RAYON_NUM_THREADS`).

use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use iamm_core::special::{CLS, EOS, SYS, USR};
use iamm_train::{Comet, Example, Iamm, IammConfig, collate};

/// Deterministic pseudo-random ids in `7..vocab`.
struct Ids(u64, u32);

impl Ids {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn id(&mut self) -> u32 {
        7 + self.next() % (self.1 - 7)
    }
    fn seq(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.id()).collect()
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.next() as usize % (hi - lo + 1)
    }
}

fn example(ids: &mut Ids, lens: &[usize], sit: usize, target: usize, emotion: u8) -> Example {
    let context = lens.iter().map(|&n| [vec![CLS], ids.seq(n)].concat()).collect();
    let roles = lens
        .iter()
        .enumerate()
        .map(|(j, &n)| [vec![CLS], vec![if j % 2 == 0 { USR } else { SYS }; n]].concat())
        .collect();
    let rel = |ids: &mut Ids, r: usize| if r == 4 { ids.seq(6) } else { [vec![CLS], ids.seq(17)].concat() };
    let comet = Comet {
        context: std::array::from_fn(|r| lens.iter().map(|_| rel(ids, r)).collect()),
        situation: std::array::from_fn(|r| rel(ids, r)),
    };
    Example {
        context,
        roles,
        situation: [vec![CLS], ids.seq(sit)].concat(),
        target: [ids.seq(target), vec![EOS]].concat(),
        emotion,
        comet: Some(comet),
    }
}

/// CPU time of the whole process (user + system, all threads) from `/proc/self/stat`, in ms;
/// on a shared machine it says more about the work than wall time does.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0 // utime, stime in clock ticks (100 Hz)
}

fn main() -> candle_core::Result<()> {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: single-threaded here, before candle starts its pools.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dev = Device::Cpu;
    let cfg = IammConfig::reference(23_712);
    let varmap = VarMap::new();
    let model = Iamm::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
    iamm_train::model::reference_init(&varmap, 42)?;
    let mut ids = Ids(7, cfg.vocab_size as u32);
    let uniform: Vec<Example> = (0..16).map(|i| example(&mut ids, &[19; 5], 19, 14, (i % 32) as u8)).collect();
    let mixed: Vec<Example> = (0..16)
        .map(|i| {
            let n = [1, 3, 5][ids.range(0, 2)];
            let lens: Vec<usize> = (0..n).map(|_| ids.range(8, 25)).collect();
            let (sit, target) = (ids.range(10, 30), ids.range(6, 25));
            example(&mut ids, &lens, sit, target, (i % 32) as u8)
        })
        .collect();
    println!(
        "rayon threads {}, CANDLE_NUM_THREADS={}",
        rayon::current_num_threads(),
        std::env::var("CANDLE_NUM_THREADS").unwrap_or_default()
    );
    for (name, examples) in [("uniform", &uniform), ("mixed", &mixed)] {
        let batch = collate(&examples.iter().collect::<Vec<_>>(), &dev)?;
        println!("{name}: input {:?}, target {:?}", batch.input.dims(), batch.target.dims());
        let mut totals = vec![];
        let mut cpu = 0.0;
        for step in 0..steps {
            let c0 = cpu_ms();
            let t0 = Instant::now();
            let losses = model.loss(&batch)?;
            let t1 = Instant::now();
            let grads = losses.backward()?;
            let t2 = Instant::now();
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            println!(
                "  step {step}: loss {:.4}  forward {:.1} ms  backward {:.1} ms  total {:.1} ms  ({} grads)",
                losses.total.to_scalar::<f32>()?,
                ms(t1 - t0),
                ms(t2 - t1),
                ms(t2 - t0),
                varmap.all_vars().iter().filter(|v| grads.get(v.as_tensor()).is_some()).count(),
            );
            if step > 0 {
                totals.push(ms(t2 - t0));
                cpu += cpu_ms() - c0;
            }
        }
        totals.sort_by(f64::total_cmp);
        if !totals.is_empty() {
            println!(
                "  {name}: median forward+backward {:.1} ms wall, {:.0} ms CPU (all threads) per step, over {} warm steps",
                totals[totals.len() / 2],
                cpu / totals.len() as f64,
                totals.len()
            );
        }
    }
    Ok(())
}
