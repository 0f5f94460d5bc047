//! `word_stats`, written by analysis (aggregated with polars): per associated word its
//! attention statistics, IDF and emotion intensity.

use std::sync::Arc;

use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{DataType, Schema};

use crate::TableError;
use crate::columns::{Reader, all_nullable, batch, declare, f64s, strings, u32s};

/// One associated word.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WordStat {
    pub word: String,
    /// Selections that name the word, and their mean and largest weight.
    pub count: u32,
    pub mean_weight: f64,
    pub max_weight: f64,
    /// IDF documents (dialogues) that contain it, and `ln(N / df)`.
    pub df: u32,
    pub idf: f64,
    /// `None` when the lexicon lacks the word and such words are excluded.
    pub intensity: Option<f64>,
    pub in_lexicon: bool,
}

pub fn schema() -> Schema {
    use DataType::*;
    declare(
        &[
            ("word", Utf8),
            ("count", UInt32),
            ("mean_weight", Float64),
            ("max_weight", Float64),
            ("df", UInt32),
            ("idf", Float64),
            ("intensity", Float64),
            ("in_lexicon", Boolean),
        ],
        &["intensity"],
    )
}

pub fn write(rows: &[WordStat]) -> Result<RecordBatch, TableError> {
    let columns = vec![
        strings(rows.iter().map(|r| r.word.as_str())),
        u32s(rows.iter().map(|r| r.count)),
        f64s(rows.iter().map(|r| Some(r.mean_weight))),
        f64s(rows.iter().map(|r| Some(r.max_weight))),
        u32s(rows.iter().map(|r| r.df)),
        f64s(rows.iter().map(|r| Some(r.idf))),
        f64s(rows.iter().map(|r| r.intensity)),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.in_lexicon)))),
    ];
    batch("word_stats", all_nullable(schema()), columns)
}

pub fn read(table_batch: &RecordBatch, table: &str) -> Result<Vec<WordStat>, TableError> {
    let r = Reader::new(table_batch, table, "analysis", schema());
    let (word, count, df) = (r.strings("word")?, r.primitive::<UInt32Type>("count")?, r.primitive::<UInt32Type>("df")?);
    let f = |name: &str| r.primitive::<Float64Type>(name);
    let (mean_weight, max_weight, idf) = (f("mean_weight")?, f("max_weight")?, f("idf")?);
    let intensity = r.optional::<Float64Type>("intensity")?;
    let in_lexicon = r.bools("in_lexicon")?;
    Ok((0..r.rows())
        .map(|i| WordStat {
            word: word.value(i).to_string(),
            count: count.value(i),
            mean_weight: mean_weight.value(i),
            max_weight: max_weight.value(i),
            df: df.value(i),
            idf: idf.value(i),
            intensity: intensity[i],
            in_lexicon: in_lexicon.value(i),
        })
        .collect())
}

