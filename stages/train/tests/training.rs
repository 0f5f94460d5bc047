//! The training procedure: the Noam schedule, Adam, exact resumption, and short runs on real
//! EmpatheticDialogues examples (`../shared/data`, beside the checkout).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::OnceLock;

use arrow_array::RecordBatch;
use candle_core::{DType, Device, Result, Tensor, Var};
use iamm_train::training::{
    Adam, AdamParams, EMBEDDING_VAR, Event, Noam, Selection, StopReason, TrainOptions, Trainer, Vectors,
    latest_checkpoint,
};
use iamm_train::{Example, IammConfig, Variant};
use indicatif::ProgressBar;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

// ---------------------------------------------------------------------------------------------
// Real ED examples: ingest → tokenize (the reference preprocessing) → the model's `Example`s.

struct Ed {
    vocab: usize,
    train: Vec<Example>,
    valid: Vec<Example>,
    /// GloVe 50-d over the vocabulary: values, coverage.
    glove: (Vec<f32>, Vec<bool>),
}

const TRAIN_ROWS: usize = 400;
const VALID_ROWS: usize = 64;

fn to_examples(t: &RecordBatch) -> Vec<Example> {
    let rows = iamm_tables::token_examples::read(t, "examples", false).expect("tokenized examples");
    rows.into_iter().map(|r| r.example).collect()
}

/// The embedding table's (values, covered flags).
fn vectors_of(t: &RecordBatch) -> (Vec<f32>, Vec<bool>) {
    let e = iamm_tables::embedding::read(t, "embedding").expect("an embedding table");
    (e.values, e.covered)
}

/// The first `TRAIN_ROWS` train and `VALID_ROWS` valid examples of ED, with a vocabulary
/// built over them (so that small models stay small).
fn ed() -> &'static Ed {
    static ED: OnceLock<Ed> = OnceLock::new();
    ED.get_or_init(|| {
        let hidden = ProgressBar::hidden();
        let opts = iamm_ingest::IngestOptions::default();
        let ingested = iamm_ingest::ingest(Path::new(&format!("{SHARED}/ed")), &opts, &hidden).expect("ingest ED");
        let train = ingested.split("train").unwrap().examples.slice(0, TRAIN_ROWS);
        let valid = ingested.split("valid").unwrap().examples.slice(0, VALID_ROWS);
        let punkt = iamm_text::PunktParams::load_dir(Path::new(&format!("{SHARED}/golden/punkt_english_params")))
            .expect("punkt parameters");
        let tokenizer = iamm_text::Tokenizer::new(punkt);
        let splits = [
            iamm_tokenize::SplitExamples { split: "train", examples: &train },
            iamm_tokenize::SplitExamples { split: "valid", examples: &valid },
        ];
        let tok = iamm_tokenize::tokenize(&tokenizer, &splits, &["train".into(), "valid".into()], None, &hidden)
            .expect("tokenize");
        let table = |name: &str| &tok.splits.iter().find(|(n, _)| n == name).unwrap().1;
        let (vectors, coverage) = iamm_tokenize::embedding_table(
            Path::new(&format!("{SHARED}/vectors/glove.6B.50d.ed-vocab.txt")),
            &tok.vocab,
            &hidden,
        )
        .expect("glove");
        assert_eq!(coverage.dim, 50);
        Ed {
            vocab: tok.vocab.len(),
            train: to_examples(table("train")),
            valid: to_examples(table("valid")),
            glove: vectors_of(&vectors),
        }
    })
}

fn no_events(_: Event) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn weights(t: &Trainer) -> Result<Vec<(String, Vec<u32>)>> {
    let mut v: Vec<_> =
        t.varmap().data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect::<Vec<_>>();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter()
        .map(|(k, t)| Ok((k, t.flatten_all()?.to_vec1::<f32>()?.iter().map(|x| x.to_bits()).collect())))
        .collect()
}

