//! Generation settings, resolved the way transformers 4.46 `generate(**kwargs)` does.
//!
//! Precedence (lowest first), as `model.generate(input_ids, **kwargs)` resolves it in 4.46 when
//! no `generation_config` argument is passed:
//!
//! 1. The model config: the class defaults (for `model_type: bart`, `BartConfig`'s: bos 0, pad 1,
//!    eos 2, decoder start 2, forced eos 2; otherwise `PretrainedConfig`'s) overlaid by `config.json`.
//! 2. `task`: `task_specific_params[task]` is merged over that config, as the reference's
//!    `use_task_specific_params(model, "summarization")` does (`model.config.update(...)`).
//! 3. The base generation config: `generation_config.json` if present, else one built from the
//!    *original* model config (`GenerationConfig.from_model_config`). If that base "comes from the
//!    model config" (no file, or a file saved with `"_from_model_config": true`, which is what
//!    exporting an old checkpoint such as COMET-ATOMIC 2020 writes) and the (task-merged) model
//!    config holds any generation parameter that differs from the class defaults, the base is
//!    rebuilt from the task-merged model config, as 4.46 does.
//!    One deliberate difference: with a *real* `generation_config.json` (not from the model
//!    config), 4.46 silently ignores the task params merged into the model config; here they are
//!    merged over that generation config instead, which is what the reference means (its
//!    transformers 4.11 had no generation config and always applied them).
//! 4. Explicit overrides (the `generate` keyword arguments). `decoder_start_token_id: Some(None)`
//!    is the reference's explicit `decoder_start_token_id=None`: in 4.46 it falls back to
//!    `bos_token_id` (transformers 4.11, which the reference pinned, fell back to the config's
//!    `decoder_start_token_id`; leave the override unset for that).
//! 5. Derived: `max_new_tokens` wins over `max_length` (max_length = max_new_tokens + 1, the
//!    decoder prompt being the start token); decoder start = decoder_start_token_id, else
//!    bos_token_id; pad = pad_token_id, else the first eos id.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CometError;

iamm_options::choices! {
    /// `early_stopping` of transformers' beam search: `true`, `false` (a heuristic) or `"never"`.
    pub enum EarlyStopping ("early_stopping") {
        True = "true",
        False = "false",
        Never = "never",
    }
}

impl Serialize for EarlyStopping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EarlyStopping::True => s.serialize_bool(true),
            EarlyStopping::False => s.serialize_bool(false),
            EarlyStopping::Never => s.serialize_str("never"),
        }
    }
}

/// Resolved settings for one beam search (what `generate` ends up using).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenerationSettings {
    pub num_beams: usize,
    pub num_return_sequences: usize,
    /// Maximum length of a returned sequence, decoder start token included.
    pub max_length: usize,
    /// EOS is banned while a sequence (start token included) is shorter than this.
    pub min_length: usize,
    pub length_penalty: f64,
    pub early_stopping: EarlyStopping,
    pub no_repeat_ngram_size: usize,
    pub forced_bos_token_id: Option<u32>,
    pub forced_eos_token_id: Option<Vec<u32>>,
    pub decoder_start_token_id: u32,
    /// Every id that ends a hypothesis; the first one is appended to finished sequences.
    pub eos_token_id: Vec<u32>,
    pub pad_token_id: u32,
    pub bos_token_id: Option<u32>,
}

/// Explicit settings from the caller, like keyword arguments to `generate`.
/// `None` leaves the configured value; for ids, `Some(None)` sets it to None.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub num_beams: Option<usize>,
    pub num_return_sequences: Option<usize>,
    pub max_length: Option<usize>,
    pub max_new_tokens: Option<usize>,
    pub min_length: Option<usize>,
    pub length_penalty: Option<f64>,
    pub early_stopping: Option<EarlyStopping>,
    pub no_repeat_ngram_size: Option<usize>,
    pub forced_bos_token_id: Option<Option<u32>>,
    pub forced_eos_token_id: Option<Option<u32>>,
    pub decoder_start_token_id: Option<Option<u32>>,
    pub eos_token_id: Option<Option<u32>>,
    pub pad_token_id: Option<Option<u32>>,
    pub bos_token_id: Option<Option<u32>>,
}

/// The JSON files that hold generation parameters.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFiles {
    pub config: Map<String, Value>,
    pub config_path: PathBuf,
    pub generation: Option<(Map<String, Value>, PathBuf)>,
}

