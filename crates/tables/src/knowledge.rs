//! `knowledge`, written by comet: one row per sentence, relation and beam. Tokenize reads it
//! into the examples' COMET inputs (`c_*`, `s_*`).

use std::sync::Arc;

use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, UInt8Array};
use arrow_schema::{DataType, Field, Schema};
use iamm_core::RELATIONS;

use crate::TableError;
use crate::columns::{Reader, batch, list, nullable_item, string_lists, strings};

/// One generated beam.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Beam {
    /// The processed sentence (tokens joined by single spaces), the COMET query's head.
    pub sentence: String,
    /// One of [`iamm_core::RELATIONS`]' long names (`xIntent`, …).
    pub relation: String,
    /// Rank among the sentence's beams for the relation, best first.
    pub beam: u8,
    pub text: String,
    /// The beam's score (NaN where imported knowledge had none).
    pub score: f32,
    /// `text` preprocessed like any sentence.
    pub tokens: Vec<String>,
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("sentence", DataType::Utf8, false),
        Field::new("relation", DataType::Utf8, false),
        Field::new("beam", DataType::UInt8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("tokens", list(DataType::Utf8), false),
    ])
}

pub fn write(rows: &[Beam]) -> Result<RecordBatch, TableError> {
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.sentence.as_str())),
        strings(rows.iter().map(|r| r.relation.as_str())),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.beam))),
        strings(rows.iter().map(|r| r.text.as_str())),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.score))),
        string_lists(rows.iter().map(|r| r.tokens.as_slice()), nullable_item(DataType::Utf8)),
    ];
    batch("knowledge", schema(), columns)
}

/// Reads a `knowledge` table; every relation must be one IAMM reads.
pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Beam>, TableError> {
    let r = Reader::new(table_batch, table, "comet", schema());
    let (sentence, relation, text) = (r.strings("sentence")?, r.strings("relation")?, r.strings("text")?);
    let beam = r.primitive::<UInt8Type>("beam")?;
    let score = r.primitive::<Float32Type>("score")?;
    let tokens = r.string_lists("tokens")?;
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, tokens)| {
            let rel = relation.value(i);
            if !RELATIONS.iter().any(|(name, _)| *name == rel) {
                let known: Vec<&str> = RELATIONS.iter().map(|(name, _)| *name).collect();
                return Err(r.invalid(i, format!("unknown relation `{rel}` (IAMM reads {})", known.join(", "))));
            }
            Ok(Beam {
                sentence: sentence.value(i).to_string(),
                relation: rel.to_string(),
                beam: beam.value(i),
                text: text.value(i).to_string(),
                score: score.value(i),
                tokens,
            })
        })
        .collect()
}
