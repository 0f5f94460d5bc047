//! The tokenize stage: reference preprocessing of every sentence, the vocabulary in the
//! reference's id order, token-id tables with the speaker-role masks the model reads, and
//! optional pre-trained word vectors.

mod columns;
mod knowledge;
mod vectors;
mod vocab;

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder, UInt32Builder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use iamm_core::{RELATIONS, SPLITS};
use iamm_options::ParamType;
use iamm_core::special::{CLS, EOS, SYS, UNK, USR};
use rustc_hash::FxHashMap;
use iamm_text::Tokenizer;
use rayon::prelude::*;

pub use columns::{ColumnError, column, list_of_strings};
pub use knowledge::Knowledge;
pub use vectors::{Coverage, Duplicate, VectorError, embedding_table};
pub use vocab::Vocab;

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("input table `{table}`: {source}")]
    Input { table: String, source: ColumnError },
    #[error("`vocab_splits` names `{0}`, which is not among the ingested splits")]
    UnknownSplit(String),
    #[error("`max_context_turns` is 0; a context needs at least one utterance (null keeps them all)")]
    ZeroContextTurns,
    #[error("knowledge: {0}")]
    Knowledge(String),
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Per distinct sentence, its COMET id sequences (one per relation) where it needs them.
type KnowledgeIds = Vec<Option<[Vec<u32>; 5]>>;

/// One ingested split: its name and its `examples` table.
pub struct SplitExamples<'a> {
    pub split: &'a str,
    pub examples: &'a RecordBatch,
}

pub struct Tokenized {
    pub vocab: Vocab,
    /// Per split, the token-id table.
    pub splits: Vec<(String, RecordBatch)>,
    /// Every distinct raw sentence and its tokens.
    pub sentences: RecordBatch,
    /// Per split, how many tokens fell outside the vocabulary (only with a train-only vocabulary).
    pub unknown_tokens: Vec<(String, u64, u64)>,
    /// Per split, how many examples had their context cut to [`TokenizeOptions::max_context_turns`].
    pub truncated_contexts: Vec<(String, u64)>,
}

/// Options of [`tokenize_with`]; `Default` is the reference preprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenizeOptions {
    /// Keep only the last this many utterances of each context (`None`: all, the reference).
    /// The kept utterances keep their speaker/listener roles (counted from the first utterance
    /// of the whole conversation) and their COMET knowledge; the vocabulary is built from the
    /// whole contexts either way, so word ids do not change.
    pub max_context_turns: Option<usize>,
}

iamm_options::options! {
    /// The tokenize stage's params.
    pub struct TokenizeParams {
        punkt: Option<PathBuf> = null, Key,
            "folder with NLTK's English Punkt parameters in punkt_tab format \
             (nltk_data/tokenizers/punkt_tab/english); null = built-in rule-based sentence splitter";
        vocab_splits: Vec<String> [ParamType::ChoiceList(&SPLITS)] = ["train", "valid", "test"], Key,
            "splits whose words form the vocabulary; the reference uses all three, which puts test words \
             in the vocabulary; [train] avoids that leak";
        vectors: Option<PathBuf> = null, Key,
            "word vectors in GloVe text format for the embedding matrix (the reference uses glove.6B.300d.txt); \
             a word2vec header line is skipped, non-finite values are errors, a repeated word uses its last line";
        max_context_turns: Option<usize> [ParamType::Nullable(&ParamType::Int { min: 1, max: 1_000_000 })] = null, Key,
            "keep only the last N utterances of each example's context (roles and COMET kept), for conversations \
             too long for the model; null = all (the reference)";
    }
}

impl TokenizeParams {
    pub fn options(&self) -> TokenizeOptions {
        TokenizeOptions { max_context_turns: self.max_context_turns }
    }
}

impl Tokenized {
    pub fn sentences_count(&self) -> usize {
        self.sentences.num_rows()
    }
}

/// One examples table with every sentence replaced by its id among the distinct sentences.
struct SplitSentences<'a> {
    name: &'a str,
    batch: &'a RecordBatch,
    contexts: Vec<Vec<u32>>,
    targets: Vec<u32>,
    situations: Vec<u32>,
}

