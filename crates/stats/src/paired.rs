//! Paired significance tests between two systems A and B on the same test examples (Dror et
//! al., 2018): is the difference `stat(A) − stat(B)` larger than the example sample explains?
//!
//! A system is `k` runs (seeds) over the same examples, in the same order; its statistic is the
//! mean over its runs of the run's statistic (`k = 1`: a single run). Both systems need the
//! same `k`: a swap exchanges run `r` of A with run `r` of B, example by example.
//!
//! - **Approximate randomization** (Noreen, 1989; Riezler & Maxwell, 2005), the default: under
//!   the null hypothesis the two systems' outputs for an example are exchangeable, so each of
//!   `R` shuffles swaps each example's outputs (all runs at once) with probability 1/2 and
//!   recomputes the difference. Two-sided `p = (1 + #{|δ*| ≥ |δ|}) / (R + 1)`: exact for any
//!   statistic, the corpus-level Dist-n included, because a shuffle only relabels whole
//!   responses.
//! - **Paired bootstrap** (Koehn, 2004), in the shift form of Berg-Kirkpatrick et al. (2012):
//!   `R` resamples of the examples with replacement (of the test batches for Acc), both systems
//!   on the same resample; two-sided `p = (1 + #{|δ* − δ| ≥ |δ|}) / (R + 1)`, twice Koehn's
//!   one-sided share when the resampled differences are symmetric. Resampling duplicates
//!   responses and lowers Dist-n (the more diverse system the more), so for Dist-n prefer
//!   randomization.
//!
//! Statistics: Acc is the reference's batch mean (mean over test batches of batch accuracy;
//! the batches stay as they are under randomization), PPL the reference's per-example form
//! `exp(mean_i nll_mean_i)`, Dist-n the corpus ratio of distinct to all n-grams (not x100).

use crate::intervals::{batch_means, dense_ids};
use crate::ngrams::{DistinctCounter, Ngrams, intern};
use crate::resample::Stream;

/// How the null distribution of the difference is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Randomization,
    Bootstrap,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Randomization => "approximate randomization",
            Method::Bootstrap => "paired bootstrap",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestOptions {
    pub method: Method,
    /// Shuffles (randomization) or resamples (bootstrap), `R`.
    pub resamples: usize,
    pub seed: u64,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions { method: Method::Randomization, resamples: 10_000, seed: 0 }
    }
}

/// The result of a test: both statistics, their difference `a − b`, and its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub a: f64,
    pub b: f64,
    pub difference: f64,
    pub p: f64,
    pub method: Method,
    pub resamples: usize,
}

/// Inputs a test cannot compare.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PairedError {
    #[error("no test examples to compare")]
    Empty,
    #[error("no resamples: a test needs at least 1 shuffle or resample")]
    NoResamples,
    #[error(
        "system A has {a} runs and system B {b}: a seed-averaged comparison swaps run r of A with run r of B, so both need the same number of runs (seeds)"
    )]
    Runs { a: usize, b: usize },
    #[error(
        "system {system} run {run} has {got} examples, run 0 of A has {expected}: both systems' runs must cover the same test examples in the same order"
    )]
    Examples { system: char, run: usize, got: usize, expected: usize },
    #[error("{got} batch indices for {expected} examples: give each example its test batch")]
    Batches { got: usize, expected: usize },
    #[error("system {system} run {run} example {example}: mean NLL {value} is not a finite number")]
    Nll { system: char, run: usize, example: usize, value: f64 },
}

/// Checks that both systems have the same number of runs over the same number of examples,
/// and returns that number of examples.
fn shape<T>(a: &[Vec<T>], b: &[Vec<T>]) -> Result<usize, PairedError> {
    if a.len() != b.len() {
        return Err(PairedError::Runs { a: a.len(), b: b.len() });
    }
    let expected = a.first().map_or(0, Vec::len);
    for (system, runs) in [('A', a), ('B', b)] {
        if let Some((run, r)) = runs.iter().enumerate().find(|(_, r)| r.len() != expected) {
            return Err(PairedError::Examples { system, run, got: r.len(), expected });
        }
    }
    if expected == 0 { Err(PairedError::Empty) } else { Ok(expected) }
}

/// A statistic of both systems that a test can recompute on shuffles and resamples.
trait Paired {
    fn examples(&self) -> usize;
    /// The statistics of A and B with example `i`'s outputs exchanged where `swap[i]`.
    fn swapped(&mut self, swap: &[bool]) -> (f64, f64);
    /// The statistics of A and B on one bootstrap resample.
    fn resampled(&mut self, rng: &mut Stream) -> (f64, f64);
}

