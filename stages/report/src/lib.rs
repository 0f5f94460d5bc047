//! The **report** stage's logic: Table 1 of the paper (Acc, PPL, Dist-1, Dist-2) with our
//! systems beside the paper's published rows, as Markdown, LaTeX and CSV: a system run with
//! several seeds as the mean ± sample standard deviation over its seeds, a single run with its
//! 95% intervals ([`systems`]); paired significance tests of IAMM against each other system
//! ([`significance`]); the per-run rows and a traceability list (stage, artifact key, params of
//! each run); and metric comparisons between runs (`iamm-pipe report --compare A B …`).
//!
//! Units: an evaluate stage's `metrics` table stores Acc as a fraction and Dist-n x100. Where a
//! table of ours shows Acc in %, as the paper prints it, the column is named `acc_pct`; a
//! column named `acc` is always a fraction.

mod compare;
mod paper;
pub mod params;
mod render;
pub mod responses;
pub mod sheet;
pub mod significance;
pub mod systems;
mod tables;

use std::collections::BTreeMap;

use iamm_stats::paired::TestOptions;
use serde_json::Value;

pub use compare::{Row, compare, compare_json, compare_text, letter};
pub use paper::{PAPER_TABLE1, PaperRow, paper_label};
pub use render::{latex, markdown, significance_latex};
pub use significance::Comparison;
pub use systems::{Summary, System};
pub use tables::{runs_table, significance_table, table1};

/// Table 1's metrics: the `metrics` column, its name in our tables (`_pct`: Acc in %), and
/// whether a single run carries a 95% interval.
const TABLE1: [(&str, &str, bool); 4] = [("acc", "acc_pct", true), ("ppl", "ppl", false), ("dist1", "dist1", true), ("dist2", "dist2", true)];

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
    /// The seed of the training that made the model (the `metrics` table's `seed`).
    pub seed: Option<i64>,
    pub metrics: MetricValues,
    /// The evaluate stage's params.
    pub params: Value,
    /// Where the model came from: `{"stage", "key", "params"}` of the train stage, and
    /// the tokenize key, as the evaluate stage recorded them.
    pub provenance: Value,
    /// Everything that makes the run's system (all but the seed), flattened to
    /// `"train.dim"`, `"evaluate.decoding"`, `"upstream.tokenize"` → value: see [`systems`].
    pub config: BTreeMap<String, Value>,
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
        self.get(metric).map(|v| v * table1_scale(metric))
    }
}

/// The factor from a `metrics` column's unit to the paper's: 100 for Acc (a fraction there),
/// 1 for the rest (Dist-n is x100 already).
pub fn table1_scale(metric: &str) -> f64 {
    if metric.starts_with("acc") { 100.0 } else { 1.0 }
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

/// The significance tests' outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tests {
    /// `None`: the tests are off.
    pub settings: Option<TestOptions>,
    pub comparisons: Vec<Comparison>,
    /// Systems not tested, and why.
    pub notes: Vec<String>,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Our runs, system by system, each system's by seed.
    pub runs: Vec<Run>,
    /// Their systems; `System::runs` index `runs`.
    pub systems: Vec<System>,
    pub tests: Tests,
    pub sections: Vec<Section>,
}

impl Report {
    /// Groups the runs into systems and orders them; no tests yet.
    pub fn new(runs: Vec<Run>, sections: Vec<Section>) -> Report {
        let grouped = systems::systems(&runs);
        let order: Vec<usize> = grouped.iter().flat_map(|s| s.runs.iter().copied()).collect();
        let mut slots: Vec<Option<Run>> = runs.into_iter().map(Some).collect();
        let runs: Vec<Run> = order.iter().map(|&i| slots[i].take().expect("each run in one system")).collect();
        let mut next = 0;
        let systems = grouped
            .into_iter()
            .map(|mut s| {
                s.runs = (next..next + s.runs.len()).collect();
                next += s.runs.len();
                s
            })
            .collect();
        Report { runs, systems, tests: Tests::default(), sections }
    }

    /// The system run `i` belongs to.
    pub fn system_of(&self, run: usize) -> &System {
        self.systems.iter().find(|s| s.runs.contains(&run)).expect("every run has a system")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::tests::run;

    #[test]
    fn runs_are_ordered_system_by_system() {
        let runs = vec![
            run("ea1", "wo_ea", Some(1), "greedy", 0.25),
            run("full2", "full", Some(2), "greedy", 0.5),
            run("full1", "full", Some(1), "greedy", 0.5),
        ];
        let r = Report::new(runs, vec![]);
        assert_eq!(r.runs.iter().map(|r| r.stage.as_str()).collect::<Vec<_>>(), ["full1", "full2", "ea1"]);
        assert_eq!((r.systems[0].runs.clone(), r.systems[1].runs.clone()), (vec![0, 1], vec![2]));
        assert_eq!(r.system_of(2).label, "w/o EA");
        assert_eq!(r.runs[2].table1("acc"), Some(25.0));
        assert_eq!(r.runs[2].label(), "w/o EA (ours, ea1)");
    }
}
