//! Seeded resampling: a PCG-64 stream ([`Stream`]), resamples of `0..n` drawn with
//! replacement ([`Resampler`]), and the percentile interval of bootstrap values (Efron &
//! Tibshirani, 1993, §13.3): the `(1−level)/2` and `(1+level)/2` quantiles, interpolated
//! linearly between order statistics (numpy's default).

use rand_pcg::Pcg64;
use rand_pcg::rand_core::{Rng, SeedableRng};

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    /// The interval cut to the range `[min, max]` its statistic cannot leave.
    pub fn clamp(self, min: f64, max: f64) -> Interval {
        Interval { lo: self.lo.max(min), hi: self.hi.min(max) }
    }

    /// The interval in other units (`factor > 0`: 100 for a percentage).
    pub fn scale(self, factor: f64) -> Interval {
        Interval { lo: self.lo * factor, hi: self.hi * factor }
    }
}

/// A seeded PCG-64 stream: the same `seed` gives the same draws on every platform.
pub struct Stream(Pcg64);

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream(Pcg64::seed_from_u64(seed))
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        // Lemire's multiply-shift: unbiased enough for n far below 2^64, and portable.
        ((self.0.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Fills `out` with `n` indices of `0..n` drawn uniformly with replacement.
    pub fn resample(&mut self, n: usize, out: &mut Vec<usize>) {
        out.clear();
        out.extend((0..n).map(|_| self.below(n)));
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.0.next_u64() >> 63 == 1
    }
}

/// Draws resamples of `0..n`: the same `seed` gives the same resamples everywhere.
pub struct Resampler {
    stream: Stream,
    n: usize,
}

impl Resampler {
    pub fn new(n: usize, seed: u64) -> Resampler {
        Resampler { stream: Stream::new(seed), n }
    }

    /// Fills `out` with `n` indices drawn uniformly with replacement.
    pub fn draw(&mut self, out: &mut Vec<usize>) {
        self.stream.resample(self.n, out);
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
        assert!(i.contains(1.0) && i.contains(9.0) && !i.contains(9.5) && (i.width() - 8.0).abs() < 1e-12);
        let cut = Interval { lo: -0.5, hi: 0.4 }.clamp(0.0, 1.0);
        assert_eq!((cut, cut.scale(100.0)), (Interval { lo: 0.0, hi: 0.4 }, Interval { lo: 0.0, hi: 40.0 }));
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

    #[test]
    fn units_and_coins_are_fair() {
        let mut s = Stream::new(3);
        let units: Vec<f64> = (0..20_000).map(|_| s.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        // Mean 1/2 with sd 1/sqrt(12 * 20000) = 0.002; the deciles hold 2,000 ± 5 sd (≈ 212).
        let mean = units.iter().sum::<f64>() / units.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let mut deciles = [0usize; 10];
        units.iter().for_each(|u| deciles[(u * 10.0) as usize] += 1);
        assert!(deciles.iter().all(|&d| (1788..=2212).contains(&d)), "{deciles:?}");
        let heads = (0..20_000).filter(|_| s.coin()).count();
        assert!((9_650..=10_350).contains(&heads), "{heads}");
    }
}
