//! The full IAMM model (reference `IAMM` class, `src/models/IAMM/model.py`).
//!
//! `forward` reads like the paper: encode the dialogue (§3.3), build the explicit and implicit
//! association memories (§3.4), predict the emotion from four views and generate through two
//! decoders, a gate and the pointer-generator (§3.5).
//!
//! # Parameters
//!
//! With `V = 23,712` and the default configuration (Full variant) the model has
//! **17,075,010** parameters — the reference's logged 18,886,443 minus its dead modules
//! (`cog_lin` MLP 1,620,000; emotion head "1" of `get_sit_logits` 190,532; `logit_linear`
//! 901). Per module:
//!
//! | module | parameters |
//! |---|---:|
//! | `embedding` (23,712 × 300) | 7,113,600 |
//! | 6 encoders (`encoder`, `total_encoder`, `cog_encoder`, `sit_encoder`, `rel_encoder`, `total_con_encoder`), 230,150 each | 1,380,900 |
//! | 2 decoders (`decoder`, `rel_decoder`), 278,750 each | 557,500 |
//! | 4 IAM attentions (`sc_MHA`, `rc_MHA`, `con_sc_MHA`, `con_rc_MHA`), 48,000 each (of which the 12,000 of `output_linear` are never used: see [`IamAttention`]) | 192,000 |
//! | `ctx_linear` 240, `con_linear` 30, `sent_linear` 30 | 300 |
//! | `relation_linear` (300 → 300) 90,300, `con_relation_linear` (100 → 300) 30,300 | 120,600 |
//! | 3 emotion heads (`…2` ctx+sit, `…4` memory, `…5` COMET), 190,532 each | 571,596 |
//! | `select_w` 300, `rs_logit_linear` 601 | 901 |
//! | `generator.proj` (300 → 23,712) 7,137,312, `generator.p_gen_linear` 301 | 7,137,613 |
//! | **total** | **17,075,010** |
//!
//! An encoder is `embedding_proj` 90,000 + attention 4 × 12,000 + conv FFN 45,050 + 45,300 +
//! 3 LayerNorms 1,800; a decoder is `embedding_proj` 90,000 + 2 attentions 96,000 + conv FFN
//! 90,350 + 4 LayerNorms 2,400.
//!
//! # Padding and batch composition
//!
//! As in the reference, padded utterance slots (examples with fewer than the batch's `N`
//! utterances) take part in the memory loop and their situation-side selections are live
//! memory slots; the COMET emotion view reads the COMET of utterance slot `N-1`, which is the
//! last padded slot for shorter examples. Results therefore depend on what else is in the
//! batch, exactly as in the reference.

use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{D, DType, Result, Tensor, bail};
use candle_nn::VarBuilder;
use iamm_core::special::{EOS, PAD, SOS};

use super::config::{EmotionCombine, IammConfig, SelectorInput};
use super::iam::{IamAttention, IamHead};
use super::layers::{Decoder, DecoderCache, Embedding, EmbeddingTape, EmotionHead, Encoder, Generator, Linear, timing_signal};
use super::memory::{MemoryBuilder, MemoryTrace};
use super::ops;
use crate::batch::{Batch, NUM_RELATIONS};

/// The explicit-association parts (absent in w/o EA).
#[derive(Debug, Clone)]
struct Explicit {
    sc: IamAttention,
    rc: IamAttention,
    ctx_linear: Linear,
    relation_linear: Linear,
}

/// The implicit-association (COMET) parts (absent in w/o IA).
#[derive(Debug, Clone)]
struct Implicit {
    cog_encoder: Encoder,
    total_con_encoder: Encoder,
    sc: IamAttention,
    rc: IamAttention,
    con_linear: Linear,
    con_relation_linear: Linear,
    head: EmotionHead,
}

/// Word selector, memory decoder and gate (absent in w/o WS).
#[derive(Debug, Clone)]
struct Selector {
    select_w: Linear,
    rel_decoder: Decoder,
    gate: Linear,
}

/// IAMM.
#[derive(Debug, Clone)]
pub struct Iamm {
    cfg: IammConfig,
    embedding: Embedding,
    encoder: Encoder,
    total_encoder: Encoder,
    sit_encoder: Encoder,
    rel_encoder: Encoder,
    explicit: Option<Explicit>,
    implicit: Option<Implicit>,
    sent_linear: Linear,
    decoder: Decoder,
    selector: Option<Selector>,
    head_ctx: EmotionHead,
    head_rel: EmotionHead,
    generator: Generator,
}

