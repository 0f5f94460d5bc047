//! The reference initialisation, deterministic from a seed.
//!
//! The reference applies `xavier_uniform_` to every parameter of rank > 1 except the embedding
//! (conv kernels and the generator included), leaves biases at torch's defaults
//! (`U(±1/√fan_in)`), LayerNorm `gamma = 1`, `beta = 0`, and fills the embedding with GloVe rows
//! or `N(0, 0.01²)`. candle's own random init cannot be seeded on the CPU, so this rewrites
//! every variable from a seeded generator instead (GloVe rows are loaded on top afterwards).

use candle_core::{Result, Tensor, bail};
use candle_nn::VarMap;

/// SplitMix64: small, seedable, good enough for initial weights.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn normal(&mut self) -> f64 {
        // Box-Muller
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `(fan_in, fan_out)` of a weight as torch computes them.
fn fans(dims: &[usize]) -> (usize, usize) {
    let rf: usize = dims[2..].iter().product();
    (dims[1] * rf, dims[0] * rf)
}

/// Re-initialises every variable of `varmap` (built by [`crate::model::Iamm::new`]) as the
/// reference does, from `seed`. The same seed gives the same weights.
pub fn reference_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let vars = varmap.data().lock().expect("varmap lock").clone();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = Rng(seed);
    for name in names {
        let var = &vars[name];
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let values: Vec<f64> = if name == "embedding.lut.weight" {
            (0..n).map(|_| 0.01 * rng.normal()).collect()
        } else if name.ends_with(".gamma") {
            vec![1.0; n]
        } else if name.ends_with(".beta") {
            vec![0.0; n]
        } else if let Some(prefix) = name.strip_suffix(".bias") {
            let Some(w) = vars.get(&format!("{prefix}.weight")) else { bail!("init: no weight beside {name}") };
            let b = 1.0 / (fans(w.dims()).0 as f64).sqrt();
            (0..n).map(|_| rng.uniform(-b, b)).collect()
        } else if dims.len() >= 2 {
            let (fi, fo) = fans(&dims);
            let b = (6.0 / (fi + fo) as f64).sqrt();
            (0..n).map(|_| rng.uniform(-b, b)).collect()
        } else {
            bail!("init: no rule for {name} {dims:?}");
        };
        let t = Tensor::from_vec(values, dims, var.device())?.to_dtype(var.dtype())?;
        var.set(&t)?;
    }
    Ok(())
}
