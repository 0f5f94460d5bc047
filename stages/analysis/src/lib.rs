//! The **analysis** stage's library: the associated-word analysis of the IAMM paper
//! (Section 4.4, Appendix C, Figures 3 and 4), aggregated with polars.
//!
//! Input: one row per associated-word selection (the `associations` table's rows, traced by
//! `iamm_decode::associations`), the IDF documents, the test vocabulary and an emotion lexicon.
//! Output: per-word statistics ([`Analysis::word_stats`]), the top-k curves
//! ([`Analysis::curves`]), the two figures ([`write_figures`]) and a Markdown section that
//! checks the paper's findings on our numbers ([`report_section`]).
//!
//! Polars has its own Arrow implementation: the rows go into its frames and come out of them
//! as the `word_stats` and `curves` tables' rows ([`Analysis::word_stat_rows`],
//! [`Analysis::curve_rows`]), in memory.
//!
//! - [`lexicon`]: NRC Emotion Intensity (max over emotions) and KEMP over NRC VAD.
//! - [`words`]: IDF (document = one dialogue), intensity, per-word stats, curves.

pub mod figures;
pub mod lexicon;
mod params;
pub mod report;
pub mod words;

pub use figures::write_figures;
pub use lexicon::{Lexicon, LexiconError, LexiconFormat};
pub use params::{AnalysisParams, IdfCorpus};
pub use report::{PAPER_ASSOCIATED_WORDS, ReportInfo, report_section};
pub use words::{Analysis, Inputs, Means, Missing, analyse, write_csv};

#[cfg(test)]
mod tests {
    use super::*;
    use iamm_tables::associations::Association;
    use polars::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn docs(d: &[&[&str]]) -> Vec<Vec<String>> {
        d.iter().map(|x| x.iter().map(|w| w.to_string()).collect()).collect()
    }

    fn lexicon() -> Lexicon {
        // "that" is not in it
        Lexicon::parse("sad\tsadness\t0.8\nsad\tfear\t0.2\nday\tjoy\t0.1\ncar\tfear\t0.4\n", "t.txt", LexiconFormat::NrcIntensity)
            .unwrap()
    }

    /// An association row of `word` with `weight` from the `source` memory.
    fn selection(word: &str, weight: f32, source: &str) -> Association {
        Association { word: word.into(), weight, source: source.into(), ..Association::default() }
    }

    /// Selections: that ×3 (weights .1 .2 .3), day ×2 (.5 .5), sad ×1 (.9), car ×2 (.5 .7),
    /// plus an implicit row that must be ignored.
    fn associations() -> Vec<Association> {
        let rows = [
            ("that", 0.1, "explicit"),
            ("sad", 0.9, "explicit"),
            ("that", 0.2, "explicit"),
            ("day", 0.5, "explicit"),
            ("car", 0.5, "explicit"),
            ("that", 0.3, "explicit"),
            ("day", 0.5, "explicit"),
            ("car", 0.7, "explicit"),
            ("sad", 0.0, "implicit"),
        ];
        rows.iter().map(|&(w, x, s)| selection(w, x, s)).collect()
    }

    /// 4 dialogues: df(that) = 4, df(day) = 2, df(sad) = 1, df(car) = 2, df(home) = 1.
    fn documents() -> Vec<Vec<String>> {
        docs(&[&["that", "sad", "that"], &["that", "day", "car"], &["that", "day"], &["that", "car", "home"]])
    }

    fn run(missing: Missing, top_k_max: usize) -> Analysis {
        let d = documents();
        let test_words: Vec<String> = d.iter().flatten().cloned().collect();
        let lx = lexicon();
        analyse(&Inputs { associations: &associations(), documents: &d, test_words: &test_words, lexicon: &lx, missing, top_k_max })
            .unwrap()
    }

    fn col_f64(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
        df.column(name).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().iter().collect()
    }

    fn col_str(df: &DataFrame, name: &str) -> Vec<String> {
        df.column(name).unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect()
    }

