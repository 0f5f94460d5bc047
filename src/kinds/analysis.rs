//! The associated-word analysis (paper Section 4.4, Appendix C): runs a trained model's
//! encoder over the test examples, records the words its second-order interaction attention
//! selects (`iamm_decode::associations`), and hands them to `iamm-analysis` (polars) for the
//! per-word statistics, the Figure 3/4 curves and the report section.
//!
//! Polars and arrow-rs meet only through Parquet files in a scratch folder.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, Float32Array, Int32Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::DataType;
use iamm_analysis::{AnalysisParams, IdfCorpus, Inputs, Lexicon, ReportInfo};
use iamm_decode::AssociationParams;
use iamm_decode::associations::{Association, Loc, direction_name};
use iamm_train::device::DeviceParams;
use serde_json::json;

use crate::params::Params;
use crate::schedule::Resources;
use super::Code;
use super::model_io::TEST_SET;
use crate::needs::Need;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Analysis;

iamm_options::options! {
    /// The analysis stage's params: what the words are measured against, then how the
    /// encoder runs over the test set.
    struct StageParams {
        ..analysis: AnalysisParams,
        ..encoder: AssociationParams,
        ..on: DeviceParams,
    }
}

const MODEL: Need = Need::One { kind: "train", what: "the model whose associations to analyse" };