/// Gives each distinct sentence an id, in first-seen order.
#[derive(Default)]
struct Interner<'a> {
    index: FxHashMap<&'a str, u32>,
    sentences: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, s: &'a str) -> u32 {
        *self.index.entry(s).or_insert_with(|| {
            self.sentences.push(s);
            self.sentences.len() as u32 - 1
        })
    }
}

/// [`tokenize_with`] with the reference's options (whole contexts).
pub fn tokenize(
    tokenizer: &Tokenizer,
    splits: &[SplitExamples],
    vocab_splits: &[String],
    knowledge: Option<&Knowledge>,
    progress: &indicatif::ProgressBar,
) -> Result<Tokenized, TokenizeError> {
    tokenize_with(tokenizer, splits, vocab_splits, knowledge, &TokenizeOptions::default(), progress)
}

pub fn tokenize_with(
    tokenizer: &Tokenizer,
    splits: &[SplitExamples],
    vocab_splits: &[String],
    knowledge: Option<&Knowledge>,
    opts: &TokenizeOptions,
    progress: &indicatif::ProgressBar,
) -> Result<Tokenized, TokenizeError> {
    if opts.max_context_turns == Some(0) {
        return Err(TokenizeError::ZeroContextTurns);
    }
    for s in vocab_splits {
        if !splits.iter().any(|t| t.split == s) {
            return Err(TokenizeError::UnknownSplit(s.clone()));
        }
    }
    let mut interner = Interner::default();
    let texts = splits.iter().map(|s| read_split(s, &mut interner)).collect::<Result<Vec<_>, _>>()?;
    let unique = interner.sentences;

    // Every distinct sentence is tokenized once, in parallel.
    progress.set_length(unique.len() as u64);
    let tokens: Vec<Vec<String>> = unique
        .par_iter()
        .map(|s| {
            let t = tokenizer.process_sent(s);
            progress.inc(1);
            t
        })
        .collect();

    // The reference indexes a split's contexts, then its targets, then its situations, one
    // use at a time; a word's id is its first use. Words first appear at a sentence's first
    // use, so visiting each sentence once (weighted by its uses) gives the same ids and counts.
    let mut uses = vec![0u64; unique.len()];
    let mut first_use_order = Vec::new();
    for t in texts.iter().filter(|t| vocab_splits.iter().any(|v| v == t.name)) {
        let all = t.contexts.iter().flatten().chain(&t.targets).chain(&t.situations);
        for &sid in all {
            if uses[sid as usize] == 0 {
                first_use_order.push(sid);
            }
            uses[sid as usize] += 1;
        }
    }
    let mut vocab = Vocab::new();
    for sid in first_use_order {
        vocab.add_all(&tokens[sid as usize], uses[sid as usize]);
    }
    let ids: Vec<Vec<u32>> =
        tokens.par_iter().map(|t| t.iter().map(|w| vocab.id_or_unk(w)).collect()).collect();

    let knowledge_ids = match knowledge {
        Some(k) => Some(knowledge_ids(k, &texts, &tokens, &vocab)?),
        None => None,
    };

    let mut out = Vec::new();
    let mut unknown_tokens = Vec::new();
    let mut truncated_contexts = Vec::new();
    for t in &texts {
        let (batch, counts) = split_table(t, &ids, &tokens, knowledge_ids.as_deref(), opts.max_context_turns)?;
        unknown_tokens.push((t.name.to_string(), counts.unknown, counts.total));
        truncated_contexts.push((t.name.to_string(), counts.truncated));
        out.push((t.name.to_string(), batch));
    }
    let sentences = sentences_table(&unique, &tokens)?;
    Ok(Tokenized { vocab, splits: out, sentences, unknown_tokens, truncated_contexts })
}

