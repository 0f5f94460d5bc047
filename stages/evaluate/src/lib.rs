//! The **evaluate** stage's metrics: the paper's Table 1 columns computed the way the
//! reference code computes them (`IAMM_REFERENCE.md` §4), the plain variants beside them,
//! and a few extras.
//!
//! | metric | default (reference) | also |
//! |---|---|---|
//! | Acc | [`scores::accuracy_batch_mean`]: mean over test batches of batch accuracy | `acc_example`: over examples |
//! | PPL | [`scores::ppl_reference`]: `exp(mean_i nll_i / tokens_i)` | `ppl_corpus`: `exp(Σ nll / Σ tokens)` |
//! | Dist-n | [`distinct::distinct_n`] over all responses, x100, `+1e-16` | [`quirk::strip_greedy_quirk`] switch |
//! | BLEU-1..4 | none in the reference | [`bleu::corpus_bleu`], x100 |
//!
//! Every response is tokenized as the reference tokenizes hypotheses for Dist-n: NLTK's
//! `word_tokenize` ([`iamm_text::Tokenizer::word_tokenize`], no lowercasing or contraction
//! expansion; the text is already lowercased tokens joined by spaces). Retokenizing matters:
//! Treebank splits `cannot` into `can not`, for instance. BLEU and the average length use
//! the same tokens, and the reference text is tokenized alike.
//!
//! The reference reads hypotheses back with `line.strip("Greedy:")`, which also eats leading
//! `G r e d y :` characters of the response ("do you" → "o you"). That perturbs Dist-n only;
//! [`MetricOptions::strip_greedy_quirk`] reproduces it for Dist-n (never for BLEU or length).
//!
//! The 95% intervals ([`iamm_stats`]) are those of the numbers printed beside them. Acc is a
//! mean of batch accuracies, so its interval is Student's t over the batches (each batch
//! counts once, as in the statistic; conversations rarely cross a batch border). Dist-n is a
//! type/token ratio, which a corpus with repeated responses lowers, so resampling responses
//! with replacement biases it downward; its interval is for the expected Dist-n of a test set
//! of as many conversations from the same population, from a jackknife over conversations
//! (nothing duplicated) with its higher-order excess removed. The crate docs derive both and
//! the README quotes their coverage in simulations.

pub mod bleu;
pub mod distinct;
pub mod quirk;
pub mod scores;

use std::collections::HashMap;
use std::path::PathBuf;

use iamm_stats::{Ngrams, batch_mean_t, distinct_interval};
use iamm_text::Tokenizer;

use crate::scores::CLASSES;

pub use iamm_stats::Interval;
pub use quirk::strip_greedy_quirk;

/// Bad input to the metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("no responses to evaluate")]
    Empty,
    #[error("response {row} (example {example_id}): {message}")]
    Row { row: usize, example_id: u32, message: String },
}

/// One scored and decoded test example: a row of the `responses` table.
pub use iamm_tables::responses::Response;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricOptions {
    /// Reproduce the reference's `strip("Greedy:")` before Dist-n (see [`quirk`]).
    pub strip_greedy_quirk: bool,
    /// Compute the intervals of Acc, Dist-1 and Dist-2.
    pub intervals: bool,
    /// Confidence level of the intervals.
    pub level: f64,
}

iamm_options::options! {
    /// The evaluate stage's metric params (its decoding params precede them).
    pub struct MetricParams {
        intervals: bool = true, Key,
            "95% intervals beside Acc, Dist-1 and Dist-2, computed without resampling: Acc's is Student's t over the \
             test batches (Acc is a mean of batch accuracies), Dist-n's a jackknife over conversations with its \
             higher-order excess removed (resampling with replacement repeats responses and lowers Dist-n)";
        strip_greedy_quirk: bool = false, Key,
            "reproduce the reference's `line.strip(\"Greedy:\")` before Dist-n, which drops leading G/r/e/d/y/: \
             characters of each response (\"do you\" -> \"o you\")";
        punkt: Option<PathBuf> = null, Key,
            "Punkt parameters for word_tokenize of the responses (Dist-n, BLEU, length), as for tokenize; \
             null = built-in rule-based sentence splitter";
    }
}

