//! Using a trained model (`iamm_train::Published::load` reads what the train stage
//! publishes): [`score`] computes the teacher-forced NLL and emotion prediction of every
//! example, [`generate`] decodes responses (greedy as the reference, beam search, sampling),
//! [`respond`] runs both over a test set as the evaluate stage does, and [`associations`]
//! reads off the words the interaction attention selected ([`associations::trace`] over a
//! test set, for the analysis stage). Training never runs this crate, so editing it re-keys
//! the evaluate and analysis stages, not train.
//!
//! Results are returned **in the order of the examples passed to [`iamm_train::collate`]**, not in
//! the batch's row order (the collate sorts rows by number of utterances, see
//! [`Batch::order`]).
//!
//! # Incremental decoding
//!
//! Every strategy runs the decoders one position at a time ([`Iamm::decode_step`]): the
//! self-attention keys/values of earlier positions and the last two inputs of each causal
//! kernel-3 convolution are cached per layer, the cross-attention keys/values of the encoder
//! output and of the selected memory slots are projected once. Rows whose sequence has ended
//! leave the active batch, so later steps cost less. Greedy output is token-identical to
//! recomputing the whole prefix at every step as the reference does
//! ([`Iamm::greedy_full_recompute`], tested). Rows never interact in the decoders, so dropping
//! or forking rows changes nothing else; the encoder side (memory, emotion) still sees the
//! whole batch, as in the reference.
//!
//! # Length
//!
//! `max_new_tokens` counts decoding steps, EOS included: a response has at most
//! `max_new_tokens` tokens (when no EOS came). The reference's `decoder_greedy_batch` runs
//! `max_dec_step + 1 = 51` steps with `max_dec_step = 50` and cuts at the first EOS, so its
//! responses have at most 51 tokens: [`DecodeOptions::reference`] uses 51.

pub mod associations;
mod params;
pub mod respond;
mod search;

use candle_core::{D, DType, Result, bail};

use iamm_train::Batch;
use iamm_train::model::{Encoded, Iamm};
pub use params::{AssociationParams, DecodeParams, Decoding};
use search::greedy_rows;

/// Greedy decoding as the reference's `decoder_greedy_batch`: `steps` decoding steps (the
/// reference runs `max_dec_step + 1 = 51`), each row cut at its first EOS (EOS not included),
/// so a reply has at most `steps` tokens. Rows in **batch order** (see [`Batch::order`];
/// [`generate`] returns example order and offers beam search and sampling). Incremental, with
/// finished rows dropped; token-identical to [`Iamm::greedy_full_recompute`].
pub fn greedy(model: &Iamm, batch: &Batch, steps: usize) -> Result<Vec<Vec<u32>>> {
    greedy_rows(model, &model.encode(batch)?, steps)
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// The most probable token (the reference).
    Greedy,
    /// Beam search as fairseq does it: every step, each example's `size` live hypotheses are
    /// extended by their `2·size` best continuations; one ending in EOS among the first `size`
    /// is finished, the others fill the `size` live beams. An example stops when `size`
    /// hypotheses are finished (or after `max_new_tokens` steps, when the live ones count as
    /// finished). The answer is the finished hypothesis with the best
    /// `score / len^length_penalty`, `score` = sum of the token log-probabilities, `len` = its
    /// steps (EOS included). `size = 1` is greedy.
    Beam { size: usize, length_penalty: f32 },
    /// Sampling from `P^(1/temperature)` restricted to the `top_k` most probable tokens
    /// (0 = all) and then to the smallest set whose probability reaches `top_p` (1 = all),
    /// renormalised. Each example draws from its own stream, seeded from
    /// [`DecodeOptions::seed`] and its position among the collated examples, so a given seed
    /// and batch give the same responses. `top_k = 1` is greedy.
    Sample { top_k: usize, top_p: f32, temperature: f32 },
}

/// Decoding options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeOptions {
    pub strategy: Strategy,
    /// Decoding steps, EOS included (see the module docs; the reference: 51).
    pub max_new_tokens: usize,
    /// Seeds sampling (ignored by the other strategies).
    pub seed: u64,
}

impl DecodeOptions {
    /// The reference's decoding: greedy, 51 steps (`max_dec_step + 1`).
    pub fn reference() -> Self {
        DecodeOptions { strategy: Strategy::Greedy, max_new_tokens: 51, seed: 0 }
    }

