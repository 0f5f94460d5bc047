//! `report --compare A B C …`: every metric of every run side by side, with each run's
//! change from the first, like `dvc metrics diff` for more than two.

use serde_json::{Value, json};

use crate::MetricValues;

/// One metric across the runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    /// Per run, in the order given.
    pub values: Vec<Option<f64>>,
    /// Per run, its value minus the first run's (the first's own: `None`).
    pub diffs: Vec<Option<f64>>,
}

/// Every metric of any run, in the order the runs first have them.
pub fn compare(runs: &[MetricValues]) -> Vec<Row> {
    let get = |m: &MetricValues, name: &str| m.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v);
    let mut names: Vec<&String> = Vec::new();
    for (name, _) in runs.iter().flatten() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<Option<f64>> = runs.iter().map(|m| get(m, name)).collect();
            let diffs = values.iter().enumerate().map(|(i, v)| if i == 0 { None } else { v.zip(values[0]).map(|(x, a)| x - a) }).collect();
            Row { metric: name.clone(), values, diffs }
        })
        .collect()
}

/// The letter a run goes by: A, B, …, Z, then R27, R28, ….
pub fn letter(i: usize) -> String {
    match u8::try_from(i) {
        Ok(i) if i < 26 => char::from(b'A' + i).to_string(),
        _ => format!("R{}", i + 1),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into())
}

/// A text table: `metric  A  B  B - A  C  C - A …`, after a legend of the runs.
pub fn compare_text(labels: &[String], rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.metric.len()).max().unwrap_or(6).max(6);
    let mut s: String = labels.iter().enumerate().map(|(i, l)| format!("{} = {l}\n", letter(i))).collect();
    s.push('\n');
    let mut header = format!("{:<width$}  {:>12}", "metric", letter(0));
    for i in 1..labels.len() {
        header.push_str(&format!("  {:>12}  {:>12}", letter(i), format!("{} - {}", letter(i), letter(0))));
    }
    s.push_str(header.trim_end());
    s.push('\n');
    for r in rows {
        let mut line = format!("{:<width$}  {:>12}", r.metric, cell(r.values[0]));
        for (v, d) in r.values.iter().zip(&r.diffs).skip(1) {
            let change = d.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "-".into());
            line.push_str(&format!("  {:>12}  {:>12}", cell(*v), change));
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// The comparison as JSON: `{"runs": [..], "metrics": {name: {"values": [..], "diffs": [..]}}}`,
/// `diffs[i]` being run i's value minus run 0's (null for run 0 and where a value is missing).
pub fn compare_json(runs: Vec<Value>, rows: &[Row]) -> Value {
    let metrics: serde_json::Map<String, Value> =
        rows.iter().map(|r| (r.metric.clone(), json!({"values": r.values, "diffs": r.diffs}))).collect();
    json!({"runs": runs, "metrics": metrics})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_from_the_first_run() {
        let a = vec![("acc".to_string(), Some(0.5)), ("ppl".to_string(), Some(40.0)), ("acc_lo".to_string(), None)];
        let b = vec![("ppl".to_string(), Some(38.5)), ("acc".to_string(), Some(0.25)), ("bleu1".to_string(), Some(3.0))];
        let c = vec![("acc".to_string(), Some(0.75))];
        let rows = compare(&[a, b, c]);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0], Row { metric: "acc".into(), values: vec![Some(0.5), Some(0.25), Some(0.75)], diffs: vec![None, Some(-0.25), Some(0.25)] });
        assert_eq!(rows[1].diffs, [None, Some(-1.5), None]);
        assert_eq!((rows[2].values.clone(), rows[2].diffs.clone()), (vec![None, None, None], vec![None, None, None]));
        assert_eq!((rows[3].metric.as_str(), rows[3].values.clone()), ("bleu1", vec![None, Some(3.0), None]));
        let labels: Vec<String> = ["evaluate[seed=42,variant=full]@k1", "evaluate[seed=42,variant=wo_ia]@k2", "x@k3"].iter().map(|s| s.to_string()).collect();
        let text = compare_text(&labels, &rows);
        assert!(text.starts_with("A = evaluate[seed=42,variant=full]@k1\nB = evaluate[seed=42,variant=wo_ia]@k2\nC = x@k3\n\n"), "{text}");
        assert!(text.contains("metric             A             B         B - A             C         C - A\n"), "{text}");
        assert!(text.contains("acc           0.5000        0.2500       -0.2500        0.7500       +0.2500\n"), "{text}");
        assert!(text.contains("ppl          40.0000       38.5000       -1.5000             -             -\n"), "{text}");
        let j = compare_json(vec![json!("a"), json!("b"), json!("c")], &rows);
        assert_eq!(j["metrics"]["ppl"]["diffs"], json!([null, -1.5, null]));
        assert_eq!(j["metrics"]["acc"]["values"][2], json!(0.75));
        assert_eq!(j["runs"][1], json!("b"));
        assert_eq!((letter(0), letter(25), letter(26)), ("A".to_string(), "Z".to_string(), "R27".to_string()));
    }
}
