//! Per-word statistics of the associated words, IDF, emotion intensity and the top-k curves
//! of Figures 3 and 4 (polars).
//!
//! **IDF.** `idf(w) = ln(N / df(w))`, natural log, `N` documents, `df(w)` the documents that
//! contain `w` at least once. A **document is one dialogue** (one `conv_id`: its situation,
//! every utterance and the final response), as the paper's footnote reads ("the more common a
//! word is, the lower its IDF"): the test examples of one dialogue share their history, so
//! taking each example as a document would count a dialogue's words several times. Over the
//! training corpus (an option) a test word may occur in no training dialogue; it then counts
//! as occurring in one (`df = 1`, the rarest possible), so its IDF stays finite.
//!
//! **Intensity.** From a [`Lexicon`]; words the lexicon lacks count as 0 ([`Missing::Zero`],
//! the most neutral value, the default) or are left out of every intensity mean
//! ([`Missing::Exclude`]).
//!
//! **Curves.** Words are ranked by attention count (how many selections name them) and by mean
//! weight, both descending; **ties go to the word that sorts first** (byte order), so rankings
//! are deterministic. For each `k`, the mean intensity and mean IDF of the top `k` words.
//! The gray reference line is the mean over **all distinct words of the test set** (the
//! paper's "average ... of all words in the test set"); the curves end, at `k` = every
//! associated word, at the mean over all associated words (`assoc_words_*`).

use std::collections::BTreeSet;

use anyhow::{Context, Result, anyhow, bail};
use iamm_tables::associations::Association;
use iamm_tables::word_stats::WordStat;
use polars::prelude::*;

use crate::lexicon::Lexicon;

iamm_options::choices! {
    /// How words missing from the lexicon count in intensity means.
    pub enum Missing ("missing") {
        /// Intensity 0.
        Zero = "zero",
        /// No intensity: left out of the means (a top-k mean is over its words in the lexicon).
        Exclude = "exclude",
    }
}

/// What the analysis reads.
pub struct Inputs<'a> {
    /// One row per selection (the `associations` table); only the `explicit` ones are used.
    pub associations: &'a [Association],
    /// IDF documents, each the words it contains (repeats are fine).
    pub documents: &'a [Vec<String>],
    /// The words of the test set (repeats are fine): the all-words averages.
    pub test_words: &'a [String],
    pub lexicon: &'a Lexicon,
    pub missing: Missing,
    /// Longest `k` of the curves; 0 = every associated word.
    pub top_k_max: usize,
}

/// Means over a set of words (intensity `None` when no word of the set is in the lexicon and
/// missing words are excluded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Means {
    pub words: usize,
    pub in_lexicon: usize,
    pub intensity: Option<f64>,
    pub idf: f64,
}

#[derive(Debug, Clone)]
pub struct Analysis {
    /// `word, count u32, mean_weight, max_weight, df u32, idf, intensity (nullable),
    /// in_lexicon` sorted by count (desc), then word.
    pub word_stats: DataFrame,
    /// `k u32, ranking ("count" | "weight"), word (the k-th), count, mean_weight,
    /// mean_intensity, mean_idf, all_words_intensity, all_words_idf, assoc_words_intensity,
    /// assoc_words_idf`.
    pub curves: DataFrame,
    /// All distinct test words (the gray line).
    pub test: Means,
    /// All associated words.
    pub associated: Means,
    /// Selections (rows) analysed.
    pub selections: usize,
    /// IDF documents.
    pub documents: usize,
}

fn strings(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let c = df.column(name).map_err(|e| anyhow!("no column `{name}`: {e}"))?;
    let c = c.str().map_err(|e| anyhow!("column `{name}` is not text: {e}"))?;
    Ok(c.iter().flatten().map(str::to_string).collect())
}

/// Document frequency of every word: `word, df u32`.
fn document_frequencies(documents: &[Vec<String>]) -> Result<DataFrame> {
    let mut doc = Vec::new();
    let mut word = Vec::new();
    for (i, d) in documents.iter().enumerate() {
        for w in d {
            doc.push(i as u32);
            word.push(w.as_str());
        }
    }
    let long = DataFrame::new_infer_height(vec![Column::new("doc".into(), doc), Column::new("word".into(), word)])?;
    Ok(long
        .lazy()
        .unique(None, UniqueKeepStrategy::Any)
        .group_by([col("word")])
        .agg([len().alias("df")])
        .collect()?)
}

