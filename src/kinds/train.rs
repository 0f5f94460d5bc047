use std::ops::ControlFlow;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt64Array};
use iamm_plot::{Color, LineChart, Series};
use iamm_tensorboard::EventWriter;
use iamm_train::training::{Curve, Event, LiveCurve, TrainParams, Trainer, Vectors};
use serde_json::json;

use super::model_input::{candle_error, check_lengths};
use crate::params::Params;
use crate::schedule::Resources;
use crate::needs::Need;
use crate::progress::StageBar;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Train;

const TOKENIZED: Need = Need::One { kind: "tokenize", what: "the tokenized examples and vocabulary" };

impl StageKind for Train {
    fn kind(&self) -> &'static str {
        "train"
    }
    fn about(&self) -> &'static str {
        "trains IAMM (or an ablation) on the tokenized examples; publishes weights and the training curve"
    }
    fn params(&self) -> &'static [ParamSpec] {
        TrainParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::TRAIN
    }
    fn resources(&self, p: &Params) -> Resources {
        super::compute::resources(p, 2, 3072)
    }
    fn needs(&self) -> &'static [Need] {
        &[TOKENIZED]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = TrainParams::from_values(ctx.params)?;
        let variant = p.variant;
        let (_, tokenized) = ctx.one(&TOKENIZED)?;
        let vocab = iamm_tables::vocab::read(&tokenized.read_table("vocab")?, "vocab")?;
        let dim = p.dim;
        let cfg = p.config(vocab.len());
        cfg.validate().map_err(|e| anyhow!("model config: {e}"))?;
        let with_comet = variant.implicit();
        let examples = |split: &str| -> Result<Vec<iamm_train::Example>> {
            let name = format!("examples_{split}");
            let rows = iamm_tables::token_examples::read(&tokenized.read_table(&name)?, &name, with_comet).map_err(|e| {
                anyhow!("{e}{}", if with_comet { "; the w/o IA variant trains without COMET" } else { "" })
            })?;
            // Shuffled batches: any two examples can meet. Checked now, not at some update.
            check_lengths(&name, &rows, cfg.max_positions, iamm_train::limits::Batching::Shuffled)?;
            Ok(rows.into_iter().map(|r| r.example).collect())
        };
        let (train, valid) = (examples("train")?, examples("valid")?);
        // The curve is drawn at the end: find the font before hours of training, not after.
        iamm_plot::font().context("the train stage draws its training curve (curve.svg, curve.png)")?;

        // Word vectors, when the tokenize stage was given some.
        let vectors = if tokenized.manifest.tables.contains_key("embedding") {
            Some(vectors_of(&tokenized.read_table("embedding")?, dim)?)
        } else {
            None
        };
        let device = p.device.open().map_err(|e| anyhow!(e))?;
        let opts = p.options();
        // Checkpoints live outside the unpublished artifact so that a killed run resumes.
        let work = ctx.rows.join("train").join(ctx.key);
        std::fs::create_dir_all(&work)?;
        let vecs = vectors.as_ref().map(|e| Vectors { values: &e.values, dim, covered: &e.covered });
        let mut trainer = Trainer::resume_or_start(&cfg, vecs, opts.clone(), device, &work).map_err(candle_error)?;
        let resumed = trainer.resumed_from();
        let bar = ctx.bar(opts.max_steps as u64, "training", "steps");
        bar.set_position(trainer.step() as u64);
        // The steps a resumed run skips are not its speed.
        bar.reset_eta();
        // Live during the run, published with the artifact. One TensorBoard run per stage and
        // variant; a resumed process restarts it after the checkpoint it resumed from.
        let board_dir = work.join(TENSORBOARD).join(format!("{}.{}", ctx.stage, variant.name()));
        let mut board = EventWriter::create(&board_dir)?;
        board.start(trainer.step() as u64 + 1)?;
        let mut live = LiveCurve::start(&work, trainer.curve()).map_err(candle_error)?;
        let mut failed = None;
        let report = trainer.run(&train, &valid, Some(&work), &mut |event| {
            match log_event(&event, &bar, &mut board, &mut live) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    // The first error; the trainer stops after this update.
                    failed.get_or_insert(e);
                    ControlFlow::Break(())
                }
            }
        });
        bar.finish_and_clear();
        drop(board);
        if let Some(e) = failed {
            return Err(e);
        }
        let report = report.map_err(candle_error)?;
        let published = trainer.published(ctx.stage, ctx.key, &serde_json::to_string(ctx.params.values())?).map_err(candle_error)?;
        published.save(ctx.out_dir).map_err(candle_error)?;
        let curve = trainer.curve();
        let steps = RecordBatch::try_from_iter([
            ("step", Arc::new(UInt64Array::from_iter_values(curve.steps.iter().map(|r| r.step as u64))) as ArrayRef),
            ("loss", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.loss)))),
            ("nll", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.nll)))),
            ("emotion_loss", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.emotion_loss)))),
            ("lr", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.lr)))),
            ("ppl", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.ppl)))),
            ("accuracy", Arc::new(Float64Array::from_iter_values(curve.steps.iter().map(|r| r.accuracy)))),
        ])?;
        let evals = RecordBatch::try_from_iter([
            ("step", Arc::new(UInt64Array::from_iter_values(curve.evals.iter().map(|r| r.step as u64))) as ArrayRef),
            ("ppl", Arc::new(Float64Array::from_iter_values(curve.evals.iter().map(|r| r.ppl)))),
            ("accuracy", Arc::new(Float64Array::from_iter_values(curve.evals.iter().map(|r| r.accuracy)))),
        ])?;
        let last = curve.steps.last().context("training made no update")?;
        write_curve(curve, variant.name(), ctx.out_dir)?;
        let selected = trainer.selected().map(|e| json!({"step": e.step, "ppl": e.ppl, "accuracy": e.accuracy}));
        let summary = format!(
            "{} updates ({}), final loss {:.3}{}",
            last.step,
            variant.name(),
            last.loss,
            trainer.selected().map(|e| format!(", selected step {} valid PPL {:.2}", e.step, e.ppl)).unwrap_or_default()
        );
        let board_published = ctx.out_dir.join(TENSORBOARD);
        std::fs::rename(work.join(TENSORBOARD), &board_published)
            .with_context(|| format!("cannot move the TensorBoard logs into {}", board_published.display()))?;
        // The checkpoints are in the published weights now.
        let _ = std::fs::remove_dir_all(&work);
        Ok(StageOutput {
            tables: vec![("curve_steps".into(), steps), ("curve_evals".into(), evals)],
            stats: json!({
                "variant": variant.name(),
                "train_examples": train.len(),
                "valid_examples": valid.len(),
                "steps": last.step,
                "resumed_from_step": resumed,
                "final_loss": last.loss,
                "selected": selected,
                "stop": format!("{:?}", report.stop),
                "vectors": vectors.is_some(),
            }),
            summary,
        })
    }
}

