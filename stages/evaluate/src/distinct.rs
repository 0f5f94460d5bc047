//! Dist-n (Li et al., 2016) as the reference computes it (CEM `calc_distinct_n`): over the
//! whole corpus of responses, the number of distinct n-grams divided by the number of
//! n-grams, `len(set) / (total + 1e-16)`. A response shorter than `n` contributes nothing.

use std::collections::HashMap;

/// `(distinct, total)` n-grams over all responses.
pub fn distinct_counts<S: AsRef<str>>(responses: &[Vec<S>], n: usize) -> (usize, usize) {
    assert!(n > 0, "n-grams need n >= 1");
    let mut seen: std::collections::HashSet<Vec<&str>> = std::collections::HashSet::new();
    let mut total = 0;
    for r in responses {
        for gram in r.windows(n) {
            seen.insert(gram.iter().map(AsRef::as_ref).collect());
            total += 1;
        }
    }
    (seen.len(), total)
}

/// The reference's Dist-n ratio in `[0, 1]` (the paper prints it x100). The `1e-16` keeps
/// an empty corpus at 0 instead of dividing by zero, exactly as the reference does.
pub fn distinct_n<S: AsRef<str>>(responses: &[Vec<S>], n: usize) -> f64 {
    let (distinct, total) = distinct_counts(responses, n);
    ratio(distinct, total)
}

fn ratio(distinct: usize, total: usize) -> f64 {
    distinct as f64 / (total as f64 + 1e-16)
}

/// The n-grams of each response interned to small ids, so that Dist-n of a resample (a
/// multiset of responses) is a pass over integers: what makes thousands of bootstrap
/// resamples cheap.
pub struct DistinctIndex {
    grams: Vec<Vec<u32>>,
    vocab: usize,
    /// `stamp[g]` = the last resample that counted gram `g`.
    stamp: Vec<u32>,
    round: u32,
}

impl DistinctIndex {
    pub fn new<S: AsRef<str>>(responses: &[Vec<S>], n: usize) -> DistinctIndex {
        assert!(n > 0, "n-grams need n >= 1");
        let mut ids: HashMap<Vec<&str>, u32> = HashMap::new();
        let grams = responses
            .iter()
            .map(|r| {
                r.windows(n)
                    .map(|g| {
                        let next = ids.len() as u32;
                        *ids.entry(g.iter().map(AsRef::as_ref).collect()).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        let vocab = ids.len();
        DistinctIndex { grams, vocab, stamp: vec![0; vocab], round: 0 }
    }

    /// Distinct n-grams in the whole corpus.
    pub fn distinct(&self) -> usize {
        self.vocab
    }

    /// Dist-n of the whole corpus: [`distinct_n`] without another pass over the text.
    pub fn ratio(&self) -> f64 {
        ratio(self.vocab, self.grams.iter().map(Vec::len).sum())
    }

    /// Dist-n ratio of the responses at `sample` (indices, repeats allowed).
    pub fn ratio_of(&mut self, sample: &[usize]) -> f64 {
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.round = 1;
        }
        let (mut distinct, mut total) = (0, 0);
        for &i in sample {
            for &g in &self.grams[i] {
                total += 1;
                if self.stamp[g as usize] != self.round {
                    self.stamp[g as usize] = self.round;
                    distinct += 1;
                }
            }
        }
        ratio(distinct, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(lines: &[&str]) -> Vec<Vec<String>> {
        lines.iter().map(|l| l.split_whitespace().map(str::to_string).collect()).collect()
    }

    #[test]
    fn hand_computed_ratios() {
        // unigrams: i am fine i am sad -> 6 total, {i, am, fine, sad} = 4
        // bigrams: (i am)(am fine) (i am)(am sad) -> 4 total, 3 distinct
        let r = toks(&["i am fine", "i am sad"]);
        assert_eq!(distinct_counts(&r, 1), (4, 6));
        assert_eq!(distinct_counts(&r, 2), (3, 4));
        assert!((distinct_n(&r, 1) - 4.0 / 6.0).abs() < 1e-15);
        assert!((distinct_n(&r, 2) - 0.75).abs() < 1e-15);
    }

    #[test]
    fn repeated_ngrams_count_once_in_the_numerator_only() {
        // "so so so so": unigrams 4 total / 1 distinct, bigrams 3 total / 1 distinct.
        let r = toks(&["so so so so"]);
        assert_eq!(distinct_counts(&r, 1), (1, 4));
        assert_eq!(distinct_counts(&r, 2), (1, 3));
        assert!((distinct_n(&r, 2) - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn empty_and_one_token_responses() {
        let empty: Vec<Vec<String>> = vec![vec![], vec![]];
        assert_eq!(distinct_counts(&empty, 1), (0, 0));
        assert_eq!(distinct_n(&empty, 1), 0.0);
        assert_eq!(distinct_n::<String>(&[], 2), 0.0);
        // One-token responses have unigrams but no bigrams.
        let one = toks(&["ok", "ok", "sure", ""]);
        assert_eq!(distinct_counts(&one, 1), (2, 3));
        assert_eq!(distinct_counts(&one, 2), (0, 0));
        assert_eq!(distinct_n(&one, 2), 0.0);
        // The reference's 1e-16 is below f64 resolution next to a count of 3.
        assert_eq!(distinct_n(&one, 1), 2.0 / 3.0);
    }

    #[test]
    fn ngrams_do_not_cross_responses() {
        // "a b" + "c" has bigram (a b) only; (b c) would appear if responses were joined.
        let r = toks(&["a b", "c"]);
        assert_eq!(distinct_counts(&r, 2), (1, 1));
    }

    #[test]
    fn index_matches_the_direct_count_on_resamples() {
        let r = toks(&["i am fine", "i am sad", "so so so", "ok", ""]);
        for n in 1..=2 {
            let mut index = DistinctIndex::new(&r, n);
            assert_eq!(index.distinct(), distinct_counts(&r, n).0);
            assert_eq!(index.ratio(), distinct_n(&r, n));
            for sample in [vec![0, 1, 2, 3, 4], vec![0, 0, 0], vec![2, 2, 3], vec![4], vec![1, 3, 1, 0]] {
                let picked: Vec<Vec<String>> = sample.iter().map(|&i| r[i].clone()).collect();
                assert_eq!(index.ratio_of(&sample), distinct_n(&picked, n), "n={n} sample={sample:?}");
            }
        }
    }
}
