//! `dialogues_{split}`, written by ingest: one row per conversation, in file order.

use std::sync::Arc;

use arrow_array::types::{UInt8Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, UInt8Array, UInt64Array};
use arrow_schema::{DataType, Field, FieldRef, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, string_lists, strings};

/// One conversation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dialogue {
    pub conv_id: String,
    /// The emotion label, and its class index in [`iamm_core::EMOTIONS`].
    pub emotion: String,
    pub emotion_id: u8,
    /// The `prompt`, `_comma_` restored.
    pub situation: String,
    /// In `utterance_idx` order, `_comma_` restored.
    pub utterances: Vec<String>,
    /// 1-based line of the conversation's first utterance in its CSV file.
    pub first_line: u64,
}

/// The non-nullable `item` of ingest's text lists.
pub(crate) fn text_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Utf8, false))
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("conv_id", DataType::Utf8, false),
        Field::new("emotion", DataType::Utf8, false),
        Field::new("emotion_id", DataType::UInt8, false),
        Field::new("situation", DataType::Utf8, false),
        Field::new("utterances", DataType::List(text_item()), false),
        Field::new("first_line", DataType::UInt64, false),
    ])
}

pub fn write(rows: &[Dialogue]) -> Result<RecordBatch, TableError> {
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.conv_id.as_str())),
        strings(rows.iter().map(|r| r.emotion.as_str())),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.emotion_id))),
        strings(rows.iter().map(|r| r.situation.as_str())),
        string_lists(rows.iter().map(|r| r.utterances.as_slice()), text_item()),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.first_line))),
    ];
    batch("dialogues", schema(), columns)
}

/// Reads a `dialogues_{split}` table; `table` names it in errors.
pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<Dialogue>, TableError> {
    let r = Reader::new(table_batch, table, "ingest", schema());
    let (conv_id, emotion, situation) = (r.strings("conv_id")?, r.strings("emotion")?, r.strings("situation")?);
    let emotion_id = r.primitive::<UInt8Type>("emotion_id")?;
    let utterances = r.string_lists("utterances")?;
    let first_line = r.primitive::<UInt64Type>("first_line")?;
    Ok(utterances
        .into_iter()
        .enumerate()
        .map(|(i, utterances)| Dialogue {
            conv_id: conv_id.value(i).to_string(),
            emotion: emotion.value(i).to_string(),
            emotion_id: emotion_id.value(i),
            situation: situation.value(i).to_string(),
            utterances,
            first_line: first_line.value(i),
        })
        .collect())
}
