//! The params of the stages that run this crate: the evaluate stage's decoding of the test
//! set, and the analysis stage's encoder pass.

use iamm_options::ParamType;

use crate::{DecodeOptions, Strategy};

iamm_options::choices! {
    /// How the next token is chosen (the kind of [`Strategy`]).
    pub enum Decoding ("decoding") {
        Greedy = "greedy",
        Beam = "beam",
        Sample = "sample",
    }
}

iamm_options::options! {
    /// How the evaluate stage decodes the test set (its metrics' params follow these).
    pub struct DecodeParams {
        batch_size: usize [ParamType::Int { min: 1, max: 4096 }] = 48, Key,
            "test examples per batch (the reference's test run: 48); the reference's Acc is a mean over batches";
        decoding: Decoding = "greedy", Key, "greedy (the reference), beam search, or top-k/top-p sampling";
        max_new_tokens: usize [ParamType::Int { min: 1, max: 10_000 }] = 51, Key,
            "decoding steps, EOS included (the reference runs max_dec_step + 1 = 51 steps, then cuts at EOS)";
        beam_size: usize [ParamType::Int { min: 1, max: 256 }] = 5, Key, "beams (decoding: beam)";
        length_penalty: f32 [ParamType::Float { min: -100.0, max: 100.0 }] = 1.0, Key,
            "beam score / length^length_penalty (decoding: beam)";
        top_k: usize [ParamType::Int { min: 0, max: 10_000_000 }] = 0, Key,
            "sample among the k most probable tokens; 0 = all (decoding: sample)";
        top_p: f32 [ParamType::Float { min: 0.0, max: 1.0 }] = 1.0, Key,
            "nucleus: the smallest set of tokens with this much probability; 1 = all (decoding: sample)";
        temperature: f32 [ParamType::Float { min: 0.0, max: 1000.0 }] = 1.0, Key,
            "sampling temperature, > 0 (decoding: sample)";
        seed: u64 [ParamType::Int { min: 0, max: i64::MAX }] = 0, Key, "seeds sampling (decoding: sample)";
    }
}

impl DecodeParams {
    /// The decoding options, or which param to change.
    pub fn options(&self) -> Result<DecodeOptions, String> {
        let strategy = match self.decoding {
            Decoding::Greedy => Strategy::Greedy,
            Decoding::Beam => Strategy::Beam { size: self.beam_size, length_penalty: self.length_penalty },
            Decoding::Sample => {
                if self.top_p <= 0.0 {
                    return Err("param `top_p` must be above 0 (1 = no nucleus filtering)".into());
                }
                if self.temperature <= 0.0 {
                    let hint = "use decoding: greedy for the most probable token";
                    return Err(format!("param `temperature` must be above 0 ({hint})"));
                }
                Strategy::Sample { top_k: self.top_k, top_p: self.top_p, temperature: self.temperature }
            }
        };
        Ok(DecodeOptions { strategy, max_new_tokens: self.max_new_tokens, seed: self.seed })
    }
}

iamm_options::options! {
    /// How the analysis stage runs the encoder over the test set.
    pub struct AssociationParams {
        batch_size: usize [ParamType::Int { min: 1, max: 4096 }] = 16, Key,
            "test examples per encoder batch; selections depend on it as in the reference (padded rows enter \
             the second-order means)";
    }
}