/// The emotion logits `[B, E]`: the four views and their combination.
#[derive(Debug, Clone)]
pub struct EmotionLogits {
    /// `ctx + sit + relation + con` ([`EmotionCombine::SumLogits`]) or the sum of their
    /// log-softmaxes ([`EmotionCombine::ProductOfProbs`]); argmax = prediction.
    pub combined: Tensor,
    /// Dialogue-level encoder output through head 2.
    pub ctx: Tensor,
    /// Situation encoder output through head 2 (shared with `ctx`).
    pub sit: Tensor,
    /// Memory encoder output through head 4.
    pub relation: Tensor,
    /// COMET (situation + utterance slot N-1) through head 5; `None` in w/o IA.
    pub con: Option<Tensor>,
}

/// The memory slots the word selector kept for the memory decoder.
#[derive(Debug, Clone)]
pub struct Selected {
    /// `σ(score) · slot`, `[B, k3, d]`.
    pub slots: Tensor,
    /// `[B, k3]` u8, 1 = masked.
    pub pad: Tensor,
    /// Indices into `[explicit memory; implicit memory]`, `[B, k3]` (detached).
    pub index: Tensor,
}

/// Everything decoding needs, computed once per batch.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// Dialogue-level encoder output `[B, N·L, d]` (the context decoder's memory).
    pub ctx: Tensor,
    /// `[B, N·L]` u8, 1 = PAD.
    pub ctx_pad: Tensor,
    /// Context token ids `[B, N·L]` (the pointer's copy targets).
    pub copy_ids: Tensor,
    pub selected: Option<Selected>,
    pub emotion: EmotionLogits,
    /// Associated words of the explicit memory (w/o EA: `None`).
    pub explicit: Option<MemoryTrace>,
    /// Associated words of the implicit memory (w/o IA: `None`).
    pub implicit: Option<MemoryTrace>,
    /// Slots of the explicit memory (the implicit memory's indices start after them).
    pub explicit_slots: usize,
    /// Embedding lookups to differentiate (training forward passes only).
    tape: Option<Arc<EmbeddingTape>>,
}

/// Generator output for a decoded prefix.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Vocabulary logits `[B, T, V]`.
    pub logits: Tensor,
    /// Pointer switch `α = σ(p_gen(h))` `[B, T, 1]` (pointer-generator only).
    pub p_gen: Option<Tensor>,
    /// Copy distribution `softmax(attn)` over the context positions `[B, T, N·L]`.
    pub copy: Option<Tensor>,
    /// Context ids `[B, N·L]` the copy distribution scatters to.
    pub copy_ids: Tensor,
}

impl Generated {
    /// `log P` over the vocabulary `[B, T, V]`: `log(α·softmax(logits) + (1-α)·scatter(copy))`
    /// with the pointer (no epsilon, as the reference), `log_softmax(logits)` without.
    pub fn log_probs(&self) -> Result<Tensor> {
        match (&self.p_gen, &self.copy) {
            (Some(alpha), Some(copy)) => {
                let (b, t, s) = copy.dims3()?;
                let vocab = ops::softmax_last(&self.logits)?.broadcast_mul(alpha)?;
                let src = copy.broadcast_mul(&alpha.affine(-1.0, 1.0)?)?;
                let ids = self.copy_ids.reshape((b, 1, s))?.broadcast_as((b, t, s))?.contiguous()?;
                vocab.scatter_add(&ids, &src, 2)?.log()
            }
            _ => ops::log_softmax_last(&self.logits),
        }
    }

    /// `log P(target)` `[B, T]` without building the full mixture (what training needs).
    pub fn target_log_probs(&self, target: &Tensor) -> Result<Tensor> {
        let (b, t, v) = self.logits.dims3()?;
        let tgt = target.unsqueeze(2)?; // [B, T, 1]
        let log_vocab =
            ops::target_log_softmax(&self.logits.reshape((b * t, v))?, &target.flatten_all()?)?.reshape((b, t, 1))?;
        let lp = match (&self.p_gen, &self.copy) {
            (Some(alpha), Some(copy)) => {
                let (b, _, s) = copy.dims3()?;
                let hit = self.copy_ids.reshape((b, 1, s))?.broadcast_eq(&tgt)?.to_dtype(copy.dtype())?;
                let p_copy = (copy * hit)?.sum_keepdim(2)?;
                let p = ((log_vocab.exp()? * alpha)? + (p_copy * alpha.affine(-1.0, 1.0)?)?)?;
                p.log()?
            }
            _ => log_vocab,
        };
        lp.squeeze(2)
    }
}

/// What `forward` returns.
#[derive(Debug, Clone)]
pub struct Output {
    pub encoded: Encoded,
    pub generated: Generated,
}

/// The training losses as the reference sums them. For a part of a batch
/// ([`Iamm::loss_part`]) each is the part's share: the parts' losses add up to the batch's.
#[derive(Debug, Clone)]
pub struct Losses {
    /// Mean NLL over the non-PAD target tokens (scalar).
    pub nll: Tensor,
    /// Cross-entropy (batch mean) of each emotion view: ctx, sit, relation, con.
    pub ctx: Tensor,
    pub sit: Tensor,
    pub relation: Tensor,
    pub con: Option<Tensor>,
    /// `nll + sit + ctx + relation + con`.
    pub total: Tensor,
    /// The emotion logits (for accuracy).
    pub emotion: EmotionLogits,
    tape: Option<Arc<EmbeddingTape>>,
    embedding: Embedding,
}

