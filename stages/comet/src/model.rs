//! A seq2seq model exported by Hugging Face optimum (`text2text-generation-with-past`), run with
//! ONNX Runtime: loading, checking the graphs against what generation needs, and the decoder
//! steps with a key/value cache behind the [`StepModel`] trait.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};
use serde_json::{Map, Value};
use tokenizers::Tokenizer;
use tokenizers::utils::truncation::{TruncationDirection, TruncationParams, TruncationStrategy};

use crate::beam::{self, Hypothesis, Logits, StepModel};
use crate::error::CometError;
use crate::runtime::Runtime;
use crate::settings::{self, ConfigFiles, GenerationSettings, Overrides};

pub const ENCODER_FILE: &str = "encoder_model.onnx";
pub const MERGED_DECODER_FILE: &str = "decoder_model_merged.onnx";
pub const DECODER_FILE: &str = "decoder_model.onnx";
pub const DECODER_WITH_PAST_FILE: &str = "decoder_with_past_model.onnx";

iamm_options::choices! {
    /// Where the model runs.
    #[derive(Default)]
    pub enum Provider ("execution provider") {
        #[default]
        Cpu = "cpu",
        /// ONNX Runtime's CUDA execution provider on GPU 0 (needs the onnxruntime-gpu build).
        Cuda = "cuda",
    }
}

/// Per-model session options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionOptions {
    /// Intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    pub provider: Provider,
}

/// One returned sequence of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Beam {
    /// Token ids as `generate` returns them: the decoder start token first, and the eos token for
    /// sequences that ended with one (the pad tokens `generate` adds after it are left out).
    pub tokens: Vec<u32>,
    /// Decoded with special tokens skipped (`tokenizer.decode(..., skip_special_tokens=True)`).
    pub text: String,
    /// transformers' `sequences_scores`: summed log-probabilities / generated length ** length_penalty.
    pub score: f32,
}

enum Decoder {
    Merged(Session),
    Split { first: Session, with_past: Session, with_past_takes_hidden: bool },
}

/// A loaded model folder.
pub struct Seq2Seq {
    dir: PathBuf,
    encoder: Session,
    decoder: Decoder,
    tokenizer: Tokenizer,
    files: ConfigFiles,
    layers: usize,
    heads: usize,
    head_dim: usize,
    vocab_size: usize,
    max_input_tokens: Option<usize>,
    input_pad_id: u32,
    clean_up_spaces: bool,
    hash: String,
}

impl std::fmt::Debug for Seq2Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seq2Seq")
            .field("dir", &self.dir)
            .field("merged_decoder", &matches!(self.decoder, Decoder::Merged(_)))
            .field("layers", &self.layers)
            .field("vocab_size", &self.vocab_size)
            .field("hash", &self.hash)
            .finish()
    }
}

fn read_json(path: &Path) -> Result<Map<String, Value>, CometError> {
    let text = std::fs::read_to_string(path).map_err(|e| CometError::Io { path: path.to_path_buf(), source: e })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CometError::BadConfig { path: path.to_path_buf(), message: "expected a JSON object".into() }),
        Err(e) => Err(CometError::BadConfig { path: path.to_path_buf(), message: format!("not valid JSON: {e}") }),
    }
}

fn read_json_opt(path: &Path) -> Result<Option<Map<String, Value>>, CometError> {
    if path.is_file() { read_json(path).map(Some) } else { Ok(None) }
}

fn config_usize(config: &Map<String, Value>, key: &str) -> Option<usize> {
    config.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok())
}