/// `word, df, idf, intensity, in_lexicon` for the given words.
fn word_attributes(words: &BTreeSet<String>, df: DataFrame, n_docs: usize, lexicon: &Lexicon, missing: Missing) -> Result<DataFrame> {
    let list: Vec<&str> = words.iter().map(String::as_str).collect();
    let found: Vec<Option<f64>> = list.iter().map(|w| lexicon.intensity(w)).collect();
    let in_lexicon: Vec<bool> = found.iter().map(Option::is_some).collect();
    let intensity: Vec<Option<f64>> = match missing {
        Missing::Zero => found.iter().map(|v| Some(v.unwrap_or(0.0))).collect(),
        Missing::Exclude => found,
    };
    let base = DataFrame::new_infer_height(vec![
        Column::new("word".into(), list),
        Column::new("intensity".into(), intensity),
        Column::new("in_lexicon".into(), in_lexicon),
    ])?;
    let df_col = col("df").fill_null(lit(0u32));
    Ok(base
        .lazy()
        .join(df.lazy(), [col("word")], [col("word")], JoinArgs::new(JoinType::Left))
        .with_columns([df_col.clone().alias("df")])
        .with_columns([(lit(n_docs as f64)
            / when(col("df").eq(lit(0u32))).then(lit(1.0)).otherwise(col("df").cast(DataType::Float64)))
        .log(lit(std::f64::consts::E))
        .alias("idf")])
        .select([col("word"), col("df"), col("idf"), col("intensity"), col("in_lexicon")])
        .collect()?)
}

fn means(attrs: &DataFrame) -> Result<Means> {
    let m = attrs
        .clone()
        .lazy()
        .select([
            len().alias("words"),
            col("in_lexicon").cast(DataType::UInt32).sum().alias("in_lexicon"),
            col("intensity").mean().alias("intensity"),
            col("idf").mean().alias("idf"),
        ])
        .collect()?;
    let f = |name: &str| -> Result<Option<f64>> { Ok(m.column(name)?.cast(&DataType::Float64)?.f64()?.get(0)) };
    Ok(Means {
        words: f("words")?.unwrap_or(0.0) as usize,
        in_lexicon: f("in_lexicon")?.unwrap_or(0.0) as usize,
        intensity: f("intensity")?,
        idf: f("idf")?.unwrap_or(f64::NAN),
    })
}

fn opt_lit(v: Option<f64>) -> Expr {
    match v {
        Some(v) => lit(v),
        None => lit(Null {}).cast(DataType::Float64),
    }
}

