//! `confusion`, written by evaluate: the emotion confusion matrix in long form, all 32 × 32
//! (gold, predicted) pairs, zeros included, gold-major in `EMOTIONS` order.

use arrow_array::RecordBatch;
use arrow_array::types::UInt32Type;
use arrow_schema::{DataType, Field, Schema};
use iamm_core::{EMOTIONS, emotion_id};

use crate::TableError;
use crate::columns::{Reader, batch, strings, u32s};

/// Counts by gold emotion (rows) and predicted emotion (columns).
pub type Matrix = [[u32; EMOTIONS.len()]; EMOTIONS.len()];

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("gold", DataType::Utf8, false),
        Field::new("predicted", DataType::Utf8, false),
        Field::new("count", DataType::UInt32, false),
    ])
}

fn pairs() -> impl Iterator<Item = (usize, usize)> {
    (0..EMOTIONS.len()).flat_map(|g| (0..EMOTIONS.len()).map(move |p| (g, p)))
}

pub fn write(m: &Matrix) -> Result<RecordBatch, TableError> {
    let columns = vec![
        strings(pairs().map(|(g, _)| EMOTIONS[g])),
        strings(pairs().map(|(_, p)| EMOTIONS[p])),
        u32s(pairs().map(|(g, p)| m[g][p])),
    ];
    batch("confusion", schema(), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Matrix, TableError> {
    let r = Reader::new(table_batch, table, "evaluate", schema());
    let (gold, predicted, count) = (r.strings("gold")?, r.strings("predicted")?, r.primitive::<UInt32Type>("count")?);
    let mut m = [[0; EMOTIONS.len()]; EMOTIONS.len()];
    for i in 0..r.rows() {
        let id = |label: &str| {
            emotion_id(label).map(usize::from).ok_or_else(|| r.invalid(i, format!("`{label}` is not one of the {} emotions", EMOTIONS.len())))
        };
        m[id(gold.value(i))?][id(predicted.value(i))?] += count.value(i);
    }
    Ok(m)
}
