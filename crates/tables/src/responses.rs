//! `responses`, written by evaluate: one row per test example, scored and decoded, in
//! `examples_test` order. Report's metrics come from the same rows; the viewer and human_eval
//! read the table.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use iamm_core::{EMOTIONS, emotion_id};

use crate::TableError;
use crate::columns::{Reader, batch, list, nullable_item, string_lists, strings, u32s};

/// One scored and decoded test example.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub example_id: u32,
    pub conv_id: String,
    /// Each context utterance's tokens joined by one space.
    pub context: Vec<String>,
    /// "speaker" / "listener" per utterance.
    pub context_roles: Vec<String>,
    pub situation: String,
    /// Target tokens joined by spaces.
    pub reference: String,
    /// Generated tokens joined by spaces (EOS and what follows cut off).
    pub generated: String,
    /// The response as Dist-n counts it (word-tokenized, with the Greedy quirk when that is
    /// on): what a significance test of Dist-n reads.
    pub generated_tokens: Vec<String>,
    /// Emotion ids in `iamm_core::EMOTIONS` order (the table has their labels).
    pub gold: u8,
    pub predicted: u8,
    /// Teacher-forced NLL summed over the target tokens (EOS included).
    pub nll_sum: f64,
    pub tokens: u32,
    /// Index of the test batch the example was scored in.
    pub batch: u32,
}

impl Response {
    pub fn nll_mean(&self) -> f64 {
        self.nll_sum / f64::from(self.tokens)
    }

    pub fn gold_emotion(&self) -> &'static str {
        EMOTIONS.get(usize::from(self.gold)).copied().unwrap_or("?")
    }

    pub fn pred_emotion(&self) -> &'static str {
        EMOTIONS.get(usize::from(self.predicted)).copied().unwrap_or("?")
    }
}

/// The columns; `nll_mean` is `nll_sum / tokens`, for readers of the file.
pub fn schema() -> Schema {
    let text = || list(DataType::Utf8);
    Schema::new(vec![
        Field::new("example_id", DataType::UInt32, false),
        Field::new("conv_id", DataType::Utf8, false),
        Field::new("context", text(), false),
        Field::new("context_roles", text(), false),
        Field::new("situation", DataType::Utf8, false),
        Field::new("reference", DataType::Utf8, false),
        Field::new("generated", DataType::Utf8, false),
        Field::new("generated_tokens", text(), false),
        Field::new("gold_emotion", DataType::Utf8, false),
        Field::new("pred_emotion", DataType::Utf8, false),
        Field::new("nll_sum", DataType::Float64, false),
        Field::new("tokens", DataType::UInt32, false),
        Field::new("nll_mean", DataType::Float64, false),
        Field::new("batch", DataType::UInt32, false),
    ])
}

/// One row per response, in the order given.
pub fn write(rows: &[Response]) -> Result<RecordBatch, TableError> {
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| usize::from(r.gold.max(r.predicted)) >= EMOTIONS.len()) {
        let what = format!("emotion id {} is not one of the {} emotions", r.gold.max(r.predicted), EMOTIONS.len());
        return Err(TableError::Invalid { table: "responses".into(), row: i, what });
    }
    let f64s = |f: fn(&Response) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let item = || nullable_item(DataType::Utf8);
    let columns = vec![
        u32s(rows.iter().map(|r| r.example_id)),
        strings(rows.iter().map(|r| r.conv_id.as_str())),
        string_lists(rows.iter().map(|r| r.context.as_slice()), item()),
        string_lists(rows.iter().map(|r| r.context_roles.as_slice()), item()),
        strings(rows.iter().map(|r| r.situation.as_str())),
        strings(rows.iter().map(|r| r.reference.as_str())),
        strings(rows.iter().map(|r| r.generated.as_str())),
        string_lists(rows.iter().map(|r| r.generated_tokens.as_slice()), item()),
        strings(rows.iter().map(Response::gold_emotion)),
        strings(rows.iter().map(Response::pred_emotion)),
        f64s(|r| r.nll_sum),
        u32s(rows.iter().map(|r| r.tokens)),
        f64s(Response::nll_mean),
        u32s(rows.iter().map(|r| r.batch)),
    ];
    batch("responses", schema(), columns)
}

/// Reads a `responses` table; `table` names it in errors ("responses of `evaluate`").
/// Example ids are unique, each utterance has its role, emotions are labels of the 32.
pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Response>, TableError> {
    let r = Reader::new(table_batch, table, "evaluate", schema());
    let example_id = r.primitive::<UInt32Type>("example_id")?;
    let (conv_id, situation) = (r.strings("conv_id")?, r.strings("situation")?);
    let context = r.string_lists("context")?;
    let roles = r.string_lists("context_roles")?;
    let (reference, generated) = (r.strings("reference")?, r.strings("generated")?);
    let generated_tokens = r.string_lists("generated_tokens")?;
    let (gold, pred) = (r.strings("gold_emotion")?, r.strings("pred_emotion")?);
    let nll_sum = r.primitive::<Float64Type>("nll_sum")?;
    let (tokens, batch) = (r.primitive::<UInt32Type>("tokens")?, r.primitive::<UInt32Type>("batch")?);
    let mut seen = HashSet::new();
    context
        .into_iter()
        .zip(roles)
        .zip(generated_tokens)
        .enumerate()
        .map(|(i, ((context, context_roles), generated_tokens))| {
            if context.len() != context_roles.len() {
                let what = format!("{} utterances in `context` but {} entries in `context_roles`", context.len(), context_roles.len());
                return Err(r.invalid(i, what));
            }
            if !seen.insert(example_id.value(i)) {
                return Err(r.invalid(i, format!("example_id {} occurs twice", example_id.value(i))));
            }
            let emotion = |column: &str, label: &str| {
                emotion_id(label).ok_or_else(|| r.invalid(i, format!("`{column}` is `{label}`, not one of the {} emotions", EMOTIONS.len())))
            };
            Ok(Response {
                example_id: example_id.value(i),
                conv_id: conv_id.value(i).to_string(),
                context,
                context_roles,
                situation: situation.value(i).to_string(),
                reference: reference.value(i).to_string(),
                generated: generated.value(i).to_string(),
                generated_tokens,
                gold: emotion("gold_emotion", gold.value(i))?,
                predicted: emotion("pred_emotion", pred.value(i))?,
                nll_sum: nll_sum.value(i),
                tokens: tokens.value(i),
                batch: batch.value(i),
            })
        })
        .collect()
}
