//! COMET knowledge joined onto examples as the reference builds its `c_*` / `s_*` inputs:
//! per sentence and relation, the words of all beams in one sequence, `[CLS]` first except
//! for xReact, words outside the vocabulary and the words "to" and "none" dropped.

use arrow_array::RecordBatch;
use iamm_core::RELATIONS;
use iamm_core::special::CLS;
use rustc_hash::FxHashMap;

use crate::{TokenizeError, Vocab};

/// Beams' tokens per relation (in `RELATIONS` order), keyed by the processed sentence
/// (its tokens joined by single spaces, exactly the COMET query's head).
pub struct Knowledge {
    by_sentence: FxHashMap<String, RelationBeams>,
}

/// Per relation, (beam rank, tokens) of every beam.
type RelationBeams = [Vec<(u8, Vec<String>)>; 5];

impl Knowledge {
    /// Reads comet's `knowledge` table (see [`iamm_tables::knowledge`]).
    pub fn from_table(batch: &RecordBatch) -> Result<Knowledge, TokenizeError> {
        let mut by_sentence: FxHashMap<String, RelationBeams> = FxHashMap::default();
        for (row, b) in iamm_tables::knowledge::read(batch, "knowledge")?.into_iter().enumerate() {
            let r = RELATIONS.iter().position(|(name, _)| *name == b.relation).ok_or_else(|| {
                TokenizeError::Knowledge(format!("row {row}: unknown relation `{}`", b.relation))
            })?;
            by_sentence.entry(b.sentence).or_default()[r].push((b.beam, b.tokens));
        }
        for beams in by_sentence.values_mut() {
            beams.iter_mut().for_each(|b| b.sort_by_key(|(rank, _)| *rank));
        }
        Ok(Knowledge { by_sentence })
    }

    pub fn sentences(&self) -> usize {
        self.by_sentence.len()
    }

    /// The model's id sequence for `sentence` and relation index `r`.
    pub fn ids(&self, sentence: &str, r: usize, vocab: &Vocab) -> Result<Vec<u32>, TokenizeError> {
        let beams = self.by_sentence.get(sentence).map(|b| &b[r]).filter(|b| !b.is_empty());
        let beams = beams.ok_or_else(|| {
            TokenizeError::Knowledge(format!(
                "no {} knowledge for the sentence {sentence:?}; the comet stage must cover every \
                 context utterance and situation (use the same `punkt` param in comet and tokenize)",
                RELATIONS[r].0
            ))
        })?;
        let mut ids = Vec::new();
        if RELATIONS[r].0 != "xReact" {
            ids.push(CLS);
        }
        for (_, tokens) in beams {
            for word in tokens {
                if word == "to" || word == "none" {
                    continue;
                }
                if let Some(id) = vocab.get(word) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }
}
