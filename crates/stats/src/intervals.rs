//! Confidence intervals of the evaluation's statistics (the crate docs say why these forms).

use crate::distributions::t_quantile;
use crate::ngrams::{Ngrams, ratio};
use crate::resample::Interval;

/// A point estimate with its standard error, the degrees of freedom of the t quantile, and
/// its interval `value ± t_df · se`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub se: f64,
    pub df: f64,
    pub interval: Interval,
}

impl Estimate {
    fn new(value: f64, se: f64, df: f64, level: f64) -> Estimate {
        let half = if se > 0.0 { t_quantile(0.5 + level / 2.0, df) * se } else { 0.0 };
        Estimate { value, se, df, interval: Interval { lo: value - half, hi: value + half } }
    }
}

/// The largest set of units whose n-grams enter the excess. N-grams found in more units are in
/// practically every corpus (a Poisson count with mean 10 is 0 with probability 5e-5), so their
/// share of the variance is nil, while their terms would add ±m_B² by the parity of `|B|`:
/// noise, which in a corpus of a few repeated responses swamps the rest.
const LARGEST_BLOCK: usize = 10;

/// The distinct-n ratio of a corpus with its interval for the expected ratio of a corpus of as
/// many units from the same population: the delete-one-unit jackknife variance less its
/// higher-order excess (shrunk by its noise), with Satterthwaite's degrees of freedom (the
/// crate docs derive both).
/// A unit is a response (`units: None`) or a group of them (`units[i]` = response `i`'s unit,
/// such as its conversation) drawn together. The interval is cut to [0, 1]. `None` below two
/// units.
pub fn distinct_interval(grams: &Ngrams, units: Option<&[u32]>, level: f64) -> Option<Estimate> {
    let (unit, count) = match units {
        Some(labels) => {
            assert_eq!(labels.len(), grams.len(), "one unit per response");
            dense_ids(labels)
        }
        None => ((0..grams.len()).collect(), grams.len()),
    };
    if count < 2 {
        return None;
    }
    let (distinct, total) = (grams.distinct(), grams.total());
    let mut length = vec![0usize; count];
    (0..grams.len()).for_each(|i| length[unit[i]] += grams.response(i).len());
    let sets = occurrence_sets(grams, &unit);
    // The n-grams of unit u alone leave with it.
    let mut own = vec![0usize; count];
    sets.iter().filter(|(set, _)| set.len() == 1).for_each(|(set, m)| own[set[0] as usize] += m);
    let left_out: Vec<f64> = own.iter().zip(&length).map(|(&o, &l)| ratio(distinct - o, total - l)).collect();
    let mean = left_out.iter().sum::<f64>() / count as f64;
    let scale = (count - 1) as f64 / count as f64;
    let terms: Vec<f64> = left_out.iter().map(|v| scale * (v - mean).powi(2)).collect();
    let jackknife = terms.iter().sum::<f64>();
    // Δ_B D = ±m_B / T for |B| ≥ 2; the excess is Σ (−1)^|B| (Δ_B D)².
    let t2 = (total as f64).powi(2);
    let blocks = || {
        sets.iter()
            .filter(|(set, _)| (2..=LARGEST_BLOCK).contains(&set.len()))
            .map(|(set, m)| (set.len(), (m * m) as f64 / t2))
    };
    // The excess is not negative (the jackknife overstates), and each term's sign is a parity:
    // its noise is Σ m_B⁴ / T⁴. It is subtracted in proportion to how well it is measured
    // (the positive-part James-Stein factor): in full where it stands out of its noise, not at
    // all, leaving the conservative jackknife, where it does not.
    let excess = blocks().map(|(size, d2)| if size % 2 == 0 { d2 } else { -d2 }).sum::<f64>().max(0.0);
    let noise = blocks().map(|(_, d2)| d2 * d2).sum::<f64>();
    let weight = if excess > 0.0 { (1.0 - noise / (excess * excess)).max(0.0) } else { 0.0 };
    let var = (jackknife - weight * excess).max(0.0);
    // Satterthwaite: the variance of the variance estimate from its independent parts.
    let term_mean = jackknife / count as f64;
    let spread = terms.iter().map(|t| (t - term_mean).powi(2)).sum::<f64>() + weight * weight * noise;
    let most = (count - 1) as f64;
    let df = if spread > 0.0 { (2.0 * var * var / spread).clamp(1.0, most) } else { most };
    let estimate = Estimate::new(grams.ratio(), var.sqrt(), df, level);
    Some(Estimate { interval: estimate.interval.clamp(0.0, 1.0), ..estimate })
}

