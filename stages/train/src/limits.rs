//! The model's length limit, checked on the data before a long run starts.
//!
//! Every encoder and decoder adds the sinusoidal timing table to its input, and the table has
//! [`IammConfig::max_positions`](crate::IammConfig::max_positions) rows (3000, the reference's
//! `max_length`): a longer sequence cannot be encoded (`layers.rs`, `positions`). The longest
//! sequence is the context: the collate pads a batch to `[B, N, L]` (N = most utterances, L =
//! longest utterance, `[CLS]` included) and the context encoder reads each row as one sequence
//! of `N × L` positions. The situation, the target (the decoder) and every COMET sequence are
//! encoded on their own.
//!
//! [`check_positions`] finds an example that cannot fit in any batch, or two examples that
//! cannot share one (a long conversation with the longest utterance of another), before
//! training, evaluation or analysis starts, instead of failing inside an update.

use std::borrow::Borrow;
use std::fmt;

use crate::batch::{Example, NUM_RELATIONS};

/// How the examples are cut into batches, which decides which of them can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Shuffled batches (training, validation): any two examples can share a batch.
    Shuffled,
    /// Consecutive batches of this size in the given order (the test runs).
    Consecutive(usize),
}

/// The sequence of one example that is too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The context, `utterances × longest` positions (`longest` counts `[CLS]`).
    Context { utterances: usize, longest: usize },
    Situation,
    Target,
    /// A COMET sequence: relation index (`iamm_core::RELATIONS` order) and the context
    /// utterance it belongs to (`None`: the situation's).
    Comet { relation: usize, utterance: Option<usize> },
}

/// Why the data does not fit the model; example numbers are indexes into the checked slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LengthError {
    /// An example is too long on its own: the one with the longest such sequence (the first
    /// of them on a tie), and how many others are too long as well.
    Example { example: usize, part: Part, positions: usize, limit: usize, others: usize },
    /// Two examples that can share a batch: `wide` has the most utterances, `long` the longest
    /// utterance, and the batch's context would need `utterances × longest` positions.
    Batch { wide: usize, utterances: usize, long: usize, longest: usize, positions: usize, limit: usize },
}

impl LengthError {
    /// The examples the error is about.
    pub fn examples(&self) -> Vec<usize> {
        match self {
            LengthError::Example { example, .. } => vec![*example],
            LengthError::Batch { wide, long, .. } => vec![*wide, *long],
        }
    }

    /// The message, naming each example with `name(index)` (for instance its `example_id`
    /// and `conv_id`). It ends with what to do.
    pub fn describe(&self, name: &dyn Fn(usize) -> String) -> String {
        match self {
            LengthError::Example { example, part, positions, limit, others } => {
                let what = match part {
                    Part::Context { utterances, longest } => format!(
                        "its context of {utterances} utterances (the longest {longest} positions with [CLS]) is \
                         encoded as one sequence of {utterances} × {longest} = {positions} positions"
                    ),
                    Part::Situation => format!("its situation is {positions} positions long"),
                    Part::Target => format!("its target (response) is {positions} tokens long"),
                    Part::Comet { relation, utterance } => {
                        let rel = iamm_core::RELATIONS.get(*relation).map_or("?", |r| r.0);
                        match utterance {
                            Some(u) => format!("its COMET {rel} sequence of context utterance {u} is {positions} positions long"),
                            None => format!("its COMET {rel} sequence of the situation is {positions} positions long"),
                        }
                    }
                };
                let fix = match part {
                    Part::Context { longest, .. } => format!(
                        "set tokenize's `max_context_turns` to keep only the last utterances of each context \
                         ({} or fewer fit here), or remove the conversation from the data",
                        (limit / longest.max(&1)).max(1)
                    ),
                    _ => "shorten or remove it in the data (tokenize's `max_context_turns` only shortens contexts)"
                        .to_string(),
                };
                let others = match others {
                    0 => String::new(),
                    1 => " (1 more example is too long as well)".to_string(),
                    n => format!(" ({n} more examples are too long as well)"),
                };
                format!(
                    "{} is too long for the model: {what}, and the model's timing table (positional encoding) has \
                     {limit} positions (IammConfig::max_positions){others}; {fix}",
                    name(*example)
                )
            }
            LengthError::Batch { wide, utterances, long, longest, positions, limit } => format!(
                "{} ({utterances} context utterances) and {} (an utterance of {longest} positions with [CLS]) can \
                 be in one batch, whose contexts are padded to {utterances} × {longest} = {positions} positions, \
                 more than the model's timing table (positional encoding) has ({limit}, IammConfig::max_positions); \
                 set tokenize's `max_context_turns` to keep only the last utterances of each context ({} or fewer \
                 fit), or remove the conversation from the data",
                name(*wide),
                name(*long),
                (limit / longest.max(&1)).max(1)
            ),
        }
    }
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(&|i| format!("example {i}")))
    }
}

impl std::error::Error for LengthError {}

fn longest(context: &[Vec<u32>]) -> usize {
    context.iter().map(Vec::len).max().unwrap_or(0)
}

/// The longest sequence of example `i` that is longer than `limit` on its own (the context
/// first, then the situation, the target, COMET).
fn check_example(i: usize, e: &Example, limit: usize) -> Result<(), LengthError> {
    let too_long = |part: Part, positions: usize| LengthError::Example { example: i, part, positions, limit, others: 0 };
    let (n, l) = (e.context.len(), longest(&e.context));
    if n.saturating_mul(l) > limit {
        return Err(too_long(Part::Context { utterances: n, longest: l }, n.saturating_mul(l)));
    }
    if e.situation.len() > limit {
        return Err(too_long(Part::Situation, e.situation.len()));
    }
    if e.target.len() > limit {
        return Err(too_long(Part::Target, e.target.len()));
    }
    if let Some(c) = &e.comet {
        for r in 0..NUM_RELATIONS {
            if let Some((u, s)) = c.context[r].iter().enumerate().find(|(_, s)| s.len() > limit) {
                return Err(too_long(Part::Comet { relation: r, utterance: Some(u) }, s.len()));
            }
            if c.situation[r].len() > limit {
                return Err(too_long(Part::Comet { relation: r, utterance: None }, c.situation[r].len()));
            }
        }
    }
    Ok(())
}

