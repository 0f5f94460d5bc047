//! The train stage's params.

use iamm_options::ParamType;

use super::{Noam, Selection, TrainOptions};
use crate::device::{self, Device};
use crate::model::{IammConfig, Variant};

const STEPS: ParamType = ParamType::Int { min: 1, max: 10_000_000 };

iamm_options::options! {
    /// What the train stage trains, and how.
    pub struct TrainParams {
        variant: Variant = "full", Key,
            "full IAMM, or an ablation: without explicit association, implicit association (no COMET \
             needed), or the word selector and memory decoder";
        dim: usize [ParamType::Int { min: 2, max: 4096 }] = 300, Key,
            "embedding and hidden size (the reference: 300, as GloVe 300-d); must match the vectors' size";
        seed: u64 [ParamType::Int { min: 0, max: i64::MAX }] = 42, Key, "seeds initialisation and shuffles";
        batch_size: usize [ParamType::Int { min: 1, max: 4096 }] = 16, Key, "examples per update";
        max_steps: usize [STEPS] = 17600, Key, "updates in all (the reference stops after 17,600)";
        warmup: usize [STEPS] = 8000, Key,
            "Noam warm-up updates (learning rate = dim^-0.5 · min(step^-0.5, step · warmup^-1.5))";
        eval_every: usize [STEPS] = 800, Key, "validate every this many updates...";
        eval_after: usize [ParamType::Int { min: 0, max: 10_000_000 }] = 10000, Key,
            "...once more than this many were made";
        checkpoint_every: usize [STEPS] = 800, Key, "checkpoint interval; a killed run resumes from the last one";
        selection: Selection = "best_ppl", Key,
            "which validated weights to publish: lowest validation PPL, the reference's rule, or the last";
        device: Device = "cpu", Key, device::HELP;
    }
}

impl TrainParams {
    /// The reference model at `dim` for the variant, over a vocabulary of `vocab_size`.
    pub fn config(&self, vocab_size: usize) -> IammConfig {
        let reference = IammConfig::reference(vocab_size);
        IammConfig { emb_dim: self.dim, hidden_dim: self.dim, variant: self.variant, ..reference }
    }

    /// The reference run with these params.
    pub fn options(&self) -> TrainOptions {
        TrainOptions {
            seed: self.seed,
            batch_size: self.batch_size,
            max_steps: self.max_steps,
            eval_every: self.eval_every,
            eval_after: self.eval_after,
            checkpoint_every: self.checkpoint_every,
            selection: self.selection,
            noam: Noam { d_model: self.dim, warmup: self.warmup, ..Noam::default() },
            ..TrainOptions::default()
        }
    }
}
