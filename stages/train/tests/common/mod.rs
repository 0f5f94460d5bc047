//! Synthetic examples for the tests.
#![allow(dead_code)]

use candle_core::{DType, Device, Result};
use candle_nn::{VarBuilder, VarMap};
use iamm_core::special::{CLS, EOS, SYS, USR};
use iamm_train::{Comet, Example, Iamm, IammConfig, Variant};

/// A small deterministic generator of ids in `7..vocab`.
pub struct Ids {
    state: u64,
    vocab: u32,
}

impl Ids {
    pub fn new(seed: u64, vocab: usize) -> Self {
        Ids { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, vocab: vocab as u32 }
    }
    pub fn next(&mut self) -> u32 {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        7 + ((self.state >> 33) as u32) % (self.vocab - 7)
    }
    pub fn seq(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// An example with `lens.len()` utterances of `lens[j]` words (plus `[CLS]`), a situation of
/// `sit` words, a target of `target` words (plus EOS) and COMET knowledge of `comet` words per
/// relation (xReact without `[CLS]`), or none.
pub fn example(ids: &mut Ids, lens: &[usize], sit: usize, target: usize, comet: Option<usize>, emotion: u8) -> Example {
    let context = lens.iter().map(|&n| [vec![CLS], ids.seq(n)].concat()).collect();
    let roles = lens
        .iter()
        .enumerate()
        .map(|(j, &n)| [vec![CLS], vec![if j % 2 == 0 { USR } else { SYS }; n]].concat())
        .collect();
    let comet = comet.map(|n| {
        let rel = |ids: &mut Ids, r: usize| if r == 4 { ids.seq(n) } else { [vec![CLS], ids.seq(n)].concat() };
        Comet {
            context: std::array::from_fn(|r| lens.iter().map(|_| rel(ids, r)).collect()),
            situation: std::array::from_fn(|r| rel(ids, r)),
        }
    });
    Example {
        context,
        roles,
        situation: [vec![CLS], ids.seq(sit)].concat(),
        target: [ids.seq(target), vec![EOS]].concat(),
        emotion,
        comet,
    }
}

/// A model over a fresh `VarMap`, reference-initialised from `seed`.
pub fn model(cfg: &IammConfig, dtype: DType, seed: u64) -> Result<(VarMap, Iamm)> {
    let varmap = VarMap::new();
    let model = Iamm::new(cfg, VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu))?;
    iamm_train::model::reference_init(&varmap, seed)?;
    Ok((varmap, model))
}

/// Sorted `(name, var)` pairs of a varmap.
pub fn vars(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let mut v: Vec<_> = varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The vocabulary size of the loading and decoding tests.
pub const V: usize = 60;

/// `IammConfig::tiny(V)` as `variant`.
pub fn tiny(variant: Variant) -> IammConfig {
    IammConfig { variant, ..IammConfig::tiny(V) }
}

/// `n` examples of 1 to 4 utterances of varied lengths, with COMET knowledge.
pub fn examples(seed: u64, n: usize) -> Vec<Example> {
    let mut ids = Ids::new(seed, V);
    (0..n)
        .map(|i| {
            let utts: Vec<usize> = (0..1 + (i * 7 + 3) % 4).map(|j| 2 + (i + 3 * j) % 6).collect();
            example(&mut ids, &utts, 3 + i % 5, 2 + (i * 5) % 7, Some(3), (i % 32) as u8)
        })
        .collect()
}

/// The message of an error that must happen.
pub fn err_text<T>(r: Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}
