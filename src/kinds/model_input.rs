//! What the stages that feed examples to the model share (train, evaluate, analysis): the
//! length check that names offending examples, and candle's errors as messages.

use anyhow::{Result, anyhow, bail};
use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;

/// A candle error for the user: its message without the backtrace candle attaches to it when
/// `RUST_BACKTRACE` is set (see `iamm_train::errors`).
pub fn candle_error(e: candle_core::Error) -> anyhow::Error {
    anyhow!(iamm_train::errors::message(&e))
}

/// Checks that `examples` (read from `table`, the tokenize stage's `name`) fit the model's
/// timing table of `limit` positions in every batch `batching` can form; the error names the
/// examples by `example_id`, `conv_id` and turn.
pub fn check_lengths(
    name: &str,
    table: &RecordBatch,
    examples: &[iamm_train::Example],
    limit: usize,
    batching: iamm_train::limits::Batching,
) -> Result<()> {
    let Err(e) = iamm_train::limits::check_positions(examples, limit, batching) else { return Ok(()) };
    let example_id = table.column_by_name("example_id").and_then(|c| c.as_primitive_opt::<UInt32Type>());
    let conv_id = table.column_by_name("conv_id").and_then(|c| c.as_string_opt::<i32>());
    let turn = table.column_by_name("turn").and_then(|c| c.as_primitive_opt::<UInt32Type>());
    let describe = |row: usize| match (example_id, conv_id) {
        (Some(id), Some(conv)) if row < table.num_rows() => format!(
            "example {} (conv_id `{}`{}, row {row})",
            id.value(row),
            conv.value(row),
            turn.map(|t| format!(", turn {}", t.value(row))).unwrap_or_default()
        ),
        _ => format!("row {row}"),
    };
    bail!("{name}: {}", e.describe(&describe))
}
