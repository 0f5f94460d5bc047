use anyhow::{Context, Result};
use iamm_core::SPLITS;
use iamm_text::{PunktParams, Tokenizer};
use iamm_tokenize::{SplitExamples, TokenizeParams};
use serde_json::json;

use crate::params::Params;
use crate::schedule::Resources;
use crate::needs::Need;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Tokenize;

const DIALOGUES: Need = Need::One { kind: "ingest", what: "the dialogues to tokenize" };
const KNOWLEDGE: Need = Need::Optional { kind: "comet", what: "the COMET knowledge of the sentences" };

impl StageKind for Tokenize {
    fn kind(&self) -> &'static str {
        "tokenize"
    }
    fn about(&self) -> &'static str {
        "reference preprocessing (lowercase, contractions, NLTK word_tokenize), vocabulary, token-id tables, embeddings"
    }
    fn params(&self) -> &'static [ParamSpec] {
        TokenizeParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::TOKENIZE
    }
    fn resources(&self, _: &Params) -> Resources {
        Resources::cpu(0, 1024)
    }
    fn needs(&self) -> &'static [Need] {
        &[DIALOGUES, KNOWLEDGE]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = TokenizeParams::from_values(ctx.params)?;
        let tokenizer = Tokenizer::new(PunktParams::load_dir_or_fallback(p.punkt.as_deref())?);
        let (_, ingested) = ctx.one(&DIALOGUES)?;
        let examples = SPLITS
            .iter()
            .map(|s| ingested.read_table(&format!("examples_{s}")))
            .collect::<Result<Vec<_>>>()?;
        let inputs: Vec<SplitExamples> =
            SPLITS.iter().zip(&examples).map(|(split, examples)| SplitExamples { split, examples }).collect();
        let vocab_splits = &p.vocab_splits;
        let bar = ctx.bar(0, "sentences", "sent");
        let knowledge = match ctx.optional(&KNOWLEDGE)? {
            Some((_, comet)) => Some(iamm_tokenize::Knowledge::from_table(&comet.read_table("knowledge")?)?),
            None => None,
        };
        let opts = p.options();
        let tokenized =
            iamm_tokenize::tokenize_with(&tokenizer, &inputs, vocab_splits, knowledge.as_ref(), &opts, &bar)?;
        bar.finish_and_clear();

        let sentences = tokenized.sentences_count();
        let mut tables = vec![("vocab".to_string(), tokenized.vocab.to_table()?)];
        for (split, batch) in tokenized.splits {
            tables.push((format!("examples_{split}"), batch));
        }
        tables.push(("sentences".to_string(), tokenized.sentences));
        let mut summary = format!("vocabulary {}", tokenized.vocab.len());
        if let Some(k) = &knowledge {
            summary.push_str(&format!(", COMET knowledge for {} sentences", k.sentences()));
        }
        let mut coverage_json = serde_json::Value::Null;
        if let Some(path) = &p.vectors {
            let bar = ctx.bar(0, "vectors", "bytes");
            let (table, coverage) = iamm_tokenize::embedding_table(path, &tokenized.vocab, &bar)
                .with_context(|| "param `vectors`".to_string())?;
            bar.finish_and_clear();
            summary.push_str(&format!(
                ", {}-d vectors cover {:.2}% ({} of {})",
                coverage.dim,
                coverage.percent(),
                coverage.covered,
                coverage.vocab_size
            ));
            let duplicates = &coverage.duplicates;
            if !duplicates.is_empty() {
                let first = &duplicates[0];
                let message = format!(
                    "warning: {}: {} repeated word line(s) ({} of them vocabulary words), e.g. {:?} on lines {} and {}; \
                     the last line of a word is used (as the reference); see `stats.vectors.duplicates`",
                    path.display(),
                    duplicates.len(),
                    coverage.duplicates_in_vocab(&tokenized.vocab),
                    first.word,
                    first.first_line,
                    first.line
                );
                ctx.progress.suspend(|| eprintln!("{message}"));
                summary.push_str(&format!(", {} repeated word(s) in the vectors", duplicates.len()));
            }
            let examples: Vec<_> = duplicates
                .iter()
                .take(20)
                .map(|d| json!({"word": d.word, "first_line": d.first_line, "line": d.line}))
                .collect();
            coverage_json = json!({
                "dim": coverage.dim, "covered": coverage.covered, "vocab_size": coverage.vocab_size,
                "percent": coverage.percent(), "file_words": coverage.file_words,
                "header_skipped": coverage.header.map(|(words, dim)| json!({"line": 1, "words": words, "dim": dim})),
                "duplicates": {
                    "count": duplicates.len(),
                    "in_vocab": coverage.duplicates_in_vocab(&tokenized.vocab),
                    "kept": "last",
                    "first": examples,
                },
            });
            tables.push(("embedding".to_string(), table));
        }
        let unknown: serde_json::Map<_, _> = tokenized
            .unknown_tokens
            .iter()
            .map(|(s, unk, total)| (s.clone(), json!({"unknown": unk, "tokens": total})))
            .collect();
        Ok(StageOutput {
            tables,
            stats: json!({
                "sentence_splitter": tokenizer.describe(),
                "vocab_size": tokenized.vocab.len(),
                "vocab_splits": vocab_splits,
                "sentences": sentences,
                "tokens": unknown,
                "vectors": coverage_json,
                "knowledge_sentences": knowledge.as_ref().map(|k| k.sentences()),
                "max_context_turns": opts.max_context_turns,
                "truncated_contexts": tokenized.truncated_contexts.iter().map(|(s, n)| (s.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
            }),
            summary,
        })
    }
}
