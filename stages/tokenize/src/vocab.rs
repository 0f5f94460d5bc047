//! The vocabulary: special tokens at their fixed ids, then words in first-seen order.

use arrow_array::RecordBatch;
use iamm_core::special;
use iamm_tables::TableError;
use iamm_tables::vocab::Word;
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

    /// The `vocab` table (see [`iamm_tables::vocab`]).
    pub fn to_table(&self) -> Result<RecordBatch, TableError> {
        let rows: Vec<Word> = (0..self.words.len())
            .map(|i| Word { id: i as u32, token: self.words[i].clone(), count: self.counts[i] })
            .collect();
        iamm_tables::vocab::write(&rows)
    }
}
