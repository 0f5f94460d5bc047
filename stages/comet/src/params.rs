//! The comet stage's params.

use std::path::PathBuf;

use iamm_options::ParamType;

use crate::{EarlyStopping, Overrides, Provider, RuntimeOptions, SessionOptions};

const OPT_INT: ParamType = ParamType::Nullable(&ParamType::Int { min: 0, max: 4096 });

iamm_options::options! {
    /// What the comet stage generates from, and how.
    pub struct CometParams {
        model: Option<PathBuf> = null, Key,
            "folder with the seq2seq model exported to ONNX (optimum layout: encoder_model.onnx, \
             decoder_model_merged.onnx, config.json, tokenizer.json; see scripts/comet/export_onnx.py)";
        import: Option<PathBuf> = null, Key,
            "knowledge generated elsewhere instead of a model: a .tsv (header sentence, relation, beam, \
             text[, score]) or .parquet with those columns; `sentence` is the processed sentence";
        punkt: Option<PathBuf> = null, Key,
            "Punkt parameters for preprocessing the sentences; use the same as the tokenize stage";
        task: Option<String> = "summarization", Key,
            "merge config.json's task_specific_params[task] before generating, as the reference does \
             (null: the model's own generation config)";
        num_beams: usize [ParamType::Int { min: 1, max: 64 }] = 5, Key, "beams per query";
        num_return_sequences: usize [ParamType::Int { min: 1, max: 64 }] = 5, Key,
            "beams kept per query and relation (at most num_beams)";
        max_length: Option<usize> [OPT_INT] = null, Key, "override the model config";
        min_length: Option<usize> [OPT_INT] = null, Key, "override the model config";
        length_penalty: Option<f64> [ParamType::Nullable(&ParamType::Float { min: -10.0, max: 10.0 })] = null, Key,
            "override the model config";
        no_repeat_ngram_size: Option<usize> [OPT_INT] = null, Key, "override the model config";
        early_stopping: Option<EarlyStopping> = null, Key, "override the model config";
        batch_size: usize [ParamType::Int { min: 1, max: 4096 }] = 16, Key,
            "queries per decoder call (each with num_beams rows)";
        threads: usize [ParamType::Int { min: 0, max: 1024 }] = 0, Tuning,
            "ONNX Runtime intra-op threads (0: all cores); the kernels split outputs, not sums, across threads \
             (the same knowledge at 1 and 2 threads is tested)";
        provider: Provider = "cpu", Key, "execution provider (cuda needs an onnxruntime build with CUDA)";
        shard_size: usize [ParamType::Int { min: 1, max: 1_000_000 }] = 512, Tuning,
            "queries per saved shard (rounded up to whole batches): a killed run loses at most this much work";
        onnxruntime: Option<PathBuf> [ParamType::Nullable(&ParamType::ToolPath)] = null, Tuning,
            "libonnxruntime.so to load (default: ORT_DYLIB_PATH, the onnxruntime Python package, \
             then the system library path)";
    }
}

impl CometParams {
    /// The decoding settings the params override in the model's generation config.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            num_beams: Some(self.num_beams),
            num_return_sequences: Some(self.num_return_sequences),
            max_length: self.max_length,
            min_length: self.min_length,
            length_penalty: self.length_penalty,
            no_repeat_ngram_size: self.no_repeat_ngram_size,
            early_stopping: self.early_stopping,
            ..Overrides::default()
        }
    }

    pub fn session(&self) -> SessionOptions {
        SessionOptions { threads: self.threads, provider: self.provider }
    }

    pub fn runtime(&self) -> RuntimeOptions {
        RuntimeOptions { dylib: self.onnxruntime.clone() }
    }
}