/// `PretrainedConfig._get_global_generation_defaults()` (4.46): the generation parameters a model
/// config always carries, and the ones compared to decide whether it holds non-default ones.
const GLOBAL_GENERATION_DEFAULTS: &[(&str, DefaultValue)] = &[
    ("max_length", DefaultValue::Int(20)),
    ("min_length", DefaultValue::Int(0)),
    ("do_sample", DefaultValue::Bool(false)),
    ("early_stopping", DefaultValue::Bool(false)),
    ("num_beams", DefaultValue::Int(1)),
    ("num_beam_groups", DefaultValue::Int(1)),
    ("diversity_penalty", DefaultValue::Float(0.0)),
    ("temperature", DefaultValue::Float(1.0)),
    ("top_k", DefaultValue::Int(50)),
    ("top_p", DefaultValue::Float(1.0)),
    ("typical_p", DefaultValue::Float(1.0)),
    ("repetition_penalty", DefaultValue::Float(1.0)),
    ("length_penalty", DefaultValue::Float(1.0)),
    ("no_repeat_ngram_size", DefaultValue::Int(0)),
    ("encoder_no_repeat_ngram_size", DefaultValue::Int(0)),
    ("bad_words_ids", DefaultValue::Null),
    ("num_return_sequences", DefaultValue::Int(1)),
    ("output_scores", DefaultValue::Bool(false)),
    ("return_dict_in_generate", DefaultValue::Bool(false)),
    ("forced_bos_token_id", DefaultValue::Null),
    ("forced_eos_token_id", DefaultValue::Null),
    ("remove_invalid_values", DefaultValue::Bool(false)),
    ("exponential_decay_length_penalty", DefaultValue::Null),
    ("suppress_tokens", DefaultValue::Null),
    ("begin_suppress_tokens", DefaultValue::Null),
];

/// `GenerationConfig()` defaults (4.46) of the attributes that can change beam search output.
/// Only these are copied from a model config (`from_model_config` keeps GenerationConfig attributes).
const GENERATION_CONFIG_DEFAULTS: &[(&str, DefaultValue)] = &[
    ("max_length", DefaultValue::Int(20)),
    ("max_new_tokens", DefaultValue::Null),
    ("min_length", DefaultValue::Int(0)),
    ("min_new_tokens", DefaultValue::Null),
    ("early_stopping", DefaultValue::Bool(false)),
    ("max_time", DefaultValue::Null),
    ("stop_strings", DefaultValue::Null),
    ("do_sample", DefaultValue::Bool(false)),
    ("num_beams", DefaultValue::Int(1)),
    ("num_beam_groups", DefaultValue::Int(1)),
    ("penalty_alpha", DefaultValue::Null),
    ("diversity_penalty", DefaultValue::Float(0.0)),
    ("repetition_penalty", DefaultValue::Float(1.0)),
    ("encoder_repetition_penalty", DefaultValue::Float(1.0)),
    ("length_penalty", DefaultValue::Float(1.0)),
    ("no_repeat_ngram_size", DefaultValue::Int(0)),
    ("bad_words_ids", DefaultValue::Null),
    ("force_words_ids", DefaultValue::Null),
    ("renormalize_logits", DefaultValue::Bool(false)),
    ("constraints", DefaultValue::Null),
    ("forced_bos_token_id", DefaultValue::Null),
    ("forced_eos_token_id", DefaultValue::Null),
    ("remove_invalid_values", DefaultValue::Bool(false)),
    ("exponential_decay_length_penalty", DefaultValue::Null),
    ("suppress_tokens", DefaultValue::Null),
    ("begin_suppress_tokens", DefaultValue::Null),
    ("forced_decoder_ids", DefaultValue::Null),
    ("sequence_bias", DefaultValue::Null),
    ("guidance_scale", DefaultValue::Null),
    ("watermarking_config", DefaultValue::Null),
    ("num_return_sequences", DefaultValue::Int(1)),
    ("pad_token_id", DefaultValue::Null),
    ("bos_token_id", DefaultValue::Null),
    ("eos_token_id", DefaultValue::Null),
    ("encoder_no_repeat_ngram_size", DefaultValue::Int(0)),
    ("decoder_start_token_id", DefaultValue::Null),
];