    #[test]
    fn word_stats_idf_and_intensity_by_hand() {
        let a = run(Missing::Zero, 0);
        assert_eq!(a.selections, 8, "the implicit row is left out");
        assert_eq!(a.documents, 4);
        let ws = &a.word_stats;
        // count desc, ties (day, car: 2) by word
        assert_eq!(col_str(ws, "word"), ["that", "car", "day", "sad"]);
        assert_eq!(col_f64(ws, "count"), [Some(3.0), Some(2.0), Some(2.0), Some(1.0)]);
        // weights are f32 in the table
        let near = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-6;
        let mw = col_f64(ws, "mean_weight");
        assert!(near(mw[0], 0.2) && near(mw[1], 0.6) && near(mw[2], 0.5) && near(mw[3], 0.9), "{mw:?}");
        let mx = col_f64(ws, "max_weight");
        assert!(near(mx[0], 0.3) && near(mx[1], 0.7) && near(mx[3], 0.9), "{mx:?}");
        let idf = col_f64(ws, "idf");
        let ln = |x: f64| x.ln();
        for (got, want) in idf.iter().zip([0.0, ln(2.0), ln(2.0), ln(4.0)]) {
            assert!(close(got.unwrap(), want), "{idf:?}");
        }
        // max over emotions; "that" missing → 0
        assert_eq!(col_f64(ws, "intensity"), [Some(0.0), Some(0.4), Some(0.1), Some(0.8)]);
        // all test words: that, sad, day, car, home → intensity (0 + .8 + .1 + .4 + 0)/5,
        // IDF (0 + ln4 + ln2 + ln2 + ln4)/5
        assert_eq!(a.test.words, 5);
        assert_eq!(a.test.in_lexicon, 3);
        assert!(close(a.test.intensity.unwrap(), 1.3 / 5.0));
        assert!(close(a.test.idf, (2.0 * ln(4.0) + 2.0 * ln(2.0)) / 5.0));
        assert!(close(a.associated.intensity.unwrap(), 1.3 / 4.0));
    }

    #[test]
    fn curves_by_hand() {
        let a = run(Missing::Zero, 0);
        let c = &a.curves;
        assert_eq!(c.height(), 8);
        let rank = col_str(c, "ranking");
        assert_eq!(rank, ["count", "count", "count", "count", "weight", "weight", "weight", "weight"]);
        // by count: that, car, day, sad; by mean weight: sad .9, car .6, day .5, that .2
        assert_eq!(col_str(c, "word"), ["that", "car", "day", "sad", "sad", "car", "day", "that"]);
        assert_eq!(col_f64(c, "k"), [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0].map(Some));
        let mi = col_f64(c, "mean_intensity");
        let want = [0.0, 0.2, 0.5 / 3.0, 1.3 / 4.0, 0.8, 0.6, 1.3 / 3.0, 1.3 / 4.0];
        for (g, w) in mi.iter().zip(want) {
            assert!(close(g.unwrap(), w), "{mi:?}");
        }
        let l2 = 2f64.ln();
        let md = col_f64(c, "mean_idf");
        let want = [0.0, l2 / 2.0, 2.0 * l2 / 3.0, 4.0 * l2 / 4.0, 2.0 * l2, 3.0 * l2 / 2.0, 4.0 * l2 / 3.0, 1.0 * l2];
        for (g, w) in md.iter().zip(want) {
            assert!(close(g.unwrap(), w), "{md:?}");
        }
        // at k = all words both curves end at the associated-words mean
        let assoc_i = col_f64(c, "assoc_words_intensity")[0].unwrap();
        let assoc_d = col_f64(c, "assoc_words_idf")[0].unwrap();
        assert!(close(mi[3].unwrap(), assoc_i) && close(mi[7].unwrap(), assoc_i));
        assert!(close(md[3].unwrap(), assoc_d) && close(md[7].unwrap(), assoc_d));
        assert!(close(col_f64(c, "all_words_intensity")[0].unwrap(), 1.3 / 5.0));
        // top_k_max cuts both curves
        assert_eq!(run(Missing::Zero, 2).curves.height(), 4);
        assert_eq!(run(Missing::Zero, 99).curves.height(), 8);
    }

    #[test]
    fn missing_words_can_be_excluded() {
        let a = run(Missing::Exclude, 0);
        assert_eq!(col_f64(&a.word_stats, "intensity")[0], None, "that");
        let mi = col_f64(&a.curves, "mean_intensity");
        // by count: [that] has no known word; [that, car] → .4; [that, car, day] → .25
        assert_eq!(mi[0], None);
        assert!(close(mi[1].unwrap(), 0.4) && close(mi[2].unwrap(), 0.25) && close(mi[3].unwrap(), 1.3 / 3.0));
        assert!(close(a.test.intensity.unwrap(), 1.3 / 3.0));
        assert!(close(a.associated.intensity.unwrap(), 1.3 / 3.0));
    }

