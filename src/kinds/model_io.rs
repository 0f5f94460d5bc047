//! What the stages that run a trained model share: loading the train stage's published model
//! and the vocabulary's words.

use anyhow::{Result, anyhow, bail};
use candle_core::Device;
use iamm_train::{Iamm, Published};

use crate::needs::Need;
use crate::store::Artifact;

/// The tokenize stage whose test set the model runs on.
pub const TEST_SET: Need = Need::One { kind: "tokenize", what: "the test examples and vocabulary" };

/// The model a train stage published in its artifact.
pub fn load_trained(train: &Artifact, device: &Device) -> Result<Iamm> {
    Published::load(&train.dir, device).map_err(|e| anyhow!("loading the trained model: {}", iamm_train::errors::message(&e)))
}

/// Token strings by id from the tokenize stage's `vocab` table, checked against the model's size.
pub fn vocab_words(tokenized: &Artifact, model_vocab: usize) -> Result<Vec<String>> {
    let words = iamm_tables::vocab::words(&tokenized.read_table("vocab")?, "vocab")?;
    if words.len() != model_vocab {
        bail!(
            "the vocabulary has {} words but the model was trained with {model_vocab}; use the tokenize stage that \
             the train stage used",
            words.len()
        );
    }
    Ok(words)
}
