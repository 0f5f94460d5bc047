//! The CUDA build computes what the CPU computes: losses, gradients, a short training run,
//! teacher-forced scores and greedy decoding, for every variant. Only in a `--features cuda`
//! build, which expects a GPU (`cargo test --release -p iamm-train --features cuda --test cuda`,
//! or `scripts/build-cuda.sh` to build it elsewhere). On the GPU the composite forms of the
//! fused CPU kernels run, so this also checks those.
#![cfg(feature = "cuda")]

mod common;

use std::ops::ControlFlow;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{Ids, example, vars};
use iamm_decode::{DecodeOptions, generate, score};
use iamm_train::training::{Noam, TrainOptions, Trainer};
use iamm_train::{Batch, Example, Iamm, IammConfig, Variant, collate};

const V: usize = 80;

fn gpu() -> Device {
    Device::new_cuda(0).expect("a `cuda` build needs a CUDA GPU to test on")
}

fn examples(seed: u64, n: usize, variant: Variant) -> Vec<Example> {
    let mut ids = Ids::new(seed, V);
    let comet = (variant != Variant::WithoutIA).then_some(4);
    (0..n)
        .map(|i| {
            let utts: Vec<usize> = (0..1 + (i * 7 + 3) % 5).map(|j| 2 + (i + 3 * j) % 9).collect();
            example(&mut ids, &utts, 3 + i % 6, 2 + (i * 5) % 9, comet, (i % 32) as u8)
        })
        .collect()
}

/// One reference-initialised model on the CPU and a copy of it on the GPU, with the same
/// examples collated on each.
struct Twins {
    cpu_map: VarMap,
    cpu: Iamm,
    gpu_map: VarMap,
    gpu: Iamm,
    cpu_batch: Batch,
    gpu_batch: Batch,
}

fn twins(variant: Variant, seed: u64, n: usize, dev: &Device) -> Result<Twins> {
    let cfg = IammConfig { variant, ..IammConfig::tiny(V) };
    let (cpu_map, cpu) = common::model(&cfg, DType::F32, seed)?;
    let gpu_map = VarMap::new();
    let gpu = Iamm::new(&cfg, VarBuilder::from_varmap(&gpu_map, DType::F32, dev))?;
    for ((name, mine), (their_name, theirs)) in vars(&cpu_map).iter().zip(&vars(&gpu_map)) {
        assert_eq!(name, their_name);
        theirs.set(&mine.as_tensor().to_device(dev)?)?;
    }
    let ex = examples(seed + 100, n, variant);
    let refs: Vec<&Example> = ex.iter().collect();
    Ok(Twins { cpu_map, cpu, gpu_map, gpu, cpu_batch: collate(&refs, &Device::Cpu)?, gpu_batch: collate(&refs, dev)? })
}

fn rel_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    let b = b.to_device(&Device::Cpu)?;
    let diff = (a - &b)?.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt() as f64;
    let norm = a.sqr()?.sum_all()?.to_scalar::<f32>()?.sqrt() as f64;
    Ok(diff / (norm + 1e-12))
}

#[test]
fn losses_and_gradients_agree_with_the_cpu() -> Result<()> {
    let dev = gpu();
    for variant in Variant::ALL {
        let t = twins(variant, 7, 12, &dev)?;
        let (a, b) = (t.cpu.loss(&t.cpu_batch)?, t.gpu.loss(&t.gpu_batch)?);
        let (la, lb) = (a.total.to_scalar::<f32>()?, b.total.to_scalar::<f32>()?);
        assert!(((la - lb) / la).abs() < 1e-4, "{variant:?}: loss {la} on the CPU, {lb} on the GPU");
        let (ga, gb) = (a.backward()?, b.backward()?);
        let mut checked = 0;
        for ((name, va), (_, vb)) in vars(&t.cpu_map).iter().zip(&vars(&t.gpu_map)) {
            match (ga.get(va.as_tensor()), gb.get(vb.as_tensor())) {
                (Some(x), Some(y)) => {
                    let d = rel_diff(x, y)?;
                    assert!(d < 1e-3, "{variant:?}: gradient of {name} differs by {d:.2e} (relative)");
                    checked += 1;
                }
                (None, None) => {}
                (x, y) => panic!("{variant:?}: {name} has a gradient on one device only ({} / {})", x.is_some(), y.is_some()),
            }
        }
        assert!(checked > 50, "{variant:?}: only {checked} gradients compared");
    }
    Ok(())
}

#[test]
fn a_short_training_run_follows_the_cpu_run() -> Result<()> {
    let dev = gpu();
    let cfg = IammConfig::tiny(V);
    let train = examples(11, 24, Variant::Full);
    let valid = examples(12, 8, Variant::Full);
    let opts = TrainOptions {
        seed: 5,
        batch_size: 4,
        max_steps: 12,
        eval_every: 6,
        eval_after: 0,
        eval_batch_size: 4,
        noam: Noam { factor: 1.0, d_model: 300, warmup: 4 },
        ..TrainOptions::default()
    };
    let run = |dev: Device| -> Result<_> {
        let mut t = Trainer::new(&cfg, None, opts.clone(), dev)?;
        t.run(&train, &valid, None, &mut |_| ControlFlow::Continue(()))
    };
    let (a, b) = (run(Device::Cpu)?, run(dev)?);
    assert_eq!((a.curve.steps.len(), b.curve.steps.len()), (12, 12));
    for (x, y) in a.curve.steps.iter().zip(&b.curve.steps) {
        // Same weights and batches; Adam then lets float noise grow a little step by step.
        let tol = if x.step == 1 { 1e-4 } else { 2e-2 };
        assert!(((x.loss - y.loss) / x.loss).abs() < tol, "step {}: loss {} on the CPU, {} on the GPU", x.step, x.loss, y.loss);
    }
    assert!(b.curve.steps[11].loss < b.curve.steps[0].loss, "the GPU run's loss did not fall");
    for (x, y) in a.curve.evals.iter().zip(&b.curve.evals) {
        assert!(((x.ppl - y.ppl) / x.ppl).abs() < 2e-2, "validation PPL {} on the CPU, {} on the GPU", x.ppl, y.ppl);
    }
    Ok(())
}

#[test]
fn scores_and_greedy_decoding_agree_with_the_cpu() -> Result<()> {
    let dev = gpu();
    for variant in Variant::ALL {
        let t = twins(variant, 9, 10, &dev)?;
        for (x, y) in score(&t.cpu, &t.cpu_batch)?.iter().zip(&score(&t.gpu, &t.gpu_batch)?) {
            assert_eq!(x.tokens, y.tokens);
            assert!(((x.nll_sum - y.nll_sum) / x.nll_sum).abs() < 1e-4, "{variant:?}: NLL {} vs {}", x.nll_sum, y.nll_sum);
            assert_eq!(x.predicted, y.predicted, "{variant:?}: predicted emotion");
        }
        let opts = DecodeOptions { max_new_tokens: 12, ..DecodeOptions::default() };
        let (gc, gg) = (generate(&t.cpu, &t.cpu_batch, &opts)?, generate(&t.gpu, &t.gpu_batch, &opts)?);
        let same = gc.iter().zip(&gg).filter(|(a, b)| a == b).count();
        // A random model has few near-ties; one flipped argmax changes the rest of a reply.
        assert!(same + 1 >= gc.len(), "{variant:?}: only {same} of {} greedy replies agree", gc.len());
    }
    Ok(())
}
