//! The reference's optimiser: torch's Adam under the Noam learning-rate schedule, written over
//! the model's `Var`s so that its whole state can be saved and restored exactly.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Tensor, Var, bail};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The Noam schedule (`NoamOpt`): `lr = factor · d^-0.5 · min(step^-0.5, step · warmup^-1.5)`.
/// The reference wraps Adam in `NoamOpt(hidden_dim = 300, factor 1, warmup 8000)`; its step
/// counter is incremented before the rate is read, so the first update uses `step = 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Noam {
    pub factor: f64,
    pub d_model: usize,
    pub warmup: usize,
}

impl Default for Noam {
    fn default() -> Self {
        Noam { factor: 1.0, d_model: 300, warmup: 8000 }
    }
}

impl Noam {
    /// The learning rate of update number `step` (1-based).
    pub fn rate(&self, step: usize) -> f64 {
        let s = step.max(1) as f64;
        self.factor * (self.d_model as f64).powf(-0.5) * s.powf(-0.5).min(s * (self.warmup as f64).powf(-1.5))
    }
}

/// Adam's hyper-parameters (the reference: `Adam(lr=0, betas=(0.9, 0.98), eps=1e-9)`, no
/// weight decay, no AMSGrad).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamParams {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamParams {
    fn default() -> Self {
        AdamParams { beta1: 0.9, beta2: 0.98, eps: 1e-9 }
    }
}

/// The moments of one parameter: host vectors for f32 parameters on the CPU (updated in one
/// fused in-place pass), tensors elsewhere.
#[derive(Debug)]
enum Moments {
    Host { m: Vec<f32>, v: Vec<f32> },
    Device { m: Tensor, v: Tensor },
}

/// Adam state of one parameter, created at its first gradient (as torch's lazy state).
#[derive(Debug)]
struct ParamState {
    /// Updates this parameter has received (torch's per-parameter `state['step']`).
    step: u64,
    moments: Moments,
}

/// torch's Adam (`torch.optim.Adam`, single-tensor form) over named `Var`s:
///
/// ```text
/// m ← β1·m + (1-β1)·g          v ← β2·v + (1-β2)·g²
/// p ← p - lr/(1-β1^t) · m / (√v / √(1-β2^t) + ε)
/// ```
///
/// `t` counts each parameter's own updates. A parameter without a gradient in a step is left
/// alone and its `t` does not advance (torch skips `grad is None`); a zero gradient (the
/// embedding rows of words not in the batch) is a normal update.
pub struct Adam {
    params: Vec<(String, Var)>,
    hp: AdamParams,
    state: Vec<Option<ParamState>>,
}

