//! Coverage of the 95% intervals by simulation: synthetic corpora and test sets whose truth is
//! known (`sim/mod.rs`); 1,000 seeded trials per case, so the covered share of a calibrated
//! interval lies in 93-97% (± 2.9 binomial standard deviations around 95%).

mod sim;

use sim::{DIVERSE, GENERIC, Population, Sampling};

const TRIALS: usize = 1000;
const N: usize = 300;

#[test]
fn dist_n_intervals_cover_the_expected_ratio_of_n_responses() {
    for (recipe, sampling) in
        [(GENERIC, Sampling::Responses), (DIVERSE, Sampling::Responses), (GENERIC, Sampling::Conversations)]
    {
        let pop = Population::new(&recipe);
        let truth = pop.truth(sampling, N, 20_000, 99);
        let coverage = sim::distinct_coverage(&pop, sampling, truth, N, TRIALS, 7, &sim::corrected_jackknife);
        for (k, c) in coverage.iter().enumerate() {
            let what = format!("{} {sampling:?} Dist-{}: {c:?}", pop.name, k + 1);
            assert!((0.93..=0.97).contains(&c.rate()), "{what}");
            assert_eq!(c.point_inside, c.trials, "the interval is symmetric around its point: {what}");
        }
    }
}

#[test]
fn the_generic_population_repeats_responses_the_diverse_one_does_not() {
    // What makes the two regimes different: the generic one's top response is a fifth of the
    // corpus (as "i am sorry to hear that ." in real output), the diverse one has no top.
    let (generic, diverse) = (Population::new(&GENERIC), Population::new(&DIVERSE));
    assert!((0.15..0.25).contains(&generic.top_weight()), "{}", generic.top_weight());
    assert!(diverse.top_weight() < 1e-4);
    let truth = [generic.truth(Sampling::Responses, N, 200, 1), diverse.truth(Sampling::Responses, N, 200, 1)];
    assert!(truth[0][1] < 0.5 && truth[1][1] > 0.8, "{truth:?}");
}

#[test]
fn the_percentile_bootstrap_misses_distinct_n() {
    // Resampling with replacement duplicates responses: the resampled ratios fall below the
    // corpus's own, and the interval leaves out both its point and the truth.
    let pop = Population::new(&GENERIC);
    let truth = pop.truth(Sampling::Responses, N, 2_000, 99);
    let coverage = sim::distinct_coverage(&pop, Sampling::Responses, truth, N, 100, 7, &|g, _, level| {
        sim::percentile_bootstrap(g, level, 200)
    });
    for c in coverage {
        assert!(c.rate() < 0.5 && c.point_inside < c.trials / 10, "{c:?}");
    }
}

#[test]
fn acc_intervals_cover_p_with_a_short_last_batch() {
    // 1,000 examples: 20 batches of 48 and one of 40; 300: 6 and one of 12.
    for (examples, p, sampling) in
        [(1000, 0.48, Sampling::Responses), (300, 0.1, Sampling::Responses), (1000, 0.48, Sampling::Conversations)]
    {
        let c = sim::batch_accuracy_coverage(p, sampling, examples, 48, TRIALS, 3, &sim::batch_t);
        assert!((0.93..=0.97).contains(&c.rate()), "{examples} examples, p = {p}, {sampling:?}: {c:?}");
        assert_eq!(c.point_inside, c.trials);
    }
}
