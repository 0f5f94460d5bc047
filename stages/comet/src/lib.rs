//! COMET-ATOMIC 2020 (BART) knowledge generation: a seq2seq model exported to ONNX in Hugging
//! Face optimum's `text2text-generation-with-past` layout, run with ONNX Runtime (loaded at run
//! time), and a beam search that reproduces transformers 4.46 `generate(num_beams=…)`.
//!
//! ```no_run
//! use iamm_comet::{runtime, Overrides, RuntimeOptions, Seq2Seq, SessionOptions};
//! # fn main() -> Result<(), iamm_comet::CometError> {
//! let rt = runtime(&RuntimeOptions::default())?;
//! let mut model = Seq2Seq::load("comet-onnx".as_ref(), rt, &SessionOptions::default())?;
//! let o = Overrides { num_beams: Some(5), num_return_sequences: Some(5), ..Default::default() };
//! let settings = model.settings(Some("summarization"), &o)?;
//! let beams = model.generate(&["i lost my job xIntent [GEN]"], &settings)?;
//! println!("{} ({})", beams[0][0].text, beams[0][0].score);
//! # Ok(()) }
//! ```
//!
//! The crate is a plain library: caching, sharding and deduplication belong to the engine.

pub mod beam;
mod error;
mod model;
mod params;
pub mod queries;
mod runtime;
pub mod settings;

pub use beam::{Hypothesis, Logits, StepModel, beam_search};
pub use error::{CometError, ORT_INSTALL_HINT};
pub use model::{
    Beam, DECODER_FILE, DECODER_WITH_PAST_FILE, ENCODER_FILE, MERGED_DECODER_FILE, Provider, Seq2Seq, SessionOptions,
};
pub use params::CometParams;
pub use runtime::{MIN_ORT_VERSION, Runtime, RuntimeOptions, discover, runtime};
pub use settings::{EarlyStopping, GenerationSettings, Overrides};
