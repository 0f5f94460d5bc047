//! Synthetic corpora with a known population, for the coverage checks of the intervals
//! (`tests/coverage.rs`) and the figures the README quotes (`examples/coverage.rs`).
//!
//! A population is a finite set of template responses (word sequences of varying lengths,
//! words drawn from a Zipf law over a vocabulary) with Zipf weights over the templates; a
//! corpus is `n` responses drawn independently from it. The truth an interval should cover is
//! the expected Dist-n of a corpus of `n` responses, a Monte-Carlo mean over many corpora.

#![allow(dead_code)] // each includer uses its part

use iamm_stats::paired::{Method, TestOptions, accuracy_test, distinct_test, perplexity_test};
use iamm_stats::{DistinctCounter, Interval, Ngrams, Stream};

/// Draws from a finite distribution given by its weights.
pub struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    /// Zipf weights `1 / rank^exponent` over `count` ranks (exponent 0: uniform).
    pub fn zipf(count: usize, exponent: f64) -> Weighted {
        let mut total = 0.0;
        let cumulative = (1..=count)
            .map(|r| {
                total += (r as f64).powf(-exponent);
                total
            })
            .collect::<Vec<_>>();
        Weighted { cumulative: cumulative.into_iter().map(|c| c / total).collect() }
    }

    pub fn draw(&self, rng: &mut Stream) -> usize {
        let u = rng.unit();
        self.cumulative.partition_point(|&c| c <= u).min(self.cumulative.len() - 1)
    }

    /// The probability of the most likely outcome.
    pub fn top(&self) -> f64 {
        self.cumulative[0]
    }
}

/// How a corpus is drawn from a population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Each response independently.
    Responses,
    /// Conversations of two responses, the second a repeat of the first with probability 1/2
    /// (responses to one conversation's turns are alike); the conversations independently.
    Conversations,
}

/// A population of responses: templates with their unigram and bigram ids and their weights.
pub struct Population {
    pub name: &'static str,
    /// Each template's words.
    words: Vec<Vec<u32>>,
    /// `grams[order - 1][template]`: n-gram ids of each template.
    grams: [Vec<Vec<u32>>; 2],
    space: [usize; 2],
    weights: Weighted,
}

/// How to build a population.
pub struct Recipe {
    pub name: &'static str,
    pub templates: usize,
    /// Zipf exponent of the template weights: above 1, a few generic responses dominate.
    pub template_zipf: f64,
    pub words: usize,
    pub word_zipf: f64,
    /// Template lengths in words, uniform in this range.
    pub lengths: (usize, usize),
    pub seed: u64,
}

/// Like model output on EmpatheticDialogues: a few generic responses make up much of the
/// corpus ("i am sorry to hear that ." is a fifth of the real w/o IA test output).
pub const GENERIC: Recipe = Recipe {
    name: "generic",
    templates: 400,
    template_zipf: 1.1,
    words: 3_000,
    word_zipf: 1.0,
    lengths: (2, 16),
    seed: 1,
};

/// Generic output at the real test set's size: the top response a fifth of the corpus, and a
/// long tail (about 1,200 distinct responses in 5,259; the real w/o IA output has 1,062).
pub const LONG_TAIL: Recipe =
    Recipe { name: "long-tail", templates: 50_000, template_zipf: 1.2, words: 5_000, seed: 3, ..GENERIC };

/// Diverse output: almost every response is new, the words follow a Zipf law.
pub const DIVERSE: Recipe = Recipe {
    name: "diverse",
    templates: 200_000,
    template_zipf: 0.0,
    words: 20_000,
    word_zipf: 1.0,
    lengths: (1, 20),
    seed: 2,
};

fn as_text(templates: &[Vec<u32>]) -> Vec<Vec<String>> {
    templates.iter().map(|t| t.iter().map(|w| format!("w{w}")).collect()).collect()
}