/// Attributes whose non-default values switch on something this stage does not implement.
const UNSUPPORTED: &[&str] = &[
    "min_new_tokens",
    "max_time",
    "stop_strings",
    "do_sample",
    "num_beam_groups",
    "penalty_alpha",
    "diversity_penalty",
    "repetition_penalty",
    "encoder_repetition_penalty",
    "bad_words_ids",
    "force_words_ids",
    "renormalize_logits",
    "constraints",
    "remove_invalid_values",
    "exponential_decay_length_penalty",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_decoder_ids",
    "sequence_bias",
    "guidance_scale",
    "watermarking_config",
    "encoder_no_repeat_ngram_size",
];

#[derive(Debug, Clone, Copy)]
enum DefaultValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl DefaultValue {
    fn to_json(self) -> Value {
        match self {
            DefaultValue::Null => Value::Null,
            DefaultValue::Bool(b) => Value::Bool(b),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Float(f) => Value::from(f),
        }
    }
}

/// Python `==` on JSON-like values: numbers and bools compare by value (True == 1, 2 == 2.0).
fn py_eq(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
            _ => a == b,
        },
    }
}

/// The model config's attributes: class defaults, then `config.json`.
fn model_config_attrs(config: &Map<String, Value>) -> Map<String, Value> {
    let mut attrs = class_defaults(config);
    for (k, v) in config {
        attrs.insert(k.clone(), v.clone());
    }
    // BartConfig keeps a retired flag working: force_bos_token_to_be_generated -> forced_bos = bos.
    if is_bart(config)
        && attrs.get("forced_bos_token_id").is_none_or(Value::is_null)
        && config.get("force_bos_token_to_be_generated").is_some_and(|v| py_eq(v, &Value::Bool(true)))
    {
        let bos = attrs.get("bos_token_id").cloned().unwrap_or(Value::Null);
        attrs.insert("forced_bos_token_id".into(), bos);
    }
    attrs
}

fn is_bart(config: &Map<String, Value>) -> bool {
    config.get("model_type").and_then(Value::as_str) == Some("bart")
}

/// What `ConfigClass()` holds for the generation parameters and special ids.
fn class_defaults(config: &Map<String, Value>) -> Map<String, Value> {
    let mut m: Map<String, Value> =
        GLOBAL_GENERATION_DEFAULTS.iter().map(|(k, v)| ((*k).to_string(), v.to_json())).collect();
    for k in ["bos_token_id", "pad_token_id", "eos_token_id", "decoder_start_token_id"] {
        m.insert(k.into(), Value::Null);
    }
    if is_bart(config) {
        for (k, v) in [
            ("bos_token_id", 0),
            ("pad_token_id", 1),
            ("eos_token_id", 2),
            ("decoder_start_token_id", 2),
            ("forced_eos_token_id", 2),
        ] {
            m.insert(k.into(), Value::from(v));
        }
    }
    m
}

/// `PretrainedConfig._get_non_default_generation_parameters()` is non-empty.
fn has_non_default_generation_parameters(attrs: &Map<String, Value>, defaults: &Map<String, Value>) -> bool {
    GLOBAL_GENERATION_DEFAULTS.iter().any(|(k, _)| match attrs.get(*k) {
        None | Some(Value::Null) => false,
        Some(v) => !defaults.get(*k).is_some_and(|d| py_eq(v, d)),
    })
}

/// `GenerationConfig.from_model_config`: GenerationConfig defaults, then every non-null attribute
/// of the model config that is a GenerationConfig attribute.
fn from_model_config(attrs: &Map<String, Value>) -> Map<String, Value> {
    let mut g = generation_defaults();
    for (k, _) in GENERATION_CONFIG_DEFAULTS {
        if let Some(v) = attrs.get(*k).filter(|v| !v.is_null()) {
            g.insert((*k).to_string(), v.clone());
        }
    }
    g
}

fn generation_defaults() -> Map<String, Value> {
    GENERATION_CONFIG_DEFAULTS.iter().map(|(k, v)| ((*k).to_string(), v.to_json())).collect()
}

