//! The shared building blocks of the reference (`src/models/common.py` and the `Encoder`,
//! `Decoder` and `Generator` classes of `IAMM/model.py`), built from a `VarBuilder`.
//!
//! Variable names follow the reference's PyTorch `state_dict` (`embedding.lut.weight`,
//! `encoder.enc.0.multi_head_attention.query_linear.weight`, …), so a converted reference
//! checkpoint loads one to one.
//!
//! Masks are `u8` tensors with **1 = padding** (the reference's `eq(PAD_idx)` masks).

use std::sync::Mutex;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Init, VarBuilder};

use super::ops;

/// `xavier_uniform_`, which the reference applies to every weight of rank > 1 except the
/// embedding (conv kernels: `fan = channels × 3`).
pub(crate) fn xavier(fan_in: usize, fan_out: usize) -> Init {
    let b = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// torch's default bias init for `nn.Linear` and `nn.Conv1d`: `U(±1/√fan_in)`.
pub(crate) fn torch_bias(fan_in: usize) -> Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// `nn.Linear(in, out, bias)`: `weight [out, in]`, `bias [out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub fn new(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", xavier(in_dim, out_dim))?;
        let bias = if bias { Some(vb.get_with_hints(out_dim, "bias", torch_bias(in_dim))?) } else { None };
        Ok(Linear { weight, bias })
    }

    /// `x [..., in] -> [..., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::linear(x, &self.weight, self.bias.as_ref())
    }
}

/// Records the embedding lookups of a training forward pass. candle accumulates a dense
/// `[V, d]` gradient for every op that reads the table (and once more for every slice of a
/// shared lookup), which costs several passes over 7M floats per lookup at the reference
/// size; instead each lookup reads a detached table and its rows become a leaf variable, and
/// [`Embedding::accumulate_grad`] scatters all their gradients into the table's in one pass.
#[derive(Debug, Default)]
pub struct EmbeddingTape {
    pieces: Mutex<Vec<(Tensor, Tensor)>>,
}

/// `Embeddings`: `nn.Embedding(V, d, padding_idx=PAD)` times `√d`.
///
/// The PAD row is a normal, non-zero row (the reference overwrites the whole table with
/// GloVe / `N(0, 0.01²)`), but like torch's `padding_idx` it never receives a gradient.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub weight: Tensor,
    scale: f64,
}

impl Embedding {
    pub fn new(vb: VarBuilder, vocab: usize, dim: usize) -> Result<Self> {
        let weight = vb.pp("lut").get_with_hints((vocab, dim), "weight", Init::Randn { mean: 0.0, stdev: 0.01 })?;
        Ok(Embedding { weight, scale: (dim as f64).sqrt() })
    }

    /// `ids` (u32, any shape) `-> [..ids.shape, d]`. With a tape, the result is differentiable
    /// (towards the table, through [`Embedding::accumulate_grad`]).
    pub fn forward(&self, ids: &Tensor, tape: Option<&EmbeddingTape>) -> Result<Tensor> {
        let dim = self.weight.dim(1)?;
        let flat = ids.flatten_all()?;
        let rows = self.weight.detach().index_select(&flat, 0)?.affine(self.scale, 0.0)?;
        let rows = match tape {
            Some(tape) => {
                let leaf = Var::from_tensor(&rows)?.as_tensor().clone();
                tape.pieces.lock().expect("tape lock").push((leaf.clone(), flat));
                leaf
            }
            None => rows,
        };
        let mut shape = ids.dims().to_vec();
        shape.push(dim);
        rows.reshape(shape)
    }

    /// Adds the table's gradient (from the gradients of the lookups on `tape`) to `grads`,
    /// dropping those of the lookup leaves. PAD lookups contribute nothing.
    pub fn accumulate_grad(&self, tape: &EmbeddingTape, grads: &mut GradStore) -> Result<()> {
        let pieces = std::mem::take(&mut *tape.pieces.lock().expect("tape lock"));
        let mut src = vec![];
        let mut ids = vec![];
        for (leaf, flat) in pieces {
            if let Some(g) = grads.remove(&leaf) {
                src.push(g);
                ids.push(flat);
            }
        }
        if src.is_empty() {
            return Ok(());
        }
        let src = Tensor::cat(&src, 0)?;
        let ids = Tensor::cat(&ids, 0)?;
        let (vocab, _) = self.weight.dims2()?;
        let g = ops::scatter_rows(&src, &ids, vocab, iamm_core::special::PAD)?.affine(self.scale, 0.0)?;
        let g = match grads.remove(&self.weight) {
            Some(prev) => (prev + g)?,
            None => g,
        };
        grads.insert(&self.weight, g);
        Ok(())
    }
}

