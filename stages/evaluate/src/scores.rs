//! Emotion accuracy, perplexity and the confusion matrix, with the reference's semantics
//! (`IAMM_REFERENCE.md` §4) and the plain alternatives beside them.

use iamm_core::EMOTIONS;

/// Fraction of examples whose predicted emotion is the gold one.
pub fn accuracy_example(gold: &[u8], predicted: &[u8]) -> f64 {
    assert_eq!(gold.len(), predicted.len());
    if gold.is_empty() {
        return 0.0;
    }
    gold.iter().zip(predicted).filter(|(g, p)| g == p).count() as f64 / gold.len() as f64
}

/// The reference's Acc: `accuracy_score` on each test batch, then the mean over batches,
/// so a short last batch weighs as much as a full one. `batch[i]` is the batch of example
/// `i`; batches are taken in order of first appearance.
pub fn accuracy_batch_mean(gold: &[u8], predicted: &[u8], batch: &[u32]) -> f64 {
    assert!(gold.len() == predicted.len() && gold.len() == batch.len());
    let mut per_batch: Vec<(u32, usize, usize)> = Vec::new(); // (batch, correct, size)
    for ((g, p), b) in gold.iter().zip(predicted).zip(batch) {
        let slot = match per_batch.iter().position(|(id, _, _)| id == b) {
            Some(i) => i,
            None => {
                per_batch.push((*b, 0, 0));
                per_batch.len() - 1
            }
        };
        per_batch[slot].1 += usize::from(g == p);
        per_batch[slot].2 += 1;
    }
    if per_batch.is_empty() {
        return 0.0;
    }
    per_batch.iter().map(|(_, c, n)| *c as f64 / *n as f64).sum::<f64>() / per_batch.len() as f64
}

/// The reference's PPL: `exp` of the mean over examples of each example's mean token NLL
/// (`nll_sum / tokens`, teacher-forced, EOS included). Examples with no tokens are skipped.
pub fn ppl_reference(nll_sum: &[f64], tokens: &[usize]) -> f64 {
    assert_eq!(nll_sum.len(), tokens.len());
    let means: Vec<f64> =
        nll_sum.iter().zip(tokens).filter(|(_, t)| **t > 0).map(|(s, t)| s / *t as f64).collect();
    if means.is_empty() {
        return f64::NAN;
    }
    (means.iter().sum::<f64>() / means.len() as f64).exp()
}

/// Corpus PPL: `exp(Σ nll / Σ tokens)`, every token weighted alike.
pub fn ppl_corpus(nll_sum: &[f64], tokens: &[usize]) -> f64 {
    let total: usize = tokens.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    (nll_sum.iter().sum::<f64>() / total as f64).exp()
}

/// Number of emotion classes (`iamm_core::EMOTIONS`).
pub const CLASSES: usize = EMOTIONS.len();

/// `m[gold][predicted]` counts, classes in `EMOTIONS` order.
pub fn confusion(gold: &[u8], predicted: &[u8]) -> [[u32; CLASSES]; CLASSES] {
    let mut m = [[0u32; CLASSES]; CLASSES];
    for (g, p) in gold.iter().zip(predicted) {
        m[*g as usize][*p as usize] += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_mean_weighs_batches_alike() {
        // batch 0: 3 of 4 right, batch 1 (short, last): 0 of 1.
        let gold = [1, 2, 3, 4, 5];
        let pred = [1, 2, 3, 0, 0];
        let batch = [0, 0, 0, 0, 1];
        assert!((accuracy_batch_mean(&gold, &pred, &batch) - (0.75 + 0.0) / 2.0).abs() < 1e-15);
        assert!((accuracy_example(&gold, &pred) - 0.6).abs() < 1e-15);
        // One batch: both agree.
        assert_eq!(accuracy_batch_mean(&gold, &pred, &[7; 5]), accuracy_example(&gold, &pred));
        assert_eq!(accuracy_example(&[], &[]), 0.0);
    }

    #[test]
    fn ppl_from_per_example_nll() {
        // Example A: 2 tokens with NLL 1.0 and 3.0 (mean 2.0); B: 1 token with NLL 0.5.
        let (sums, toks) = ([4.0, 0.5], [2, 1]);
        // reference: exp((2.0 + 0.5) / 2) = exp(1.25); corpus: exp(4.5 / 3) = exp(1.5)
        assert!((ppl_reference(&sums, &toks) - 1.25f64.exp()).abs() < 1e-12);
        assert!((ppl_corpus(&sums, &toks) - 1.5f64.exp()).abs() < 1e-12);
        assert!(ppl_reference(&[], &[]).is_nan());
    }

    #[test]
    fn confusion_counts_rows_gold_columns_predicted() {
        let m = confusion(&[0, 0, 31, 5], &[0, 31, 31, 5]);
        assert_eq!((m[0][0], m[0][31], m[31][31], m[5][5], m[31][0]), (1, 1, 1, 1, 0));
        assert_eq!(m.iter().flatten().sum::<u32>(), 4);
    }
}
