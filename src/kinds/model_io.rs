//! What the stages that run a trained model share: loading the train stage's published model
//! and the vocabulary's words.

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use candle_core::Device;
use iamm_train::Iamm;

use crate::needs::Need;
use crate::store::Artifact;

/// The tokenize stage whose test set the model runs on.
pub const TEST_SET: Need = Need::One { kind: "tokenize", what: "the test examples and vocabulary" };

/// The model a train stage published (`model.safetensors` + `config.json` in its artifact).
pub fn load_trained(train: &Artifact, device: &Device) -> Result<Iamm> {
    iamm_train::load_model(&train.dir.join("model.safetensors"), &train.dir.join("config.json"), device)
        .map_err(|e| anyhow!("loading the trained model: {}", iamm_train::errors::message(&e)))
}

/// Token strings by id from the tokenize stage's `vocab` table, checked against the model's size.
pub fn vocab_words(tokenized: &Artifact, model_vocab: usize) -> Result<Vec<String>> {
    let vocab = tokenized.read_table("vocab")?;
    let ids = vocab.column_by_name("id").and_then(|c| c.as_primitive_opt::<UInt32Type>()).context("vocab has no UInt32 `id`")?;
    let tokens = vocab.column_by_name("token").and_then(|c| c.as_string_opt::<i32>()).context("vocab has no string `token`")?;
    let mut words = vec![String::new(); vocab.num_rows()];
    for i in 0..vocab.num_rows() {
        let id = ids.value(i) as usize;
        let slot = words.get_mut(id).with_context(|| format!("vocab row {i}: id {id} is not below the vocabulary size"))?;
        *slot = tokens.value(i).to_string();
    }
    if words.len() != model_vocab {
        bail!(
            "the vocabulary has {} words but the model was trained with {model_vocab}; use the tokenize stage that \
             the train stage used",
            words.len()
        );
    }
    Ok(words)
}
