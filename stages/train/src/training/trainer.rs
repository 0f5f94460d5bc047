//! The training loop: seeded epochs of shuffled batches, Adam + Noam, validation, model
//! selection, atomic checkpoints and exact resumption.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Error, Result, Tensor, bail};
use candle_nn::{VarBuilder, VarMap};
use iamm_core::special::PAD;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, BEST_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, io};
use super::optim::{Adam, AdamParams, Noam};
use super::rng::Rng;
use super::step::gradients;
use crate::batch::{Example, collate};
use crate::model::{Iamm, IammConfig, reference_init};
use crate::published::{Provenance, Published};

/// The name of the embedding table among the model's variables.
pub const EMBEDDING_VAR: &str = "embedding.lut.weight";

iamm_options::choices! {
    /// Which validation decides the weights [`Trainer::published`] publishes.
    #[derive(Hash, Serialize, Deserialize, Default)]
    #[serde(rename_all = "snake_case")]
    pub enum Selection ("selection") {
        /// The lowest validation PPL (the earliest on a tie).
        #[default]
        BestPpl = "best_ppl",
        /// The reference's rule (`main.py`): at each validation, keep these weights if
        /// `ppl ≤ best_ppl` (which starts at 100) or (`ppl < 38` and `acc > 0.5`), and then set
        /// `best_ppl = ppl` (so it can rise). The reference saves every such model; this keeps
        /// the last one.
        Reference = "reference",
        /// The final weights.
        Last = "last",
    }
}

/// How to train. `Default` is the reference run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Seeds the initialisation and every shuffle (the reference: `torch.manual_seed(42)`).
    pub seed: u64,
    /// Training batch size (16).
    pub batch_size: usize,
    /// Updates in all (the reference stops after its check at iteration 17,599, i.e. after
    /// 17,600 updates).
    pub max_steps: usize,
    /// Validate every this many updates ... (800)
    pub eval_every: usize,
    /// ... once more than this many have been made (10,000: the reference's `n ≥ 10000` with
    /// `(n+1) % 800 == 0`, `n` counting from 0, validates after updates 10,400, 11,200, …,
    /// 17,600).
    pub eval_after: usize,
    /// Validation batch size (16, as the reference's dev loader).
    pub eval_batch_size: usize,
    /// Validate on a seeded permutation of the validation examples (the reference's dev
    /// loader shuffles; batch composition changes the padding and so the numbers). The
    /// permutation is the same at every validation, from its own stream of `seed`.
    pub shuffle_valid: bool,
    /// Write a checkpoint every this many updates (and at the end).
    pub checkpoint_every: usize,
    /// Checkpoints kept in the folder (the newest).
    pub keep_checkpoints: usize,
    pub selection: Selection,
    /// Stop once this many validations in a row have not lowered the best validation PPL.
    /// `None` (the reference: IAMM sets its patience out of reach; CEM's `patient > 2` is
    /// `Some(3)`).
    pub patience: Option<usize>,
    pub noam: Noam,
    pub adam: AdamParams,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 42,
            batch_size: 16,
            max_steps: 17_600,
            eval_every: 800,
            eval_after: 10_000,
            eval_batch_size: 16,
            shuffle_valid: true,
            checkpoint_every: 800,
            keep_checkpoints: 2,
            selection: Selection::BestPpl,
            patience: None,
            noam: Noam::default(),
            adam: AdamParams::default(),
        }
    }
}

impl TrainOptions {
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (v, n) in [
            (self.batch_size, "batch_size"),
            (self.eval_every, "eval_every"),
            (self.eval_batch_size, "eval_batch_size"),
            (self.checkpoint_every, "checkpoint_every"),
            (self.keep_checkpoints, "keep_checkpoints"),
            (self.noam.d_model, "noam.d_model"),
            (self.noam.warmup, "noam.warmup"),
        ] {
            if v == 0 {
                return Err(format!("{n} must be positive"));
            }
        }
        if self.patience == Some(0) {
            return Err("patience must be positive (or absent)".into());
        }
        if !(self.noam.factor > 0.0 && self.noam.factor.is_finite()) {
            return Err(format!("noam.factor must be positive, not {}", self.noam.factor));
        }
        let a = &self.adam;
        if !((0.0..1.0).contains(&a.beta1) && (0.0..1.0).contains(&a.beta2) && a.eps >= 0.0) {
            return Err(format!("adam: need 0 ≤ beta1, beta2 < 1 and eps ≥ 0, got {a:?}"));
        }
        Ok(())
    }
}