impl Seq2Seq {
    /// Loads and checks a model folder.
    pub fn load(dir: &Path, rt: &Runtime, opts: &SessionOptions) -> Result<Seq2Seq, CometError> {
        let missing = |file: &str| CometError::MissingFile { dir: dir.to_path_buf(), file: file.to_string() };
        if !dir.is_dir() {
            return Err(CometError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "model folder not found"),
            });
        }
        for f in [ENCODER_FILE, "config.json", "tokenizer.json"] {
            if !dir.join(f).is_file() {
                return Err(missing(f));
            }
        }
        let merged = dir.join(MERGED_DECODER_FILE).is_file();
        let mut onnx_files = vec![ENCODER_FILE];
        if merged {
            onnx_files.push(MERGED_DECODER_FILE);
        } else {
            match (dir.join(DECODER_FILE).is_file(), dir.join(DECODER_WITH_PAST_FILE).is_file()) {
                (true, true) => onnx_files.extend([DECODER_FILE, DECODER_WITH_PAST_FILE]),
                (false, false) => {
                    return Err(missing(&format!(
                        "{MERGED_DECODER_FILE} (or {DECODER_FILE} + {DECODER_WITH_PAST_FILE})"
                    )));
                }
                (false, true) => return Err(missing(DECODER_FILE)),
                (true, false) => {
                    return Err(missing(&format!(
                        "{DECODER_WITH_PAST_FILE} (the export has no key/value cache; \
                         export with the task text2text-generation-with-past)"
                    )));
                }
            }
        }

        let config_path = dir.join("config.json");
        let config = read_json(&config_path)?;
        let gen_path = dir.join("generation_config.json");
        let generation = read_json_opt(&gen_path)?.map(|g| (g, gen_path.clone()));
        let tok_config = read_json_opt(&dir.join("tokenizer_config.json"))?;
        let special_map = read_json_opt(&dir.join("special_tokens_map.json"))?;
        let files = ConfigFiles { config: config.clone(), config_path: config_path.clone(), generation };

        let vocab_size = config_usize(&config, "vocab_size").ok_or_else(|| CometError::BadConfig {
            path: config_path.clone(),
            message: "no vocab_size (a positive integer) in the model config".into(),
        })?;

        // Tokenizer and its agreement with the model.
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| CometError::Tokenizer { path: tok_path.clone(), message: e.to_string() })?;
        let mismatch = |message: String| CometError::TokenizerMismatch { dir: dir.to_path_buf(), message };
        let tok_vocab = tokenizer.get_vocab_size(true);
        if tok_vocab > vocab_size {
            return Err(mismatch(format!(
                "tokenizer.json has {tok_vocab} tokens but config.json's vocab_size is {vocab_size}; \
                 ids past {} would have no embedding (is this the model's own tokenizer?)",
                vocab_size - 1
            )));
        }
        check_special_tokens(&tokenizer, &config, tok_config.as_ref(), special_map.as_ref(), tok_vocab)
            .map_err(mismatch)?;

        // Truncation as `tokenizer(..., truncation=True)`: model_max_length, never past the positions.
        let model_max = tok_config
            .as_ref()
            .and_then(|t| t.get("model_max_length"))
            .and_then(Value::as_f64)
            .filter(|v| *v >= 1.0 && *v < 1e12)
            .map(|v| v as usize);
        let positions = config_usize(&config, "max_position_embeddings");
        let max_input_tokens = match (model_max, positions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokenizer.with_padding(None);
        if let Some(max) = max_input_tokens {
            tokenizer
                .with_truncation(Some(TruncationParams {
                    direction: TruncationDirection::Right,
                    max_length: max,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                }))
                .map_err(|e| CometError::Tokenizer { path: tok_path.clone(), message: e.to_string() })?;
        }
        let input_pad_id = special_token_string(tok_config.as_ref(), special_map.as_ref(), "pad_token")
            .and_then(|t| tokenizer.token_to_id(&t))
            .or_else(|| config.get("pad_token_id").and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()))
            .unwrap_or(0); // padded positions are masked out, so any id works
        let clean_up_spaces = tok_config
            .as_ref()
            .and_then(|t| t.get("clean_up_tokenization_spaces"))
            .and_then(Value::as_bool)
            .unwrap_or(false); // transformers 4.46's default

        // Sessions and their interfaces.
        if opts.provider == Provider::Cuda && !rt.cuda_available() {
            return Err(CometError::CudaUnavailable {
                detail: format!(
                    "the ONNX Runtime at {} (version {}) was built without the CUDA execution provider",
                    rt.dylib().display(),
                    rt.version()
                ),
            });
        }
        let encoder = open_session(rt, &dir.join(ENCODER_FILE), opts)?;
        check_encoder(&encoder, &dir.join(ENCODER_FILE))?;
        let (decoder, layers, past_dims) = if merged {
            let p = dir.join(MERGED_DECODER_FILE);
            let s = open_session(rt, &p, opts)?;
            let (layers, dims) = check_decoder(&s, &p, DecoderRole::Merged)?;
            (Decoder::Merged(s), layers, dims)
        } else {
            let p1 = dir.join(DECODER_FILE);
            let first = open_session(rt, &p1, opts)?;
            let (l1, _) = check_decoder(&first, &p1, DecoderRole::First)?;
            let p2 = dir.join(DECODER_WITH_PAST_FILE);
            let with_past = open_session(rt, &p2, opts)?;
            let (l2, dims) = check_decoder(&with_past, &p2, DecoderRole::WithPast)?;
            if l1 != l2 {
                return Err(CometError::GraphMismatch {
                    path: p2,
                    message: format!(
                        "it has {l2} decoder layers but {DECODER_FILE} has {l1}; they come from different exports"
                    ),
                });
            }
            let with_past_takes_hidden = with_past.inputs().iter().any(|i| i.name() == "encoder_hidden_states");
            (Decoder::Split { first, with_past, with_past_takes_hidden }, l2, dims)
        };
        if let Some(cfg_layers) = config_usize(&config, "decoder_layers")
            && cfg_layers != layers
        {
            return Err(CometError::GraphMismatch {
                path: dir.join(onnx_files[1]),
                message: format!(
                    "the graph has a key/value cache for {layers} decoder layers but config.json says decoder_layers = {cfg_layers}"
                ),
            });
        }
        let decoder_session = match &decoder {
            Decoder::Merged(s) => s,
            Decoder::Split { with_past, .. } => with_past,
        };
        if let Some(v) = static_dim(decoder_session, "logits", 2)
            && v != vocab_size
        {
            return Err(CometError::GraphMismatch {
                path: dir.join(onnx_files[1]),
                message: format!("its logits have {v} entries but config.json's vocab_size is {vocab_size}"),
            });
        }
        let heads = past_dims.0.or_else(|| config_usize(&config, "decoder_attention_heads")).unwrap_or(1);
        let head_dim = past_dims.1.or_else(|| config_usize(&config, "d_model").map(|d| d / heads.max(1))).unwrap_or(1);

        let mut hashed: Vec<String> = onnx_files.iter().map(|s| s.to_string()).collect();
        for f in [
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
        ] {
            if dir.join(f).is_file() {
                hashed.push(f.to_string());
            }
        }
        // ONNX external data (weights over 2 GB live beside the graph, e.g. `x.onnx_data`).
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if onnx_files.iter().any(|o| name.starts_with(o) && name != *o) && e.path().is_file() {
                    hashed.push(name);
                }
            }
        }
        let hash = hash_files(dir, hashed)?;

        Ok(Seq2Seq {
            dir: dir.to_path_buf(),
            encoder,
            decoder,
            tokenizer,
            files,
            layers,
            heads,
            head_dim,
            vocab_size,
            max_input_tokens,
            input_pad_id,
            clean_up_spaces,
            hash,
        })
    }

    /// Generation settings: the model's config, `task_specific_params[task]`, then `overrides`
    /// (see [`crate::settings`] for the exact precedence).
    pub fn settings(&self, task: Option<&str>, overrides: &Overrides) -> Result<GenerationSettings, CometError> {
        let s = settings::resolve(&self.files, task, overrides)?;
        let ids = s
            .eos_token_id
            .iter()
            .chain(s.forced_eos_token_id.iter().flatten())
            .copied()
            .chain(s.forced_bos_token_id)
            .chain([s.decoder_start_token_id, s.pad_token_id]);
        for id in ids {
            if id as usize >= self.vocab_size {
                return Err(CometError::Settings(format!(
                    "token id {id} is outside the model's vocabulary of {}",
                    self.vocab_size
                )));
            }
        }
        Ok(s)
    }

    /// blake3 over the files the model is made of (sorted by name: name, size, bytes), in hex.
    pub fn model_hash(&self) -> &str {
        &self.hash
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Longest encoder input in tokens (special tokens included); longer queries are truncated.
    pub fn max_input_tokens(&self) -> Option<usize> {
        self.max_input_tokens
    }

    /// The encoder input ids of a query, as `tokenizer(query, truncation=True)` gives them.
    pub fn encode_query(&self, query: &str) -> Result<Vec<u32>, CometError> {
        let enc = self
            .tokenizer
            .encode(query, true)
            .map_err(|e| CometError::Tokenizer { path: self.dir.join("tokenizer.json"), message: e.to_string() })?;
        Ok(enc.get_ids().to_vec())
    }

    /// `tokenizer.decode(ids, skip_special_tokens=True)`.
    pub fn decode(&self, ids: &[u32]) -> Result<String, CometError> {
        let text = self
            .tokenizer
            .decode(ids, true)
            .map_err(|e| CometError::Tokenizer { path: self.dir.join("tokenizer.json"), message: e.to_string() })?;
        Ok(if self.clean_up_spaces { clean_up_tokenization(&text) } else { text })
    }

    /// One batch; returns, per query, `num_return_sequences` beams, best first.
    pub fn generate(&mut self, queries: &[&str], settings: &GenerationSettings) -> Result<Vec<Vec<Beam>>, CometError> {
        let mut ids = Vec::with_capacity(queries.len());
        for (index, q) in queries.iter().enumerate() {
            if q.trim().is_empty() {
                return Err(CometError::Query { index, message: "the query is empty".into() });
            }
            let t = self.encode_query(q)?;
            if t.is_empty() {
                return Err(CometError::Query { index, message: "the query has no tokens".into() });
            }
            ids.push(t);
        }
        let hyps = self.generate_ids(&ids, settings)?;
        hyps.into_iter()
            .map(|per_query| {
                per_query
                    .into_iter()
                    .map(|h| Ok(Beam { text: self.decode(&h.tokens)?, score: h.score as f32, tokens: h.tokens }))
                    .collect()
            })
            .collect()
    }

    /// Beam search from encoder input ids (special tokens included).
    pub fn generate_ids(
        &mut self,
        input_ids: &[Vec<u32>],
        settings: &GenerationSettings,
    ) -> Result<Vec<Vec<Hypothesis>>, CometError> {
        for (index, q) in input_ids.iter().enumerate() {
            if q.is_empty() {
                return Err(CometError::Query { index, message: "no input ids".into() });
            }
            if let Some(&bad) = q.iter().find(|&&t| t as usize >= self.vocab_size) {
                return Err(CometError::Query {
                    index,
                    message: format!("input id {bad} is outside the vocabulary of {}", self.vocab_size),
                });
            }
            if let Some(max) = self.max_input_tokens
                && q.len() > max
            {
                return Err(CometError::Query {
                    index,
                    message: format!("{} input ids, more than the model's {max} positions", q.len()),
                });
            }
        }
        let mut step = OnnxStep::new(self);
        beam::beam_search(&mut step, input_ids, settings)
    }
}