/// Resolves the settings (see the module docs for the order).
pub(crate) fn resolve(
    files: &ConfigFiles,
    task: Option<&str>,
    overrides: &Overrides,
) -> Result<GenerationSettings, CometError> {
    let original = model_config_attrs(&files.config);
    let mut merged = original.clone();
    let mut task_params: Option<&Map<String, Value>> = None;
    if let Some(task) = task {
        match files.config.get("task_specific_params") {
            None | Some(Value::Null) => {} // transformers: nothing to merge, silently
            Some(Value::Object(tsp)) => match tsp.get(task) {
                Some(Value::Object(params)) => {
                    for (k, v) in params {
                        merged.insert(k.clone(), v.clone());
                    }
                    task_params = Some(params);
                }
                Some(other) => {
                    return Err(CometError::BadConfig {
                        path: files.config_path.clone(),
                        message: format!("task_specific_params.{task} should be an object, found {other}"),
                    });
                }
                None => {
                    // transformers would merge nothing; a misspelt task is more likely than intent.
                    let known: Vec<&str> = tsp.keys().map(String::as_str).collect();
                    return Err(CometError::Settings(format!(
                        "task `{task}` is not in {}'s task_specific_params (it has: {})",
                        files.config_path.display(),
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    )));
                }
            },
            Some(other) => {
                return Err(CometError::BadConfig {
                    path: files.config_path.clone(),
                    message: format!("task_specific_params should be an object, found {other}"),
                });
            }
        }
    }

    let (mut g, from_model) = match &files.generation {
        Some((gen_json, _)) => {
            let mut g = generation_defaults();
            for (k, v) in gen_json {
                if g.contains_key(k) {
                    g.insert(k.clone(), v.clone());
                }
            }
            let from_model = gen_json.get("_from_model_config").is_some_and(|v| py_eq(v, &Value::Bool(true)));
            (g, from_model)
        }
        None => (from_model_config(&original), true),
    };
    if from_model {
        if has_non_default_generation_parameters(&merged, &class_defaults(&files.config)) {
            g = from_model_config(&merged);
        }
    } else if let Some(params) = task_params {
        for (k, v) in params {
            if g.contains_key(k) {
                g.insert(k.clone(), v.clone());
            }
        }
    }

    apply_overrides(&mut g, overrides);
    let source = match &files.generation {
        Some((_, p)) if !from_model => p.display().to_string(),
        _ => files.config_path.display().to_string(),
    };
    typed(&g, &source)
}

fn apply_overrides(g: &mut Map<String, Value>, o: &Overrides) {
    let mut set = |k: &str, v: Value| {
        g.insert(k.to_string(), v);
    };
    let id = |v: Option<u32>| v.map_or(Value::Null, Value::from);
    if let Some(v) = o.num_beams {
        set("num_beams", v.into());
    }
    if let Some(v) = o.num_return_sequences {
        set("num_return_sequences", v.into());
    }
    if let Some(v) = o.max_length {
        set("max_length", v.into());
    }
    if let Some(v) = o.max_new_tokens {
        set("max_new_tokens", v.into());
    }
    if let Some(v) = o.min_length {
        set("min_length", v.into());
    }
    if let Some(v) = o.length_penalty {
        set("length_penalty", v.into());
    }
    if let Some(v) = o.early_stopping {
        set(
            "early_stopping",
            match v {
                EarlyStopping::True => Value::Bool(true),
                EarlyStopping::False => Value::Bool(false),
                EarlyStopping::Never => Value::from("never"),
            },
        );
    }
    if let Some(v) = o.no_repeat_ngram_size {
        set("no_repeat_ngram_size", v.into());
    }
    if let Some(v) = o.forced_bos_token_id {
        set("forced_bos_token_id", id(v));
    }
    if let Some(v) = o.forced_eos_token_id {
        set("forced_eos_token_id", id(v));
    }
    if let Some(v) = o.decoder_start_token_id {
        set("decoder_start_token_id", id(v));
    }
    if let Some(v) = o.eos_token_id {
        set("eos_token_id", id(v));
    }
    if let Some(v) = o.pad_token_id {
        set("pad_token_id", id(v));
    }
    if let Some(v) = o.bos_token_id {
        set("bos_token_id", id(v));
    }
}