impl Population {
    pub fn new(recipe: &Recipe) -> Population {
        let mut rng = Stream::new(recipe.seed);
        let words = Weighted::zipf(recipe.words, recipe.word_zipf);
        let (min, max) = recipe.lengths;
        let templates: Vec<Vec<u32>> = (0..recipe.templates)
            .map(|_| (0..min + rng.below(max - min + 1)).map(|_| words.draw(&mut rng) as u32).collect())
            .collect();
        let texts = as_text(&templates);
        let [one, two] = [1, 2].map(|order| iamm_stats::intern(&[&texts], order).pop().unwrap());
        let ids = |g: &Ngrams| (0..g.len()).map(|t| g.response(t).to_vec()).collect();
        Population {
            name: recipe.name,
            words: templates,
            grams: [ids(&one), ids(&two)],
            space: [one.space(), two.space()],
            weights: Weighted::zipf(recipe.templates, recipe.template_zipf),
        }
    }

    /// Each template as tokens.
    pub fn texts(&self) -> Vec<Vec<String>> {
        as_text(&self.words)
    }

    /// `n` templates drawn independently by weight.
    pub fn draw(&self, n: usize, rng: &mut Stream) -> Vec<usize> {
        (0..n).map(|_| self.weights.draw(rng)).collect()
    }

    /// A corpus of `n` responses drawn as `sampling` says: the templates, and each one's unit
    /// (the responses drawn together).
    pub fn sample(&self, sampling: Sampling, n: usize, rng: &mut Stream) -> (Vec<usize>, Vec<u32>) {
        match sampling {
            Sampling::Responses => (self.draw(n, rng), (0..n as u32).collect()),
            Sampling::Conversations => {
                let mut picks = self.draw(n, rng);
                for pair in picks.chunks_mut(2).filter(|p| p.len() == 2) {
                    if rng.coin() {
                        pair[1] = pair[0];
                    }
                }
                (picks, (0..n as u32).map(|i| i / 2).collect())
            }
        }
    }

    /// The n-grams of order 1 or 2 of the corpus of `picks`.
    pub fn corpus(&self, order: usize, picks: &[usize]) -> Ngrams {
        Ngrams::from_ids(picks.iter().map(|&t| self.grams[order - 1][t].clone()).collect(), self.space[order - 1])
    }

    /// The expected Dist-1 and Dist-2 ratios of a corpus of `n` responses drawn as `sampling`
    /// says: the mean over `corpora` independent corpora.
    pub fn truth(&self, sampling: Sampling, n: usize, corpora: usize, seed: u64) -> [f64; 2] {
        let mut rng = Stream::new(seed);
        let mut counters = self.space.map(DistinctCounter::new);
        let mut sums = [0.0; 2];
        for _ in 0..corpora {
            let (picks, _) = self.sample(sampling, n, &mut rng);
            for (k, counter) in counters.iter_mut().enumerate() {
                let (distinct, total) = counter.count(picks.iter().map(|&t| self.grams[k][t].as_slice()));
                sums[k] += iamm_stats::ngrams::ratio(distinct, total);
            }
        }
        sums.map(|s| s / corpora as f64)
    }

    pub fn top_weight(&self) -> f64 {
        self.weights.top()
    }
}

/// How often intervals covered the truth.
#[derive(Debug, Default, Clone, Copy)]
pub struct Coverage {
    pub trials: usize,
    pub covered: usize,
    /// Trials whose interval contains its own point estimate.
    pub point_inside: usize,
    pub width_sum: f64,
}

impl Coverage {
    pub fn add(&mut self, interval: Interval, point: f64, truth: f64) {
        self.trials += 1;
        self.covered += usize::from(interval.contains(truth));
        self.point_inside += usize::from(interval.contains(point));
        self.width_sum += interval.width();
    }

    pub fn rate(&self) -> f64 {
        self.covered as f64 / self.trials as f64
    }

    pub fn mean_width(&self) -> f64 {
        self.width_sum / self.trials as f64
    }
}

/// An interval method for Dist-n: the corpus, each response's unit and the confidence level
/// in, the interval out.
pub type DistinctMethod = dyn Fn(&Ngrams, &[u32], f64) -> Interval;

/// The crate's method ([`iamm_stats::distinct_interval`]) over the units drawn.
pub fn corrected_jackknife(grams: &Ngrams, units: &[u32], level: f64) -> Interval {
    iamm_stats::distinct_interval(grams, Some(units), level).expect("two units or more").interval
}

