//! Fleiss' kappa and the exact two-sided sign (binomial) test.

/// Why Fleiss' kappa cannot be computed for a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KappaError {
    #[error("no subjects to rate")]
    Empty,
    #[error("fewer than two raters per subject")]
    TooFewRaters,
    #[error("subject {subject} has {found} ratings, subject 1 has {expected}: every subject needs the same number of raters")]
    UnequalRaters { subject: usize, found: u64, expected: u64 },
    #[error("every rating falls in one category, so chance agreement is 1 and kappa is undefined")]
    Undefined,
}

/// Fleiss' kappa for `counts[i][j]` = raters who put subject `i` in category `j`
/// (Fleiss 1971): kappa = (P̄ − P̄e) / (1 − P̄e), with P̄ the mean per-subject agreement
/// and P̄e the agreement expected from the pooled category proportions.
pub fn fleiss_kappa<R: AsRef<[u64]>>(counts: &[R]) -> Result<f64, KappaError> {
    let first = counts.first().ok_or(KappaError::Empty)?.as_ref();
    let n: u64 = first.iter().sum();
    if n < 2 {
        return Err(KappaError::TooFewRaters);
    }
    let k = first.len();
    let mut totals = vec![0u64; k];
    let mut agreement = 0.0;
    for (i, row) in counts.iter().enumerate() {
        let row = row.as_ref();
        let found: u64 = row.iter().sum();
        if found != n || row.len() != k {
            return Err(KappaError::UnequalRaters { subject: i + 1, found, expected: n });
        }
        let squares: u64 = row.iter().map(|c| c * c).sum();
        agreement += (squares - n) as f64 / (n * (n - 1)) as f64;
        for (t, c) in totals.iter_mut().zip(row) {
            *t += c;
        }
    }
    let subjects = counts.len() as f64;
    let p_bar = agreement / subjects;
    let all = subjects * n as f64;
    let p_e: f64 = totals.iter().map(|&t| (t as f64 / all).powi(2)).sum();
    if (1.0 - p_e).abs() < 1e-12 {
        return Err(KappaError::Undefined);
    }
    Ok((p_bar - p_e) / (1.0 - p_e))
}

/// The exact two-sided sign test of `wins` against `losses` (ties already dropped):
/// p = min(1, 2·P(X ≤ min(wins, losses))) for X ~ Binomial(wins + losses, 1/2).
/// With no untied pair there is no evidence either way: p = 1.
pub fn sign_test(wins: u64, losses: u64) -> f64 {
    let n = wins + losses;
    if n == 0 {
        return 1.0;
    }
    let k = wins.min(losses);
    // ln C(n, i) built up term by term: exact enough for thousands of judgements.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln2n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 10-subject, 14-rater, 5-category example of Fleiss (1971) as widely reproduced.
    const FLEISS_1971: [[u64; 5]; 10] = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ];

    #[test]
    fn fleiss_textbook_example() {
        // By hand: P̄ = 688/1820 = 172/455, P̄e = 4170/19600 = 417/1960,
        // kappa = (172/455 − 417/1960) / (1 − 417/1960) = 4211/20059.
        let k = fleiss_kappa(&FLEISS_1971).unwrap();
        assert!((k - 4211.0 / 20059.0).abs() < 1e-12, "{k}");
        assert!((k - 0.210).abs() < 1e-3, "{k}");
    }

    #[test]
    fn perfect_agreement_is_one() {
        let k = fleiss_kappa(&[[3u64, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]).unwrap();
        assert!((k - 1.0).abs() < 1e-12, "{k}");
    }

    #[test]
    fn small_case_by_hand() {
        // P_i = 1, 1/3, 0 -> P̄ = 4/9; proportions 4/9, 3/9, 2/9 -> P̄e = 29/81;
        // kappa = (36/81 − 29/81) / (52/81) = 7/52.
        let k = fleiss_kappa(&[[3u64, 0, 0], [0, 2, 1], [1, 1, 1]]).unwrap();
        assert!((k - 7.0 / 52.0).abs() < 1e-12, "{k}");
    }

    #[test]
    fn systematic_disagreement_is_negative() {
        // Two raters who always disagree between two categories: P̄ = 0, P̄e = 1/2, kappa = -1.
        let k = fleiss_kappa(&[[1u64, 1], [1, 1]]).unwrap();
        assert!((k + 1.0).abs() < 1e-12, "{k}");
    }

    #[test]
    fn kappa_refuses_bad_tables() {
        assert_eq!(fleiss_kappa::<[u64; 3]>(&[]), Err(KappaError::Empty));
        assert_eq!(fleiss_kappa(&[[1u64, 0, 0]]), Err(KappaError::TooFewRaters));
        assert_eq!(
            fleiss_kappa(&[[3u64, 0, 0], [2, 0, 0]]),
            Err(KappaError::UnequalRaters { subject: 2, found: 2, expected: 3 })
        );
        assert_eq!(fleiss_kappa(&[[3u64, 0, 0], [3, 0, 0]]), Err(KappaError::Undefined));
    }

    #[test]
    fn sign_test_by_hand() {
        // n = 10, 8 wins: 2·(C(10,0)+C(10,1)+C(10,2))/1024 = 2·56/1024.
        assert!((sign_test(8, 2) - 112.0 / 1024.0).abs() < 1e-12);
        assert!((sign_test(2, 8) - 112.0 / 1024.0).abs() < 1e-12);
        // n = 5, all wins: 2/32.
        assert!((sign_test(5, 0) - 0.0625).abs() < 1e-12);
        // n = 20, 3 losses: 2·(1+20+190+1140)/2^20.
        assert!((sign_test(17, 3) - 2702.0 / 1_048_576.0).abs() < 1e-15);
        // Balanced or empty: no evidence.
        assert_eq!(sign_test(6, 6), 1.0);
        assert_eq!(sign_test(0, 0), 1.0);
        // n = 3, 2 vs 1: 2·(1+3)/8 = 1 exactly.
        assert_eq!(sign_test(2, 1), 1.0);
        // Large n stays finite and symmetric.
        let p = sign_test(600, 400);
        assert!(p > 0.0 && p < 1e-9, "{p}");
        assert!((p - sign_test(400, 600)).abs() < 1e-20);
    }
}