/// The corpus's distinct n-grams grouped by the set of units they occur in: `(set, m)`, `m`
/// the number of n-grams whose units are exactly `set` (ascending). Sorted, so that sums over
/// them add in one order on every run.
fn occurrence_sets(grams: &Ngrams, unit: &[usize]) -> Vec<(Vec<u32>, usize)> {
    let mut occurs: Vec<Vec<u32>> = vec![Vec::new(); grams.space()];
    for (i, &u) in unit.iter().enumerate() {
        for &g in grams.response(i) {
            let units = &mut occurs[g as usize];
            if units.last() != Some(&(u as u32)) {
                units.push(u as u32);
            }
        }
    }
    occurs.retain(|s| !s.is_empty());
    for set in &mut occurs {
        // A unit's responses need not be consecutive.
        set.sort_unstable();
        set.dedup();
    }
    occurs.sort_unstable();
    let mut sets: Vec<(Vec<u32>, usize)> = Vec::new();
    for set in occurs {
        match sets.last_mut() {
            Some((last, m)) if *last == set => *m += 1,
            _ => sets.push((set, 1)),
        }
    }
    sets
}

/// The mean over batches of each batch's mean of `values` (`batch[i]` = example `i`'s batch),
/// with the t interval over the batch means: `value ± t_{B−1}·s/√B`, `s` the standard deviation
/// of the `B` batch means. `None` below two batches.
pub fn batch_mean_t(values: &[f64], batch: &[u32], level: f64) -> Option<Estimate> {
    let means = batch_means(values, batch);
    let b = means.len();
    if b < 2 {
        return None;
    }
    let value = means.iter().sum::<f64>() / b as f64;
    let var = means.iter().map(|m| (m - value).powi(2)).sum::<f64>() / (b - 1) as f64;
    Some(Estimate::new(value, (var / b as f64).sqrt(), (b - 1) as f64, level))
}

/// Each batch's mean of `values`, batches in order of first appearance.
pub fn batch_means(values: &[f64], batch: &[u32]) -> Vec<f64> {
    assert_eq!(values.len(), batch.len(), "one batch index per value");
    let (slots, count) = dense_ids(batch);
    let mut sums = vec![(0.0, 0usize); count];
    for (v, &s) in values.iter().zip(&slots) {
        sums[s].0 += v;
        sums[s].1 += 1;
    }
    sums.iter().map(|&(sum, size)| sum / size as f64).collect()
}