/// `_gen_timing_signal(length, channels)`: `[length, channels]`, `[sin | cos]` halves
/// concatenated (not interleaved), timescales from 1 to 1e4, a zero column when `channels`
/// is odd.
pub fn timing_signal(length: usize, channels: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let num = channels / 2;
    let inc = (1.0e4f64).ln() / ((num as f64) - 1.0).max(1.0);
    let mut v = vec![0f64; length * channels];
    for p in 0..length {
        for i in 0..num {
            let t = p as f64 * (-(i as f64) * inc).exp();
            v[p * channels + i] = t.sin();
            v[p * channels + num + i] = t.cos();
        }
    }
    Tensor::from_vec(v, (length, channels), device)?.to_dtype(dtype)
}

/// The reference `LayerNorm`: `gamma * (x - mean) / (std + 1e-6) + beta`, unbiased std.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
}

impl LayerNorm {
    pub const EPS: f64 = 1e-6;
    pub fn new(vb: VarBuilder, dim: usize) -> Result<Self> {
        Ok(LayerNorm {
            gamma: vb.get_with_hints(dim, "gamma", Init::Const(1.0))?,
            beta: vb.get_with_hints(dim, "beta", Init::Const(0.0))?,
        })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::ref_layer_norm(x, &self.gamma, &self.beta, Self::EPS)
    }
}

/// `MultiHeadAttention` (no biases, no dropout): Q, K, V `Linear(d -> depth)`, `H` heads of
/// `depth / H`, queries scaled by `(depth/H)^-0.5`, masked logits `-1e18`, softmax, output
/// `Linear(depth -> d)`.
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub heads: usize,
    pub scale: f64,
}

/// Splits `[B, L, H*dh]` into `[B, H, L, dh]` (contiguous).
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, l, d) = x.dims3()?;
    x.reshape((b, l, heads, d / heads))?.transpose(1, 2)?.contiguous()
}

impl MultiHeadAttention {
    pub fn new(vb: VarBuilder, dim: usize, depth: usize, heads: usize) -> Result<Self> {
        Ok(MultiHeadAttention {
            query: Linear::new(vb.pp("query_linear"), dim, depth, false)?,
            key: Linear::new(vb.pp("key_linear"), dim, depth, false)?,
            value: Linear::new(vb.pp("value_linear"), dim, depth, false)?,
            output: Linear::new(vb.pp("output_linear"), depth, dim, false)?,
            heads,
            scale: ((depth / heads) as f64).powf(-0.5),
        })
    }

    /// Attention of `queries [B, Lq, d]` over `memory [B, Lk, d]`. `mask` (u8, 1 = masked) is
    /// `[B, 1, 1, Lk]` for key padding or `[B, 1, Lq, Lk]` for the decoder's causal mask (no
    /// mask: nothing masked). With `want_logits`, also returns the head-mean of the masked
    /// pre-softmax logits `[B, Lq, Lk]` (the reference's returned "attention").
    pub fn forward(
        &self,
        queries: &Tensor,
        memory: &Tensor,
        mask: Option<&Tensor>,
        want_logits: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let q = self.query.forward(queries)?; // [B, Lq, depth]
        let k = self.key.forward(memory)?;
        let v = self.value.forward(memory)?;
        let (b, lq, lk) = (q.dim(0)?, q.dim(1)?, k.dim(1)?);
        let mask = match mask {
            Some(m) => m.clone(),
            None => Tensor::zeros((b, 1, 1, lk), DType::U8, q.device())?,
        };
        let mean = if want_logits {
            // head-mean of the masked logits (masked: -1e18 in every head, so in the mean)
            let q4 = split_heads(&q, self.heads)?.affine(self.scale, 0.0)?;
            let mean = (q4.matmul(&split_heads(&k, self.heads)?.t()?)?.sum(1)? / self.heads as f64)?;
            Some(ops::masked_fill(&mean, &mask.squeeze(1)?, ops::MASK_VALUE)?.reshape((b, lq, lk))?)
        } else {
            None
        };
        let ctx = ops::attention(&q, &k, &v, &mask, self.heads, self.scale)?;
        Ok((self.output.forward(&ctx)?, mean))
    }
}