fn test(stat: &mut impl Paired, opts: &TestOptions) -> Result<Outcome, PairedError> {
    if opts.resamples == 0 {
        return Err(PairedError::NoResamples);
    }
    let mut swap = vec![false; stat.examples()];
    let (a, b) = stat.swapped(&swap);
    let observed = a - b;
    // Recomputing the same statistic in another order can move its last bits: such a tie
    // counts as extreme.
    let tie = 1e-12 * a.abs().max(b.abs());
    let mut rng = Stream::new(opts.seed);
    let mut extreme = 0usize;
    for _ in 0..opts.resamples {
        let deviation = match opts.method {
            Method::Randomization => {
                swap.iter_mut().for_each(|s| *s = rng.coin());
                let (x, y) = stat.swapped(&swap);
                x - y
            }
            Method::Bootstrap => {
                let (x, y) = stat.resampled(&mut rng);
                x - y - observed
            }
        };
        extreme += usize::from(deviation.abs() + tie >= observed.abs());
    }
    let p = (extreme + 1) as f64 / (opts.resamples + 1) as f64;
    Ok(Outcome { a, b, difference: observed, p, method: opts.method, resamples: opts.resamples })
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    sum / count as f64
}

/// Acc: `a[r][i]` is whether run `r` of system A got example `i`'s emotion right; `batch[i]`
/// is the example's test batch (batches are runs of consecutive examples).
pub fn accuracy_test(
    a: &[Vec<bool>],
    b: &[Vec<bool>],
    batch: &[u32],
    opts: &TestOptions,
) -> Result<Outcome, PairedError> {
    let n = shape(a, b)?;
    if batch.len() != n {
        return Err(PairedError::Batches { got: batch.len(), expected: n });
    }
    let as_f64 = |runs: &[Vec<bool>]| -> Vec<Vec<f64>> {
        runs.iter().map(|r| r.iter().map(|&c| f64::from(u8::from(c))).collect()).collect()
    };
    let (a, b) = (as_f64(a), as_f64(b));
    // The batch mean is Σ_i w_i c_i with w_i = 1 / (batches × size of i's batch).
    let (slots, batches) = dense_ids(batch);
    let mut size = vec![0usize; batches];
    slots.iter().for_each(|&s| size[s] += 1);
    let weight: Vec<f64> = slots.iter().map(|&s| 1.0 / (batches * size[s]) as f64).collect();
    let per_batch = |runs: &[Vec<f64>]| -> Vec<Vec<f64>> { runs.iter().map(|r| batch_means(r, batch)).collect() };
    let (batches_a, batches_b) = (per_batch(&a), per_batch(&b));
    test(&mut Accuracy { a, b, weight, batches_a, batches_b, draw: Vec::new() }, opts)
}

struct Accuracy {
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    weight: Vec<f64>,
    /// Each run's batch accuracies, for the bootstrap over batches.
    batches_a: Vec<Vec<f64>>,
    batches_b: Vec<Vec<f64>>,
    draw: Vec<usize>,
}

impl Paired for Accuracy {
    fn examples(&self) -> usize {
        self.weight.len()
    }

    fn swapped(&mut self, swap: &[bool]) -> (f64, f64) {
        let side =
            |own: &[Vec<f64>], other: &[Vec<f64>]| {
                mean(own.iter().zip(other).map(|(o, t)| {
                    (0..swap.len()).map(|i| self.weight[i] * if swap[i] { t[i] } else { o[i] }).sum::<f64>()
                }))
            };
        (side(&self.a, &self.b), side(&self.b, &self.a))
    }

    fn resampled(&mut self, rng: &mut Stream) -> (f64, f64) {
        rng.resample(self.batches_a[0].len(), &mut self.draw);
        let draw = &self.draw;
        let side = |runs: &[Vec<f64>]| mean(runs.iter().map(|r| mean(draw.iter().map(|&j| r[j]))));
        (side(&self.batches_a), side(&self.batches_b))
    }
}

