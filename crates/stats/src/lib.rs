//! Statistics of the evaluation: the 95% intervals of the printed metrics and paired
//! significance tests between systems, over plain slices, seeded and deterministic.
//!
//! # Dist-n
//!
//! Dist-n, distinct n-grams over all n-grams of a corpus, falls as the corpus grows (more text
//! repeats more), so its interval is for **θ = the expected Dist-n of a corpus of as many units
//! drawn from the population the test corpus comes from**, a unit being a response or, where
//! responses come in groups (the turns of one conversation), a group. The corpus's own ratio is
//! one draw of that quantity, hence unbiased for it: the interval is `D ± t·se`, symmetric, and
//! always holds its point.
//!
//! The percentile bootstrap, which the evaluate stage used before, draws `n` responses with
//! replacement: a resample repeats about a third of them, so its ratio falls and the interval
//! lies below the point (in the simulations of `tests/coverage.rs` it covers θ in 0-22% of
//! corpora). Here nothing is duplicated; the variance comes from leaving units out:
//!
//! - **Jackknife.** `D_(u)` is the ratio without unit `u`: the n-grams found only in `u` leave,
//!   and so do `u`'s n-gram occurrences. `v_J = (m−1)/m · Σ_u (D_(u) − D_(·))²` over the `m`
//!   units.
//! - **Its excess.** Efron & Stein (1981): split a symmetric statistic of `m` independent units
//!   into interactions of `k` units (its ANOVA or Hoeffding decomposition, with variance parts
//!   `V_k`); then `E v_J ≈ Σ_k k·V_k`, the part of order `k` counted `k` times. A distinct
//!   count is made of interactions: an n-gram in `j` units leaves only when all `j` do. Let
//!   `Δ_B = Σ_{C⊆B} (−1)^|C| D_(C)`, the inclusion-exclusion difference of leaving out the set
//!   `B` of units; then `E Σ_{|B|=j} Δ_B² = Σ_k C(k,j)·V_k`, and as `Σ_{j≥2} (−1)^j C(k,j) = k−1`,
//!   the excess `Σ_k (k−1)·V_k` is the expectation of `Σ_{|B|≥2} (−1)^|B| Δ_B²`. For the
//!   distinct count `Δ_B = ±m_B`, `m_B` the number of n-grams whose set of units is exactly
//!   `B`; the n-gram total is a sum over units (no interactions), so for the ratio
//!   `Δ_B ≈ ±m_B / T` (`T` the n-gram total), and the excess is estimated by
//!   `E = Σ_{|B|≥2} (−1)^|B| m_B² / T²`: one pass over the corpus's n-grams grouped by the units
//!   they occur in. The variance is `v = v_J − w·E` (0 if negative), `w` below.
//! - **Noise.** When responses repeat, all n-grams of a response drawn two or three times form
//!   one block, and the excess swings by `m_B²` with the parity of `|B|`: its noise is about
//!   `Σ m_B⁴ / T⁴`. `E` (cut at 0: the excess is not negative) is subtracted with the
//!   positive-part James-Stein weight `w = (1 − noise / E²)⁺`: in full where it stands out of
//!   its noise, not at all (the plain, conservative jackknife) where it does not. N-grams found in more than 10 units
//!   are left out of it: such an n-gram is in practically every corpus, so its share of the
//!   variance is nil, while its term would only add noise (in a corpus of a few repeated
//!   responses, enough to swamp the rest).
//! - **Degrees of freedom.** The interval uses Student's t with Satterthwaite's degrees of
//!   freedom `2v² / Var(v)`, `Var(v)` estimated from the spread of the jackknife's terms and
//!   `w²·noise` (at most `m − 1`).
//!
//! In the simulations (`tests/coverage.rs`, `examples/coverage.rs`, the README's table) the
//! plain jackknife with a normal quantile covers θ in 95.6-98.4% of corpora, `v_J − E` (w = 1)
//! has a mean within 2% of the true variance at 300 responses, and the interval covers in
//! 93.8-96.6% of corpora of 100, 300, 1,000 and 5,259 responses. Where a small population is
//! saturated (every response type drawn many times, so that the variance rests on a few dozen
//! rare ones) the variance estimate is too noisy and coverage falls to 90-92% (the plain
//! jackknife's is 99%).
//!
//! # Acc
//!
//! The reference's Acc is the mean of the `B` test batches' accuracies (the last, shorter
//! batch weighs as much as a full one). Batches are consecutive examples, so a conversation's
//! examples (alike in emotion and context) share a batch but for the one at a border, and
//! batches are independent; the batch accuracies share their mean, so `s²/B`, `s²` their
//! sample variance, is unbiased for the variance of their mean even though the short batch
//! varies more. The interval is `value ± t_{B−1}·s/√B` ([`batch_mean_t`]): that of the printed
//! number, which the old example-level bootstrap was not.
//!
//! # Significance
//!
//! [`paired`]: approximate randomization and the paired bootstrap between two systems on the
//! same examples, for Acc, PPL and Dist-n, single runs or seed-averaged.

pub mod distributions;
pub mod intervals;
pub mod ngrams;
pub mod paired;
pub mod resample;

pub use intervals::{Estimate, batch_mean_t, batch_means, distinct_interval};
pub use ngrams::{DistinctCounter, Ngrams, intern};
pub use resample::{Interval, Resampler, Stream, percentile_interval, quantile};
