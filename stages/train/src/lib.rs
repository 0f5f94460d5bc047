//! The **train** stage's model: IAMM (Yang et al., ACL 2024, "An Iterative Associative Memory
//! Model for Empathetic Response Generation") in candle, faithful to the reference code
//! (`../shared/reference/IAMM_REFERENCE.md`), with the paper's forms as options.
//!
//! - [`batch`]: [`Example`] and the reference's [`collate`] into a [`Batch`].
//! - [`model`]: [`Iamm`] and its parts, [`IammConfig`] and the ablation [`Variant`]s.
//! - [`training`]: the [`training::Trainer`] (the reference's schedule, checkpoints, resume).
//! - [`published`]: [`Published`], the model the train stage publishes (weights, config, where
//!   they came from): saved and loaded there only.
//!
//! Examples come from the tokenize stage's tables (`iamm_tables::token_examples`). Using a
//! trained model (decoding, scores, associated words) is the `iamm-decode` crate's,
//! so that editing it does not re-key training.
//!
//! ```no_run
//! # use candle_core::{DType, Device};
//! # use candle_nn::{VarBuilder, VarMap};
//! # use iamm_train::{Iamm, IammConfig, collate, Example};
//! # fn main() -> candle_core::Result<()> {
//! # let examples: Vec<Example> = vec![];
//! let varmap = VarMap::new();
//! let model = Iamm::new(&IammConfig::reference(23_712), VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
//! iamm_train::model::reference_init(&varmap, 42)?;
//! let batch = collate(&examples.iter().collect::<Vec<_>>(), &Device::Cpu)?;
//! let losses = model.loss(&batch)?; // NLL + 4 emotion cross-entropies
//! let grads = losses.backward()?; // not `losses.total.backward()`: see `Losses::backward`
//! # Ok(()) }
//! ```
//!
//! # Where the reference had to be interpreted
//!
//! Everything else follows the reference code; these are the choices this port makes.
//!
//! - **Short sequences in the IAM.** `topk(k)` raises in the reference when a side is shorter
//!   than `k` (an utterance or situation under 15 tokens in a whole batch, a one-utterance
//!   history under 15). Here the side is padded with *virtual* positions: masked (`-1e18`,
//!   like PAD), zero values, left out of the second-order means. `k` is in effect clamped to
//!   the length while `Linear(k, k)`, `k·d_h` and the `2·H·k2` slots keep their sizes; a
//!   virtual pick is a masked memory slot. The batched memory loop uses the same device to
//!   batch the history pairs, and equals the reference's loop exactly
//!   (`memory::tests::batched_memory_equals_the_reference_loop`).
//! - **Ties in top-k** go to the lowest index (torch leaves the order of equal values
//!   unspecified). This matters where masked `-1e18` scores are picked. The CPU kernel is
//!   stable; candle's GPU sort is not. It is the one difference the parity check against the
//!   authors' code found on identical weights and batches, and a property of the reference,
//!   not a bug here: torch's CPU `topk` returns equal values in an unspecified order, and the
//!   reference's float32 `torch.mean` over rows of `-1e18` (masked slots) breaks exact ties
//!   by rounding. Where masked COMET slots tie (padded utterance slots, empty knowledge) that
//!   moves the relation-view emotion logits and the decoder's numbers beyond float noise; with
//!   tie-stable ordering on both sides, outputs, gradients and an Adam update agree to ~1e-6.
//! - **COMET sequences** are padded to at least 2 positions: the reference reads position 1
//!   (`mask[:, :, 1]`) to mask empty knowledge and raises when a batch has only 1-token ones.
//! - **Unused weights kept.** The four IAM attentions run in torch's `topk=True` mode, which
//!   never reads their `output_linear` (4 × 12,000 parameters). They are built (the reference's
//!   state dict and its 18,886,443 count include them, and so does the 17,075,010 asked for
//!   here) but get no gradient. `generator.p_gen_linear` exists even with `pointer_gen` off,
//!   as in the reference.
//! - **Dead modules left out:** the `cog_lin` MLP (1,620,000), the emotion head of
//!   `get_sit_logits` (190,532) and `logit_linear` (901, only in the broken `decoder_greedy`).
//! - **Ablations** (the paper names them only): w/o EA drops the explicit memory (`sc_MHA`,
//!   `rc_MHA`, `ctx_linear`, `relation_linear`) and keeps everything else; w/o IA drops every
//!   COMET part (`cog_encoder`, `total_con_encoder`, the two COMET attentions, `con_linear`,
//!   `con_relation_linear`, head 5), so the emotion is `ctx + sit + relation`; w/o WS drops
//!   `select_w`, `rel_decoder` and the gate, and keeps the memory for the emotion head.
//! - **Paper forms as options** ([`model::AssocScore`], [`model::EmotionCombine`],
//!   [`model::SelectorInput`]): Eq. 8-9's product of sigmoids is one score matrix shared by
//!   the heads (values and slots stay per head, so shapes and parameters do not change);
//!   Eq. 24's product of probabilities changes the prediction (`Σ log_softmax`) but not the
//!   loss (`-log Π P_i(e*)` is the reference's sum of four cross-entropies); Eq. 26's selector
//!   reads the encoded memory.
//! - **PAD embedding row:** non-zero like the reference's (GloVe or `N(0, 0.01²)`), never
//!   updated (torch's `padding_idx`).
//! - **`word_topk`** is carried in the configuration and, as in the reference, read by
//!   nothing; the memory selector's 15 (hard-coded there) is `select_topk`.
//!
//! Exact rewrites, not interpretations: the IAM selects rows before computing their first-order
//! values (rows are independent); padded utterance slots, identical all-PAD inputs, go
//! through the per-utterance encoders once; the COMET encoder computes only what position 0
//! needs; the loss runs the generator on non-PAD target positions only; decoding is
//! incremental (cached keys/values and convolution inputs) and drops rows once they have
//! produced EOS, token-identical to the reference's full recompute; a CPU training step
//! computes the two halves of its batch, each padded as the whole, side by side and adds their
//! shares of the loss and gradients. Tests check each against the direct computation.

pub mod batch;
pub mod cpu;
pub mod device;
pub mod errors;
pub mod limits;
pub mod model;
pub mod published;
pub mod training;

pub use batch::{Batch, Comet, CometBatch, Example, collate};
pub use published::{Provenance, Published};
pub use model::{Iamm, IammConfig, Variant};
