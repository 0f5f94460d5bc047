//! Decoding API: teacher-forced scores, incremental generation against the full recompute,
//! beam search and sampling.

// The train crate's synthetic examples and models.
#[path = "../../../stages/train/tests/common/mod.rs"]
mod common;

use candle_core::{DType, Device, Result};
use common::{V, err_text, examples, tiny};
use iamm_train::{Example, IammConfig, Variant, collate};

// ---------------------------------------------------------------------------------------------
// score

use candle_core::{IndexOp, Tensor};
use candle_nn::VarMap;
use common::model;
use iamm_core::special::{EOS, PAD, SOS};
use iamm_train::Iamm;
use iamm_decode::{DecodeOptions, Strategy, generate, generate_encoded, greedy, score, score_encoded};

/// A fixed permutation of `0..n` (not the identity).
fn shuffle(n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    p.reverse();
    p.rotate_left(n / 3);
    p
}

#[test]
fn score_sums_to_the_training_nll_and_comes_back_in_example_order() -> Result<()> {
    for variant in [Variant::Full, Variant::WithoutWS] {
        let cfg = tiny(variant);
        let (_, m) = model(&cfg, DType::F32, 21)?;
        let ex = examples(8, 9);
        let refs: Vec<&Example> = ex.iter().collect();
        let batch = collate(&refs, &Device::Cpu)?;
        assert_ne!(batch.order, (0..9).collect::<Vec<_>>(), "the collate must reorder for this test");
        let scores = score(&m, &batch)?;
        assert_eq!(scores.len(), 9);
        let enc = m.encode(&batch)?;
        assert_eq!(score_encoded(&m, &batch, &enc)?, scores);
        let opts = DecodeOptions { max_new_tokens: 5, ..DecodeOptions::reference() };
        assert_eq!(generate_encoded(&m, &batch, &enc, &opts)?, generate(&m, &batch, &opts)?);
        // token-weighted mean = the loss's token mean
        let nll: f64 = scores.iter().map(|s| s.nll_sum).sum();
        let tokens: usize = scores.iter().map(|s| s.tokens).sum();
        let loss = f64::from(m.loss(&batch)?.nll.to_scalar::<f32>()?);
        assert!((nll / tokens as f64 - loss).abs() < 1e-5 * loss.abs().max(1.0), "{} vs {loss}", nll / tokens as f64);
        // each example against an independent computation: the full mixture over all
        // positions, batch row by batch row
        let enc = m.encode(&batch)?;
        let lp = m.decode(&enc, &batch.decoder_input()?)?.log_probs()?; // [B, T, V]
        let target = batch.target.to_vec2::<u32>()?;
        let pred = enc.emotion.combined.argmax(candle_core::D::Minus1)?.to_vec1::<u32>()?;
        for (r, &e) in batch.order.iter().enumerate() {
            let s = &scores[e];
            assert_eq!(s.tokens, ex[e].target.len(), "example {e}");
            let mut want = 0f64;
            for (t, &id) in target[r].iter().enumerate() {
                if id != PAD {
                    want -= f64::from(lp.i((r, t, id as usize))?.to_scalar::<f32>()?);
                }
            }
            assert!((s.nll_sum - want).abs() < 1e-4, "example {e}: {} vs {want}", s.nll_sum);
            assert_eq!(s.emotion_logits, enc.emotion.combined.i(r)?.to_vec1::<f32>()?);
            assert_eq!(s.predicted, pred[r] as usize);
            let argmax = (0..s.emotion_logits.len())
                .fold(0, |best, i| if s.emotion_logits[i] > s.emotion_logits[best] { i } else { best });
            assert_eq!(s.predicted, argmax);
        }
        // shuffled inputs: the same scores, following their examples
        let perm = shuffle(9);
        let shuffled: Vec<&Example> = perm.iter().map(|&i| &ex[i]).collect();
        let again = score(&m, &collate(&shuffled, &Device::Cpu)?)?;
        for (j, &i) in perm.iter().enumerate() {
            assert_eq!(again[j].tokens, scores[i].tokens);
            assert!((again[j].nll_sum - scores[i].nll_sum).abs() < 1e-4, "example {i}");
            assert_eq!(again[j].predicted, scores[i].predicted);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// incremental decoding

/// Sets one entry of a bias (to steer a random model towards EOS or the copy path).
fn set_entry(varmap: &VarMap, name: &str, index: usize, value: f32) -> Result<()> {
    let data = varmap.data().lock().unwrap();
    let var = data.get(name).unwrap_or_else(|| panic!("no variable {name}"));
    let mut v = var.as_tensor().to_vec1::<f32>()?;
    v[index] = value;
    var.set(&Tensor::new(v, &Device::Cpu)?)
}

/// A random model whose EOS is likely enough that rows finish at different steps.
fn eos_model(cfg: &IammConfig, seed: u64, eos_bias: f32) -> Result<(VarMap, Iamm)> {
    let (varmap, m) = model(cfg, DType::F32, seed)?;
    set_entry(&varmap, "generator.proj.bias", EOS as usize, eos_bias)?;
    Ok((varmap, m))
}

fn batch_of(ex: &[Example], variant: Variant) -> Result<iamm_train::Batch> {
    let mut ex = ex.to_vec();
    if variant == Variant::WithoutIA {
        ex.iter_mut().for_each(|e| e.comet = None);
    }
    collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)
}

#[test]
fn incremental_steps_equal_the_full_recompute_even_over_pad_inputs() -> Result<()> {
    for (variant, hop, pointer) in
        [(Variant::Full, 1, true), (Variant::Full, 2, true), (Variant::WithoutWS, 1, true), (Variant::Full, 1, false)]
    {
        let cfg = IammConfig { hop, pointer_gen: pointer, ..tiny(variant) };
        let (_, m) = model(&cfg, DType::F32, 3)?;
        let batch = batch_of(&examples(12, 6), variant)?;
        let enc = m.encode(&batch)?;
        // teacher-forced prefix with PAD inputs in the middle (masked as keys)
        let mut ys = batch.decoder_input()?.to_vec2::<u32>()?;
        for row in ys.iter_mut() {
            if row.len() > 3 {
                row[2] = PAD;
            }
        }
        let ys = Tensor::new(ys, &Device::Cpu)?;
        let mut state = m.start_decoding(&enc)?;
        for t in 0..ys.dim(1)? {
            let step = m.decode_step(&mut state, &ys.i((.., t))?.contiguous()?)?;
            let full = m.next_log_probs(&enc, &ys.narrow(1, 0, t + 1)?)?;
            let diff = (step - &full)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 2e-5, "{variant:?} hop {hop} pointer {pointer}, step {t}: {diff}");
        }
        assert_eq!(state.len(), ys.dim(1)?);
    }
    Ok(())
}

#[test]
fn greedy_is_token_identical_to_the_full_recompute() -> Result<()> {
    let mut lengths = vec![];
    for (k, variant) in [Variant::Full, Variant::WithoutEA, Variant::WithoutIA, Variant::WithoutWS].into_iter().enumerate() {
        let cfg = IammConfig { hop: 1 + k % 2, ..tiny(variant) };
        let (_, m) = eos_model(&cfg, 40 + k as u64, 2.0)?;
        for (n, seed) in [(1usize, 1u64), (4, 2), (11, 3)] {
            let batch = batch_of(&examples(seed + 10 * k as u64, n), variant)?;
            for steps in [1, 7, 51] {
                let fast = greedy(&m, &batch, steps)?;
                let slow = m.greedy_full_recompute(&m.encode(&batch)?, steps)?;
                assert_eq!(fast, slow, "{variant:?}, {n} examples, {steps} steps");
                assert!(fast.iter().all(|s| s.len() <= steps && !s.contains(&EOS)));
                if steps == 51 {
                    lengths.extend(fast.iter().map(|s| s.len()));
                }
            }
        }
    }
    // the batches finish rows at different steps (so dropping rows was exercised) and some
    // run to the limit
    lengths.sort();
    assert!(lengths[0] < 10 && lengths.iter().any(|&l| l > 10 && l < 51), "{lengths:?}");
    Ok(())
}

#[test]
fn generate_returns_example_order_and_the_reference_length() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (_, m) = eos_model(&cfg, 5, 1.0)?;
    let ex = examples(30, 8);
    let refs: Vec<&Example> = ex.iter().collect();
    let batch = collate(&refs, &Device::Cpu)?;
    let out = generate(&m, &batch, &DecodeOptions::reference())?;
    let rows = m.greedy_full_recompute(&m.encode(&batch)?, 51)?;
    for (r, &e) in batch.order.iter().enumerate() {
        assert_eq!(out[e], rows[r], "example {e}");
    }
    let perm = shuffle(8);
    let shuffled: Vec<&Example> = perm.iter().map(|&i| &ex[i]).collect();
    let again = generate(&m, &collate(&shuffled, &Device::Cpu)?, &DecodeOptions::reference())?;
    for (j, &i) in perm.iter().enumerate() {
        assert_eq!(again[j], out[i]);
    }
    // without EOS every response takes all the steps: 51 tokens, as the reference's 51 steps
    let (_, never) = eos_model(&cfg, 5, -1e4)?;
    let out = generate(&never, &batch, &DecodeOptions::reference())?;
    assert!(out.iter().all(|s| s.len() == 51), "{:?}", out.iter().map(|s| s.len()).collect::<Vec<_>>());
    let none = generate(&never, &batch, &DecodeOptions { max_new_tokens: 0, ..DecodeOptions::reference() })?;
    assert!(none.iter().all(|s| s.is_empty()));
    Ok(())
}