/// `Conv1d(in, out, kernel 3)` with the reference's padding: `(1, 1)` in encoders, `(2, 0)`
/// (causal) in decoders. Weights keep torch's `[out, in, 3]` layout; the convolution runs as
/// one matmul over the three shifted copies of the input.
#[derive(Debug, Clone)]
pub struct Conv3 {
    pub weight: Tensor,
    pub bias: Tensor,
    causal: bool,
}

impl Conv3 {
    pub fn new(vb: VarBuilder, in_dim: usize, out_dim: usize, causal: bool) -> Result<Self> {
        let vb = vb.pp("conv");
        let weight = vb.get_with_hints((out_dim, in_dim, 3), "weight", xavier(in_dim * 3, out_dim * 3))?;
        let bias = vb.get_with_hints(out_dim, "bias", torch_bias(in_dim * 3))?;
        Ok(Conv3 { weight, bias, causal })
    }

    /// `[B, L, in] -> [B, L, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let unf = ops::unfold3(x, if self.causal { 2 } else { 1 })?;
        ops::linear(&unf, &self.taps()?, Some(&self.bias))
    }

    /// `w[o, c, j] -> w'[o, j*C + c]`, matching the tap-major order of `ops::unfold3`.
    fn taps(&self) -> Result<Tensor> {
        let (out_dim, c, _) = self.weight.dims3()?;
        self.weight.permute((0, 2, 1))?.reshape((out_dim, 3 * c))
    }

    /// One causal step: `window [B, 3, in]` holds the inputs at `t-2, t-1, t` (zeros before
    /// the start) `-> [B, 1, out]`, the output at `t` (what `forward` gives at row `t`).
    pub fn step(&self, window: &Tensor) -> Result<Tensor> {
        let (b, k, c) = window.dims3()?;
        if !self.causal || k != 3 {
            candle_core::bail!("Conv3::step needs a causal convolution and a window of 3 positions, got {k}");
        }
        ops::linear(&window.reshape((b, 1, 3 * c))?, &self.taps()?, Some(&self.bias))
    }
}

/// `PositionwiseFeedForward(layer_config="cc")`: conv → ReLU → conv → **ReLU** (the
/// reference's loop applies ReLU after the last layer too).
#[derive(Debug, Clone)]
pub struct ConvFfn {
    pub conv1: Conv3,
    pub conv2: Conv3,
}

impl ConvFfn {
    pub fn new(vb: VarBuilder, dim: usize, filter: usize, causal: bool) -> Result<Self> {
        let vb = vb.pp("layers");
        Ok(ConvFfn {
            conv1: Conv3::new(vb.pp("0"), dim, filter, causal)?,
            conv2: Conv3::new(vb.pp("1"), filter, dim, causal)?,
        })
    }
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv2.forward(&self.conv1.forward(x)?.relu()?)?.relu()
    }
}

/// Pre-LN encoder layer: `x + MHA(LN(x))`, then `x + FFN(LN(x))`.
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    pub attention: MultiHeadAttention,
    pub ffn: ConvFfn,
    pub ln_mha: LayerNorm,
    pub ln_ffn: LayerNorm,
}