/// Pre-trained word vectors for the embedding table: `values` holds `vocab × dim` numbers,
/// row `i` for word id `i`, used where `covered[i]` (the tokenize stage's embedding table).
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    pub values: &'a [f32],
    pub dim: usize,
    pub covered: &'a [bool],
}

/// One update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based update number.
    pub step: usize,
    /// 1-based epoch the batch came from.
    pub epoch: usize,
    /// Examples in the batch.
    pub examples: usize,
    /// `nll + emotion_loss`, before the update.
    pub loss: f64,
    /// Token-mean NLL over the batch's targets.
    pub nll: f64,
    /// Sum of the emotion cross-entropies.
    pub emotion_loss: f64,
    /// Learning rate of this update.
    pub lr: f64,
    /// `exp(nll)`.
    pub ppl: f64,
    /// Emotion accuracy on the batch.
    pub accuracy: f64,
}

/// One validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Updates made before it.
    pub step: usize,
    /// `exp(mean over examples of their mean target NLL)`.
    pub ppl: f64,
    /// That mean NLL.
    pub nll: f64,
    /// Mean over batches of the batch emotion accuracy.
    pub accuracy: f64,
    pub examples: usize,
    /// Whether the selection rule took these weights.
    pub selected: bool,
}

/// The training curve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub steps: Vec<StepRecord>,
    pub evals: Vec<EvalRecord>,
}