impl Losses {
    /// Gradients of `total` for every parameter. Use this rather than `total.backward()`,
    /// which misses the embedding table (see [`EmbeddingTape`]).
    pub fn backward(&self) -> Result<GradStore> {
        let mut grads = self.total.backward()?;
        if let Some(tape) = &self.tape {
            self.embedding.accumulate_grad(tape, &mut grads)?;
        }
        Ok(grads)
    }

    /// The emotion part of the loss (`sit + ctx + relation + con`).
    pub fn emotion_loss(&self) -> Result<Tensor> {
        let mut e = ((&self.ctx + &self.sit)? + &self.relation)?;
        if let Some(c) = &self.con {
            e = (e + c)?;
        }
        Ok(e)
    }
}

/// The size of a batch for its loss: the non-PAD target tokens the NLL averages over and the
/// examples the cross-entropies average over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossScale {
    pub tokens: usize,
    pub examples: usize,
}

impl LossScale {
    pub fn of(batch: &Batch) -> Self {
        LossScale { tokens: batch.target_lens.iter().sum(), examples: batch.size() }
    }
}

/// The sum over the rows of the cross-entropy, divided by `examples` (the rows of the whole
/// batch: the batch mean when these are all of them).
fn cross_entropy(logits: &Tensor, labels: &Tensor, examples: usize) -> Result<Tensor> {
    let lse = ops::logsumexp_last(logits)?; // [B, 1]
    let picked = logits.gather(&labels.unsqueeze(1)?.contiguous()?, 1)?;
    (lse - picked)?.sum_all()? / examples as f64
}

/// All-PAD rows (padded utterance slots, empty knowledge) are identical inputs, so an encoder
/// runs once for all of them: `keep` lists the other rows plus one all-PAD row, `expand`
/// maps every row back to its row of the compact batch.
struct SlotDedup {
    keep: Tensor,
    expand: Tensor,
}

impl SlotDedup {
    /// From id tensors `[R, L]` (a row is all-PAD when it is in every one of them). `None`
    /// when fewer than two rows are all-PAD.
    fn new(ids: &[&Tensor]) -> Result<Option<Self>> {
        if !ops::fast_paths() {
            return Ok(None);
        }
        let mut all_pad: Option<Vec<u8>> = None;
        for t in ids {
            let rows = t.ne(PAD)?.max(1)?.to_vec1::<u8>()?; // 1 = some real token
            all_pad = Some(match all_pad {
                None => rows.iter().map(|&r| u8::from(r == 0)).collect(),
                Some(a) => a.iter().zip(&rows).map(|(&a, &r)| a & u8::from(r == 0)).collect(),
            });
        }
        let Some(all_pad) = all_pad else { return Ok(None) };
        if all_pad.iter().filter(|&&p| p == 1).count() < 2 {
            return Ok(None);
        }
        let mut keep: Vec<u32> = vec![];
        let mut expand = vec![0u32; all_pad.len()];
        for (i, &p) in all_pad.iter().enumerate() {
            if p == 0 {
                expand[i] = keep.len() as u32;
                keep.push(i as u32);
            }
        }
        let shared = keep.len() as u32;
        keep.push(all_pad.iter().position(|&p| p == 1).expect("counted") as u32);
        for (i, &p) in all_pad.iter().enumerate() {
            if p == 1 {
                expand[i] = shared;
            }
        }
        let dev = ids[0].device();
        Ok(Some(SlotDedup { keep: Tensor::new(keep, dev)?, expand: Tensor::new(expand, dev)? }))
    }
}

