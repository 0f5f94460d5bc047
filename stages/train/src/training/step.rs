//! The gradients of one update.
//!
//! candle runs a backward pass on one thread, and at the reference sizes many of a step's
//! operations are too small to spread over cores. On the CPU the batch is therefore cut into
//! two interleaved halves (rows 0, 2, 4, … and 1, 3, 5, … of the collated batch) whose losses
//! and gradients are computed as two rayon tasks, then added: on 2 cores the reference batches
//! train about a quarter faster (`cargo bench -p iamm-train --bench reference_batches`). Each half
//! keeps the whole batch's padding (`Batch::rows`) and divides by the whole batch's token and
//! example counts (`Iamm::loss_part`), so every example computes what it computes in the whole
//! batch and the sum is the batch's loss and gradient; only the order of float additions
//! differs. The split does not depend on the thread count (with one thread the halves run one
//! after the other), so results do not either. On a GPU the batch stays whole.

use candle_core::backprop::GradStore;
use candle_core::{D, DType, Result, Tensor};

use crate::batch::Batch;
use crate::model::{Iamm, LossScale, ops};

/// The batch's losses, read back for the training curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLosses {
    /// `nll + emotion`.
    pub total: f64,
    /// Token-mean NLL over the batch's targets.
    pub nll: f64,
    /// Sum of the emotion cross-entropies (batch means).
    pub emotion: f64,
    /// Examples whose combined emotion prediction is right.
    pub correct: usize,
}

/// Loss and gradients of `batch` for every parameter (the embedding table included).
pub fn gradients(model: &Iamm, batch: &Batch) -> Result<(GradStore, StepLosses)> {
    let whole = LossScale::of(batch);
    let b = batch.size();
    if !batch.input.device().is_cpu() || b < 2 {
        return part(model, batch, whole);
    }
    let half = |h: usize| batch.rows(&(h..b).step_by(2).collect::<Vec<_>>());
    let (first, second) = (half(0)?, half(1)?);
    let ((mut grads, a), (other, c)) = if rayon::current_num_threads() > 1 {
        // The fast-path switch is per thread (tests turn it off): the workers follow this one.
        let fast = ops::fast_paths();
        let run = |half: &Batch| {
            let before = ops::fast_paths();
            ops::set_fast_paths(fast);
            let out = part(model, half, whole);
            ops::set_fast_paths(before);
            out
        };
        let (a, c) = rayon::join(|| run(&first), || run(&second));
        (a?, c?)
    } else {
        (part(model, &first, whole)?, part(model, &second, whole)?)
    };
    grads.extend(other)?;
    let losses = StepLosses {
        total: a.total + c.total,
        nll: a.nll + c.nll,
        emotion: a.emotion + c.emotion,
        correct: a.correct + c.correct,
    };
    Ok((grads, losses))
}

fn part(model: &Iamm, batch: &Batch, whole: LossScale) -> Result<(GradStore, StepLosses)> {
    let losses = model.loss_part(batch, whole)?;
    let grads = losses.backward()?;
    let scalar = |t: &Tensor| t.to_dtype(DType::F64)?.to_scalar::<f64>();
    let predicted = losses.emotion.combined.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let gold = batch.emotion.to_vec1::<u32>()?;
    let stats = StepLosses {
        total: scalar(&losses.total)?,
        nll: scalar(&losses.nll)?,
        emotion: scalar(&losses.emotion_loss()?)?,
        correct: predicted.iter().zip(&gold).filter(|(p, g)| p == g).count(),
    };
    Ok((grads, stats))
}
