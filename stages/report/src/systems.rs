//! Systems: our runs grouped by everything that distinguishes them but the seed, and their
//! metrics summarised over seeds (mean, sample standard deviation, n).
//!
//! A run's configuration ([`Run::config`]) is what its evaluate stage's key is made of, with
//! the trained model replaced by the params of the training that made it, less `seed`: the
//! variant and every other train param, the evaluate params (decoding, metric switches; the
//! content of input files such as Punkt's), and the test data (the tokenize artifact). Runs
//! with the same configuration are one system, whose seeds are its runs; so two decoding
//! settings of one variant are two systems, and a seed sweep made by hand with `-p` joins the
//! matrix's runs of the same system.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Run, paper_label, variant_rank};

/// Runs that differ only in their seed.
#[derive(Debug, Clone, PartialEq)]
pub struct System {
    /// The paper's name for the variant, and where several systems share a variant, what sets
    /// this one apart: `IAMM (evaluate.decoding=beam)`.
    pub label: String,
    pub variant: String,
    pub config: BTreeMap<String, Value>,
    /// Indices into the runs, by seed (runs without one last), then stage.
    pub runs: Vec<usize>,
    /// Where its first run stands among the runs as given (the report's deps order), which
    /// [`Report::new`](crate::Report::new) reorders.
    pub first: usize,
}

impl System {
    pub fn seeds(&self, runs: &[Run]) -> Vec<Option<i64>> {
        self.runs.iter().map(|&r| runs[r].seed).collect()
    }

    /// `metric` over the system's runs that have it.
    pub fn summary(&self, runs: &[Run], metric: &str) -> Option<Summary> {
        summarize(&self.runs.iter().filter_map(|&r| runs[r].get(metric)).collect::<Vec<_>>())
    }

    /// "seeds 1, 2, 42", or "2 runs" where a run has no seed.
    pub fn describe_seeds(&self, runs: &[Run]) -> String {
        let seeds: Option<Vec<String>> = self.seeds(runs).iter().map(|s| s.map(|s| s.to_string())).collect();
        match seeds {
            Some(s) if s.len() == 1 => format!("seed {}", s[0]),
            Some(s) => format!("seeds {}", s.join(", ")),
            None => format!("{} runs", self.runs.len()),
        }
    }
}

/// A metric over a system's runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mean: f64,
    /// The sample standard deviation (n − 1 in the denominator); `None` for one run.
    pub sd: Option<f64>,
    pub n: usize,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Some(Summary { mean, sd, n })
}

/// The systems of `runs`, in the paper's order of variants, then by label.
pub fn systems(runs: &[Run]) -> Vec<System> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        groups.entry(serde_json::to_string(&r.config).expect("JSON values serialize")).or_default().push(i);
    }
    let mut out: Vec<System> = groups
        .into_values()
        .map(|mut members| {
            let first = members[0];
            members.sort_by(|&a, &b| {
                let (x, y) = (&runs[a], &runs[b]);
                (x.seed.is_none(), x.seed, &x.stage).cmp(&(y.seed.is_none(), y.seed, &y.stage))
            });
            System { label: String::new(), variant: runs[first].variant.clone(), config: runs[first].config.clone(), runs: members, first }
        })
        .collect();
    let labels: Vec<String> = out.iter().map(|s| label(s, &out)).collect();
    for (s, l) in out.iter_mut().zip(labels) {
        s.label = l;
    }
    out.sort_by(|a, b| (variant_rank(&a.variant), &a.label).cmp(&(variant_rank(&b.variant), &b.label)));
    out
}

/// The paper's name for the variant, plus the settings in which `s` differs from the other
/// systems of its variant.
fn label(s: &System, all: &[System]) -> String {
    let name = paper_label(&s.variant);
    let same: Vec<&System> = all.iter().filter(|o| o.variant == s.variant).collect();
    if same.len() < 2 {
        return name.to_string();
    }
    let keys: std::collections::BTreeSet<&String> = same.iter().flat_map(|o| o.config.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| same.iter().any(|o| o.config.get(*k) != s.config.get(*k)))
        .map(|k| format!("{k}={}", show(s.config.get(k).unwrap_or(&Value::Null))))
        .collect();
    format!("{name} ({})", differing.join(", "))
}

/// A config value in a label: text as is (an artifact key or content hash cut to 8 digits),
/// other values as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => s[..8].to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn run(stage: &str, variant: &str, seed: Option<i64>, decoding: &str, acc: f64) -> Run {
        let config: BTreeMap<String, Value> = [
            ("train.variant".to_string(), json!(variant)),
            ("train.dim".to_string(), json!(16)),
            ("evaluate.decoding".to_string(), json!(decoding)),
            ("upstream.tokenize".to_string(), json!("0123456789abcdef0123")),
        ]
        .into_iter()
        .collect();
        Run {
            stage: stage.into(),
            key: format!("key-{stage}"),
            variant: variant.into(),
            seed,
            metrics: vec![("acc".into(), Some(acc))],
            params: Value::Null,
            provenance: Value::Null,
            config,
        }
    }

    #[test]
    fn runs_that_differ_only_in_seed_are_one_system() {
        let runs = vec![
            run("e[seed=2,variant=wo_ea]", "wo_ea", Some(2), "greedy", 0.30),
            run("e[seed=1,variant=full]", "full", Some(1), "greedy", 0.10),
            run("e[seed=2,variant=full]", "full", Some(2), "greedy", 0.20),
            run("e[seed=42,variant=full]", "full", Some(42), "greedy", 0.60),
            run("e_beam", "full", Some(1), "beam", 0.40),
        ];
        let s = systems(&runs);
        let labels: Vec<&str> = s.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["IAMM (evaluate.decoding=beam)", "IAMM (evaluate.decoding=greedy)", "w/o EA"]);
        assert_eq!(s[1].runs, [1, 2, 3], "by seed");
        assert_eq!(s[1].seeds(&runs), [Some(1), Some(2), Some(42)]);
        assert_eq!(s[1].describe_seeds(&runs), "seeds 1, 2, 42");
        assert_eq!(s[2].describe_seeds(&runs), "seed 2");
        let acc = s[1].summary(&runs, "acc").unwrap();
        assert_eq!(acc.n, 3);
        assert!((acc.mean - 0.3).abs() < 1e-15);
        // sd of 0.1, 0.2, 0.6: deviations -0.2, -0.1, 0.3; (0.04 + 0.01 + 0.09) / 2 = 0.07.
        assert!((acc.sd.unwrap() - 0.07f64.sqrt()).abs() < 1e-15);
        assert_eq!(s[0].summary(&runs, "acc"), Some(Summary { mean: 0.4, sd: None, n: 1 }));
        assert_eq!(s[0].summary(&runs, "ppl"), None);
        // Another test set makes another system; a long hex value is cut in the label.
        let mut other = run("e_other", "wo_ea", Some(1), "greedy", 0.5);
        other.config.insert("upstream.tokenize".into(), json!("ffffffffffffffffffff"));
        let s = systems(&[runs[0].clone(), other]);
        assert_eq!(s[0].label, "w/o EA (upstream.tokenize=01234567)");
        assert_eq!(s[1].label, "w/o EA (upstream.tokenize=ffffffff)");
    }

    #[test]
    fn sample_standard_deviation() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[2.0]), Some(Summary { mean: 2.0, sd: None, n: 1 }));
        let s = summarize(&[1.0, 3.0]).unwrap();
        assert_eq!((s.mean, s.sd, s.n), (2.0, Some(2f64.sqrt()), 2));
    }
}
