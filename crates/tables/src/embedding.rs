//! `embedding`, written by tokenize when it is given word vectors: one row per vocabulary
//! entry, its vector (zeros where the vectors file has none) and whether the file had one.
//! Train initialises the embedding from it.

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt32Type};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, nullable_item, strings, u32s};

/// The vectors of every vocabulary entry, in id order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embedding {
    pub dim: usize,
    /// Token strings by id.
    pub tokens: Vec<String>,
    /// Whether the vectors file had the token.
    pub covered: Vec<bool>,
    /// Row-major, `dim` values per token.
    pub values: Vec<f32>,
}

pub fn schema(dim: usize) -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("token", DataType::Utf8, false),
        Field::new("covered", DataType::Boolean, false),
        Field::new("vector", DataType::FixedSizeList(nullable_item(DataType::Float32), dim as i32), false),
    ])
}

pub fn write(e: &Embedding) -> Result<RecordBatch, TableError> {
    let n = e.tokens.len();
    if e.covered.len() != n || e.values.len() != n * e.dim {
        let what = format!("needs {n} coverage flags and {n} × {} values, got {} and {}", e.dim, e.covered.len(), e.values.len());
        return Err(TableError::Shape { table: "embedding".into(), what });
    }
    let mut vectors = FixedSizeListBuilder::new(Float32Builder::with_capacity(e.values.len()), e.dim as i32);
    for v in e.values.chunks(e.dim.max(1)).take(n) {
        vectors.values().append_slice(v);
        vectors.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        u32s(0..n as u32),
        strings(e.tokens.iter().map(String::as_str)),
        Arc::new(BooleanArray::from(e.covered.clone())),
        Arc::new(vectors.finish()),
    ];
    batch("embedding", schema(e.dim), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Embedding, TableError> {
    // The length is the data's (a missing column is reported with length 0, "f32[dim]").
    let dim = match table_batch.column_by_name("vector").map(|c| c.data_type()) {
        Some(DataType::FixedSizeList(_, d)) => *d as usize,
        _ => 0,
    };
    let r = Reader::new(table_batch, table, "tokenize", schema(dim));
    if dim == 0 && r.has("vector") {
        return Err(r.wrong_type("vector", "f32[dim], a fixed-size list"));
    }
    let vector = r.column("vector")?;
    let (id, token, covered) = (r.primitive::<UInt32Type>("id")?, r.strings("token")?, r.bools("covered")?);
    if let Some(i) = (0..r.rows()).find(|&i| id.value(i) as usize != i) {
        return Err(r.invalid(i, format!("id {} where {i} belongs: the rows are in id order", id.value(i))));
    }
    Ok(Embedding {
        dim,
        tokens: (0..r.rows()).map(|i| token.value(i).to_string()).collect(),
        covered: covered.iter().map(|c| c.unwrap_or_default()).collect(),
        values: vector.as_fixed_size_list().values().as_primitive::<Float32Type>().values().to_vec(),
    })
}