    fn validate(&self) -> Result<()> {
        match self.strategy {
            Strategy::Greedy => {}
            Strategy::Beam { size, length_penalty } => {
                if size == 0 {
                    bail!("decoding: beam size must be at least 1");
                }
                if !length_penalty.is_finite() {
                    bail!("decoding: length penalty must be finite, got {length_penalty}");
                }
            }
            Strategy::Sample { top_p, temperature, .. } => {
                if !(temperature > 0.0 && temperature.is_finite()) {
                    bail!("decoding: temperature must be positive and finite, got {temperature} (use Greedy for 0)");
                }
                if !(top_p > 0.0 && top_p <= 1.0) {
                    bail!("decoding: top_p must be in (0, 1], got {top_p}");
                }
            }
        }
        Ok(())
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self::reference()
    }
}

/// Decodes a response for every example of `batch`: generated ids without SOS, cut before
/// the first EOS, one entry per example **in the order the examples were passed to
/// [`iamm_train::collate`]**.
pub fn generate(model: &Iamm, batch: &Batch, opts: &DecodeOptions) -> Result<Vec<Vec<u32>>> {
    generate_encoded(model, batch, &model.encode(batch)?, opts)
}

/// [`generate`] from `enc = model.encode(batch)` (to share one encoding with
/// [`score_encoded`]: the encoder side costs as much as greedy decoding at ED sizes).
pub fn generate_encoded(model: &Iamm, batch: &Batch, enc: &Encoded, opts: &DecodeOptions) -> Result<Vec<Vec<u32>>> {
    opts.validate()?;
    check_rows(batch, enc)?;
    let rows = match opts.strategy {
        Strategy::Greedy => greedy_rows(model, enc, opts.max_new_tokens)?,
        Strategy::Beam { size, length_penalty } => {
            search::beam_rows(model, enc, opts.max_new_tokens, size, length_penalty)?
        }
        Strategy::Sample { top_k, top_p, temperature } => {
            let sampler = search::Sampler { top_k, top_p, temperature };
            search::sample_rows(model, enc, opts.max_new_tokens, &sampler, opts.seed, &batch.order)?
        }
    };
    Ok(to_example_order(rows, &batch.order))
}

/// Teacher-forced score of one example.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleScore {
    /// `-Σ ln P(target token)` under the pointer-generator mixture, over the non-PAD target
    /// tokens (EOS included), as the training loss computes it.
    pub nll_sum: f64,
    /// Non-PAD target tokens, EOS included.
    pub tokens: usize,
    /// The combined emotion scores the prediction argmaxes (`EmotionLogits::combined`:
    /// the sum of the four views' logits in the reference), one per emotion.
    pub emotion_logits: Vec<f32>,
    /// The predicted emotion id (EMO_MAP order).
    pub predicted: usize,
}

impl ExampleScore {
    /// Mean NLL per token (the reference's per-example PPL term).
    pub fn nll_mean(&self) -> f64 {
        self.nll_sum / self.tokens as f64
    }
}

/// Teacher-forced NLL and emotion prediction of every example of `batch`, in the order the
/// examples were passed to [`iamm_train::collate`].
pub fn score(model: &Iamm, batch: &Batch) -> Result<Vec<ExampleScore>> {
    score_encoded(model, batch, &model.encode(batch)?)
}

/// [`score`] from `enc = model.encode(batch)`.
pub fn score_encoded(model: &Iamm, batch: &Batch, enc: &Encoded) -> Result<Vec<ExampleScore>> {
    check_rows(batch, enc)?;
    let tlp = model.target_log_probs(enc, batch)?;
    let lp = tlp.log_probs.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let b = batch.size();
    let mut nll = vec![0f64; b];
    let mut tokens = vec![0usize; b];
    for (&row, l) in tlp.rows.iter().zip(&lp) {
        nll[row] -= l;
        tokens[row] += 1;
    }
    let logits = enc.emotion.combined.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    let predicted = enc.emotion.combined.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let rows = (0..b)
        .map(|r| ExampleScore {
            nll_sum: nll[r],
            tokens: tokens[r],
            emotion_logits: logits[r].clone(),
            predicted: predicted[r] as usize,
        })
        .collect();
    Ok(to_example_order(rows, &batch.order))
}

fn check_rows(batch: &Batch, enc: &Encoded) -> Result<()> {
    let rows = enc.ctx.dim(0)?;
    if rows != batch.size() {
        bail!("decoding: the encoding has {rows} rows but the batch {} (encode this batch)", batch.size());
    }
    Ok(())
}

/// Row `r` holds example `order[r]`: puts it back at that index.
fn to_example_order<T: Default>(rows: Vec<T>, order: &[usize]) -> Vec<T> {
    let mut out: Vec<T> = (0..rows.len()).map(|_| T::default()).collect();
    for (row, &ex) in rows.into_iter().zip(order) {
        out[ex] = row;
    }
    out
}

impl Default for ExampleScore {
    fn default() -> Self {
        ExampleScore { nll_sum: 0.0, tokens: 0, emotion_logits: vec![], predicted: 0 }
    }
}