impl Iamm {
    /// Builds the model's variables under `vb` (a `VarBuilder` over a `VarMap` to train,
    /// or over safetensors to load).
    pub fn new(cfg: &IammConfig, vb: VarBuilder) -> Result<Self> {
        if let Err(e) = cfg.validate() {
            bail!("invalid IAMM configuration: {e}");
        }
        let timing = timing_signal(cfg.max_positions, cfg.hidden_dim, vb.dtype(), vb.device())?;
        let (d, dh) = (cfg.hidden_dim, cfg.head_dim());
        let enc = |name: &str| Encoder::new(vb.pp(name), cfg, &timing);
        let iam = |name: &str| IamAttention::new(vb.pp(name), d, cfg.depth, cfg.heads);
        let v = cfg.variant;
        let explicit = if v.explicit() {
            Some(Explicit {
                sc: iam("sc_MHA")?,
                rc: iam("rc_MHA")?,
                ctx_linear: Linear::new(vb.pp("ctx_linear"), cfg.ctx_topk, cfg.ctx_topk, true)?,
                relation_linear: Linear::new(vb.pp("relation_linear"), cfg.ctx_topk * dh, d, true)?,
            })
        } else {
            None
        };
        let implicit = if v.implicit() {
            Some(Implicit {
                cog_encoder: enc("cog_encoder")?,
                total_con_encoder: enc("total_con_encoder")?,
                sc: iam("con_sc_MHA")?,
                rc: iam("con_rc_MHA")?,
                con_linear: Linear::new(vb.pp("con_linear"), cfg.con_topk, cfg.con_topk, true)?,
                con_relation_linear: Linear::new(vb.pp("con_relation_linear"), cfg.con_topk * dh, d, true)?,
                head: EmotionHead::new(vb.clone(), d, cfg.num_emotions, "5")?,
            })
        } else {
            None
        };
        let selector = if v.word_selector() {
            Some(Selector {
                select_w: Linear::new(vb.pp("select_w"), d, 1, false)?,
                rel_decoder: Decoder::new(vb.pp("rel_decoder"), cfg, &timing)?,
                gate: Linear::new(vb.pp("rs_logit_linear"), 2 * d, 1, true)?,
            })
        } else {
            None
        };
        Ok(Iamm {
            cfg: cfg.clone(),
            embedding: Embedding::new(vb.pp("embedding"), cfg.vocab_size, cfg.emb_dim)?,
            encoder: enc("encoder")?,
            total_encoder: enc("total_encoder")?,
            sit_encoder: enc("sit_encoder")?,
            rel_encoder: enc("rel_encoder")?,
            explicit,
            implicit,
            sent_linear: Linear::new(vb.pp("sent_linear"), cfg.cs_topk, cfg.cs_topk, true)?,
            decoder: Decoder::new(vb.pp("decoder"), cfg, &timing)?,
            selector,
            head_ctx: EmotionHead::new(vb.clone(), d, cfg.num_emotions, "2")?,
            head_rel: EmotionHead::new(vb.clone(), d, cfg.num_emotions, "4")?,
            generator: Generator::new(vb.pp("generator"), d, cfg.vocab_size)?,
        })
    }

    pub fn config(&self) -> &IammConfig {
        &self.cfg
    }

    /// The embedding table `[V, d]` (to load GloVe rows into).
    pub fn embedding_weight(&self) -> &Tensor {
        &self.embedding.weight
    }

