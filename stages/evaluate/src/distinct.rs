//! Dist-n (Li et al., 2016) as the reference computes it (CEM `calc_distinct_n`): over the
//! whole corpus of responses, the number of distinct n-grams divided by the number of
//! n-grams, `len(set) / (total + 1e-16)`. A response shorter than `n` contributes nothing.
//! The stage counts with [`iamm_stats::Ngrams`] (interned n-grams that its intervals reuse);
//! these direct counts are the specification it is tested against.

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
    iamm_stats::ngrams::ratio(distinct, total)
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
    fn interned_counts_match_the_direct_count() {
        let r = toks(&["i am fine", "i am sad", "so so so", "ok", ""]);
        for n in 1..=3 {
            let interned = iamm_stats::Ngrams::new(&r, n);
            assert_eq!((interned.distinct(), interned.total()), distinct_counts(&r, n), "n={n}");
            assert_eq!(interned.ratio(), distinct_n(&r, n));
        }
    }
}
