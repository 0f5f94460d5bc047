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

/// Where the file an input param names comes from (the README's "Getting the data"), for the
/// error that says it is missing.
pub fn where_to_get(kind: &str, param: &str) -> Option<&'static str> {
    const PUNKT: &str = "NLTK's Punkt parameters: `python3 -m pip install nltk && python3 -c \"import nltk; \
                         nltk.download('punkt_tab')\"` writes ~/nltk_data/tokenizers/punkt_tab/english";
    Some(match (kind, param) {
        ("ingest", "source") => {
            "the EmpatheticDialogues release is https://dl.fbaipublicfiles.com/parlai/empatheticdialogues/\
             empatheticdialogues.tar.gz (give the .tar.gz or its extracted folder)"
        }
        ("comet", "model") => {
            "COMET-ATOMIC 2020 (BART) is exported to ONNX once with scripts/comet/export_onnx.py (README, \
             \"Exporting COMET to ONNX\")"
        }
        ("comet" | "tokenize" | "evaluate", "punkt") => PUNKT,
        ("tokenize", "vectors") => "GloVe 6B 300-d is glove.6B.300d.txt in https://nlp.stanford.edu/data/glove.6B.zip",
        ("analysis", "lexicon") => {
            "the NRC Emotion Intensity Lexicon is at https://saifmohammad.com/WebPages/AffectIntensity.htm \
             (NRC-Emotion-Intensity-Lexicon-v1.txt)"
        }
        _ => return None,
    })
}
