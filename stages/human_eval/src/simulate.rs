//! Seeded simulated annotators, so that the demo pipeline can show the whole loop without
//! people. Every output made from them says so (see [`crate::SIMULATED`]).
//!
//! Model: each shown pair has a latent outcome per aspect (win 40%, lose 25%, tie 35% for the
//! proposed system); each annotator reports it with probability 0.65 and otherwise picks one
//! of the three outcomes at random. That gives Fleiss' kappa near 0.42, the paper's range.
//! Attention checks are answered right with probability 0.95 per aspect.

use std::collections::HashMap;

use rand::Rng;

use crate::key::Key;
use crate::rng::stream;
use crate::{Answer, ItemKind, Outcome};

const LATENT: [(Outcome, f64); 3] = [(Outcome::Win, 0.40), (Outcome::Lose, 0.25), (Outcome::Tie, 0.35)];
const FAITHFUL: f64 = 0.65;
const ATTENTIVE: f64 = 0.95;

fn draw_latent(rng: &mut impl Rng) -> Outcome {
    let mut u: f64 = rng.random();
    for (o, p) in LATENT {
        if u < p {
            return o;
        }
        u -= p;
    }
    Outcome::Tie
}

fn blind(key_a_is_proposed: bool, o: Outcome) -> Answer {
    match (o, key_a_is_proposed) {
        (Outcome::Tie, _) => Answer::Tie,
        (Outcome::Win, true) | (Outcome::Lose, false) => Answer::A,
        (Outcome::Win, false) | (Outcome::Lose, true) => Answer::B,
    }
}

/// Annotator `annotator`'s (1-based) answers for every item shown, by item id.
pub fn simulated_answers(key: &Key, seed: u64, annotator: usize) -> HashMap<String, [Answer; 3]> {
    // Latents come from one stream over the key (sorted by id), noise from one per annotator.
    let mut latent_rng = stream(seed, "simulate-latent", 0);
    let mut rng = stream(seed, "simulate-annotator", annotator as u64);
    let mut out = HashMap::new();
    for row in key.rows.iter().filter(|r| r.in_sheets()) {
        let latent: [Outcome; 3] = std::array::from_fn(|_| draw_latent(&mut latent_rng));
        let answers: [Answer; 3] = match (row.kind, row.expected) {
            (ItemKind::AttentionCheck, Some(right)) => std::array::from_fn(|_| {
                if rng.random_bool(ATTENTIVE) {
                    right
                } else if right == Answer::A {
                    Answer::B
                } else {
                    Answer::A
                }
            }),
            _ => std::array::from_fn(|j| {
                let o = if rng.random_bool(FAITHFUL) {
                    latent[j]
                } else {
                    [Outcome::Win, Outcome::Lose, Outcome::Tie][rng.random_range(0..3)]
                };
                blind(row.a_is == "proposed", o)
            }),
        };
        out.insert(row.item_id.clone(), answers);
    }
    out
}
