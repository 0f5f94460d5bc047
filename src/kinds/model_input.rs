//! What the stages that feed examples to the model share (train, evaluate, analysis): the
//! length check that names offending examples, and candle's errors as messages.

use anyhow::{Result, anyhow, bail};
use iamm_tables::token_examples::TokenExample;

/// A candle error for the user: its message without the backtrace candle attaches to it when
/// `RUST_BACKTRACE` is set (see `iamm_train::errors`).
pub fn candle_error(e: candle_core::Error) -> anyhow::Error {
    anyhow!(iamm_train::errors::message(&e))
}

/// Checks that the examples of `rows` (the tokenize stage's table `name`) fit the model's
/// timing table of `limit` positions in every batch `batching` can form; the error names the
/// examples by `example_id`, `conv_id` and turn.
pub fn check_lengths(name: &str, rows: &[TokenExample], limit: usize, batching: iamm_train::limits::Batching) -> Result<()> {
    let examples: Vec<&iamm_train::Example> = rows.iter().map(|r| &r.example).collect();
    let Err(e) = iamm_train::limits::check_positions(&examples, limit, batching) else { return Ok(()) };
    let describe = |row: usize| match rows.get(row) {
        Some(r) => format!("example {} (conv_id `{}`, turn {}, row {row})", r.example_id, r.conv_id, r.turn),
        None => format!("row {row}"),
    };
    bail!("{name}: {}", e.describe(&describe))
}