#[test]
fn beam_of_one_and_top_k_of_one_are_greedy() -> Result<()> {
    for variant in [Variant::Full, Variant::WithoutWS] {
        let (_, m) = eos_model(&tiny(variant), 9, 2.0)?;
        let batch = batch_of(&examples(4, 7), variant)?;
        let greedy = generate(&m, &batch, &DecodeOptions::reference())?;
        for length_penalty in [0.0, 1.0] {
            let opts = DecodeOptions { strategy: Strategy::Beam { size: 1, length_penalty }, ..DecodeOptions::reference() };
            assert_eq!(generate(&m, &batch, &opts)?, greedy, "{variant:?} beam 1, penalty {length_penalty}");
        }
        let opts = DecodeOptions {
            strategy: Strategy::Sample { top_k: 1, top_p: 1.0, temperature: 1.7 },
            seed: 99,
            ..DecodeOptions::reference()
        };
        assert_eq!(generate(&m, &batch, &opts)?, greedy, "{variant:?} top-k 1");
        // a tiny nucleus keeps only the best token as well
        let opts = DecodeOptions {
            strategy: Strategy::Sample { top_k: 0, top_p: 1e-6, temperature: 1.0 },
            ..DecodeOptions::reference()
        };
        assert_eq!(generate(&m, &batch, &opts)?, greedy, "{variant:?} top-p 1e-6");
    }
    Ok(())
}

