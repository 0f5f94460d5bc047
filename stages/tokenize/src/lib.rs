//! The tokenize stage: reference preprocessing of every sentence, the vocabulary in the
//! reference's id order, token-id tables with the speaker-role masks the model reads, and
//! optional pre-trained word vectors.

mod knowledge;
mod vectors;
mod vocab;

use std::path::PathBuf;

use arrow_array::RecordBatch;
use iamm_core::SPLITS;
use iamm_options::ParamType;
use iamm_core::special::{CLS, EOS, SYS, UNK, USR};
use iamm_tables::TableError;
use iamm_tables::sentences::Sentence;
use iamm_tables::text_examples::TextExample;
use iamm_tables::token_examples::{Comet, Example, NUM_RELATIONS, TokenExample};
use iamm_text::Tokenizer;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

pub use knowledge::Knowledge;
pub use vectors::{Coverage, Duplicate, VectorError, embedding_table};
pub use vocab::Vocab;

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("`vocab_splits` names `{0}`, which is not among the ingested splits")]
    UnknownSplit(String),
    #[error("`max_context_turns` is 0; a context needs at least one utterance (null keeps them all)")]
    ZeroContextTurns,
    #[error("knowledge: {0}")]
    Knowledge(String),
}

/// Per distinct sentence, its COMET id sequences (one per relation) where it needs them.
type KnowledgeIds = Vec<Option<[Vec<u32>; NUM_RELATIONS]>>;

/// One ingested split: its name and its `examples` table (see [`iamm_tables::text_examples`]).
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

/// One split's examples with every sentence replaced by its id among the distinct sentences.
struct SplitSentences<'a> {
    name: &'a str,
    rows: &'a [TextExample],
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
    let rows = splits
        .iter()
        .map(|s| iamm_tables::text_examples::read(s.examples, &format!("examples_{}", s.split)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut interner = Interner::default();
    let texts: Vec<SplitSentences> = splits.iter().zip(&rows).map(|(s, rows)| read_split(s.split, rows, &mut interner)).collect();
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
            let mut per_relation: [Vec<u32>; NUM_RELATIONS] = Default::default();
            for (r, ids) in per_relation.iter_mut().enumerate() {
                *ids = knowledge.ids(&sentence, r, vocab)?;
            }
            Ok(Some(per_relation))
        })
        .collect()
}

/// Interns a split's sentences: its contexts, then its targets, then its situations (the
/// order in which the reference meets them, which numbers the sentences).
fn read_split<'a>(name: &'a str, rows: &'a [TextExample], interner: &mut Interner<'a>) -> SplitSentences<'a> {
    let contexts = rows.iter().map(|r| r.context.iter().map(|u| interner.id(u)).collect()).collect();
    let targets = rows.iter().map(|r| interner.id(&r.target)).collect();
    let situations = rows.iter().map(|r| interner.id(&r.situation)).collect();
    SplitSentences { name, rows, contexts, targets, situations }
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
    knowledge: Option<&[Option<[Vec<u32>; NUM_RELATIONS]>]>,
    max_context_turns: Option<usize>,
) -> Result<(RecordBatch, SplitCounts), TokenizeError> {
    let know = |sid: u32| knowledge.and_then(|k| k[sid as usize].as_ref());
    let (mut unknown, mut total, mut truncated) = (0u64, 0u64, 0u64);
    let mut count = |ids: &[u32]| {
        unknown += ids.iter().filter(|&&i| i == UNK).count() as u64;
        total += ids.len() as u64;
    };
    let mut rows = Vec::with_capacity(t.rows.len());
    for (row, text) in t.rows.iter().enumerate() {
        let context = &t.contexts[row];
        let keep_from = max_context_turns.map_or(0, |m| context.len().saturating_sub(m));
        truncated += u64::from(keep_from > 0);
        let mut example = Example { emotion: text.emotion_id, ..Example::default() };
        let mut comet = Comet::default();
        for (i, &sid) in context.iter().enumerate() {
            let utt = &ids[sid as usize];
            count(utt);
            if i < keep_from {
                continue;
            }
            // Utterances alternate speaker (even index) and listener (odd index).
            let role = if i % 2 == 0 { USR } else { SYS };
            example.context.push([CLS].into_iter().chain(utt.iter().copied()).collect());
            example.roles.push([CLS].into_iter().chain(std::iter::repeat_n(role, utt.len())).collect());
            if let Some(k) = know(sid) {
                comet.context.iter_mut().zip(k).for_each(|(c, ids)| c.push(ids.clone()));
            }
        }
        if let Some(k) = know(t.situations[row]) {
            comet.situation = k.clone();
        }
        example.comet = knowledge.is_some().then_some(comet);

        let situation = &ids[t.situations[row] as usize];
        count(situation);
        example.situation = [CLS].into_iter().chain(situation.iter().copied()).collect();

        let target = t.targets[row] as usize;
        count(&ids[target]);
        example.target = ids[target].iter().copied().chain([EOS]).collect();
        rows.push(TokenExample {
            example_id: text.example_id,
            conv_id: text.conv_id.clone(),
            turn: text.turn,
            emotion: text.emotion.clone(),
            example,
            target_tokens: tokens[target].clone(),
        });
    }
    let batch = iamm_tables::token_examples::write(&rows, knowledge.is_some())?;
    Ok((batch, SplitCounts { unknown, total, truncated }))
}

fn sentences_table(unique: &[&str], tokens: &[Vec<String>]) -> Result<RecordBatch, TokenizeError> {
    let rows: Vec<Sentence> = unique
        .iter()
        .zip(tokens)
        .enumerate()
        .map(|(i, (text, tokens))| Sentence { sentence_id: i as u32, text: text.to_string(), tokens: tokens.clone() })
        .collect();
    Ok(iamm_tables::sentences::write(&rows)?)
}
