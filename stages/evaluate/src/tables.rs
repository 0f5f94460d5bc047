//! The evaluate stage's Arrow tables: `responses`, `metrics`, `confusion`.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::ArrowError;
use iamm_core::EMOTIONS;

use crate::scores::CLASSES;
use crate::{Metrics, Response, RunIdentity};

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

/// One row per response, in the order given (the stage passes examples_test order);
/// `generated_tokens` is each response as Dist-n counts it ([`crate::Tokenized::distinct`]).
pub fn responses(rows: &[Response], generated_tokens: &[Vec<String>]) -> Result<RecordBatch, ArrowError> {
    if generated_tokens.len() != rows.len() {
        return Err(ArrowError::InvalidArgumentError(format!(
            "{} token lists for {} responses",
            generated_tokens.len(),
            rows.len()
        )));
    }
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
        ("generated_tokens", string_lists(generated_tokens.iter().map(Vec::as_slice))),
        ("gold_emotion", strings(&|r| EMOTIONS[r.gold as usize])),
        ("pred_emotion", strings(&|r| EMOTIONS[r.predicted as usize])),
        ("nll_sum", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.nll_sum)))),
        ("tokens", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.tokens)))),
        ("nll_mean", Arc::new(Float64Array::from_iter_values(rows.iter().map(Response::nll_mean)))),
        ("batch", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.batch)))),
    ])
}

/// One row: the run's identity (`stage`, `key`, `variant`, `seed`), then every metric as a
/// column (`examples` after `avg_len`; intervals null when not asked for).
pub fn metrics(id: &RunIdentity, m: &Metrics) -> Result<RecordBatch, ArrowError> {
    let text = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("stage", text(Some(&id.stage))),
        ("key", text(Some(&id.key))),
        ("variant", text(id.variant.as_deref())),
        ("seed", Arc::new(Int64Array::from(vec![id.seed]))),
    ];
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
    use arrow_array::Array;
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
        let tokens = vec![vec!["i".to_string(), "am".into(), "sorry".into()]];
        let t = responses(std::slice::from_ref(&r), &tokens).unwrap();
        let names: Vec<String> = t.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "example_id", "conv_id", "context", "context_roles", "situation", "reference", "generated",
                "generated_tokens", "gold_emotion", "pred_emotion", "nll_sum", "tokens", "nll_mean", "batch"
            ]
        );
        let listed = t.column_by_name("generated_tokens").unwrap().as_list::<i32>().value(0);
        assert_eq!(listed.as_string::<i32>().iter().flatten().collect::<Vec<_>>(), ["i", "am", "sorry"]);
        assert!(responses(std::slice::from_ref(&r), &[]).is_err(), "one token list per response");
        assert_eq!(t.column_by_name("gold_emotion").unwrap().as_string::<i32>().value(0), "sad");
        assert_eq!(t.column_by_name("pred_emotion").unwrap().as_string::<i32>().value(0), "faithful");
        assert_eq!(t.column_by_name("nll_mean").unwrap().as_primitive::<arrow_array::types::Float64Type>().value(0), 1.5);

        let m = crate::compute(std::slice::from_ref(&r), &iamm_text::Tokenizer::new(iamm_text::PunktParams::fallback()), &Default::default()).unwrap();
        let id = RunIdentity { stage: "evaluate[seed=1,variant=full]".into(), key: "abc".into(), variant: Some("full".into()), seed: Some(1) };
        let row = metrics(&id, &m).unwrap();
        let names: Vec<String> = row.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names[..5], ["stage", "key", "variant", "seed", "acc"]);
        assert_eq!(row.column_by_name("seed").unwrap().as_primitive::<arrow_array::types::Int64Type>().value(0), 1);
        assert_eq!(row.column_by_name("stage").unwrap().as_string::<i32>().value(0), "evaluate[seed=1,variant=full]");
        let anonymous = metrics(&RunIdentity { variant: None, seed: None, ..id }, &m).unwrap();
        assert!(anonymous.column_by_name("seed").unwrap().is_null(0) && anonymous.column_by_name("variant").unwrap().is_null(0));

        let c = confusion(&crate::confusion(&[r])).unwrap();
        assert_eq!(c.num_rows(), 1024);
        let counts = c.column_by_name("count").unwrap().as_primitive::<UInt32Type>();
        assert_eq!(counts.iter().flatten().sum::<u32>(), 1);
        // gold-major: row 5 * 32 + 31 is (sad, faithful).
        assert_eq!(counts.value(5 * 32 + 31), 1);
        assert_eq!(c.column_by_name("predicted").unwrap().as_string::<i32>().value(5 * 32 + 31), "faithful");
    }
}
