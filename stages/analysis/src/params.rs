//! The analysis stage's params (the encoder batch and device follow them, declared where the
//! encoder runs).

use std::path::PathBuf;

use iamm_options::ParamType;

use crate::{LexiconFormat, Missing};

iamm_options::choices! {
    /// Which dialogues are the IDF documents.
    pub enum IdfCorpus ("idf_corpus") {
        Test = "test",
        Train = "train",
    }
}

iamm_options::options! {
    /// What the analysis measures the associated words against.
    pub struct AnalysisParams {
        lexicon: PathBuf, Key,
            "emotion lexicon file: the NRC Emotion Intensity Lexicon (NRC-Emotion-Intensity-Lexicon-v1.txt) or, \
             with lexicon_format nrc_vad_kemp, the NRC VAD Lexicon (NRC-VAD-Lexicon.txt); not shipped, see README";
        lexicon_format: LexiconFormat = "nrc_intensity", Key,
            "nrc_intensity: a word's intensity is its highest score over the emotions; nrc_vad_kemp: KEMP's \
             min-max normalised ||(valence - 1/2, arousal/2)||";
        missing: Missing = "zero", Key, "words the lexicon lacks: intensity 0, or left out of the intensity means";
        idf_corpus: IdfCorpus = "test", Key,
            "IDF documents: the test dialogues (one conv_id each) or the training dialogues";
        top_k_max: usize [ParamType::Int { min: 0, max: 10_000_000 }] = 0, Key,
            "longest top-k of the Figure 3/4 curves; 0 = every associated word";
    }
}
