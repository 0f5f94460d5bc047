//! What the stages that run a trained model share: loading the train stage's published model
//! and the vocabulary's words.

use anyhow::{Result, anyhow, bail};
use candle_core::Device;
use iamm_train::{Iamm, Published};

use crate::stage::StageContext;
use crate::store::Artifact;

/// The model a train stage published in its artifact.
pub fn load_trained(train: &Artifact, device: &Device) -> Result<Iamm> {
    Published::load(&train.dir, device).map_err(|e| anyhow!("loading the trained model: {}", iamm_train::errors::message(&e)))
}

/// Token strings by id from the tokenize dep's `vocab` table, checked against the model's size.
pub fn vocab_words(ctx: &StageContext, model_vocab: usize) -> Result<Vec<String>> {
    let words = iamm_tables::vocab::words(&ctx.table("vocab")?, "vocab")?;
    if words.len() != model_vocab {
        bail!(
            "the vocabulary has {} words but the model was trained with {model_vocab}; use the tokenize stage that \
             the train stage used",
            words.len()
        );
    }
    Ok(words)
}