/// Runs the analysis.
pub fn analyse(inp: &Inputs) -> Result<Analysis> {
    let explicit = || inp.associations.iter().filter(|a| a.source == "explicit");
    let assoc = DataFrame::new_infer_height(vec![
        Column::new("word".into(), explicit().map(|a| a.word.as_str()).collect::<Vec<_>>()),
        Column::new("weight".into(), explicit().map(|a| f64::from(a.weight)).collect::<Vec<_>>()),
    ])?;
    let selections = assoc.height();
    if selections == 0 {
        bail!("no associated words to analyse (no explicit selections: is the model the w/o EA variant?)");
    }
    if inp.documents.is_empty() {
        bail!("no IDF documents");
    }

    let mut words: BTreeSet<String> = strings(&assoc, "word")?.into_iter().collect();
    let test_set: BTreeSet<String> = inp.test_words.iter().cloned().collect();
    words.extend(test_set.iter().cloned());
    let attrs = word_attributes(&words, document_frequencies(inp.documents)?, inp.documents.len(), inp.lexicon, inp.missing)?;

    let by_count = SortMultipleOptions::default().with_order_descending_multi([true, false]).with_maintain_order(true);
    let word_stats = assoc
        .lazy()
        .group_by([col("word")])
        .agg([
            len().alias("count"),
            col("weight").mean().alias("mean_weight"),
            col("weight").max().alias("max_weight"),
        ])
        .join(attrs.clone().lazy(), [col("word")], [col("word")], JoinArgs::new(JoinType::Left))
        .sort_by_exprs([col("count"), col("word")], by_count.clone())
        .collect()?;

    let test_frame =
        DataFrame::new_infer_height(vec![Column::new("word".into(), test_set.iter().map(String::as_str).collect::<Vec<_>>())])?;
    let test_attrs =
        attrs.lazy().join(test_frame.lazy(), [col("word")], [col("word")], JoinArgs::new(JoinType::Inner)).collect()?;
    let test = means(&test_attrs)?;
    let associated = means(&word_stats)?;

    let n = word_stats.height();
    let k_max = if inp.top_k_max == 0 { n } else { inp.top_k_max.min(n) };
    let mut curves: Option<DataFrame> = None;
    for (ranking, key) in [("count", "count"), ("weight", "mean_weight")] {
        let known = col("intensity").is_not_null().cast(DataType::Float64).cum_sum(false);
        let total = col("intensity").fill_null(lit(0.0)).cum_sum(false);
        let c = word_stats
            .clone()
            .lazy()
            .sort_by_exprs([col(key), col("word")], by_count.clone())
            .with_row_index("k", Some(1))
            .with_columns([
                when(known.clone().gt(lit(0.0))).then(total / known).otherwise(opt_lit(None)).alias("mean_intensity"),
                (col("idf").cum_sum(false) / col("k").cast(DataType::Float64)).alias("mean_idf"),
            ])
            .limit(k_max as IdxSize)
            .select([
                col("k"),
                lit(ranking).alias("ranking"),
                col("word"),
                col("count"),
                col("mean_weight"),
                col("mean_intensity"),
                col("mean_idf"),
                opt_lit(test.intensity).alias("all_words_intensity"),
                lit(test.idf).alias("all_words_idf"),
                opt_lit(associated.intensity).alias("assoc_words_intensity"),
                lit(associated.idf).alias("assoc_words_idf"),
            ])
            .collect()?;
        curves = Some(match curves {
            None => c,
            Some(mut acc) => {
                acc.vstack_mut(&c)?;
                acc
            }
        });
    }
    Ok(Analysis {
        word_stats,
        curves: curves.expect("two rankings"),
        test,
        associated,
        selections,
        documents: inp.documents.len(),
    })
}

impl Analysis {
    /// The `word_stats` table's rows.
    pub fn word_stat_rows(&self) -> Result<Vec<WordStat>> {
        let c = Cells::new(&self.word_stats, "word_stats");
        let (word, count, df) = (c.strings("word")?, c.u32s("count")?, c.u32s("df")?);
        let (mean_weight, max_weight, idf, intensity) = (c.f64s("mean_weight")?, c.f64s("max_weight")?, c.f64s("idf")?, c.f64s("intensity")?);
        let in_lexicon = c.bools("in_lexicon")?;
        (0..self.word_stats.height())
            .map(|i| {
                Ok(WordStat {
                    word: c.get("word", i, word.get(i))?.to_string(),
                    count: c.get("count", i, count.get(i))?,
                    mean_weight: c.get("mean_weight", i, mean_weight.get(i))?,
                    max_weight: c.get("max_weight", i, max_weight.get(i))?,
                    df: c.get("df", i, df.get(i))?,
                    idf: c.get("idf", i, idf.get(i))?,
                    intensity: intensity.get(i),
                    in_lexicon: c.get("in_lexicon", i, in_lexicon.get(i))?,
                })
            })
            .collect()
    }

