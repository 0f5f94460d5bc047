//! The evaluate stage's loop: test examples in consecutive batches, each encoded once, then
//! scored (teacher-forced NLL, emotion) and decoded.

use candle_core::{Device, Result};
use iamm_train::model::Iamm;
use iamm_train::{Example, collate};

use crate::{DecodeOptions, ExampleScore, generate_encoded, score_encoded};

/// What the model made of one example.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub score: ExampleScore,
    /// Generated ids without SOS, cut before the first EOS.
    pub generated: Vec<u32>,
    /// The batch the example was in (the reference's Acc is a mean over batches).
    pub batch: usize,
}

/// Scores and decodes `examples` in consecutive batches of `batch_size`, in their order (the
/// reference's test loader: `shuffle=False`); replies in the same order. `done(n)` is called
/// after each batch of `n` examples.
pub fn respond(
    model: &Iamm,
    examples: &[&Example],
    batch_size: usize,
    device: &Device,
    opts: &DecodeOptions,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<Reply>> {
    let mut replies = Vec::with_capacity(examples.len());
    for (b, chunk) in examples.chunks(batch_size.max(1)).enumerate() {
        let batch = collate(chunk, device)?;
        // One encoding serves both: it costs about as much as greedy decoding.
        let encoded = model.encode(&batch)?;
        let scores = score_encoded(model, &batch, &encoded)?;
        let generated = generate_encoded(model, &batch, &encoded, opts)?;
        replies.extend(scores.into_iter().zip(generated).map(|(score, generated)| Reply { score, generated, batch: b }));
        done(chunk.len());
    }
    Ok(replies)
}
