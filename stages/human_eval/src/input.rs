//! Reading the evaluate stage's `responses` table.

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, RecordBatch};

use crate::{Error, Result};

/// The columns of one `responses` row that the human evaluation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    pub example_id: u32,
    /// Utterances, each its tokens joined by one space.
    pub context: Vec<String>,
    /// "speaker" or "listener", one per utterance.
    pub roles: Vec<String>,
    /// The human response (tokens joined by spaces); empty when the table has none.
    pub reference: String,
    /// The system's response (tokens joined by spaces).
    pub generated: String,
}

/// Reads a `responses` table (see the evaluate stage's contract). `what` names the table in
/// errors, e.g. "responses of `evaluate`".
pub fn responses_from_batch(batch: &RecordBatch, what: &str) -> Result<Vec<ResponseRow>> {
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| {
            Error::Input(format!("{what}: no column `{name}` (found: {})", column_names(batch)))
        })
    };
    let wrong = |name: &str, expected: &str, col: &dyn Array| {
        Error::Input(format!("{what}: column `{name}` is {}, expected {expected}", col.data_type()))
    };
    let ids = col("example_id")?;
    let ids = ids.as_primitive_opt::<UInt32Type>().ok_or_else(|| wrong("example_id", "uint32", ids.as_ref()))?;
    let context = col("context")?;
    let context = context.as_list_opt::<i32>().ok_or_else(|| wrong("context", "list<utf8>", context.as_ref()))?;
    let roles = col("context_roles")?;
    let roles = roles.as_list_opt::<i32>().ok_or_else(|| wrong("context_roles", "list<utf8>", roles.as_ref()))?;
    let generated = col("generated")?;
    let generated = generated.as_string_opt::<i32>().ok_or_else(|| wrong("generated", "utf8", generated.as_ref()))?;
    let reference = match batch.column_by_name("reference") {
        Some(c) => Some(c.as_string_opt::<i32>().ok_or_else(|| wrong("reference", "utf8", c.as_ref()))?),
        None => None,
    };
    let strings = |list: &arrow_array::ListArray, name: &str, i: usize| -> Result<Vec<String>> {
        let values = list.value(i);
        let values = values.as_string_opt::<i32>().ok_or_else(|| wrong(name, "list<utf8>", list))?;
        Ok((0..values.len()).map(|j| values.value(j).to_string()).collect())
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if ids.is_null(i) {
            return Err(Error::Input(format!("{what}: row {i} has a null example_id")));
        }
        let example_id = ids.value(i);
        let context = strings(context, "context", i)?;
        let roles = strings(roles, "context_roles", i)?;
        if roles.len() != context.len() {
            return Err(Error::Input(format!(
                "{what}: example {example_id} has {} utterances but {} context_roles",
                context.len(),
                roles.len()
            )));
        }
        out.push(ResponseRow {
            example_id,
            context,
            roles,
            reference: reference.map(|r| r.value(i).to_string()).unwrap_or_default(),
            generated: generated.value(i).to_string(),
        });
    }
    Ok(out)
}

fn column_names(batch: &RecordBatch) -> String {
    batch.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

/// Space-joined tokens as readable text for annotators: punctuation and clitics attach to
/// the word before them and PTB quotes become plain ones. Both systems' responses (and the
/// context) go through the same function, so the comparison stays fair.
pub fn readable(tokens: &str) -> String {
    const ATTACH_LEFT: &[&str] =
        &[".", ",", "!", "?", ";", ":", "...", "%", ")", "'s", "n't", "'m", "'re", "'ve", "'ll", "'d"];
    let mut out = String::with_capacity(tokens.len());
    let mut glue_next = false;
    for tok in tokens.split_whitespace() {
        let tok = match tok {
            "``" | "''" => "\"",
            "-lrb-" => "(",
            "-rrb-" => ")",
            t => t,
        };
        let attach = ATTACH_LEFT.contains(&tok) || (tok.starts_with('\'') && tok.len() <= 3 && tok.len() > 1);
        if !out.is_empty() && !attach && !glue_next {
            out.push(' ');
        }
        out.push_str(tok);
        glue_next = matches!(tok, "(" | "$");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_attaches_punctuation() {
        assert_eq!(readable("i 'm so happy for you ! did you win ?"), "i'm so happy for you! did you win?");
        assert_eq!(readable("that is n't fair , is it ?"), "that isn't fair, is it?");
        assert_eq!(readable("he said `` hi '' ( twice )"), "he said \" hi \" (twice)");
        assert_eq!(readable(""), "");
    }
}