/// Batch-level check of the padded context: the example with the most utterances and the one
/// with the longest utterance among `indexes`.
fn check_group<E: Borrow<Example>>(indexes: impl Iterator<Item = usize> + Clone, examples: &[E], limit: usize) -> Result<(), LengthError> {
    let context = |i: usize| &examples[i].borrow().context;
    let wide = indexes.clone().max_by_key(|&i| (context(i).len(), std::cmp::Reverse(i)));
    let long = indexes.max_by_key(|&i| (longest(context(i)), std::cmp::Reverse(i)));
    if let (Some(wide), Some(long)) = (wide, long) {
        let (utterances, longest) = (context(wide).len(), longest(context(long)));
        let positions = utterances.saturating_mul(longest);
        if positions > limit {
            return Err(LengthError::Batch { wide, utterances, long, longest, positions, limit });
        }
    }
    Ok(())
}

/// Checks that every batch `batching` can form from `examples` (owned or borrowed) fits a
/// model whose timing table has `limit` positions. Examples too long on their own are
/// reported first.
pub fn check_positions<E: Borrow<Example>>(examples: &[E], limit: usize, batching: Batching) -> Result<(), LengthError> {
    let mut worst: Option<LengthError> = None;
    let mut too_long = 0;
    for (i, e) in examples.iter().enumerate() {
        if let Err(err) = check_example(i, e.borrow(), limit) {
            too_long += 1;
            let positions = |e: &LengthError| match e {
                LengthError::Example { positions, .. } => *positions,
                LengthError::Batch { positions, .. } => *positions,
            };
            if worst.as_ref().is_none_or(|w| positions(&err) > positions(w)) {
                worst = Some(err);
            }
        }
    }
    if let Some(LengthError::Example { example, part, positions, limit, .. }) = worst {
        return Err(LengthError::Example { example, part, positions, limit, others: too_long - 1 });
    }
    match batching {
        Batching::Shuffled => check_group(0..examples.len(), examples, limit),
        Batching::Consecutive(size) => {
            let size = size.max(1);
            for start in (0..examples.len()).step_by(size) {
                check_group(start..(start + size).min(examples.len()), examples, limit)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(utterances: usize, len: usize) -> Example {
        Example {
            context: vec![vec![6; len]; utterances],
            roles: vec![vec![6; len]; utterances],
            situation: vec![6, 7],
            target: vec![7, 2],
            emotion: 0,
            comet: None,
        }
    }

    #[test]
    fn one_long_context_is_named_with_its_size() {
        let exs = vec![example(3, 10), example(150, 21), example(200, 21), example(2, 5), example(200, 21)];
        let err = check_positions(&exs, 3000, Batching::Shuffled).unwrap_err();
        assert_eq!(
            err,
            LengthError::Example {
                example: 2,
                part: Part::Context { utterances: 200, longest: 21 },
                positions: 4200,
                limit: 3000,
                others: 2,
            }
        );
        let msg = err.describe(&|i| format!("example #{i}"));
        assert!(msg.starts_with("example #2 is too long"), "{msg}");
        assert!(msg.contains("(2 more examples are too long as well)"), "{msg}");
        assert!(msg.contains("200 × 21 = 4200 positions") && msg.contains("has 3000 positions"), "{msg}");
        assert!(msg.contains("`max_context_turns`") && msg.contains("(142 or fewer fit here)"), "{msg}");
    }

    #[test]
    fn two_examples_that_fit_alone_can_overflow_a_shuffled_batch() {
        // 100 × 20 and 2 × 40 fit alone; together the batch is 100 × 40 = 4000.
        let exs = vec![example(100, 20), example(2, 40)];
        let err = check_positions(&exs, 3000, Batching::Shuffled).unwrap_err();
        assert_eq!(err, LengthError::Batch { wide: 0, utterances: 100, long: 1, longest: 40, positions: 4000, limit: 3000 });
        // In consecutive batches of one they never meet.
        assert_eq!(check_positions(&exs, 3000, Batching::Consecutive(1)), Ok(()));
        assert!(check_positions(&exs, 3000, Batching::Consecutive(2)).is_err());
    }

    #[test]
    fn targets_and_comet_are_checked_too() {
        let mut e = example(1, 3);
        e.target = vec![7; 12];
        let err = check_positions(&[e], 10, Batching::Shuffled).unwrap_err();
        assert!(matches!(err, LengthError::Example { part: Part::Target, positions: 12, .. }), "{err:?}");
        let mut e = example(2, 3);
        let mut c = crate::batch::Comet::default();
        for r in 0..NUM_RELATIONS {
            c.context[r] = vec![vec![6; 2], vec![6; 2]];
            c.situation[r] = vec![6; 2];
        }
        c.context[4][1] = vec![6; 11];
        e.comet = Some(c);
        let err = check_positions(&[e], 10, Batching::Shuffled).unwrap_err();
        assert!(matches!(err, LengthError::Example { part: Part::Comet { relation: 4, utterance: Some(1) }, .. }), "{err:?}");
        assert!(err.to_string().contains("COMET xReact sequence of context utterance 1"), "{err}");
    }
}