impl StageKind for Analysis {
    fn kind(&self) -> &'static str {
        "analysis"
    }
    fn about(&self) -> &'static str {
        "associated words the model selects on the test set: per-word count, weight, IDF, emotion intensity; \
         the paper's Figures 3 and 4"
    }
    fn params(&self) -> &'static [ParamSpec] {
        StageParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::ANALYSIS
    }
    fn resources(&self, p: &Params) -> Resources {
        super::compute::resources(p, 2, 4096)
    }
    fn needs(&self) -> &'static [Need] {
        &[MODEL, TEST_SET]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = StageParams::from_values(ctx.params)?;
        // Inputs that can be wrong are checked before the model runs.
        let lexicon_path = &p.analysis.lexicon;
        let format = p.analysis.lexicon_format;
        let lexicon = Lexicon::load(lexicon_path, format).map_err(|e| anyhow!("param `lexicon`: {e}"))?;
        let missing = p.analysis.missing;
        let idf_corpus = p.analysis.idf_corpus;
        iamm_plot::font().context("the figures need a font")?;
        let device = p.on.device.open().map_err(|e| anyhow!(e))?;

        let (_, train) = ctx.one(&MODEL)?;
        let model = super::model_io::load_trained(train, &device)?;
        let variant = model.config().variant;
        if !variant.explicit() {
            bail!(
                "the train dep is the w/o EA variant: it has no explicit association memory, so there are no \
                 associated words to analyse; use a train stage with variant full, wo_ia or wo_ws"
            );
        }
        let (_, tokenized) = ctx.one(&TEST_SET)?;
        let words = super::model_io::vocab_words(tokenized, model.config().vocab_size)?;
        let test_table = tokenized.read_table("examples_test")?;
        let examples = iamm_train::tables::examples(&test_table, variant.implicit())
            .map_err(|e| anyhow!("examples_test: {e}"))?;
        let example_ids = u32_column(&test_table, "examples_test", "example_id")?;
        let conv_ids = str_column(&test_table, "examples_test", "conv_id")?;

        // Encoder over the test set, in batches of the examples' own order.
        let batch_size = p.encoder.batch_size;
        let batching = iamm_train::limits::Batching::Consecutive(batch_size);
        super::model_input::check_lengths("examples_test", &test_table, &examples, model.config().max_positions, batching)?;
        let bar = ctx.bar(examples.len() as u64, "encoding", "ex");
        let mut rows: Vec<Association> = Vec::new();
        for (chunk_no, chunk) in examples.chunks(batch_size).enumerate() {
            let refs: Vec<&iamm_train::Example> = chunk.iter().collect();
            let candle = super::model_input::candle_error;
            let batch = iamm_train::collate(&refs, &device).map_err(candle)?;
            let enc = model.encode(&batch).map_err(candle)?;
            let offset = chunk_no * batch_size;
            rows.extend(iamm_decode::associations::associations(&enc, &batch).map_err(candle)?.into_iter().map(|mut a| {
                a.example += offset;
                a
            }));
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let table = associations_table(&rows, &example_ids, &words)?;

        // IDF documents: one per dialogue, the words of its situation, utterances and response.
        let special = iamm_core::special::TOKENS.len() as u32;
        let dialogues = |exs: &[iamm_train::Example], convs: &[String]| -> Vec<Vec<String>> {
            let mut by_conv: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
            for (e, conv) in exs.iter().zip(convs) {
                let ids = by_conv.entry(conv.as_str()).or_default();
                let all = e.context.iter().flatten().chain(&e.situation).chain(&e.target);
                ids.extend(all.copied().filter(|&id| id >= special && (id as usize) < words.len()));
            }
            by_conv.into_values().map(|ids| ids.into_iter().map(|id| words[id as usize].clone()).collect()).collect()
        };
        let test_docs = dialogues(&examples, &conv_ids);
        let test_words: Vec<String> = test_docs.iter().flatten().cloned().collect();
        let idf_docs = if idf_corpus == IdfCorpus::Train {
            let train_table = tokenized.read_table("examples_train")?;
            let train = iamm_train::tables::examples(&train_table, false).map_err(|e| anyhow!("examples_train: {e}"))?;
            dialogues(&train, &str_column(&train_table, "examples_train", "conv_id")?)
        } else {
            test_docs.clone()
        };

        // arrow-rs → Parquet → polars, and back.
        let scratch = ctx.rows.join("analysis").join(ctx.key);
        std::fs::create_dir_all(&scratch)?;
        let result = (|| -> Result<StageOutput> {
            let info = crate::store::write_table(&scratch, "associations", &table)?;
            let associations = iamm_analysis::read_parquet(&scratch.join(&info.path))?;
            let mut a = iamm_analysis::analyse(&Inputs {
                associations,
                documents: &idf_docs,
                test_words: &test_words,
                lexicon: &lexicon,
                missing,
                top_k_max: p.analysis.top_k_max,
            })?;
            let mut tables = vec![("associations".to_string(), table.clone())];
            for (name, df) in [("word_stats", &mut a.word_stats), ("curves", &mut a.curves)] {
                iamm_analysis::write_csv(df, &ctx.out_dir.join(format!("{name}.csv")))?;
                let path = scratch.join(format!("{name}.parquet"));
                iamm_analysis::write_parquet(df, &path)?;
                tables.push((name.to_string(), plain_strings(crate::store::read_parquet(&path, None)?)?));
            }
            let figures = iamm_analysis::write_figures(&a, format.name(), ctx.out_dir)?;
            let variant_name = variant.name();
            let section = iamm_analysis::report_section(
                &a,
                &ReportInfo {
                    lexicon: &lexicon_path.display().to_string(),
                    lexicon_format: format.name(),
                    missing,
                    idf_corpus: idf_corpus.name(),
                    test_examples: examples.len(),
                    test_dialogues: test_docs.len(),
                    variant: variant_name,
                },
            )?;
            std::fs::write(ctx.out_dir.join("report_section.md"), &section)?;
            let checks: Vec<_> = iamm_analysis::report::checks(&a)?
                .iter()
                .map(|c| {
                    json!({
                        "k": c.k,
                        "count_intensity": c.count_intensity, "count_idf": c.count_idf,
                        "weight_intensity": c.weight_intensity, "weight_idf": c.weight_idf,
                        "attended_common_and_calm": c.attended_common_and_calm(a.test.idf, a.test.intensity),
                        "weighted_rare_or_emotional": c.weighted_rare_or_emotional(a.test.idf, a.test.intensity),
                    })
                })
                .collect();
            let means = |m: &iamm_analysis::Means| {
                json!({"words": m.words, "in_lexicon": m.in_lexicon, "intensity": m.intensity, "idf": m.idf})
            };
            let distinct = a.word_stats.height();
            Ok(StageOutput {
                tables,
                stats: json!({
                    "variant": variant_name,
                    "test_examples": examples.len(),
                    "test_dialogues": test_docs.len(),
                    "selections": a.selections,
                    "associated_words": distinct,
                    "paper_associated_words": iamm_analysis::PAPER_ASSOCIATED_WORDS,
                    "lexicon": lexicon_path.display().to_string(),
                    "lexicon_format": format.name(),
                    "lexicon_entries": lexicon.len(),
                    "missing": missing.name(),
                    "idf_corpus": idf_corpus.name(),
                    "idf_documents": a.documents,
                    "all_test_words": means(&a.test),
                    "all_associated_words": means(&a.associated),
                    "checks": checks,
                    "figures": figures,
                }),
                summary: format!(
                    "{} selections of {distinct} distinct words (paper: {}) over {} test examples",
                    a.selections,
                    iamm_analysis::PAPER_ASSOCIATED_WORDS,
                    examples.len()
                ),
            })
        })();
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }
}

