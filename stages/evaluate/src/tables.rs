//! The evaluate stage's Arrow tables: `responses`, `metrics`, `confusion`.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::ArrowError;
use iamm_core::EMOTIONS;

use crate::scores::CLASSES;
use crate::{Metrics, Response};

fn string_lists<'a>(rows: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for s in row {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// One row per response, in the order given (the stage passes examples_test order).
pub fn responses(rows: &[Response]) -> Result<RecordBatch, ArrowError> {
    let strings = |f: &dyn Fn(&Response) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    RecordBatch::try_from_iter([
        ("example_id", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.example_id))) as ArrayRef),
        ("conv_id", strings(&|r| &r.conv_id)),
        ("context", string_lists(rows.iter().map(|r| r.context.as_slice()))),
        ("context_roles", string_lists(rows.iter().map(|r| r.context_roles.as_slice()))),
        ("situation", strings(&|r| &r.situation)),
        ("reference", strings(&|r| &r.reference)),
        ("generated", strings(&|r| &r.generated)),
        ("gold_emotion", strings(&|r| EMOTIONS[r.gold as usize])),
        ("pred_emotion", strings(&|r| EMOTIONS[r.predicted as usize])),
        ("nll_sum", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.nll_sum)))),
        ("tokens", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.tokens)))),
        ("nll_mean", Arc::new(Float64Array::from_iter_values(rows.iter().map(Response::nll_mean)))),
        ("batch", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.batch)))),
    ])
}

/// One row: every metric as a column (`examples` after `avg_len`; intervals null when not
/// asked for).
pub fn metrics(m: &Metrics) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    for (name, value) in m.values() {
        columns.push((name, Arc::new(Float64Array::from(vec![value]))));
        if name == "avg_len" {
            columns.push(("examples", Arc::new(UInt32Array::from(vec![m.examples as u32]))));
        }
    }
    RecordBatch::try_from_iter(columns)
}

/// The confusion matrix in long form: all 32 × 32 (gold, predicted) pairs, zeros included,
/// gold-major in `EMOTIONS` order.
pub fn confusion(m: &[[u32; CLASSES]; CLASSES]) -> Result<RecordBatch, ArrowError> {
    let pairs = || (0..CLASSES).flat_map(|g| (0..CLASSES).map(move |p| (g, p)));
    RecordBatch::try_from_iter([
        ("gold", Arc::new(StringArray::from_iter_values(pairs().map(|(g, _)| EMOTIONS[g]))) as ArrayRef),
        ("predicted", Arc::new(StringArray::from_iter_values(pairs().map(|(_, p)| EMOTIONS[p])))),
        ("count", Arc::new(UInt32Array::from_iter_values(pairs().map(|(g, p)| m[g][p])))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;

    #[test]
    fn tables_have_the_contract_columns() {
        let r = Response {
            example_id: 4,
            conv_id: "hit:1_conv:2".into(),
            context: vec!["i lost my job".into()],
            context_roles: vec!["speaker".into()],
            situation: "work".into(),
            reference: "oh no".into(),
            generated: "i am sorry".into(),
            gold: 5,
            predicted: 31,
            nll_sum: 3.0,
            tokens: 2,
            batch: 0,
        };
        let t = responses(std::slice::from_ref(&r)).unwrap();
        let names: Vec<String> = t.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "example_id", "conv_id", "context", "context_roles", "situation", "reference", "generated",
                "gold_emotion", "pred_emotion", "nll_sum", "tokens", "nll_mean", "batch"
            ]
        );
        assert_eq!(t.column_by_name("gold_emotion").unwrap().as_string::<i32>().value(0), "sad");
        assert_eq!(t.column_by_name("pred_emotion").unwrap().as_string::<i32>().value(0), "faithful");
        assert_eq!(t.column_by_name("nll_mean").unwrap().as_primitive::<arrow_array::types::Float64Type>().value(0), 1.5);

        let c = confusion(&crate::confusion(&[r])).unwrap();
        assert_eq!(c.num_rows(), 1024);
        let counts = c.column_by_name("count").unwrap().as_primitive::<UInt32Type>();
        assert_eq!(counts.iter().flatten().sum::<u32>(), 1);
        // gold-major: row 5 * 32 + 31 is (sad, faithful).
        assert_eq!(counts.value(5 * 32 + 31), 1);
        assert_eq!(c.column_by_name("predicted").unwrap().as_string::<i32>().value(5 * 32 + 31), "faithful");
    }
}