/// What [`Trainer::run`] reports as it goes. Returning `ControlFlow::Break` from the
/// callback stops the run after the current update's validation and checkpoint, if they are
/// due (no other checkpoint is written: call [`Trainer::checkpoint`] to keep the state).
#[derive(Debug)]
pub enum Event<'a> {
    Step { record: &'a StepRecord, total: usize },
    Eval(&'a EvalRecord),
    Checkpoint { step: usize, path: &'a Path },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `max_steps` updates made.
    MaxSteps,
    /// `patience` ran out.
    EarlyStop,
    /// The callback asked to stop.
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct TrainReport {
    pub steps: usize,
    pub epochs: usize,
    pub stop: StopReason,
    /// The validation whose weights are selected (`None`: none was, and the final weights
    /// stand in).
    pub selected: Option<EvalRecord>,
    /// The step this trainer was resumed from, if it was.
    pub resumed_from: Option<usize>,
    pub curve: Curve,
}

/// Validation results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub ppl: f64,
    pub nll: f64,
    pub accuracy: f64,
    pub examples: usize,
}

/// Everything a checkpoint's `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainState {
    format: u32,
    config: IammConfig,
    /// The options of the latest run (for the record: only `seed` and `batch_size` must not
    /// change on resumption).
    options: TrainOptions,
    seed: u64,
    batch_size: usize,
    /// Updates made.
    step: usize,
    /// Epochs started (0 before the first batch).
    epoch: usize,
    /// Examples of the current epoch's order already used.
    position: usize,
    /// The generator before the current epoch's shuffle (the order is rebuilt from it).
    rng_epoch_start: [u64; 4],
    /// The generator now.
    rng: [u64; 4],
    /// Size and fingerprint of the training set (a resumed run must get the same one).
    train_examples: Option<usize>,
    train_fingerprint: Option<u64>,
    /// Adam's per-parameter update counts.
    adam_steps: BTreeMap<String, u64>,
    /// The selected validation (its weights are `best.safetensors`).
    selected: Option<EvalRecord>,
    /// The reference rule's running `best_ppl`.
    reference_best_ppl: f64,
    /// Lowest validation PPL so far and validations since it (for `patience`).
    min_ppl: Option<f64>,
    evals_since_min: usize,
    early_stopped: bool,
    curve: Curve,
}

const STATE_FORMAT: u32 = 1;
/// Stream of `seed` for the validation order (kept apart from the training stream).
const VALID_STREAM: u64 = 0x7661_6C69_6421_0001;

/// Trains one IAMM model.
pub struct Trainer {
    cfg: IammConfig,
    opts: TrainOptions,
    device: Device,
    varmap: VarMap,
    model: Iamm,
    adam: Adam,
    state: TrainState,
    /// Copies of the selected weights (not for [`Selection::Last`]).
    selected_weights: Option<HashMap<String, Tensor>>,
    resumed_from: Option<usize>,
}

fn named_vars(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut v: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn build(cfg: &IammConfig, device: &Device) -> Result<(VarMap, Iamm)> {
    let varmap = VarMap::new();
    let model = Iamm::new(cfg, VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    Ok((varmap, model))
}

/// FNV-1a over everything the model reads from the examples.
fn fingerprint(examples: &[Example]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |x: u32| {
        for b in x.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let seq = |s: &[u32], eat: &mut dyn FnMut(u32)| {
        eat(s.len() as u32);
        s.iter().for_each(|&x| eat(x));
    };
    for e in examples {
        eat(e.context.len() as u32);
        for (c, r) in e.context.iter().zip(&e.roles) {
            seq(c, &mut eat);
            seq(r, &mut eat);
        }
        seq(&e.situation, &mut eat);
        seq(&e.target, &mut eat);
        eat(u32::from(e.emotion));
        match &e.comet {
            None => eat(u32::MAX),
            Some(k) => {
                for r in 0..k.situation.len() {
                    seq(&k.situation[r], &mut eat);
                    k.context[r].iter().for_each(|s| seq(s, &mut eat));
                }
            }
        }
    }
    h
}

fn accuracy(logits: &Tensor, gold: &Tensor) -> Result<f64> {
    let pred = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let gold = gold.to_vec1::<u32>()?;
    let hits = pred.iter().zip(&gold).filter(|(p, g)| p == g).count();
    Ok(hits as f64 / gold.len().max(1) as f64)
}

/// Validation as the reference computes it, over `examples` in the given order, in batches
/// of `batch_size`: teacher-forced NLL of each example's target (EOS included) averaged
/// over its tokens, `PPL = exp(mean over examples)`; the emotion accuracy of each batch,
/// averaged over batches (the last, smaller batch weighs as much as the others).
pub fn evaluate(model: &Iamm, examples: &[&Example], batch_size: usize, device: &Device) -> Result<Evaluation> {
    if examples.is_empty() {
        bail!("evaluate: no examples");
    }
    let (mut nll_sum, mut acc_sum, mut batches) = (0.0f64, 0.0f64, 0usize);
    for chunk in examples.chunks(batch_size.max(1)) {
        let batch = collate(chunk, device)?;
        let enc = model.encode(&batch)?;
        let generated = model.decode(&enc, &batch.decoder_input()?)?;
        let lp = generated.target_log_probs(&batch.target)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let target = batch.target.to_vec2::<u32>()?;
        for (lp, t) in lp.iter().zip(&target) {
            let (s, n) =
                lp.iter().zip(t).filter(|(_, t)| **t != PAD).fold((0.0, 0usize), |(s, n), (l, _)| (s - l, n + 1));
            nll_sum += s / n as f64;
        }
        acc_sum += accuracy(&enc.emotion.combined, &batch.emotion)?;
        batches += 1;
    }
    let nll = nll_sum / examples.len() as f64;
    Ok(Evaluation { ppl: nll.exp(), nll, accuracy: acc_sum / batches as f64, examples: examples.len() })
}

fn copy_weights(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    named_vars(varmap).into_iter().map(|(n, v)| Ok((n, v.as_tensor().copy()?))).collect()
}

impl Trainer {
    /// A fresh run: the reference initialisation from `opts.seed` (Xavier-uniform, torch's
    /// bias defaults, embedding `N(0, 0.01²)`), then the pre-trained vectors over the
    /// embedding rows they cover (the reference's `gen_embeddings`).
    pub fn new(cfg: &IammConfig, vectors: Option<Vectors>, opts: TrainOptions, device: Device) -> Result<Trainer> {
        if let Err(e) = opts.validate() {
            bail!("invalid training options: {e}");
        }
        let (varmap, model) = build(cfg, &device)?;
        let mut rng = Rng::seed_from(opts.seed);
        reference_init(&varmap, rng.next_u64())?;
        if let Some(v) = vectors {
            load_vectors(&varmap, cfg, v)?;
        }
        let adam = Adam::new(named_vars(&varmap), opts.adam)?;
        let state = TrainState {
            format: STATE_FORMAT,
            config: cfg.clone(),
            options: opts.clone(),
            seed: opts.seed,
            batch_size: opts.batch_size,
            step: 0,
            epoch: 0,
            position: 0,
            rng_epoch_start: rng.state(),
            rng: rng.state(),
            train_examples: None,
            train_fingerprint: None,
            adam_steps: BTreeMap::new(),
            selected: None,
            reference_best_ppl: 100.0,
            min_ppl: None,
            evals_since_min: 0,
            early_stopped: false,
            curve: Curve::default(),
        };
        Ok(Trainer {
            cfg: cfg.clone(),
            opts,
            device,
            varmap,
            model,
            adam,
            state,
            selected_weights: None,
            resumed_from: None,
        })
    }

    /// The run saved in the newest checkpoint of `ckpt_dir`, or `None` when it has none.
    /// `cfg`, `opts.seed` and `opts.batch_size` must be those of the run; the other options
    /// (`max_steps`, validation, selection, …) are taken from `opts`.
    pub fn resume(cfg: &IammConfig, opts: TrainOptions, device: Device, ckpt_dir: &Path) -> Result<Option<Trainer>> {
        if let Err(e) = opts.validate() {
            bail!("invalid training options: {e}");
        }
        let Some((_, path)) = checkpoint::latest_checkpoint(ckpt_dir)? else { return Ok(None) };
        let state_path = path.join(STATE_FILE);
        let bytes = std::fs::read(&state_path).map_err(|e| io(&state_path, "cannot read", e))?;
        let state: TrainState =
            serde_json::from_slice(&bytes).map_err(|e| io(&state_path, "not a training state of this version", e))?;
        if state.format != STATE_FORMAT {
            bail!(
                "{}: training state format {} (this version reads {STATE_FORMAT})",
                state_path.display(),
                state.format
            );
        }
        if state.config != *cfg {
            bail!(
                "{}: the checkpoint is of another model configuration ({}); resume with that configuration or use another checkpoint folder",
                path.display(),
                serde_json::to_string(&state.config).unwrap_or_default()
            );
        }
        if state.seed != opts.seed || state.batch_size != opts.batch_size {
            bail!(
                "{}: the checkpoint was trained with seed {} and batch size {}, not {} and {}; the run would not be the same",
                path.display(),
                state.seed,
                state.batch_size,
                opts.seed,
                opts.batch_size
            );
        }
        let mut state = state;
        state.options = opts.clone();
        let (mut varmap, model) = build(cfg, &device)?;
        varmap.load(path.join(MODEL_FILE))?;
        let mut adam = Adam::new(named_vars(&varmap), opts.adam)?;
        let moments = candle_core::safetensors::load(path.join(OPTIMIZER_FILE), &device)?;
        adam.restore(&state.adam_steps.iter().map(|(k, v)| (k.clone(), *v)).collect(), &moments)?;
        let best = path.join(BEST_FILE);
        let selected_weights =
            if best.is_file() { Some(candle_core::safetensors::load(&best, &device)?) } else { None };
        let step = state.step;
        Ok(Some(Trainer {
            cfg: cfg.clone(),
            opts,
            device,
            varmap,
            model,
            adam,
            state,
            selected_weights,
            resumed_from: Some(step),
        }))
    }

    /// [`Trainer::resume`] from `ckpt_dir`, or else [`Trainer::new`].
    pub fn resume_or_start(
        cfg: &IammConfig,
        vectors: Option<Vectors>,
        opts: TrainOptions,
        device: Device,
        ckpt_dir: &Path,
    ) -> Result<Trainer> {
        match Trainer::resume(cfg, opts.clone(), device.clone(), ckpt_dir)? {
            Some(t) => Ok(t),
            None => Trainer::new(cfg, vectors, opts, device),
        }
    }

    pub fn model(&self) -> &Iamm {
        &self.model
    }
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }
    pub fn config(&self) -> &IammConfig {
        &self.cfg
    }
    pub fn options(&self) -> &TrainOptions {
        &self.opts
    }
    /// Updates made so far.
    pub fn step(&self) -> usize {
        self.state.step
    }
    pub fn curve(&self) -> &Curve {
        &self.state.curve
    }
    /// The selected validation, if any.
    pub fn selected(&self) -> Option<&EvalRecord> {
        self.state.selected.as_ref()
    }
    /// The step this trainer was resumed from.
    pub fn resumed_from(&self) -> Option<usize> {
        self.resumed_from
    }

    /// The weights [`Trainer::published`] publishes: the selected ones, or the current ones
    /// when nothing was selected (no validation yet) or under [`Selection::Last`].
    pub fn selected_weights(&self) -> Result<HashMap<String, Tensor>> {
        match (&self.selected_weights, self.opts.selection) {
            (Some(w), s) if s != Selection::Last => Ok(w.clone()),
            _ => copy_weights(&self.varmap),
        }
    }

    /// The update after which the weights [`Trainer::selected_weights`] returns were made.
    pub fn weights_step(&self) -> usize {
        match (&self.selected_weights, &self.state.selected, self.opts.selection) {
            (Some(_), Some(e), s) if s != Selection::Last => e.step,
            _ => self.state.step,
        }
    }

    /// What the train stage publishes: the selected weights (see
    /// [`Trainer::selected_weights`]) with their configuration, recorded as made at
    /// [`Trainer::weights_step`] by `stage` (its cache `key` and `params`, JSON).
    pub fn published(&self, stage: &str, key: &str, params: &str) -> Result<Published> {
        let provenance = Provenance { stage: stage.into(), key: key.into(), step: self.weights_step(), params: params.into() };
        Ok(Published { config: self.cfg.clone(), weights: self.selected_weights()?, provenance })
    }

    /// Writes a checkpoint of the current state into `ckpt_dir` now.
    pub fn checkpoint(&mut self, ckpt_dir: &Path) -> Result<PathBuf> {
        self.state.adam_steps = self.adam.steps().into_iter().collect();
        let state_json = serde_json::to_vec(&self.state).map_err(Error::wrap)?;
        let best = match self.opts.selection {
            Selection::Last => None,
            _ => self.selected_weights.as_ref(),
        };
        let contents = checkpoint::Contents {
            step: self.state.step,
            model: &self.varmap,
            optimizer: self.adam.moments()?,
            best,
            state_json,
        };
        checkpoint::write(ckpt_dir, contents, self.opts.keep_checkpoints)
    }

    fn report(&self, stop: StopReason) -> TrainReport {
        TrainReport {
            steps: self.state.step,
            epochs: self.state.epoch,
            stop,
            selected: self.state.selected.clone(),
            resumed_from: self.resumed_from,
            curve: self.state.curve.clone(),
        }
    }

    /// Trains on `train` until `max_steps` updates (or early stop), validating on `valid`
    /// (none when it is empty) and checkpointing into `ckpt_dir` (none when `None`).
    ///
    /// Each epoch is a shuffle of `train` from the run's generator, cut into batches of
    /// `batch_size` (the last one smaller), collated by the model crate's [`collate`]. A
    /// resumed trainer continues with the very batches an uninterrupted run would have used;
    /// it must be given the same `train`.
    pub fn run(
        &mut self,
        train: &[Example],
        valid: &[Example],
        ckpt_dir: Option<&Path>,
        on_event: &mut dyn FnMut(Event) -> ControlFlow<()>,
    ) -> Result<TrainReport> {
        if train.is_empty() {
            bail!("train: no training examples");
        }
        let fp = fingerprint(train);
        match (self.state.train_examples, self.state.train_fingerprint) {
            (Some(n), Some(f)) if n != train.len() || f != fp => bail!(
                "train: the checkpoint was trained on another training set ({n} examples, fingerprint {f:016x}; given {} examples, {fp:016x})",
                train.len()
            ),
            _ => {
                self.state.train_examples = Some(train.len());
                self.state.train_fingerprint = Some(fp);
            }
        }
        if let Some(dir) = ckpt_dir {
            checkpoint::remove_partial(dir)?;
            if let Some((s, p)) = checkpoint::latest_checkpoint(dir)?
                && s > self.state.step
            {
                bail!(
                    "{}: a checkpoint of a later step ({s}) than this run's ({}) is there, from another run; resume from it or use an empty folder",
                    p.display(),
                    self.state.step
                );
            }
        }
        let valid_refs: Vec<&Example> = if self.opts.shuffle_valid {
            Rng::seed_from(self.opts.seed ^ VALID_STREAM)
                .permutation(valid.len())
                .into_iter()
                .map(|i| &valid[i])
                .collect()
        } else {
            valid.iter().collect()
        };

        let n = train.len();
        let mut order = if self.state.epoch > 0 {
            let mut rng = Rng::from_state(self.state.rng_epoch_start);
            let order = rng.permutation(n);
            if rng.state() != self.state.rng {
                bail!("train: cannot rebuild the epoch's order from the saved generator state");
            }
            order
        } else {
            vec![]
        };
        let total = self.opts.max_steps;
        let mut stop = StopReason::MaxSteps;
        if self.state.early_stopped {
            return Ok(self.report(StopReason::EarlyStop));
        }
        while self.state.step < total {
            if self.state.epoch == 0 || self.state.position >= n {
                let mut rng = Rng::from_state(self.state.rng);
                self.state.rng_epoch_start = rng.state();
                order = rng.permutation(n);
                self.state.rng = rng.state();
                self.state.epoch += 1;
                self.state.position = 0;
            }
            let end = (self.state.position + self.opts.batch_size).min(n);
            let examples: Vec<&Example> = order[self.state.position..end].iter().map(|&i| &train[i]).collect();
            let record = self.train_step(&examples)?;
            self.state.position = end;
            self.state.curve.steps.push(record);
            let record = self.state.curve.steps.last().expect("pushed");
            // A `Break` takes effect once this update's validation and checkpoint (if due)
            // are done, so that the state is always one an uninterrupted run passes through.
            let mut interrupted = on_event(Event::Step { record, total }).is_break();

            let step = self.state.step;
            if !valid_refs.is_empty() && step.is_multiple_of(self.opts.eval_every) && step > self.opts.eval_after {
                let ev = evaluate(&self.model, &valid_refs, self.opts.eval_batch_size, &self.device)?;
                let record = self.select(ev)?;
                interrupted |= on_event(Event::Eval(&record)).is_break();
                if let Some(p) = self.opts.patience
                    && self.state.evals_since_min >= p
                {
                    self.state.early_stopped = true;
                    stop = StopReason::EarlyStop;
                }
            }
            let last = self.state.step >= total || self.state.early_stopped;
            if let Some(dir) = ckpt_dir
                && (step.is_multiple_of(self.opts.checkpoint_every) || last)
            {
                let path = self.checkpoint(dir)?;
                interrupted |= on_event(Event::Checkpoint { step, path: &path }).is_break();
            }
            if interrupted && !last {
                return Ok(self.report(StopReason::Interrupted));
            }
            if self.state.early_stopped {
                break;
            }
        }
        Ok(self.report(stop))
    }

    /// One update on `examples`.
    fn train_step(&mut self, examples: &[&Example]) -> Result<StepRecord> {
        let step = self.state.step + 1;
        let epoch = self.state.epoch;
        let at = |e: Error| crate::errors::msg(format!("update {step} (epoch {epoch}): {}", crate::errors::message(&e)));
        let batch = collate(examples, &self.device).map_err(at)?;
        let (grads, losses) = gradients(&self.model, &batch).map_err(at)?;
        let lr = self.opts.noam.rate(step);
        if !losses.total.is_finite() {
            // Adam would spread it into every weight: stop before the update.
            return Err(crate::errors::msg(non_finite_loss(step, epoch, &losses, lr, &self.opts.noam)));
        }
        self.adam.step(&grads, lr)?;
        self.state.step = step;
        Ok(StepRecord {
            step,
            epoch: self.state.epoch,
            examples: examples.len(),
            loss: losses.total,
            nll: losses.nll,
            emotion_loss: losses.emotion,
            lr,
            ppl: losses.nll.exp(),
            accuracy: losses.correct as f64 / examples.len() as f64,
        })
    }

    /// Records a validation and applies the selection rule and the patience count.
    fn select(&mut self, ev: Evaluation) -> Result<EvalRecord> {
        let st = &mut self.state;
        let selected = match self.opts.selection {
            Selection::BestPpl => st.selected.as_ref().is_none_or(|s| ev.ppl < s.ppl),
            Selection::Reference => {
                let take = ev.ppl <= st.reference_best_ppl || (ev.ppl < 38.0 && ev.accuracy > 0.5);
                if take {
                    st.reference_best_ppl = ev.ppl;
                }
                take
            }
            Selection::Last => true,
        };
        if st.min_ppl.is_none_or(|m| ev.ppl < m) {
            st.min_ppl = Some(ev.ppl);
            st.evals_since_min = 0;
        } else {
            st.evals_since_min += 1;
        }
        let record = EvalRecord {
            step: st.step,
            ppl: ev.ppl,
            nll: ev.nll,
            accuracy: ev.accuracy,
            examples: ev.examples,
            selected,
        };
        if selected {
            st.selected = Some(record.clone());
            if self.opts.selection != Selection::Last {
                self.selected_weights = Some(copy_weights(&self.varmap)?);
            }
        }
        st.curve.evals.push(record.clone());
        Ok(record)
    }
}

/// The message for a NaN or infinite training loss at update `step` (made with rate `lr`).
fn non_finite_loss(step: usize, epoch: usize, l: &super::step::StepLosses, lr: f64, noam: &Noam) -> String {
    format!(
        "update {step} (epoch {epoch}): the training loss is {:.4} (token NLL {:.4}, emotion cross-entropy {:.4}); training \
         stopped before applying this update. Check the word vectors first (tokenize `vectors`: values far \
         outside GloVe's range of about ±5 overflow in the model), then the learning rate: this update's Noam rate \
         was {lr:.3e} (dim {}, warmup {}; a short `warmup` gives large early rates)",
        l.total, l.nll, l.emotion, noam.d_model, noam.warmup
    )
}

/// Copies the covered rows of `v` into the embedding table.
fn load_vectors(varmap: &VarMap, cfg: &IammConfig, v: Vectors) -> Result<()> {
    let vocab = cfg.vocab_size;
    if v.dim != cfg.emb_dim {
        bail!(
            "word vectors are {}-dimensional but the model's embeddings are {}-dimensional (emb_dim); use vectors of that size or none",
            v.dim,
            cfg.emb_dim
        );
    }
    if v.covered.len() != vocab || v.values.len() != vocab * v.dim {
        bail!(
            "word vectors: {} rows of {} numbers with {} coverage flags for a vocabulary of {vocab}",
            v.values.len() / v.dim.max(1),
            v.dim,
            v.covered.len()
        );
    }
    let data = varmap.data().lock().expect("varmap lock");
    let Some(var) = data.get(EMBEDDING_VAR) else { bail!("the model has no {EMBEDDING_VAR}") };
    let mut table = var.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    for (i, _) in v.covered.iter().enumerate().filter(|(_, c)| **c) {
        table[i * v.dim..(i + 1) * v.dim].copy_from_slice(&v.values[i * v.dim..(i + 1) * v.dim]);
    }
    let t = Tensor::from_vec(table, (vocab, v.dim), var.device())?.to_dtype(var.dtype())?;
    var.set(&t)
}
