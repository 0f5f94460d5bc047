//! Checkpoint folders: `DIR/step-00000800/{model,optimizer,best}.safetensors` + `state.json`.
//!
//! A checkpoint is written into `DIR/.tmp-step-…` (every file synced) and renamed into place,
//! so a folder named `step-…` is always complete; a crash leaves at most a `.tmp-` folder,
//! which the next run removes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Error, Result, Tensor};

pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const BEST_FILE: &str = "best.safetensors";
pub const STATE_FILE: &str = "state.json";
const PREFIX: &str = "step-";
const TMP_PREFIX: &str = ".tmp-";

pub(crate) fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::msg(format!("{}: {what}: {e}", path.display()))
}

/// Complete checkpoints in `dir`, newest (highest step) first. A missing folder has none.
pub fn checkpoints(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(dir, "cannot list checkpoints", e)),
    };
    let mut out = vec![];
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, "cannot list checkpoints", e))?;
        let name = entry.file_name();
        let Some(step) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if path.join(STATE_FILE).is_file() {
            out.push((step, path));
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.0));
    Ok(out)
}

/// The newest complete checkpoint in `dir`.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<(usize, PathBuf)>> {
    Ok(checkpoints(dir)?.into_iter().next())
}

/// Removes `.tmp-` folders that an interrupted write left behind.
pub(crate) fn remove_partial(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(TMP_PREFIX)) {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(|e| io(&p, "cannot remove a partial checkpoint", e))?;
        }
    }
    Ok(())
}

fn sync(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| io(path, "cannot open", e))?;
    f.sync_all().map_err(|e| io(path, "cannot sync", e))
}

/// What one checkpoint holds.
pub(crate) struct Contents<'a> {
    pub step: usize,
    pub model: &'a candle_nn::VarMap,
    pub optimizer: HashMap<String, Tensor>,
    pub best: Option<&'a HashMap<String, Tensor>>,
    pub state_json: Vec<u8>,
}

/// Writes `c` as `dir/step-NNNNNNNN` atomically, then keeps only the `keep` newest
/// checkpoints (dropping any newer than this one: they belong to an abandoned future).
pub(crate) fn write(dir: &Path, c: Contents, keep: usize) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create the checkpoint folder", e))?;
    let name = format!("{PREFIX}{:08}", c.step);
    let tmp = dir.join(format!("{TMP_PREFIX}{name}-{}", iamm_core::writer_tag()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, "cannot remove", e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
    let files = [MODEL_FILE, OPTIMIZER_FILE, STATE_FILE];
    c.model.save(tmp.join(MODEL_FILE))?;
    candle_core::safetensors::save(&c.optimizer, tmp.join(OPTIMIZER_FILE))?;
    if let Some(best) = c.best {
        candle_core::safetensors::save(best, tmp.join(BEST_FILE))?;
        sync(&tmp.join(BEST_FILE))?;
    }
    let state = tmp.join(STATE_FILE);
    std::fs::write(&state, &c.state_json).map_err(|e| io(&state, "cannot write", e))?;
    for f in files {
        sync(&tmp.join(f))?;
    }
    sync(&tmp)?;
    let dst = dir.join(&name);
    if dst.exists() {
        // Rewriting a step (a run resumed from an older checkpoint got here again).
        let old = dir.join(format!("{TMP_PREFIX}old-{name}-{}", iamm_core::writer_tag()));
        std::fs::rename(&dst, &old).map_err(|e| io(&dst, "cannot move aside", e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, "cannot rename into place", e))?;
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, "cannot remove", e))?;
    } else {
        std::fs::rename(&tmp, &dst).map_err(|e| io(&dst, "cannot rename into place", e))?;
    }
    sync(dir)?;
    let all = checkpoints(dir)?;
    let newer = all.iter().filter(|(s, _)| *s > c.step);
    // Older ones, newest first: this checkpoint is one of the `keep`.
    let too_old = all.iter().filter(|(s, _)| *s < c.step).skip(keep.saturating_sub(1));
    for (_, path) in newer.chain(too_old) {
        std::fs::remove_dir_all(path).map_err(|e| io(path, "cannot remove an old checkpoint", e))?;
    }
    Ok(dst)
}