impl Adam {
    /// Over `params` (names must be unique: they key the saved state).
    pub fn new(mut params: Vec<(String, Var)>, hp: AdamParams) -> Result<Adam> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        if params.windows(2).any(|w| w[0].0 == w[1].0) {
            bail!("Adam: duplicate parameter names");
        }
        let n = params.len();
        Ok(Adam { params, hp, state: (0..n).map(|_| None).collect() })
    }

    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    pub fn hyper_params(&self) -> AdamParams {
        self.hp
    }

    /// One update with learning rate `lr` from `grads`.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        let hp = self.hp;
        for ((name, var), state) in self.params.iter().zip(self.state.iter_mut()) {
            let Some(grad) = grads.get(var.as_tensor()) else { continue };
            if grad.dims() != var.dims() {
                bail!("Adam: gradient of {name} has shape {:?}, the parameter {:?}", grad.dims(), var.dims());
            }
            let grad = grad.to_dtype(var.dtype())?.contiguous()?;
            let st = state.get_or_insert_with(|| ParamState { step: 0, moments: Moments::zeros(var) });
            st.step += 1;
            let t = st.step as f64;
            let bc1 = 1.0 - hp.beta1.powf(t);
            let bc2 = 1.0 - hp.beta2.powf(t);
            let step_size = lr / bc1;
            let bc2_sqrt = bc2.sqrt();
            match &mut st.moments {
                Moments::Host { m, v } => {
                    let op = HostAdam {
                        m: RefCell::new(m),
                        v: RefCell::new(v),
                        beta1: hp.beta1 as f32,
                        one_minus_beta1: (1.0 - hp.beta1) as f32,
                        beta2: hp.beta2 as f32,
                        one_minus_beta2: (1.0 - hp.beta2) as f32,
                        bc2_sqrt: bc2_sqrt as f32,
                        eps: hp.eps as f32,
                        neg_step_size: -step_size as f32,
                    };
                    var.as_tensor().inplace_op2(&grad, &op)?;
                }
                Moments::Device { m, v } => {
                    *m = ((&*m * hp.beta1)? + (&grad * (1.0 - hp.beta1))?)?;
                    *v = ((&*v * hp.beta2)? + (grad.sqr()? * (1.0 - hp.beta2))?)?;
                    let denom = ((v.sqrt()? / bc2_sqrt)? + hp.eps)?;
                    let p = (var.as_tensor().detach() - ((&*m / denom)? * step_size)?)?;
                    var.set(&p)?;
                }
            }
        }
        Ok(())
    }

    /// Per-parameter update counts (parameters that never had a gradient are absent).
    pub fn steps(&self) -> HashMap<String, u64> {
        self.params.iter().zip(&self.state).filter_map(|((n, _), s)| s.as_ref().map(|s| (n.clone(), s.step))).collect()
    }

    /// The moments as tensors, `m.NAME` and `v.NAME` (to save as safetensors).
    pub fn moments(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for ((name, var), state) in self.params.iter().zip(&self.state) {
            let Some(st) = state else { continue };
            let (m, v) = match &st.moments {
                Moments::Host { m, v } => {
                    (Tensor::from_slice(m, var.dims(), var.device())?, Tensor::from_slice(v, var.dims(), var.device())?)
                }
                Moments::Device { m, v } => (m.clone(), v.clone()),
            };
            out.insert(format!("m.{name}"), m);
            out.insert(format!("v.{name}"), v);
        }
        Ok(out)
    }

    /// Restores the state saved by [`Adam::steps`] and [`Adam::moments`].
    pub fn restore(&mut self, steps: &HashMap<String, u64>, moments: &HashMap<String, Tensor>) -> Result<()> {
        for ((name, var), state) in self.params.iter().zip(self.state.iter_mut()) {
            let Some(&step) = steps.get(name) else {
                *state = None;
                continue;
            };
            let get = |k: &str| -> Result<Tensor> {
                let Some(t) = moments.get(&format!("{k}.{name}")) else {
                    bail!("optimizer state: no `{k}` moment for {name}")
                };
                if t.dims() != var.dims() {
                    bail!("optimizer state: `{k}.{name}` has shape {:?}, the parameter {:?}", t.dims(), var.dims());
                }
                t.to_device(var.device())?.to_dtype(var.dtype())
            };
            let (m, v) = (get("m")?, get("v")?);
            let moments = if Moments::host(var) {
                Moments::Host { m: m.flatten_all()?.to_vec1::<f32>()?, v: v.flatten_all()?.to_vec1::<f32>()? }
            } else {
                Moments::Device { m, v }
            };
            *state = Some(ParamState { step, moments });
        }
        let known: std::collections::HashSet<&str> = self.params.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(unknown) = steps.keys().find(|k| !known.contains(k.as_str())) {
            bail!("optimizer state: parameter {unknown} is not in the model");
        }
        Ok(())
    }
}

impl Moments {
    fn host(var: &Var) -> bool {
        var.device().is_cpu() && var.dtype() == DType::F32
    }

    fn zeros(var: &Var) -> Moments {
        if Moments::host(var) {
            let n = var.elem_count();
            Moments::Host { m: vec![0.0; n], v: vec![0.0; n] }
        } else {
            let z = var.as_tensor().zeros_like().expect("zeros on the parameter's device");
            Moments::Device { m: z.clone(), v: z }
        }
    }
}

/// The fused CPU update: one pass over `p`, `g`, `m`, `v` (f32), torch's arithmetic order.
struct HostAdam<'a> {
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bc2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

const CHUNK: usize = 1 << 14;

impl InplaceOp2 for HostAdam<'_> {
    fn name(&self) -> &'static str {
        "adam-update"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            bail!("adam-update: parameter and gradient must be contiguous")
        };
        let (CpuStorage::F32(p), CpuStorage::F32(g)) = (s1, s2) else { bail!("adam-update: f32 only") };
        let p = &mut p[p0..p1];
        let g = &g[g0..g1];
        let mut m = self.m.borrow_mut();
        let mut v = self.v.borrow_mut();
        if p.len() != g.len() || p.len() != m.len() || p.len() != v.len() {
            bail!("adam-update: sizes differ");
        }
        let (b1, c1, b2, c2) = (self.beta1, self.one_minus_beta1, self.beta2, self.one_minus_beta2);
        let (bc2_sqrt, eps, neg_step) = (self.bc2_sqrt, self.eps, self.neg_step_size);
        let upd = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = *m * b1 + c1 * g;
                *v = *v * b2 + c2 * (g * g);
                let denom = v.sqrt() / bc2_sqrt + eps;
                *p += neg_step * (*m / denom);
            }
        };
        if p.len() >= 4 * CHUNK {
            p.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), m), v)| upd(p, g, m, v));
        } else {
            upd(p, g, &mut m[..], &mut v[..]);
        }
        Ok(())
    }
}