/// transformers' `clean_up_tokenization` (used when tokenizer_config.json asks for it).
fn clean_up_tokenization(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// A special token's text from special_tokens_map.json or tokenizer_config.json (a string or an
/// AddedToken object).
fn special_token_string(
    tok_config: Option<&Map<String, Value>>,
    special_map: Option<&Map<String, Value>>,
    key: &str,
) -> Option<String> {
    let from = |m: Option<&Map<String, Value>>| match m?.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    from(special_map).or_else(|| from(tok_config))
}

fn check_special_tokens(
    tokenizer: &Tokenizer,
    config: &Map<String, Value>,
    tok_config: Option<&Map<String, Value>>,
    special_map: Option<&Map<String, Value>>,
    tok_vocab: usize,
) -> Result<(), String> {
    for (tok_key, id_key) in
        [("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("pad_token", "pad_token_id")]
    {
        let Some(id) = config.get(id_key).and_then(Value::as_u64) else { continue };
        match special_token_string(tok_config, special_map, tok_key) {
            Some(text) => match tokenizer.token_to_id(&text) {
                Some(t) if u64::from(t) == id => {}
                Some(t) => {
                    return Err(format!(
                        "the tokenizer's {tok_key} {text:?} is id {t}, but config.json's {id_key} is {id}"
                    ));
                }
                None => {
                    return Err(format!("the tokenizer's {tok_key} {text:?} is not in tokenizer.json's vocabulary"));
                }
            },
            None if id as usize >= tok_vocab => {
                return Err(format!("config.json's {id_key} {id} is past the tokenizer's {tok_vocab} tokens"));
            }
            None => {}
        }
    }
    Ok(())
}

fn open_session(rt: &Runtime, path: &Path, opts: &SessionOptions) -> Result<Session, CometError> {
    let fail = |e: String| CometError::GraphMismatch {
        path: path.to_path_buf(),
        message: format!("ONNX Runtime cannot load it: {e}"),
    };
    let mut b = Session::builder(&rt.env).map_err(|e| CometError::ort("creating a session", e))?;
    if opts.threads > 0 {
        b = b.with_intra_threads(opts.threads).map_err(|e| CometError::ort("setting threads", e))?;
    }
    if opts.provider == Provider::Cuda {
        b = b
            .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| CometError::CudaUnavailable { detail: format!("registering it failed: {e}") })?;
    }
    b.commit_from_file(path).map_err(|e| fail(e.to_string()))
}

fn describe(v: &ValueType) -> Option<(TensorElementType, usize)> {
    match v {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.len())),
        _ => None,
    }
}

