//! Hyper-parameters of IAMM, with the reference run's values as defaults.

use iamm_core::VARIANTS;
use serde::{Deserialize, Serialize};

iamm_options::choices! {
    /// Which parts of IAMM are built: the full model or one of the paper's ablations (Table 1).
    /// Named as `iamm_core::VARIANTS` names them.
    #[derive(Hash, Serialize, Deserialize, Default)]
    #[serde(rename_all = "snake_case")]
    pub enum Variant ("variant") {
        /// Everything, as the reference.
        #[default]
        Full = VARIANTS[0],
        /// "w/o EA": no explicit association. The utterance/situation/history/memory pairs over
        /// word embeddings are not built (no `sc_MHA`, `rc_MHA`, `ctx_linear`, `relation_linear`);
        /// the memory is the implicit (COMET) memory alone.
        #[serde(rename = "without_ea", alias = "wo_ea")]
        WithoutEA = VARIANTS[1],
        /// "w/o IA": no implicit association. No COMET input at all: no COMET encoders, no
        /// implicit memory and no COMET emotion head (`comet: None` batches are accepted); the
        /// memory is the explicit memory alone and the emotion is `ctx + sit + relation`.
        #[serde(rename = "without_ia", alias = "wo_ia")]
        WithoutIA = VARIANTS[2],
        /// "w/o WS" ("w/o WSD" in §4.2): no word selector and no memory decoder, hence no gate.
        /// The memory is still built and feeds the memory emotion head; generation uses the
        /// context decoder alone.
        #[serde(rename = "without_ws", alias = "wo_ws")]
        WithoutWS = VARIANTS[3],
    }
}

impl Variant {
    /// Whether the explicit (word-level) association memory is built.
    pub fn explicit(self) -> bool {
        self != Variant::WithoutEA
    }
    /// Whether COMET knowledge is read and the implicit memory built.
    pub fn implicit(self) -> bool {
        self != Variant::WithoutIA
    }
    /// Whether the word selector, memory decoder and gate are used.
    pub fn word_selector(self) -> bool {
        self != Variant::WithoutWS
    }
}

/// How the IAM scores word pairs (the association matrices of Eq. 8-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AssocScore {
    /// The reference code: each head keeps its own raw scaled dot-product logits
    /// `q·k/√d_h` (masked keys `-1e18`). Top-k, the `k×k` weight and the second-order means
    /// all run on these logits, per head.
    #[default]
    HeadLogits,
    /// The paper (Eq. 8-9): `A_ij = Π_h σ(q_h,i·k_h,j)`, one score matrix shared by all heads
    /// (masked keys score 0). Every head then selects the same words by `A`, and weights
    /// them by `σ(Linear(A_topk))`; values and memory slots stay per head, so the shapes and
    /// parameters are those of the reference.
    SigmoidProduct,
}

/// How the four emotion predictions are combined into the one the model reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmotionCombine {
    /// The reference code: `ctx + sit + relation + con` raw logits, argmax of the sum.
    #[default]
    SumLogits,
    /// The paper (Eq. 24): the product of the four softmax distributions, i.e. the combined
    /// score is `Σ log_softmax(logits_i)`. The training loss is the same in both forms
    /// (`-log Π P_i(e*) = Σ CE_i`, which is what the reference sums); only the prediction
    /// (argmax) and the reported combined scores differ.
    ProductOfProbs,
}

/// What the word selector (Eq. 26-28) scores and passes to the memory decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SelectorInput {
    /// The reference code: the raw memory `[mem; cmem]` (before the memory encoder, whose
    /// output only feeds the memory emotion head).
    #[default]
    Memory,
    /// The paper (Eq. 26, `S_m = σ(w_v H_m)`): the memory encoder's output `H_m`.
    EncodedMemory,
}