/// The TensorBoard folder, in the work folder during the run and in the artifact after it.
const TENSORBOARD: &str = "tensorboard";

/// Shows a training event on the progress bar and appends it to the TensorBoard run and the
/// live curve.
fn log_event(event: &Event, bar: &StageBar, board: &mut EventWriter, live: &mut LiveCurve) -> Result<()> {
    match event {
        Event::Step { record: r, .. } => {
            bar.set_position(r.step as u64);
            bar.set_message(format!("loss {:.3}", r.loss));
            let scalars = [
                ("train/loss", r.loss),
                ("train/nll", r.nll),
                ("train/emotion_loss", r.emotion_loss),
                ("train/lr", r.lr),
                ("train/ppl", r.ppl),
                ("train/accuracy", r.accuracy),
            ];
            board.scalars(r.step as u64, &scalars)?;
        }
        Event::Eval(r) => {
            let selected = if r.selected { " (selected)" } else { "" };
            bar.note(&format!("validation PPL {:.2}, accuracy {:.2}%{selected}", r.ppl, 100.0 * r.accuracy));
            board.scalars(r.step as u64, &[("valid/ppl", r.ppl), ("valid/accuracy", r.accuracy)])?;
        }
        Event::Checkpoint { .. } => {}
    }
    live.record(event).map_err(candle_error)
}

/// The tokenize stage's embedding table, checked against the model's size.
fn vectors_of(table: &RecordBatch, dim: usize) -> Result<iamm_tables::embedding::Embedding> {
    let e = iamm_tables::embedding::read(table, "embedding")?;
    if e.dim != dim {
        bail!(
            "the word vectors are {}-d but the model is {dim}-d; set `train.dim` to {} or give tokenize {dim}-d vectors",
            e.dim,
            e.dim
        );
    }
    Ok(e)
}

/// `curve.svg` / `curve.png`: training losses per update, then validation PPL and emotion
/// accuracy (training accuracy smoothed beside it), one panel each since their scales differ.
fn write_curve(curve: &Curve, variant: &str, out: &std::path::Path) -> Result<()> {
    let series = |label: &str, i: usize, points: Vec<(f64, f64)>| Series { label: label.into(), points, color: Color::palette(i) };
    let steps = |f: fn(&iamm_train::training::StepRecord) -> f64| curve.steps.iter().map(|r| (r.step as f64, f(r))).collect::<Vec<_>>();
    let evals = |f: fn(&iamm_train::training::EvalRecord) -> f64| curve.evals.iter().map(|r| (r.step as f64, f(r))).collect::<Vec<_>>();
    let mut panels = vec![LineChart {
        title: format!("Training loss ({variant})"),
        x_label: "update".into(),
        y_label: "loss".into(),
        series: vec![
            series("loss (NLL + emotion CE)", 0, steps(|r| r.loss)),
            series("token NLL", 1, steps(|r| r.nll)),
            series("emotion CE (4 heads)", 2, steps(|r| r.emotion_loss)),
        ],
        ..LineChart::default()
    }];
    if !curve.evals.is_empty() {
        let selected = curve.evals.iter().rfind(|e| e.selected);
        panels.push(LineChart {
            title: "Validation perplexity".into(),
            x_label: "update".into(),
            y_label: "PPL (log scale)".into(),
            series: vec![series("validation PPL", 3, evals(|r| r.ppl))],
            hlines: selected.map(|e| (format!("selected, update {}", e.step), e.ppl, Color::GREY)).into_iter().collect(),
            log_y: true,
        });
    }
    // Batch accuracy over 16 examples jumps by 1/16: a moving mean shows the trend.
    let window = (curve.steps.len() / 50).max(1);
    let acc: Vec<f64> = curve.steps.iter().map(|r| r.accuracy).collect();
    let smoothed = curve
        .steps
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let from = (i + 1).saturating_sub(window);
            (r.step as f64, acc[from..=i].iter().sum::<f64>() / (i + 1 - from) as f64)
        })
        .collect();
    let label = if window == 1 { "training (per update)".to_string() } else { format!("training (mean of last {window} updates)") };
    let mut accuracy = vec![series(&label, 0, smoothed)];
    if !curve.evals.is_empty() {
        accuracy.push(series("validation", 3, evals(|r| r.accuracy)));
    }
    panels.push(LineChart {
        title: "Emotion accuracy".into(),
        x_label: "update".into(),
        y_label: "accuracy".into(),
        series: accuracy,
        ..LineChart::default()
    });
    iamm_plot::write_line_charts(&panels, &out.join("curve.svg"), &out.join("curve.png")).context("drawing the training curve")
}
