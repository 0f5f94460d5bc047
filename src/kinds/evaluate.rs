//! The evaluate stage: loads a train stage's model, scores (teacher-forced NLL, emotion) and
//! decodes every test example (`iamm_decode::respond`), and computes the paper's metrics with
//! `iamm-evaluate`.
//!
//! Batches follow the reference's test loader (`shuffle=False`, batch 48): the test
//! examples in file order, cut into consecutive batches; the collate sorts each batch by
//! utterance count, and the decode API hands results back in example order.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use iamm_core::EMOTIONS;
use iamm_core::special::{CLS, USR};
use iamm_decode::DecodeParams;
use iamm_decode::respond::Reply;
use iamm_evaluate::MetricParams;
use iamm_tables::metrics::RunIdentity;
use iamm_tables::responses::Response;
use iamm_tables::token_examples::TokenExample;
use iamm_text::{PunktParams, Tokenizer};
use iamm_train::device::DeviceParams;
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
        let rows = iamm_tables::token_examples::read(&table, &format!("examples_test (stage `{tokenize_stage}`)"), with_comet)
            .map_err(|e| {
                let hint = if with_comet {
                    format!("; the model (variant {variant}) reads COMET knowledge, so tokenize needs the comet stage upstream")
                } else {
                    String::new()
                };
                anyhow!("{e}{hint}")
            })?;
        if rows.is_empty() {
            bail!("examples_test (stage `{tokenize_stage}`) has no rows: nothing to evaluate");
        }
        let words = vocab_words(tokenized, cfg.vocab_size).with_context(|| format!("the model of stage `{train_stage}`"))?;

        let batch_size = p.decode.batch_size;
        // The encoders and the decoder read the model's timing table: check before decoding.
        let batching = iamm_train::limits::Batching::Consecutive(batch_size);
        super::model_input::check_lengths("examples_test", &rows, cfg.max_positions, batching)?;
        if opts.max_new_tokens > cfg.max_positions {
            bail!(
                "param `max_new_tokens` is {}, but the model's decoder has {} positions (its timing table, \
                 IammConfig::max_positions); set it to {} or less",
                opts.max_new_tokens,
                cfg.max_positions,
                cfg.max_positions
            );
        }
        let bar = ctx.bar(rows.len() as u64, "decoding", "ex");
        let started = Instant::now();
        let examples: Vec<&iamm_train::Example> = rows.iter().map(|r| &r.example).collect();
        let replies = iamm_decode::respond::respond(&model, &examples, batch_size, &device, &opts, &mut |n| bar.inc(n as u64))
            .map_err(super::model_input::candle_error)?;
        bar.finish_and_clear();
        let decode_s = started.elapsed().as_secs_f64();
        let mut responses = rows.iter().zip(replies).map(|(row, reply)| response(row, reply, &words)).collect::<Result<Vec<_>>>()?;
        let examples_per_s = responses.len() as f64 / decode_s.max(1e-9);

        let metric_opts = p.metrics.options();
        let counted = iamm_evaluate::Tokenized::new(&responses, &tokenizer, &metric_opts);
        let metrics =
            iamm_evaluate::compute_tokenized(&responses, &counted, &metric_opts).map_err(|e| anyhow!("metrics: {e}"))?;
        for (r, tokens) in responses.iter_mut().zip(counted.distinct()) {
            r.generated_tokens = tokens.clone();
        }
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
                ("responses".into(), iamm_tables::responses::write(&responses)?),
                ("metrics".into(), iamm_tables::metrics::write(&identity, &metrics.values(), metrics.examples)?),
                ("confusion".into(), iamm_tables::confusion::write(&confusion)?),
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

/// The `responses` row of a test example and what the model made of it.
fn response(row: &TokenExample, reply: Reply, words: &[String]) -> Result<Response> {
    let ex = &row.example;
    Ok(Response {
        example_id: row.example_id,
        conv_id: row.conv_id.clone(),
        context: ex.context.iter().map(|u| words_of(words, u)).collect(),
        context_roles: ex
            .roles
            .iter()
            .enumerate()
            .map(|(j, r)| {
                // Roles are `[CLS] + [USR|SYS]×len`; an empty utterance falls back to the
                // reference's rule (even index = speaker).
                let speaker = r.get(1).map_or(j % 2 == 0, |&id| id == USR);
                if speaker { "speaker" } else { "listener" }.to_string()
            })
            .collect(),
        situation: words_of(words, &ex.situation),
        // The target's words as the reference prints `Ref:` (its raw tokens, never UNK).
        reference: row.target_tokens.join(" "),
        generated: words_of(words, &reply.generated),
        // Filled once the responses are tokenized for the metrics.
        generated_tokens: Vec::new(),
        gold: ex.emotion,
        predicted: u8::try_from(reply.score.predicted).context("predicted emotion id")?,
        nll_sum: reply.score.nll_sum,
        tokens: reply.score.tokens as u32,
        batch: reply.batch as u32,
    })
}

/// The process's peak resident memory (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
