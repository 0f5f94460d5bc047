//! Corpus BLEU-1..4 (Papineni et al., 2002). The reference code computes no BLEU; this is
//! the standard definition, one reference per hypothesis:
//!
//! - p_n = Σ clipped n-gram matches / Σ hypothesis n-grams, summed over the whole corpus
//!   (a hypothesis n-gram counts at most as often as it occurs in its reference);
//! - BLEU-N = BP · exp((1/N) Σ_{n≤N} ln p_n), uniform weights, **no smoothing**: BLEU-N is 0
//!   as soon as some p_n (n ≤ N) is 0;
//! - BP = 1 if c > r else exp(1 − r/c), with c and r the corpus hypothesis and reference
//!   lengths in tokens (BP = 0 for an empty corpus of hypotheses).
//!
//! Values are in [0, 1]; reports show them x100.

use std::collections::HashMap;

fn ngram_counts<S: AsRef<str>>(tokens: &[S], n: usize) -> HashMap<Vec<&str>, usize> {
    let mut counts = HashMap::new();
    for g in tokens.windows(n) {
        *counts.entry(g.iter().map(AsRef::as_ref).collect()).or_insert(0) += 1;
    }
    counts
}

/// Clipped matches and hypothesis n-grams for each n = 1..=4, summed over the corpus.
pub fn matches<S: AsRef<str>>(hypotheses: &[Vec<S>], references: &[Vec<S>]) -> [(usize, usize); 4] {
    assert_eq!(hypotheses.len(), references.len(), "one reference per hypothesis");
    let mut out = [(0, 0); 4];
    for (h, r) in hypotheses.iter().zip(references) {
        for (k, slot) in out.iter_mut().enumerate() {
            let n = k + 1;
            let rc = ngram_counts(r, n);
            for (gram, count) in ngram_counts(h, n) {
                slot.0 += count.min(rc.get(&gram).copied().unwrap_or(0));
            }
            slot.1 += h.len().saturating_sub(n - 1);
        }
    }
    out
}

/// The brevity penalty for corpus lengths `c` (hypotheses) and `r` (references).
pub fn brevity_penalty(c: usize, r: usize) -> f64 {
    if c == 0 {
        0.0
    } else if c > r {
        1.0
    } else {
        (1.0 - r as f64 / c as f64).exp()
    }
}

/// `[BLEU-1, BLEU-2, BLEU-3, BLEU-4]` of the corpus, each in [0, 1].
pub fn corpus_bleu<S: AsRef<str>>(hypotheses: &[Vec<S>], references: &[Vec<S>]) -> [f64; 4] {
    let m = matches(hypotheses, references);
    let c: usize = hypotheses.iter().map(Vec::len).sum();
    let r: usize = references.iter().map(Vec::len).sum();
    let bp = brevity_penalty(c, r);
    let mut out = [0.0; 4];
    let mut log_sum = 0.0;
    for (k, &(hit, total)) in m.iter().enumerate() {
        if hit == 0 || total == 0 {
            break; // this and every higher order stay 0 (no smoothing)
        }
        log_sum += (hit as f64 / total as f64).ln();
        out[k] = bp * (log_sum / (k + 1) as f64).exp();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn textbook_corpus_by_hand() {
        let hyps = vec![toks("the cat sat on the mat"), toks("a dog")];
        let refs = vec![toks("the cat is on the mat"), toks("the dog barked")];
        // unigrams: sentence 1 matches the×2 cat on mat = 5 of 6 (sat misses), sentence 2
        // matches dog = 1 of 2 -> 6/8. bigrams: (the cat)(on the)(the mat) = 3 of 5, (a dog)
        // misses -> 3/6. trigrams: (on the mat) = 1 of 4, sentence 2 has none -> 1/4.
        // 4-grams: 0 of 3.
        assert_eq!(matches(&hyps, &refs), [(6, 8), (3, 6), (1, 4), (0, 3)]);
        // c = 8 < r = 9
        let bp = (1.0f64 - 9.0 / 8.0).exp();
        let b = corpus_bleu(&hyps, &refs);
        assert!((b[0] - bp * 0.75).abs() < 1e-12, "{b:?}");
        assert!((b[1] - bp * (0.75f64 * 0.5).sqrt()).abs() < 1e-12, "{b:?}");
        assert!((b[2] - bp * (0.75f64 * 0.5 * 0.25).powf(1.0 / 3.0)).abs() < 1e-12, "{b:?}");
        assert_eq!(b[3], 0.0, "no 4-gram matches and no smoothing");
        // The same numbers written out.
        assert!((b[0] - 0.661_872_7).abs() < 1e-7 && (b[1] - 0.540_416_8).abs() < 1e-7 && (b[2] - 0.400_900_8).abs() < 1e-7);
    }

    #[test]
    fn clipping_papineni_example() {
        // Papineni et al.'s "the the the the the the the": 2 of 7 after clipping; c > r so BP = 1.
        let b = corpus_bleu(&[toks("the the the the the the the")], &[toks("the cat is on the mat")]);
        assert!((b[0] - 2.0 / 7.0).abs() < 1e-15);
        assert_eq!(b[1], 0.0);
    }

    #[test]
    fn identical_and_empty() {
        let s = vec![toks("i am so happy for you")];
        assert_eq!(corpus_bleu(&s, &s), [1.0; 4]);
        let empty: Vec<Vec<String>> = vec![vec![]];
        assert_eq!(corpus_bleu(&empty, &s), [0.0; 4]);
        assert_eq!(brevity_penalty(0, 5), 0.0);
        assert_eq!(brevity_penalty(5, 5), 1.0);
        // One-token hypothesis equal to the reference: BLEU-1 = 1, no bigrams -> BLEU-2 = 0.
        let one = vec![toks("ok")];
        assert_eq!(corpus_bleu(&one, &one), [1.0, 0.0, 0.0, 0.0]);
    }
}
