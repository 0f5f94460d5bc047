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
use iamm_evaluate::{MetricOptions, Response};
use iamm_text::{PunktParams, Tokenizer};
use iamm_decode::{DecodeOptions, Strategy};
use iamm_train::{Example, collate};
use serde_json::{Value, json};

use crate::params::{OPTIONAL_PATH, ParamSpec, ParamType, Role};
use super::model_io::{load_trained, vocab_words};
use crate::needs::Need;
use super::Code;
use crate::stage::{StageContext, StageKind, StageOutput};

pub struct Evaluate;

static PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "batch_size",
        ty: ParamType::Int { min: 1, max: 4096 },
        default: Some("48"),
        help: "test examples per batch (the reference's test run: 48); the reference's Acc is a mean over batches",
        role: Role::Key,
    },
    ParamSpec {
        name: "decoding",
        ty: ParamType::Choice(&["greedy", "beam", "sample"]),
        default: Some("\"greedy\""),
        help: "greedy (the reference), beam search, or top-k/top-p sampling",
        role: Role::Key,
    },
    ParamSpec {
        name: "max_new_tokens",
        ty: ParamType::Int { min: 1, max: 10_000 },
        default: Some("51"),
        help: "decoding steps, EOS included (the reference runs max_dec_step + 1 = 51 steps, then cuts at EOS)",
        role: Role::Key,
    },
    ParamSpec { name: "beam_size", ty: ParamType::Int { min: 1, max: 256 }, default: Some("5"), help: "beams (decoding: beam)", role: Role::Key },
    ParamSpec {
        name: "length_penalty",
        ty: ParamType::Float { min: -100.0, max: 100.0 },
        default: Some("1.0"),
        help: "beam score / length^length_penalty (decoding: beam)",
        role: Role::Key,
    },
    ParamSpec {
        name: "top_k",
        ty: ParamType::Int { min: 0, max: 10_000_000 },
        default: Some("0"),
        help: "sample among the k most probable tokens; 0 = all (decoding: sample)",
        role: Role::Key,
    },
    ParamSpec {
        name: "top_p",
        ty: ParamType::Float { min: 0.0, max: 1.0 },
        default: Some("1.0"),
        help: "nucleus: the smallest set of tokens with this much probability; 1 = all (decoding: sample)",
        role: Role::Key,
    },
    ParamSpec {
        name: "temperature",
        ty: ParamType::Float { min: 0.0, max: 1000.0 },
        default: Some("1.0"),
        help: "sampling temperature, > 0 (decoding: sample)",
        role: Role::Key,
    },
    ParamSpec {
        name: "seed",
        ty: ParamType::Int { min: 0, max: i64::MAX },
        default: Some("0"),
        help: "seeds sampling (decoding: sample)",
        role: Role::Key,
    },
    ParamSpec {
        name: "bootstrap",
        ty: ParamType::Int { min: 0, max: 1_000_000 },
        default: Some("1000"),
        help: "0 = no 95% intervals; any other value computes them, without resampling: Acc's is Student's t over the \
               test batches (Acc is a mean of batch accuracies), Dist-n's a jackknife over responses with its \
               higher-order excess removed (resampling with replacement repeats responses and lowers Dist-n)",
        role: Role::Key,
    },
    ParamSpec {
        name: "strip_greedy_quirk",
        ty: ParamType::Bool,
        default: Some("false"),
        help: "reproduce the reference's `line.strip(\"Greedy:\")` before Dist-n, which drops leading G/r/e/d/y/: \
               characters of each response (\"do you\" -> \"o you\")",
        role: Role::Key,
    },
    ParamSpec {
        name: "punkt",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "Punkt parameters for word_tokenize of the responses (Dist-n, BLEU, length), as for tokenize; \
               null = built-in rule-based sentence splitter",
        role: Role::Key,
    },
    super::device::device_param(Role::Tuning),
];

impl StageKind for Evaluate {
    fn kind(&self) -> &'static str {
        "evaluate"
    }
    fn about(&self) -> &'static str {
        "scores and decodes the test set with a train stage's model; Acc, PPL, Dist-n as the reference computes \
         them, BLEU, confusion matrix, 95% intervals"
    }
    fn params(&self) -> &'static [ParamSpec] {
        PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::EVALUATE
    }
    fn needs(&self) -> &'static [Need] {
        &[
            Need::One { kind: "train", what: "the model to evaluate" },
            Need::One { kind: "tokenize", what: "the test examples and vocabulary" },
        ]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ctx.params;
        let (train_stage, train) = ctx.only_dep_of_kind("train", "the model to evaluate")?;
        let device = super::device::device(p)?;
        let opts = decode_options(p)?;
        let tokenizer = Tokenizer::new(PunktParams::load_dir_or_fallback(p.path("punkt")?.as_deref())?);
        // The figure needs a font: fail before the long part, not after it.
        iamm_plot::font().context("the confusion figure needs a font")?;

        let model = load_trained(train, &device).with_context(|| format!("stage `{train_stage}`"))?;
        let cfg = model.config().clone();
        let variant = cfg.variant.name();

        let (tokenize_stage, tokenized) = ctx.provider("examples_test")?;
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
        let words = vocab_words(ctx, cfg.vocab_size).with_context(|| format!("the model of stage `{train_stage}`"))?;

        let batch_size = p.int("batch_size")? as usize;
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

        let metric_opts = MetricOptions {
            strip_greedy_quirk: p.bool("strip_greedy_quirk")?,
            intervals: p.int("bootstrap")? > 0,
            level: 0.95,
        };
        let metrics = iamm_evaluate::compute(&responses, &tokenizer, &metric_opts).map_err(|e| anyhow!("metrics: {e}"))?;
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
                ("responses".into(), iamm_evaluate::tables::responses(&responses)?),
                ("metrics".into(), iamm_evaluate::tables::metrics(&metrics)?),
                ("confusion".into(), iamm_evaluate::tables::confusion(&confusion)?),
            ],
            stats: Value::Object(stats),
            summary,
        })
    }
}

fn decode_options(p: &crate::params::Params) -> Result<DecodeOptions> {
    let float = |name: &str| -> Result<f32> {
        p.opt(name)?.and_then(Value::as_f64).map(|v| v as f32).with_context(|| format!("param `{name}` is not a number"))
    };
    let strategy = match p.str("decoding")? {
        "beam" => Strategy::Beam { size: p.int("beam_size")? as usize, length_penalty: float("length_penalty")? },
        "sample" => {
            let (top_p, temperature) = (float("top_p")?, float("temperature")?);
            if top_p <= 0.0 {
                bail!("param `top_p` must be above 0 (1 = no nucleus filtering)");
            }
            if temperature <= 0.0 {
                bail!("param `temperature` must be above 0 (use decoding: greedy for the most probable token)");
            }
            Strategy::Sample { top_k: p.int("top_k")? as usize, top_p, temperature }
        }
        _ => Strategy::Greedy,
    };
    Ok(DecodeOptions { strategy, max_new_tokens: p.int("max_new_tokens")? as usize, seed: p.int("seed")? as u64 })
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
