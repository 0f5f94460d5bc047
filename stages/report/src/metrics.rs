//! Reading an evaluate stage's one-row `metrics` table: its identity columns (`stage`, `key`,
//! `variant`, `seed`) and its metrics. The one place that knows that table's layout.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::{Value, json};

use crate::MetricValues;

/// The identity columns that lead a `metrics` table.
pub const IDENTITY: [&str; 4] = ["stage", "key", "variant", "seed"];

/// Every cell of a one-row table as JSON, by column, in column order: text, integers and floats
/// as such, null as null.
pub fn row_cells(batch: &RecordBatch) -> Result<Vec<(String, Value)>, String> {
    if batch.num_rows() != 1 {
        return Err(format!("a metrics table has one row, this one has {}", batch.num_rows()));
    }
    let mut out = Vec::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let value = if col.is_null(0) {
            Value::Null
        } else {
            match field.data_type() {
                DataType::Float64 => json!(col.as_primitive::<Float64Type>().value(0)),
                DataType::UInt32 => json!(col.as_primitive::<UInt32Type>().value(0)),
                DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(0)),
                DataType::Utf8 => json!(col.as_string::<i32>().value(0)),
                other => return Err(format!("metrics column `{}` is {other}, expected Float64, UInt32, Int64 or Utf8", field.name())),
            }
        };
        out.push((field.name().clone(), value));
    }
    Ok(out)
}

/// A metrics table read: who it is, and its numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRow {
    pub variant: Option<String>,
    pub seed: Option<i64>,
    /// Every numeric column but the identity (`examples` included), null = not computed.
    pub values: MetricValues,
}

/// Reads an evaluate stage's `metrics` table.
pub fn read_metrics(batch: &RecordBatch) -> Result<MetricsRow, String> {
    let cells = row_cells(batch)?;
    if !cells.iter().any(|(n, _)| n == "acc") {
        return Err("the metrics table has no `acc` column (is it an evaluate stage's?)".into());
    }
    let cell = |name: &str| cells.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut values = Vec::new();
    for (name, v) in &cells {
        if IDENTITY.contains(&name.as_str()) {
            continue;
        }
        match v {
            Value::Null => values.push((name.clone(), None)),
            Value::Number(n) => values.push((name.clone(), n.as_f64())),
            _ => return Err(format!("metrics column `{name}` holds text; metrics are numbers")),
        }
    }
    Ok(MetricsRow {
        variant: cell("variant").and_then(Value::as_str).map(str::to_string),
        seed: cell("seed").and_then(Value::as_i64),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray, UInt32Array};

    #[test]
    fn reads_identity_and_metrics() {
        let b = RecordBatch::try_from_iter([
            ("stage", Arc::new(StringArray::from(vec!["evaluate[seed=2,variant=wo_ia]"])) as ArrayRef),
            ("key", Arc::new(StringArray::from(vec!["abc"]))),
            ("variant", Arc::new(StringArray::from(vec!["wo_ia"]))),
            ("seed", Arc::new(Int64Array::from(vec![2]))),
            ("acc", Arc::new(Float64Array::from(vec![0.25]))),
            ("examples", Arc::new(UInt32Array::from(vec![12]))),
            ("acc_lo", Arc::new(Float64Array::from(vec![None::<f64>]))),
        ])
        .unwrap();
        let m = read_metrics(&b).unwrap();
        assert_eq!((m.variant.as_deref(), m.seed), (Some("wo_ia"), Some(2)));
        assert_eq!(m.values, vec![("acc".into(), Some(0.25)), ("examples".into(), Some(12.0)), ("acc_lo".into(), None)]);
        let cells = row_cells(&b).unwrap();
        assert_eq!(cells[3], ("seed".to_string(), json!(2)));
        assert_eq!(cells[5], ("examples".to_string(), json!(12)));

        let bad = RecordBatch::try_from_iter([("acc", Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef)]).unwrap();
        assert!(read_metrics(&bad).unwrap_err().contains("one row"));
        let other = RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]).unwrap();
        assert!(read_metrics(&other).unwrap_err().contains("no `acc` column"));
        // A table from before the identity columns reads too (no variant, no seed).
        let old = RecordBatch::try_from_iter([("acc", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef)]).unwrap();
        assert_eq!(read_metrics(&old).unwrap(), MetricsRow { variant: None, seed: None, values: vec![("acc".into(), Some(0.5))] });
    }
}
