//! The stage kinds this build knows, each adapting a stage crate to the engine.

mod analysis;
mod comet;
mod evaluate;
mod human_eval;
mod ingest;
mod model_io;
pub(crate) mod report;
mod tokenize;
mod train;
mod viewer;

use crate::stage::StageKind;

pub mod fingerprints {
    include!(concat!(env!("OUT_DIR"), "/fingerprints.rs"));
}

static ALL: &[&dyn StageKind] = &[&ingest::Ingest, &comet::Comet, &tokenize::Tokenize, &train::Train, &evaluate::Evaluate, &report::Report, &viewer::Viewer, &human_eval::HumanEval, &human_eval::HumanEvalScore, &analysis::Analysis];

pub fn all() -> &'static [&'static dyn StageKind] {
    ALL
}

pub fn find(kind: &str) -> Option<&'static dyn StageKind> {
    ALL.iter().copied().find(|k| k.kind() == kind)
}

pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|k| k.kind()).collect()
}
