//! The paper's findings checked on our numbers, as a Markdown section for the report.

use std::fmt::Write as _;

use anyhow::Result;
use polars::prelude::*;

use crate::words::{Analysis, Missing, curve_points};

/// Associated words the paper collected on the test set (Section 4.4, Appendix C).
pub const PAPER_ASSOCIATED_WORDS: usize = 8012;

/// The top-k sizes the findings are checked at (those up to the number of words).
pub const CHECK_KS: [usize; 6] = [10, 25, 50, 100, 500, 1000];

/// Top-k means of both rankings at one `k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    pub k: usize,
    pub count_intensity: Option<f64>,
    pub count_idf: f64,
    pub weight_intensity: Option<f64>,
    pub weight_idf: f64,
}

impl Check {
    /// Paper finding 1: the most-attended words are common (IDF below the all-words mean) and
    /// low in emotion (intensity below it). `None` when intensity is unavailable.
    pub fn attended_common_and_calm(&self, avg_idf: f64, avg_intensity: Option<f64>) -> Option<bool> {
        let calm = lt(self.count_intensity, avg_intensity)?;
        Some(self.count_idf < avg_idf && calm)
    }
    /// Paper finding 2: the highest-weighted words are rare (IDF above the mean) or emotional
    /// (intensity above it).
    pub fn weighted_rare_or_emotional(&self, avg_idf: f64, avg_intensity: Option<f64>) -> bool {
        self.weight_idf > avg_idf || lt(avg_intensity, self.weight_intensity).unwrap_or(false)
    }
}

fn lt(a: Option<f64>, b: Option<f64>) -> Option<bool> {
    Some(a? < b?)
}

/// The checks at every `k` of [`CHECK_KS`] the curves reach (or at their last `k` when they
/// are shorter than 10).
pub fn checks(a: &Analysis) -> Result<Vec<Check>> {
    let count = curve_points(&a.curves, "count")?;
    let weight = curve_points(&a.curves, "weight")?;
    let n = count.len();
    let mut ks: Vec<usize> = CHECK_KS.iter().copied().filter(|&k| k <= n).collect();
    if ks.is_empty() && n > 0 {
        ks.push(n);
    }
    Ok(ks
        .into_iter()
        .map(|k| Check {
            k,
            count_intensity: count[k - 1].1,
            count_idf: count[k - 1].2,
            weight_intensity: weight[k - 1].1,
            weight_idf: weight[k - 1].2,
        })
        .collect())
}

/// What the section says about the run.
pub struct ReportInfo<'a> {
    pub lexicon: &'a str,
    pub lexicon_format: &'a str,
    pub missing: Missing,
    /// `test` or `train`.
    pub idf_corpus: &'a str,
    pub test_examples: usize,
    pub test_dialogues: usize,
    /// The train stage's variant.
    pub variant: &'a str,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.3}"))
}

/// word, count, mean weight, IDF, intensity (none when the lexicon lacks the word).
type TopWord = (String, u32, f64, f64, Option<f64>);

fn top_words(a: &Analysis, key: &str, n: usize) -> Result<Vec<TopWord>> {
    let opts = SortMultipleOptions::default().with_order_descending_multi([true, false]).with_maintain_order(true);
    let df = a.word_stats.clone().lazy().sort_by_exprs([col(key), col("word")], opts).limit(n as IdxSize).collect()?;
    let words = df.column("word")?.str()?.clone();
    let count = df.column("count")?.cast(&DataType::UInt32)?;
    let count = count.u32()?;
    let weight = df.column("mean_weight")?.f64()?.clone();
    let idf = df.column("idf")?.f64()?.clone();
    let intensity = df.column("intensity")?.f64()?.clone();
    Ok((0..df.height())
        .map(|i| {
            (
                words.get(i).unwrap_or_default().to_string(),
                count.get(i).unwrap_or(0),
                weight.get(i).unwrap_or(f64::NAN),
                idf.get(i).unwrap_or(f64::NAN),
                intensity.get(i),
            )
        })
        .collect())
}

