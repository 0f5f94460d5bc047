//! Human evaluation as in the paper's Table 2: blinded A/B sheets for annotators (CSV and
//! XLSX), and scoring of the filled sheets into Win/Lose/Tie percentages of the proposed
//! system, Fleiss' kappa across annotators and an exact sign test, per aspect.
//!
//! The flow: [`export`] takes two systems' `responses` rows (`iamm_tables::responses`), draws a
//! seeded sample and builds the blinded items and per-annotator orders, [`write_export`] writes
//! the sheets and the key; later [`read_sheets_dir`] validates the filled sheets against the
//! [`Key`] and [`score`] unblinds and aggregates them into [`Scores`], which render Table 2
//! beside the paper's numbers.

mod export;
mod key;
mod layout;
mod paper;
mod params;
mod readable;
mod rng;
mod score;
mod sheets;
mod simulate;
pub mod stats;

pub use export::{CHECK_DESIGN, Export, ExportOptions, Item, SHEET_COLUMNS, Sheet, export, write_export};
pub use readable::readable;
pub use key::{Key, KeyRow};
pub use paper::{PAPER_TABLE2, PaperRow};
pub use params::{ExportParams, ScoreParams};
pub use score::{AspectResult, AttentionResult, Judgement, SIMULATED, Scores, score};
pub use sheets::{FilledRow, FilledSheet, check_annotators, fill_sheet, read_sheet, read_sheets_dir};
pub use simulate::simulated_answers;

/// What an annotator answers for one aspect of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    A,
    B,
    Tie,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::A => "A",
            Answer::B => "B",
            Answer::Tie => "Tie",
        }
    }

    /// Accepts `A`, `B`, `Tie` in any case, with surrounding spaces.
    pub fn parse(text: &str) -> Option<Answer> {
        match text.trim().to_ascii_lowercase().as_str() {
            "a" => Some(Answer::A),
            "b" => Some(Answer::B),
            "tie" => Some(Answer::Tie),
            _ => None,
        }
    }
}

/// An answer after unblinding, from the proposed system's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Win,
    Lose,
    Tie,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Win => "win",
            Outcome::Lose => "lose",
            Outcome::Tie => "tie",
        }
    }
    pub(crate) fn index(self) -> usize {
        match self {
            Outcome::Win => 0,
            Outcome::Lose => 1,
            Outcome::Tie => 2,
        }
    }
}

/// The three aspects the paper asks about, in sheet column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aspect {
    Empathy,
    Relevance,
    Fluency,
}

impl Aspect {
    pub const ALL: [Aspect; 3] = [Aspect::Empathy, Aspect::Relevance, Aspect::Fluency];
    /// The sheet column header.
    pub fn column(self) -> &'static str {
        match self {
            Aspect::Empathy => "empathy",
            Aspect::Relevance => "relevance",
            Aspect::Fluency => "fluency",
        }
    }
    /// The paper's abbreviation in Table 2.
    pub fn short(self) -> &'static str {
        match self {
            Aspect::Empathy => "Emp.",
            Aspect::Relevance => "Rel.",
            Aspect::Fluency => "Flu.",
        }
    }
    /// The paper's definition (Section 3.8), shown to annotators.
    pub fn definition(self) -> &'static str {
        match self {
            Aspect::Empathy => "whether the emotion in the response is appropriate",
            Aspect::Relevance => "whether the response is relevant to the dialogue topic and content",
            Aspect::Fluency => "whether the language of the response is natural and fluent",
        }
    }
}

iamm_options::choices! {
    /// What to do with a sampled item whose two responses are the same text.
    pub enum Identical ("identical") {
        /// Keep it out of the sheets and count it as a tie from every annotator.
        Tie = "tie",
        /// Leave such items out of the sample altogether.
        Drop = "drop",
    }
}

iamm_options::choices! {
    /// How the judgements of several annotators make one Win/Lose/Tie percentage.
    pub enum Aggregate ("aggregate") {
        /// Every judgement counts ("the crowdworkers add one point to Win", Section 3.8).
        Pooled = "pooled",
        /// One outcome per item: the label more than half the annotators gave, else Tie.
        Majority = "majority",
    }
}

/// Which kind of item a sheet row (or key row) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A real comparison of the two systems.
    Pair,
    /// Identical responses, not shown, counted as a tie (`identical: tie`).
    AutoTie,
    /// A check with a known answer (see [`CHECK_DESIGN`]).
    AttentionCheck,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Pair => "pair",
            ItemKind::AutoTie => "auto_tie",
            ItemKind::AttentionCheck => "attention_check",
        }
    }
    pub fn parse(text: &str) -> Option<ItemKind> {
        match text {
            "pair" => Some(ItemKind::Pair),
            "auto_tie" => Some(ItemKind::AutoTie),
            "attention_check" => Some(ItemKind::AttentionCheck),
            _ => None,
        }
    }
}

/// One problem in a filled sheet: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: String,
    /// The row as a spreadsheet shows it (the header is row 1).
    pub row: Option<usize>,
    /// The column as a spreadsheet shows it, with its header: `E (empathy)`.
    pub column: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Input(String),
    #[error("{} problem(s) in the filled sheets in {where_}; fix them and score again:\n  {}{}",
            .problems.len(),
            .problems.iter().take(MAX_SHOWN).map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "),
            if .problems.len() > MAX_SHOWN { format!("\n  ... and {} more", .problems.len() - MAX_SHOWN) } else { String::new() })]
    Sheets { where_: String, problems: Vec<Problem> },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("writing {path}: {message}")]
    Write { path: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Problems listed in an error message (all of them stay in [`Error::Sheets`]).
const MAX_SHOWN: usize = 40;

/// `E (empathy)`: a 0-based column index as a spreadsheet letter, with its header.
pub(crate) fn column_label(index: usize, header: &str) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    let letters = String::from_utf8(letters).unwrap_or_default();
    if header.is_empty() { letters } else { format!("{letters} ({header})") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_accept_case_and_spaces() {
        assert_eq!(Answer::parse(" a "), Some(Answer::A));
        assert_eq!(Answer::parse("B"), Some(Answer::B));
        assert_eq!(Answer::parse("TIE"), Some(Answer::Tie));
        assert_eq!(Answer::parse("tie"), Some(Answer::Tie));
        assert_eq!(Answer::parse(""), None);
        assert_eq!(Answer::parse("C"), None);
        assert_eq!(Answer::parse("AB"), None);
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_label(0, "item_id"), "A (item_id)");
        assert_eq!(column_label(4, "empathy"), "E (empathy)");
        assert_eq!(column_label(25, ""), "Z");
        assert_eq!(column_label(26, ""), "AA");
        assert_eq!(column_label(27, ""), "AB");
    }
}
