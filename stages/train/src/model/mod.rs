//! IAMM in candle. `Iamm` (in `iamm.rs`) is the model; the other files are its parts.

pub mod config;
pub mod iam;
pub mod iamm;
pub mod init;
pub mod layers;
pub mod memory;
pub mod ops;

pub use config::{AssocScore, EmotionCombine, IammConfig, SelectorInput, Variant};
pub use iam::{IamTrace, Selection};
pub use iamm::{DecodeState, EmotionLogits, Encoded, Generated, Iamm, LossScale, Losses, Output, Selected, TargetLogProbs};
pub use init::reference_init;
pub use memory::MemoryTrace;