/// COMET id sequences for every sentence used as a context utterance or a situation.
fn knowledge_ids(
    knowledge: &Knowledge,
    texts: &[SplitSentences],
    tokens: &[Vec<String>],
    vocab: &Vocab,
) -> Result<KnowledgeIds, TokenizeError> {
    let mut needed = vec![false; tokens.len()];
    for t in texts {
        t.contexts.iter().flatten().chain(&t.situations).for_each(|&sid| needed[sid as usize] = true);
    }
    needed
        .par_iter()
        .zip(tokens)
        .map(|(&need, toks)| {
            if !need {
                return Ok(None);
            }
            let sentence = toks.join(" ");
            let mut per_relation: [Vec<u32>; 5] = Default::default();
            for (r, ids) in per_relation.iter_mut().enumerate() {
                *ids = knowledge.ids(&sentence, r, vocab)?;
            }
            Ok(Some(per_relation))
        })
        .collect()
}

fn read_split<'a>(s: &SplitExamples<'a>, interner: &mut Interner<'a>) -> Result<SplitSentences<'a>, TokenizeError> {
    let table = format!("examples_{}", s.split);
    let err = |source| TokenizeError::Input { table: table.clone(), source };
    let contexts = list_of_strings(s.examples, "context").map_err(err)?;
    let targets = column::<StringArray>(s.examples, "target").map_err(err)?;
    let situations = column::<StringArray>(s.examples, "situation").map_err(err)?;
    for name in ["example_id", "conv_id", "turn", "emotion", "emotion_id"] {
        if s.examples.column_by_name(name).is_none() {
            return Err(err(ColumnError::Missing(name.to_string())));
        }
    }
    let contexts = contexts.into_iter().map(|c| c.into_iter().map(|u| interner.id(u)).collect()).collect();
    let targets = targets.iter().map(|s| interner.id(s.unwrap_or_default())).collect();
    let situations = situations.iter().map(|s| interner.id(s.unwrap_or_default())).collect();
    Ok(SplitSentences { name: s.split, batch: s.examples, contexts, targets, situations })
}

