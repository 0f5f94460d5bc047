//! The tables that pass between stages, declared once. Each module is one table (or one
//! family, `{split}` standing for train, valid and test): its row type, its columns
//! (`schema`), one writer (`write`: rows to an Arrow batch, as the engine publishes it as
//! Parquet) and one reader (`read`: a batch to rows, checked against the declaration).
//!
//! | table | written by | read by | module |
//! |---|---|---|---|
//! | `dialogues_{split}` | ingest | | [`dialogues`] |
//! | `examples_{split}` (text) | ingest | comet, tokenize | [`text_examples`] |
//! | `knowledge` | comet | tokenize | [`knowledge`] |
//! | `vocab` | tokenize | train, evaluate, analysis | [`vocab`] |
//! | `examples_{split}` (token ids) | tokenize | train, evaluate, analysis | [`token_examples`] |
//! | `sentences` | tokenize | | [`sentences`] |
//! | `embedding` | tokenize | train | [`embedding`] |
//! | `responses` | evaluate | viewer, human_eval, report | [`responses`] |
//! | `metrics` | evaluate | report, `iamm-pipe runs` | [`metrics`] |
//! | `confusion` | evaluate | | [`confusion`] |
//! | `associations` | analysis | viewer | [`associations`] |
//! | `word_stats`, `curves` | analysis | | [`word_stats`], [`curves`] |
//! | `human_eval_key` | human_eval | human_eval_score | [`human_eval_key`] |
//!
//! A reader takes the name the caller gives the table in errors ("responses of `evaluate`")
//! and returns a [`TableError`] that names the table, the column, the type it expected and,
//! where one is at fault, the row. It casts what arrow converts (a wider integer, another
//! string layout) and refuses nulls where the declaration has none. A writer writes exactly
//! the schema the table has always had, so that published files do not change.

mod columns;
mod error;

pub mod associations;
pub mod confusion;
pub mod curves;
pub mod dialogues;
pub mod embedding;
pub mod human_eval_key;
pub mod knowledge;
pub mod metrics;
pub mod responses;
pub mod sentences;
pub mod text_examples;
pub mod token_examples;
pub mod vocab;
pub mod word_stats;

pub use error::TableError;