    /// The `curves` table's rows.
    pub fn curve_rows(&self) -> Result<Vec<iamm_tables::curves::CurvePoint>> {
        let c = Cells::new(&self.curves, "curves");
        let (k, ranking, word, count) = (c.u32s("k")?, c.strings("ranking")?, c.strings("word")?, c.u32s("count")?);
        let (mean_weight, mean_intensity, mean_idf) = (c.f64s("mean_weight")?, c.f64s("mean_intensity")?, c.f64s("mean_idf")?);
        let (all_intensity, all_idf) = (c.f64s("all_words_intensity")?, c.f64s("all_words_idf")?);
        let (assoc_intensity, assoc_idf) = (c.f64s("assoc_words_intensity")?, c.f64s("assoc_words_idf")?);
        (0..self.curves.height())
            .map(|i| {
                Ok(iamm_tables::curves::CurvePoint {
                    k: c.get("k", i, k.get(i))?,
                    ranking: c.get("ranking", i, ranking.get(i))?.to_string(),
                    word: c.get("word", i, word.get(i))?.to_string(),
                    count: c.get("count", i, count.get(i))?,
                    mean_weight: c.get("mean_weight", i, mean_weight.get(i))?,
                    mean_intensity: mean_intensity.get(i),
                    mean_idf: c.get("mean_idf", i, mean_idf.get(i))?,
                    all_words_intensity: all_intensity.get(i),
                    all_words_idf: c.get("all_words_idf", i, all_idf.get(i))?,
                    assoc_words_intensity: assoc_intensity.get(i),
                    assoc_words_idf: c.get("assoc_words_idf", i, assoc_idf.get(i))?,
                })
            })
            .collect()
    }
}

/// Typed columns of one of the analysis' frames, whose errors name the frame.
struct Cells<'a> {
    df: &'a DataFrame,
    name: &'static str,
}

impl<'a> Cells<'a> {
    fn new(df: &'a DataFrame, name: &'static str) -> Self {
        Cells { df, name }
    }
    fn column(&self, column: &str) -> Result<&'a Column> {
        self.df.column(column).map_err(|e| anyhow!("{}: no column `{column}`: {e}", self.name))
    }
    fn strings(&self, column: &str) -> Result<&'a StringChunked> {
        Ok(self.column(column)?.str()?)
    }
    fn u32s(&self, column: &str) -> Result<&'a UInt32Chunked> {
        Ok(self.column(column)?.u32()?)
    }
    fn f64s(&self, column: &str) -> Result<&'a Float64Chunked> {
        Ok(self.column(column)?.f64()?)
    }
    fn bools(&self, column: &str) -> Result<&'a BooleanChunked> {
        Ok(self.column(column)?.bool()?)
    }
    /// A value the analysis always computes.
    fn get<T>(&self, column: &str, row: usize, value: Option<T>) -> Result<T> {
        value.with_context(|| format!("{}, row {row}: `{column}` is null", self.name))
    }
}

/// One point of a curve: k, mean intensity (none when no top-k word is in the lexicon), mean IDF.
pub type CurvePoint = (f64, Option<f64>, f64);

/// The points of one ranking's curve.
pub fn curve_points(curves: &DataFrame, ranking: &str) -> Result<Vec<CurvePoint>> {
    let c = curves.clone().lazy().filter(col("ranking").eq(lit(ranking))).collect()?;
    let f = |name: &str| -> Result<Vec<Option<f64>>> {
        Ok(c.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
    };
    let (k, i, d) = (f("k")?, f("mean_intensity")?, f("mean_idf")?);
    Ok(k.into_iter()
        .zip(i)
        .zip(d)
        .map(|((k, i), d)| (k.unwrap_or(f64::NAN), i, d.unwrap_or(f64::NAN)))
        .collect())
}

/// Writes `df` as CSV with a header, for people to open in a spreadsheet: every text cell goes
/// through [`iamm_csv::neutralise_formula`] (a word such as `=sum` or `-2+3` from the test
/// dialogues would otherwise be read as a formula); numbers are written as they are, and `df`
/// (and so the Parquet tables) keeps the exact text.
pub fn write_csv(df: &mut DataFrame, path: &std::path::Path) -> Result<()> {
    let mut columns = df.columns().to_vec();
    for column in &mut columns {
        if column.dtype() == &DataType::String {
            let safe = column.str()?.apply_into_string_amortized(|s, buf| buf.push_str(&iamm_csv::neutralise_formula(s)));
            *column = safe.into_column();
        }
    }
    let mut safe = DataFrame::new(df.height(), columns)?;
    let mut file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    CsvWriter::new(&mut file)
        .include_header(true)
        .finish(&mut safe)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}
