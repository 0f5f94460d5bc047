//! `human_eval_key`, written by human_eval: the unblinding key of the A/B sheets, one row
//! per item. Human_eval_score reads it.

use std::sync::Arc;

use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Schema};

use crate::TableError;
use crate::columns::{Reader, batch, declare, strings, u32s};

/// One item of the sheets (the human_eval crate gives the text columns their meaning).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyEntry {
    pub item_id: String,
    /// "pair", "auto_tie" or "check".
    pub kind: String,
    /// The test dialogue whose context the item shows.
    pub example_id: u32,
    /// Whose response is A and B.
    pub a_is: String,
    pub b_is: String,
    /// The compared systems (the same on every row).
    pub proposed: String,
    pub baseline: String,
    /// The known answer of an attention check.
    pub expected: Option<String>,
    /// For attention checks: the dialogue whose human response was scrambled.
    pub scrambled_from: Option<u32>,
}

pub fn schema() -> Schema {
    use DataType::*;
    declare(
        &[
            ("item_id", Utf8),
            ("kind", Utf8),
            ("example_id", UInt32),
            ("a_is", Utf8),
            ("b_is", Utf8),
            ("proposed", Utf8),
            ("baseline", Utf8),
            ("expected", Utf8),
            ("scrambled_from", UInt32),
        ],
        &["expected", "scrambled_from"],
    )
}

pub fn write(rows: &[KeyEntry]) -> Result<RecordBatch, TableError> {
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.item_id.as_str())),
        strings(rows.iter().map(|r| r.kind.as_str())),
        u32s(rows.iter().map(|r| r.example_id)),
        strings(rows.iter().map(|r| r.a_is.as_str())),
        strings(rows.iter().map(|r| r.b_is.as_str())),
        strings(rows.iter().map(|r| r.proposed.as_str())),
        strings(rows.iter().map(|r| r.baseline.as_str())),
        Arc::new(rows.iter().map(|r| r.expected.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.scrambled_from).collect::<UInt32Array>()),
    ];
    // The optional columns are marked nullable only when they hold a null, as the key has
    // always been written.
    let fields = schema().fields().iter().zip(&columns).map(|(f, c)| f.as_ref().clone().with_nullable(c.null_count() > 0)).collect::<Vec<_>>();
    batch("human_eval_key", Schema::new(fields), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<KeyEntry>, TableError> {
    let r = Reader::new(table_batch, table, "human_eval", schema());
    let (item_id, kind, a_is, b_is) = (r.strings("item_id")?, r.strings("kind")?, r.strings("a_is")?, r.strings("b_is")?);
    let (proposed, baseline, expected) = (r.strings("proposed")?, r.strings("baseline")?, r.strings("expected")?);
    let example_id = r.primitive::<UInt32Type>("example_id")?;
    let scrambled_from = r.optional::<UInt32Type>("scrambled_from")?;
    Ok((0..r.rows())
        .map(|i| KeyEntry {
            item_id: item_id.value(i).to_string(),
            kind: kind.value(i).to_string(),
            example_id: example_id.value(i),
            a_is: a_is.value(i).to_string(),
            b_is: b_is.value(i).to_string(),
            proposed: proposed.value(i).to_string(),
            baseline: baseline.value(i).to_string(),
            expected: (!expected.is_null(i)).then(|| expected.value(i).to_string()),
            scrambled_from: scrambled_from[i],
        })
        .collect())
}
