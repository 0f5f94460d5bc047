//! What the significance tests need of an evaluate stage's `responses` rows: per test example,
//! whether the emotion was right, the mean token NLL, the test batch and the response's tokens
//! as Dist-n counts them.

use iamm_tables::responses::Response;

/// One run's per-example outputs, in the table's (test set) order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    pub example_ids: Vec<u32>,
    /// `gold_emotion == pred_emotion`.
    pub correct: Vec<bool>,
    pub nll_mean: Vec<f64>,
    pub batch: Vec<u32>,
    /// `generated_tokens`: the response as Dist-n counts it.
    pub tokens: Vec<Vec<String>>,
}

impl Outputs {
    /// The outputs of a run's `responses` rows (as `iamm_tables::responses::read` gives them).
    pub fn of(rows: Vec<Response>) -> Outputs {
        let mut o = Outputs::default();
        for r in rows {
            o.example_ids.push(r.example_id);
            o.correct.push(r.gold == r.predicted);
            o.nll_mean.push(r.nll_mean());
            o.batch.push(r.batch);
            o.tokens.push(r.generated_tokens);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_the_tests_need() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows = vec![
            Response { example_id: 7, gold: 3, predicted: 3, nll_sum: 3.0, tokens: 2, generated_tokens: words(&["i", "see"]), ..Default::default() },
            Response { example_id: 3, gold: 4, predicted: 3, nll_sum: 8.0, tokens: 4, batch: 1, ..Default::default() },
        ];
        let o = Outputs::of(rows);
        assert_eq!(o.example_ids, [7, 3]);
        assert_eq!(o.correct, [true, false]);
        assert_eq!(o.nll_mean, [1.5, 2.0]);
        assert_eq!(o.batch, [0, 1]);
        assert_eq!(o.tokens, vec![words(&["i", "see"]), vec![]]);
    }
}
