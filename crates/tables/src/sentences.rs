//! `sentences`, written by tokenize: every distinct raw sentence (context utterance, target,
//! situation) and its tokens, for inspection and for tools that check the preprocessing.

use arrow_array::RecordBatch;
use arrow_array::types::UInt32Type;
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, list, nullable_item, string_lists, strings, u32s};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sentence {
    pub sentence_id: u32,
    pub text: String,
    pub tokens: Vec<String>,
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("sentence_id", DataType::UInt32, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("tokens", list(DataType::Utf8), false),
    ])
}

pub fn write(rows: &[Sentence]) -> Result<RecordBatch, TableError> {
    let columns = vec![
        u32s(rows.iter().map(|r| r.sentence_id)),
        strings(rows.iter().map(|r| r.text.as_str())),
        string_lists(rows.iter().map(|r| r.tokens.as_slice()), nullable_item(DataType::Utf8)),
    ];
    batch("sentences", schema(), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Sentence>, TableError> {
    let r = Reader::new(table_batch, table, "tokenize", schema());
    let (id, text) = (r.primitive::<UInt32Type>("sentence_id")?, r.strings("text")?);
    let tokens = r.string_lists("tokens")?;
    Ok(tokens.into_iter().enumerate().map(|(i, tokens)| Sentence { sentence_id: id.value(i), text: text.value(i).to_string(), tokens }).collect())
}