/// `Σ log P` of `tokens` (then EOS unless `open`) after SOS, by the full recompute.
fn sequence_score(m: &Iamm, enc: &iamm_train::model::Encoded, row: usize, tokens: &[u32], open: bool) -> Result<f64> {
    let enc1 = select_row(enc, row)?;
    let mut ys = vec![SOS];
    let mut s = 0f64;
    let mut all = tokens.to_vec();
    if !open {
        all.push(EOS);
    }
    for &t in &all {
        let lp = m.next_log_probs(&enc1, &Tensor::new(ys.as_slice(), &Device::Cpu)?.unsqueeze(0)?)?;
        s += f64::from(lp.i((0, t as usize))?.to_scalar::<f32>()?);
        ys.push(t);
    }
    Ok(s)
}

fn select_row(enc: &iamm_train::model::Encoded, row: usize) -> Result<iamm_train::model::Encoded> {
    let idx = Tensor::new(&[row as u32], &Device::Cpu)?;
    let mut e = enc.clone();
    e.ctx = e.ctx.index_select(&idx, 0)?;
    e.ctx_pad = e.ctx_pad.index_select(&idx, 0)?;
    e.copy_ids = e.copy_ids.index_select(&idx, 0)?;
    if let Some(s) = e.selected.as_mut() {
        s.slots = s.slots.index_select(&idx, 0)?;
        s.pad = s.pad.index_select(&idx, 0)?;
    }
    Ok(e)
}