fn static_dim(s: &Session, output: &str, axis: usize) -> Option<usize> {
    let o = s.outputs().iter().find(|o| o.name() == output)?;
    match o.dtype() {
        ValueType::Tensor { shape, .. } => shape.get(axis).and_then(|&d| usize::try_from(d).ok()).filter(|&d| d > 0),
        _ => None,
    }
}

fn io_summary(s: &Session) -> String {
    let ins: Vec<&str> = s.inputs().iter().map(|i| i.name()).collect();
    let outs: Vec<&str> = s.outputs().iter().map(|o| o.name()).collect();
    let short = |v: Vec<&str>| {
        if v.len() > 6 { format!("{}, … ({} in all)", v[..6].join(", "), v.len()) } else { v.join(", ") }
    };
    format!("it takes [{}] and returns [{}]", short(ins), short(outs))
}

struct Expect {
    name: String,
    ty: TensorElementType,
    rank: usize,
}

fn expect(name: impl Into<String>, ty: TensorElementType, rank: usize) -> Expect {
    Expect { name: name.into(), ty, rank }
}

/// Compares a graph's inputs (exactly) and outputs (at least) with what generation feeds and reads.
fn check_io(
    s: &Session,
    path: &Path,
    inputs: &[Expect],
    optional_inputs: &[Expect],
    outputs: &[Expect],
    role: &str,
) -> Result<(), CometError> {
    let mut problems = Vec::new();
    let have_in: Vec<(&str, Option<(TensorElementType, usize)>)> =
        s.inputs().iter().map(|i| (i.name(), describe(i.dtype()))).collect();
    let have_out: Vec<(&str, Option<(TensorElementType, usize)>)> =
        s.outputs().iter().map(|o| (o.name(), describe(o.dtype()))).collect();
    let mut missing_in = Vec::new();
    for e in inputs {
        match have_in.iter().find(|(n, _)| *n == e.name) {
            None => missing_in.push(e.name.as_str()),
            Some((_, d)) => check_type(&mut problems, "input", e, *d),
        }
    }
    for e in optional_inputs {
        if let Some((_, d)) = have_in.iter().find(|(n, _)| *n == e.name) {
            check_type(&mut problems, "input", e, *d);
        }
    }
    let unexpected: Vec<&str> = have_in
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !inputs.iter().chain(optional_inputs).any(|e| e.name == *n))
        .collect();
    let mut missing_out = Vec::new();
    for e in outputs {
        match have_out.iter().find(|(n, _)| *n == e.name) {
            None => missing_out.push(e.name.as_str()),
            Some((_, d)) => check_type(&mut problems, "output", e, *d),
        }
    }
    let list = |v: &[&str]| {
        if v.len() > 4 {
            format!("`{}`, … ({} in all)", v[..4].join("`, `"), v.len())
        } else {
            format!("`{}`", v.join("`, `"))
        }
    };
    if !missing_in.is_empty() {
        problems.insert(0, format!("missing input(s) {}", list(&missing_in)));
    }
    if !unexpected.is_empty() {
        problems.push(format!("unexpected input(s) {} that generation cannot feed", list(&unexpected)));
    }
    if !missing_out.is_empty() {
        problems.push(format!("missing output(s) {}", list(&missing_out)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let looks_like_encoder = have_out.iter().any(|(n, _)| *n == "last_hidden_state");
    let hint = if looks_like_encoder && role != "encoder" {
        " This looks like an encoder graph (it returns last_hidden_state), not a decoder.".to_string()
    } else if !looks_like_encoder && role == "encoder" && have_out.iter().any(|(n, _)| *n == "logits") {
        " This looks like a decoder graph (it returns logits), not an encoder.".to_string()
    } else {
        String::new()
    };
    Err(CometError::GraphMismatch {
        path: path.to_path_buf(),
        message: format!(
            "not the {role} graph this stage expects: {}; {}.{hint} Expected the optimum export for \
             text2text-generation-with-past (scripts/comet/export_onnx.py): {}",
            problems.join("; "),
            io_summary(s),
            role_description(role)
        ),
    })
}

fn check_type(problems: &mut Vec<String>, what: &str, e: &Expect, have: Option<(TensorElementType, usize)>) {
    match have {
        Some((ty, rank)) if ty == e.ty && rank == e.rank => {}
        Some((ty, rank)) => problems
            .push(format!("{what} `{}` is a rank-{rank} {ty:?} tensor, expected rank-{} {:?}", e.name, e.rank, e.ty)),
        None => problems.push(format!("{what} `{}` is not a tensor", e.name)),
    }
}

fn role_description(role: &str) -> &'static str {
    match role {
        "encoder" => {
            "encoder_model.onnx takes input_ids and attention_mask (int64 [batch, length]) and returns last_hidden_state"
        }
        "merged decoder" => {
            "decoder_model_merged.onnx takes input_ids, encoder_attention_mask, encoder_hidden_states, use_cache_branch \
             and past_key_values.{0..L-1}.{decoder,encoder}.{key,value}, and returns logits and present.{i}.{decoder,encoder}.{key,value}"
        }
        "first-step decoder" => {
            "decoder_model.onnx takes input_ids, encoder_attention_mask and encoder_hidden_states, and returns logits \
             and present.{i}.{decoder,encoder}.{key,value}"
        }
        _ => {
            "decoder_with_past_model.onnx takes input_ids, encoder_attention_mask and \
             past_key_values.{0..L-1}.{decoder,encoder}.{key,value}, and returns logits and present.{i}.decoder.{key,value}"
        }
    }
}

fn check_encoder(s: &Session, path: &Path) -> Result<(), CometError> {
    use TensorElementType::*;
    check_io(
        s,
        path,
        &[expect("input_ids", Int64, 2), expect("attention_mask", Int64, 2)],
        &[],
        &[expect("last_hidden_state", Float32, 3)],
        "encoder",
    )
}

#[derive(Clone, Copy, PartialEq)]
enum DecoderRole {
    Merged,
    First,
    WithPast,
}

/// Checks a decoder graph; returns its layer count and the static (heads, head_dim) of its cache.
/// Static (heads, head_dim) of a key/value cache, where the graph fixes them.
type CacheDims = (Option<usize>, Option<usize>);

fn check_decoder(s: &Session, path: &Path, role: DecoderRole) -> Result<(usize, CacheDims), CometError> {
    use TensorElementType::*;
    let role_name = match role {
        DecoderRole::Merged => "merged decoder",
        DecoderRole::First => "first-step decoder",
        DecoderRole::WithPast => "with-past decoder",
    };
    // Layer count from the cache names the graph has (outputs for the first step, inputs otherwise).
    let names: Vec<&str> = match role {
        DecoderRole::First => s.outputs().iter().map(|o| o.name()).collect(),
        _ => s.inputs().iter().map(|i| i.name()).collect(),
    };
    let prefix = if role == DecoderRole::First { "present." } else { "past_key_values." };
    let layer_ids: BTreeSet<usize> =
        names.iter().filter_map(|n| n.strip_prefix(prefix)?.split('.').next()?.parse().ok()).collect();
    let layers = layer_ids.iter().next_back().map_or(0, |m| m + 1);
    if layers == 0 {
        let encoder = s.outputs().iter().any(|o| o.name() == "last_hidden_state");
        return Err(CometError::GraphMismatch {
            path: path.to_path_buf(),
            message: format!(
                "it has no key/value cache ({prefix}* {}); {}.{} Expected the optimum export for \
                 text2text-generation-with-past (scripts/comet/export_onnx.py): {}",
                if role == DecoderRole::First { "outputs" } else { "inputs" },
                io_summary(s),
                if encoder {
                    " This looks like an encoder graph (it returns last_hidden_state), not a decoder."
                } else {
                    ""
                },
                role_description(role_name)
            ),
        });
    }
    let mut inputs = vec![expect("input_ids", Int64, 2), expect("encoder_attention_mask", Int64, 2)];
    let mut optional = Vec::new();
    match role {
        DecoderRole::WithPast => optional.push(expect("encoder_hidden_states", Float32, 3)),
        _ => inputs.push(expect("encoder_hidden_states", Float32, 3)),
    }
    if role == DecoderRole::Merged {
        inputs.push(expect("use_cache_branch", Bool, 1));
    }
    let mut outputs = vec![expect("logits", Float32, 3)];
    for i in 0..layers {
        for part in ["decoder", "encoder"] {
            for kv in ["key", "value"] {
                if role != DecoderRole::First {
                    inputs.push(expect(format!("past_key_values.{i}.{part}.{kv}"), Float32, 4));
                }
                if role != DecoderRole::WithPast || part == "decoder" {
                    outputs.push(expect(format!("present.{i}.{part}.{kv}"), Float32, 4));
                }
            }
        }
    }
    check_io(s, path, &inputs, &optional, &outputs, role_name)?;
    let dims = s
        .outputs()
        .iter()
        .find(|o| o.name() == "present.0.decoder.key")
        .and_then(|o| match o.dtype() {
            ValueType::Tensor { shape, .. } => {
                let d = |a: usize| shape.get(a).and_then(|&v| usize::try_from(v).ok()).filter(|&v| v > 0);
                Some((d(1), d(3)))
            }
            _ => None,
        })
        .unwrap_or((None, None));
    Ok((layers, dims))
}

fn hash_files(dir: &Path, mut names: Vec<String>) -> Result<String, CometError> {
    names.sort();
    names.dedup();
    let mut h = blake3::Hasher::new();
    for name in names {
        let path = dir.join(&name);
        let mut f = std::fs::File::open(&path).map_err(|e| CometError::Io { path: path.clone(), source: e })?;
        let len = f.metadata().map_err(|e| CometError::Io { path: path.clone(), source: e })?.len();
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(&len.to_le_bytes());
        std::io::copy(&mut f, &mut h).map_err(|e| CometError::Io { path: path.clone(), source: e })?;
    }
    Ok(h.finalize().to_hex().to_string())
}

/// A cached key or value tensor, rows first: ONNX Runtime's output as it came (no copy), or rows
/// gathered from one after a beam reorder.
struct Kv {
    buf: KvBuf,
    shape: [usize; 4],
}

enum KvBuf {
    Host(Vec<f32>),
    Ort(ort::value::DynValue),
}

impl Kv {
    fn data(&self) -> Result<&[f32], CometError> {
        match &self.buf {
            KvBuf::Host(v) => Ok(v),
            KvBuf::Ort(v) => v.try_extract_tensor::<f32>().map(|(_, d)| d).map_err(|e| CometError::ort("reading the cache", e)),
        }
    }

    fn gather(&self, rows: &[usize]) -> Result<Kv, CometError> {
        let row_len: usize = self.shape[1..].iter().product();
        Ok(Kv {
            buf: KvBuf::Host(gather_rows(self.data()?, row_len, rows)),
            shape: [rows.len(), self.shape[1], self.shape[2], self.shape[3]],
        })
    }
}

/// Gathers whole rows of a row-major buffer.
fn gather_rows<T: Copy>(data: &[T], row_len: usize, rows: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.len() * row_len);
    for &r in rows {
        out.extend_from_slice(&data[r * row_len..(r + 1) * row_len]);
    }
    out
}