impl EncoderLayer {
    pub fn new(vb: VarBuilder, dim: usize, depth: usize, heads: usize, filter: usize) -> Result<Self> {
        Ok(EncoderLayer {
            attention: MultiHeadAttention::new(vb.pp("multi_head_attention"), dim, depth, heads)?,
            ffn: ConvFfn::new(vb.pp("positionwise_feed_forward"), dim, filter, false)?,
            ln_mha: LayerNorm::new(vb.pp("layer_norm_mha"), dim)?,
            ln_ffn: LayerNorm::new(vb.pp("layer_norm_ffn"), dim)?,
        })
    }
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let n = self.ln_mha.forward(x)?;
        let x = (x + self.attention.forward(&n, &n, Some(mask), false)?.0)?;
        let n = self.ln_ffn.forward(&x)?;
        x + self.ffn.forward(&n)?
    }

    /// The outputs at positions `0 .. keep` only. Every position is still a key, but queries
    /// and the FFN run on the first `keep + 2` positions: each of the two kernel-3 convolutions
    /// reaches one position to the right, so those give the first `keep` outputs exactly.
    pub fn forward_prefix(&self, x: &Tensor, mask: &Tensor, keep: usize) -> Result<Tensor> {
        let l = x.dim(1)?;
        let q = (keep + 2).min(l);
        if q == l {
            return self.forward(x, mask)?.narrow(1, 0, keep.min(l));
        }
        let n = self.ln_mha.forward(x)?;
        let nq = n.narrow(1, 0, q)?;
        let x = (x.narrow(1, 0, q)? + self.attention.forward(&nq, &n, Some(mask), false)?.0)?;
        let n = self.ln_ffn.forward(&x)?;
        (x + self.ffn.forward(&n)?)?.narrow(1, 0, keep)
    }
}

/// The reference `Encoder`: `Linear(d, d, no bias)`, plus the timing signal, `hop` layers,
/// a final LayerNorm.
#[derive(Debug, Clone)]
pub struct Encoder {
    pub proj: Linear,
    pub layers: Vec<EncoderLayer>,
    pub ln: LayerNorm,
    timing: Tensor,
}

impl Encoder {
    pub fn new(vb: VarBuilder, cfg: &super::IammConfig, timing: &Tensor) -> Result<Self> {
        let layers = (0..cfg.hop)
            .map(|i| EncoderLayer::new(vb.pp("enc").pp(i), cfg.hidden_dim, cfg.depth, cfg.heads, cfg.filter))
            .collect::<Result<Vec<_>>>()?;
        Ok(Encoder {
            proj: Linear::new(vb.pp("embedding_proj"), cfg.emb_dim, cfg.hidden_dim, false)?,
            layers,
            ln: LayerNorm::new(vb.pp("layer_norm"), cfg.hidden_dim)?,
            timing: timing.clone(),
        })
    }

    /// `x [B, L, d]`, `pad [B, L]` (u8, 1 = PAD) `-> [B, L, d]`.
    pub fn forward(&self, x: &Tensor, pad: &Tensor) -> Result<Tensor> {
        let l = x.dim(1)?;
        self.forward_prefix(x, pad, l)
    }

    /// The encoder's outputs at positions `0 .. keep` `[B, keep, d]`, identical to
    /// `forward(x, pad).narrow(1, 0, keep)` with less work (the COMET encoder only needs
    /// position 0).
    pub fn forward_prefix(&self, x: &Tensor, pad: &Tensor, keep: usize) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let mut x = self.proj.forward(x)?.broadcast_add(&positions(&self.timing, l)?)?;
        let mask = pad.reshape((b, 1, 1, l))?.contiguous()?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = if i == last && keep < l {
                layer.forward_prefix(&x, &mask, keep)?
            } else {
                layer.forward(&x, &mask)?
            };
        }
        self.ln.forward(&x)
    }
}

fn positions(timing: &Tensor, len: usize) -> Result<Tensor> {
    let max = timing.dim(0)?;
    if len > max {
        candle_core::bail!("sequence of {len} positions exceeds the timing table ({max}; IammConfig::max_positions)");
    }
    timing.narrow(0, 0, len)
}

/// Pre-LN decoder layer: masked self-attention, cross-attention, causal FFN.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub self_attention: MultiHeadAttention,
    pub cross_attention: MultiHeadAttention,
    pub ffn: ConvFfn,
    pub ln_dec: LayerNorm,
    pub ln_enc: LayerNorm,
    pub ln_ffn: LayerNorm,
}

impl DecoderLayer {
    pub fn new(vb: VarBuilder, dim: usize, depth: usize, heads: usize, filter: usize) -> Result<Self> {
        Ok(DecoderLayer {
            self_attention: MultiHeadAttention::new(vb.pp("multi_head_attention_dec"), dim, depth, heads)?,
            cross_attention: MultiHeadAttention::new(vb.pp("multi_head_attention_enc_dec"), dim, depth, heads)?,
            ffn: ConvFfn::new(vb.pp("positionwise_feed_forward"), dim, filter, true)?,
            ln_dec: LayerNorm::new(vb.pp("layer_norm_mha_dec"), dim)?,
            ln_enc: LayerNorm::new(vb.pp("layer_norm_mha_enc"), dim)?,
            ln_ffn: LayerNorm::new(vb.pp("layer_norm_ffn"), dim)?,
        })
    }

