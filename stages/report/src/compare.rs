//! `report --compare A B`: per metric A, B and B − A, like `dvc metrics diff`.

use serde_json::{Value, json};

use crate::MetricValues;

#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub metric: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b − a`, when both are there.
    pub diff: Option<f64>,
}

/// Every metric of either side, A's order first.
pub fn compare(a: &MetricValues, b: &MetricValues) -> Vec<Diff> {
    let get = |m: &MetricValues, name: &str| m.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v);
    let mut names: Vec<&String> = a.iter().map(|(n, _)| n).collect();
    names.extend(b.iter().map(|(n, _)| n).filter(|n| !a.iter().any(|(x, _)| x == *n)));
    names
        .into_iter()
        .map(|name| {
            let (va, vb) = (get(a, name), get(b, name));
            Diff { metric: name.clone(), a: va, b: vb, diff: va.zip(vb).map(|(x, y)| y - x) }
        })
        .collect()
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

/// A text table: `metric  A  B  change`.
pub fn compare_text(a_label: &str, b_label: &str, diffs: &[Diff]) -> String {
    let width = diffs.iter().map(|d| d.metric.len()).max().unwrap_or(6).max(6);
    let mut s = format!("A = {a_label}\nB = {b_label}\n\n{:<width$}  {:>12}  {:>12}  {:>12}\n", "metric", "A", "B", "B - A");
    for d in diffs {
        let change = d.diff.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "-".into());
        s.push_str(&format!("{:<width$}  {:>12}  {:>12}  {:>12}\n", d.metric, cell(d.a), cell(d.b), change));
    }
    s
}

/// The comparison as JSON: `{"a": .., "b": .., "metrics": {name: {"a", "b", "diff"}}}`.
pub fn compare_json(a: Value, b: Value, diffs: &[Diff]) -> Value {
    let metrics: serde_json::Map<String, Value> =
        diffs.iter().map(|d| (d.metric.clone(), json!({"a": d.a, "b": d.b, "diff": d.diff}))).collect();
    json!({"a": a, "b": b, "metrics": metrics})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_per_metric() {
        let a = vec![("acc".to_string(), Some(0.5)), ("ppl".to_string(), Some(40.0)), ("acc_lo".to_string(), None)];
        let b = vec![("ppl".to_string(), Some(38.5)), ("acc".to_string(), Some(0.25)), ("bleu1".to_string(), Some(3.0))];
        let d = compare(&a, &b);
        assert_eq!(d.len(), 4);
        assert_eq!(d[0], Diff { metric: "acc".into(), a: Some(0.5), b: Some(0.25), diff: Some(-0.25) });
        assert_eq!(d[1].diff, Some(-1.5));
        assert_eq!((d[2].a, d[2].diff), (None, None));
        assert_eq!((d[3].metric.as_str(), d[3].a, d[3].b), ("bleu1", None, Some(3.0)));
        let text = compare_text("evaluate[seed=42,variant=full]@k1", "evaluate[seed=42,variant=wo_ia]@k2", &d);
        assert!(text.starts_with("A = evaluate[seed=42,variant=full]@k1\nB = evaluate[seed=42,variant=wo_ia]@k2\n"), "{text}");
        assert!(text.contains("acc           0.5000        0.2500       -0.2500"), "{text}");
        assert!(text.contains("ppl          40.0000       38.5000       -1.5000"), "{text}");
        let j = compare_json(json!("a"), json!("b"), &d);
        assert_eq!(j["metrics"]["ppl"]["diff"], json!(-1.5));
        assert_eq!(j["metrics"]["acc_lo"]["a"], Value::Null);
    }
}
