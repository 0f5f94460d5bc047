//! Calibration of the paired tests under the null hypothesis, by simulation (`sim/mod.rs`):
//! two systems whose outputs for each example are drawn independently from one distribution
//! (exchangeable), so a calibrated test rejects at 0.05 in about 5% of simulated pairs.

mod sim;

use iamm_stats::paired::Method;
use sim::{GENERIC, Population};

const PAIRS: usize = 400;

/// 400 pairs: rejections ~ Binomial(400, 0.05), mean 20, sd 4.4; p ≤ 0.5 in about 200 (sd 10).
fn assert_calibrated(counts: &[(usize, usize)], metrics: &[&str], what: &str) {
    for (metric, &(rejected, half)) in metrics.iter().zip(counts) {
        assert!((8..=33).contains(&rejected), "{what} {metric}: {rejected} of {PAIRS} rejected at 0.05");
        assert!((165..=235).contains(&half), "{what} {metric}: {half} of {PAIRS} p-values at most 0.5");
    }
}

const ALL: [&str; 4] = ["Acc", "PPL", "Dist-1", "Dist-2"];

#[test]
fn randomization_is_calibrated_under_the_null() {
    let pop = Population::new(&GENERIC);
    assert_calibrated(&sim::null_rejections(&pop, Method::Randomization, PAIRS, 1), &ALL, "randomization");
}

#[test]
fn seed_averaged_randomization_is_calibrated_under_the_null() {
    let pop = Population::new(&GENERIC);
    assert_calibrated(&sim::null_rejections(&pop, Method::Randomization, PAIRS, 3), &ALL, "randomization, 3 runs");
}

#[test]
fn the_paired_bootstrap_is_calibrated_for_ppl() {
    // Acc's bootstrap resamples 5 batches and Dist-n's repeats responses: the example prints
    // how far off they are; PPL, a smooth mean over 200 examples, is where it holds.
    let pop = Population::new(&GENERIC);
    let counts = sim::null_rejections(&pop, Method::Bootstrap, PAIRS, 1);
    assert_calibrated(&counts[1..2], &ALL[1..2], "bootstrap");
}
