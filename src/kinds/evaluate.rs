//! The evaluate stage: loads a train stage's model, scores (teacher-forced NLL, emotion) and
//! decodes every test example, and computes the paper's metrics with `iamm-evaluate`.
//!
//! Batches follow the reference's test loader (`shuffle=False`, batch 48): the test
//! examples in file order, cut into consecutive batches; the collate sorts each batch by
//! utterance count, and the decode API hands results back in example order.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, RecordBatch};
use iamm_core::EMOTIONS;
use iamm_core::special::{CLS, USR};
use iamm_decode::DecodeParams;
use iamm_evaluate::{MetricParams, Response, RunIdentity};
use iamm_text::{PunktParams, Tokenizer};
use iamm_train::device::DeviceParams;
use iamm_train::{Example, collate};
use serde_json::{Value, json};

use super::model_io::{TEST_SET, load_trained, vocab_words};
use crate::params::Params;
use crate::schedule::Resources;
use crate::needs::Need;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Evaluate;

iamm_options::options! {
    /// The evaluate stage's params: how the test set is decoded, then how it is scored.
    struct StageParams {
        ..decode: DecodeParams,
        ..metrics: MetricParams,
        ..on: DeviceParams,
    }
}

const MODEL: Need = Need::One { kind: "train", what: "the model to evaluate" };

impl StageKind for Evaluate {
    fn kind(&self) -> &'static str {
        "evaluate"
    }
    fn about(&self) -> &'static str {
        "scores and decodes the test set with a train stage's model; Acc, PPL, Dist-n as the reference computes \
         them, BLEU, confusion matrix, 95% intervals"
    }
    fn params(&self) -> &'static [ParamSpec] {
        StageParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::EVALUATE
    }
    fn resources(&self, p: &Params) -> Resources {
        super::compute::resources(p, 2, 4096)
    }
    fn needs(&self) -> &'static [Need] {
        &[MODEL, TEST_SET]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = StageParams::from_values(ctx.params)?;
        let (train_stage, train) = ctx.one(&MODEL)?;
        let device = p.on.device.open().map_err(|e| anyhow!(e))?;
        let opts = p.decode.options().map_err(|e| anyhow!(e))?;
        let tokenizer = Tokenizer::new(PunktParams::load_dir_or_fallback(p.metrics.punkt.as_deref())?);
        // The figure needs a font: fail before the long part, not after it.
        iamm_plot::font().context("the confusion figure needs a font")?;

        let model = load_trained(train, &device).with_context(|| format!("stage `{train_stage}`"))?;
        let cfg = model.config().clone();
        let variant = cfg.variant.name();

        let (tokenize_stage, tokenized) = ctx.one(&TEST_SET)?;
        let table = tokenized.read_table("examples_test")?;
        let with_comet = cfg.variant.implicit();
        let examples = iamm_train::tables::examples(&table, with_comet).map_err(|e| {
            let hint = if with_comet {
                format!("; the model (variant {variant}) reads COMET knowledge, so tokenize needs the comet stage upstream")
            } else {
                String::new()
            };
            anyhow!("examples_test (stage `{tokenize_stage}`): {e}{hint}")
        })?;
        if examples.is_empty() {
            bail!("examples_test (stage `{tokenize_stage}`) has no rows: nothing to evaluate");
        }
        let meta = Meta::read(&table)?;
        let words = vocab_words(tokenized, cfg.vocab_size).with_context(|| format!("the model of stage `{train_stage}`"))?;

        let batch_size = p.decode.batch_size;
        // The encoders and the decoder read the model's timing table: check before decoding.
        let batching = iamm_train::limits::Batching::Consecutive(batch_size);
        super::model_input::check_lengths("examples_test", &table, &examples, cfg.max_positions, batching)?;
        if opts.max_new_tokens > cfg.max_positions {
            bail!(
                "param `max_new_tokens` is {}, but the model's decoder has {} positions (its timing table, \
                 IammConfig::max_positions); set it to {} or less",
                opts.max_new_tokens,
                cfg.max_positions,
                cfg.max_positions
            );
        }
        let bar = ctx.bar(examples.len() as u64, "decoding", "ex");
        let started = Instant::now();
        let mut responses = Vec::with_capacity(examples.len());
        for (b, chunk) in examples.chunks(batch_size).enumerate() {
            let refs: Vec<&Example> = chunk.iter().collect();
            let candle = super::model_input::candle_error;
            let batch = collate(&refs, &device).map_err(candle)?;
            // One encoding serves both: it costs about as much as greedy decoding.
            let encoded = model.encode(&batch).map_err(candle)?;
            let scores = iamm_decode::score_encoded(&model, &batch, &encoded).map_err(candle)?;
            let generated = iamm_decode::generate_encoded(&model, &batch, &encoded, &opts).map_err(candle)?;
            for (i, (ex, (s, ids))) in chunk.iter().zip(scores.iter().zip(&generated)).enumerate() {
                let row = b * batch_size + i;
                responses.push(Response {
                    example_id: meta.example_id.value(row),
                    conv_id: meta.conv_id.value(row).to_string(),
                    context: ex.context.iter().map(|u| words_of(&words, u)).collect(),
                    context_roles: ex
                        .roles
                        .iter()
                        .enumerate()
                        .map(|(j, r)| {
                            // Roles are `[CLS] + [USR|SYS]×len`; an empty utterance falls back to
                            // the reference's rule (even index = speaker).
                            let speaker = r.get(1).map_or(j % 2 == 0, |&id| id == USR);
                            if speaker { "speaker" } else { "listener" }.to_string()
                        })
                        .collect(),
                    situation: words_of(&words, &ex.situation),
                    reference: meta.reference(row),
                    generated: words_of(&words, ids),
                    gold: ex.emotion,
                    predicted: u8::try_from(s.predicted).context("predicted emotion id")?,
                    nll_sum: s.nll_sum,
                    tokens: s.tokens as u32,
                    batch: b as u32,
                });
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let decode_s = started.elapsed().as_secs_f64();
        let examples_per_s = responses.len() as f64 / decode_s.max(1e-9);

        let metric_opts = p.metrics.options();
        let words = iamm_evaluate::Tokenized::new(&responses, &tokenizer, &metric_opts);
        let metrics =
            iamm_evaluate::compute_tokenized(&responses, &words, &metric_opts).map_err(|e| anyhow!("metrics: {e}"))?;
        let identity = RunIdentity {
            stage: ctx.stage.to_string(),
            key: ctx.key.to_string(),
            variant: Some(variant.to_string()),
            seed: train.manifest.params.get("seed").and_then(Value::as_i64),
        };
        let confusion = iamm_evaluate::confusion(&responses);
        let labels: Vec<String> = EMOTIONS.iter().map(|e| e.to_string()).collect();
        let heatmap = iamm_plot::Heatmap {
            title: format!("Emotion confusion, {} ({variant}), {} test examples", ctx.stage, responses.len()),
            row_labels: labels.clone(),
            col_labels: labels,
            values: confusion.iter().map(|r| r.iter().map(|&c| f64::from(c)).collect()).collect(),
            x_label: "predicted emotion".into(),
            y_label: "gold emotion".into(),
            show_values: false,
        };
        iamm_plot::write_heatmap(&heatmap, &ctx.out_dir.join("confusion.svg"), &ctx.out_dir.join("confusion.png"))?;

        let mut stats = serde_json::Map::new();
        for (name, value) in metrics.values() {
            stats.insert(name.to_string(), json!(value));
        }
        stats.insert("examples".into(), json!(metrics.examples));
        stats.insert("variant".into(), json!(variant));
        stats.insert("train".into(), json!({"stage": train_stage, "key": train.manifest.key, "params": train.manifest.params}));
        stats.insert("tokenize".into(), json!({"stage": tokenize_stage, "key": tokenized.manifest.key}));
        stats.insert("decoding".into(), json!(format!("{:?}", opts.strategy)));
        stats.insert("sentence_splitter".into(), json!(tokenizer.describe()));
        stats.insert("decode_s".into(), json!(decode_s));
        stats.insert("examples_per_s".into(), json!(examples_per_s));
        stats.insert("peak_rss_mb".into(), peak_rss_mb().map_or(Value::Null, |v| json!(v)));
        let summary = format!(
            "{variant}: Acc {:.2}% PPL {:.2} Dist-1 {:.2} Dist-2 {:.2} on {} test examples ({:.1} ex/s)",
            metrics.acc * 100.0,
            metrics.ppl,
            metrics.dist1,
            metrics.dist2,
            metrics.examples,
            examples_per_s
        );
        Ok(StageOutput {
            tables: vec![
                ("responses".into(), iamm_evaluate::tables::responses(&responses, words.distinct())?),
                ("metrics".into(), iamm_evaluate::tables::metrics(&identity, &metrics)?),
                ("confusion".into(), iamm_evaluate::tables::confusion(&confusion)?),
            ],
            stats: Value::Object(stats),
            summary,
        })
    }
}

