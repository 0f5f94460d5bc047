//! `associations`, written by analysis: one row per word the model's second-order
//! interaction attention selected on the test set. The viewer reads it.

use std::sync::Arc;

use arrow_array::types::{Float32Type, Int32Type, UInt32Type};
use arrow_array::{ArrayRef, Float32Array, Int32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, strings, u32s};

/// One associated word the model selected.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Association {
    pub example_id: u32,
    /// "situation", "history" or "memory": what the utterance was associated with.
    pub pair: String,
    /// "explicit" (dialogue words) or "implicit" (COMET knowledge).
    pub source: String,
    /// In the paper's style: `s2u`, `u2s`, `h2u`, `u2h`, `m2u`, `u2m`.
    pub direction: String,
    pub head: u32,
    /// Position in the example's text laid out as `situation ⊕ utterance_0 ⊕ …`, each with
    /// its leading `[CLS]`.
    pub position: u32,
    pub token_id: u32,
    pub word: String,
    pub weight: f32,
    /// The utterance whose pair made the selection, and where the word is (`utterance` -1 =
    /// the situation; `offset` 0 = its `[CLS]`). Tables of older analysis stages lack these.
    pub unit: Option<u32>,
    pub utterance: Option<i32>,
    pub offset: Option<u32>,
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("example_id", DataType::UInt32, false),
        Field::new("pair", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("direction", DataType::Utf8, false),
        Field::new("head", DataType::UInt32, false),
        Field::new("position", DataType::UInt32, false),
        Field::new("token_id", DataType::UInt32, false),
        Field::new("word", DataType::Utf8, false),
        Field::new("weight", DataType::Float32, false),
        Field::new("unit", DataType::UInt32, false),
        Field::new("utterance", DataType::Int32, false),
        Field::new("offset", DataType::UInt32, false),
    ])
}

/// Writes the rows; every row must have its location (`unit`, `utterance`, `offset`).
pub fn write(rows: &[Association]) -> Result<RecordBatch, TableError> {
    if let Some(i) = rows.iter().position(|a| a.unit.is_none() || a.utterance.is_none() || a.offset.is_none()) {
        return Err(TableError::Invalid { table: "associations".into(), row: i, what: "no location (unit, utterance, offset)".into() });
    }
    let columns: Vec<ArrayRef> = vec![
        u32s(rows.iter().map(|a| a.example_id)),
        strings(rows.iter().map(|a| a.pair.as_str())),
        strings(rows.iter().map(|a| a.source.as_str())),
        strings(rows.iter().map(|a| a.direction.as_str())),
        u32s(rows.iter().map(|a| a.head)),
        u32s(rows.iter().map(|a| a.position)),
        u32s(rows.iter().map(|a| a.token_id)),
        strings(rows.iter().map(|a| a.word.as_str())),
        Arc::new(Float32Array::from_iter_values(rows.iter().map(|a| a.weight))),
        u32s(rows.iter().map(|a| a.unit.unwrap_or_default())),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|a| a.utterance.unwrap_or_default()))),
        u32s(rows.iter().map(|a| a.offset.unwrap_or_default())),
    ];
    batch("associations", schema(), columns)
}

/// Reads an `associations` table; `table` names it in errors ("associations of `analysis`").
/// Weights must be finite.
pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Association>, TableError> {
    let r = Reader::new(table_batch, table, "analysis", schema());
    let u32s = |name: &str| r.primitive::<UInt32Type>(name);
    let (example_id, head, position, token_id) = (u32s("example_id")?, u32s("head")?, u32s("position")?, u32s("token_id")?);
    let (pair, source, direction, word) = (r.strings("pair")?, r.strings("source")?, r.strings("direction")?, r.strings("word")?);
    let weight = r.primitive::<Float32Type>("weight")?;
    let [unit, offset] = ["unit", "offset"].map(|name| if r.has(name) { u32s(name).map(Some) } else { Ok(None) });
    let (unit, offset) = (unit?, offset?);
    let utterance = if r.has("utterance") { Some(r.primitive::<Int32Type>("utterance")?) } else { None };
    (0..r.rows())
        .map(|i| {
            let w = weight.value(i);
            if !w.is_finite() {
                return Err(r.invalid(i, format!("column `weight` is {w}; weights must be finite")));
            }
            Ok(Association {
                example_id: example_id.value(i),
                pair: pair.value(i).to_string(),
                source: source.value(i).to_string(),
                direction: direction.value(i).to_string(),
                head: head.value(i),
                position: position.value(i),
                token_id: token_id.value(i),
                word: word.value(i).to_string(),
                weight: w,
                unit: unit.as_ref().map(|c| c.value(i)),
                utterance: utterance.as_ref().map(|c| c.value(i)),
                offset: offset.as_ref().map(|c| c.value(i)),
            })
        })
        .collect()
}
