//! `vocab`, written by tokenize: the special tokens at their fixed ids, then words in
//! first-seen order. Train, evaluate and analysis read it.

use std::sync::Arc;

use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, strings, u32s};

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Word {
    pub id: u32,
    pub token: String,
    /// Uses in the vocabulary's splits.
    pub count: u64,
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("token", DataType::Utf8, false),
        Field::new("count", DataType::UInt64, false),
    ])
}

pub fn write(rows: &[Word]) -> Result<RecordBatch, TableError> {
    let columns: Vec<ArrayRef> = vec![
        u32s(rows.iter().map(|r| r.id)),
        strings(rows.iter().map(|r| r.token.as_str())),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.count))),
    ];
    batch("vocab", schema(), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Word>, TableError> {
    let r = Reader::new(table_batch, table, "tokenize", schema());
    let (id, token, count) = (r.primitive::<UInt32Type>("id")?, r.strings("token")?, r.primitive::<UInt64Type>("count")?);
    Ok((0..r.rows()).map(|i| Word { id: id.value(i), token: token.value(i).to_string(), count: count.value(i) }).collect())
}

/// The token strings by id; every id must be below the vocabulary's size.
pub fn words(table_batch: &RecordBatch, table: &str) -> Result<Vec<String>, TableError> {
    let rows = read(table_batch, table)?;
    let mut words = vec![String::new(); rows.len()];
    for (i, w) in rows.into_iter().enumerate() {
        let n = words.len();
        let slot = words.get_mut(w.id as usize).ok_or_else(|| TableError::Invalid {
            table: table.to_string(),
            row: i,
            what: format!("id {} is not below the vocabulary size {n}", w.id),
        })?;
        *slot = w.token;
    }
    Ok(words)
}