/// For comparison: the plain delete-one jackknife with a normal quantile.
pub fn plain_jackknife(grams: &Ngrams, level: f64) -> Interval {
    let mut seen_in = vec![usize::MAX; grams.space()];
    let mut shared = vec![false; grams.space()];
    for i in 0..grams.len() {
        for &g in grams.response(i) {
            let g = g as usize;
            shared[g] |= seen_in[g] != usize::MAX && seen_in[g] != i;
            seen_in[g] = i;
        }
    }
    let mut own = vec![0; grams.len()];
    (0..grams.space()).filter(|&g| seen_in[g] != usize::MAX && !shared[g]).for_each(|g| own[seen_in[g]] += 1);
    let left_out: Vec<f64> = (0..grams.len())
        .map(|i| iamm_stats::ngrams::ratio(grams.distinct() - own[i], grams.total() - grams.response(i).len()))
        .collect();
    let n = left_out.len() as f64;
    let mean = left_out.iter().sum::<f64>() / n;
    let se = ((n - 1.0) / n * left_out.iter().map(|v| (v - mean).powi(2)).sum::<f64>()).sqrt();
    let half = iamm_stats::distributions::normal_quantile(0.5 + level / 2.0) * se;
    Interval { lo: grams.ratio() - half, hi: grams.ratio() + half }
}

/// For comparison: what the evaluate stage did before, the percentile bootstrap of resamples
/// drawn with replacement (`resamples` of them).
pub fn percentile_bootstrap(grams: &Ngrams, level: f64, resamples: usize) -> Interval {
    let mut resampler = iamm_stats::Resampler::new(grams.len(), 0);
    let mut counter = DistinctCounter::new(grams.space());
    let mut sample = Vec::new();
    let values: Vec<f64> = (0..resamples)
        .map(|_| {
            resampler.draw(&mut sample);
            grams.ratio_of(&sample, &mut counter)
        })
        .collect();
    iamm_stats::percentile_interval(&values, level)
}

/// Coverage of the truth by `method`'s intervals at 95%, for Dist-1 and Dist-2, over `trials`
/// corpora of `n` responses drawn as `sampling` says.
pub fn distinct_coverage(
    pop: &Population,
    sampling: Sampling,
    truth: [f64; 2],
    n: usize,
    trials: usize,
    seed: u64,
    method: &DistinctMethod,
) -> [Coverage; 2] {
    let mut rng = Stream::new(seed);
    let mut out = [Coverage::default(); 2];
    for _ in 0..trials {
        let (picks, units) = pop.sample(sampling, n, &mut rng);
        for (k, c) in out.iter_mut().enumerate() {
            let grams = pop.corpus(k + 1, &picks);
            c.add(method(&grams, &units, 0.95), grams.ratio(), truth[k]);
        }
    }
    out
}

/// An interval method for Acc: each example's correctness (0 or 1), its batch, the level.
pub type AccuracyMethod = dyn Fn(&[f64], &[u32], f64) -> Interval;

/// The crate's method ([`iamm_stats::batch_mean_t`]).
pub fn batch_t(correct: &[f64], batch: &[u32], level: f64) -> Interval {
    iamm_stats::batch_mean_t(correct, batch, level).expect("two batches or more").interval
}

/// For comparison: the percentile bootstrap over batches (a cluster bootstrap).
pub fn batch_bootstrap(correct: &[f64], batch: &[u32], level: f64, resamples: usize) -> Interval {
    mean_bootstrap(&iamm_stats::batch_means(correct, batch), level, resamples)
}

/// For comparison: what the evaluate stage did before, the percentile bootstrap of the
/// example-level accuracy over examples.
pub fn example_bootstrap(correct: &[f64], _batch: &[u32], level: f64, resamples: usize) -> Interval {
    mean_bootstrap(correct, level, resamples)
}

/// The percentile bootstrap interval of the mean of `values`.
fn mean_bootstrap(values: &[f64], level: f64, resamples: usize) -> Interval {
    let mut resampler = iamm_stats::Resampler::new(values.len(), 0);
    let mut sample = Vec::new();
    let means: Vec<f64> = (0..resamples)
        .map(|_| {
            resampler.draw(&mut sample);
            sample.iter().map(|&i| values[i]).sum::<f64>() / values.len() as f64
        })
        .collect();
    iamm_stats::percentile_interval(&means, level)
}