fn u32_column(t: &RecordBatch, table: &str, name: &str) -> Result<Vec<u32>> {
    let c = t.column_by_name(name).with_context(|| format!("{table} has no column `{name}`"))?;
    let c = c.as_primitive_opt::<UInt32Type>().with_context(|| format!("{table}.{name} is not UInt32"))?;
    Ok(c.values().to_vec())
}

fn str_column(t: &RecordBatch, table: &str, name: &str) -> Result<Vec<String>> {
    let c = t.column_by_name(name).with_context(|| format!("{table} has no column `{name}`"))?;
    let c = c.as_string_opt::<i32>().with_context(|| format!("{table}.{name} is not text"))?;
    Ok((0..c.len()).map(|i| c.value(i).to_string()).collect())
}

/// The `associations` table (see the contract in the README): `example_id, pair, source,
/// direction, head, position, token_id, word, weight`, plus `unit` (the utterance whose pair
/// selected it), `utterance` (-1 = the situation) and `offset` (position in that sequence,
/// 0 = its `[CLS]`).
fn associations_table(rows: &[Association], example_ids: &[u32], words: &[String]) -> Result<RecordBatch> {
    let (utterance, offset): (Vec<i32>, Vec<u32>) = rows
        .iter()
        .map(|a| match a.loc {
            Loc::Situation(t) => (-1, t as u32),
            Loc::Utterance(u, t) => (u as i32, t as u32),
        })
        .unzip();
    let col = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    Ok(RecordBatch::try_from_iter([
        ("example_id", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|a| example_ids[a.example]))) as ArrayRef),
        ("pair", col(rows.iter().map(|a| a.pair.name()).collect())),
        ("source", col(rows.iter().map(|a| a.source.name()).collect())),
        ("direction", col(rows.iter().map(|a| direction_name(a.pair, a.direction)).collect())),
        ("head", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|a| a.head)))),
        ("position", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|a| a.position)))),
        ("token_id", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|a| a.token_id)))),
        ("word", col(rows.iter().map(|a| words[a.token_id as usize].as_str()).collect())),
        ("weight", Arc::new(Float32Array::from_iter_values(rows.iter().map(|a| a.weight)))),
        ("unit", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|a| a.unit)))),
        ("utterance", Arc::new(Int32Array::from(utterance))),
        ("offset", Arc::new(UInt32Array::from(offset))),
    ])?)
}

/// Polars writes text as large or view strings; the engine's tables use plain `Utf8`.
fn plain_strings(batch: RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(f.data_type(), DataType::LargeUtf8 | DataType::Utf8View) {
            columns.push(arrow_cast::cast(c, &DataType::Utf8)?);
            fields.push(f.as_ref().clone().with_data_type(DataType::Utf8));
        } else {
            columns.push(c.clone());
            fields.push(f.as_ref().clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)?)
}
