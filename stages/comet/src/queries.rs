//! What COMET is asked, and how its answers become the knowledge table: every context
//! utterance and every situation, preprocessed like the tokenize stage and deduplicated,
//! times the five relations IAMM reads.

use arrow_array::RecordBatch;
use iamm_core::RELATIONS;
use iamm_tables::knowledge::Beam;
use iamm_tables::text_examples::TextExample;
use iamm_text::Tokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

/// The distinct processed sentences (tokens joined by single spaces), in first-seen order.
pub struct Sentences {
    pub unique: Vec<String>,
    /// Context utterances and situations over all examples, repeats included.
    pub naive: usize,
}

/// Collects the sentences of the splits' examples (ingest's `context` and `situation`): per
/// split, every context utterance, then every situation.
pub fn sentences(splits: &[&[TextExample]], tokenizer: &Tokenizer) -> Sentences {
    let mut raw: Vec<&str> = Vec::new();
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let mut naive = 0;
    for examples in splits {
        let contexts = examples.iter().flat_map(|e| &e.context);
        for s in contexts.chain(examples.iter().map(|e| &e.situation)) {
            naive += 1;
            if seen.insert(s) {
                raw.push(s);
            }
        }
    }
    let processed: Vec<String> = raw.par_iter().map(|s| tokenizer.process_sent(s).join(" ")).collect();
    let mut unique_seen = FxHashSet::default();
    let unique = processed.into_iter().filter(|s| unique_seen.insert(s.clone())).collect();
    Sentences { unique, naive }
}

/// The reference's query: `"{sentence} {relation} [GEN]"`.
pub fn query(sentence: &str, relation: &str) -> String {
    format!("{sentence} {relation} [GEN]")
}

/// Generated beams of one query, best first: (text, score).
pub type Answer = Vec<(String, f32)>;

/// Builds the knowledge table: one row per sentence, relation and beam, with the beam's
/// text preprocessed like any sentence (`tokens`), which is what the tokenize stage reads.
pub fn knowledge_table(
    sentences: &[String],
    answer: impl Fn(&str, &str) -> Option<Answer> + Sync,
    tokenizer: &Tokenizer,
) -> Result<RecordBatch, String> {
    let rows: Vec<Beam> = sentences
        .par_iter()
        .map(|s| {
            let mut out = Vec::new();
            for (relation, _) in RELATIONS {
                let beams = answer(s, relation).ok_or_else(|| format!("no answer for {:?}", query(s, relation)))?;
                for (rank, (text, score)) in beams.into_iter().enumerate() {
                    let tokens = tokenizer.process_sent(&text);
                    out.push(Beam { sentence: s.clone(), relation: relation.to_string(), beam: rank as u8, text, score, tokens });
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, String>>()?
        .into_iter()
        .flatten()
        .collect();
    iamm_tables::knowledge::write(&rows).map_err(|e| e.to_string())
}