/// The decoder state of one `generate` call: encoder outputs per row and the key/value caches.
struct OnnxStep<'m> {
    m: &'m mut Seq2Seq,
    rows: usize,
    enc_len: usize,
    hidden: usize,
    enc_hidden: Vec<f32>, // rows × enc_len × hidden
    enc_mask: Vec<i64>,   // rows × enc_len
    cross: Vec<Kv>,       // per layer: key, value (computed at the first step, kept)
    self_kv: Vec<Kv>,     // per layer: key, value (grows by one position per step)
}

impl<'m> OnnxStep<'m> {
    fn new(m: &'m mut Seq2Seq) -> Self {
        OnnxStep {
            m,
            rows: 0,
            enc_len: 0,
            hidden: 0,
            enc_hidden: Vec::new(),
            enc_mask: Vec::new(),
            cross: Vec::new(),
            self_kv: Vec::new(),
        }
    }
}

fn out_f32<'a>(
    outputs: &'a ort::session::SessionOutputs<'_>,
    name: &str,
) -> Result<(Vec<usize>, &'a [f32]), CometError> {
    let v = outputs.get(name).ok_or_else(|| CometError::Model(format!("the graph returned no `{name}`")))?;
    let (shape, data) = v.try_extract_tensor::<f32>().map_err(|e| CometError::ort(format!("reading `{name}`"), e))?;
    let dims: Vec<usize> = shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
    Ok((dims, data))
}