    /// COMET knowledge through the `cog_encoder`: position 0 of each relation sequence.
    /// Returns the utterance vectors `[B, N, 5, d]` and masks `[B, N, 5]`, the situation's
    /// `[B, 5, d]` and `[B, 5]`. A slot is masked when position 1 of its sequence is PAD (empty
    /// knowledge; for xReact, which has no `[CLS]`, fewer than two words).
    fn encode_comet(
        &self,
        imp: &Implicit,
        batch: &Batch,
        tape: Option<&EmbeddingTape>,
    ) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
        let Some(comet) = &batch.comet else {
            bail!("this IAMM variant ({:?}) reads COMET knowledge, but the batch has none", self.cfg.variant);
        };
        let encode = |ids: &Tensor| -> Result<(Tensor, Tensor)> {
            // ids [R, L] -> position 0 [R, d], mask [R]
            let (r, l) = ids.dims2()?;
            let pad = ids.eq(PAD)?;
            let mask = if l > 1 { pad.narrow(1, 1, 1)?.squeeze(1)? } else { Tensor::ones(r, DType::U8, ids.device())? };
            let first = match SlotDedup::new(&[ids])?.as_ref() {
                Some(sd) => {
                    let ids = ids.index_select(&sd.keep, 0)?;
                    let out = imp.cog_encoder.forward_prefix(&self.embedding.forward(&ids, tape)?, &ids.eq(PAD)?, 1)?;
                    out.squeeze(1)?.index_select(&sd.expand, 0)?
                }
                None => imp.cog_encoder.forward_prefix(&self.embedding.forward(ids, tape)?, &pad, 1)?.squeeze(1)?,
            };
            Ok((first, mask))
        };
        let (b, n, _) = batch.input.dims3()?;
        let (mut ctx, mut ctx_mask, mut sit, mut sit_mask) = (vec![], vec![], vec![], vec![]);
        for r in 0..NUM_RELATIONS {
            let c = &comet.context[r];
            let (cb, cn, cl) = c.dims3()?;
            if cb != b || cn != n {
                bail!("COMET relation {r}: [{cb}, {cn}, ..] for a batch of [{b}, {n}, ..] utterances");
            }
            let (v, m) = encode(&c.reshape((b * n, cl))?)?;
            ctx.push(v.reshape((b, n, 1, ()))?);
            ctx_mask.push(m.reshape((b, n, 1))?);
            let s = &comet.situation[r];
            let (v, m) = encode(&s.reshape((b, s.dim(2)?))?)?;
            sit.push(v.unsqueeze(1)?);
            sit_mask.push(m.unsqueeze(1)?);
        }
        Ok((Tensor::cat(&ctx, 2)?, Tensor::cat(&ctx_mask, 2)?, Tensor::cat(&sit, 1)?, Tensor::cat(&sit_mask, 1)?))
    }

    /// Encoder side (no gradient to the embedding table): everything up to the decoders'
    /// inputs, and the emotion logits.
    pub fn encode(&self, batch: &Batch) -> Result<Encoded> {
        self.encode_with(batch, None)
    }

    fn encode_with(&self, batch: &Batch, tape: Option<Arc<EmbeddingTape>>) -> Result<Encoded> {
        let cfg = &self.cfg;
        let tp = tape.as_deref();
        let (b, n, l) = batch.input.dims3()?;
        let d = cfg.hidden_dim;
        let e = &self.embedding;

        // §3.3 explicit information: word + speaker embeddings, utterance then dialogue level.
        let src_pad = batch.input.eq(PAD)?; // [B, N, L]
        let src_emb = (e.forward(&batch.input, tp)? + e.forward(&batch.mask_input, tp)?)?; // [B, N, L, d]
        let sit_pad = batch.situation.eq(PAD)?;
        let sit_emb = e.forward(&batch.situation, tp)?;
        let utt = match SlotDedup::new(&[&batch.input.reshape((b * n, l))?, &batch.mask_input.reshape((b * n, l))?])? {
            Some(sd) => {
                let x = src_emb.reshape((b * n, l, d))?.index_select(&sd.keep, 0)?;
                let p = src_pad.reshape((b * n, l))?.index_select(&sd.keep, 0)?;
                self.encoder.forward(&x, &p)?.index_select(&sd.expand, 0)?
            }
            None => self.encoder.forward(&src_emb.reshape((b * n, l, d))?, &src_pad.reshape((b * n, l))?)?,
        };
        let ctx_pad = src_pad.reshape((b, n * l))?;
        let ctx = self.total_encoder.forward(&utt.reshape((b, n * l, d))?, &ctx_pad)?;
        let sit = self.sit_encoder.forward(&sit_emb, &sit_pad)?;
        let ctx_logits = self.head_ctx.forward(&ctx)?;
        let sit_logits = self.head_ctx.forward(&sit)?;

        // §3.4 association memories.
        let mut slots = vec![];
        let mut pads = vec![];
        let mut explicit_trace = None;
        let mut explicit_slots = 0;
        if let Some(x) = &self.explicit {
            let head = IamHead {
                first: &x.ctx_linear,
                second: &self.sent_linear,
                out: &x.relation_linear,
                k1: cfg.ctx_topk,
                k2: cfg.cs_topk,
                score: cfg.assoc_score,
            };
            let mem = MemoryBuilder { sc: &x.sc, rc: &x.rc, head }.build(&src_emb, &src_pad, &sit_emb, &sit_pad)?;
            explicit_slots = mem.slots.dim(1)?;
            slots.push(mem.slots);
            pads.push(mem.pad);
            explicit_trace = Some(mem.trace);
        }
        let mut implicit_trace = None;
        let mut con_logits = None;
        if let Some(imp) = &self.implicit {
            let (k, k_pad, sk, sk_pad) = self.encode_comet(imp, batch, tp)?;
            let head = IamHead {
                first: &imp.con_linear,
                second: &self.sent_linear,
                out: &imp.con_relation_linear,
                k1: cfg.con_topk,
                k2: cfg.cs_topk,
                score: cfg.assoc_score,
            };
            let mem = MemoryBuilder { sc: &imp.sc, rc: &imp.rc, head }.build(&k, &k_pad, &sk, &sk_pad)?;
            slots.push(mem.slots);
            pads.push(mem.pad);
            implicit_trace = Some(mem.trace);
            // Eq. 5-7: situation COMET ⊕ COMET of the last (possibly padded) utterance slot.
            let last = k.narrow(1, n - 1, 1)?.squeeze(1)?;
            let last_pad = k_pad.narrow(1, n - 1, 1)?.squeeze(1)?;
            let total = imp
                .total_con_encoder
                .forward(&Tensor::cat(&[&sk, &last], 1)?, &Tensor::cat(&[&sk_pad, &last_pad], 1)?)?;
            con_logits = Some(imp.head.forward(&total)?);
        }
        let memory = Tensor::cat(&slots, 1)?;
        let memory_pad = Tensor::cat(&pads, 1)?;
        let encoded_memory = self.rel_encoder.forward(&memory, &memory_pad)?;
        let rel_logits = self.head_rel.forward(&encoded_memory)?;

        // §3.5.1 emotion.
        let mut views = vec![&ctx_logits, &sit_logits, &rel_logits];
        if let Some(c) = &con_logits {
            views.push(c);
        }
        let combined = match cfg.emotion_combine {
            EmotionCombine::SumLogits => sum(&views.iter().map(|t| (*t).clone()).collect::<Vec<_>>())?,
            EmotionCombine::ProductOfProbs => {
                sum(&views.iter().map(|t| ops::log_softmax_last(t)).collect::<Result<Vec<_>>>()?)?
            }
        };
        let emotion =
            EmotionLogits { combined, ctx: ctx_logits, sit: sit_logits, relation: rel_logits, con: con_logits };

        // §3.5.2 word selector (Eq. 26-28).
        let selected = match &self.selector {
            Some(sel) => {
                let source = match cfg.selector_input {
                    SelectorInput::Memory => &memory,
                    SelectorInput::EncodedMemory => &encoded_memory,
                };
                let r = source.dim(1)?;
                let k = cfg.select_topk.min(r);
                let score = sel.select_w.forward(source)?.squeeze(2)?; // [B, R]
                let index = ops::topk_indices(&score, k)?; // [B, k]
                let s = score.gather(&index, 1)?;
                let gi = index.unsqueeze(2)?.broadcast_as((b, k, d))?.contiguous()?;
                let values = source.contiguous()?.gather(&gi, 1)?;
                let slots = values.broadcast_mul(&candle_nn::ops::sigmoid(&s)?.unsqueeze(2)?)?;
                let pad = memory_pad.gather(&index, 1)?;
                Some(Selected { slots, pad, index })
            }
            None => None,
        };

        Ok(Encoded {
            ctx,
            ctx_pad,
            copy_ids: batch.input.reshape((b, n * l))?,
            selected,
            emotion,
            explicit: explicit_trace,
            implicit: implicit_trace,
            explicit_slots,
            tape,
        })
    }

    /// Decoder hidden states for `dec_input [B, T]`: context decoder, memory decoder, gate.
    /// Returns `h [B, T, d]` and the context cross-attention logits `[B, T, N·L]`.
    fn decode_hidden(&self, enc: &Encoded, dec_input: &Tensor) -> Result<(Tensor, Tensor)> {
        let trg_pad = dec_input.eq(PAD)?;
        let emb = self.embedding.forward(dec_input, enc.tape.as_deref())?;
        let (h_c, attn) = self.decoder.forward(&emb, &trg_pad, &enc.ctx, &enc.ctx_pad)?;
        let h = match (&self.selector, &enc.selected) {
            (Some(sel), Some(m)) => {
                let (h_m, _) = sel.rel_decoder.forward(&emb, &trg_pad, &m.slots, &m.pad)?;
                // Eq. 31-32: g = σ(w[O_c; O_m]), O = g·O_c + (1-g)·O_m
                let g = candle_nn::ops::sigmoid(&sel.gate.forward(&Tensor::cat(&[&h_c, &h_m], 2)?)?)?;
                (h_c.broadcast_mul(&g)? + h_m.broadcast_mul(&g.affine(-1.0, 1.0)?)?)?
            }
            _ => h_c,
        };
        Ok((h, attn))
    }

    fn generate(&self, enc: &Encoded, h: &Tensor, attn: &Tensor) -> Result<Generated> {
        self.generate_with(h, attn, &enc.copy_ids)
    }

    /// Generator over `h [B', T', d]` with copy attention `attn [B', T', S]` onto `copy_ids [B', S]`.
    fn generate_with(&self, h: &Tensor, attn: &Tensor, copy_ids: &Tensor) -> Result<Generated> {
        let logits = self.generator.proj.forward(h)?;
        let (p_gen, copy) = if self.cfg.pointer_gen {
            let alpha = candle_nn::ops::sigmoid(&self.generator.p_gen.forward(h)?)?;
            (Some(alpha), Some(ops::softmax_last(attn)?))
        } else {
            (None, None)
        };
        Ok(Generated { logits, p_gen, copy, copy_ids: copy_ids.clone() })
    }

    /// Decodes `dec_input [B, T]` (teacher forcing: `[SOS] + target[:-1]`).
    pub fn decode(&self, enc: &Encoded, dec_input: &Tensor) -> Result<Generated> {
        let (h, attn) = self.decode_hidden(enc, dec_input)?;
        self.generate(enc, &h, &attn)
    }

    /// Teacher-forced forward pass, differentiable everywhere (gradients through
    /// [`Iamm::backward`] or [`Losses::backward`]). Without gradients (evaluation), use
    /// `decode(&encode(batch)?, &batch.decoder_input()?)`, which skips the embedding tape.
    pub fn forward(&self, batch: &Batch) -> Result<Output> {
        let encoded = self.encode_with(batch, Some(Arc::new(EmbeddingTape::default())))?;
        let generated = self.decode(&encoded, &batch.decoder_input()?)?;
        Ok(Output { encoded, generated })
    }

    /// The reference's training loss: token-mean NLL over non-PAD targets plus the four
    /// emotion cross-entropies (weights 1; three in w/o IA).
    ///
    /// Only the non-PAD target positions go through the generator (their mean is the loss;
    /// PAD positions have no gradient), which at ED's target lengths skips a good share of
    /// the `V`-wide work.
    pub fn loss(&self, batch: &Batch) -> Result<Losses> {
        self.loss_part(batch, LossScale::of(batch))
    }

    /// The share of `batch`, rows of a larger batch that `whole` describes (taken with
    /// [`Batch::rows`], so padded as the whole is), in that batch's loss: its NLL summed over
    /// its target tokens and divided by all of the whole's, its cross-entropies divided by all
    /// of the whole's examples. The shares of a partition add up to the whole's loss, and so do
    /// their gradients.
    pub fn loss_part(&self, batch: &Batch, whole: LossScale) -> Result<Losses> {
        let encoded = self.encode_with(batch, Some(Arc::new(EmbeddingTape::default())))?;
        let nll = (self.target_log_probs(&encoded, batch)?.log_probs.sum_all()? / whole.tokens as f64)?.neg()?;
        let em = encoded.emotion.clone();
        let ce = |logits: &Tensor| cross_entropy(logits, &batch.emotion, whole.examples);
        let ctx = ce(&em.ctx)?;
        let sit = ce(&em.sit)?;
        let relation = ce(&em.relation)?;
        let con = em.con.as_ref().map(ce).transpose()?;
        let mut total = (((&nll + &sit)? + &ctx)? + &relation)?;
        if let Some(c) = &con {
            total = (total + c)?;
        }
        Ok(Losses {
            nll,
            ctx,
            sit,
            relation,
            con,
            total,
            emotion: em,
            tape: encoded.tape,
            embedding: self.embedding.clone(),
        })
    }

    /// Teacher-forced `log P(target)` under the pointer-generator mixture at the non-PAD target
    /// positions of `batch` (EOS included), encoded as `enc`: what the loss averages. Only
    /// those positions go through the generator.
    pub fn target_log_probs(&self, enc: &Encoded, batch: &Batch) -> Result<TargetLogProbs> {
        let (h, attn) = self.decode_hidden(enc, &batch.decoder_input()?)?;
        let (b, t, d) = h.dims3()?;
        let s = attn.dim(2)?;
        let targets = batch.target.flatten_all()?.to_vec1::<u32>()?;
        let rows: Vec<u32> = (0..(b * t) as u32).filter(|&i| targets[i as usize] != PAD).collect();
        if rows.is_empty() {
            bail!("loss: every target position is PAD");
        }
        let n_rows = rows.len();
        let dev = h.device();
        let batch_rows: Vec<u32> = rows.iter().map(|&i| i / t as u32).collect();
        let rows = Tensor::new(rows, dev)?;
        let h = h.reshape((b * t, d))?.index_select(&rows, 0)?.reshape((n_rows, 1, d))?;
        let attn = attn.reshape((b * t, s))?.index_select(&rows, 0)?.reshape((n_rows, 1, s))?;
        let copy_ids = encoded_rows(&enc.copy_ids, &batch_rows)?;
        let generated = self.generate_with(&h, &attn, &copy_ids)?;
        let target = batch.target.flatten_all()?.index_select(&rows, 0)?.reshape((n_rows, 1))?;
        let log_probs = generated.target_log_probs(&target)?;
        Ok(TargetLogProbs { log_probs, rows: batch_rows.into_iter().map(|r| r as usize).collect() })
    }

    /// Gradients of `loss` (a scalar computed from `encoded` of [`Iamm::forward`]) for every
    /// parameter, the embedding table included.
    pub fn backward(&self, loss: &Tensor, encoded: &Encoded) -> Result<GradStore> {
        let mut grads = loss.backward()?;
        if let Some(tape) = &encoded.tape {
            self.embedding.accumulate_grad(tape, &mut grads)?;
        }
        Ok(grads)
    }

    /// `log P` of the next token after the prefix `ys [B, t]`, `[B, V]`, recomputing the
    /// decoders over the whole prefix (as the reference does at every step); only the last
    /// position goes through the generator. The test oracle of [`Iamm::decode_step`].
    pub fn next_log_probs(&self, enc: &Encoded, ys: &Tensor) -> Result<Tensor> {
        let (h, attn) = self.decode_hidden(enc, ys)?;
        let t = h.dim(1)?;
        let g = self.generate(enc, &h.narrow(1, t - 1, 1)?, &attn.narrow(1, t - 1, 1)?)?;
        g.log_probs()?.squeeze(1)
    }

    /// A fresh incremental decoding state for the rows of `enc`: the decoders' caches, with
    /// the keys/values of the encoder output and of the selected memory slots projected once.
    pub fn start_decoding(&self, enc: &Encoded) -> Result<DecodeState> {
        let ctx = self.decoder.start(&enc.ctx, &enc.ctx_pad)?;
        let mem = match (&self.selector, &enc.selected) {
            (Some(sel), Some(m)) => Some(sel.rel_decoder.start(&m.slots, &m.pad)?),
            _ => None,
        };
        Ok(DecodeState { ctx, mem, copy_ids: enc.copy_ids.clone() })
    }

    /// One incremental step: feeds `tokens [R]` (the newest token of each row of `state`; the
    /// first step feeds SOS) and returns `log P` of the next token `[R, V]`, equal to
    /// [`Iamm::next_log_probs`] over the whole prefix, at the cost of one position.
    pub fn decode_step(&self, state: &mut DecodeState, tokens: &Tensor) -> Result<Tensor> {
        let ys = tokens.unsqueeze(1)?; // [R, 1]
        let pad = ys.eq(PAD)?;
        let emb = self.embedding.forward(&ys, None)?;
        let (h_c, attn) = self.decoder.step(&emb, &pad, &mut state.ctx)?;
        let h = match (&self.selector, &mut state.mem) {
            (Some(sel), Some(mem)) => {
                let (h_m, _) = sel.rel_decoder.step(&emb, &pad, mem)?;
                let g = candle_nn::ops::sigmoid(&sel.gate.forward(&Tensor::cat(&[&h_c, &h_m], 2)?)?)?;
                (h_c.broadcast_mul(&g)? + h_m.broadcast_mul(&g.affine(-1.0, 1.0)?)?)?
            }
            _ => h_c,
        };
        self.generate_with(&h, &attn, &state.copy_ids)?.log_probs()?.squeeze(1)
    }

    /// Greedy decoding with the full prefix recomputed at every step (the reference's
    /// cost): the oracle that `iamm_decode::greedy` is tested against, and the bench's baseline.
    /// Rows in batch order; stops once every row has produced EOS (rows do not interact).
    #[doc(hidden)]
    pub fn greedy_full_recompute(&self, enc: &Encoded, steps: usize) -> Result<Vec<Vec<u32>>> {
        let b = enc.ctx.dim(0)?;
        let dev = enc.ctx.device();
        let mut ys = Tensor::full(SOS, (b, 1), dev)?;
        let mut out: Vec<Vec<u32>> = vec![vec![]; b];
        let mut done = vec![false; b];
        for _ in 0..steps {
            let next = self.next_log_probs(enc, &ys)?.argmax(D::Minus1)?; // [B]
            let ids = next.to_vec1::<u32>()?;
            for (i, &id) in ids.iter().enumerate() {
                if !done[i] {
                    if id == EOS {
                        done[i] = true;
                    } else {
                        out[i].push(id);
                    }
                }
            }
            if done.iter().all(|&d| d) {
                break;
            }
            ys = Tensor::cat(&[&ys, &next.unsqueeze(1)?], 1)?;
        }
        Ok(out)
    }
}