/// Tokens of `ids` joined by spaces, a leading `[CLS]` left out.
fn words_of(words: &[String], ids: &[u32]) -> String {
    let ids = if ids.first() == Some(&CLS) { &ids[1..] } else { ids };
    ids.iter().map(|&i| words.get(i as usize).map_or("UNK", String::as_str)).collect::<Vec<_>>().join(" ")
}

/// The examples table's columns the responses table copies.
struct Meta {
    example_id: arrow_array::UInt32Array,
    conv_id: arrow_array::StringArray,
    target_tokens: arrow_array::ListArray,
}

impl Meta {
    fn read(table: &RecordBatch) -> Result<Meta> {
        let col = |name: &str| {
            table.column_by_name(name).cloned().with_context(|| format!("examples_test has no column `{name}`"))
        };
        Ok(Meta {
            example_id: col("example_id")?.as_primitive_opt::<UInt32Type>().context("examples_test.example_id is not UInt32")?.clone(),
            conv_id: col("conv_id")?.as_string_opt::<i32>().context("examples_test.conv_id is not a string")?.clone(),
            target_tokens: col("target_tokens")?.as_list_opt::<i32>().context("examples_test.target_tokens is not a list")?.clone(),
        })
    }

    /// The target's words as the reference prints `Ref:` (its raw tokens, never UNK).
    fn reference(&self, row: usize) -> String {
        let v: Arc<dyn Array> = self.target_tokens.value(row);
        let s = v.as_string::<i32>();
        (0..s.len()).map(|i| s.value(i)).collect::<Vec<_>>().join(" ")
    }
}

/// The process's peak resident memory (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