/// Columns of a tokenized split; with knowledge, also `c_<relation>` (per context
/// utterance) and `s_<relation>` (for the situation).
pub fn split_schema(with_knowledge: bool) -> Schema {
    let ids = || DataType::List(Arc::new(Field::new("item", DataType::UInt32, true)));
    let mut fields = vec![
        Field::new("example_id", DataType::UInt32, false),
        Field::new("conv_id", DataType::Utf8, false),
        Field::new("turn", DataType::UInt32, false),
        Field::new("emotion", DataType::Utf8, false),
        Field::new("emotion_id", DataType::UInt8, false),
        Field::new("context_ids", DataType::List(Arc::new(Field::new("item", ids(), true))), false),
        Field::new("context_roles", DataType::List(Arc::new(Field::new("item", ids(), true))), false),
        Field::new("situation_ids", ids(), false),
        Field::new("target_ids", ids(), false),
        Field::new(
            "target_tokens",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
    ];
    if with_knowledge {
        for (_, short) in RELATIONS {
            fields.push(Field::new(format!("c_{short}"), DataType::List(Arc::new(Field::new("item", ids(), true))), false));
        }
        for (_, short) in RELATIONS {
            fields.push(Field::new(format!("s_{short}"), ids(), false));
        }
    }
    Schema::new(fields)
}

/// What [`split_table`] counted.
struct SplitCounts {
    /// Tokens outside the vocabulary, and all tokens (of the whole contexts).
    unknown: u64,
    total: u64,
    /// Examples whose context was cut to `max_context_turns`.
    truncated: u64,
}

/// Builds one split's id table, contexts cut to their last `max_context_turns` utterances.
fn split_table(
    t: &SplitSentences,
    ids: &[Vec<u32>],
    tokens: &[Vec<String>],
    knowledge: Option<&[Option<[Vec<u32>; 5]>]>,
    max_context_turns: Option<usize>,
) -> Result<(RecordBatch, SplitCounts), TokenizeError> {
    let n = t.batch.num_rows();
    let mut c_rel: Vec<_> = (0..5).map(|_| ListBuilder::new(ListBuilder::new(UInt32Builder::new()))).collect();
    let mut s_rel: Vec<_> = (0..5).map(|_| ListBuilder::new(UInt32Builder::new())).collect();
    let know = |sid: u32| knowledge.and_then(|k| k[sid as usize].as_ref());
    let mut ctx_ids = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    let mut ctx_roles = ListBuilder::new(ListBuilder::new(UInt32Builder::new()));
    let mut sit_ids = ListBuilder::with_capacity(UInt32Builder::new(), n);
    let mut tgt_ids = ListBuilder::with_capacity(UInt32Builder::new(), n);
    let mut tgt_tokens = ListBuilder::with_capacity(StringBuilder::new(), n);
    let (mut unknown, mut total, mut truncated) = (0u64, 0u64, 0u64);
    let mut count = |ids: &[u32]| {
        unknown += ids.iter().filter(|&&i| i == UNK).count() as u64;
        total += ids.len() as u64;
    };
    for row in 0..n {
        let context = &t.contexts[row];
        let keep_from = max_context_turns.map_or(0, |m| context.len().saturating_sub(m));
        truncated += u64::from(keep_from > 0);
        for (i, &sid) in context.iter().enumerate() {
            let utt = &ids[sid as usize];
            count(utt);
            if i < keep_from {
                continue;
            }
            // Utterances alternate speaker (even index) and listener (odd index).
            let role = if i % 2 == 0 { USR } else { SYS };
            let b = ctx_ids.values();
            b.values().append_value(CLS);
            b.values().append_slice(utt);
            b.append(true);
            let r = ctx_roles.values();
            r.values().append_value(CLS);
            r.values().append_value_n(role, utt.len());
            r.append(true);
            if let Some(k) = know(sid) {
                for (b, ids) in c_rel.iter_mut().zip(k) {
                    b.values().values().append_slice(ids);
                    b.values().append(true);
                }
            }
        }
        ctx_ids.append(true);
        ctx_roles.append(true);
        if let Some(k) = know(t.situations[row]) {
            for (b, ids) in s_rel.iter_mut().zip(k) {
                b.values().append_slice(ids);
                b.append(true);
            }
        }
        if knowledge.is_some() {
            c_rel.iter_mut().for_each(|b| b.append(true));
        }

        let situation = &ids[t.situations[row] as usize];
        count(situation);
        sit_ids.values().append_value(CLS);
        sit_ids.values().append_slice(situation);
        sit_ids.append(true);

        let target = t.targets[row] as usize;
        count(&ids[target]);
        tgt_ids.values().append_slice(&ids[target]);
        tgt_ids.values().append_value(EOS);
        tgt_ids.append(true);
        for tok in &tokens[target] {
            tgt_tokens.values().append_value(tok);
        }
        tgt_tokens.append(true);
    }
    let keep = |name: &str| t.batch.column_by_name(name).cloned().expect("checked in read_split");
    let mut columns: Vec<ArrayRef> = vec![
        keep("example_id"),
        keep("conv_id"),
        keep("turn"),
        keep("emotion"),
        keep("emotion_id"),
        Arc::new(ctx_ids.finish()),
        Arc::new(ctx_roles.finish()),
        Arc::new(sit_ids.finish()),
        Arc::new(tgt_ids.finish()),
        Arc::new(tgt_tokens.finish()),
    ];
    if knowledge.is_some() {
        columns.extend(c_rel.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend(s_rel.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    }
    let batch = RecordBatch::try_new(Arc::new(split_schema(knowledge.is_some())), columns)?;
    Ok((batch, SplitCounts { unknown, total, truncated }))
}

fn sentences_table(unique: &[&str], tokens: &[Vec<String>]) -> Result<RecordBatch, TokenizeError> {
    let mut toks = ListBuilder::new(StringBuilder::new());
    for t in tokens {
        for tok in t {
            toks.values().append_value(tok);
        }
        toks.append(true);
    }
    let schema = Schema::new(vec![
        Field::new("sentence_id", DataType::UInt32, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("tokens", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt32Array::from_iter_values(0..unique.len() as u32)),
            Arc::new(StringArray::from_iter_values(unique.iter())),
            Arc::new(toks.finish()),
        ],
    )?)
}
