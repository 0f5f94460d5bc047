//! Pre-trained word vectors in GloVe text format (`word v1 ... vd` per line) mapped onto
//! the vocabulary. Words without a vector keep a zero row and `covered = false`; the
//! train stage decides how to initialise them.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, FixedSizeListBuilder, Float32Builder};
use arrow_array::{RecordBatch, StringArray, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};

use crate::Vocab;

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error("cannot read word vectors {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}: {problem}; expected GloVe text format: a word, then {dim} numbers, separated by spaces")]
    Format { path: String, line: usize, problem: String, dim: usize },
    #[error("{path}: no vectors found (the file is empty); expected GloVe text format")]
    Empty { path: String },
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub dim: usize,
    /// Vocabulary entries that received a vector.
    pub covered: usize,
    pub vocab_size: usize,
    /// Lines in the vectors file.
    pub file_words: usize,
}

impl Coverage {
    pub fn percent(&self) -> f64 {
        100.0 * self.covered as f64 / self.vocab_size.max(1) as f64
    }
}

/// Reads the vectors at `path` for the words of `vocab`; `progress` counts bytes.
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
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        progress.inc(raw.len() as u64 + 1);
        let fail = |problem: String, dim| VectorError::Format { path: shown.clone(), line: line_no, problem, dim };
        let line = std::str::from_utf8(raw).map_err(|_| fail("not valid UTF-8".into(), dim))?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
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
        // Only words in the vocabulary are parsed; the rest are counted and skipped.
        let Some(id) = vocab.get(word) else { continue };
        let mut v = Vec::with_capacity(dim);
        for p in parts {
            let x: f32 = p.parse().map_err(|_| fail(format!("{p:?} is not a number"), dim))?;
            v.push(x);
        }
        if v.len() != dim {
            return Err(fail(format!("{} numbers after the word {word:?}", v.len()), dim));
        }
        rows[id as usize] = Some(v);
    }
    if file_words == 0 {
        return Err(VectorError::Empty { path: shown });
    }
    let mut vectors = FixedSizeListBuilder::new(Float32Builder::with_capacity(vocab.len() * dim), dim as i32);
    let mut covered = BooleanBuilder::with_capacity(vocab.len());
    let mut n_covered = 0;
    for row in &rows {
        match row {
            Some(v) => {
                vectors.values().append_slice(v);
                n_covered += 1;
            }
            None => vectors.values().append_value_n(0.0, dim),
        }
        vectors.append(true);
        covered.append_value(row.is_some());
    }
    let schema = Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("token", DataType::Utf8, false),
        Field::new("covered", DataType::Boolean, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), dim as i32),
            false,
        ),
    ]);
    let tokens = (0..vocab.len() as u32).map(|i| vocab.word(i).unwrap_or_default());
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt32Array::from_iter_values(0..vocab.len() as u32)),
            Arc::new(StringArray::from_iter_values(tokens)),
            Arc::new(covered.finish()),
            Arc::new(vectors.finish()),
        ],
    )?;
    let coverage = Coverage { dim, covered: n_covered, vocab_size: vocab.len(), file_words };
    Ok((batch, coverage))
}
