//! The published Table 2 (IAMM paper, ACL 2024), for side-by-side comparison.

use crate::Aspect;

/// One published row. The paper prints Win, Lose and kappa; Tie is not printed and is
/// taken as 100 − Win − Lose wherever it is shown.
#[derive(Debug, Clone, Copy)]
pub struct PaperRow {
    pub comparison: &'static str,
    pub aspect: Aspect,
    pub win: f64,
    pub lose: f64,
    pub kappa: f64,
}

impl PaperRow {
    /// 100 − Win − Lose (derived, not published).
    pub fn tie(&self) -> f64 {
        100.0 - self.win - self.lose
    }
}

pub const PAPER_TABLE2: [PaperRow; 6] = [
    PaperRow { comparison: "IAMM vs. ESCM", aspect: Aspect::Empathy, win: 23.5, lose: 20.0, kappa: 0.43 },
    PaperRow { comparison: "IAMM vs. ESCM", aspect: Aspect::Relevance, win: 24.4, lose: 22.7, kappa: 0.42 },
    PaperRow { comparison: "IAMM vs. ESCM", aspect: Aspect::Fluency, win: 18.0, lose: 16.8, kappa: 0.43 },
    PaperRow { comparison: "IAMM vs. SEEK", aspect: Aspect::Empathy, win: 33.6, lose: 20.2, kappa: 0.46 },
    PaperRow { comparison: "IAMM vs. SEEK", aspect: Aspect::Relevance, win: 41.2, lose: 16.8, kappa: 0.45 },
    PaperRow { comparison: "IAMM vs. SEEK", aspect: Aspect::Fluency, win: 18.5, lose: 16.5, kappa: 0.43 },
];
