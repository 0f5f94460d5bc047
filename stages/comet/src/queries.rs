//! What COMET is asked, and how its answers become the knowledge table: every context
//! utterance and every situation, preprocessed like the tokenize stage and deduplicated,
//! times the five relations IAMM reads.

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder, UInt8Builder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use iamm_core::RELATIONS;
use iamm_text::Tokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashSet;

/// The distinct processed sentences (tokens joined by single spaces), in first-seen order.
pub struct Sentences {
    pub unique: Vec<String>,
    /// Context utterances and situations over all examples, repeats included.
    pub naive: usize,
}

/// Collects the sentences of `examples` tables (ingest's `context` and `situation` columns).
pub fn sentences(examples: &[&RecordBatch], tokenizer: &Tokenizer) -> Result<Sentences, String> {
    let mut raw: Vec<&str> = Vec::new();
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let mut naive = 0;
    for batch in examples {
        let context = batch
            .column_by_name("context")
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or("examples table has no List<Utf8> column `context`")?;
        let utterances = context.values().as_string_opt::<i32>().ok_or("`context` is not a list of strings")?;
        let situation = batch
            .column_by_name("situation")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or("examples table has no Utf8 column `situation`")?;
        let all =
            (0..utterances.len()).map(|i| utterances.value(i)).chain((0..situation.len()).map(|i| situation.value(i)));
        for s in all {
            naive += 1;
            if seen.insert(s) {
                raw.push(s);
            }
        }
    }
    let processed: Vec<String> = raw.par_iter().map(|s| tokenizer.process_sent(s).join(" ")).collect();
    let mut unique_seen = FxHashSet::default();
    let unique = processed.into_iter().filter(|s| unique_seen.insert(s.clone())).collect();
    Ok(Sentences { unique, naive })
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
    let rows: Vec<(usize, usize, u8, String, f32, Vec<String>)> = sentences
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut out = Vec::new();
            for (r, (relation, _)) in RELATIONS.iter().enumerate() {
                let beams = answer(s, relation).ok_or_else(|| format!("no answer for {:?}", query(s, relation)))?;
                for (rank, (text, score)) in beams.into_iter().enumerate() {
                    let tokens = tokenizer.process_sent(&text);
                    out.push((i, r, rank as u8, text, score, tokens));
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>, String>>()?
        .into_iter()
        .flatten()
        .collect();
    let (mut sentence, mut relation, mut beam, mut text, mut score, mut tokens) = (
        StringBuilder::new(),
        StringBuilder::new(),
        UInt8Builder::new(),
        StringBuilder::new(),
        Float32Builder::new(),
        ListBuilder::new(StringBuilder::new()),
    );
    for (i, r, rank, t, sc, toks) in &rows {
        sentence.append_value(&sentences[*i]);
        relation.append_value(RELATIONS[*r].0);
        beam.append_value(*rank);
        text.append_value(t);
        score.append_value(*sc);
        toks.iter().for_each(|w| tokens.values().append_value(w));
        tokens.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(sentence.finish()),
        Arc::new(relation.finish()),
        Arc::new(beam.finish()),
        Arc::new(text.finish()),
        Arc::new(score.finish()),
        Arc::new(tokens.finish()),
    ];
    RecordBatch::try_new(Arc::new(knowledge_schema()), columns).map_err(|e| e.to_string())
}

pub fn knowledge_schema() -> Schema {
    Schema::new(vec![
        Field::new("sentence", DataType::Utf8, false),
        Field::new("relation", DataType::Utf8, false),
        Field::new("beam", DataType::UInt8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("tokens", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
    ])
}