impl MetricParams {
    /// The metrics, with 95% intervals when asked for.
    pub fn options(&self) -> MetricOptions {
        MetricOptions { strip_greedy_quirk: self.strip_greedy_quirk, intervals: self.intervals, level: 0.95 }
    }
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions { strip_greedy_quirk: false, intervals: true, level: 0.95 }
    }
}

/// The metrics of one evaluation. Acc values are fractions in [0, 1]; Dist-n and BLEU are
/// x100 as the paper prints Dist-n; PPL is a perplexity; `avg_len` is in tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub acc: f64,
    pub acc_example: f64,
    pub ppl: f64,
    pub ppl_corpus: f64,
    pub dist1: f64,
    pub dist2: f64,
    pub bleu: [f64; 4],
    pub avg_len: f64,
    pub examples: usize,
    /// Intervals of `acc` (`None` with one test batch), `dist1` and `dist2` (`None` with one
    /// conversation), in their units; all `None` without [`MetricOptions::intervals`].
    pub acc_ci: Option<Interval>,
    pub dist1_ci: Option<Interval>,
    pub dist2_ci: Option<Interval>,
}

impl Metrics {
    /// Every float column by name, in the `metrics` table's order (`examples` aside).
    pub fn values(&self) -> Vec<(&'static str, Option<f64>)> {
        let ci = |c: Option<Interval>| (c.map(|c| c.lo), c.map(|c| c.hi));
        let (acc_lo, acc_hi) = ci(self.acc_ci);
        let (d1_lo, d1_hi) = ci(self.dist1_ci);
        let (d2_lo, d2_hi) = ci(self.dist2_ci);
        vec![
            ("acc", Some(self.acc)),
            ("acc_example", Some(self.acc_example)),
            ("ppl", Some(self.ppl)),
            ("ppl_corpus", Some(self.ppl_corpus)),
            ("dist1", Some(self.dist1)),
            ("dist2", Some(self.dist2)),
            ("bleu1", Some(self.bleu[0])),
            ("bleu2", Some(self.bleu[1])),
            ("bleu3", Some(self.bleu[2])),
            ("bleu4", Some(self.bleu[3])),
            ("avg_len", Some(self.avg_len)),
            ("acc_lo", acc_lo),
            ("acc_hi", acc_hi),
            ("dist1_lo", d1_lo),
            ("dist1_hi", d1_hi),
            ("dist2_lo", d2_lo),
            ("dist2_hi", d2_hi),
        ]
    }
}

fn check(responses: &[Response]) -> Result<(), MetricError> {
    if responses.is_empty() {
        return Err(MetricError::Empty);
    }
    for (row, r) in responses.iter().enumerate() {
        let bad = |message: String| Err(MetricError::Row { row, example_id: r.example_id, message });
        if r.tokens == 0 {
            return bad("0 target tokens; every target has at least EOS".into());
        }
        if !r.nll_sum.is_finite() || r.nll_sum < 0.0 {
            return bad(format!("NLL {} is not a finite non-negative number", r.nll_sum));
        }
        if usize::from(r.gold.max(r.predicted)) >= CLASSES {
            return bad(format!("emotion id {} is not one of the {CLASSES} classes", r.gold.max(r.predicted)));
        }
    }
    Ok(())
}

