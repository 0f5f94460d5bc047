//! Percentile bootstrap over test examples (Efron & Tibshirani, 1993, §13.3): `B` resamples
//! of the `n` examples drawn with replacement from a seeded PCG-64 stream, the statistic on
//! each, and the interval between the `(1−level)/2` and `(1+level)/2` quantiles of the `B`
//! values (linear interpolation between order statistics, numpy's default).

use rand_pcg::Pcg64;
use rand_pcg::rand_core::{Rng, SeedableRng};

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Draws resamples of `0..n`: the same `seed` gives the same resamples everywhere.
pub struct Resampler {
    rng: Pcg64,
    n: usize,
}

impl Resampler {
    pub fn new(n: usize, seed: u64) -> Resampler {
        Resampler { rng: Pcg64::seed_from_u64(seed), n }
    }

    /// Fills `out` with `n` indices drawn uniformly with replacement.
    pub fn draw(&mut self, out: &mut Vec<usize>) {
        out.clear();
        for _ in 0..self.n {
            // Lemire's multiply-shift: unbiased enough for n far below 2^64, and portable.
            let x = self.rng.next_u64();
            out.push(((x as u128 * self.n as u128) >> 64) as usize);
        }
    }
}

/// The `q`-quantile (0 ≤ q ≤ 1) of `values` with linear interpolation (numpy "linear").
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    if lo + 1 < v.len() { v[lo] + frac * (v[lo + 1] - v[lo]) } else { v[lo] }
}

/// The percentile interval at `level` (0.95 for 95%) of bootstrap values.
pub fn percentile_interval(values: &[f64], level: f64) -> Interval {
    let tail = (1.0 - level) / 2.0;
    Interval { lo: quantile(values, tail), hi: quantile(values, 1.0 - tail) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 3, 4], 0.25) == 1.75; 0.975 of 0..=10 is 9.75
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.25), 1.75);
        let ten: Vec<f64> = (0..=10).map(f64::from).collect();
        assert!((quantile(&ten, 0.975) - 9.75).abs() < 1e-12);
        assert_eq!(quantile(&[5.0], 0.025), 5.0);
        let i = percentile_interval(&ten, 0.8);
        assert!((i.lo - 1.0).abs() < 1e-12 && (i.hi - 9.0).abs() < 1e-12, "{i:?}");
    }

    #[test]
    fn resamples_are_seeded_in_range_and_uniform() {
        let (mut a, mut b) = (Resampler::new(10, 7), Resampler::new(10, 7));
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut hist = [0usize; 10];
        for _ in 0..2000 {
            a.draw(&mut x);
            b.draw(&mut y);
            assert_eq!(x, y);
            assert_eq!(x.len(), 10);
            x.iter().for_each(|&i| hist[i] += 1);
        }
        // 20,000 draws over 10 cells: each within 10% of 2,000.
        assert!(hist.iter().all(|&h| (1800..=2200).contains(&h)), "{hist:?}");
        let mut c = Resampler::new(10, 8);
        c.draw(&mut y);
        a.draw(&mut x);
        assert_ne!(x, y, "another seed, other resamples");
    }
}