/// The Markdown section: counts next to the paper's, the checks, verdicts, top words.
pub fn report_section(a: &Analysis, info: &ReportInfo) -> Result<String> {
    let mut s = String::new();
    let words = a.word_stats.height();
    let (avg_idf, avg_int) = (a.test.idf, a.test.intensity);
    writeln!(s, "## Associated words (paper Section 4.4, Appendix C, Figures 3 and 4)\n")?;
    writeln!(
        s,
        "Model variant `{}`, {} test examples from {} dialogues. The second-order interaction attention \
         (explicit memory: utterance–situation, utterance–history, utterance–memory pairs, both directions, \
         every head) made **{} selections of {} distinct words**; the paper reports **{} associated words** \
         on the test set.\n",
        info.variant, info.test_examples, info.test_dialogues, a.selections, words, PAPER_ASSOCIATED_WORDS
    )?;
    writeln!(
        s,
        "Emotion intensity: `{}` ({}), {} of {} associated words and {} of {} test words in the lexicon; \
         missing words {}. IDF: ln(N/df) with one document per {} dialogue (N = {}).\n",
        info.lexicon,
        info.lexicon_format,
        a.associated.in_lexicon,
        words,
        a.test.in_lexicon,
        a.test.words,
        match info.missing {
            Missing::Zero => "count as intensity 0",
            Missing::Exclude => "are left out of the intensity means",
        },
        info.idf_corpus,
        a.documents
    )?;
    writeln!(
        s,
        "All test words: mean intensity {}, mean IDF {:.3}. All associated words: mean intensity {}, mean IDF {:.3}.\n",
        opt(avg_int),
        avg_idf,
        opt(a.associated.intensity),
        a.associated.idf
    )?;
    let checks = checks(a)?;
    writeln!(s, "| top k | by count: intensity | by count: IDF | by weight: intensity | by weight: IDF |")?;
    writeln!(s, "|---|---|---|---|---|")?;
    for c in &checks {
        writeln!(
            s,
            "| {} | {} | {:.3} | {} | {:.3} |",
            c.k,
            opt(c.count_intensity),
            c.count_idf,
            opt(c.weight_intensity),
            c.weight_idf
        )?;
    }
    writeln!(s, "| all test words | {} | {:.3} | {} | {:.3} |\n", opt(avg_int), avg_idf, opt(avg_int), avg_idf)?;

    let f1: Vec<Option<bool>> = checks.iter().map(|c| c.attended_common_and_calm(avg_idf, avg_int)).collect();
    let f2: Vec<bool> = checks.iter().map(|c| c.weighted_rare_or_emotional(avg_idf, avg_int)).collect();
    let yes1 = f1.iter().filter(|v| **v == Some(true)).count();
    let known1 = f1.iter().filter(|v| v.is_some()).count();
    let yes2 = f2.iter().filter(|v| **v).count();
    let verdict = |yes: usize, of: usize| match (yes, of) {
        (_, 0) => "cannot be checked (no intensities)".to_string(),
        (y, o) if y == o => format!("**holds** at every k checked ({y} of {o})"),
        (0, o) => format!("**does not hold** at any k checked (0 of {o})"),
        (y, o) => format!("**holds only in part**: at {y} of {o} values of k"),
    };
    writeln!(
        s,
        "- Paper: \"the most frequently attended words are common words\" with \"relatively low emotion \
         intensity\" (red lines below the gray line in both figures). Ours: {}.",
        verdict(yes1, known1)
    )?;
    writeln!(
        s,
        "- Paper: the words \"assigned higher weights have either greater emotional intensity or are non-stop \
         words\" (blue lines above the gray line in at least one figure). Ours: {}.",
        verdict(yes2, checks.len())
    )?;
    if let Some(c) = checks.first() {
        writeln!(
            s,
            "- At k = {}: count-ranked words {} IDF {:.3} vs weight-ranked {:.3}; intensity {} vs {}.",
            c.k,
            if c.count_idf < c.weight_idf { "have the lower" } else { "do not have the lower" },
            c.count_idf,
            c.weight_idf,
            opt(c.count_intensity),
            opt(c.weight_intensity)
        )?;
    }
    writeln!(s)?;
    for (title, key) in [("most attended (count)", "count"), ("highest mean weight", "mean_weight")] {
        let top = top_words(a, key, 10)?;
        let list: Vec<String> = top
            .iter()
            .map(|(w, n, wt, idf, it)| format!("`{w}` ({n}×, w {wt:.3}, IDF {idf:.2}, int. {})", opt(*it)))
            .collect();
        writeln!(s, "Top words, {title}: {}.\n", list.join(", "))?;
    }
    writeln!(
        s,
        "Figures: `fig3_intensity.png` (Figure 3) and `fig4_idf.png` (Figure 4); tables `word_stats` and \
         `curves` (also as CSV)."
    )?;
    Ok(s)
}