#[test]
fn a_full_width_beam_finds_the_best_two_step_response() -> Result<()> {
    // With as many beams as words and two steps, beam search misses nothing: its answer is
    // the best of [EOS], [a, EOS] and [a, b] (cut at the limit) for all words a, b.
    let cfg = tiny(Variant::Full);
    let (_, m) = eos_model(&cfg, 13, 3.0)?;
    let ex = examples(50, 3);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let enc = m.encode(&batch)?;
    for length_penalty in [0.0f32, 1.0] {
        let opts =
            DecodeOptions { strategy: Strategy::Beam { size: V, length_penalty }, max_new_tokens: 2, seed: 0 };
        let out = generate(&m, &batch, &opts)?;
        for (r, &e) in batch.order.iter().enumerate() {
            let e1 = select_row(&enc, r)?;
            let sos = Tensor::new(&[[SOS]], &Device::Cpu)?;
            let lp1 = m.next_log_probs(&e1, &sos)?.to_vec2::<f32>()?.remove(0);
            let mut best = (f64::from(lp1[EOS as usize]), vec![]);
            for a in 0..V as u32 {
                if a == EOS {
                    continue;
                }
                let ys = Tensor::new(&[[SOS, a]], &Device::Cpu)?;
                let lp2 = m.next_log_probs(&e1, &ys)?.to_vec2::<f32>()?.remove(0);
                for bb in 0..V as u32 {
                    let s = (f64::from(lp1[a as usize]) + f64::from(lp2[bb as usize])) / 2f64.powf(length_penalty.into());
                    let seq = if bb == EOS { vec![a] } else { vec![a, bb] };
                    if s > best.0 {
                        best = (s, seq);
                    }
                }
            }
            assert_eq!(out[e], best.1, "example {e}, penalty {length_penalty}");
        }
    }
    // beam search at the reference length finds responses at least as probable as greedy's
    // when lengths are not penalised... per example, by the model's own scores
    let greedy = generate(&m, &batch, &DecodeOptions::reference())?;
    let beam = generate(
        &m,
        &batch,
        &DecodeOptions { strategy: Strategy::Beam { size: 4, length_penalty: 0.0 }, ..DecodeOptions::reference() },
    )?;
    for (r, &e) in batch.order.iter().enumerate() {
        let open = |s: &Vec<u32>| s.len() == 51;
        let g = sequence_score(&m, &enc, r, &greedy[e], open(&greedy[e]))?;
        let b = sequence_score(&m, &enc, r, &beam[e], open(&beam[e]))?;
        assert!(b >= g - 1e-4, "example {e}: beam {b} < greedy {g}");
    }
    Ok(())
}

#[test]
fn sampling_is_reproducible_for_a_seed_and_varies_across_seeds() -> Result<()> {
    let (_, m) = eos_model(&tiny(Variant::Full), 17, 1.0)?;
    let batch = batch_of(&examples(60, 6), Variant::Full)?;
    let opts = |seed, top_k, top_p| DecodeOptions {
        strategy: Strategy::Sample { top_k, top_p, temperature: 1.3 },
        max_new_tokens: 12,
        seed,
    };
    for (top_k, top_p) in [(0, 1.0), (10, 1.0), (0, 0.9), (20, 0.8)] {
        let a = generate(&m, &batch, &opts(1, top_k, top_p))?;
        assert_eq!(a, generate(&m, &batch, &opts(1, top_k, top_p))?, "top_k {top_k} top_p {top_p}");
        let b = generate(&m, &batch, &opts(2, top_k, top_p))?;
        assert_ne!(a, b, "top_k {top_k} top_p {top_p}");
        assert!(a.iter().all(|s| s.len() <= 12 && !s.contains(&EOS)));
    }
    // bad options are refused with a reason
    let e = err_text(generate(&m, &batch, &opts(1, 0, 0.0)));
    assert!(e.contains("top_p"), "{e}");
    let bad = DecodeOptions { strategy: Strategy::Sample { top_k: 0, top_p: 1.0, temperature: 0.0 }, ..opts(1, 0, 1.0) };
    assert!(err_text(generate(&m, &batch, &bad)).contains("temperature"));
    let bad = DecodeOptions { strategy: Strategy::Beam { size: 0, length_penalty: 1.0 }, ..opts(1, 0, 1.0) };
    assert!(err_text(generate(&m, &batch, &bad)).contains("beam size"));
    Ok(())
}

#[test]
fn every_strategy_copies_context_words_through_the_pointer() -> Result<()> {
    // A pointer switch at α ≈ 0 and a vocabulary that cannot produce the context's words:
    // whatever is generated comes from the copy distribution, i.e. from the context.
    let cfg = tiny(Variant::Full);
    let (varmap, m) = model(&cfg, DType::F32, 23)?;
    set_entry(&varmap, "generator.p_gen_linear.bias", 0, -40.0)?;
    let ex = examples(70, 5);
    for e in &ex {
        for u in &e.context {
            for &id in u {
                set_entry(&varmap, "generator.proj.bias", id as usize, -1e4)?;
            }
        }
    }
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    for strategy in [
        Strategy::Greedy,
        Strategy::Beam { size: 3, length_penalty: 1.0 },
        Strategy::Sample { top_k: 5, top_p: 0.95, temperature: 1.0 },
    ] {
        let out = generate(&m, &batch, &DecodeOptions { strategy, max_new_tokens: 6, seed: 4 })?;
        for (e, s) in out.iter().enumerate() {
            assert!(!s.is_empty(), "{strategy:?}");
            for id in s {
                assert!(ex[e].context.iter().any(|u| u.contains(id)), "{strategy:?}: {id} is not in example {e}'s context");
            }
        }
    }
    Ok(())
}