fn bits(m: &HashMap<String, Tensor>) -> Result<Vec<(String, Vec<u32>)>> {
    let mut v: Vec<_> = m
        .iter()
        .map(|(k, t)| Ok((k.clone(), t.flatten_all()?.to_vec1::<f32>()?.iter().map(|x| x.to_bits()).collect())))
        .collect::<Result<_>>()?;
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

// ---------------------------------------------------------------------------------------------

#[test]
fn noam_schedule_matches_the_formula_and_the_reference_values() {
    let noam = Noam::default();
    assert_eq!((noam.factor, noam.d_model, noam.warmup), (1.0, 300, 8000));
    let formula = |s: f64| 300f64.powf(-0.5) * s.powf(-0.5).min(s * 8000f64.powf(-1.5));
    for s in [1usize, 2, 100, 4000, 7999, 8000, 8001, 10_400, 17_600] {
        let (got, want) = (noam.rate(s), formula(s as f64));
        assert!((got - want).abs() <= 1e-15 * want, "step {s}: {got} vs {want}");
    }
    // 300^-0.5 · 8000^-1.5 at step 1; linear warm-up; the peak at 8000; the digest's values.
    assert!((noam.rate(1) - 8.0687e-8).abs() < 1e-11, "{}", noam.rate(1));
    assert!((noam.rate(4000) / noam.rate(1) - 4000.0).abs() < 1e-9);
    assert!(noam.rate(8000) > noam.rate(7999) && noam.rate(8000) > noam.rate(8001));
    assert!((noam.rate(8000) - 6.455e-4).abs() < 1e-6, "{}", noam.rate(8000));
    assert!((noam.rate(10_400) - 5.661e-4).abs() < 1e-6, "{}", noam.rate(10_400));
    assert!((noam.rate(17_600) - 4.352e-4).abs() < 1e-6, "{}", noam.rate(17_600));
    let scaled = Noam { factor: 2.0, d_model: 16, warmup: 4 };
    assert!((scaled.rate(4) - 2.0 / 4.0 / 2.0).abs() < 1e-15); // 2 · 16^-0.5 · 4^-0.5
}

/// Two Adam updates of a 4-vector by hand (β 0.9/0.98, ε 1e-9, lr 0.01 then 0.02):
/// step 1 moves every coordinate with a gradient by `lr · sign(g)` (bias correction makes
/// `m̂ = g`, `v̂ = g²`); step 2 values from torch's formula in f64 (Python).
#[test]
fn adam_matches_a_hand_computed_two_step_update() -> Result<()> {
    let expect1 = [0.9900000001, -1.99000000005, 0.4900000000333333, 0.0];
    let expect2 = [1.001142992626444, -1.984657845812818, 0.4700000001, 0.0];
    for dtype in [DType::F32, DType::F64] {
        let dev = Device::Cpu;
        let p = Var::from_tensor(&Tensor::new(&[1.0f64, -2.0, 0.5, 0.0], &dev)?.to_dtype(dtype)?)?;
        let idle = Var::from_tensor(&Tensor::new(&[3.0f64, 4.0], &dev)?.to_dtype(dtype)?)?;
        let mut adam = Adam::new(vec![("p".into(), p.clone()), ("idle".into(), idle.clone())], AdamParams::default())?;
        for (g, lr, expect) in [([0.1, -0.2, 0.3, 0.0], 0.01, expect1), ([-0.4, 0.1, 0.3, 0.0], 0.02, expect2)] {
            // d/dp Σ p·g = g
            let g = Tensor::new(&g, &dev)?.to_dtype(dtype)?;
            let grads = (p.as_tensor() * &g)?.sum_all()?.backward()?;
            adam.step(&grads, lr)?;
            let got = p.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?;
            let tol = if dtype == DType::F32 { 2e-7 } else { 1e-14 };
            for (a, b) in got.iter().zip(&expect) {
                assert!((a - b).abs() <= tol, "{dtype:?}: {got:?} vs {expect:?}");
            }
        }
        assert_eq!(idle.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?, [3.0, 4.0]);
        let steps = adam.steps();
        assert_eq!((steps.get("p"), steps.get("idle")), (Some(&2), None));
        let m = adam.moments()?;
        let m_p = m["m.p"].to_dtype(DType::F64)?.to_vec1::<f64>()?;
        // m = 0.9·0.1·g1 + 0.1·g2
        for (a, b) in m_p.iter().zip([-0.031, -0.008, 0.057, 0.0]) {
            assert!((a - b).abs() < 1e-8, "{m_p:?}");
        }
    }
    Ok(())
}

fn tiny_opts() -> TrainOptions {
    TrainOptions {
        seed: 7,
        batch_size: 4,
        max_steps: 12,
        eval_every: 3,
        eval_after: 0,
        eval_batch_size: 4,
        checkpoint_every: 3,
        keep_checkpoints: 2,
        noam: Noam { factor: 1.0, d_model: 300, warmup: 4 },
        ..TrainOptions::default()
    }
}

#[test]
fn resumed_run_equals_the_uninterrupted_one_bit_for_bit() -> Result<()> {
    let ed = ed();
    let cfg = IammConfig { variant: Variant::WithoutIA, ..IammConfig::tiny(ed.vocab) };
    // 20 examples in batches of 4: 5 updates per epoch, 12 updates = 3 epochs.
    let train = &ed.train[..20];
    let valid = &ed.valid[..8];
    let opts = tiny_opts();
    let dev = Device::Cpu;

    let dir_a = tempfile::tempdir()?;
    let mut a = Trainer::new(&cfg, None, opts.clone(), dev.clone())?;
    let ra = a.run(train, valid, Some(dir_a.path()), &mut no_events)?;
    assert_eq!((ra.steps, ra.epochs, ra.stop), (12, 3, StopReason::MaxSteps));
    assert_eq!(ra.curve.steps.len(), 12);
    assert_eq!(ra.curve.evals.iter().map(|e| e.step).collect::<Vec<_>>(), [3, 6, 9, 12]);

    // "Kill" after update 8 (mid-epoch 2): the newest checkpoint is the one of update 6.
    let dir_b = tempfile::tempdir()?;
    let mut b = Trainer::new(&cfg, None, opts.clone(), dev.clone())?;
    let rb = b.run(train, valid, Some(dir_b.path()), &mut |e| match e {
        Event::Step { record, .. } if record.step == 8 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })?;
    assert_eq!((rb.steps, rb.stop), (8, StopReason::Interrupted));
    drop(b);
    assert_eq!(latest_checkpoint(dir_b.path())?.map(|c| c.0), Some(6));

    let mut c = Trainer::resume(&cfg, opts.clone(), dev.clone(), dir_b.path())?.expect("a checkpoint");
    assert_eq!(c.step(), 6);
    let rc = c.run(train, valid, Some(dir_b.path()), &mut no_events)?;
    assert_eq!((rc.steps, rc.epochs, rc.stop, rc.resumed_from), (12, 3, StopReason::MaxSteps, Some(6)));

    assert_eq!(weights(&a)?, weights(&c)?, "weights differ after resuming");
    assert_eq!(ra.curve, rc.curve, "training curves differ");
    assert_eq!(ra.selected, rc.selected);
    assert_eq!(bits(&a.selected_weights()?)?, bits(&c.selected_weights()?)?);
    let moments = |d: &Path| -> Result<Vec<(String, Vec<u32>)>> {
        let (step, path) = latest_checkpoint(d)?.unwrap();
        assert_eq!(step, 12);
        bits(&candle_core::safetensors::load(path.join("optimizer.safetensors"), &Device::Cpu)?)
    };
    assert_eq!(moments(dir_a.path())?, moments(dir_b.path())?, "Adam moments differ");
    // Interrupted after update 7 and checkpointed there on purpose (as on Ctrl-C): the same.
    let dir_h = tempfile::tempdir()?;
    let mut h = Trainer::new(&cfg, None, opts.clone(), dev.clone())?;
    let rh = h.run(train, valid, Some(dir_h.path()), &mut |e| match e {
        Event::Step { record, .. } if record.step == 7 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })?;
    assert_eq!((rh.steps, rh.stop), (7, StopReason::Interrupted));
    h.checkpoint(dir_h.path())?;
    drop(h);
    let mut h = Trainer::resume_or_start(&cfg, None, opts.clone(), dev.clone(), dir_h.path())?;
    assert_eq!(h.resumed_from(), Some(7));
    h.run(train, valid, Some(dir_h.path()), &mut no_events)?;
    assert_eq!(weights(&a)?, weights(&h)?, "weights differ after resuming from update 7");
    assert_eq!(a.curve(), h.curve());

    // Two checkpoints kept.
    let kept: Vec<usize> = iamm_train::training::checkpoints(dir_b.path())?.into_iter().map(|c| c.0).collect();
    assert_eq!(kept, [12, 9]);

    // The selected weights are those of the selected validation, and differ from the last.
    let sel = ra.selected.clone().expect("a selection");
    assert!(ra.curve.evals.iter().filter(|e| e.selected).all(|e| e.ppl >= sel.ppl));
    let best = ra.curve.evals.iter().map(|e| e.ppl).fold(f64::INFINITY, f64::min);
    assert_eq!(sel.ppl, best);
    let published = tempfile::tempdir().unwrap();
    a.published("train", "key", "{}")?.save(published.path())?;
    let saved = published.path().join(iamm_train::Published::WEIGHTS);
    assert_eq!(bits(&candle_core::safetensors::load(&saved, &Device::Cpu)?)?, bits(&a.selected_weights()?)?);

    // Resuming a finished run does nothing; a fresh trainer refuses a folder with a later run.
    let mut d = Trainer::resume_or_start(&cfg, None, opts.clone(), dev.clone(), dir_a.path())?;
    let rd = d.run(train, valid, Some(dir_a.path()), &mut no_events)?;
    assert_eq!((rd.steps, rd.curve.steps.len()), (12, 12));
    let mut e = Trainer::new(&cfg, None, opts.clone(), dev.clone())?;
    assert!(e.run(train, valid, Some(dir_a.path()), &mut no_events).is_err());
    // ... and a resumed trainer refuses another training set.
    let mut f = Trainer::resume(&cfg, opts.clone(), dev.clone(), dir_b.path())?.unwrap();
    assert!(f.run(&ed.train[1..21], valid, None, &mut no_events).is_err());
    Ok(())
}

#[test]
fn the_reference_selection_rule_and_early_stop() -> Result<()> {
    let ed = ed();
    let cfg = IammConfig { variant: Variant::WithoutIA, ..IammConfig::tiny(ed.vocab) };
    let train = &ed.train[..20];
    let valid = &ed.valid[..8];
    // PPL of an untrained model over a vocabulary of thousands is far above 100: the reference
    // rule never selects, best-PPL always has a selection.
    let opts = TrainOptions { selection: Selection::Reference, max_steps: 6, ..tiny_opts() };
    let mut t = Trainer::new(&cfg, None, opts, Device::Cpu)?;
    let r = t.run(train, valid, None, &mut no_events)?;
    assert!(r.curve.evals.iter().all(|e| e.ppl > 100.0), "{:?}", r.curve.evals);
    assert!(r.selected.is_none() && r.curve.evals.iter().all(|e| !e.selected));

    // With patience 1 and a learning rate of 0 nothing improves after the first validation.
    let frozen = Noam { factor: 1e-30, ..Noam::default() };
    let opts = TrainOptions { patience: Some(1), noam: frozen, ..tiny_opts() };
    let mut t = Trainer::new(&cfg, None, opts, Device::Cpu)?;
    let r = t.run(train, valid, None, &mut no_events)?;
    assert_eq!(r.stop, StopReason::EarlyStop);
    assert_eq!(r.curve.evals.len(), 2);
    assert_eq!(r.steps, 6);
    Ok(())
}

#[test]
fn pretrained_vectors_fill_the_covered_rows_and_the_rest_is_small_noise() -> Result<()> {
    let ed = ed();
    let cfg = IammConfig {
        emb_dim: 50,
        hidden_dim: 50,
        depth: 20,
        variant: Variant::WithoutIA,
        ..IammConfig::tiny(ed.vocab)
    };
    let (values, covered) = &ed.glove;
    let n_cov = covered.iter().filter(|c| **c).count();
    assert!(n_cov > ed.vocab / 2 && n_cov < ed.vocab, "{n_cov} of {}", ed.vocab);
    let vectors = Vectors { values, dim: 50, covered };
    let t = Trainer::new(&cfg, Some(vectors), TrainOptions::default(), Device::Cpu)?;
    let table = t.varmap().data().lock().unwrap()[EMBEDDING_VAR].as_tensor().to_vec2::<f32>()?;
    let mut rest = vec![];
    for (i, row) in table.iter().enumerate() {
        if covered[i] {
            assert_eq!(row.as_slice(), &values[i * 50..(i + 1) * 50]);
        } else {
            rest.extend(row.iter().map(|&x| f64::from(x)));
        }
    }
    let std = (rest.iter().map(|x| x * x).sum::<f64>() / rest.len() as f64).sqrt();
    assert!((std - 0.01).abs() < 0.002, "uncovered rows: std {std}");
    // The same seed gives the same model; another seed another one.
    let again = Trainer::new(&cfg, Some(vectors), TrainOptions::default(), Device::Cpu)?;
    assert_eq!(weights(&t)?, weights(&again)?);
    let other = Trainer::new(&cfg, Some(vectors), TrainOptions { seed: 43, ..TrainOptions::default() }, Device::Cpu)?;
    assert_ne!(weights(&t)?, weights(&other)?);
    // Vectors of another size are refused.
    let tiny = IammConfig { variant: Variant::WithoutIA, ..IammConfig::tiny(ed.vocab) };
    assert!(Trainer::new(&tiny, Some(vectors), TrainOptions::default(), Device::Cpu).is_err());
    Ok(())
}

/// A smallish model (50-d, GloVe 50-d) on 400 real ED examples: a few dozen updates lower the
/// training loss clearly.
#[test]
fn training_loss_falls_on_real_ed_examples() -> Result<()> {
    let ed = ed();
    let cfg = IammConfig {
        emb_dim: 50,
        hidden_dim: 50,
        depth: 20,
        filter: 50,
        ctx_topk: 15,
        cs_topk: 5,
        select_topk: 15,
        max_positions: 3000,
        variant: Variant::WithoutIA,
        ..IammConfig::tiny(ed.vocab)
    };
    let (values, covered) = &ed.glove;
    let opts = TrainOptions {
        max_steps: 40,
        eval_every: 40,
        eval_after: 0,
        noam: Noam { factor: 0.1, d_model: 300, warmup: 10 },
        ..TrainOptions::default()
    };
    let mut t = Trainer::new(&cfg, Some(Vectors { values, dim: 50, covered }), opts, Device::Cpu)?;
    let mut seen = 0;
    let r = t.run(&ed.train, &ed.valid, None, &mut |e| {
        if let Event::Step { record, total } = e {
            assert_eq!((record.step, total), (seen + 1, 40));
            seen += 1;
        }
        ControlFlow::Continue(())
    })?;
    let s = &r.curve.steps;
    let (first, last) = (mean(s[..5].iter().map(|r| r.loss)), mean(s[35..].iter().map(|r| r.loss)));
    let (nll0, nll1) = (mean(s[..5].iter().map(|r| r.nll)), mean(s[35..].iter().map(|r| r.nll)));
    eprintln!("loss: first 5 {first:.3}, last 5 {last:.3}; NLL {nll0:.3} -> {nll1:.3}; valid {:?}", r.curve.evals);
    assert!(last < first - 1.5, "loss {first} -> {last}");
    assert!(nll1 < nll0 - 1.0, "NLL {nll0} -> {nll1}");
    for rec in s {
        assert!((rec.loss - (rec.nll + rec.emotion_loss)).abs() < 1e-4 * rec.loss);
        assert!((rec.ppl - rec.nll.exp()).abs() < 1e-9 * rec.ppl);
        assert_eq!(rec.lr, Noam { factor: 0.1, d_model: 300, warmup: 10 }.rate(rec.step));
    }
    // 400 examples in batches of 16: 25 per epoch.
    assert_eq!((s[24].epoch, s[25].epoch, s[25].examples), (1, 2, 16));
    let ev = &r.curve.evals[0];
    assert_eq!((ev.step, ev.examples), (40, VALID_ROWS));
    assert!(ev.ppl.is_finite() && ev.ppl < (ed.vocab as f64) / 4.0, "valid PPL {}", ev.ppl);
    Ok(())
}

/// 32 real examples, a reduced model: the training loss goes near zero and the emotion of
/// every example is learnt.
#[test]
fn overfits_32_real_examples() -> Result<()> {
    let ed = ed();
    let cfg = IammConfig {
        emb_dim: 32,
        hidden_dim: 32,
        depth: 16,
        filter: 32,
        max_positions: 3000,
        variant: Variant::WithoutIA,
        ..IammConfig::tiny(ed.vocab)
    };
    let train = &ed.train[..32];
    let steps = 200;
    let opts = TrainOptions {
        max_steps: steps,
        eval_every: steps,
        eval_after: 0,
        noam: Noam { factor: 0.5, d_model: 300, warmup: 20 },
        ..TrainOptions::default()
    };
    let mut t = Trainer::new(&cfg, None, opts, Device::Cpu)?;
    let r = t.run(train, train, None, &mut no_events)?;
    let s = &r.curve.steps;
    let last = mean(s[steps - 4..].iter().map(|r| r.loss));
    let ev = &r.curve.evals[0];
    eprintln!(
        "overfit: loss {:.3} -> {last:.4} (NLL {:.4}), train-set accuracy {}, PPL {:.4}",
        s[0].loss,
        s[steps - 1].nll,
        ev.accuracy,
        ev.ppl
    );
    assert!(last < 0.5, "loss after {steps} updates: {last}");
    assert_eq!(ev.accuracy, 1.0);
    assert!(ev.ppl < 1.5, "{}", ev.ppl);
    Ok(())
}

/// CPU time of the process (user + system, all threads) in ms, from `/proc/self/stat`.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

/// Wall time per update at the reference size (V from all of ED, 300-d, batch 16) on real ED
/// batches, through the trainer: `w/o IA` (no COMET needed) and the full model with COMET-sized
/// stand-in knowledge (random ids: 17 per relation, xReact 6, as `benches/reference_batches.rs`).
/// Prints; asserts nothing about time.
///
/// `RAYON_NUM_THREADS=2 cargo test -p iamm-train --release --test training -- --ignored --nocapture`
#[test]
#[ignore = "minutes: tokenizes all of ED and trains the reference-size model"]
fn time_per_step_at_the_reference_size() -> Result<()> {
    use std::time::Instant;
    let hidden = ProgressBar::hidden();
    let t0 = Instant::now();
    let ingested =
        iamm_ingest::ingest(Path::new(&format!("{SHARED}/ed")), &iamm_ingest::IngestOptions::default(), &hidden)
            .expect("ingest");
    let punkt = iamm_text::PunktParams::load_dir(Path::new(&format!("{SHARED}/golden/punkt_english_params"))).unwrap();
    let tokenizer = iamm_text::Tokenizer::new(punkt);
    let splits: Vec<_> = ingested
        .splits
        .iter()
        .map(|s| iamm_tokenize::SplitExamples { split: s.split, examples: &s.examples })
        .collect();
    let names: Vec<String> = ["train", "valid", "test"].map(String::from).to_vec();
    let tok = iamm_tokenize::tokenize(&tokenizer, &splits, &names, None, &hidden).expect("tokenize");
    let train = to_examples(&tok.splits.iter().find(|(n, _)| n == "train").unwrap().1);
    let (vectors, coverage) = iamm_tokenize::embedding_table(
        Path::new(&format!("{SHARED}/vectors/spacy-en-md.300d.ed-vocab.txt")),
        &tok.vocab,
        &hidden,
    )
    .expect("vectors");
    let (values, covered) = vectors_of(&vectors);
    let vocab = tok.vocab.len();
    println!(
        "ED: {} train examples, vocabulary {vocab}, 300-d vectors cover {:.2}%, prepared in {:.1} s; rayon threads {}",
        train.len(),
        coverage.percent(),
        t0.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );

    let mut lcg = 0x2545_F491_4F6C_DD1Du64;
    let mut id = move || {
        lcg = lcg.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        7 + ((lcg >> 33) as u32) % (vocab as u32 - 7)
    };
    let mut rel = |r: usize| -> Vec<u32> {
        let n = if r == 4 { 6 } else { 17 };
        let ids: Vec<u32> = (0..n).map(|_| id()).collect();
        if r == 4 { ids } else { [vec![iamm_core::special::CLS], ids].concat() }
    };
    let with_comet: Vec<Example> = train
        .iter()
        .map(|e| {
            let comet = iamm_train::Comet {
                context: std::array::from_fn(|r| e.context.iter().map(|_| rel(r)).collect()),
                situation: std::array::from_fn(&mut rel),
            };
            Example { comet: Some(comet), ..e.clone() }
        })
        .collect();

    let steps = 12;
    for (variant, data) in [(Variant::WithoutIA, &train), (Variant::Full, &with_comet)] {
        let cfg = IammConfig { variant, ..IammConfig::reference(vocab) };
        let opts = TrainOptions { max_steps: steps, ..TrainOptions::default() };
        let vectors = Vectors { values: &values, dim: 300, covered: &covered };
        let mut t = Trainer::new(&cfg, Some(vectors), opts, Device::Cpu)?;
        let mut times = vec![];
        let mut cpu = vec![];
        let (mut last, mut last_cpu) = (Instant::now(), cpu_ms());
        t.run(data, &[], None, &mut |e| {
            if let Event::Step { record, .. } = e {
                times.push(last.elapsed().as_secs_f64() * 1e3);
                cpu.push(cpu_ms() - last_cpu);
                println!(
                    "  {variant:?} step {}: loss {:.3} ({:.0} ms wall, {:.0} ms CPU)",
                    record.step,
                    record.loss,
                    times.last().unwrap(),
                    cpu.last().unwrap()
                );
                (last, last_cpu) = (Instant::now(), cpu_ms());
            }
            ControlFlow::Continue(())
        })?;
        let median = |v: &[f64]| {
            let mut v = v[2..].to_vec();
            v.sort_by(f64::total_cmp);
            (v[v.len() / 2], v[0], v[v.len() - 1])
        };
        let ((wall, lo, hi), (cpu, _, _)) = (median(&times), median(&cpu));
        println!(
            "{variant:?}: median {wall:.0} ms wall per update (min {lo:.0}, max {hi:.0}), {cpu:.0} ms CPU (all threads), over {} updates after 2 warm-up ones: {:.2} updates/s",
            times.len() - 2,
            1e3 / wall
        );

        // The optimiser's share: one Adam update of every parameter (dense embedding gradient).
        let vars: Vec<(String, Var)> =
            t.varmap().data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut adam = Adam::new(vars.clone(), AdamParams::default())?;
        let loss = vars.iter().map(|(_, v)| v.as_tensor().sum_all()).collect::<Result<Vec<_>>>()?;
        let grads = Tensor::stack(&loss, 0)?.sum_all()?.backward()?;
        let mut adam_ms = vec![];
        for _ in 0..5 {
            let a = Instant::now();
            adam.step(&grads, 1e-4)?;
            adam_ms.push(a.elapsed().as_secs_f64() * 1e3);
        }
        adam_ms.sort_by(f64::total_cmp);
        println!("{variant:?}: Adam update of all parameters: median {:.1} ms", adam_ms[2]);
    }
    Ok(())
}