/// IAMM hyper-parameters. `Default` is the reference run (`run.sh`: `--pointer_gen
/// --word_topk 5 --ctx_topk 15 --cs_topk 5`, everything else from `config.py`) except
/// `vocab_size`, which comes from the data (23,712 in the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IammConfig {
    /// Vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Word embedding size (`emb_dim`).
    pub emb_dim: usize,
    /// Model width (`hidden_dim`).
    pub hidden_dim: usize,
    /// Layers per encoder and decoder (`hop`).
    pub hop: usize,
    /// Attention heads, in every encoder, decoder and IAM attention (`heads`).
    pub heads: usize,
    /// Total key/value size over all heads (`depth`); per head `depth / heads`.
    pub depth: usize,
    /// Inner size of the convolutional feed-forward block (`filter`).
    pub filter: usize,
    /// Length of the sinusoidal timing table (`max_length`): no sequence may be longer.
    pub max_positions: usize,
    /// k of the explicit first-order top-k (`ctx_topk`; the paper's Appendix A calls the
    /// second-order count k2 = 15 and this one k1 = 5, swapped against the code).
    pub ctx_topk: usize,
    /// k of the implicit (COMET) first-order top-k (`con_topk` = the number of relations).
    pub con_topk: usize,
    /// k of the second-order selection, both directions (`cs_topk`).
    pub cs_topk: usize,
    /// Memory slots the word selector keeps (hard-coded 15 in the reference; the paper's
    /// Appendix A says k3 = 5).
    pub select_topk: usize,
    /// `--word_topk 5` of the reference command line: read by no IAMM code, kept so that a
    /// reference configuration round-trips. It has no effect.
    pub word_topk: usize,
    /// Pointer-generator output (copy from the context); otherwise a plain softmax.
    pub pointer_gen: bool,
    /// Emotion classes.
    pub num_emotions: usize,
    /// Full model or ablation.
    pub variant: Variant,
    /// Reference (per-head logits) or paper (product of sigmoids) association scores.
    pub assoc_score: AssocScore,
    /// Reference (sum of logits) or paper (product of probabilities) emotion combination.
    pub emotion_combine: EmotionCombine,
    /// Reference (raw memory) or paper (encoded memory) word-selector input.
    pub selector_input: SelectorInput,
}

impl Default for IammConfig {
    fn default() -> Self {
        IammConfig {
            vocab_size: 23_712,
            emb_dim: 300,
            hidden_dim: 300,
            hop: 1,
            heads: 2,
            depth: 40,
            filter: 50,
            max_positions: 3000,
            ctx_topk: 15,
            con_topk: 5,
            cs_topk: 5,
            select_topk: 15,
            word_topk: 5,
            pointer_gen: true,
            num_emotions: 32,
            variant: Variant::Full,
            assoc_score: AssocScore::HeadLogits,
            emotion_combine: EmotionCombine::SumLogits,
            selector_input: SelectorInput::Memory,
        }
    }
}

impl IammConfig {
    /// The reference configuration for a vocabulary of `vocab_size` words.
    pub fn reference(vocab_size: usize) -> Self {
        IammConfig { vocab_size, ..Default::default() }
    }

    /// A small configuration for tests and smoke runs (same structure, tiny sizes).
    pub fn tiny(vocab_size: usize) -> Self {
        IammConfig {
            vocab_size,
            emb_dim: 16,
            hidden_dim: 16,
            heads: 2,
            depth: 8,
            filter: 12,
            max_positions: 512,
            ctx_topk: 3,
            con_topk: 5,
            cs_topk: 2,
            select_topk: 4,
            ..Default::default()
        }
    }

    /// Per-head key/value size.
    pub fn head_dim(&self) -> usize {
        self.depth / self.heads
    }

    /// Checks the sizes fit together.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |v: usize, n: &str| if v == 0 { Err(format!("{n} must be positive")) } else { Ok(()) };
        pos(self.vocab_size, "vocab_size")?;
        pos(self.emb_dim, "emb_dim")?;
        pos(self.hidden_dim, "hidden_dim")?;
        pos(self.hop, "hop")?;
        pos(self.heads, "heads")?;
        pos(self.filter, "filter")?;
        pos(self.ctx_topk, "ctx_topk")?;
        pos(self.con_topk, "con_topk")?;
        pos(self.cs_topk, "cs_topk")?;
        pos(self.select_topk, "select_topk")?;
        pos(self.num_emotions, "num_emotions")?;
        if self.depth == 0 || !self.depth.is_multiple_of(self.heads) {
            return Err(format!("depth {} must be a positive multiple of heads {}", self.depth, self.heads));
        }
        if self.emb_dim != self.hidden_dim {
            // The reference feeds embeddings and hidden states to the same attention blocks.
            return Err(format!("emb_dim ({}) must equal hidden_dim ({})", self.emb_dim, self.hidden_dim));
        }
        if self.hidden_dim < 2 {
            return Err("hidden_dim must be at least 2 (timing signal, unbiased std)".into());
        }
        if self.con_topk > iamm_core::RELATIONS.len() {
            return Err(format!(
                "con_topk {} exceeds the {} COMET relations per sentence",
                self.con_topk,
                iamm_core::RELATIONS.len()
            ));
        }
        if self.max_positions < 2 {
            return Err("max_positions must be at least 2".into());
        }
        Ok(())
    }
}
