//! `metrics`, written by evaluate: one row, every metric a `f64` column (null = not
//! computed, such as an interval without bootstrap resamples), and `examples` (`u32`) after
//! `avg_len`. Report reads it.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};

use crate::TableError;

/// Metric values by name, in column order (`examples` among them).
pub type Values = Vec<(String, Option<f64>)>;

/// The table of `values` (in the evaluate stage's order) over `examples` test examples.
pub fn write(values: &[(&str, Option<f64>)], examples: usize) -> Result<RecordBatch, TableError> {
    let examples = u32::try_from(examples)
        .map_err(|_| TableError::Shape { table: "metrics".into(), what: format!("cannot count {examples} examples in a u32") })?;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for &(name, value) in values {
        // Nullable exactly when null, as the table has always been written.
        fields.push(Field::new(name, DataType::Float64, value.is_none()));
        columns.push(Arc::new(Float64Array::from(vec![value])));
        if name == "avg_len" {
            fields.push(Field::new("examples", DataType::UInt32, false));
            columns.push(Arc::new(UInt32Array::from(vec![examples])));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|source| TableError::Build { table: "metrics", source })
}

/// Reads the one row: every `f64` column, and `examples`; `table` names it in errors.
pub fn read(batch: &RecordBatch, table: &str) -> Result<Values, TableError> {
    let shape = |what: String| TableError::Shape { table: table.to_string(), what };
    if batch.num_rows() != 1 {
        return Err(shape(format!("has {} rows; a metrics table has one", batch.num_rows())));
    }
    let mut out = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = match field.data_type() {
            DataType::Float64 => col.as_primitive::<Float64Type>().iter().next().flatten(),
            DataType::UInt32 => col.as_primitive::<UInt32Type>().iter().next().flatten().map(f64::from),
            other => {
                return Err(TableError::WrongType {
                    table: table.to_string(),
                    column: field.name().clone(),
                    found: other.to_string(),
                    expected: "f64 (or u32 for `examples`)".into(),
                });
            }
        };
        out.push((field.name().clone(), value));
    }
    if !out.iter().any(|(n, _)| n == "acc") {
        return Err(shape("has no `acc` column: is it an evaluate stage's?".into()));
    }
    Ok(out)
}
