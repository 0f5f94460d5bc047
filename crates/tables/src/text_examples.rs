//! `examples_{split}` as ingest writes it: one row per listener turn (even `utterance_idx`),
//! in text. Comet and tokenize read it. (Tokenize publishes its own `examples_{split}`, in
//! token ids: the `token_examples` module.)

use std::sync::Arc;

use arrow_array::types::{UInt8Type, UInt32Type};
use arrow_array::{ArrayRef, RecordBatch, UInt8Array};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, string_lists, strings, u32s};
use crate::dialogues::text_item;

/// One listener turn and everything said before it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextExample {
    /// 0-based running index within the split, in file order.
    pub example_id: u32,
    pub conv_id: String,
    /// 0-based position of the target in the conversation (`utterance_idx - 1`, always odd).
    pub turn: u32,
    pub emotion: String,
    pub emotion_id: u8,
    pub situation: String,
    /// All earlier utterances: 1, 3, 5, … of them.
    pub context: Vec<String>,
    /// The listener's utterance.
    pub target: String,
}

pub fn schema() -> Schema {
    Schema::new(vec![
        Field::new("example_id", DataType::UInt32, false),
        Field::new("conv_id", DataType::Utf8, false),
        Field::new("turn", DataType::UInt32, false),
        Field::new("emotion", DataType::Utf8, false),
        Field::new("emotion_id", DataType::UInt8, false),
        Field::new("situation", DataType::Utf8, false),
        Field::new("context", DataType::List(text_item()), false),
        Field::new("target", DataType::Utf8, false),
    ])
}

pub fn write(rows: &[TextExample]) -> Result<RecordBatch, TableError> {
    let columns: Vec<ArrayRef> = vec![
        u32s(rows.iter().map(|r| r.example_id)),
        strings(rows.iter().map(|r| r.conv_id.as_str())),
        u32s(rows.iter().map(|r| r.turn)),
        strings(rows.iter().map(|r| r.emotion.as_str())),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.emotion_id))),
        strings(rows.iter().map(|r| r.situation.as_str())),
        string_lists(rows.iter().map(|r| r.context.as_slice()), text_item()),
        strings(rows.iter().map(|r| r.target.as_str())),
    ];
    batch("examples", schema(), columns)
}

/// Reads an ingest `examples_{split}` table; `table` names it in errors.
pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<TextExample>, TableError> {
    let r = Reader::new(table_batch, table, "ingest", schema());
    let (example_id, turn) = (r.primitive::<UInt32Type>("example_id")?, r.primitive::<UInt32Type>("turn")?);
    let (conv_id, emotion) = (r.strings("conv_id")?, r.strings("emotion")?);
    let emotion_id = r.primitive::<UInt8Type>("emotion_id")?;
    let (situation, target) = (r.strings("situation")?, r.strings("target")?);
    let context = r.string_lists("context")?;
    Ok(context
        .into_iter()
        .enumerate()
        .map(|(i, context)| TextExample {
            example_id: example_id.value(i),
            conv_id: conv_id.value(i).to_string(),
            turn: turn.value(i),
            emotion: emotion.value(i).to_string(),
            emotion_id: emotion_id.value(i),
            situation: situation.value(i).to_string(),
            context,
            target: target.value(i).to_string(),
        })
        .collect())
}
