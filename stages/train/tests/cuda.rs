//! The CUDA build computes what the CPU computes: losses, gradients, a short training run,
//! teacher-forced scores and greedy decoding, for every variant. Only in a `--features cuda`
//! build, which expects a GPU (`cargo test --release -p iamm-train --features cuda --test cuda`).
//! On the GPU the composite forms of the fused CPU kernels run, so this also checks those.
#![cfg(feature = "cuda")]

mod common;

use std::ops::ControlFlow;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use common::{Ids, example, vars};
use iamm_train::decode::{DecodeOptions, generate, score};
use iamm_train::training::{Noam, TrainOptions, Trainer};
use iamm_train::{Example, Iamm, IammConfig, Variant, collate};

const V: usize = 80;

fn gpu() -> Device {
    Device::new_cuda(0).expect("a `cuda` build needs a CUDA GPU to test on")
}

fn examples(seed: u64, n: usize, variant: Variant) -> Vec<Example> {
    let mut ids = Ids::new(seed, V);
    let comet = (variant != Variant::WithoutIA).then_some(4);
    (0..n)
        .map(|i| {
            let utts: Vec<usize> = (0..1 + (i * 7 + 3) % 5)
                .map(|j| 2 + (i + 3 * j) % 9)
                .collect();
            example(
                &mut ids,
                &utts,
                3 + i % 6,
                2 + (i * 5) % 9,
                comet,
                (i % 32) as u8,
            )
        })
        .collect()
}

/// The CPU model `varmap` holds, copied onto `dev`.
fn copy_to(cfg: &IammConfig, varmap: &VarMap, dev: &Device) -> Result<(VarMap, Iamm)> {
    let gpu_map = VarMap::new();
    let model = Iamm::new(cfg, VarBuilder::from_varmap(&gpu_map, DType::F32, dev))?;
    let theirs = vars(&gpu_map);
    for ((name, mine), (their_name, theirs)) in vars(varmap).iter().zip(&theirs) {
        assert_eq!(name, their_name);
        theirs.set(&mine.as_tensor().to_device(dev)?)?;
    }
    Ok((gpu_map, model))
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
        let cfg = IammConfig {
            variant,
            ..IammConfig::tiny(V)
        };
        let (cpu_map, cpu_model) = common::model(&cfg, DType::F32, 7)?;
        let (gpu_map, gpu_model) = copy_to(&cfg, &cpu_map, &dev)?;
        let ex = examples(3, 12, variant);
        let refs: Vec<&Example> = ex.iter().collect();
        let (a, b) = (
            cpu_model.loss(&collate(&refs, &Device::Cpu)?)?,
            gpu_model.loss(&collate(&refs, &dev)?)?,
        );
        let (la, lb) = (a.total.to_scalar::<f32>()?, b.total.to_scalar::<f32>()?);
        assert!(
            ((la - lb) / la).abs() < 1e-4,
            "{variant:?}: loss {la} on the CPU, {lb} on the GPU"
        );
        let (ga, gb) = (a.backward()?, b.backward()?);
        let mut checked = 0;
        for ((name, va), (_, vb)) in vars(&cpu_map).iter().zip(&vars(&gpu_map)) {
            match (ga.get(va.as_tensor()), gb.get(vb.as_tensor())) {
                (Some(x), Some(y)) => {
                    let d = rel_diff(x, y)?;
                    assert!(
                        d < 1e-3,
                        "{variant:?}: gradient of {name} differs by {d:.2e} (relative)"
                    );
                    checked += 1;
                }
                (None, None) => {}
                (x, y) => panic!(
                    "{variant:?}: {name} has a gradient on one device only ({} / {})",
                    x.is_some(),
                    y.is_some()
                ),
            }
        }
        assert!(
            checked > 50,
            "{variant:?}: only {checked} gradients compared"
        );
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
        noam: Noam {
            factor: 1.0,
            d_model: 300,
            warmup: 4,
        },
        ..TrainOptions::default()
    };
    let mut run = |dev: Device| -> Result<_> {
        let mut t = Trainer::new(&cfg, None, opts.clone(), dev)?;
        t.run(&train, &valid, None, &mut |_| ControlFlow::Continue(()))
    };
    let (a, b) = (run(Device::Cpu)?, run(dev)?);
    assert_eq!(a.curve.steps.len(), 12);
    assert_eq!(b.curve.steps.len(), 12);
    for (x, y) in a.curve.steps.iter().zip(&b.curve.steps) {
        // Same weights and batches; Adam then lets float noise grow a little step by step.
        let tol = if x.step == 1 { 1e-4 } else { 2e-2 };
        assert!(
            ((x.loss - y.loss) / x.loss).abs() < tol,
            "step {}: loss {} on the CPU, {} on the GPU",
            x.step,
            x.loss,
            y.loss
        );
    }
    assert!(
        b.curve.steps[11].loss < b.curve.steps[0].loss,
        "the GPU run's loss did not fall"
    );
    for (x, y) in a.curve.evals.iter().zip(&b.curve.evals) {
        assert!(
            ((x.ppl - y.ppl) / x.ppl).abs() < 2e-2,
            "validation PPL {} on the CPU, {} on the GPU",
            x.ppl,
            y.ppl
        );
    }
    Ok(())
}

#[test]
fn scores_and_greedy_decoding_agree_with_the_cpu() -> Result<()> {
    let dev = gpu();
    for variant in Variant::ALL {
        let cfg = IammConfig {
            variant,
            ..IammConfig::tiny(V)
        };
        let (cpu_map, cpu_model) = common::model(&cfg, DType::F32, 9)?;
        let (_gpu_map, gpu_model) = copy_to(&cfg, &cpu_map, &dev)?;
        let ex = examples(21, 10, variant);
        let refs: Vec<&Example> = ex.iter().collect();
        let (cb, gb) = (collate(&refs, &Device::Cpu)?, collate(&refs, &dev)?);
        for (x, y) in score(&cpu_model, &cb)?.iter().zip(&score(&gpu_model, &gb)?) {
            assert_eq!(x.tokens, y.tokens);
            assert!(
                ((x.nll_sum - y.nll_sum) / x.nll_sum).abs() < 1e-4,
                "{variant:?}: NLL {} vs {}",
                x.nll_sum,
                y.nll_sum
            );
            assert_eq!(x.predicted, y.predicted, "{variant:?}: predicted emotion");
        }
        let opts = DecodeOptions {
            max_new_tokens: 12,
            ..DecodeOptions::default()
        };
        let (gc, gg) = (
            generate(&cpu_model, &cb, &opts)?,
            generate(&gpu_model, &gb, &opts)?,
        );
        let same = gc.iter().zip(&gg).filter(|(a, b)| a == b).count();
        // A random model has few near-ties; one flipped argmax changes the rest of a reply.
        assert!(
            same + 1 >= gc.len(),
            "{variant:?}: only {same} of {} greedy replies agree",
            gc.len()
        );
    }
    Ok(())
}
