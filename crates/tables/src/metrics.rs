//! `metrics`, written by evaluate: one row, the run's identity (`stage`, `key`, `variant`,
//! `seed`), then every metric a `f64` column (null = not computed, such as an interval without
//! bootstrap resamples), and `examples` (`u32`) after `avg_len`. Report reads it, and the runs
//! table takes its cells.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt32Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;

/// Metric values by name, in column order (`examples` among them).
pub type Values = Vec<(String, Option<f64>)>;

/// Which run a `metrics` table describes, so that tables of many runs can be stacked and told
/// apart.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    /// The evaluate stage and its artifact key.
    pub stage: String,
    pub key: String,
    /// The model's variant and the seed of the training that made it (`None` for a system that
    /// was not trained by a train stage).
    pub variant: Option<String>,
    pub seed: Option<i64>,
}

/// A `metrics` table read: who it is (`None` where a table from before the identity columns
/// does not say), and its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub variant: Option<String>,
    pub seed: Option<i64>,
    /// Every numeric column but the identity (`examples` included).
    pub values: Values,
}

/// One cell of a one-row table, typed as its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
}

/// The table of run `id`'s `values` (in the evaluate stage's order) over `examples` test examples.
pub fn write(id: &RunIdentity, values: &[(&str, Option<f64>)], examples: usize) -> Result<RecordBatch, TableError> {
    let examples = u32::try_from(examples)
        .map_err(|_| TableError::Shape { table: "metrics".into(), what: format!("cannot count {examples} examples in a u32") })?;
    let text = |v: Option<&str>| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("stage", text(Some(&id.stage))),
        ("key", text(Some(&id.key))),
        ("variant", text(id.variant.as_deref())),
        ("seed", Arc::new(Int64Array::from(vec![id.seed]))),
    ];
    for &(name, value) in values {
        columns.push((name, Arc::new(Float64Array::from(vec![value]))));
        if name == "avg_len" {
            columns.push(("examples", Arc::new(UInt32Array::from(vec![examples]))));
        }
    }
    // Nullable exactly when null, as the table has always been written.
    let fields: Vec<Field> = columns.iter().map(|(n, c)| Field::new(*n, c.data_type().clone(), c.null_count() > 0)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, c)| c).collect())
        .map_err(|source| TableError::Build { table: "metrics", source })
}

/// Every cell of a one-row table, by column, in column order; `table` names it in errors.
pub fn cells(batch: &RecordBatch, table: &str) -> Result<Vec<(String, Cell)>, TableError> {
    if batch.num_rows() != 1 {
        return Err(TableError::Shape { table: table.to_string(), what: format!("has {} rows; a metrics table has one", batch.num_rows()) });
    }
    let mut out = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let cell = match field.data_type() {
            _ if col.is_null(0) => Cell::Null,
            DataType::Float64 => Cell::Float(col.as_primitive::<Float64Type>().value(0)),
            DataType::UInt32 => Cell::Int(i64::from(col.as_primitive::<UInt32Type>().value(0))),
            DataType::Int64 => Cell::Int(col.as_primitive::<Int64Type>().value(0)),
            DataType::Utf8 => Cell::Text(col.as_string::<i32>().value(0).to_string()),
            other => {
                return Err(TableError::WrongType {
                    table: table.to_string(),
                    column: field.name().clone(),
                    found: other.to_string(),
                    expected: "f64, u32, i64 or utf8".into(),
                });
            }
        };
        out.push((field.name().clone(), cell));
    }
    Ok(out)
}

/// Reads the one row: the identity, and every other column as a number (`examples` too);
/// `table` names it in errors. A table from before the identity columns reads without them.
pub fn read(batch: &RecordBatch, table: &str) -> Result<MetricsRow, TableError> {
    let mut m = MetricsRow { variant: None, seed: None, values: Vec::new() };
    let wrong = |column: String, expected: &str| {
        let found = batch.schema().field_with_name(&column).map(|f| f.data_type().to_string()).unwrap_or_default();
        TableError::WrongType { table: table.to_string(), column, found, expected: expected.into() }
    };
    for (name, cell) in cells(batch, table)? {
        match (name.as_str(), cell) {
            ("stage" | "key", _) | ("variant" | "seed", Cell::Null) => {}
            ("variant", Cell::Text(v)) => m.variant = Some(v),
            ("seed", Cell::Int(s)) => m.seed = Some(s),
            ("variant", _) => return Err(wrong(name, "utf8")),
            ("seed", _) => return Err(wrong(name, "i64")),
            (_, Cell::Float(v)) => m.values.push((name, Some(v))),
            (_, Cell::Int(v)) => m.values.push((name, Some(v as f64))),
            (_, Cell::Null) => m.values.push((name, None)),
            (_, Cell::Text(_)) => return Err(wrong(name, "f64 (or u32 for `examples`)")),
        }
    }
    if !m.values.iter().any(|(n, _)| n == "acc") {
        return Err(TableError::Shape { table: table.to_string(), what: "has no `acc` column: is it an evaluate stage's?".into() });
    }
    Ok(m)
}
