//! The params of the human_eval (export) and human_eval_score stages.

use std::path::PathBuf;

use iamm_options::ParamType;

use crate::{Aggregate, ExportOptions, Identical};

const SEED: ParamType = ParamType::Int { min: 0, max: i64::MAX };

iamm_options::options! {
    /// Which two systems the sheets compare, and how they are drawn.
    pub struct ExportParams {
        proposed: String, Key,
            "the dep (an evaluate stage) whose responses are the proposed system; Win means it was preferred";
        baseline: String, Key, "the dep (an evaluate stage) compared against";
        sample: usize [ParamType::Int { min: 1, max: 1_000_000 }] = 100, Key,
            "test dialogues to rate, drawn with the seed (all eligible ones when fewer)";
        annotators: usize [ParamType::Int { min: 1, max: 1000 }] = 3, Key, "sheets to write, one per annotator";
        seed: u64 [SEED] = 42, Key, "seeds the sample, the A/B sides, the item ids and each sheet's order";
        identical: Identical = "tie", Key,
            "identical responses: tie = not shown, scored as a tie by every annotator; drop = left out of the sample";
        attention_checks: usize [ParamType::Int { min: 0, max: 1000 }] = 3, Key,
            "extra items with a known answer: a dialogue's human reply vs another dialogue's reply with its words shuffled";
    }
}

impl ExportParams {
    /// The export of the systems shown as `proposed` and `baseline` (their display names).
    pub fn options(&self, proposed: String, baseline: String) -> ExportOptions {
        ExportOptions {
            proposed,
            baseline,
            seed: self.seed,
            sample: self.sample,
            annotators: self.annotators,
            identical: self.identical,
            attention_checks: self.attention_checks,
        }
    }
}

iamm_options::options! {
    /// Which filled sheets to score, and how.
    pub struct ScoreParams {
        sheets: Option<PathBuf> = null, Key,
            "folder of filled sheets (.csv or .xlsx, one per annotator); null = sheets filled by seeded simulated \
             annotators (demo only; every output says so)";
        aggregate: Aggregate = "pooled", Key,
            "pooled = every judgement counts (the paper's description); majority = one outcome per item (no majority = tie)";
        annotators: Option<usize> [ParamType::Nullable(&ParamType::Int { min: 1, max: 1000 })] = null, Key,
            "sheets to score; null = as many as human_eval wrote (a sheet missing from `sheets` is an error); \
             fewer = score only the sheets that came back (simulated: the first N)";
        simulation_seed: u64 [SEED] = 42, Key, "seeds the simulated annotators (sheets: null only)";
    }
}
