//! Typed rows from the `associations` and `responses` tables (columns as in the pipeline's
//! contracts), with errors that name the table, column and row.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type, UInt32Type};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};

use crate::ViewerError;

/// One associated word the model selected (a row of `associations`).
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    pub example_id: u32,
    /// "situation", "history" or "memory": what the utterance was associated with.
    pub pair: String,
    /// "explicit" (dialogue words) or "implicit" (COMET knowledge).
    pub source: String,
    pub direction: String,
    pub head: u32,
    pub position: u32,
    pub token_id: u32,
    pub word: String,
    pub weight: f32,
    /// Optional columns of the analysis stage: the utterance whose pair made the selection,
    /// and where the word is (`utterance` -1 = the situation; `offset` 0 = its `[CLS]`).
    pub unit: Option<u32>,
    pub utterance: Option<i32>,
    pub offset: Option<u32>,
}

/// The dialogue side of a `responses` row (identical across systems for one example).
#[derive(Debug, Clone, PartialEq)]
pub struct Dialogue {
    pub example_id: u32,
    pub conv_id: String,
    pub situation: String,
    /// Utterances, tokens joined by spaces.
    pub context: Vec<String>,
    /// "speaker" / "listener", one per utterance.
    pub roles: Vec<String>,
    pub reference: String,
    pub gold_emotion: String,
}

/// What one system produced for one example.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub generated: String,
    pub pred_emotion: String,
}

/// The rows of one `responses` table.
#[derive(Debug, Clone)]
pub struct Responses {
    /// How the page names the system (the stage name, with its variant).
    pub label: String,
    pub rows: Vec<(Dialogue, Output)>,
}

const ASSOCIATION_COLUMNS: &str = "example_id u32, pair utf8, source utf8, direction utf8, head u32, position u32, token_id u32, \
                                   word utf8, weight f32 (optional: unit u32, utterance i32, offset u32)";
const RESPONSE_COLUMNS: &str = "example_id u32, conv_id utf8, context list<utf8>, context_roles list<utf8>, situation utf8, \
                                reference utf8, generated utf8, gold_emotion utf8, pred_emotion utf8";

/// A column of `batch` cast to `want`, with no nulls.
fn column(batch: &RecordBatch, table: &str, expected: &'static str, name: &str, want: &DataType) -> Result<ArrayRef, ViewerError> {
    let col = batch.column_by_name(name).ok_or_else(|| ViewerError::MissingColumn {
        table: table.to_string(),
        column: name.to_string(),
        expected,
        present: batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
    })?;
    let cast = if col.data_type() == want {
        col.clone()
    } else {
        arrow_cast::cast(col, want).map_err(|_| ViewerError::WrongType {
            table: table.to_string(),
            column: name.to_string(),
            found: col.data_type().to_string(),
            want: want.to_string(),
        })?
    };
    // The cast turns out-of-range values into nulls, so this also catches those.
    if let Some(row) = (0..cast.len()).find(|&i| cast.is_null(i)) {
        return Err(ViewerError::Null { table: table.to_string(), column: name.to_string(), row });
    }
    Ok(cast)
}

