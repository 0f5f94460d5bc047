//! The reference's training procedure (`main.py`, `NoamOpt`, `train_one_batch`), repeatable
//! and resumable.
//!
//! - [`Trainer`]: seeded initialisation, epochs of seeded shuffles cut into batches of 16,
//!   the model's loss (token-mean NLL + the emotion cross-entropies; on the CPU two halves
//!   of the batch at once, see [`gradients`]), [`Adam`] under the
//!   [`Noam`] schedule, validation ([`evaluate`]: per-example-mean PPL, batch-mean accuracy),
//!   model selection ([`Selection`]), optional early stop, atomic checkpoints, and
//!   [`Trainer::resume`], which continues bit-for-bit (on the CPU) as the uninterrupted run.
//! - The curve ([`Curve`]: [`StepRecord`]s, [`EvalRecord`]s), [`Event`]s for progress, and
//!   [`LiveCurve`], the curve as CSV files that grow during a run.
//!
//! # Randomness
//!
//! Every draw comes from one [`Rng`] (xoshiro256**) seeded with `seed`: first a 64-bit seed for
//! [`crate::model::reference_init`], then one shuffle per epoch. Its state is in every
//! checkpoint. The model has no dropout (the reference's is 0 everywhere), so there are no
//! other draws. The validation order is a fixed permutation from a separate stream of `seed`.
//!
//! # Exactness
//!
//! On the CPU a resumed run equals the uninterrupted one bit for bit: weights, moments and
//! metrics are stored exactly (safetensors; JSON floats read back with `float_roundtrip`).
//! This needs the model's forward and backward to be deterministic at any thread count: the
//! fused CPU kernels in `model/ops.rs` add their parallel partial sums in a fixed order for
//! that reason. On a GPU, candle's kernels decide.
//!
//! # Where the reference had to be interpreted
//!
//! - **Epochs.** The reference iterates an endless `DataLoader(shuffle=True)` with torch's
//!   generator; here each epoch is a Fisher-Yates shuffle from [`Rng`], the last batch of an
//!   epoch smaller (`drop_last=False`). Same procedure, other permutations.
//! - **Validation schedule.** `n ≥ 10000 and (n+1) % 800 == 0` with `n` counting batches from
//!   0 is "after update `s = n+1`, when `s % 800 == 0` and `s > 10000`"; the run stops after the
//!   check at `n = 17599`, i.e. 17,600 updates ([`TrainOptions::default`]).
//! - **Validation order.** The reference's dev loader reshuffles at every check (from the same
//!   torch generator as training); here it is one seeded permutation, the same at every check,
//!   so that checks compare and the training stream is untouched.
//! - **Selection.** The reference saves a file at every check that passes its rule and leaves
//!   the choice to whoever runs `--test`; [`Selection::Reference`] keeps the last that passed,
//!   [`Selection::BestPpl`] (default) the lowest PPL.
//! - **Early stop.** IAMM's patience is unreachable (`patient > 1e7`): `patience: None`.
//! - **Adam.** torch's single-tensor Adam: per-parameter step counts, parameters without a
//!   gradient (the IAM attentions' unused `output_linear`) skipped, as `grad is None` is.

mod checkpoint;
mod live;
mod optim;
mod params;
mod rng;
mod step;
mod trainer;

pub use checkpoint::{BEST_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, checkpoints, latest_checkpoint};
pub(crate) use checkpoint::io;
pub use live::LiveCurve;
pub use optim::{Adam, AdamParams, Noam};
pub use params::TrainParams;
pub use rng::Rng;
pub use step::{StepLosses, gradients};
pub use trainer::{
    Curve, EMBEDDING_VAR, EvalRecord, Evaluation, Event, Selection, StepRecord, StopReason, TrainOptions, TrainReport,
    Trainer, Vectors, evaluate,
};
