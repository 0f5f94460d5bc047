//! The training curve while it grows: `curve_steps.csv` and `curve_evals.csv` in the
//! checkpoint folder, with the columns of the published tables, appended at each validation
//! and checkpoint, for a person (or `iamm-pipe show`) to read during a run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Result;

use super::checkpoint::io;
use super::trainer::{Curve, EvalRecord, Event, StepRecord};

const STEPS_CSV: &str = "curve_steps.csv";
const EVALS_CSV: &str = "curve_evals.csv";
const STEPS_HEADER: &str = "step,loss,nll,emotion_loss,lr,ppl,accuracy";
const EVALS_HEADER: &str = "step,ppl,accuracy";

/// Appends the curve to its CSV files as [`Event`]s come.
pub struct LiveCurve {
    steps: PathBuf,
    evals: PathBuf,
    /// Rows not written yet.
    pending_steps: Vec<String>,
    pending_evals: Vec<String>,
}

fn step_row(r: &StepRecord) -> String {
    format!("{},{},{},{},{},{},{}\n", r.step, r.loss, r.nll, r.emotion_loss, r.lr, r.ppl, r.accuracy)
}

fn eval_row(r: &EvalRecord) -> String {
    format!("{},{},{}\n", r.step, r.ppl, r.accuracy)
}

impl LiveCurve {
    /// Writes the files in `dir` anew from `curve`, the trainer's curve as it starts (a resumed
    /// run's, from its checkpoint): rows that a killed process appended after that checkpoint
    /// go, since this run makes those updates again.
    pub fn start(dir: &Path, curve: &Curve) -> Result<LiveCurve> {
        let live = LiveCurve {
            steps: dir.join(STEPS_CSV),
            evals: dir.join(EVALS_CSV),
            pending_steps: vec![],
            pending_evals: vec![],
        };
        let steps: String = curve.steps.iter().map(step_row).collect();
        let evals: String = curve.evals.iter().map(eval_row).collect();
        replace(&live.steps, &format!("{STEPS_HEADER}\n{steps}"))?;
        replace(&live.evals, &format!("{EVALS_HEADER}\n{evals}"))?;
        Ok(live)
    }

    /// Takes `event` in; at a validation or a checkpoint, appends the rows since the last one.
    pub fn record(&mut self, event: &Event) -> Result<()> {
        match event {
            Event::Step { record, .. } => {
                self.pending_steps.push(step_row(record));
                Ok(())
            }
            Event::Eval(record) => {
                self.pending_evals.push(eval_row(record));
                self.flush()
            }
            Event::Checkpoint { .. } => self.flush(),
        }
    }

    fn flush(&mut self) -> Result<()> {
        append(&self.steps, &self.pending_steps.concat())?;
        append(&self.evals, &self.pending_evals.concat())?;
        self.pending_steps.clear();
        self.pending_evals.clear();
        Ok(())
    }
}

/// Writes `path` through a temporary file and a rename: a reader never sees half of it.
fn replace(path: &Path, text: &str) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("curve");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, "cannot write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, "cannot rename into place", e))
}

fn append(path: &Path, text: &str) -> Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let mut f = File::options().append(true).open(path).map_err(|e| io(path, "cannot open", e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(path, "cannot append to", e))
}
