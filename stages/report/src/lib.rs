//! The **report** stage's logic: Table 1 of the paper (Acc, PPL, Dist-1, Dist-2) with every
//! evaluated run of ours beside the paper's published rows, as Markdown, LaTeX and CSV, a
//! traceability list (stage, artifact key, params of each of our rows), and metric
//! comparisons between two runs (`iamm-pipe report --compare A B`).
//!
//! Units follow the paper: Acc in %, Dist-n x100, PPL as is. An evaluate stage's `metrics`
//! table stores Acc as a fraction, so [`Run::table1`] multiplies it (and its interval) by 100.

mod compare;
mod paper;
mod render;

use serde_json::Value;

pub use compare::{Diff, compare, compare_json, compare_text};
pub use paper::{PAPER_TABLE1, PaperRow, paper_label};
pub use render::{csv, latex, markdown, table1};

/// Metric values by name, in the evaluate stage's `metrics` column order (as
/// `iamm_tables::metrics::read` gives them).
pub type MetricValues = Vec<(String, Option<f64>)>;

/// One of our evaluated runs: an evaluate stage's artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The evaluate stage's name and artifact key.
    pub stage: String,
    pub key: String,
    /// `full`, `wo_ea`, `wo_ia` or `wo_ws` (from the model's configuration).
    pub variant: String,
    pub metrics: MetricValues,
    /// The evaluate stage's params.
    pub params: Value,
    /// Where the model came from: `{"stage", "key", "params"}` of the train stage, and
    /// the tokenize key, as the evaluate stage recorded them.
    pub provenance: Value,
}

impl Run {
    pub fn get(&self, metric: &str) -> Option<f64> {
        self.metrics.iter().find(|(n, _)| n == metric).and_then(|(_, v)| *v)
    }

    /// "IAMM (ours, `evaluate`)": the paper's name for the variant and the stage.
    pub fn label(&self) -> String {
        format!("{} (ours, {})", paper_label(&self.variant), self.stage)
    }

    /// A Table 1 value in the paper's units (Acc and its interval x100).
    pub fn table1(&self, metric: &str) -> Option<f64> {
        let scale = if metric.starts_with("acc") { 100.0 } else { 1.0 };
        self.get(metric).map(|v| v * scale)
    }
}

/// Where the variants go in the table: the paper's order (IAMM, w/o EA, w/o IA, w/o WS).
pub fn variant_rank(variant: &str) -> usize {
    iamm_core::VARIANTS.iter().position(|v| *v == variant).unwrap_or(iamm_core::VARIANTS.len())
}

/// A Markdown section another stage published (`report_section.md`), appended to the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub stage: String,
    pub key: String,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table1_values_are_in_the_papers_units() {
        let m = vec![("acc".into(), Some(0.25)), ("examples".into(), Some(12.0)), ("acc_lo".into(), None)];
        let run = Run {
            stage: "evaluate".into(),
            key: "k".into(),
            variant: "wo_ia".into(),
            metrics: m,
            params: Value::Null,
            provenance: Value::Null,
        };
        assert_eq!(run.table1("acc"), Some(25.0));
        assert_eq!(run.table1("examples"), Some(12.0));
        assert_eq!(run.label(), "w/o IA (ours, evaluate)");
    }
}
