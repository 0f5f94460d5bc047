use std::path::PathBuf;

/// How to get a usable ONNX Runtime; every "library not found / not usable" error ends with it.
pub const ORT_INSTALL_HINT: &str = "install it with `python3 -m pip install --no-deps onnxruntime==1.32.0`, \
     or point ORT_DYLIB_PATH (or the stage's ONNX Runtime path param) at a libonnxruntime.so of version 1.31 or newer";

/// Everything that can go wrong in this crate. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum CometError {
    #[error("ONNX Runtime library not found (looked in: {searched}); {hint}", hint = ORT_INSTALL_HINT)]
    OrtNotFound { searched: String },

    #[error("cannot load the ONNX Runtime library {path}: {reason}; {hint}", hint = ORT_INSTALL_HINT)]
    OrtUnloadable { path: PathBuf, reason: String },

    #[error(
        "the ONNX Runtime library {path} is version {version}, but this stage needs 1.31 or newer; {hint}",
        hint = ORT_INSTALL_HINT
    )]
    OrtTooOld { path: PathBuf, version: String },

    #[error(
        "ONNX Runtime is already loaded in this process from {loaded}; it cannot be switched to {requested} \
         (one library per process)"
    )]
    OrtAlreadyLoaded { loaded: PathBuf, requested: PathBuf },

    #[error("ONNX Runtime: {context}: {message}")]
    Ort { context: String, message: String },

    #[error(
        "execution provider `cuda` requested, but {detail}; use provider `cpu`, or install the GPU build \
         (`python3 -m pip install --no-deps onnxruntime-gpu==1.32.0`) and its CUDA 12 / cuDNN 9 libraries"
    )]
    CudaUnavailable { detail: String },

    #[error(
        "{dir}: missing {file}; a model folder needs encoder_model.onnx, decoder_model_merged.onnx \
         (or decoder_model.onnx + decoder_with_past_model.onnx), config.json and tokenizer.json, \
         as written by `python3 scripts/comet/export_onnx.py`"
    )]
    MissingFile { dir: PathBuf, file: String },

    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: {message}")]
    BadConfig { path: PathBuf, message: String },

    #[error("{path}: {message}")]
    GraphMismatch { path: PathBuf, message: String },

    #[error("{dir}: tokenizer and model do not match: {message}")]
    TokenizerMismatch { dir: PathBuf, message: String },

    #[error("{path}: cannot read the tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },

    #[error("generation settings: {0}")]
    Settings(String),

    #[error("query {index}: {message}")]
    Query { index: usize, message: String },

    #[error("model output: {0}")]
    Model(String),
}

impl CometError {
    pub(crate) fn ort(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        CometError::Ort { context: context.into(), message: e.to_string() }
    }
}
