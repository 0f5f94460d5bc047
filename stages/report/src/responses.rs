//! Reading what the significance tests need from an evaluate stage's `responses` table: per
//! test example, whether the emotion was right, the mean token NLL, the test batch and the
//! response's tokens as Dist-n counts them. The one place that knows that table's layout.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch};

/// One run's per-example outputs, in the table's (test set) order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    pub example_ids: Vec<u32>,
    /// `gold_emotion == pred_emotion`.
    pub correct: Vec<bool>,
    pub nll_mean: Vec<f64>,
    pub batch: Vec<u32>,
    /// `generated_tokens`: the response as Dist-n counts it.
    pub tokens: Vec<Vec<String>>,
}

/// Reads the columns the tests need; `what` names the table in errors.
pub fn read_outputs(batch: &RecordBatch, what: &str) -> Result<Outputs, String> {
    let col = |name: &str| -> Result<&ArrayRef, String> {
        batch.column_by_name(name).ok_or_else(|| {
            let hint = if name == "generated_tokens" {
                " (an evaluate artifact from before that column: rerun the evaluate stage)"
            } else {
                ""
            };
            format!("{what}: no column `{name}`{hint}")
        })
    };
    let wrong = |name: &str, expected: &str| format!("{what}: column `{name}` is not {expected}");
    let nulls = |name: &str, c: &dyn Array| {
        if c.null_count() > 0 { Err(format!("{what}: column `{name}` has null values")) } else { Ok(()) }
    };
    let u32s = |name: &str| -> Result<Vec<u32>, String> {
        let c = col(name)?;
        nulls(name, c.as_ref())?;
        Ok(c.as_primitive_opt::<UInt32Type>().ok_or_else(|| wrong(name, "uint32"))?.values().to_vec())
    };
    let texts = |name: &str| -> Result<Vec<String>, String> {
        let c = col(name)?;
        nulls(name, c.as_ref())?;
        let s = c.as_string_opt::<i32>().ok_or_else(|| wrong(name, "utf8"))?;
        Ok((0..s.len()).map(|i| s.value(i).to_string()).collect())
    };
    let nll = col("nll_mean")?;
    nulls("nll_mean", nll.as_ref())?;
    let nll_mean = nll.as_primitive_opt::<Float64Type>().ok_or_else(|| wrong("nll_mean", "float64"))?.values().to_vec();
    let (gold, predicted) = (texts("gold_emotion")?, texts("pred_emotion")?);
    let lists = col("generated_tokens")?;
    nulls("generated_tokens", lists.as_ref())?;
    let lists = lists.as_list_opt::<i32>().ok_or_else(|| wrong("generated_tokens", "list<utf8>"))?;
    let mut tokens = Vec::with_capacity(lists.len());
    for i in 0..lists.len() {
        let words = lists.value(i);
        let words = words.as_string_opt::<i32>().ok_or_else(|| wrong("generated_tokens", "list<utf8>"))?;
        tokens.push((0..words.len()).map(|j| words.value(j).to_string()).collect());
    }
    Ok(Outputs {
        example_ids: u32s("example_id")?,
        correct: gold.iter().zip(&predicted).map(|(g, p)| g == p).collect(),
        nll_mean,
        batch: u32s("batch")?,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{Float64Array, StringArray, UInt32Array};

    fn table(with_tokens: bool) -> RecordBatch {
        let mut lists = ListBuilder::new(StringBuilder::new());
        for words in [&["i", "see"][..], &[]] {
            words.iter().for_each(|w| lists.values().append_value(w));
            lists.append(true);
        }
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            ("example_id", Arc::new(UInt32Array::from(vec![7, 3]))),
            ("gold_emotion", Arc::new(StringArray::from(vec!["sad", "proud"]))),
            ("pred_emotion", Arc::new(StringArray::from(vec!["sad", "sad"]))),
            ("nll_mean", Arc::new(Float64Array::from(vec![1.5, 2.0]))),
            ("batch", Arc::new(UInt32Array::from(vec![0, 0]))),
        ];
        if with_tokens {
            columns.push(("generated_tokens", Arc::new(lists.finish())));
        }
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn reads_what_the_tests_need() {
        let o = read_outputs(&table(true), "responses of `e`").unwrap();
        assert_eq!(o.example_ids, [7, 3]);
        assert_eq!(o.correct, [true, false]);
        assert_eq!(o.nll_mean, [1.5, 2.0]);
        assert_eq!(o.tokens, vec![vec!["i".to_string(), "see".into()], vec![]]);
        let e = read_outputs(&table(false), "responses of `e`").unwrap_err();
        assert!(e.starts_with("responses of `e`: no column `generated_tokens`") && e.contains("rerun the evaluate stage"), "{e}");
    }
}
