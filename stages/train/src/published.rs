//! Loading a trained model: `model.safetensors` (from `Trainer::save_weights`) and
//! `config.json` (the serialized [`IammConfig`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Error, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use crate::model::{Iamm, IammConfig};

/// Loads a model as the train stage publishes it: the weights file (`model.safetensors`,
/// written by `Trainer::save_weights`) and its configuration (`config.json`, a serialized
/// [`IammConfig`]). Weights are loaded as f32 onto `device`.
///
/// Errors name the file and what is wrong: a missing or unreadable file, a configuration
/// that does not deserialize or validate, a tensor the configuration needs that the weights
/// lack, a tensor whose shape differs (both shapes given), tensors the configuration does
/// not use (weights of another variant or size).
pub fn load_model(weights: &Path, config: &Path, device: &Device) -> Result<Iamm> {
    let cfg = read_config(config)?;
    if !weights.is_file() {
        return Err(msg(format!(
            "model weights {}: no such file (the train stage publishes `model.safetensors`)",
            weights.display()
        )));
    }
    let tensors = candle_core::safetensors::load(weights, device)
        .map_err(|e| msg(format!("model weights {}: cannot read as safetensors: {e}", weights.display())))?;
    let used = Arc::new(Mutex::new(HashSet::new()));
    let backend = Checked {
        tensors,
        used: used.clone(),
        weights: weights.to_path_buf(),
        config: config.to_path_buf(),
    };
    let names: Vec<String> = backend.tensors.keys().cloned().collect();
    let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, device.clone());
    let model = Iamm::new(&cfg, vb)?;
    let used = used.lock().expect("used-names lock");
    let mut extra: Vec<&String> = names.iter().filter(|n| !used.contains(*n)).collect();
    if !extra.is_empty() {
        extra.sort();
        let shown: Vec<&str> = extra.iter().take(8).map(|s| s.as_str()).collect();
        return Err(msg(format!(
            "model weights {}: {} tensor(s) are not part of the model that {} describes (variant {:?}): {}{} — \
             are the weights and the configuration from the same train stage?",
            weights.display(),
            extra.len(),
            config.display(),
            cfg.variant,
            shown.join(", "),
            if extra.len() > shown.len() { ", …" } else { "" }
        )));
    }
    Ok(model)
}

/// Reads and validates `config.json`.
pub(crate) fn read_config(config: &Path) -> Result<IammConfig> {
    let text = std::fs::read_to_string(config).map_err(|e| {
        msg(format!(
            "model configuration {}: cannot read ({e}); the train stage publishes `config.json` beside the weights",
            config.display()
        ))
    })?;
    let cfg: IammConfig = serde_json::from_str(&text)
        .map_err(|e| msg(format!("model configuration {}: not an IAMM configuration: {e}", config.display())))?;
    cfg.validate().map_err(|e| msg(format!("model configuration {}: {e}", config.display())))?;
    Ok(cfg)
}

fn msg(s: String) -> Error {
    Error::Msg(s)
}

/// A `VarBuilder` backend over the loaded tensors that reports missing tensors and shape
/// mismatches with both file names, and records which tensors were used.
struct Checked {
    tensors: HashMap<String, Tensor>,
    used: Arc<Mutex<HashSet<String>>>,
    weights: PathBuf,
    config: PathBuf,
}

impl SimpleBackend for Checked {
    fn get(&self, s: Shape, name: &str, _: candle_nn::Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let Some(t) = self.tensors.get(name) else {
            return Err(msg(format!(
                "model weights {}: no tensor `{name}` (shape {:?}), which the configuration {} needs — \
                 are the weights and the configuration from the same train stage?",
                self.weights.display(),
                s.dims(),
                self.config.display()
            )));
        };
        if t.shape() != &s {
            return Err(msg(format!(
                "model weights {}: tensor `{name}` has shape {:?}, but the configuration {} needs {:?}",
                self.weights.display(),
                t.dims(),
                self.config.display(),
                s.dims()
            )));
        }
        self.used.lock().expect("used-names lock").insert(name.to_string());
        t.to_device(dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let Some(t) = self.tensors.get(name) else {
            return Err(msg(format!("model weights {}: no tensor `{name}`", self.weights.display())));
        };
        self.used.lock().expect("used-names lock").insert(name.to_string());
        t.to_device(dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}