fn kv_from(outputs: &mut ort::session::SessionOutputs<'_>, name: &str, rows: usize) -> Result<Kv, CometError> {
    let (dims, len) = out_f32(outputs, name).map(|(d, data)| (d, data.len()))?;
    match dims.as_slice() {
        &[r, a, b, c] if r == rows && len == r * a * b * c => {
            let v = outputs.remove(name).ok_or_else(|| CometError::Model(format!("the graph returned no `{name}`")))?;
            Ok(Kv { buf: KvBuf::Ort(v), shape: [r, a, b, c] })
        }
        _ => Err(CometError::Model(format!("`{name}` has shape {dims:?}, expected [{rows}, heads, length, head_dim]"))),
    }
}

impl StepModel for OnnxStep<'_> {
    fn encode(&mut self, queries: &[Vec<u32>], num_beams: usize) -> Result<(), CometError> {
        let q = queries.len();
        let len = queries.iter().map(Vec::len).max().unwrap_or(0);
        // Right padding with an attention mask, as `tokenizer(..., padding=True)`.
        let mut ids = vec![i64::from(self.m.input_pad_id); q * len];
        let mut mask = vec![0i64; q * len];
        for (i, t) in queries.iter().enumerate() {
            for (j, &id) in t.iter().enumerate() {
                ids[i * len + j] = i64::from(id);
                mask[i * len + j] = 1;
            }
        }
        let ort_err = |e: ort::Error| CometError::ort("running the encoder", e);
        let inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            ("input_ids".into(), TensorRef::from_array_view(([q, len], &ids[..])).map_err(ort_err)?.into()),
            ("attention_mask".into(), TensorRef::from_array_view(([q, len], &mask[..])).map_err(ort_err)?.into()),
        ];
        let outputs = self.m.encoder.run(inputs).map_err(ort_err)?;
        let (dims, hidden) = out_f32(&outputs, "last_hidden_state")?;
        let d = match dims.as_slice() {
            &[a, b, d] if a == q && b == len && hidden.len() == q * len * d => d,
            _ => {
                return Err(CometError::Model(format!(
                    "encoder last_hidden_state has shape {dims:?}, expected [{q}, {len}, hidden]"
                )));
            }
        };
        // Each query's rows repeated num_beams times (transformers' repeat_interleave).
        let expand: Vec<usize> = (0..q).flat_map(|i| std::iter::repeat_n(i, num_beams)).collect();
        self.enc_hidden = gather_rows(hidden, len * d, &expand);
        self.enc_mask = gather_rows(&mask, len, &expand);
        self.rows = q * num_beams;
        self.enc_len = len;
        self.hidden = d;
        self.cross.clear();
        self.self_kv.clear();
        Ok(())
    }

    fn step(&mut self, seqs: &[&[u32]]) -> Result<Logits, CometError> {
        let rows = self.rows;
        if seqs.len() != rows {
            return Err(CometError::Model(format!("{} sequences for {rows} decoder rows", seqs.len())));
        }
        let last: Vec<i64> = seqs.iter().map(|s| s.last().map_or(0, |&t| i64::from(t))).collect();
        let first = self.self_kv.is_empty();
        let layers = self.m.layers;
        let (heads, head_dim) = (self.m.heads, self.m.head_dim);
        let empty: Vec<f32> = Vec::new();
        let use_cache = [!first];
        let ort_err = |e: ort::Error| CometError::ort("running the decoder", e);

        let (session, feed_hidden, feed_past, merged) = match &mut self.m.decoder {
            Decoder::Merged(s) => (s, true, true, true),
            Decoder::Split { first: f, .. } if first => (f, true, false, false),
            Decoder::Split { with_past, with_past_takes_hidden, .. } => {
                (with_past, *with_past_takes_hidden, true, false)
            }
        };
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = vec![
            ("input_ids".into(), TensorRef::from_array_view(([rows, 1], &last[..])).map_err(ort_err)?.into()),
            (
                "encoder_attention_mask".into(),
                TensorRef::from_array_view(([rows, self.enc_len], &self.enc_mask[..])).map_err(ort_err)?.into(),
            ),
        ];
        if feed_hidden {
            inputs.push((
                "encoder_hidden_states".into(),
                TensorRef::from_array_view(([rows, self.enc_len, self.hidden], &self.enc_hidden[..]))
                    .map_err(ort_err)?
                    .into(),
            ));
        }
        if merged {
            inputs.push((
                "use_cache_branch".into(),
                TensorRef::from_array_view(([1usize], &use_cache[..])).map_err(ort_err)?.into(),
            ));
        }
        if feed_past {
            for i in 0..layers {
                for (p, part) in ["decoder", "encoder"].into_iter().enumerate() {
                    for (k, kv) in ["key", "value"].into_iter().enumerate() {
                        let name = format!("past_key_values.{i}.{part}.{kv}");
                        // The merged graph's first step ignores the cache; it still needs tensors.
                        let value = if first {
                            TensorRef::from_array_view(([rows, heads, 0, head_dim], &empty[..])).map_err(ort_err)?
                        } else {
                            let t = if p == 0 { &self.self_kv[2 * i + k] } else { &self.cross[2 * i + k] };
                            TensorRef::from_array_view((t.shape, t.data()?)).map_err(ort_err)?
                        };
                        inputs.push((name.into(), value.into()));
                    }
                }
            }
        }
        let mut outputs = session.run(inputs).map_err(ort_err)?;
        let (dims, logits) = out_f32(&outputs, "logits")?;
        let vocab = match dims.as_slice() {
            &[r, s, v] if r == rows && s >= 1 && logits.len() == r * s * v => v,
            _ => {
                return Err(CometError::Model(format!(
                    "decoder logits have shape {dims:?}, expected [{rows}, 1, vocab]"
                )));
            }
        };
        let steps = dims[1];
        let mut data = Vec::with_capacity(rows * vocab);
        for r in 0..rows {
            let start = (r * steps + steps - 1) * vocab; // the last position
            data.extend_from_slice(&logits[start..start + vocab]);
        }
        let mut self_kv = Vec::with_capacity(2 * layers);
        for i in 0..layers {
            for kv in ["key", "value"] {
                self_kv.push(kv_from(&mut outputs, &format!("present.{i}.decoder.{kv}"), rows)?);
            }
        }
        if first {
            let mut cross = Vec::with_capacity(2 * layers);
            for i in 0..layers {
                for kv in ["key", "value"] {
                    cross.push(kv_from(&mut outputs, &format!("present.{i}.encoder.{kv}"), rows)?);
                }
            }
            self.cross = cross;
        }
        self.self_kv = self_kv;
        Ok(Logits { data, vocab })
    }

    fn reorder(&mut self, src: &[usize], keep: &[usize]) -> Result<(), CometError> {
        if src.len() != keep.len() || src.iter().chain(keep).any(|&r| r >= self.rows) {
            return Err(CometError::Model("beam reorder indices out of range".into()));
        }
        self.self_kv = self.self_kv.iter().map(|t| t.gather(src)).collect::<Result<_, _>>()?;
        // Encoder-side state is per query: only dropping finished queries changes it.
        let identity = keep.len() == self.rows && keep.iter().enumerate().all(|(i, &k)| i == k);
        if !identity {
            self.enc_hidden = gather_rows(&self.enc_hidden, self.enc_len * self.hidden, keep);
            self.enc_mask = gather_rows(&self.enc_mask, self.enc_len, keep);
            self.cross = self.cross.iter().map(|t| t.gather(keep)).collect::<Result<_, _>>()?;
        }
        self.rows = src.len();
        Ok(())
    }
}