/// `t.index_select(rows)` along the batch dimension.
fn encoded_rows(t: &Tensor, rows: &[u32]) -> Result<Tensor> {
    t.index_select(&Tensor::new(rows, t.device())?, 0)
}

/// Teacher-forced log-probabilities of the non-PAD target tokens (see
/// [`Iamm::target_log_probs`]).
#[derive(Debug, Clone)]
pub struct TargetLogProbs {
    /// `log P(target)` `[n, 1]`, the non-PAD target positions in row-major order.
    pub log_probs: Tensor,
    /// The batch row of each position.
    pub rows: Vec<usize>,
}

/// The incremental decoding state of a batch (see [`Iamm::start_decoding`]).
#[derive(Debug, Clone)]
pub struct DecodeState {
    ctx: DecoderCache,
    mem: Option<DecoderCache>,
    copy_ids: Tensor,
}

impl DecodeState {
    /// Rows being decoded.
    pub fn rows(&self) -> Result<usize> {
        self.ctx.rows()
    }

    /// Positions fed so far.
    pub fn len(&self) -> usize {
        self.ctx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ctx.is_empty()
    }

    /// A state whose row `i` continues row `rows[i]` of this one (drop finished rows, fork
    /// beams).
    pub fn select(&self, rows: &[u32]) -> Result<DecodeState> {
        let idx = Tensor::new(rows, self.copy_ids.device())?;
        Ok(DecodeState {
            ctx: self.ctx.select(&idx)?,
            mem: self.mem.as_ref().map(|m| m.select(&idx)).transpose()?,
            copy_ids: self.copy_ids.index_select(&idx, 0)?,
        })
    }
}

fn sum(ts: &[Tensor]) -> Result<Tensor> {
    let mut acc = ts[0].clone();
    for t in &ts[1..] {
        acc = (acc + t)?;
    }
    Ok(acc)
}