/// Tokens of each response as the metrics count them (see the crate docs).
pub fn response_tokens(tokenizer: &Tokenizer, texts: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Vec<String>> {
    texts.into_iter().map(|t| tokenizer.word_tokenize(t.as_ref())).collect()
}

/// The responses and references as the metrics count them: tokenized once, for the metrics
/// and for the `responses` table's `generated_tokens` (what a significance test of Dist-n reads).
pub struct Tokenized {
    hyps: Vec<Vec<String>>,
    refs: Vec<Vec<String>>,
    /// The responses as Dist-n reads them, when that differs from `hyps` (the quirk).
    quirked: Option<Vec<Vec<String>>>,
}

impl Tokenized {
    pub fn new(responses: &[Response], tokenizer: &Tokenizer, opts: &MetricOptions) -> Tokenized {
        let quirked = opts
            .strip_greedy_quirk
            .then(|| response_tokens(tokenizer, responses.iter().map(|r| strip_greedy_quirk(&r.generated))));
        Tokenized {
            hyps: response_tokens(tokenizer, responses.iter().map(|r| &r.generated)),
            refs: response_tokens(tokenizer, responses.iter().map(|r| &r.reference)),
            quirked,
        }
    }

    /// Each response's tokens as Dist-n counts them (with the quirk when it is on).
    pub fn distinct(&self) -> &[Vec<String>] {
        self.quirked.as_deref().unwrap_or(&self.hyps)
    }
}

/// All metrics of a set of responses.
pub fn compute(responses: &[Response], tokenizer: &Tokenizer, opts: &MetricOptions) -> Result<Metrics, MetricError> {
    compute_tokenized(responses, &Tokenized::new(responses, tokenizer, opts), opts)
}

/// [`compute`] over responses already tokenized by [`Tokenized::new`].
pub fn compute_tokenized(responses: &[Response], tokenized: &Tokenized, opts: &MetricOptions) -> Result<Metrics, MetricError> {
    check(responses)?;
    let gold: Vec<u8> = responses.iter().map(|r| r.gold).collect();
    let pred: Vec<u8> = responses.iter().map(|r| r.predicted).collect();
    let batch: Vec<u32> = responses.iter().map(|r| r.batch).collect();
    let nll: Vec<f64> = responses.iter().map(|r| r.nll_sum).collect();
    let tokens: Vec<usize> = responses.iter().map(|r| r.tokens as usize).collect();

    let (hyps, dist_tokens) = (&tokenized.hyps, tokenized.distinct());
    let bleu = bleu::corpus_bleu(hyps, &tokenized.refs).map(|b| b * 100.0);
    let n = responses.len();

    let d1 = Ngrams::new(dist_tokens, 1);
    let d2 = Ngrams::new(dist_tokens, 2);
    let (dist1, dist2) = (d1.ratio() * 100.0, d2.ratio() * 100.0);
    let (mut acc_ci, mut dist1_ci, mut dist2_ci) = (None, None, None);
    if opts.intervals {
        let correct: Vec<f64> = gold.iter().zip(&pred).map(|(g, p)| f64::from(u8::from(g == p))).collect();
        acc_ci = batch_mean_t(&correct, &batch, opts.level).map(|e| e.interval.clamp(0.0, 1.0));
        // Responses to one conversation's turns are alike, so a conversation is the unit drawn.
        let mut ids: HashMap<&str, u32> = HashMap::new();
        let conversations: Vec<u32> = responses
            .iter()
            .map(|r| {
                let next = ids.len() as u32;
                *ids.entry(&r.conv_id).or_insert(next)
            })
            .collect();
        let percent = |g: &Ngrams| distinct_interval(g, Some(&conversations), opts.level).map(|e| e.interval.scale(100.0));
        (dist1_ci, dist2_ci) = (percent(&d1), percent(&d2));
    }

    Ok(Metrics {
        acc: scores::accuracy_batch_mean(&gold, &pred, &batch),
        acc_example: scores::accuracy_example(&gold, &pred),
        ppl: scores::ppl_reference(&nll, &tokens),
        ppl_corpus: scores::ppl_corpus(&nll, &tokens),
        dist1,
        dist2,
        bleu,
        avg_len: hyps.iter().map(Vec::len).sum::<usize>() as f64 / n as f64,
        examples: n,
        acc_ci,
        dist1_ci,
        dist2_ci,
    })
}

/// The confusion matrix of the responses (`m[gold][predicted]`).
pub fn confusion(responses: &[Response]) -> [[u32; CLASSES]; CLASSES] {
    let gold: Vec<u8> = responses.iter().map(|r| r.gold).collect();
    let pred: Vec<u8> = responses.iter().map(|r| r.predicted).collect();
    scores::confusion(&gold, &pred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamm_text::PunktParams;

    fn tok() -> Tokenizer {
        Tokenizer::new(PunktParams::fallback())
    }

    fn resp(generated: &str, reference: &str, gold: u8, predicted: u8, nll_sum: f64, tokens: u32, batch: u32) -> Response {
        Response {
            generated: generated.into(),
            reference: reference.into(),
            gold,
            predicted,
            nll_sum,
            tokens,
            batch,
            ..Response::default()
        }
    }

    fn corpus() -> Vec<Response> {
        vec![
            resp("do you like it ?", "do you like dogs ?", 3, 3, 6.0, 6, 0),
            resp("yeah i cannot wait", "i cannot wait either", 5, 1, 2.5, 5, 0),
            resp("", "me too", 7, 7, 1.2, 3, 1),
        ]
    }

    #[test]
    fn every_metric_by_hand() {
        let m = compute(&corpus(), &tok(), &MetricOptions { intervals: false, ..Default::default() }).unwrap();
        // Acc: batch 0 has 1 of 2 right, batch 1 1 of 1 -> (0.5 + 1) / 2; examples: 2 of 3.
        assert!((m.acc - 0.75).abs() < 1e-15);
        assert!((m.acc_example - 2.0 / 3.0).abs() < 1e-15);
        // PPL: per-example means 1.0, 0.5, 0.4 -> exp(1.9 / 3); corpus exp(9.7 / 14).
        assert!((m.ppl - (1.9f64 / 3.0).exp()).abs() < 1e-12);
        assert!((m.ppl_corpus - (9.7f64 / 14.0).exp()).abs() < 1e-12);
        // word_tokenize splits "cannot": [do you like it ?] [yeah i can not wait] [] ->
        // 10 unigrams, all distinct; 8 bigrams, all distinct.
        assert_eq!(m.dist1, 100.0);
        assert_eq!(m.dist2, 100.0);
        assert!((m.avg_len - 10.0 / 3.0).abs() < 1e-12);
        // BLEU-1: clipped matches do you like ? (4 of 5) + i can not wait (4 of 5) = 8/10;
        // c = 10, r = 5 + 5 + 2 = 12 -> BP = exp(1 - 12/10).
        assert!((m.bleu[0] - 100.0 * (1.0f64 - 1.2).exp() * 0.8).abs() < 1e-9, "{:?}", m.bleu);
        assert!(m.acc_ci.is_none());
    }

    #[test]
    fn the_quirk_changes_dist_only() {
        // "do it" / "o it": plain unigrams do it o it -> 3 of 4, bigrams 2 of 2. With the
        // quirk "do" loses its "d": o it o it -> 2 of 4 and 1 of 2.
        let rs = vec![resp("do it", "o it", 0, 0, 1.0, 1, 0), resp("o it", "o it", 0, 0, 1.0, 1, 0)];
        let plain = compute(&rs, &tok(), &MetricOptions { intervals: false, ..Default::default() }).unwrap();
        let quirk =
            compute(&rs, &tok(), &MetricOptions { intervals: false, strip_greedy_quirk: true, ..Default::default() }).unwrap();
        assert!((plain.dist1 - 75.0).abs() < 1e-12 && (quirk.dist1 - 50.0).abs() < 1e-12);
        assert!((plain.dist2 - 100.0).abs() < 1e-12 && (quirk.dist2 - 50.0).abs() < 1e-12);
        // BLEU and length read the responses as generated.
        assert_eq!(plain.bleu, quirk.bleu);
        assert_eq!(plain.avg_len, quirk.avg_len);
        assert!(plain.bleu[0] < 100.0, "\"do it\" misses \"o\"");
    }

    #[test]
    fn intervals_are_of_the_printed_numbers() {
        // 200 examples in batches of 48 (4 full, 1 of 8): the batch mean and the example-level
        // accuracy differ, and the Acc interval is centred on the batch mean. Responses of 1 to
        // 8 words, frequent words far more frequent than rare ones.
        let mut stream = iamm_stats::Stream::new(1);
        let rs: Vec<Response> = (0..200u32)
            .map(|i| {
                let len = 1 + stream.below(8);
                let words: Vec<String> = (0..len).map(|_| format!("w{}", (300.0 * stream.unit().powi(3)) as u32)).collect();
                let text = words.join(" ");
                let right = i % 3 == 0 || i >= 192;
                let r = resp(&text, "common", (i % 32) as u8, if right { (i % 32) as u8 } else { 0 }, 1.0, 2, i / 48);
                // Conversations of 1 to 3 examples.
                Response { conv_id: format!("c{}", i * 2 / 5), ..r }
            })
            .collect();
        let m = compute(&rs, &tok(), &MetricOptions::default()).unwrap();
        let (a, d1, d2) = (m.acc_ci.unwrap(), m.dist1_ci.unwrap(), m.dist2_ci.unwrap());
        assert!((m.acc - m.acc_example).abs() > 0.05, "{} {}", m.acc, m.acc_example);
        assert!(((a.lo + a.hi) / 2.0 - m.acc).abs() < 1e-12, "{a:?} {}", m.acc);
        // The same numbers as the statistics crate's, Dist-n in % as printed.
        let correct: Vec<f64> = rs.iter().map(|r| f64::from(u8::from(r.gold == r.predicted))).collect();
        let batch: Vec<u32> = rs.iter().map(|r| r.batch).collect();
        assert_eq!(Some(a), iamm_stats::batch_mean_t(&correct, &batch, 0.95).map(|e| e.interval));
        let tokens = response_tokens(&tok(), rs.iter().map(|r| &r.generated));
        let conversations: Vec<u32> = (0..200).map(|i| i * 2 / 5).collect();
        let direct = iamm_stats::distinct_interval(&Ngrams::new(&tokens, 2), Some(&conversations), 0.95).unwrap();
        assert_eq!((direct.value * 100.0, direct.interval.scale(100.0)), (m.dist2, d2));
        let per_response = iamm_stats::distinct_interval(&Ngrams::new(&tokens, 2), None, 0.95).unwrap();
        assert_ne!(per_response.interval.scale(100.0), d2, "the units are the conversations");
        // Unlike the old bootstrap's, the Dist-n intervals hold their points.
        assert!(d1.lo < m.dist1 && m.dist1 < d1.hi && d2.lo < m.dist2 && m.dist2 < d2.hi, "{d1:?} {d2:?}");
        assert_eq!(compute(&rs, &tok(), &MetricOptions::default()).unwrap(), m, "no randomness");
        // One batch: no Acc interval; one response: no Dist-n interval.
        let one_batch = compute(&rs[..48], &tok(), &MetricOptions::default()).unwrap();
        assert!(one_batch.acc_ci.is_none() && one_batch.dist1_ci.is_some());
        let one = compute(&rs[..1], &tok(), &MetricOptions::default()).unwrap();
        assert_eq!((one.acc_ci, one.dist1_ci, one.dist2_ci), (None, None, None));
    }

    #[test]
    fn bad_rows_are_named() {
        assert!(matches!(compute(&[], &tok(), &MetricOptions::default()), Err(MetricError::Empty)));
        let mut rs = corpus();
        rs[1].tokens = 0;
        rs[1].example_id = 17;
        let e = compute(&rs, &tok(), &MetricOptions::default()).unwrap_err().to_string();
        assert!(e.contains("response 1 (example 17)") && e.contains("0 target tokens"), "{e}");
        let mut rs = corpus();
        rs[2].predicted = 40;
        let e = compute(&rs, &tok(), &MetricOptions::default()).unwrap_err().to_string();
        assert!(e.contains("emotion id 40"), "{e}");
    }
}