/// PPL: `a[r][i]` is run `r` of system A's mean token NLL on example `i` (`nll_sum / tokens`).
pub fn perplexity_test(a: &[Vec<f64>], b: &[Vec<f64>], opts: &TestOptions) -> Result<Outcome, PairedError> {
    shape(a, b)?;
    for (system, runs) in [('A', a), ('B', b)] {
        for (run, r) in runs.iter().enumerate() {
            if let Some((example, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(PairedError::Nll { system, run, example, value });
            }
        }
    }
    test(&mut Perplexity { a: a.to_vec(), b: b.to_vec(), draw: Vec::new() }, opts)
}

struct Perplexity {
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    draw: Vec<usize>,
}

impl Paired for Perplexity {
    fn examples(&self) -> usize {
        self.a[0].len()
    }

    fn swapped(&mut self, swap: &[bool]) -> (f64, f64) {
        let side = |own: &[Vec<f64>], other: &[Vec<f64>]| {
            mean(
                own.iter()
                    .zip(other)
                    .map(|(o, t)| mean(swap.iter().enumerate().map(|(i, &s)| if s { t[i] } else { o[i] })).exp()),
            )
        };
        (side(&self.a, &self.b), side(&self.b, &self.a))
    }

    fn resampled(&mut self, rng: &mut Stream) -> (f64, f64) {
        rng.resample(self.examples(), &mut self.draw);
        let draw = &self.draw;
        let side = |runs: &[Vec<f64>]| mean(runs.iter().map(|r| mean(draw.iter().map(|&i| r[i])).exp()));
        (side(&self.a), side(&self.b))
    }
}

/// Dist-n: `a[r][i]` is run `r` of system A's response to example `i`, tokenized.
pub fn distinct_test<S: AsRef<str>>(
    a: &[Vec<Vec<S>>],
    b: &[Vec<Vec<S>>],
    n: usize,
    opts: &TestOptions,
) -> Result<Outcome, PairedError> {
    shape(a, b)?;
    let corpora: Vec<&[Vec<S>]> = a.iter().chain(b).map(Vec::as_slice).collect();
    let mut grams = intern(&corpora, n);
    let b_grams = grams.split_off(a.len());
    let counter = DistinctCounter::new(grams[0].space());
    test(&mut Distinct { a: grams, b: b_grams, counter, draw: Vec::new() }, opts)
}

struct Distinct {
    a: Vec<Ngrams>,
    b: Vec<Ngrams>,
    counter: DistinctCounter,
    draw: Vec<usize>,
}

impl Paired for Distinct {
    fn examples(&self) -> usize {
        self.a[0].len()
    }

    fn swapped(&mut self, swap: &[bool]) -> (f64, f64) {
        let counter = &mut self.counter;
        let mut side = |own: &[Ngrams], other: &[Ngrams]| {
            mean(own.iter().zip(other).map(|(o, t)| {
                let (distinct, total) =
                    counter.count(swap.iter().enumerate().map(|(i, &s)| if s { t.response(i) } else { o.response(i) }));
                crate::ngrams::ratio(distinct, total)
            }))
        };
        (side(&self.a, &self.b), side(&self.b, &self.a))
    }

    fn resampled(&mut self, rng: &mut Stream) -> (f64, f64) {
        rng.resample(self.examples(), &mut self.draw);
        let (draw, counter) = (&self.draw, &mut self.counter);
        let mut side = |runs: &[Ngrams]| mean(runs.iter().map(|r| r.ratio_of(draw, counter)));
        (side(&self.a), side(&self.b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngrams::toks as words;

    fn opts(method: Method, resamples: usize) -> TestOptions {
        TestOptions { method, resamples, seed: 5 }
    }

    /// Two runs of one system over 100 examples in batches of 48 (48, 48, 4).
    struct System {
        correct: Vec<Vec<bool>>,
        nll: Vec<Vec<f64>>,
        texts: Vec<Vec<Vec<String>>>,
    }

    fn system(shift: usize) -> System {
        let runs = 0..2;
        let correct = runs.clone().map(|r| (0..100).map(|i| (i * 7 + r + shift).is_multiple_of(3)).collect()).collect();
        let nll =
            runs.clone().map(|r| (0..100).map(|i| 2.0 + ((i * 13 + r + shift) % 10) as f64 / 10.0).collect()).collect();
        let texts = runs
            .map(|r| {
                words(&(0..100).map(|i| format!("w{} and w{}", (i + shift) % (17 + r), i % 5)).collect::<Vec<_>>())
            })
            .collect();
        System { correct, nll, texts }
    }

    fn batches() -> Vec<u32> {
        (0..100).map(|i| i / 48).collect()
    }

    #[test]
    fn identical_systems_differ_by_nothing() {
        let System { correct: c, nll, texts } = system(0);
        for method in [Method::Randomization, Method::Bootstrap] {
            let o = opts(method, 200);
            for outcome in [
                accuracy_test(&c, &c, &batches(), &o).unwrap(),
                perplexity_test(&nll, &nll, &o).unwrap(),
                distinct_test(&texts, &texts, 1, &o).unwrap(),
                distinct_test(&texts, &texts, 2, &o).unwrap(),
            ] {
                assert_eq!((outcome.difference, outcome.p, outcome.resamples, outcome.method), (0.0, 1.0, 200, method));
                assert_eq!(outcome.a, outcome.b);
            }
        }
    }

    #[test]
    fn statistics_are_the_reference_forms() {
        let System { correct: c, nll, texts } = system(0);
        let (c1, nll1) = (vec![c[0].clone()], vec![nll[0].clone()]);
        let batch = batches();
        let o = opts(Method::Randomization, 1);
        let acc = accuracy_test(&c1, &c1, &batch, &o).unwrap().a;
        let values: Vec<f64> = c1[0].iter().map(|&x| f64::from(u8::from(x))).collect();
        let per_batch = batch_means(&values, &batch);
        assert_eq!(per_batch.len(), 3);
        assert!((acc - per_batch.iter().sum::<f64>() / 3.0).abs() < 1e-15, "batch mean, the short batch weighs alike");
        let ppl = perplexity_test(&nll1, &nll1, &o).unwrap().a;
        assert!((ppl - (nll1[0].iter().sum::<f64>() / 100.0).exp()).abs() < 1e-12);
        // Seed-averaged: the mean over runs of each run's statistic.
        let dist = distinct_test(&texts, &texts, 2, &o).unwrap().a;
        let each: Vec<f64> = texts.iter().map(|t| Ngrams::new(t, 2).ratio()).collect();
        assert!((dist - (each[0] + each[1]) / 2.0).abs() < 1e-15);
        assert_ne!(each[0], each[1]);
    }

    #[test]
    fn a_planted_difference_is_found() {
        let n = 200;
        let batch: Vec<u32> = (0..n as u32).map(|i| i / 48).collect();
        // A right on 70%, B on 30%, of alternating examples; A's NLL 0.5 lower; A's responses
        // all differ, B says the same thing each time.
        let correct = |share: usize| vec![(0..n).map(|i| (i * 37) % 100 < share).collect::<Vec<bool>>()];
        let nll = |base: f64| vec![(0..n).map(|i| base + (i % 7) as f64 * 0.1).collect::<Vec<f64>>()];
        let diverse = vec![words(&(0..n).map(|i| format!("x{i} y{i} z")).collect::<Vec<_>>())];
        let generic = vec![words(&vec!["i am sorry to hear that".to_string(); n])];
        for method in [Method::Randomization, Method::Bootstrap] {
            let o = opts(method, 500);
            let acc = accuracy_test(&correct(70), &correct(30), &batch, &o).unwrap();
            assert!((acc.difference - 0.4).abs() < 0.02, "{acc:?}");
            let ppl = perplexity_test(&nll(2.0), &nll(2.5), &o).unwrap();
            assert!(ppl.difference < 0.0);
            let dist = distinct_test(&diverse, &generic, 2, &o).unwrap();
            assert!(dist.difference > 0.5, "{dist:?}");
            for outcome in [acc, ppl, dist] {
                assert_eq!(outcome.p, 1.0 / 501.0, "{method:?} {outcome:?}");
            }
        }
    }

    #[test]
    fn a_seed_gives_the_same_p_another_seed_another() {
        let (a, b) = (system(0), system(1));
        let batch = batches();
        let run = |seed| {
            let o = TestOptions { seed, resamples: 300, ..TestOptions::default() };
            [
                accuracy_test(&a.correct, &b.correct, &batch, &o).unwrap().p,
                perplexity_test(&a.nll, &b.nll, &o).unwrap().p,
                distinct_test(&a.texts, &b.texts, 1, &o).unwrap().p,
            ]
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn bad_inputs_are_named() {
        let System { correct: c, nll, texts } = system(0);
        let o = TestOptions::default();
        let one_run = vec![c[0].clone()];
        assert_eq!(accuracy_test(&c, &one_run, &batches(), &o), Err(PairedError::Runs { a: 2, b: 1 }));
        let short = vec![nll[0].clone(), nll[1][..99].to_vec()];
        assert_eq!(
            perplexity_test(&nll, &short, &o),
            Err(PairedError::Examples { system: 'B', run: 1, got: 99, expected: 100 })
        );
        assert_eq!(accuracy_test(&c, &c, &batches()[1..], &o), Err(PairedError::Batches { got: 99, expected: 100 }));
        let mut bad = nll.clone();
        bad[1][7] = f64::NAN;
        let e = perplexity_test(&nll, &bad, &o).unwrap_err();
        assert!(e.to_string().starts_with("system B run 1 example 7: mean NLL NaN"), "{e}");
        let none: Vec<Vec<Vec<String>>> = vec![vec![]];
        assert_eq!(distinct_test(&none, &none, 1, &o), Err(PairedError::Empty));
        assert_eq!(distinct_test(&texts, &texts, 1, &TestOptions { resamples: 0, ..o }), Err(PairedError::NoResamples));
        let e = accuracy_test(&c, &one_run, &batches(), &o).unwrap_err().to_string();
        assert!(e.contains("same number of runs (seeds)"), "{e}");
    }
}