/// Reads the typed settings out of a resolved generation config and checks them.
fn typed(g: &Map<String, Value>, source: &str) -> Result<GenerationSettings, CometError> {
    let bad = |k: &str, want: &str, v: &Value| {
        CometError::Settings(format!("`{k}` (from {source} or an override) should be {want}, found {v}"))
    };
    let get = |k: &str| g.get(k).unwrap_or(&Value::Null);
    let uint = |k: &str| -> Result<usize, CometError> {
        let v = get(k);
        match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                .and_then(|u| usize::try_from(u).ok())
                .ok_or_else(|| bad(k, "a non-negative integer", v)),
            _ => Err(bad(k, "a non-negative integer", v)),
        }
    };
    let opt_id = |k: &str| -> Result<Option<u32>, CometError> {
        let v = get(k);
        match v {
            Value::Null => Ok(None),
            Value::Number(n) => {
                n.as_u64().and_then(|u| u32::try_from(u).ok()).map(Some).ok_or_else(|| bad(k, "a token id", v))
            }
            _ => Err(bad(k, "a token id", v)),
        }
    };
    let opt_ids = |k: &str| -> Result<Option<Vec<u32>>, CometError> {
        let v = get(k);
        let one = |x: &Value| x.as_u64().and_then(|u| u32::try_from(u).ok());
        match v {
            Value::Null => Ok(None),
            Value::Number(_) => one(v).map(|i| Some(vec![i])).ok_or_else(|| bad(k, "a token id or a list of them", v)),
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| one(x).ok_or_else(|| bad(k, "a token id or a list of them", v)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            _ => Err(bad(k, "a token id or a list of them", v)),
        }
    };

    let unsupported: Vec<String> = UNSUPPORTED
        .iter()
        .filter_map(|k| {
            let v = get(k);
            let d = GENERATION_CONFIG_DEFAULTS.iter().find(|(n, _)| n == k).map(|(_, d)| d.to_json());
            let is_default = v.is_null() || d.as_ref().is_some_and(|d| py_eq(v, d));
            (!is_default).then(|| format!("{k}={v}"))
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(CometError::Settings(format!(
            "{} sets {}, which this stage's beam search does not implement (it reproduces plain beam search \
             with min_length, no_repeat_ngram_size, forced BOS/EOS and length_penalty); override or remove them",
            source,
            unsupported.join(", ")
        )));
    }

    let num_beams = uint("num_beams")?;
    if num_beams < 2 {
        return Err(CometError::Settings(format!(
            "num_beams is {num_beams}; this stage implements beam search only (num_beams >= 2), \
             set it with an override (the reference uses 5)"
        )));
    }
    let num_return_sequences = uint("num_return_sequences")?;
    if num_return_sequences == 0 || num_return_sequences > num_beams {
        return Err(CometError::Settings(format!(
            "num_return_sequences ({num_return_sequences}) must be between 1 and num_beams ({num_beams})"
        )));
    }
    let max_length = match get("max_new_tokens") {
        Value::Null => uint("max_length")?,
        _ => uint("max_new_tokens")?.saturating_add(1),
    };
    if max_length < 2 {
        return Err(CometError::Settings(format!(
            "max_length is {max_length}; it counts the decoder start token, so at least 2 is needed to generate anything"
        )));
    }
    let min_length = uint("min_length")?;
    let length_penalty = match get("length_penalty") {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        _ => None,
    }
    .ok_or_else(|| bad("length_penalty", "a number", get("length_penalty")))?;
    let early_stopping = match get("early_stopping") {
        Value::Bool(true) => EarlyStopping::True,
        Value::Bool(false) => EarlyStopping::False,
        Value::String(s) if s == "never" => EarlyStopping::Never,
        v => return Err(bad("early_stopping", "true, false or \"never\"", v)),
    };
    let no_repeat_ngram_size = uint("no_repeat_ngram_size")?;
    let forced_bos_token_id = opt_id("forced_bos_token_id")?;
    let forced_eos_token_id = opt_ids("forced_eos_token_id")?;
    let bos_token_id = opt_id("bos_token_id")?;
    let eos_token_id = opt_ids("eos_token_id")?.ok_or_else(|| {
        CometError::Settings(format!(
            "no eos_token_id in {source}; beam search needs one to end hypotheses (set it with an override)"
        ))
    })?;
    let decoder_start_token_id = opt_id("decoder_start_token_id")?.or(bos_token_id).ok_or_else(|| {
        CometError::Settings(format!(
            "neither decoder_start_token_id nor bos_token_id is set in {source}; encoder-decoder generation needs one"
        ))
    })?;
    let pad_token_id = opt_id("pad_token_id")?.unwrap_or(eos_token_id[0]);
    Ok(GenerationSettings {
        num_beams,
        num_return_sequences,
        max_length,
        min_length,
        length_penalty,
        early_stopping,
        no_repeat_ngram_size,
        forced_bos_token_id,
        forced_eos_token_id,
        decoder_start_token_id,
        eos_token_id,
        pad_token_id,
        bos_token_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(config: Value, generation: Option<Value>) -> ConfigFiles {
        let obj = |v: Value| match v {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        ConfigFiles {
            config: obj(config),
            config_path: "config.json".into(),
            generation: generation.map(|g| (obj(g), PathBuf::from("generation_config.json"))),
        }
    }

    fn comet_like() -> Value {
        json!({
            "model_type": "bart", "vocab_size": 1000,
            "num_beams": 4, "max_length": 62, "min_length": 11, "length_penalty": 1.0,
            "early_stopping": true, "no_repeat_ngram_size": 3,
            "task_specific_params": {
                "summarization": {"length_penalty": 2.0, "max_length": 24, "min_length": 5, "num_beams": 5}
            }
        })
    }

    #[test]
    fn config_then_task_then_overrides() {
        let f = files(comet_like(), None);
        let s = resolve(&f, None, &Overrides::default()).unwrap();
        assert_eq!((s.num_beams, s.max_length, s.min_length, s.length_penalty), (4, 62, 11, 1.0));
        assert_eq!(s.early_stopping, EarlyStopping::True);
        assert_eq!(s.no_repeat_ngram_size, 3);
        // BartConfig defaults fill what config.json leaves out.
        assert_eq!(s.forced_eos_token_id, Some(vec![2]));
        assert_eq!((s.decoder_start_token_id, s.pad_token_id, s.eos_token_id.clone()), (2, 1, vec![2]));
        let s = resolve(&f, Some("summarization"), &Overrides::default()).unwrap();
        assert_eq!((s.num_beams, s.max_length, s.min_length, s.length_penalty), (5, 24, 5, 2.0));
        let o = Overrides { num_beams: Some(6), num_return_sequences: Some(6), ..Default::default() };
        let s = resolve(&f, Some("summarization"), &o).unwrap();
        assert_eq!((s.num_beams, s.num_return_sequences), (6, 6));
    }

    #[test]
    fn explicit_none_decoder_start_falls_back_to_bos() {
        let f = files(comet_like(), None);
        let o = Overrides { decoder_start_token_id: Some(None), ..Default::default() };
        assert_eq!(resolve(&f, None, &o).unwrap().decoder_start_token_id, 0);
    }

    #[test]
    fn generation_config_from_model_config_still_takes_task_params() {
        let g = json!({"_from_model_config": true, "num_beams": 4, "max_length": 62, "decoder_start_token_id": 2});
        let f = files(comet_like(), Some(g));
        assert_eq!(resolve(&f, Some("summarization"), &Overrides::default()).unwrap().max_length, 24);
    }

    #[test]
    fn real_generation_config_wins_over_config_json_and_takes_task_params() {
        let g = json!({"num_beams": 3, "max_length": 40, "eos_token_id": 2, "decoder_start_token_id": 2});
        let f = files(comet_like(), Some(g));
        let s = resolve(&f, None, &Overrides::default()).unwrap();
        assert_eq!((s.num_beams, s.max_length, s.min_length), (3, 40, 0));
        assert_eq!(s.forced_eos_token_id, None);
        let s = resolve(&f, Some("summarization"), &Overrides::default()).unwrap();
        assert_eq!((s.num_beams, s.max_length, s.min_length, s.length_penalty), (5, 24, 5, 2.0));
    }

    #[test]
    fn bad_and_unsupported_settings_are_errors() {
        let f = files(comet_like(), None);
        let o = Overrides { num_return_sequences: Some(9), ..Default::default() };
        assert!(resolve(&f, None, &o).unwrap_err().to_string().contains("num_return_sequences"));
        let o = Overrides { num_beams: Some(1), ..Default::default() };
        assert!(resolve(&f, None, &o).unwrap_err().to_string().contains("beam search only"));
        let mut c = comet_like();
        c["repetition_penalty"] = json!(1.2);
        let e = resolve(&files(c, None), None, &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("repetition_penalty=1.2"), "{e}");
        let e = resolve(&f, Some("translation"), &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("summarization"), "{e}");
        let mut c = comet_like();
        c["early_stopping"] = json!("sometimes");
        assert!(resolve(&files(c, None), None, &Overrides::default()).is_err());
    }

    #[test]
    fn early_stopping_never_and_max_new_tokens() {
        let mut c = comet_like();
        c["early_stopping"] = json!("never");
        let o = Overrides { max_new_tokens: Some(7), ..Default::default() };
        let s = resolve(&files(c, None), None, &o).unwrap();
        assert_eq!((s.early_stopping, s.max_length), (EarlyStopping::Never, 8));
    }
}
