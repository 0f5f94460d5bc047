//! The vocabulary: special tokens at their fixed ids, then words in first-seen order.

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use iamm_core::special;
use rustc_hash::FxHashMap;

pub struct Vocab {
    words: Vec<String>,
    counts: Vec<u64>,
    index: FxHashMap<String, u32>,
}

impl Default for Vocab {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocab {
    pub fn new() -> Vocab {
        let words: Vec<String> = special::TOKENS.iter().map(|s| s.to_string()).collect();
        let index = words.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Vocab { counts: vec![0; words.len()], words, index }
    }

    /// Adds the words of a sentence that occurs `uses` times.
    pub fn add_all(&mut self, tokens: &[String], uses: u64) {
        for t in tokens {
            match self.index.get(t) {
                Some(&id) => self.counts[id as usize] += uses,
                None => {
                    self.index.insert(t.clone(), self.words.len() as u32);
                    self.words.push(t.clone());
                    self.counts.push(uses);
                }
            }
        }
    }

    pub fn id_or_unk(&self, token: &str) -> u32 {
        self.index.get(token).copied().unwrap_or(special::UNK)
    }

    pub fn get(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }

    pub fn to_table(&self) -> Result<RecordBatch, ArrowError> {
        let schema = Schema::new(vec![
            Field::new("id", DataType::UInt32, false),
            Field::new("token", DataType::Utf8, false),
            Field::new("count", DataType::UInt64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt32Array::from_iter_values(0..self.words.len() as u32)),
                Arc::new(StringArray::from_iter_values(self.words.iter())),
                Arc::new(UInt64Array::from(self.counts.clone())),
            ],
        )
    }
}