    fn forward(&self, x: &Tensor, memory: &Tensor, src_mask: &Tensor, dec_mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let n = self.ln_dec.forward(x)?;
        let x = (x + self.self_attention.forward(&n, &n, Some(dec_mask), false)?.0)?;
        let n = self.ln_enc.forward(&x)?;
        let (y, attn) = self.cross_attention.forward(&n, memory, Some(src_mask), true)?;
        let x = (x + y)?;
        let n = self.ln_ffn.forward(&x)?;
        Ok(((&x + self.ffn.forward(&n)?)?, attn.expect("requested")))
    }
}

/// The reference `Decoder`: projection, timing, `hop` layers, LayerNorm. Returns the output
/// and the last layer's cross-attention head-mean logits `[B, T, S]`.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub proj: Linear,
    pub layers: Vec<DecoderLayer>,
    pub ln: LayerNorm,
    timing: Tensor,
}

impl Decoder {
    pub fn new(vb: VarBuilder, cfg: &super::IammConfig, timing: &Tensor) -> Result<Self> {
        let layers = (0..cfg.hop)
            .map(|i| DecoderLayer::new(vb.pp("dec").pp(i), cfg.hidden_dim, cfg.depth, cfg.heads, cfg.filter))
            .collect::<Result<Vec<_>>>()?;
        Ok(Decoder {
            proj: Linear::new(vb.pp("embedding_proj"), cfg.emb_dim, cfg.hidden_dim, false)?,
            layers,
            ln: LayerNorm::new(vb.pp("layer_norm"), cfg.hidden_dim)?,
            timing: timing.clone(),
        })
    }

    /// `x [B, T, d]` (embedded decoder input), `trg_pad [B, T]`, `memory [B, S, d]`,
    /// `src_pad [B, S]`. Self-attention masks PAD inputs and the future
    /// (`(mask_trg + subsequent) > 0`).
    pub fn forward(&self, x: &Tensor, trg_pad: &Tensor, memory: &Tensor, src_pad: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let s = memory.dim(1)?;
        let future = causal_mask(t, x.device())?; // [T, T]
        let dec_mask =
            trg_pad.reshape((b, 1, 1, t))?.broadcast_maximum(&future.reshape((1, 1, t, t))?)?.contiguous()?;
        let src_mask = src_pad.reshape((b, 1, 1, s))?.contiguous()?;
        let mut x = self.proj.forward(x)?.broadcast_add(&positions(&self.timing, t)?)?;
        let mut attn = None;
        for layer in &self.layers {
            let (y, a) = layer.forward(&x, memory, &src_mask, &dec_mask)?;
            x = y;
            attn = Some(a);
        }
        Ok((self.ln.forward(&x)?, attn.expect("hop >= 1")))
    }
}

/// What one decoder layer keeps between incremental steps.
#[derive(Debug, Clone)]
struct LayerCache {
    /// Self-attention keys and values of the positions so far `[B, t, depth]` (`None` before
    /// the first step).
    self_kv: Option<(Tensor, Tensor)>,
    /// Cross-attention keys and values of the encoder output `[B, S, depth]`, computed once.
    cross_k: Tensor,
    cross_v: Tensor,
    /// `cross_k` split into heads `[B, H, S, dh]` (the copy attention's logits; last layer only).
    cross_k_heads: Option<Tensor>,
    /// Inputs of the two causal convolutions at the previous two positions `[B, 2, in]`
    /// (zeros before the start, the convolution's left padding).
    conv1_prev: Tensor,
    conv2_prev: Tensor,
}

/// The key/value cache of a [`Decoder`] for incremental decoding: each step feeds one new
/// position and reuses the keys/values (and convolution inputs) of the earlier ones; the
/// encoder output's keys/values are projected once. Rows can be selected (dropped, repeated,
/// reordered) between steps with [`DecoderCache::select`].
#[derive(Debug, Clone)]
pub struct DecoderCache {
    layers: Vec<LayerCache>,
    /// `[B, t]` u8: which positions so far were PAD inputs (masked as keys, as the full pass).
    key_pad: Option<Tensor>,
    /// `[B, 1, 1, S]` u8.
    src_mask: Tensor,
    /// Positions fed so far.
    pos: usize,
}

