//! What the train stage publishes: the selected weights (`model.safetensors`, with where they
//! came from in the header's `__metadata__`) and their configuration (`config.json`, a
//! serialized [`IammConfig`]). [`Published::save`] writes both and [`Published::load`] reads
//! a model back: no other code knows the two files.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Error, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;

use crate::model::{Iamm, IammConfig};
use crate::training::io;

/// A trained model as the train stage publishes it.
#[derive(Debug, Clone)]
pub struct Published {
    pub config: IammConfig,
    /// Tensors by `VarBuilder` name.
    pub weights: HashMap<String, Tensor>,
    pub provenance: Provenance,
}

/// Where published weights came from, in the weights file's `__metadata__`.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// The train stage's name and cache key.
    pub stage: String,
    pub key: String,
    /// The update after which the weights were made.
    pub step: usize,
    /// The stage's params, as JSON.
    pub params: String,
}

impl Published {
    pub const WEIGHTS: &str = "model.safetensors";
    pub const CONFIG: &str = "config.json";

    /// Writes `model.safetensors` (atomically) and `config.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let p = &self.provenance;
        let metadata = [("stage", p.stage.clone()), ("key", p.key.clone()), ("step", p.step.to_string()), ("params", p.params.clone())];
        save_atomic(&self.weights, metadata.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), &dir.join(Self::WEIGHTS))?;
        let path = dir.join(Self::CONFIG);
        std::fs::write(&path, serde_json::to_vec_pretty(&self.config).map_err(Error::wrap)?).map_err(|e| io(&path, "cannot write", e))
    }

    /// Loads the model published in `dir`, its weights as f32 on `device`.
    ///
    /// Errors name the file and what is wrong: a missing or unreadable file, a configuration
    /// that does not deserialize or validate, a tensor the configuration needs that the
    /// weights lack, a tensor whose shape differs (both shapes given), tensors the
    /// configuration does not use (weights of another variant or size).
    pub fn load(dir: &Path, device: &Device) -> Result<Iamm> {
        let (weights, config) = (dir.join(Self::WEIGHTS), dir.join(Self::CONFIG));
        let cfg = read_config(&config)?;
        if !weights.is_file() {
            return Err(msg(format!(
                "model weights {}: no such file (the train stage publishes `{}`)",
                weights.display(),
                Self::WEIGHTS
            )));
        }
        let tensors = candle_core::safetensors::load(&weights, device)
            .map_err(|e| msg(format!("model weights {}: cannot read as safetensors: {e}", weights.display())))?;
        let used = Arc::new(Mutex::new(HashSet::new()));
        let names: Vec<String> = tensors.keys().cloned().collect();
        let backend = Checked { tensors, used: used.clone(), weights: weights.clone(), config: config.clone() };
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
}

/// Saves tensors as safetensors at `path`, with `metadata` in the header's `__metadata__`,
/// through a temporary file and a rename.
fn save_atomic(tensors: &HashMap<String, Tensor>, metadata: HashMap<String, String>, path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create", e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("weights");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut bytes = safetensors::serialize(tensors, Some(metadata))?;
    sort_metadata(&mut bytes)?;
    std::fs::write(&tmp, &bytes).map_err(|e| io(&tmp, "cannot write", e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io(&tmp, "cannot sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, "cannot rename into place", e))
}

/// safetensors writes `__metadata__` in `HashMap` order, which changes from process to
/// process: sorted here, so that the same weights and metadata make the same file. The
/// header keeps its length (the same entries in another order), so nothing moves.
fn sort_metadata(file: &mut [u8]) -> Result<()> {
    let n = file.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize);
    let Some(header) = n.and_then(|n| file.get_mut(8..8 + n)) else { bail!("safetensors: no header") };
    let mut json: serde_json::Value = serde_json::from_slice(header).map_err(Error::wrap)?;
    let Some(metadata) = json.get_mut("__metadata__").and_then(|m| m.as_object_mut()) else { return Ok(()) };
    metadata.sort_keys();
    let mut sorted = serde_json::to_vec(&json).map_err(Error::wrap)?;
    if sorted.len() > header.len() {
        bail!("safetensors: the sorted header is longer than the written one");
    }
    sorted.resize(header.len(), b' ');
    header.copy_from_slice(&sorted);
    Ok(())
}

/// Reads and validates `config.json`.
fn read_config(config: &Path) -> Result<IammConfig> {
    let text = std::fs::read_to_string(config).map_err(|e| {
        msg(format!(
            "model configuration {}: cannot read ({e}); the train stage publishes `{}` beside the weights",
            config.display(),
            Published::CONFIG
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> HashMap<String, String> {
        // A new map each time: its own hasher, so its own iteration order.
        (0..20).map(|i| (format!("key{i}"), format!("value {i}"))).collect()
    }

    #[test]
    fn metadata_leaves_the_tensors_as_candle_writes_them_and_the_file_repeatable() {
        let dev = Device::Cpu;
        let tensors: HashMap<String, Tensor> = [
            ("a.weight", Tensor::arange(0f32, 12.0, &dev).unwrap().reshape((3, 4)).unwrap()),
            ("b.bias", Tensor::new(&[1.5f32, -2.0], &dev).unwrap()),
            ("c", Tensor::new(&[7u32, 8, 9], &dev).unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.safetensors");
        candle_core::safetensors::save(&tensors, &plain).unwrap();
        let with = dir.path().join("with.safetensors");
        save_atomic(&tensors, metadata(), &with).unwrap();
        let (plain, with) = (std::fs::read(&plain).unwrap(), std::fs::read(&with).unwrap());

        let (a, b) = (safetensors::SafeTensors::deserialize(&plain).unwrap(), safetensors::SafeTensors::deserialize(&with).unwrap());
        let mut names: Vec<String> = a.names().into_iter().map(|n| n.to_string()).collect();
        names.sort();
        let mut with_names: Vec<String> = b.names().into_iter().map(|n| n.to_string()).collect();
        with_names.sort();
        assert_eq!(names, with_names);
        for name in &names {
            let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
            assert_eq!((x.dtype(), x.shape(), x.data()), (y.dtype(), y.shape(), y.data()), "{name}");
        }
        let (_, header) = safetensors::SafeTensors::read_metadata(&with).unwrap();
        assert_eq!(header.metadata(), &Some(metadata()));

        // Sorted in the header, so the same weights and metadata make the same bytes.
        let n = u64::from_le_bytes(with[..8].try_into().unwrap()) as usize;
        let json: serde_json::Value = serde_json::from_slice(&with[8..8 + n]).unwrap();
        let keys: Vec<&String> = json["__metadata__"].as_object().unwrap().keys().collect();
        assert!(keys.is_sorted(), "{keys:?}");
        let again = dir.path().join("again.safetensors");
        for _ in 0..3 {
            save_atomic(&tensors, metadata(), &again).unwrap();
            assert_eq!(std::fs::read(&again).unwrap(), with);
        }
    }
}
