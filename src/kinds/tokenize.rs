use anyhow::{Context, Result};
use iamm_core::SPLITS;
use iamm_text::{PunktParams, Tokenizer};
use iamm_tokenize::SplitExamples;
use serde_json::json;

use crate::params::{OPTIONAL_PATH, ParamSpec, ParamType};
use crate::stage::{StageContext, StageKind, StageOutput};

pub struct Tokenize;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "punkt",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "folder with NLTK's English Punkt parameters in punkt_tab format \
               (nltk_data/tokenizers/punkt_tab/english); null = built-in rule-based sentence splitter",
    },
    ParamSpec {
        name: "vocab_splits",
        ty: ParamType::ChoiceList(&SPLITS),
        default: Some("[\"train\", \"valid\", \"test\"]"),
        help: "splits whose words form the vocabulary; the reference uses all three, which puts test words \
               in the vocabulary; [train] avoids that leak",
    },
    ParamSpec {
        name: "vectors",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "word vectors in GloVe text format for the embedding matrix (the reference uses glove.6B.300d.txt)",
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
    fn fingerprint(&self) -> &'static str {
        super::fingerprints::TOKENIZE
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
        let tokenized = iamm_tokenize::tokenize(&tokenizer, &inputs, &vocab_splits, knowledge.as_ref(), &bar)?;
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
            coverage_json = json!({
                "dim": coverage.dim, "covered": coverage.covered, "vocab_size": coverage.vocab_size,
                "percent": coverage.percent(), "file_words": coverage.file_words,
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
            }),
            summary,
        })
    }
}
