use anyhow::{Context, Result};
use iamm_core::SPLITS;
use iamm_text::{PunktParams, Tokenizer};
use iamm_tokenize::SplitExamples;
use serde_json::json;

use crate::params::{OPTIONAL_PATH, ParamSpec, ParamType, Params, Role};
use crate::schedule::Resources;
use crate::needs::Need;
use super::Code;
use crate::stage::{StageContext, StageKind, StageOutput};

pub struct Tokenize;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "punkt",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "folder with NLTK's English Punkt parameters in punkt_tab format \
               (nltk_data/tokenizers/punkt_tab/english); null = built-in rule-based sentence splitter",
        role: Role::Key,
    },
    ParamSpec {
        name: "vocab_splits",
        ty: ParamType::ChoiceList(&SPLITS),
        default: Some("[\"train\", \"valid\", \"test\"]"),
        help: "splits whose words form the vocabulary; the reference uses all three, which puts test words \
               in the vocabulary; [train] avoids that leak",
        role: Role::Key,
    },
    ParamSpec {
        name: "vectors",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "word vectors in GloVe text format for the embedding matrix (the reference uses glove.6B.300d.txt); \
               a word2vec header line is skipped, non-finite values are errors, a repeated word uses its last line",
        role: Role::Key,
    },
    ParamSpec {
        name: "max_context_turns",
        ty: ParamType::Nullable(&ParamType::Int { min: 1, max: 1_000_000 }),
        default: Some("null"),
        help: "keep only the last N utterances of each example's context (roles and COMET kept), for conversations \
               too long for the model; null = all (the reference)",
        role: Role::Key,
    },
];

impl StageKind for Tokenize {
    fn kind(&self) -> &'static str {
        "tokenize"
    }
    fn about(&self) -> &'static str {
        "reference preprocessing (lowercase, contractions, NLTK word_tokenize), vocabulary, token-id tables, embeddings"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::TOKENIZE
    }
    fn resources(&self, _: &Params) -> Resources {
        Resources::cpu(0, 1024)
    }
    fn needs(&self) -> &'static [Need] {
        &[Need::One { kind: "ingest", what: "the dialogues to tokenize" }]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let tokenizer = Tokenizer::new(PunktParams::load_dir_or_fallback(ctx.params.path("punkt")?.as_deref())?);
        let examples = SPLITS
            .iter()
            .map(|s| ctx.table(&format!("examples_{s}")))
            .collect::<Result<Vec<_>>>()?;
        let inputs: Vec<SplitExamples> =
            SPLITS.iter().zip(&examples).map(|(split, examples)| SplitExamples { split, examples }).collect();
        let vocab_splits = ctx.params.str_list("vocab_splits")?;
        let bar = ctx.bar(0, "sentences", "sent");
        let knowledge = match ctx.optional_table("knowledge")? {
            Some(table) => Some(iamm_tokenize::Knowledge::from_table(&table)?),
            None => None,
        };
        let opts = iamm_tokenize::TokenizeOptions {
            max_context_turns: ctx
                .params
                .opt("max_context_turns")?
                .map(|v| v.as_u64().map(|n| n as usize).context("param `max_context_turns` must be a positive integer or null"))
                .transpose()?,
        };
        let tokenized =
            iamm_tokenize::tokenize_with(&tokenizer, &inputs, &vocab_splits, knowledge.as_ref(), &opts, &bar)?;
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
        if let Some(path) = ctx.params.path("vectors")? {
            let bar = ctx.bar(0, "vectors", "bytes");
            let (table, coverage) = iamm_tokenize::embedding_table(&path, &tokenized.vocab, &bar)
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