impl DecoderCache {
    /// Rows in the cache.
    pub fn rows(&self) -> Result<usize> {
        self.src_mask.dim(0)
    }

    /// Positions fed so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// A cache whose row `i` is row `rows[i]` of this one.
    pub fn select(&self, rows: &Tensor) -> Result<DecoderCache> {
        let sel = |t: &Tensor| t.index_select(rows, 0);
        let layers = self
            .layers
            .iter()
            .map(|l| {
                Ok(LayerCache {
                    self_kv: match &l.self_kv {
                        Some((k, v)) => Some((sel(k)?, sel(v)?)),
                        None => None,
                    },
                    cross_k: sel(&l.cross_k)?,
                    cross_v: sel(&l.cross_v)?,
                    cross_k_heads: l.cross_k_heads.as_ref().map(sel).transpose()?,
                    conv1_prev: sel(&l.conv1_prev)?,
                    conv2_prev: sel(&l.conv2_prev)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache {
            layers,
            key_pad: self.key_pad.as_ref().map(sel).transpose()?,
            src_mask: sel(&self.src_mask)?,
            pos: self.pos,
        })
    }
}

fn append(prev: Option<&Tensor>, x: &Tensor) -> Result<Tensor> {
    match prev {
        Some(p) => Tensor::cat(&[p, x], 1),
        None => Ok(x.clone()),
    }
}

impl Decoder {
    /// An empty cache over `memory [B, S, d]` with `src_pad [B, S]` (u8, 1 = PAD).
    pub fn start(&self, memory: &Tensor, src_pad: &Tensor) -> Result<DecoderCache> {
        let (b, s, _) = memory.dims3()?;
        let last = self.layers.len() - 1;
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let att = &layer.cross_attention;
                let cross_k = att.key.forward(memory)?;
                let cross_v = att.value.forward(memory)?;
                let cross_k_heads = if i == last { Some(split_heads(&cross_k, att.heads)?) } else { None };
                let zeros = |w: &Tensor| Tensor::zeros((b, 2, w.dim(1)?), memory.dtype(), memory.device());
                Ok(LayerCache {
                    self_kv: None,
                    cross_k,
                    cross_v,
                    cross_k_heads,
                    conv1_prev: zeros(&layer.ffn.conv1.weight)?,
                    conv2_prev: zeros(&layer.ffn.conv2.weight)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderCache { layers, key_pad: None, src_mask: src_pad.reshape((b, 1, 1, s))?.contiguous()?, pos: 0 })
    }

    /// One incremental step: `x [B, 1, d]` (the embedded new input), `pad [B, 1]` (u8, 1 = the
    /// input is PAD). Returns what [`Decoder::forward`] gives at that position over the whole
    /// prefix: the output `[B, 1, d]` and the last layer's cross-attention head-mean logits
    /// `[B, 1, S]`.
    pub fn step(&self, x: &Tensor, pad: &Tensor, cache: &mut DecoderCache) -> Result<(Tensor, Tensor)> {
        let (b, _, _) = x.dims3()?;
        let t = cache.pos;
        let key_pad = append(cache.key_pad.as_ref(), pad)?;
        // The new position sees every earlier one and itself, less the PAD inputs: the full
        // pass's `trg_pad OR future` mask at its row.
        let self_mask = key_pad.reshape((b, 1, 1, t + 1))?;
        let mut x = self.proj.forward(x)?.broadcast_add(&positions(&self.timing, t + 1)?.narrow(0, t, 1)?)?;
        let mut attn = None;
        for (layer, c) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let sa = &layer.self_attention;
            let n = layer.ln_dec.forward(&x)?;
            let q = sa.query.forward(&n)?;
            let k = append(c.self_kv.as_ref().map(|kv| &kv.0), &sa.key.forward(&n)?)?;
            let v = append(c.self_kv.as_ref().map(|kv| &kv.1), &sa.value.forward(&n)?)?;
            let a = ops::attention(&q, &k, &v, &self_mask, sa.heads, sa.scale)?;
            c.self_kv = Some((k, v));
            x = (x + sa.output.forward(&a)?)?;

            let ca = &layer.cross_attention;
            let n = layer.ln_enc.forward(&x)?;
            let q = ca.query.forward(&n)?;
            if let Some(kh) = &c.cross_k_heads {
                // head-mean of the masked logits, as `MultiHeadAttention::forward`
                let q4 = split_heads(&q, ca.heads)?.affine(ca.scale, 0.0)?;
                let mean = (q4.matmul(&kh.t()?)?.sum(1)? / ca.heads as f64)?;
                attn = Some(ops::masked_fill(&mean, &cache.src_mask.squeeze(1)?, ops::MASK_VALUE)?);
            }
            let a = ops::attention(&q, &c.cross_k, &c.cross_v, &cache.src_mask, ca.heads, ca.scale)?;
            x = (x + ca.output.forward(&a)?)?;

            let n = layer.ln_ffn.forward(&x)?;
            let w1 = Tensor::cat(&[&c.conv1_prev, &n], 1)?;
            let h = layer.ffn.conv1.step(&w1)?.relu()?;
            let w2 = Tensor::cat(&[&c.conv2_prev, &h], 1)?;
            let y = layer.ffn.conv2.step(&w2)?.relu()?;
            c.conv1_prev = w1.narrow(1, 1, 2)?.contiguous()?;
            c.conv2_prev = w2.narrow(1, 1, 2)?.contiguous()?;
            x = (x + y)?;
        }
        cache.key_pad = Some(key_pad);
        cache.pos = t + 1;
        Ok((self.ln.forward(&x)?, attn.expect("hop >= 1")))
    }
}

/// `[T, T]` u8, 1 above the diagonal (position i may not see j > i).
pub fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<u8> = (0..t * t).map(|i| u8::from(i % t > i / t)).collect();
    Tensor::from_vec(v, (t, t), device)
}

/// The ESCM "aggregation network" emotion head: `a = softmax_j(v·tanh(W_a h_j + b_a))` over
/// **all** positions (no padding mask, as the reference), `p = Σ a_j h_j`,
/// `logits = W_o tanh(W_h p + b_h) + b_o`.
#[derive(Debug, Clone)]
pub struct EmotionHead {
    pub attention: Linear,
    pub v: Linear,
    pub hidden: Linear,
    pub output: Linear,
}

impl EmotionHead {
    /// `suffix` picks the reference's variable names: `attention_layer{suffix}`, …
    pub fn new(vb: VarBuilder, dim: usize, emotions: usize, suffix: &str) -> Result<Self> {
        Ok(EmotionHead {
            attention: Linear::new(vb.pp(format!("attention_layer{suffix}")), dim, dim, true)?,
            v: Linear::new(vb.pp(format!("attention_v{suffix}")), dim, 1, false)?,
            hidden: Linear::new(vb.pp(format!("hidden_layer{suffix}")), dim, dim, true)?,
            output: Linear::new(vb.pp(format!("output_layer{suffix}")), dim, emotions, true)?,
        })
    }

    /// `h [B, L, d] -> [B, E]`.
    pub fn forward(&self, h: &Tensor) -> Result<Tensor> {
        let (b, l, _) = h.dims3()?;
        let scores = self.v.forward(&ops::tanh(&self.attention.forward(h)?)?)?.reshape((b, 1, l))?;
        let a = ops::softmax_last(&scores)?;
        let p = a.matmul(h)?.squeeze(1)?;
        self.output.forward(&ops::tanh(&self.hidden.forward(&p)?)?)
    }
}

/// The reference `Generator`: `proj Linear(d, V)` and the pointer switch
/// `p_gen_linear Linear(d, 1)` (built even when `pointer_gen` is off, as the reference).
#[derive(Debug, Clone)]
pub struct Generator {
    pub proj: Linear,
    pub p_gen: Linear,
}

impl Generator {
    pub fn new(vb: VarBuilder, dim: usize, vocab: usize) -> Result<Self> {
        Ok(Generator {
            proj: Linear::new(vb.pp("proj"), dim, vocab, true)?,
            p_gen: Linear::new(vb.pp("p_gen_linear"), dim, 1, true)?,
        })
    }
}