fn strings(batch: &RecordBatch, table: &str, expected: &'static str, name: &str) -> Result<StringArray, ViewerError> {
    Ok(column(batch, table, expected, name, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn u32s(batch: &RecordBatch, table: &str, expected: &'static str, name: &str) -> Result<Vec<u32>, ViewerError> {
    Ok(column(batch, table, expected, name, &DataType::UInt32)?.as_primitive::<UInt32Type>().values().to_vec())
}

fn string_lists(batch: &RecordBatch, table: &str, name: &str) -> Result<Vec<Vec<String>>, ViewerError> {
    // A plain string column would cast to one-element lists: refuse it rather than show
    // every dialogue as a single utterance.
    if let Some(col) = batch.column_by_name(name)
        && !matches!(col.data_type(), DataType::List(_) | DataType::LargeList(_))
    {
        return Err(ViewerError::WrongType {
            table: table.to_string(),
            column: name.to_string(),
            found: col.data_type().to_string(),
            want: "a list of strings".into(),
        });
    }
    let want = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let col = column(batch, table, RESPONSE_COLUMNS, name, &want)?;
    let list: &ListArray = col.as_list::<i32>();
    (0..list.len())
        .map(|row| {
            let items = list.value(row);
            let items = items.as_string::<i32>();
            if items.null_count() > 0 {
                return Err(ViewerError::Null { table: table.to_string(), column: format!("{name} (an element)"), row });
            }
            Ok(items.iter().map(|s| s.unwrap_or_default().to_string()).collect())
        })
        .collect()
}

/// Reads an `associations` table; `table` names it in errors (say "associations of `analysis`").
pub fn associations(batch: &RecordBatch, table: &str) -> Result<Vec<Association>, ViewerError> {
    let e = ASSOCIATION_COLUMNS;
    let example_id = u32s(batch, table, e, "example_id")?;
    let pair = strings(batch, table, e, "pair")?;
    let source = strings(batch, table, e, "source")?;
    let direction = strings(batch, table, e, "direction")?;
    let head = u32s(batch, table, e, "head")?;
    let position = u32s(batch, table, e, "position")?;
    let token_id = u32s(batch, table, e, "token_id")?;
    let word = strings(batch, table, e, "word")?;
    let weight = column(batch, table, e, "weight", &DataType::Float32)?;
    let weight = weight.as_primitive::<Float32Type>();
    let optional = |name: &str, want: &DataType| match batch.column_by_name(name) {
        Some(_) => column(batch, table, e, name, want).map(Some),
        None => Ok(None),
    };
    let unit = optional("unit", &DataType::UInt32)?;
    let unit = unit.as_ref().map(|c| c.as_primitive::<UInt32Type>());
    let utterance = optional("utterance", &DataType::Int32)?;
    let utterance = utterance.as_ref().map(|c| c.as_primitive::<Int32Type>());
    let offset = optional("offset", &DataType::UInt32)?;
    let offset = offset.as_ref().map(|c| c.as_primitive::<UInt32Type>());
    (0..batch.num_rows())
        .map(|i| {
            let w = weight.value(i);
            if !w.is_finite() {
                return Err(ViewerError::Invalid {
                    table: table.to_string(),
                    row: i,
                    what: format!("column `weight` is {w}; weights must be finite"),
                });
            }
            Ok(Association {
                example_id: example_id[i],
                pair: pair.value(i).to_string(),
                source: source.value(i).to_string(),
                direction: direction.value(i).to_string(),
                head: head[i],
                position: position[i],
                token_id: token_id[i],
                word: word.value(i).to_string(),
                weight: w,
                unit: unit.map(|c| c.value(i)),
                utterance: utterance.map(|c| c.value(i)),
                offset: offset.map(|c| c.value(i)),
            })
        })
        .collect()
}

/// Reads a `responses` table of the system called `label`.
pub fn responses(batch: &RecordBatch, label: &str) -> Result<Responses, ViewerError> {
    let table = format!("responses of `{label}`");
    let t = table.as_str();
    let e = RESPONSE_COLUMNS;
    let example_id = u32s(batch, t, e, "example_id")?;
    let conv_id = strings(batch, t, e, "conv_id")?;
    let context = string_lists(batch, t, "context")?;
    let roles = string_lists(batch, t, "context_roles")?;
    let situation = strings(batch, t, e, "situation")?;
    let reference = strings(batch, t, e, "reference")?;
    let generated = strings(batch, t, e, "generated")?;
    let gold = strings(batch, t, e, "gold_emotion")?;
    let pred = strings(batch, t, e, "pred_emotion")?;
    let mut seen = std::collections::HashSet::new();
    let rows = (0..batch.num_rows())
        .map(|i| {
            if context[i].len() != roles[i].len() {
                return Err(ViewerError::Invalid {
                    table: table.clone(),
                    row: i,
                    what: format!("{} utterances in `context` but {} entries in `context_roles`", context[i].len(), roles[i].len()),
                });
            }
            if !seen.insert(example_id[i]) {
                return Err(ViewerError::Invalid { table: table.clone(), row: i, what: format!("example_id {} occurs twice", example_id[i]) });
            }
            Ok((
                Dialogue {
                    example_id: example_id[i],
                    conv_id: conv_id.value(i).to_string(),
                    situation: situation.value(i).to_string(),
                    context: context[i].clone(),
                    roles: roles[i].clone(),
                    reference: reference.value(i).to_string(),
                    gold_emotion: gold.value(i).to_string(),
                },
                Output { generated: generated.value(i).to_string(), pred_emotion: pred.value(i).to_string() },
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Responses { label: label.to_string(), rows })
}