    #[test]
    fn ties_rank_by_word_whatever_the_input_order() {
        // every word once, same weight: both rankings are alphabetical
        let words = ["delta", "alpha", "charlie", "bravo"];
        let mk = |order: &[usize]| order.iter().map(|&i| selection(words[i], 0.5, "explicit")).collect::<Vec<_>>();
        let d = docs(&[&["alpha", "bravo", "charlie", "delta"]]);
        let lx = lexicon();
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let a = analyse(&Inputs {
                associations: &mk(&order),
                documents: &d,
                test_words: &d[0],
                lexicon: &lx,
                missing: Missing::Zero,
                top_k_max: 0,
            })
            .unwrap();
            let w = col_str(&a.curves, "word");
            assert_eq!(w, ["alpha", "bravo", "charlie", "delta", "alpha", "bravo", "charlie", "delta"]);
        }
    }

    #[test]
    fn idf_over_another_corpus_gives_unseen_words_df_1() {
        let train = docs(&[&["that", "day"], &["that"]]);
        let test_words: Vec<String> = documents().into_iter().flatten().collect();
        let lx = lexicon();
        let a = analyse(&Inputs {
            associations: &associations(),
            documents: &train,
            test_words: &test_words,
            lexicon: &lx,
            missing: Missing::Zero,
            top_k_max: 0,
        })
        .unwrap();
        // that: df 2 → 0; car: unseen → ln 2; day: df 1 → ln 2; sad: unseen → ln 2
        let idf = col_f64(&a.word_stats, "idf");
        assert_eq!(col_f64(&a.word_stats, "df"), [Some(2.0), Some(0.0), Some(1.0), Some(0.0)]);
        for (g, w) in idf.iter().zip([0.0, 2f64.ln(), 2f64.ln(), 2f64.ln()]) {
            assert!(close(g.unwrap(), w), "{idf:?}");
        }
    }

    #[test]
    fn report_states_the_checks() {
        let a = run(Missing::Zero, 0);
        let checks = report::checks(&a).unwrap();
        // 4 words: one check, at k = 4 (both rankings end at the associated mean)
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].k, 4);
        let md = report_section(
            &a,
            &ReportInfo {
                lexicon: "t.txt",
                lexicon_format: "nrc_intensity",
                missing: Missing::Zero,
                idf_corpus: "test",
                test_examples: 5,
                test_dialogues: 4,
                variant: "full",
            },
        )
        .unwrap();
        assert!(md.contains("**8 selections of 4 distinct words**") && md.contains("8012"), "{md}");
        assert!(md.contains("Top words, most attended (count): `that` (3×"), "{md}");
    }

    #[test]
    fn tables_come_out_as_rows_and_csv() {
        let mut a = run(Missing::Exclude, 0);
        let stats = a.word_stat_rows().unwrap();
        assert_eq!(stats.iter().map(|w| w.word.as_str()).collect::<Vec<_>>(), col_str(&a.word_stats, "word"));
        assert_eq!((stats[0].count, stats[0].df, stats[0].intensity, stats[0].in_lexicon), (3, 4, None, false));
        assert_eq!(stats.iter().map(|w| Some(w.idf)).collect::<Vec<_>>(), col_f64(&a.word_stats, "idf"));
        let curves = a.curve_rows().unwrap();
        assert_eq!(curves.len(), a.curves.height());
        assert_eq!(curves.iter().map(|c| c.mean_intensity).collect::<Vec<_>>(), col_f64(&a.curves, "mean_intensity"));
        assert_eq!((curves[4].k, curves[4].ranking.as_str(), curves[4].word.as_str()), (1, "weight", "sad"));

        let dir = tempfile::tempdir().unwrap();
        write_csv(&mut a.curves, &dir.path().join("c.csv")).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("c.csv")).unwrap();
        assert!(csv.starts_with("k,ranking,word,count,mean_weight,mean_intensity,mean_idf,"), "{csv}");
        assert_eq!(csv.lines().count(), 9);
    }
}
