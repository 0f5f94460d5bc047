//! Pre-trained word vectors in GloVe text format (`word v1 ... vd` per line) mapped onto
//! the vocabulary. Words without a vector keep a zero row and `covered = false`; the
//! train stage decides how to initialise them.

use std::path::Path;

use arrow_array::RecordBatch;
use iamm_tables::TableError;
use iamm_tables::embedding::Embedding;
use rustc_hash::FxHashMap;

use crate::Vocab;

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("cannot read word vectors {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: {problem}; expected GloVe text format: a word, then {dim} numbers, separated by spaces")]
    Format { path: String, line: usize, problem: String, dim: usize },
    #[error(
        "{path}:{line}: the vector of {word:?} has {value:?} as its number {index}, which is not a finite 32-bit \
         number (NaN, infinite, or beyond ±3.4e38); such a row would make the training loss NaN: fix or remove \
         the line, or use another vectors file"
    )]
    NonFinite { path: String, line: usize, word: String, value: String, index: usize },
    #[error("{path}: no vectors found (the file is empty); expected GloVe text format")]
    Empty { path: String },
    #[error(transparent)]
    Table(#[from] TableError),
}

/// A word that the file lists more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub word: String,
    /// Its first line and the line of this repetition (1-based).
    pub first_line: usize,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub dim: usize,
    /// Vocabulary entries that received a vector.
    pub covered: usize,
    pub vocab_size: usize,
    /// Word lines in the vectors file (a word2vec header line not counted).
    pub file_words: usize,
    /// The word2vec header (`<words> <dim>` on the first line) when the file had one; it is skipped.
    pub header: Option<(usize, usize)>,
    /// Repeated words (every repetition, in file order; the **last** line of a word is used, as
    /// the reference's `gen_embeddings` does).
    pub duplicates: Vec<Duplicate>,
}

impl Coverage {
    pub fn percent(&self) -> f64 {
        100.0 * self.covered as f64 / self.vocab_size.max(1) as f64
    }

    /// Repeated words that are in the vocabulary (where the repetition changes a row).
    pub fn duplicates_in_vocab(&self, vocab: &Vocab) -> usize {
        self.duplicates.iter().filter(|d| vocab.get(&d.word).is_some()).count()
    }
}

/// `N D`: two positive integers, the word2vec text header.
fn word2vec_header(line: &str) -> Option<(usize, usize)> {
    let mut parts = line.split_ascii_whitespace();
    let (n, d) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    (parts.next().is_none() && d > 0).then_some((n, d))
}

/// Reads the vectors at `path` for the words of `vocab`; `progress` counts bytes.
///
/// Lines are `word v1 … vd`, split on single spaces (GloVe's own format). A first line of
/// two integers (`<words> <dim>`, word2vec's text header) is skipped and its dimension must
/// match the vectors'. Every value of a vocabulary word must be a finite number. A word
/// listed twice is used from its last line (as the reference's `gen_embeddings`); the
/// repetitions are returned in [`Coverage::duplicates`].
pub fn embedding_table(
    path: &Path,
    vocab: &Vocab,
    progress: &indicatif::ProgressBar,
) -> Result<(RecordBatch, Coverage), VectorError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| VectorError::Read { path: shown.clone(), source })?;
    progress.set_length(bytes.len() as u64);
    let mut dim = 0;
    let mut rows: Vec<Option<Vec<f32>>> = vec![None; vocab.len()];
    let mut file_words = 0;
    let mut header = None;
    let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
    let mut duplicates = Vec::new();
    let mut first_content_line = true;
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        progress.inc(raw.len() as u64 + 1);
        let fail = |problem: String, dim| VectorError::Format { path: shown.clone(), line: line_no, problem, dim };
        let line = std::str::from_utf8(raw).map_err(|_| fail("not valid UTF-8".into(), dim))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if std::mem::take(&mut first_content_line)
            && let Some((n, d)) = word2vec_header(line)
        {
            header = Some((n, d));
            dim = d;
            continue;
        }
        let mut parts = line.split(' ');
        let word = parts.next().unwrap_or_default();
        file_words += 1;
        if dim == 0 {
            dim = line.split(' ').count() - 1;
            if dim == 0 {
                return Err(fail("a word without numbers".into(), 1));
            }
        }
        match seen.entry(word) {
            std::collections::hash_map::Entry::Occupied(first) => {
                duplicates.push(Duplicate { word: word.to_string(), first_line: *first.get(), line: line_no })
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(line_no);
            }
        }
        // Only words in the vocabulary are parsed; the rest are counted and skipped.
        let Some(id) = vocab.get(word) else { continue };
        let mut v = Vec::with_capacity(dim);
        for p in parts {
            let x: f32 = p.parse().map_err(|_| fail(format!("{p:?} is not a number"), dim))?;
            if !x.is_finite() {
                return Err(VectorError::NonFinite {
                    path: shown.clone(),
                    line: line_no,
                    word: word.to_string(),
                    value: p.to_string(),
                    index: v.len() + 1,
                });
            }
            v.push(x);
        }
        if v.len() != dim {
            let mut problem = format!("{} numbers after the word {word:?}", v.len());
            if let Some((_, d)) = header {
                problem.push_str(&format!(" (the word2vec header on the first line says {d})"));
            }
            return Err(fail(problem, dim));
        }
        rows[id as usize] = Some(v);
    }
    if file_words == 0 {
        return Err(VectorError::Empty { path: shown });
    }
    let mut values = Vec::with_capacity(vocab.len() * dim);
    for row in &rows {
        match row {
            Some(v) => values.extend_from_slice(v),
            None => values.resize(values.len() + dim, 0.0),
        }
    }
    let n_covered = rows.iter().filter(|r| r.is_some()).count();
    let batch = iamm_tables::embedding::write(&Embedding {
        dim,
        tokens: (0..vocab.len() as u32).map(|i| vocab.word(i).unwrap_or_default().to_string()).collect(),
        covered: rows.iter().map(Option::is_some).collect(),
        values,
    })?;
    let coverage = Coverage { dim, covered: n_covered, vocab_size: vocab.len(), file_words, header, duplicates };
    Ok((batch, coverage))
}
