//! The associated-word analysis (paper Section 4.4, Appendix C): traces a trained model's
//! encoder over the test examples (`iamm_decode::associations::trace`), publishes the words
//! its second-order interaction attention selects, and hands them to `iamm-analysis` (polars,
//! in memory) for the per-word statistics, the Figure 3/4 curves and the report section.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, anyhow, bail};
use iamm_analysis::{AnalysisParams, IdfCorpus, Inputs, Lexicon, ReportInfo};
use iamm_decode::AssociationParams;
use iamm_decode::associations::{Loc, direction_name};
use iamm_tables::associations::Association;
use iamm_tables::token_examples::TokenExample;
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
        let test = iamm_tables::token_examples::read(&tokenized.read_table("examples_test")?, "examples_test", variant.implicit())?;

        // Encoder over the test set, in batches of the examples' own order.
        let batch_size = p.encoder.batch_size;
        let batching = iamm_train::limits::Batching::Consecutive(batch_size);
        super::model_input::check_lengths("examples_test", &test, model.config().max_positions, batching)?;
        let bar = ctx.bar(test.len() as u64, "encoding", "ex");
        let examples: Vec<&iamm_train::Example> = test.iter().map(|r| &r.example).collect();
        let traced = iamm_decode::associations::trace(&model, &examples, batch_size, &device, &mut |n| bar.inc(n as u64))
            .map_err(super::model_input::candle_error)?;
        bar.finish_and_clear();
        let associations: Vec<Association> = traced.iter().map(|a| association(a, &test, &words)).collect();

        // IDF documents: one per dialogue, the words of its situation, utterances and response.
        let special = iamm_core::special::TOKENS.len() as u32;
        let dialogues = |rows: &[TokenExample]| -> Vec<Vec<String>> {
            let mut by_conv: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
            for r in rows {
                let ids = by_conv.entry(r.conv_id.as_str()).or_default();
                let e = &r.example;
                let all = e.context.iter().flatten().chain(&e.situation).chain(&e.target);
                ids.extend(all.copied().filter(|&id| id >= special && (id as usize) < words.len()));
            }
            by_conv.into_values().map(|ids| ids.into_iter().map(|id| words[id as usize].clone()).collect()).collect()
        };
        let test_docs = dialogues(&test);
        let test_words: Vec<String> = test_docs.iter().flatten().cloned().collect();
        let idf_docs = if idf_corpus == IdfCorpus::Train {
            dialogues(&iamm_tables::token_examples::read(&tokenized.read_table("examples_train")?, "examples_train", false)?)
        } else {
            test_docs.clone()
        };

        let mut a = iamm_analysis::analyse(&Inputs {
            associations: &associations,
            documents: &idf_docs,
            test_words: &test_words,
            lexicon: &lexicon,
            missing,
            top_k_max: p.analysis.top_k_max,
        })?;
        for (name, df) in [("word_stats", &mut a.word_stats), ("curves", &mut a.curves)] {
            iamm_analysis::write_csv(df, &ctx.out_dir.join(format!("{name}.csv")))?;
        }
        let tables = vec![
            ("associations".to_string(), iamm_tables::associations::write(&associations)?),
            ("word_stats".to_string(), iamm_tables::word_stats::write(&a.word_stat_rows()?)?),
            ("curves".to_string(), iamm_tables::curves::write(&a.curve_rows()?)?),
        ];
        let figures = iamm_analysis::write_figures(&a, format.name(), ctx.out_dir)?;
        let variant_name = variant.name();
        let section = iamm_analysis::report_section(
            &a,
            &ReportInfo {
                lexicon: &lexicon_path.display().to_string(),
                lexicon_format: format.name(),
                missing,
                idf_corpus: idf_corpus.name(),
                test_examples: test.len(),
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
                "test_examples": test.len(),
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
                test.len()
            ),
        })
    }
}

/// The `associations` row of a traced selection: `utterance` -1 is the situation, `offset` 0
/// a sequence's `[CLS]`.
fn association(a: &iamm_decode::associations::Association, test: &[TokenExample], words: &[String]) -> Association {
    let (utterance, offset) = match a.loc {
        Loc::Situation(t) => (-1, t as u32),
        Loc::Utterance(u, t) => (u as i32, t as u32),
    };
    Association {
        example_id: test[a.example].example_id,
        pair: a.pair.name().to_string(),
        source: a.source.name().to_string(),
        direction: direction_name(a.pair, a.direction).to_string(),
        head: a.head,
        position: a.position,
        token_id: a.token_id,
        word: words[a.token_id as usize].clone(),
        weight: a.weight,
        unit: Some(a.unit),
        utterance: Some(utterance),
        offset: Some(offset),
    }
}
