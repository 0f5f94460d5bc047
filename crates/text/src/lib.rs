//! Text preprocessing of the IAMM reference: `process_sent` (Python
//! `str.lower()`, the reference's contraction list, then NLTK 3.5's
//! `word_tokenize`), reimplemented to give identical tokens.
//!
//! `word_tokenize` is Punkt sentence splitting followed by the improved
//! Treebank word tokenizer on each sentence. Punkt needs learned parameters,
//! read from a `punkt_tab` directory ([`PunktParams::load_dir`]); without them
//! a rule-based fallback ([`PunktParams::fallback`]) runs the same algorithm
//! with a built-in abbreviation list only.

mod contractions;
mod params;
mod punkt;
mod pychar;
mod treebank;

use std::path::PathBuf;

pub use contractions::WORD_PAIRS;
pub use params::{FALLBACK_ABBREVIATIONS, PunktParams};

use params::Source;
use punkt::Punkt;

/// Errors reading Punkt parameter files.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// A parameter file is missing or unreadable.
    #[error("cannot read Punkt parameter file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a parameter file does not fit the `punkt_tab` format.
    #[error("malformed Punkt parameter file {}, line {line}: {message}", path.display())]
    Format {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The reference tokenizer. Immutable once built, so it can be shared across
/// threads by reference.
pub struct Tokenizer {
    punkt: Punkt,
    description: String,
}

impl Tokenizer {
    pub fn new(params: PunktParams) -> Tokenizer {
        let description = match &params.source {
            Source::Dir(dir) => format!("punkt (params: {})", dir.display()),
            Source::Fallback => "rule-based fallback (no Punkt parameters given)".to_owned(),
        };
        Tokenizer {
            punkt: Punkt::new(params),
            description,
        }
    }

    /// Which sentence splitter runs: `punkt (params: DIR)` or
    /// `rule-based fallback (no Punkt parameters given)`.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The parameters this tokenizer was built with.
    pub fn params(&self) -> &PunktParams {
        self.punkt.params()
    }

    /// The reference `process_sent`: lowercase, expand the contraction list,
    /// then `word_tokenize`.
    pub fn process_sent(&self, raw: &str) -> Vec<String> {
        let lowered = pychar::lower(raw);
        self.word_tokenize(&contractions::expand(&lowered))
    }

    /// `nltk.word_tokenize(text)` of NLTK 3.5 (no lowercasing or contraction
    /// expansion).
    pub fn word_tokenize(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        for (start, end) in self.punkt.sentence_spans(text) {
            treebank::tokenize(&text[start..end], &mut tokens);
        }
        tokens
    }

    /// Punkt sentence splitting alone (`sent_tokenize`), as slices of `text`.
    pub fn sentences<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.punkt
            .sentence_spans(text)
            .into_iter()
            .map(|(start, end)| &text[start..end])
            .collect()
    }
}