/// Acc as the reference computes it: the mean over consecutive batches of `batch` examples of
/// the batch accuracy (the last batch may be smaller). Examples are right with probability
/// `p`, independently or (`Sampling::Conversations`) in consecutive pairs whose second
/// example shares the first's outcome with probability 1/2; the truth is `p`.
pub fn batch_accuracy_coverage(
    p: f64,
    sampling: Sampling,
    examples: usize,
    batch: usize,
    trials: usize,
    seed: u64,
    method: &AccuracyMethod,
) -> Coverage {
    let mut rng = Stream::new(seed);
    let batches: Vec<u32> = (0..examples).map(|i| (i / batch) as u32).collect();
    let mut c = Coverage::default();
    for _ in 0..trials {
        let mut correct: Vec<f64> = (0..examples).map(|_| f64::from(u8::from(rng.unit() < p))).collect();
        if sampling == Sampling::Conversations {
            for pair in correct.chunks_mut(2).filter(|p| p.len() == 2) {
                if rng.coin() {
                    pair[1] = pair[0];
                }
            }
        }
        let means = iamm_stats::batch_means(&correct, &batches);
        let point = means.iter().sum::<f64>() / means.len() as f64;
        c.add(method(&correct, &batches, 0.95), point, p);
    }
    c
}

/// One system's runs over the examples of a null simulation.
struct System {
    correct: Vec<Vec<bool>>,
    nll: Vec<Vec<f64>>,
    responses: Vec<Vec<Vec<String>>>,
}

/// `runs` runs over the examples: each right with probability `difficulty[i]`, its mean NLL
/// `base[i]` plus uniform noise, its response a template drawn from the population.
fn system(
    difficulty: &[f64],
    base: &[f64],
    texts: &[Vec<String>],
    pop: &Population,
    runs: usize,
    rng: &mut Stream,
) -> System {
    let mut s = System { correct: Vec::new(), nll: Vec::new(), responses: Vec::new() };
    for _ in 0..runs {
        s.correct.push(difficulty.iter().map(|&q| rng.unit() < q).collect());
        s.nll.push(base.iter().map(|&b| b + rng.unit()).collect());
        s.responses.push(pop.draw(difficulty.len(), rng).into_iter().map(|t| texts[t].clone()).collect());
    }
    s
}

/// Under the null hypothesis: `pairs` pairs of systems whose outputs for each of 200 examples
/// (batches of 48: 4 full, 1 of 8) are drawn independently from one distribution given the
/// example, so they are exchangeable. Per metric (Acc, PPL, Dist-1, Dist-2), how many pairs
/// the test rejects at 0.05 and how many p-values are at most 0.5.
pub fn null_rejections(pop: &Population, method: Method, pairs: usize, runs: usize) -> [(usize, usize); 4] {
    let texts = pop.texts();
    let n = 200;
    let batch: Vec<u32> = (0..n as u32).map(|i| i / 48).collect();
    let mut rng = Stream::new(17);
    let mut counts = [(0, 0); 4];
    for pair in 0..pairs {
        let difficulty: Vec<f64> = (0..n).map(|_| 0.2 + 0.6 * rng.unit()).collect();
        let base: Vec<f64> = (0..n).map(|_| 1.0 + 3.0 * rng.unit()).collect();
        let a = system(&difficulty, &base, &texts, pop, runs, &mut rng);
        let b = system(&difficulty, &base, &texts, pop, runs, &mut rng);
        let opts = TestOptions { method, resamples: 199, seed: pair as u64 };
        let outcomes = [
            accuracy_test(&a.correct, &b.correct, &batch, &opts),
            perplexity_test(&a.nll, &b.nll, &opts),
            distinct_test(&a.responses, &b.responses, 1, &opts),
            distinct_test(&a.responses, &b.responses, 2, &opts),
        ];
        for (c, o) in counts.iter_mut().zip(outcomes) {
            let p = o.expect("well-formed systems").p;
            c.0 += usize::from(p <= 0.05);
            c.1 += usize::from(p <= 0.5);
        }
    }
    counts
}
