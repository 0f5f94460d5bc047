//! The n-grams of corpora of responses interned to small ids, so that the distinct-n ratio of
//! any multiset of responses (a resample, a permuted pseudo-system, a corpus with one response
//! left out) is a pass over integers. N-grams never cross responses; a response shorter than
//! `n` has none.

use std::collections::HashMap;

/// The distinct-n ratio as the reference computes it: `distinct / (total + 1e-16)`. The `1e-16`
/// keeps an empty corpus at 0 instead of dividing by zero.
pub fn ratio(distinct: usize, total: usize) -> f64 {
    distinct as f64 / (total as f64 + 1e-16)
}

/// One corpus: each response's n-gram ids, in an id space shared with the corpora interned
/// alongside it ([`intern`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ngrams {
    responses: Vec<Vec<u32>>,
    /// Ids are below this (shared by all corpora interned together).
    space: usize,
    distinct: usize,
}

/// Interns the n-grams of several corpora in one id space, so that their responses can be
/// mixed (as a randomization test does).
pub fn intern<S: AsRef<str>>(corpora: &[&[Vec<S>]], n: usize) -> Vec<Ngrams> {
    assert!(n > 0, "n-grams need n >= 1");
    let mut ids: HashMap<Vec<&str>, u32> = HashMap::new();
    let interned: Vec<Vec<Vec<u32>>> = corpora
        .iter()
        .map(|corpus| {
            corpus
                .iter()
                .map(|r| {
                    r.windows(n)
                        .map(|g| {
                            let next = ids.len() as u32;
                            *ids.entry(g.iter().map(AsRef::as_ref).collect()).or_insert(next)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let space = ids.len();
    interned.into_iter().map(|responses| Ngrams::from_ids(responses, space)).collect()
}

impl Ngrams {
    /// The n-grams of one corpus of tokenized responses.
    pub fn new<S: AsRef<str>>(responses: &[Vec<S>], n: usize) -> Ngrams {
        intern(&[responses], n).pop().expect("one corpus in, one out")
    }

    /// A corpus of already interned n-grams: every id below `space`.
    pub fn from_ids(responses: Vec<Vec<u32>>, space: usize) -> Ngrams {
        let mut counter = DistinctCounter::new(space);
        let (distinct, _) = counter.count(responses.iter().map(Vec::as_slice));
        Ngrams { responses, space, distinct }
    }

    /// The number of responses.
    pub fn len(&self) -> usize {
        self.responses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }

    /// The n-gram ids of response `i`.
    pub fn response(&self, i: usize) -> &[u32] {
        &self.responses[i]
    }

    /// The size of the id space (every id is below it).
    pub fn space(&self) -> usize {
        self.space
    }

    /// Distinct n-grams in the corpus.
    pub fn distinct(&self) -> usize {
        self.distinct
    }

    /// All n-grams in the corpus.
    pub fn total(&self) -> usize {
        self.responses.iter().map(Vec::len).sum()
    }

    /// The corpus's distinct-n ratio.
    pub fn ratio(&self) -> f64 {
        ratio(self.distinct, self.total())
    }

    /// The distinct-n ratio of the responses at `sample` (indices, repeats allowed).
    pub fn ratio_of(&self, sample: &[usize], counter: &mut DistinctCounter) -> f64 {
        let (distinct, total) = counter.count(sample.iter().map(|&i| self.response(i)));
        ratio(distinct, total)
    }
}

/// Counts distinct ids over many multisets of responses without clearing a set each time.
pub struct DistinctCounter {
    /// `stamp[g]` = the last count that saw id `g`.
    stamp: Vec<u32>,
    round: u32,
}

impl DistinctCounter {
    /// A counter for ids below `space`.
    pub fn new(space: usize) -> DistinctCounter {
        DistinctCounter { stamp: vec![0; space], round: 0 }
    }

    /// `(distinct, total)` ids over the responses given.
    pub fn count<'a>(&mut self, responses: impl Iterator<Item = &'a [u32]>) -> (usize, usize) {
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.round = 1;
        }
        let (mut distinct, mut total) = (0, 0);
        for grams in responses {
            total += grams.len();
            for &g in grams {
                let seen = &mut self.stamp[g as usize];
                if *seen != self.round {
                    *seen = self.round;
                    distinct += 1;
                }
            }
        }
        (distinct, total)
    }
}

/// Whitespace-split lines, as the tests write corpora.
#[cfg(test)]
pub(crate) fn toks<S: AsRef<str>>(lines: &[S]) -> Vec<Vec<String>> {
    lines.iter().map(|l| l.as_ref().split_whitespace().map(str::to_string).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ratios_by_hand() {
        // unigrams: i am fine i am sad so so -> 8 total, {i, am, fine, sad, so} = 5;
        // bigrams: (i am)(am fine) (i am)(am sad) (so so) -> 5 total, 4 distinct.
        let r = toks(&["i am fine", "i am sad", "so so", "", "ok"]);
        let (one, two) = (Ngrams::new(&r, 1), Ngrams::new(&r, 2));
        assert_eq!((one.distinct(), one.total(), one.len()), (6, 9, 5));
        assert_eq!((two.distinct(), two.total()), (4, 5));
        assert_eq!(two.ratio(), 0.8);
        assert_eq!(two.response(4), &[] as &[u32], "a one-token response has no bigrams");
        // Resamples, repeats allowed: [0, 0] has bigrams (i am)(am fine) twice.
        let mut counter = DistinctCounter::new(two.space());
        assert_eq!(two.ratio_of(&[0, 0], &mut counter), 0.5);
        assert_eq!(two.ratio_of(&[0, 1, 2], &mut counter), 0.8);
        assert_eq!(two.ratio_of(&[3, 4], &mut counter), 0.0, "no n-grams: 0, as the reference");
    }

    #[test]
    fn corpora_interned_together_share_ids() {
        let (a, b) = (toks(&["i am fine"]), toks(&["you am fine", "i am"]));
        let both = intern(&[&a, &b], 2);
        assert_eq!(both[0].space(), 3, "(i am) (am fine) (you am)");
        assert_eq!(
            (both[0].response(0), both[1].response(0), both[1].response(1)),
            (&[0, 1][..], &[2, 1][..], &[0][..])
        );
        assert_eq!((both[0].distinct(), both[1].distinct()), (2, 3));
    }

    #[test]
    fn the_counter_survives_its_round_wrapping() {
        let r = Ngrams::new(&toks(&["a b a", "c"]), 1);
        let mut counter = DistinctCounter::new(r.space());
        counter.round = u32::MAX - 1;
        for _ in 0..3 {
            assert_eq!(counter.count([r.response(0), r.response(1)].into_iter()), (3, 4));
        }
    }
}
