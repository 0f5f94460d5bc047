//! The report stage's params: which significance test, with how many resamples and which seed.

use iamm_options::ParamType;
use iamm_stats::paired::{Method, TestOptions};

iamm_options::choices! {
    /// The paired test between IAMM and each other system.
    pub enum Significance ("significance test") {
        Randomization = "randomization",
        Bootstrap = "bootstrap",
        Off = "none",
    }
}

iamm_options::options! {
    /// What the report computes beyond the tables.
    pub struct ReportParams {
        significance: Significance = "randomization", Key,
            "paired test of IAMM against each other system per Table 1 metric, on the responses of the same test \
             examples: approximate randomization (valid for Dist-n), the paired bootstrap, or none";
        resamples: usize [ParamType::Int { min: 1, max: 100_000_000 }] = 10000, Key,
            "shuffles (randomization) or resamples (bootstrap) per test; the smallest p-value is 1/(resamples+1)";
        seed: u64 [ParamType::Int { min: 0, max: i64::MAX }] = 0, Key, "seeds the shuffles or resamples";
    }
}

impl ReportParams {
    /// The tests' settings, `None` when they are off.
    pub fn tests(&self) -> Option<TestOptions> {
        let method = match self.significance {
            Significance::Randomization => Method::Randomization,
            Significance::Bootstrap => Method::Bootstrap,
            Significance::Off => return None,
        };
        Some(TestOptions { method, resamples: self.resamples, seed: self.seed })
    }
}

/// The param word of a test method, as `significance:` takes it.
pub fn method_word(m: Method) -> &'static str {
    match m {
        Method::Randomization => Significance::Randomization.name(),
        Method::Bootstrap => Significance::Bootstrap.name(),
    }
}
