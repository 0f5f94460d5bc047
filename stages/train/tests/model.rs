//! The full model: parameter counts, shapes, variants, masking, gradients, checkpoints and a
//! small overfitting run.

mod common;

use std::collections::BTreeMap;

use candle_core::{D, DType, Device, IndexOp, Result, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use common::{Ids, example, model, vars};
use iamm_core::special::PAD;
use iamm_train::model::{AssocScore, EmotionCombine, SelectorInput};
use iamm_train::{Example, Iamm, IammConfig, Variant, collate};

const V: usize = 60;

fn tiny(variant: Variant) -> IammConfig {
    IammConfig { variant, ..IammConfig::tiny(V) }
}

fn examples(seed: u64, comet: bool) -> Vec<Example> {
    let mut ids = Ids::new(seed, V);
    let c = comet.then_some(4);
    vec![
        example(&mut ids, &[5, 3, 6], 6, 5, c, 3),
        example(&mut ids, &[4], 5, 7, c, 1),
        example(&mut ids, &[2, 7], 4, 3, c, 30),
        example(&mut ids, &[6, 6, 2], 7, 6, c, 3),
    ]
}

fn count(varmap: &VarMap) -> usize {
    varmap.all_vars().iter().map(|v| v.elem_count()).sum()
}

#[test]
fn parameter_count_matches_the_reference_without_its_dead_modules() -> Result<()> {
    let varmap = VarMap::new();
    Iamm::new(&IammConfig::reference(23_712), VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
    assert_eq!(count(&varmap), 17_075_010);

    // per module, as tabulated in iamm.rs
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for (name, var) in vars(&varmap) {
        let top = name.split('.').next().unwrap();
        let key = match top {
            t if t.starts_with("attention_layer")
                || t.starts_with("attention_v")
                || t.starts_with("hidden_layer")
                || t.starts_with("output_layer") =>
            {
                format!("emotion_head{}", t.chars().last().unwrap())
            }
            t => t.to_string(),
        };
        *groups.entry(key).or_default() += var.elem_count();
    }
    let expect: BTreeMap<String, usize> = [
        ("embedding", 7_113_600),
        ("encoder", 230_150),
        ("total_encoder", 230_150),
        ("cog_encoder", 230_150),
        ("sit_encoder", 230_150),
        ("rel_encoder", 230_150),
        ("total_con_encoder", 230_150),
        ("decoder", 278_750),
        ("rel_decoder", 278_750),
        ("sc_MHA", 48_000),
        ("rc_MHA", 48_000),
        ("con_sc_MHA", 48_000),
        ("con_rc_MHA", 48_000),
        ("ctx_linear", 240),
        ("con_linear", 30),
        ("sent_linear", 30),
        ("relation_linear", 90_300),
        ("con_relation_linear", 30_300),
        ("emotion_head2", 190_532),
        ("emotion_head4", 190_532),
        ("emotion_head5", 190_532),
        ("select_w", 300),
        ("rs_logit_linear", 601),
        ("generator", 7_137_613),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(groups, expect);
    // the reference's logged total, minus its three dead modules
    assert_eq!(17_075_010, 18_886_443 - 1_620_000 - 190_532 - 901);
    Ok(())
}

#[test]
fn ablations_drop_exactly_their_modules() -> Result<()> {
    let full = 17_075_010;
    let encoder = 230_150;
    let decoder = 278_750;
    let iam = 48_000;
    let head = 190_532;
    for (variant, expect) in [
        (Variant::WithoutEA, full - 2 * iam - 240 - 90_300),
        (Variant::WithoutIA, full - 2 * encoder - 2 * iam - 30 - 30_300 - head),
        (Variant::WithoutWS, full - 300 - decoder - 601),
    ] {
        let varmap = VarMap::new();
        let cfg = IammConfig { variant, ..IammConfig::reference(23_712) };
        Iamm::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
        assert_eq!(count(&varmap), expect, "{variant:?}");
    }
    Ok(())
}

#[test]
fn every_variant_runs_forward_and_backward() -> Result<()> {
    for variant in Variant::ALL {
        let cfg = tiny(variant);
        let (varmap, model) = model(&cfg, DType::F32, 1)?;
        let ex = examples(7, variant.implicit());
        let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
        let losses = model.loss(&batch)?;
        let total = losses.total.to_scalar::<f32>()?;
        assert!(total.is_finite() && total > 0.0, "{variant:?}: {total}");
        assert_eq!(losses.con.is_some(), variant.implicit());
        let parts = losses.nll.to_scalar::<f32>()? + losses.emotion_loss()?.to_scalar::<f32>()?;
        assert!((parts - total).abs() < 1e-4 * total, "{variant:?}");
        let grads = losses.backward()?;
        let mut missing = vec![];
        for (name, var) in vars(&varmap) {
            match grads.get(var.as_tensor()) {
                Some(g) => assert!(g.sqr()?.sum_all()?.to_scalar::<f32>()?.is_finite(), "{variant:?} {name}"),
                None => missing.push(name),
            }
        }
        // only the IAM attentions' output projections are never read (torch's topk mode)
        assert!(!missing.is_empty() || !(variant.explicit() || variant.implicit()));
        for name in &missing {
            assert!(name.ends_with("MHA.output_linear.weight"), "{variant:?}: no gradient for {name}");
        }
        let expected_missing = 2 * usize::from(variant.explicit()) + 2 * usize::from(variant.implicit());
        assert_eq!(missing.len(), expected_missing, "{variant:?}: {missing:?}");
    }
    Ok(())
}

#[test]
fn without_ia_needs_no_comet_and_the_others_do() -> Result<()> {
    let ex = examples(3, false);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    assert!(batch.comet.is_none());
    let (_, m) = model(&tiny(Variant::WithoutIA), DType::F32, 2)?;
    assert!(m.loss(&batch)?.total.to_scalar::<f32>()?.is_finite());
    for variant in [Variant::Full, Variant::WithoutEA, Variant::WithoutWS] {
        let (_, m) = model(&tiny(variant), DType::F32, 2)?;
        let err = m.loss(&batch).unwrap_err().to_string();
        assert!(err.contains("COMET"), "{variant:?}: {err}");
    }
    Ok(())
}

#[test]
fn forward_shapes() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (_, m) = model(&cfg, DType::F32, 3)?;
    let ex = examples(11, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let (b, n, l) = batch.input.dims3()?;
    let t = batch.target.dim(1)?;
    let out = m.forward(&batch)?;
    let g = &out.generated;
    assert_eq!(g.logits.dims(), &[b, t, V]);
    assert_eq!(g.p_gen.as_ref().unwrap().dims(), &[b, t, 1]);
    assert_eq!(g.copy.as_ref().unwrap().dims(), &[b, t, n * l]);
    assert_eq!(g.log_probs()?.dims(), &[b, t, V]);
    let e = &out.encoded;
    for logits in
        [&e.emotion.combined, &e.emotion.ctx, &e.emotion.sit, &e.emotion.relation, e.emotion.con.as_ref().unwrap()]
    {
        assert_eq!(logits.dims(), &[b, 32]);
    }
    assert_eq!(e.ctx.dims(), &[b, n * l, cfg.hidden_dim]);
    // memory: S + 3S(N-1) slots of each kind, S = 2·H·k2
    let s = 2 * cfg.heads * cfg.cs_topk;
    assert_eq!(e.explicit_slots, s + 3 * s * (n - 1));
    let sel = e.selected.as_ref().unwrap();
    assert_eq!(sel.slots.dims(), &[b, cfg.select_topk, cfg.hidden_dim]);
    assert_eq!(sel.pad.dims(), &[b, cfg.select_topk]);
    // traces: per pair kind, per direction and head
    let x = e.explicit.as_ref().unwrap();
    assert_eq!(x.sc.x.index.dims(), &[b * n, cfg.heads, cfg.cs_topk]);
    assert_eq!(x.sc.x.first_index.dims(), &[b * n, cfg.heads, cfg.cs_topk, cfg.ctx_topk]);
    assert_eq!(x.pc.as_ref().unwrap().y.index.dims(), &[b * (n - 1), cfg.heads, cfg.cs_topk]);
    assert_eq!(x.rc.len(), n - 1);
    let i = e.implicit.as_ref().unwrap();
    assert_eq!(i.sc.y.first_index.dims(), &[b * n, cfg.heads, cfg.cs_topk, cfg.con_topk]);
    // selected words are positions of their side
    assert!(x.sc.x.index.max_all()?.to_scalar::<u32>()? < l as u32);
    assert!(x.sc.y.index.max_all()?.to_scalar::<u32>()? < batch.situation.dim(1)? as u32);
    Ok(())
}

#[test]
fn reference_sizes_give_the_reference_memory_length() -> Result<()> {
    // default hyper-parameters (d 300, k 15/5/5), small vocabulary
    let cfg = IammConfig::reference(V);
    let (_, m) = model(&cfg, DType::F32, 4)?;
    let mut ids = Ids::new(5, V);
    let ex = [example(&mut ids, &[16, 20, 18], 17, 9, Some(12), 0), example(&mut ids, &[15], 15, 5, Some(3), 5)];
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let enc = m.encode(&batch)?;
    assert_eq!(enc.explicit_slots, 20 + 60 * 2);
    let sel = enc.selected.as_ref().unwrap();
    assert_eq!(sel.slots.dims(), &[2, 15, 300]);
    // the second example's padded utterance slots 1 and 2 still produce live memory slots (the
    // situation side of their pairs), as in the reference
    let x = enc.explicit.as_ref().unwrap();
    let y_idx = x.sc.y.index.i(3 + 1)?.flatten_all()?.to_vec1::<u32>()?;
    assert!(y_idx.iter().all(|&p| p < 16));
    Ok(())
}

#[test]
fn probabilities_are_consistent() -> Result<()> {
    for pointer_gen in [true, false] {
        let cfg = IammConfig { pointer_gen, ..tiny(Variant::Full) };
        let (_, m) = model(&cfg, DType::F32, 5)?;
        let ex = examples(13, true);
        let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
        let out = m.forward(&batch)?;
        let lp = out.generated.log_probs()?;
        let mass = lp.exp()?.sum(D::Minus1)?.flatten_all()?.to_vec1::<f32>()?;
        assert!(mass.iter().all(|&p| (p - 1.0).abs() < 1e-5), "{mass:?}");
        let picked = lp.gather(&batch.target.unsqueeze(2)?.contiguous()?, 2)?.squeeze(2)?;
        let direct = out.generated.target_log_probs(&batch.target)?;
        let diff = (picked - &direct)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "pointer {pointer_gen}: {diff}");
        // the loss runs the generator on the non-PAD positions only: same token-mean NLL
        let keep = batch.target.ne(PAD)?.to_dtype(DType::F32)?;
        let nll =
            ((direct * &keep)?.sum_all()?.neg()? / keep.sum_all()?.to_scalar::<f32>()? as f64)?.to_scalar::<f32>()?;
        let loss = m.loss(&batch)?.nll.to_scalar::<f32>()?;
        assert!((nll - loss).abs() < 1e-5 * nll, "{nll} vs {loss}");
    }
    Ok(())
}

#[test]
fn rows_do_not_leak_into_each_other() -> Result<()> {
    // Two examples with identical shapes: each row must come out as when it is alone. (With
    // other shapes the reference's padding makes rows depend on the batch.)
    let cfg = tiny(Variant::Full);
    let (_, m) = model(&cfg, DType::F32, 6)?;
    let mut ids = Ids::new(17, V);
    let a = example(&mut ids, &[4, 5], 5, 6, Some(3), 2);
    let b = example(&mut ids, &[5, 4], 5, 6, Some(3), 9);
    let both = m.forward(&collate(&[&a, &b], &Device::Cpu)?)?;
    for (row, e) in [(0usize, &a), (1, &b)] {
        let alone = m.forward(&collate(&[e], &Device::Cpu)?)?;
        let d1 = (both.generated.log_probs()?.i(row)? - alone.generated.log_probs()?.i(0)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        let d2 = (both.encoded.emotion.combined.i(row)? - alone.encoded.emotion.combined.i(0)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(d1 < 1e-4 && d2 < 1e-4, "row {row}: {d1} {d2}");
    }
    Ok(())
}

#[test]
fn two_halves_of_a_batch_give_its_loss_and_gradients() -> Result<()> {
    // `training::gradients` splits a CPU batch into interleaved halves padded as the whole;
    // their shares must add up to what the whole batch gives, parameter by parameter.
    for fast in [true, false] {
        iamm_train::model::ops::set_fast_paths(fast);
        for variant in Variant::ALL {
            let cfg = tiny(variant);
            let (varmap, m) = model(&cfg, DType::F32, 8)?;
            let comet = variant != Variant::WithoutIA;
            let mut ex = examples(5, comet);
            ex.push(example(&mut Ids::new(23, V), &[3, 3, 3, 2], 3, 9, comet.then_some(2), 12));
            let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
            let whole = m.loss(&batch)?;
            let whole_grads = whole.backward()?;
            let (grads, losses) = iamm_train::training::gradients(&m, &batch)?;
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * a.abs().max(1.0);
            let total = whole.total.to_scalar::<f32>()? as f64;
            let nll = whole.nll.to_scalar::<f32>()? as f64;
            assert!(close(losses.total, total), "{variant:?} fast={fast}: loss {} vs {total}", losses.total);
            assert!(close(losses.nll, nll), "{variant:?} fast={fast}: NLL {} vs {nll}", losses.nll);
            let predicted = whole.emotion.combined.argmax(D::Minus1)?.to_vec1::<u32>()?;
            let gold = batch.emotion.to_vec1::<u32>()?;
            assert_eq!(losses.correct, predicted.iter().zip(&gold).filter(|(p, g)| p == g).count());
            let mut compared = 0;
            for (name, var) in vars(&varmap) {
                let (a, b) = (whole_grads.get(var.as_tensor()), grads.get(var.as_tensor()));
                let (Some(a), Some(b)) = (a, b) else {
                    assert!(a.is_none() && b.is_none(), "{variant:?}: {name} has a gradient one way only");
                    continue;
                };
                let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = a.abs()?.max_all()?.to_scalar::<f32>()?.max(1e-3);
                assert!(diff <= 1e-4 * scale, "{variant:?} fast={fast}: gradient of {name} differs by {diff} (max {scale})");
                compared += 1;
            }
            assert!(compared > 50, "{variant:?}: only {compared} gradients");
        }
    }
    iamm_train::model::ops::set_fast_paths(true);
    Ok(())
}

#[test]
fn decoding_does_not_look_ahead() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (_, m) = model(&cfg, DType::F32, 7)?;
    let ex = examples(19, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let enc = m.encode(&batch)?;
    let dec = batch.decoder_input()?;
    let t = dec.dim(1)?;
    let base = m.decode(&enc, &dec)?.log_probs()?;
    // change every decoder input from position 3 on
    let mut ids = dec.to_vec2::<u32>()?;
    for row in ids.iter_mut() {
        for x in row.iter_mut().skip(3) {
            *x = 7 + (*x + 11) % (V as u32 - 7);
        }
    }
    let changed = m.decode(&enc, &Tensor::new(ids, &Device::Cpu)?)?.log_probs()?;
    let before = (base.narrow(1, 0, 3)? - changed.narrow(1, 0, 3)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
    let after = (base.narrow(1, 3, t - 3)? - changed.narrow(1, 3, t - 3)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert_eq!(before, 0.0);
    assert!(after > 1e-4);
    // one greedy step equals the last position of a full decode
    let step = m.next_log_probs(&enc, &dec.narrow(1, 0, 4)?)?;
    let full = m.decode(&enc, &dec.narrow(1, 0, 4)?)?.log_probs()?.i((.., 3))?;
    assert!((step - full)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
    Ok(())
}

#[test]
fn pad_embedding_row_is_nonzero_and_frozen() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (_, m) = model(&cfg, DType::F32, 8)?;
    let ex = examples(23, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let w = m.embedding_weight();
    assert!(w.i(PAD as usize)?.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    let grads = m.loss(&batch)?.backward()?;
    let g = grads.get(w).expect("embedding gradient");
    assert_eq!(g.i(PAD as usize)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
    // rows used by the batch get gradient, rows never used do not
    let used: std::collections::BTreeSet<u32> = batch.input.flatten_all()?.to_vec1::<u32>()?.into_iter().collect();
    let id = *used.iter().find(|&&i| i > 6).unwrap();
    assert!(g.i(id as usize)?.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
    Ok(())
}

#[test]
fn finite_difference_gradients_of_the_whole_model_f64() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (varmap, m) = model(&cfg, DType::F64, 9)?;
    let ex = examples(29, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let losses = m.loss(&batch)?;
    let grads = losses.backward()?;
    let f = || -> Result<f64> { m.loss(&batch)?.total.to_scalar::<f64>() };
    let h = 1e-5;
    let mut checked = 0;
    let mut pick = Ids::new(31, 1 << 20);
    for (name, var) in vars(&varmap) {
        let Some(g) = grads.get(var.as_tensor()) else { continue };
        let g = g.flatten_all()?.to_vec1::<f64>()?;
        let orig = var.as_tensor().copy()?;
        let v0 = orig.flatten_all()?.to_vec1::<f64>()?;
        // two entries per variable; for the embedding, entries of rows the batch uses
        let mut idx: Vec<usize> = (0..2).map(|_| pick.next() as usize % v0.len()).collect();
        if name == "embedding.lut.weight" {
            let id = batch.situation.i((0, 1))?.to_scalar::<u32>()? as usize;
            idx = vec![id * cfg.emb_dim, id * cfg.emb_dim + 3];
        }
        for i in idx {
            let mut p = v0.clone();
            p[i] += h;
            var.set(&Tensor::from_vec(p.clone(), orig.shape(), &Device::Cpu)?)?;
            let fp = f()?;
            p[i] -= 2.0 * h;
            var.set(&Tensor::from_vec(p, orig.shape(), &Device::Cpu)?)?;
            let fm = f()?;
            var.set(&orig)?;
            let n = (fp - fm) / (2.0 * h);
            assert!((n - g[i]).abs() <= 1e-4 * (1.0 + n.abs()), "{name}[{i}]: autograd {} vs numeric {n}", g[i]);
            checked += 1;
        }
    }
    eprintln!("finite differences: {checked} entries agree");
    assert!(checked > 150, "{checked}");
    Ok(())
}

#[test]
fn paper_forms_are_options() -> Result<()> {
    let ex = examples(37, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let base_cfg = tiny(Variant::Full);
    let (_, base) = model(&base_cfg, DType::F32, 10)?;
    let base_out = base.forward(&batch)?;
    // product of probabilities: same views, combined = Σ log_softmax
    let cfg = IammConfig { emotion_combine: EmotionCombine::ProductOfProbs, ..base_cfg.clone() };
    let (_, m) = model(&cfg, DType::F32, 10)?;
    let out = m.forward(&batch)?;
    let e = &out.encoded.emotion;
    let ls = |t: &Tensor| iamm_train::model::ops::log_softmax_last(t);
    let expect = (((ls(&e.ctx)? + ls(&e.sit)?)? + ls(&e.relation)?)? + ls(e.con.as_ref().unwrap())?)?;
    assert!((expect - &e.combined)?.abs()?.max_all()?.to_scalar::<f32>()? < 1e-5);
    assert!((base_out.encoded.emotion.ctx.clone() - &e.ctx)?.abs()?.max_all()?.to_scalar::<f32>()? == 0.0);
    // losses agree between the two combinations
    let l0 = base.loss(&batch)?.total.to_scalar::<f32>()?;
    let l1 = m.loss(&batch)?.total.to_scalar::<f32>()?;
    assert_eq!(l0, l1);
    // sigmoid-product association and the encoded-memory selector run and change the output
    for cfg in [
        IammConfig { assoc_score: AssocScore::SigmoidProduct, ..base_cfg.clone() },
        IammConfig { selector_input: SelectorInput::EncodedMemory, ..base_cfg.clone() },
    ] {
        let (_, m) = model(&cfg, DType::F32, 10)?;
        let l = m.loss(&batch)?;
        assert!(l.total.to_scalar::<f32>()?.is_finite());
        assert_ne!(l.total.to_scalar::<f32>()?, l0);
        l.backward()?;
    }
    Ok(())
}

#[test]
fn checkpoints_round_trip_through_safetensors() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (varmap, m) = model(&cfg, DType::F32, 11)?;
    let ex = examples(41, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let before = m.loss(&batch)?.total.to_scalar::<f32>()?;
    let dir = tempfile::tempdir().map_err(candle_core::Error::wrap)?;
    let path = dir.path().join("model.safetensors");
    varmap.save(&path)?;
    // loads into a fresh model, by the reference's names
    let loaded = Iamm::new(&cfg, unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &Device::Cpu)? })?;
    assert_eq!(loaded.loss(&batch)?.total.to_scalar::<f32>()?, before);
    let names: Vec<String> = vars(&varmap).into_iter().map(|(n, _)| n).collect();
    for n in [
        "embedding.lut.weight",
        "encoder.enc.0.multi_head_attention.query_linear.weight",
        "decoder.dec.0.positionwise_feed_forward.layers.1.conv.bias",
        "attention_v4.weight",
        "generator.p_gen_linear.bias",
        "sc_MHA.output_linear.weight",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
    Ok(())
}

#[test]
fn reference_init_is_deterministic_and_shaped_like_torch() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (a, _) = model(&cfg, DType::F32, 12)?;
    let (b, _) = model(&cfg, DType::F32, 12)?;
    let (c, _) = model(&cfg, DType::F32, 13)?;
    let (va, vb, vc) = (vars(&a), vars(&b), vars(&c));
    let mut differs = false;
    for ((name, x), ((_, y), (_, z))) in va.iter().zip(vb.iter().zip(vc.iter())) {
        assert_eq!(x.flatten_all()?.to_vec1::<f32>()?, y.flatten_all()?.to_vec1::<f32>()?, "{name}");
        differs |= x.flatten_all()?.to_vec1::<f32>()? != z.flatten_all()?.to_vec1::<f32>()?;
        let vals = x.flatten_all()?.to_vec1::<f32>()?;
        let max = vals.iter().fold(0f32, |m, v| m.max(v.abs()));
        if name.ends_with(".gamma") {
            assert!(vals.iter().all(|&v| v == 1.0));
        } else if name.ends_with(".beta") {
            assert!(vals.iter().all(|&v| v == 0.0));
        } else if name == "embedding.lut.weight" {
            let sd = (vals.iter().map(|v| v * v).sum::<f32>() / vals.len() as f32).sqrt();
            assert!((sd - 0.01).abs() < 0.002, "{sd}");
        } else if x.rank() >= 2 {
            let d = x.dims();
            let rf: usize = d[2..].iter().product();
            let bound = (6.0 / ((d[0] + d[1]) * rf) as f32).sqrt();
            assert!(max <= bound && max > 0.5 * bound, "{name}: {max} vs {bound}");
        }
    }
    assert!(differs);
    Ok(())
}

#[test]
fn a_few_dozen_adam_steps_overfit_a_handful_of_examples() -> Result<()> {
    let cfg = tiny(Variant::Full);
    let (varmap, m) = model(&cfg, DType::F32, 14)?;
    let ex = examples(43, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    let params = candle_nn::ParamsAdamW { lr: 3e-3, beta1: 0.9, beta2: 0.98, eps: 1e-9, weight_decay: 0.0 };
    let mut opt = candle_nn::AdamW::new(varmap.all_vars(), params)?;
    let first = m.loss(&batch)?.total.to_scalar::<f32>()?;
    let mut last = first;
    for _ in 0..40 {
        let losses = m.loss(&batch)?;
        last = losses.total.to_scalar::<f32>()?;
        opt.step(&losses.backward()?)?;
    }
    eprintln!("overfit: loss {first} -> {last}");
    assert!(last < 0.3 * first, "loss {first} -> {last}");
    // and the emotions are learnt: every view predicts the labels
    let out = m.forward(&batch)?;
    let pred = out.encoded.emotion.combined.argmax(D::Minus1)?.to_vec1::<u32>()?;
    assert_eq!(pred, batch.emotion.to_vec1::<u32>()?);
    Ok(())
}

#[test]
fn fast_paths_match_the_plain_computation() -> Result<()> {
    // without the fused CPU kernels (the composite candle ops are what runs on a GPU) and
    // without the shared encoding of padded utterance slots: same loss, same gradients
    use iamm_train::model::ops::set_fast_paths;
    let cfg = tiny(Variant::Full);
    let (varmap, m) = model(&cfg, DType::F64, 15)?;
    let ex = examples(47, true);
    let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
    assert!(batch.utterances.iter().any(|&u| u < 3)); // padded slots present
    let run = |fused: bool| -> Result<(f64, Vec<(String, Tensor)>)> {
        set_fast_paths(fused);
        let losses = m.loss(&batch)?;
        let grads = losses.backward()?;
        set_fast_paths(true);
        let g =
            vars(&varmap).into_iter().filter_map(|(n, v)| grads.get(v.as_tensor()).map(|g| (n, g.clone()))).collect();
        Ok((losses.total.to_scalar::<f64>()?, g))
    };
    let (l1, g1) = run(true)?;
    let (l2, g2) = run(false)?;
    assert!((l1 - l2).abs() < 1e-10 * l1.abs(), "{l1} vs {l2}");
    assert_eq!(g1.len(), g2.len());
    for ((n, a), (_, b)) in g1.iter().zip(&g2) {
        let scale = a.abs()?.max_all()?.to_scalar::<f64>()?.max(1e-12);
        let d = (a - b)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(d <= 1e-8 * scale.max(1.0), "{n}: {d} (scale {scale})");
    }
    Ok(())
}

#[test]
fn config_round_trips_through_json() {
    let cfg =
        IammConfig { variant: Variant::WithoutIA, assoc_score: AssocScore::SigmoidProduct, ..IammConfig::default() };
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"variant\":\"without_ia\""), "{json}");
    assert!(json.contains("\"assoc_score\":\"sigmoid_product\""), "{json}");
    let back: IammConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let partial: IammConfig = serde_json::from_str(r#"{"vocab_size": 100, "variant": "wo_ws"}"#).unwrap();
    assert_eq!(partial, IammConfig { vocab_size: 100, variant: Variant::WithoutWS, ..IammConfig::default() });
    assert!(serde_json::from_str::<IammConfig>(r#"{"ctx_top_k": 3}"#).is_err());
    // the reference hyper-parameters
    let d = IammConfig::default();
    assert_eq!(
        (d.emb_dim, d.hidden_dim, d.hop, d.heads, d.depth, d.filter, d.ctx_topk, d.con_topk, d.cs_topk, d.select_topk),
        (300, 300, 1, 2, 40, 50, 15, 5, 5, 15)
    );
    assert_eq!((d.word_topk, d.pointer_gen, d.num_emotions, d.max_positions), (5, true, 32, 3000));
}
