//! `curves`, written by analysis (aggregated with polars): the top-k curves of the paper's
//! Figures 3 and 4, by attention count and by mean weight.

use arrow_array::RecordBatch;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_schema::{DataType, Schema};

use crate::TableError;
use crate::columns::{Reader, all_nullable, batch, declare, f64s, strings, u32s};

/// One point of a top-k curve: the mean intensity and IDF of the first `k` words of a
/// ranking, with the figure's reference lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurvePoint {
    pub k: u32,
    /// "count" or "weight".
    pub ranking: String,
    /// The k-th word, its count and mean weight.
    pub word: String,
    pub count: u32,
    pub mean_weight: f64,
    /// `None` when no word of the top k is in the lexicon (and such words are excluded).
    pub mean_intensity: Option<f64>,
    pub mean_idf: f64,
    /// Means over all distinct test words and over all associated words.
    pub all_words_intensity: Option<f64>,
    pub all_words_idf: f64,
    pub assoc_words_intensity: Option<f64>,
    pub assoc_words_idf: f64,
}

pub fn schema() -> Schema {
    use DataType::*;
    declare(
        &[
            ("k", UInt32),
            ("ranking", Utf8),
            ("word", Utf8),
            ("count", UInt32),
            ("mean_weight", Float64),
            ("mean_intensity", Float64),
            ("mean_idf", Float64),
            ("all_words_intensity", Float64),
            ("all_words_idf", Float64),
            ("assoc_words_intensity", Float64),
            ("assoc_words_idf", Float64),
        ],
        &["mean_intensity", "all_words_intensity", "assoc_words_intensity"],
    )
}

pub fn write(rows: &[CurvePoint]) -> Result<RecordBatch, TableError> {
    let columns = vec![
        u32s(rows.iter().map(|r| r.k)),
        strings(rows.iter().map(|r| r.ranking.as_str())),
        strings(rows.iter().map(|r| r.word.as_str())),
        u32s(rows.iter().map(|r| r.count)),
        f64s(rows.iter().map(|r| Some(r.mean_weight))),
        f64s(rows.iter().map(|r| r.mean_intensity)),
        f64s(rows.iter().map(|r| Some(r.mean_idf))),
        f64s(rows.iter().map(|r| r.all_words_intensity)),
        f64s(rows.iter().map(|r| Some(r.all_words_idf))),
        f64s(rows.iter().map(|r| r.assoc_words_intensity)),
        f64s(rows.iter().map(|r| Some(r.assoc_words_idf))),
    ];
    batch("curves", all_nullable(schema()), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<CurvePoint>, TableError> {
    let r = Reader::new(table_batch, table, "analysis", schema());
    let (k, count) = (r.primitive::<UInt32Type>("k")?, r.primitive::<UInt32Type>("count")?);
    let (ranking, word) = (r.strings("ranking")?, r.strings("word")?);
    let f = |name: &str| r.primitive::<Float64Type>(name);
    let (mean_weight, mean_idf, all_idf, assoc_idf) = (f("mean_weight")?, f("mean_idf")?, f("all_words_idf")?, f("assoc_words_idf")?);
    let o = |name: &str| r.optional::<Float64Type>(name);
    let (mean_intensity, all_intensity, assoc_intensity) = (o("mean_intensity")?, o("all_words_intensity")?, o("assoc_words_intensity")?);
    Ok((0..r.rows())
        .map(|i| CurvePoint {
            k: k.value(i),
            ranking: ranking.value(i).to_string(),
            word: word.value(i).to_string(),
            count: count.value(i),
            mean_weight: mean_weight.value(i),
            mean_intensity: mean_intensity[i],
            mean_idf: mean_idf.value(i),
            all_words_intensity: all_intensity[i],
            all_words_idf: all_idf.value(i),
            assoc_words_intensity: assoc_intensity[i],
            assoc_words_idf: assoc_idf.value(i),
        })
        .collect())
}