/// Each label as an index `0..count`, labels numbered in order of first appearance, and
/// `count`.
pub(crate) fn dense_ids(labels: &[u32]) -> (Vec<usize>, usize) {
    let mut ids: Vec<u32> = Vec::new();
    let slots = labels
        .iter()
        .map(|&b| match ids.last() {
            // Labels come in runs (batches, conversations); look further back only between runs.
            Some(&last) if last == b => ids.len() - 1,
            _ => ids.iter().position(|&id| id == b).unwrap_or_else(|| {
                ids.push(b);
                ids.len() - 1
            }),
        })
        .collect();
    (slots, ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngrams::toks;
    use crate::resample::Stream;

    /// The delete-one jackknife variance by brute force: the ratio recounted without each
    /// response in turn.
    fn brute_jackknife(grams: &Ngrams) -> f64 {
        let n = grams.len();
        let mut counter = crate::ngrams::DistinctCounter::new(grams.space());
        let left_out: Vec<f64> =
            (0..n).map(|i| grams.ratio_of(&(0..n).filter(|&j| j != i).collect::<Vec<_>>(), &mut counter)).collect();
        let mean = left_out.iter().sum::<f64>() / n as f64;
        (n - 1) as f64 / n as f64 * left_out.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
    }

    #[test]
    fn distinct_interval_by_hand() {
        // Unigrams of "a b" "a c" "d e" "f": 6 distinct of 7. Left out, the ratio is 5/5, 5/5,
        // 4/5, 5/6 (each response takes its own words, "a" stays). "a" is the one n-gram of more
        // than one response: a block of 1 in {0, 1}, excess (1/7)², as large as its own noise,
        // so none of it is subtracted.
        let grams = Ngrams::new(&toks(&["a b", "a c", "d e", "f"]), 1);
        let e = distinct_interval(&grams, None, 0.95).unwrap();
        let left_out = [1.0, 1.0, 0.8, 5.0 / 6.0];
        let mean = left_out.iter().sum::<f64>() / 4.0;
        let jackknife = 0.75 * left_out.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        assert!((jackknife - brute_jackknife(&grams)).abs() < 1e-15);
        assert!((e.se.powi(2) - jackknife).abs() < 1e-15, "{e:?}");
        assert_eq!(e.value, 6.0 / 7.0);
        assert!((1.0..=3.0).contains(&e.df));
        // value ± t·se, cut to [0, 1] (with 4 responses, 1 degree of freedom: all of it).
        let half = t_quantile(0.975, e.df) * e.se;
        assert_eq!(e.interval, Interval { lo: e.value - half, hi: e.value + half }.clamp(0.0, 1.0));
        // Without units each response is one.
        assert_eq!(distinct_interval(&grams, Some(&[7, 8, 9, 10]), 0.95), Some(e));
        assert_eq!(distinct_interval(&grams, Some(&[3, 3, 3, 3]), 0.95), None, "one unit");
        assert_eq!(distinct_interval(&Ngrams::new(&toks(&["a b"]), 1), None, 0.95), None);

        // s1-s4 are each in exactly two responses (even sets: +1/T² each), t1 in three (an odd
        // set: −1/T²), "all" in all twelve (too common to count): excess 3/T², noise 5/T⁴,
        // weight 1 − 5/9 of it comes off the jackknife.
        let lines = [
            "s1 a all",
            "s1 b b2 all",
            "s2 c all",
            "s2 d d2 d3 all",
            "s3 e all",
            "s3 f all",
            "s4 g g2 all",
            "s4 h all",
            "t1 i all",
            "t1 j j2 all",
            "t1 k all",
            "l l2 l3 l4 all",
        ];
        let grams = Ngrams::new(&toks(&lines), 1);
        let t2 = (grams.total() as f64).powi(2);
        let (excess, noise) = (4.0 / t2 - 1.0 / t2, 5.0 / (t2 * t2));
        let weight = 1.0 - noise / (excess * excess);
        let e = distinct_interval(&grams, None, 0.95).unwrap();
        let expected = brute_jackknife(&grams) - weight * excess;
        assert!(expected > 0.0 && (e.se.powi(2) - expected).abs() < 1e-15, "{e:?} {expected}");
    }

    #[test]
    fn a_unit_holds_its_responses_together() {
        // Each response twice, both copies in one unit: every left-out ratio and every excess
        // term is half the single corpus's, so the interval is half as wide around half the
        // point. Without the units the copies would count as shared n-grams.
        let mut rng = Stream::new(4);
        let lines: Vec<String> = (0..60)
            .map(|_| {
                (0..1 + rng.below(6))
                    .map(|_| format!("w{}", (50.0 * rng.unit().powi(2)) as u32))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let once = toks(&lines);
        let twice: Vec<Vec<String>> = once.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
        let units: Vec<u32> = (0..120).map(|i| i / 2).collect();
        for n in [1, 2] {
            let single = distinct_interval(&Ngrams::new(&once, n), None, 0.95).unwrap();
            let paired = distinct_interval(&Ngrams::new(&twice, n), Some(&units), 0.95).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b.abs();
            assert!(
                close(paired.value, single.value / 2.0) && close(paired.se, single.se / 2.0),
                "{single:?} {paired:?}"
            );
            assert!(close(paired.df, single.df) && single.se > 0.0);
            let apart = distinct_interval(&Ngrams::new(&twice, n), None, 0.95).unwrap();
            assert!((apart.se - paired.se).abs() > 1e-3 * paired.se, "{apart:?} {paired:?}");
        }
    }

    #[test]
    fn batch_mean_t_by_hand() {
        // Batch means 0.5, 0.75, 0 (the last batch short): mean 5/12, s² = 0.145833..,
        // se = sqrt(s²/3), t with 2 df = 4.302653 (printed tables).
        let values = [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0];
        let batch = [4, 4, 5, 5, 5, 5, 6];
        let e = batch_mean_t(&values, &batch, 0.95).unwrap();
        assert!((e.value - 5.0 / 12.0).abs() < 1e-15 && e.df == 2.0);
        let s2 = [0.5f64, 0.75, 0.0].iter().map(|m| (m - 5.0 / 12.0).powi(2)).sum::<f64>() / 2.0;
        assert!((e.se - (s2 / 3.0).sqrt()).abs() < 1e-15);
        assert!((e.interval.hi - e.value - 4.302_653 * e.se).abs() < 1e-5, "{e:?}");
        assert_eq!(batch_means(&values, &batch), vec![0.5, 0.75, 0.0]);
        assert_eq!(batch_mean_t(&values, &[1; 7], 0.95), None, "one batch");
        // Identical batches: no spread, a point interval.
        let flat = batch_mean_t(&[1.0, 0.0, 1.0, 0.0], &[0, 0, 1, 1], 0.95).unwrap();
        assert_eq!((flat.se, flat.interval), (0.0, Interval { lo: 0.5, hi: 0.5 }));
    }

    #[test]
    fn labels_are_numbered_by_first_appearance() {
        assert_eq!(dense_ids(&[7, 7, 3, 3, 7, 9]), (vec![0, 0, 1, 1, 0, 2], 3));
        assert_eq!(dense_ids(&[]), (vec![], 0));
    }
}
