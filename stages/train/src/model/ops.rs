//! Fused kernels with autograd for the CPU, and their composite fallbacks elsewhere.
//!
//! candle's own `softmax_last_dim` has no backward pass and its composite softmax, log-sum-exp
//! and layer norm cost 5 to 10 graph nodes each (and as many again backwards). The model runs
//! dozens of small ones per step, so on the CPU each is one node here, with a hand-written
//! backward. On other devices the composite form runs (same maths, candle's autograd).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, D, Layout, Result, Shape, Tensor, WithDType, bail};
use num_traits::Float;
use rayon::prelude::*;

/// The value the reference writes into masked attention logits (`masked_fill(mask, -1e18)`).
pub const MASK_VALUE: f64 = -1e18;

thread_local! {
    static FUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Turns the fast paths off (on this thread): the fused CPU kernels (the composite forms run
/// instead, as on a GPU) and the shared encoding of all-PAD rows. Tests only, to check both
/// against the plain computation.
#[doc(hidden)]
pub fn set_fast_paths(enabled: bool) {
    FUSED.with(|f| f.set(enabled));
}

pub(crate) fn fast_paths() -> bool {
    FUSED.with(|f| f.get())
}

fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && fast_paths()
}

/// Rows are processed in parallel only above this many elements: rayon's overhead would
/// dominate the small tensors that make up most of the graph.
const PAR_MIN_ELEMS: usize = 1 << 15;

trait Real:
    WithDType + Float + Send + Sync + 'static + std::ops::AddAssign + std::ops::SubAssign + std::ops::MulAssign
{
    /// `x ← exp(x)` over a slice (vectorised for f32).
    fn exp_inplace(xs: &mut [Self]);
}
impl Real for f32 {
    fn exp_inplace(xs: &mut [f32]) {
        fast_exp::exp_f32(xs)
    }
}
impl Real for f64 {
    fn exp_inplace(xs: &mut [f64]) {
        xs.iter_mut().for_each(|x| *x = x.exp());
    }
}

/// A vectorisable `expf` (Cephes' polynomial, max relative error about 2e-7, like libm's
/// within a couple of ulps); `exp(x) = 0` below -88, as the underflow of `expf`.
mod fast_exp {
    #[inline(always)]
    fn exp1(x: f32) -> f32 {
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const C1: f32 = 0.693_359_4;
        const C2: f32 = -2.121_944_4e-4;
        const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to nearest
        let under = x < -88.0;
        let xc = x.clamp(-87.0, 88.5);
        let n = (xc * LOG2E + ROUND) - ROUND;
        let r = xc - n * C1 - n * C2;
        let z = r * r;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
            + 1.666_666_5e-1)
            * r
            + 5.0e-1;
        let y = p * z + r + 1.0;
        let pow = f32::from_bits(((n as i32 + 127) as u32) << 23);
        if under { 0.0 } else { y * pow }
    }

    #[inline(always)]
    fn run(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = exp1(*x);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(xs: &mut [f32]) {
        run(xs)
    }

    pub fn exp_f32(xs: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the features were just detected.
                return unsafe { run_avx2(xs) };
            }
        }
        run(xs)
    }
}

fn contiguous<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("fused op: input is not contiguous"),
    }
}

fn last_dim(l: &Layout) -> Result<usize> {
    match l.dims().last() {
        Some(&n) if n > 0 => Ok(n),
        _ => bail!("fused op: empty last dimension"),
    }
}

/// Runs `f(row_index, out_row)` over the rows of a `[rows, n]` output, in parallel when large.
fn for_rows<T: Real>(out: &mut [T], n: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() >= PAR_MIN_ELEMS {
        out.par_chunks_mut(n).enumerate().for_each(|(r, o)| f(r, o));
    } else {
        out.chunks_mut(n).enumerate().for_each(|(r, o)| f(r, o));
    }
}

macro_rules! dispatch_f {
    ($s:expr, $name:expr, |$t:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(_) => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            CpuStorage::F64(_) => {
                #[allow(dead_code)]
                type $t = f64;
                $body
            }
            _ => bail!("{}: only f32 and f64 are supported", $name),
        }
    };
}

fn wrap<T: WithDType>(v: Vec<T>) -> CpuStorage {
    T::to_cpu_storage_owned(v)
}

// ---------------------------------------------------------------------------------------------
// softmax over the last dimension

struct Softmax;
struct SoftmaxBwd;

fn softmax_row<T: Real>(x: &[T], o: &mut [T]) {
    let max = x.iter().copied().fold(T::neg_infinity(), Float::max);
    for (o, &x) in o.iter_mut().zip(x) {
        *o = x - max;
    }
    T::exp_inplace(o);
    let sum = o.iter().fold(T::zero(), |a, &v| a + v);
    let inv = T::one() / sum;
    o.iter_mut().for_each(|o| *o *= inv);
}

/// `max + ln Σ exp(x - max)` of a row, using `scratch` (same length) as workspace.
fn lse_row<T: Real>(x: &[T], scratch: &mut [T]) -> T {
    let max = x.iter().copied().fold(T::neg_infinity(), Float::max);
    for (o, &x) in scratch.iter_mut().zip(x) {
        *o = x - max;
    }
    T::exp_inplace(scratch);
    max + scratch.iter().fold(T::zero(), |a, &v| a + v).ln()
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "iamm-softmax"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l)?;
            let x = contiguous::<T>(s, l)?;
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| softmax_row(&x[r * n..(r + 1) * n], o));
            Ok((wrap(out), l.shape().clone()))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(s, l))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBwd)?))
    }
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "iamm-softmax-bwd"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let y = contiguous::<T>(s1, l1)?;
            let g = contiguous::<T>(s2, l2)?;
            let mut out = vec![T::zero(); y.len()];
            for_rows(&mut out, n, |r, o| {
                let (y, g) = (&y[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
                let dot = y.iter().zip(g).fold(T::zero(), |a, (&y, &g)| a + y * g);
                for i in 0..n {
                    o[i] = y[i] * (g[i] - dot);
                }
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2))
    }
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if fused(x) { x.contiguous()?.apply_op1(Softmax) } else { candle_nn::ops::softmax(x, D::Minus1) }
}

// ---------------------------------------------------------------------------------------------
// log-sum-exp over the last dimension (keeps the dimension)

struct LogSumExp;
struct LogSumExpBwd;

impl CustomOp1 for LogSumExp {
    fn name(&self) -> &'static str {
        "iamm-logsumexp"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l)?;
            let mut dims = l.dims().to_vec();
            *dims.last_mut().unwrap() = 1;
            let x = contiguous::<T>(s, l)?;
            let rows = x.len() / n;
            let f = |scratch: &mut Vec<T>, r: usize| lse_row(&x[r * n..(r + 1) * n], scratch);
            let out: Vec<T> = if x.len() >= PAR_MIN_ELEMS {
                (0..rows).into_par_iter().map_with(vec![T::zero(); n], f).collect()
            } else {
                let mut scratch = vec![T::zero(); n];
                (0..rows).map(|r| f(&mut scratch, r)).collect()
            };
            Ok((wrap(out), Shape::from(dims)))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(s, l))
    }
    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.contiguous()?.apply_op3_no_bwd(res, &grad.contiguous()?, &LogSumExpBwd)?))
    }
}

impl CustomOp3 for LogSumExpBwd {
    fn name(&self) -> &'static str {
        "iamm-logsumexp-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let x = contiguous::<T>(s1, l1)?;
            let lse = contiguous::<T>(s2, l2)?;
            let g = contiguous::<T>(s3, l3)?;
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| {
                let (x, lse, g) = (&x[r * n..(r + 1) * n], lse[r], g[r]);
                for i in 0..n {
                    o[i] = x[i] - lse;
                }
                T::exp_inplace(o);
                o.iter_mut().for_each(|o| *o *= g);
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2, s3, l3))
    }
}

/// `log Σ exp(x)` over the last dimension, keeping it as a dimension of size 1.
pub fn logsumexp_last(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(LogSumExp)
    } else {
        let max = x.max_keepdim(D::Minus1)?.detach();
        (x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?.log()? + &max)?.contiguous()
    }
}

/// `log_softmax` over the last dimension.
pub fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    x.broadcast_sub(&logsumexp_last(x)?)
}

// ---------------------------------------------------------------------------------------------
// the reference LayerNorm: gamma * (x - mean) / (std + eps) + beta, std unbiased

struct RefLayerNorm {
    eps: f64,
}
struct RefLayerNormBwd {
    eps: f64,
}

/// Per row: mean, unbiased std and `1 / (std + eps)`.
fn ln_stats<T: Real>(x: &[T], eps: T) -> (T, T, T) {
    let n = <T as num_traits::NumCast>::from(x.len()).unwrap();
    let mean = x.iter().fold(T::zero(), |a, &v| a + v) / n;
    let ss = x.iter().fold(T::zero(), |a, &v| a + (v - mean) * (v - mean));
    // torch.std of one element is NaN; the model never normalises over one feature.
    let std = (ss / (n - T::one())).sqrt();
    (mean, std, T::one() / (std + eps))
}

impl CustomOp3 for RefLayerNorm {
    fn name(&self) -> &'static str {
        "iamm-layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            eps: f64,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let x = contiguous::<T>(s1, l1)?;
            let gamma = contiguous::<T>(s2, l2)?;
            let beta = contiguous::<T>(s3, l3)?;
            if gamma.len() != n || beta.len() != n {
                bail!("layer norm: gamma/beta of size {} for rows of {n}", gamma.len());
            }
            let eps = <T as num_traits::NumCast>::from(eps).unwrap();
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| {
                let x = &x[r * n..(r + 1) * n];
                let (mean, _, inv) = ln_stats(x, eps);
                for i in 0..n {
                    o[i] = gamma[i] * (x[i] - mean) * inv + beta[i];
                }
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(self.eps, s1, l1, s2, l2, s3, l3))
    }
    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = gamma.elem_count();
        let rows = x.elem_count() / n;
        // One op computes all three gradients: rows of d/dx, then d/dgamma, then d/dbeta.
        let all = x.contiguous()?.apply_op3_no_bwd(gamma, &grad.contiguous()?, &RefLayerNormBwd { eps: self.eps })?;
        let gx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        let gg = all.narrow(0, rows, 1)?.reshape(gamma.shape())?;
        let gb = all.narrow(0, rows + 1, 1)?.reshape(gamma.shape())?;
        Ok((Some(gx), Some(gg), Some(gb)))
    }
}

impl CustomOp3 for RefLayerNormBwd {
    fn name(&self) -> &'static str {
        "iamm-layer-norm-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            eps: f64,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let x = contiguous::<T>(s1, l1)?;
            let gamma = contiguous::<T>(s2, l2)?;
            let g = contiguous::<T>(s3, l3)?;
            let rows = x.len() / n;
            let eps = <T as num_traits::NumCast>::from(eps).unwrap();
            let nf = <T as num_traits::NumCast>::from(n).unwrap();
            let mut out = vec![T::zero(); (rows + 2) * n];
            let (gx, gpar) = out.split_at_mut(rows * n);
            // rows in blocks; each block returns its partial d/dgamma and d/dbeta
            const BLOCK: usize = 32;
            let block = |(bi, o): (usize, &mut [T])| -> Vec<T> {
                let mut part = vec![T::zero(); 2 * n];
                for (k, o) in o.chunks_mut(n).enumerate() {
                    let r = bi * BLOCK + k;
                    let (x, g) = (&x[r * n..(r + 1) * n], &g[r * n..(r + 1) * n]);
                    let (mean, std, inv) = ln_stats(x, eps);
                    // g' = g * gamma; y = d * inv with d = x - mean, inv = 1 / (std + eps)
                    let mut gsum = T::zero();
                    let mut gd = T::zero();
                    for i in 0..n {
                        let gp = g[i] * gamma[i];
                        gsum += gp;
                        gd += gp * (x[i] - mean);
                        part[i] += g[i] * (x[i] - mean) * inv;
                        part[n + i] += g[i];
                    }
                    let gmean = gsum / nf;
                    // d std / d x_j = d_j / ((n - 1) std); zero when the row is constant
                    let coef = if std > T::zero() { gd * inv * inv / ((nf - T::one()) * std) } else { T::zero() };
                    for i in 0..n {
                        o[i] = (g[i] * gamma[i] - gmean) * inv - coef * (x[i] - mean);
                    }
                }
                part
            };
            let sum = |a: Vec<T>, b: Vec<T>| -> Vec<T> { a.into_iter().zip(b).map(|(a, b)| a + b).collect() };
            // Per-block parts are added in block order, so the result does not depend on how
            // rayon splits the work (a resumed run must equal an uninterrupted one bit for bit).
            let blocks: Vec<Vec<T>> = if gx.len() >= PAR_MIN_ELEMS {
                gx.par_chunks_mut(BLOCK * n).enumerate().map(block).collect()
            } else {
                gx.chunks_mut(BLOCK * n).enumerate().map(block).collect()
            };
            let parts = blocks.into_iter().fold(vec![T::zero(); 2 * n], sum);
            gpar.copy_from_slice(&parts);
            let _ = rows;
            Ok((wrap(out), Shape::from((rows + 2, n))))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(self.eps, s1, l1, s2, l2, s3, l3))
    }
}

/// The reference LayerNorm over the last dimension: `gamma * (x - mean) / (std + eps) + beta`
/// with the **unbiased** standard deviation and `eps` added to the std (not the variance).
pub fn ref_layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op3(gamma, beta, RefLayerNorm { eps })
    } else {
        let n = x.dim(D::Minus1)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let d = x.broadcast_sub(&mean)?;
        let std = (d.sqr()?.sum_keepdim(D::Minus1)? / (n as f64 - 1.0))?.sqrt()?;
        d.broadcast_div(&(std + eps)?)?.broadcast_mul(gamma)?.broadcast_add(beta)
    }
}

// ---------------------------------------------------------------------------------------------
// top-k indices

struct TopK {
    k: usize,
}

fn topk_row<T: Real>(x: &[T], k: usize, out: &mut [u32]) {
    // (value, index), sorted by value descending, ties by index ascending (stable).
    let mut buf: Vec<(T, u32)> = Vec::with_capacity(k + 1);
    for (i, &v) in x.iter().enumerate() {
        let v = if v.is_nan() { T::neg_infinity() } else { v };
        if buf.len() == k && v <= buf[k - 1].0 {
            continue;
        }
        let mut pos = buf.len();
        while pos > 0 && buf[pos - 1].0 < v {
            pos -= 1;
        }
        buf.insert(pos, (v, i as u32));
        buf.truncate(k);
    }
    for (o, (_, i)) in out.iter_mut().zip(buf) {
        *o = i;
    }
}

impl CustomOp1 for TopK {
    fn name(&self) -> &'static str {
        "iamm-topk"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(k: usize, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l)?;
            if k == 0 || k > n {
                bail!("top-k: k = {k} for rows of {n}");
            }
            let mut dims = l.dims().to_vec();
            *dims.last_mut().unwrap() = k;
            let x = contiguous::<T>(s, l)?;
            let rows = x.len() / n;
            let mut out = vec![0u32; rows * k];
            out.chunks_mut(k).enumerate().for_each(|(r, o)| topk_row(&x[r * n..(r + 1) * n], k, o));
            Ok((CpuStorage::U32(out), Shape::from(dims)))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(self.k, s, l))
    }
}

/// Indices (u32) of the `k` largest values along the last dimension, in descending order of
/// value (torch's `topk(k, sorted=True)`); equal values keep their order, lowest index first.
/// Gradients flow through a `gather` with these indices, not through this op.
pub fn topk_indices(x: &Tensor, k: usize) -> Result<Tensor> {
    let x = x.detach();
    if fused(&x) {
        x.contiguous()?.apply_op1_no_bwd(&TopK { k })
    } else {
        // candle's GPU sort is not stable: ties may come out in another order there.
        x.contiguous()?.arg_sort_last_dim(false)?.narrow(D::Minus1, 0, k)?.contiguous()
    }
}

// ---------------------------------------------------------------------------------------------
// masked softmax (attention)

struct MaskedSoftmax;
struct MaskedSoftmaxBwd;

/// Row `r` of a `[B, H, Lq, Lk]` tensor reads mask row `mask_row(r)` of a `[B, 1, Mq, Lk]`
/// mask, `Mq ∈ {1, Lq}`.
#[derive(Clone, Copy)]
struct MaskIndex {
    h: usize,
    lq: usize,
    mq: usize,
}

impl MaskIndex {
    fn new(x: &Layout, m: &Layout) -> Result<Self> {
        let (xd, md) = (x.dims(), m.dims());
        if xd.len() != 4
            || md.len() != 4
            || md[0] != xd[0]
            || md[1] != 1
            || md[3] != xd[3]
            || (md[2] != 1 && md[2] != xd[2])
        {
            bail!("masked softmax: mask {md:?} does not fit logits {xd:?}");
        }
        Ok(MaskIndex { h: xd[1], lq: xd[2], mq: md[2] })
    }
    fn row(&self, r: usize) -> usize {
        let q = r % self.lq;
        let b = r / (self.lq * self.h);
        b * self.mq + if self.mq == 1 { 0 } else { q }
    }
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "iamm-masked-softmax"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let mi = MaskIndex::new(l1, l2)?;
            let x = contiguous::<T>(s1, l1)?;
            let m = contiguous::<u8>(s2, l2)?;
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| {
                let (x, m) = (&x[r * n..(r + 1) * n], &m[mi.row(r) * n..(mi.row(r) + 1) * n]);
                // masked logits are -1e18: exp underflows to 0, unless the whole row is masked
                // (then every logit is equal and the softmax is uniform, as in torch).
                let max =
                    x.iter().zip(m).filter(|(_, m)| **m == 0).map(|(x, _)| *x).fold(T::neg_infinity(), Float::max);
                if max == T::neg_infinity() {
                    let u = T::one() / <T as num_traits::NumCast>::from(n).unwrap();
                    o.iter_mut().for_each(|o| *o = u);
                    return;
                }
                for i in 0..n {
                    o[i] = x[i] - max;
                }
                T::exp_inplace(o);
                let mut sum = T::zero();
                for i in 0..n {
                    if m[i] != 0 {
                        o[i] = T::zero();
                    }
                    sum += o[i];
                }
                let inv = T::one() / sum;
                o.iter_mut().for_each(|o| *o *= inv);
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2))
    }
    fn bwd(&self, _x: &Tensor, mask: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(res.apply_op3_no_bwd(&grad.contiguous()?, mask, &MaskedSoftmaxBwd)?), None))
    }
}

impl CustomOp3 for MaskedSoftmaxBwd {
    fn name(&self) -> &'static str {
        "iamm-masked-softmax-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let mi = MaskIndex::new(l1, l3)?;
            let y = contiguous::<T>(s1, l1)?;
            let g = contiguous::<T>(s2, l2)?;
            let m = contiguous::<u8>(s3, l3)?;
            let mut out = vec![T::zero(); y.len()];
            for_rows(&mut out, n, |r, o| {
                let (y, g, m) =
                    (&y[r * n..(r + 1) * n], &g[r * n..(r + 1) * n], &m[mi.row(r) * n..(mi.row(r) + 1) * n]);
                let dot = y.iter().zip(g).fold(T::zero(), |a, (&y, &g)| a + y * g);
                for i in 0..n {
                    // masked logits were overwritten (masked_fill): no gradient reaches them
                    o[i] = if m[i] == 0 { y[i] * (g[i] - dot) } else { T::zero() };
                }
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2, s3, l3))
    }
}

/// `softmax(logits.masked_fill(mask, -1e18))` over the last dimension, for attention logits
/// `[B, H, Lq, Lk]` and a mask (u8, 1 = masked) `[B, 1, 1 | Lq, Lk]`. Masked logits get no
/// gradient; a fully masked row is uniform (as in torch).
pub fn masked_softmax(logits: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if fused(logits) {
        logits.contiguous()?.apply_op2(&mask.contiguous()?, MaskedSoftmax)
    } else {
        softmax_last(&masked_fill(logits, mask, MASK_VALUE)?)
    }
}

// ---------------------------------------------------------------------------------------------
// log-softmax at target ids

struct TargetLogSoftmax;
struct TargetLogSoftmaxBwd;

impl CustomOp2 for TargetLogSoftmax {
    fn name(&self) -> &'static str {
        "iamm-target-log-softmax"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let x = contiguous::<T>(s1, l1)?;
            let t = contiguous::<u32>(s2, l2)?;
            let rows = x.len() / n;
            if t.len() != rows {
                bail!("target log-softmax: {} targets for {rows} rows", t.len());
            }
            let f = |scratch: &mut Vec<T>, r: usize| -> T {
                let x = &x[r * n..(r + 1) * n];
                x[(t[r] as usize).min(n - 1)] - lse_row(x, scratch)
            };
            let out: Vec<T> = if x.len() >= PAR_MIN_ELEMS {
                (0..rows).into_par_iter().map_with(vec![T::zero(); n], f).collect()
            } else {
                let mut scratch = vec![T::zero(); n];
                (0..rows).map(|r| f(&mut scratch, r)).collect()
            };
            Ok((wrap(out), Shape::from(rows)))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2))
    }
    fn bwd(&self, x: &Tensor, t: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let x = x.contiguous()?;
        // pack (log p_t, g) per row so the backward is one op
        let pg = Tensor::stack(&[res, &grad.contiguous()?], 1)?;
        Ok((Some(x.apply_op3_no_bwd(t, &pg, &TargetLogSoftmaxBwd)?), None))
    }
}

impl CustomOp3 for TargetLogSoftmaxBwd {
    fn name(&self) -> &'static str {
        "iamm-target-log-softmax-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l1)?;
            let x = contiguous::<T>(s1, l1)?;
            let t = contiguous::<u32>(s2, l2)?;
            let pg = contiguous::<T>(s3, l3)?;
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| {
                let x = &x[r * n..(r + 1) * n];
                let ti = (t[r] as usize).min(n - 1);
                let (lp, g) = (pg[2 * r], pg[2 * r + 1]);
                // lse = x_t - log p_t; d log p_t / d x_i = [i = t] - softmax_i
                let lse = x[ti] - lp;
                for i in 0..n {
                    o[i] = x[i] - lse;
                }
                T::exp_inplace(o);
                let ng = -g;
                o.iter_mut().for_each(|o| *o *= ng);
                o[ti] += g;
            });
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2, s3, l3))
    }
}

/// `log_softmax(logits)[target]` per row: `logits [N, V]`, `target [N]` (u32) `-> [N]`.
/// One pass forward, one backward, without materialising the log-softmax.
pub fn target_log_softmax(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    if fused(logits) {
        logits.contiguous()?.apply_op2(&target.contiguous()?, TargetLogSoftmax)
    } else {
        let lse = logsumexp_last(logits)?;
        (logits.gather(&target.unsqueeze(1)?.contiguous()?, 1)? - lse)?.squeeze(1)
    }
}

// ---------------------------------------------------------------------------------------------
// unfold for the kernel-3 convolutions

struct Unfold3 {
    left: usize,
}

fn unfold3_fwd<T: Real>(x: &[T], b: usize, l: usize, c: usize, left: usize) -> Vec<T> {
    let mut out = vec![T::zero(); b * l * 3 * c];
    for bi in 0..b {
        for t in 0..l {
            let o = &mut out[(bi * l + t) * 3 * c..(bi * l + t + 1) * 3 * c];
            for j in 0..3 {
                let s = t as isize + j as isize - left as isize;
                if s >= 0 && (s as usize) < l {
                    let src = &x[(bi * l + s as usize) * c..(bi * l + s as usize + 1) * c];
                    o[j * c..(j + 1) * c].copy_from_slice(src);
                }
            }
        }
    }
    out
}

fn unfold3_bwd<T: Real>(g: &[T], b: usize, l: usize, c: usize, left: usize) -> Vec<T> {
    let mut out = vec![T::zero(); b * l * c];
    for bi in 0..b {
        for t in 0..l {
            let gi = &g[(bi * l + t) * 3 * c..(bi * l + t + 1) * 3 * c];
            for j in 0..3 {
                let s = t as isize + j as isize - left as isize;
                if s >= 0 && (s as usize) < l {
                    let o = &mut out[(bi * l + s as usize) * c..(bi * l + s as usize + 1) * c];
                    for (o, &v) in o.iter_mut().zip(&gi[j * c..(j + 1) * c]) {
                        *o += v;
                    }
                }
            }
        }
    }
    out
}

impl CustomOp1 for Unfold3 {
    fn name(&self) -> &'static str {
        "iamm-unfold3"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(left: usize, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let (b, len, c) = l.shape().dims3()?;
            let x = contiguous::<T>(s, l)?;
            Ok((wrap(unfold3_fwd(x, b, len, c, left)), Shape::from((b, len, 3 * c))))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(self.left, s, l))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Fold3 { left: self.left })?))
    }
}

struct Fold3 {
    left: usize,
}

impl CustomOp1 for Fold3 {
    fn name(&self) -> &'static str {
        "iamm-fold3"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(left: usize, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let (b, len, c3) = l.shape().dims3()?;
            let g = contiguous::<T>(s, l)?;
            Ok((wrap(unfold3_bwd(g, b, len, c3 / 3, left)), Shape::from((b, len, c3 / 3))))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(self.left, s, l))
    }
}

/// `x [B, L, C] -> [B, L, 3C]`: row `t` holds `x[t-left], x[t-left+1], x[t-left+2]` (zeros
/// outside), i.e. the input of a kernel-3 convolution padded `(left, 2-left)`.
pub fn unfold3(x: &Tensor, left: usize) -> Result<Tensor> {
    if fused(x) {
        x.contiguous()?.apply_op1(Unfold3 { left })
    } else {
        let l = x.dim(1)?;
        let xp = x.pad_with_zeros(1, left, 2 - left)?;
        Tensor::cat(&[xp.narrow(1, 0, l)?, xp.narrow(1, 1, l)?, xp.narrow(1, 2, l)?], 2)
    }
}

// ---------------------------------------------------------------------------------------------
// embedding gradient

struct RowScatter {
    rows: usize,
    skip: u32,
}

impl CustomOp2 for RowScatter {
    fn name(&self) -> &'static str {
        "iamm-row-scatter"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            rows: usize,
            skip: u32,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let d = last_dim(l1)?;
            let src = contiguous::<T>(s1, l1)?;
            let ids = contiguous::<u32>(s2, l2)?;
            let mut out = vec![T::zero(); rows * d];
            for (i, &id) in ids.iter().enumerate() {
                if id == skip {
                    continue;
                }
                let id = id as usize;
                if id >= rows {
                    bail!("embedding gradient: id {id} outside a table of {rows} rows");
                }
                for (o, &v) in out[id * d..(id + 1) * d].iter_mut().zip(&src[i * d..(i + 1) * d]) {
                    *o += v;
                }
            }
            Ok((wrap(out), Shape::from((rows, d))))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(self.rows, self.skip, s1, l1, s2, l2))
    }
}

/// Dense `[rows, d]` gradient of a table from the gradients `src [n, d]` of its looked-up rows
/// `ids [n]`; rows looked up as `skip` get nothing (torch's `padding_idx`).
pub fn scatter_rows(src: &Tensor, ids: &Tensor, rows: usize, skip: u32) -> Result<Tensor> {
    if fused(src) {
        src.contiguous()?.apply_op2_no_bwd(&ids.contiguous()?, &RowScatter { rows, skip })
    } else {
        let keep = ids.ne(skip)?.to_dtype(src.dtype())?.unsqueeze(1)?;
        let d = src.dim(1)?;
        Tensor::zeros((rows, d), src.dtype(), src.device())?.index_add(ids, &src.broadcast_mul(&keep)?, 0)
    }
}

// ---------------------------------------------------------------------------------------------
// linear layer with a direct backward

/// `y = x·wᵀ (+ b)` computed by gemm straight from the `[out, in]` weight, with a backward
/// that produces `dL/dw` in that layout (candle's `x.matmul(w.t())` routes it through a
/// transposed copy and a strided add, which at the generator's 23,712 × 300 costs more than
/// the matmul itself).
struct LinearOp;

fn linear_fwd<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, rows: usize, inp: usize, out: usize) -> Vec<T> {
    let mut dst = vec![T::zero(); rows * out];
    if let Some(b) = b {
        for r in 0..rows {
            dst[r * out..(r + 1) * out].copy_from_slice(b);
        }
    }
    let threads = rayon::current_num_threads();
    let par = if threads > 1 && rows * out * inp > 1 << 16 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: dst is rows×out row-major, x rows×inp row-major, wᵀ read through w (out×inp
    // row-major) with column stride inp and row stride 1; all in bounds.
    unsafe {
        gemm::gemm(
            rows,
            out,
            inp,
            dst.as_mut_ptr(),
            1,
            out as isize,
            b.is_some(),
            x.as_ptr(),
            1,
            inp as isize,
            w.as_ptr(),
            inp as isize,
            1,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        );
    }
    dst
}

fn linear_cpu(ss: &[(&CpuStorage, &Layout)]) -> Result<(CpuStorage, Shape)> {
    fn run<T: Real>(ss: &[(&CpuStorage, &Layout)]) -> Result<(CpuStorage, Shape)> {
        let (xs, xl) = ss[0];
        let (ws, wl) = ss[1];
        let inp = last_dim(xl)?;
        let rows = xl.shape().elem_count() / inp;
        let (out, win) = wl.shape().dims2()?;
        if win != inp {
            bail!("linear: input of {inp} features for a weight [{out}, {win}]");
        }
        let x = contiguous::<T>(xs, xl)?;
        let w = contiguous::<T>(ws, wl)?;
        let b = match ss.get(2) {
            Some((bs, bl)) => Some(contiguous::<T>(bs, bl)?),
            None => None,
        };
        let mut dims = xl.dims().to_vec();
        *dims.last_mut().unwrap() = out;
        Ok((wrap(linear_fwd(x, w, b, rows, inp, out)), Shape::from(dims)))
    }
    dispatch_f!(ss[0].0, "iamm-linear", |T| run::<T>(ss))
}

/// Gradients of `y = x·wᵀ (+ b)` for an N-d `x`: `(dx, dw, db)`.
fn linear_bwd(x: &Tensor, w: &Tensor, g: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let (out, inp) = w.dims2()?;
    let rows = x.elem_count() / inp;
    let g2 = g.contiguous()?.reshape((rows, out))?;
    let dx = g2.matmul(w)?.reshape(x.shape())?;
    let dw = g2.t()?.matmul(&x.reshape((rows, inp))?)?;
    Ok((dx, dw, g2))
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "iamm-linear"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        linear_cpu(&[(s1, l1), (s2, l2)])
    }
    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, g: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = linear_bwd(x, w, g)?;
        Ok((Some(dx), Some(dw)))
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "iamm-linear-bias"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        linear_cpu(&[(s1, l1), (s2, l2), (s3, l3)])
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, g2) = linear_bwd(x, w, g)?;
        Ok((Some(dx), Some(dw), Some(column_sum(&g2)?)))
    }
}

struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "iamm-column-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let n = last_dim(l)?;
            let x = contiguous::<T>(s, l)?;
            let rows = x.len() / n;
            let add = |mut acc: Vec<T>, r: usize| {
                for (a, &v) in acc.iter_mut().zip(&x[r * n..(r + 1) * n]) {
                    *a += v;
                }
                acc
            };
            // Fixed row blocks summed in order: the same grouping whatever rayon's splitting.
            let out = if x.len() >= PAR_MIN_ELEMS {
                const ROWS: usize = 64;
                let parts: Vec<Vec<T>> = (0..rows.div_ceil(ROWS))
                    .into_par_iter()
                    .map(|b| (b * ROWS..((b + 1) * ROWS).min(rows)).fold(vec![T::zero(); n], add))
                    .collect();
                parts.into_iter().fold(vec![T::zero(); n], |a, b| a.into_iter().zip(b).map(|(a, b)| a + b).collect())
            } else {
                (0..rows).fold(vec![T::zero(); n], add)
            };
            Ok((wrap(out), Shape::from(n)))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(s, l))
    }
}

/// Sum over the rows of `[rows, n]` `-> [n]` (candle's strided reduction over dim 0 is slow).
fn column_sum(g: &Tensor) -> Result<Tensor> {
    if fused(g) { g.contiguous()?.apply_op1_no_bwd(&ColumnSum) } else { g.sum(0) }
}

/// `x [..., in] · wᵀ + b` for a torch-layout weight `w [out, in]` `-> [..., out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if fused(x) {
        let x = x.contiguous()?;
        let w = w.contiguous()?;
        match b {
            Some(b) => x.apply_op3(&w, &b.contiguous()?, LinearOp),
            None => x.apply_op2(&w, LinearOp),
        }
    } else {
        let dims = x.dims();
        let inp = *dims.last().expect("rank >= 1");
        let (out, _) = w.dims2()?;
        let y = x.reshape((x.elem_count() / inp, inp))?.matmul(&w.t()?)?;
        let y = match b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut shape = dims.to_vec();
        *shape.last_mut().unwrap() = out;
        y.reshape(shape)
    }
}

// ---------------------------------------------------------------------------------------------
// fused masked attention

/// `c = β·a·b` for small row-major blocks through gemm (single-threaded: the callers
/// parallelise over blocks). `a` is `m×k` with strides `(a_rs, a_cs)`, `b` is `k×n` with
/// `(b_rs, b_cs)`, `c` is `m×n` with row stride `c_rs`.
#[allow(clippy::too_many_arguments)]
fn mm<T: Real>(
    (m, n, k): (usize, usize, usize),
    a: &[T],
    (a_rs, a_cs): (usize, usize),
    b: &[T],
    (b_rs, b_cs): (usize, usize),
    c: &mut [T],
    c_rs: usize,
    beta: T,
) {
    debug_assert!(m == 0 || c.len() >= (m - 1) * c_rs + n);
    // SAFETY: the strides describe matrices inside `a`, `b` and `c` (the callers' shapes);
    // gemm only reads `a`, `b` and writes the `m×n` block of `c`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            false,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            T::zero(),
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn cpu_slice<'a, T: WithDType>(t: &'a candle_core::StorageRef<'a>, l: &Layout) -> Result<&'a [T]> {
    match &**t {
        candle_core::Storage::Cpu(s) => contiguous::<T>(s, l),
        _ => bail!("fused attention: expected a CPU tensor"),
    }
}

/// Shapes of one attention call on merged heads: `q [B, Lq, D]`, `k`, `v` `[B, Lk, D]`,
/// `D = H·dh`, mask `[B, 1, Mq, Lk]` with `Mq ∈ {1, Lq}`.
#[derive(Clone, Copy)]
struct AttDims {
    b: usize,
    h: usize,
    lq: usize,
    lk: usize,
    d: usize,
    dh: usize,
    mq: usize,
}

impl AttDims {
    fn new(heads: usize, q: &Layout, k: &Layout, v: &Layout, m: &Layout) -> Result<Self> {
        let (b, lq, d) = q.shape().dims3()?;
        let (kb, lk, kd) = k.shape().dims3()?;
        let md = m.dims();
        if (kb, kd) != (b, d) || v.dims() != k.dims() || d % heads != 0 {
            bail!("fused attention: q {:?}, k {:?}, v {:?}, {heads} heads", q.dims(), k.dims(), v.dims());
        }
        if md.len() != 4 || md[0] != b || md[1] != 1 || md[3] != lk || (md[2] != 1 && md[2] != lq) {
            bail!("fused attention: mask {md:?} for q {:?} and k {:?}", q.dims(), k.dims());
        }
        Ok(AttDims { b, h: heads, lq, lk, d, dh: d / heads, mq: md[2] })
    }
    fn mask_row<'a>(&self, m: &'a [u8], b: usize, i: usize) -> &'a [u8] {
        let r = b * self.mq + if self.mq == 1 { 0 } else { i };
        &m[r * self.lk..(r + 1) * self.lk]
    }
}

/// Scaled scores and masked softmax of head `h` of batch row `bi` into `p` (`lq × lk`).
#[allow(clippy::too_many_arguments)]
fn att_probs<T: Real>(a: &AttDims, bi: usize, h: usize, q: &[T], k: &[T], m: &[u8], scale: T, p: &mut [T]) {
    let (lq, lk, d, dh) = (a.lq, a.lk, a.d, a.dh);
    mm((lq, lk, dh), &q[h * dh..], (d, 1), &k[h * dh..], (1, d), p, lk, scale);
    for i in 0..lq {
        let mrow = a.mask_row(m, bi, i);
        let row = &mut p[i * lk..(i + 1) * lk];
        let max = row.iter().zip(mrow).filter(|(_, m)| **m == 0).map(|(x, _)| *x).fold(T::neg_infinity(), Float::max);
        if max == T::neg_infinity() {
            // every key masked: torch's softmax over equal -1e18 logits is uniform
            let uval = T::one() / <T as num_traits::NumCast>::from(lk).unwrap();
            row.iter_mut().for_each(|o| *o = uval);
            continue;
        }
        row.iter_mut().for_each(|x| *x -= max);
        T::exp_inplace(row);
        let mut sum = T::zero();
        for (x, &mk) in row.iter_mut().zip(mrow) {
            if mk != 0 {
                *x = T::zero();
            }
            sum += *x;
        }
        let inv = T::one() / sum;
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

struct FusedAttention {
    mask: Tensor,
    heads: usize,
    scale: f64,
}

impl CustomOp3 for FusedAttention {
    fn name(&self) -> &'static str {
        "iamm-attention"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            op: &FusedAttention,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (ms, ml) = op.mask.storage_and_layout();
            let m = cpu_slice::<u8>(&ms, ml)?;
            let a = AttDims::new(op.heads, l1, l2, l3, ml)?;
            let (q, k, v) = (contiguous::<T>(s1, l1)?, contiguous::<T>(s2, l2)?, contiguous::<T>(s3, l3)?);
            let scale = <T as num_traits::NumCast>::from(op.scale).unwrap();
            let (lq, lk, d, dh) = (a.lq, a.lk, a.d, a.dh);
            let mut out = vec![T::zero(); a.b * lq * d];
            let row = |(bi, o): (usize, &mut [T])| {
                let mut p = vec![T::zero(); lq * lk];
                let (qb, kb, vb) = (&q[bi * lq * d..], &k[bi * lk * d..], &v[bi * lk * d..]);
                for h in 0..a.h {
                    att_probs(&a, bi, h, qb, kb, m, scale, &mut p);
                    mm((lq, dh, lk), &p, (lk, 1), &vb[h * dh..], (d, 1), &mut o[h * dh..], d, T::one());
                }
            };
            if a.b * a.h * lq * lk >= PAR_MIN_ELEMS {
                out.par_chunks_mut(lq * d).enumerate().for_each(row);
            } else {
                out.chunks_mut(lq * d).enumerate().for_each(row);
            }
            Ok((wrap(out), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(self, s1, l1, s2, l2, s3, l3))
    }
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = FusedAttentionBwd {
            mask: self.mask.clone(),
            grad: grad.contiguous()?,
            heads: self.heads,
            scale: self.scale,
        };
        let packed = q.apply_op3_no_bwd(k, v, &op)?;
        let (nq, nk) = (q.elem_count(), k.elem_count());
        let gq = packed.narrow(0, 0, nq)?.reshape(q.shape())?;
        let gk = packed.narrow(0, nq, nk)?.reshape(k.shape())?;
        let gv = packed.narrow(0, nq + nk, nk)?.reshape(v.shape())?;
        Ok((Some(gq), Some(gk), Some(gv)))
    }
}

struct FusedAttentionBwd {
    mask: Tensor,
    grad: Tensor,
    heads: usize,
    scale: f64,
}

impl CustomOp3 for FusedAttentionBwd {
    fn name(&self) -> &'static str {
        "iamm-attention-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(
            op: &FusedAttentionBwd,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let (ms, ml) = op.mask.storage_and_layout();
            let m = cpu_slice::<u8>(&ms, ml)?;
            let (gs, gl) = op.grad.storage_and_layout();
            let go = cpu_slice::<T>(&gs, gl)?;
            let a = AttDims::new(op.heads, l1, l2, l3, ml)?;
            let (q, k, v) = (contiguous::<T>(s1, l1)?, contiguous::<T>(s2, l2)?, contiguous::<T>(s3, l3)?);
            let scale = <T as num_traits::NumCast>::from(op.scale).unwrap();
            let (lq, lk, d, dh) = (a.lq, a.lk, a.d, a.dh);
            // [dq | dk | dv], each split by batch row
            let (nq, nk) = (a.b * lq * d, a.b * lk * d);
            let mut out = vec![T::zero(); nq + 2 * nk];
            let (dq, rest) = out.split_at_mut(nq);
            let (dk, dv) = rest.split_at_mut(nk);
            type Grads<'a, T> = ((&'a mut [T], &'a mut [T]), &'a mut [T]);
            let row = |(bi, ((dq, dk), dv)): (usize, Grads<T>)| {
                let (qb, kb, vb, gb) = (&q[bi * lq * d..], &k[bi * lk * d..], &v[bi * lk * d..], &go[bi * lq * d..]);
                let mut p = vec![T::zero(); lq * lk];
                let mut ds = vec![T::zero(); lq * lk];
                for h in 0..a.h {
                    // the scores are recomputed rather than kept from the forward pass
                    att_probs(&a, bi, h, qb, kb, m, scale, &mut p);
                    mm((lq, lk, dh), &gb[h * dh..], (d, 1), &vb[h * dh..], (1, d), &mut ds, lk, T::one()); // dP = dO·vᵀ
                    for i in 0..lq {
                        let mrow = a.mask_row(m, bi, i);
                        let (pr, dr) = (&p[i * lk..(i + 1) * lk], &mut ds[i * lk..(i + 1) * lk]);
                        let dot = pr.iter().zip(dr.iter()).fold(T::zero(), |acc, (&p, &g)| acc + p * g);
                        for j in 0..lk {
                            // masked scores were overwritten (masked_fill): no gradient
                            dr[j] = if mrow[j] == 0 { pr[j] * (dr[j] - dot) } else { T::zero() };
                        }
                    }
                    // S = scale·q·kᵀ
                    mm((lq, dh, lk), &ds, (lk, 1), &kb[h * dh..], (d, 1), &mut dq[h * dh..], d, scale); // dQ
                    mm((lk, dh, lq), &ds, (1, lk), &qb[h * dh..], (d, 1), &mut dk[h * dh..], d, scale); // dK
                    mm((lk, dh, lq), &p, (1, lk), &gb[h * dh..], (d, 1), &mut dv[h * dh..], d, T::one()); // dV
                }
            };
            if a.b * a.h * lq * lk >= PAR_MIN_ELEMS {
                dq.par_chunks_mut(lq * d)
                    .zip(dk.par_chunks_mut(lk * d))
                    .zip(dv.par_chunks_mut(lk * d))
                    .enumerate()
                    .for_each(row);
            } else {
                dq.chunks_mut(lq * d).zip(dk.chunks_mut(lk * d)).zip(dv.chunks_mut(lk * d)).enumerate().for_each(row);
            }
            Ok((wrap(out), Shape::from(nq + 2 * nk)))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(self, s1, l1, s2, l2, s3, l3))
    }
}

/// Multi-head attention core on merged heads: per head `h` (columns `h·dh .. (h+1)·dh`),
/// `softmax(masked_fill(scale·q_h·k_hᵀ, mask, -1e18))·v_h`. `q [B, Lq, H·dh]`, `k`, `v`
/// `[B, Lk, H·dh]`, `mask` (u8, 1 = masked) `[B, 1, 1 | Lq, Lk]` `-> [B, Lq, H·dh]`. Masked
/// scores get no gradient; a fully masked row attends uniformly (as torch). On the CPU the
/// scores are never materialised for autograd (the backward recomputes them).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, heads: usize, scale: f64) -> Result<Tensor> {
    if fused(q) {
        let op = FusedAttention { mask: mask.contiguous()?, heads, scale };
        q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)
    } else {
        let split = |t: &Tensor| -> Result<Tensor> {
            let (b, l, d) = t.dims3()?;
            t.reshape((b, l, heads, d / heads))?.transpose(1, 2)?.contiguous()
        };
        let (q4, k4, v4) = (split(&q.affine(scale, 0.0)?)?, split(k)?, split(v)?);
        let o = masked_softmax(&q4.matmul(&k4.t()?)?, mask)?.matmul(&v4)?; // [B, H, Lq, dh]
        let (b, h, lq, dh) = o.dims4()?;
        o.transpose(1, 2)?.reshape((b, lq, h * dh))
    }
}

// ---------------------------------------------------------------------------------------------
// tanh

struct Tanh;
struct TanhBwd;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "iamm-tanh"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let x = contiguous::<T>(s, l)?;
            let n = last_dim(l)?;
            let two = T::one() + T::one();
            let mut out = vec![T::zero(); x.len()];
            for_rows(&mut out, n, |r, o| {
                // tanh(x) = 1 - 2 / (exp(2x) + 1), stable at both ends (exp → 0 or ∞)
                for (o, &x) in o.iter_mut().zip(&x[r * n..(r + 1) * n]) {
                    *o = Float::min(two * x, <T as num_traits::NumCast>::from(80.0).unwrap());
                }
                T::exp_inplace(o);
                o.iter_mut().for_each(|o| *o = T::one() - two / (*o + T::one()));
            });
            Ok((wrap(out), l.shape().clone()))
        }
        dispatch_f!(s, self.name(), |T| run::<T>(s, l))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &TanhBwd)?))
    }
}

impl CustomOp2 for TanhBwd {
    fn name(&self) -> &'static str {
        "iamm-tanh-bwd"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
            let y = contiguous::<T>(s1, l1)?;
            let g = contiguous::<T>(s2, l2)?;
            Ok((wrap(y.iter().zip(g).map(|(&y, &g)| g * (T::one() - y * y)).collect()), l1.shape().clone()))
        }
        dispatch_f!(s1, self.name(), |T| run::<T>(s1, l1, s2, l2))
    }
}

/// `tanh` (one pass through the vectorised exp on the CPU).
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if fused(x) { x.contiguous()?.apply_op1(Tanh) } else { x.tanh() }
}

// ---------------------------------------------------------------------------------------------
// masking helpers

/// `x.masked_fill(mask, value)`: `mask` (u8, 1 = masked) broadcasts to `x`. Masked entries get
/// no gradient, as in torch.
pub fn masked_fill(x: &Tensor, mask: &Tensor, value: f64) -> Result<Tensor> {
    let shape = x.shape();
    let mask = mask.broadcast_as(shape)?;
    let fill = Tensor::new(value, x.device())?.to_dtype(x.dtype())?.broadcast_as(shape)?;
    mask.where_cond(&fill, x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn num_grad(f: &dyn Fn(&Tensor) -> Result<f64>, x: &Tensor, h: f64) -> Result<Vec<f64>> {
        let v = x.flatten_all()?.to_vec1::<f64>()?;
        let mut g = vec![0.0; v.len()];
        for i in 0..v.len() {
            let mut p = v.clone();
            p[i] += h;
            let fp = f(&Tensor::from_vec(p.clone(), x.shape(), x.device())?)?;
            p[i] -= 2.0 * h;
            let fm = f(&Tensor::from_vec(p, x.shape(), x.device())?)?;
            g[i] = (fp - fm) / (2.0 * h);
        }
        Ok(g)
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "entry {i}: {x} vs {y}");
        }
    }

    #[test]
    fn fused_ops_match_composite_forms_and_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f64, 1.5, (3, 4, 7), &dev)?;
        let w = Tensor::randn(0f64, 1.0, (3, 4, 7), &dev)?;
        let gamma = Tensor::randn(1f64, 0.3, 7, &dev)?;
        let beta = Tensor::randn(0f64, 0.3, 7, &dev)?;

        let sm = softmax_last(&x)?;
        let sm_ref = candle_nn::ops::softmax(&x, D::Minus1)?;
        close(&sm.flatten_all()?.to_vec1()?, &sm_ref.flatten_all()?.to_vec1()?, 1e-12);
        let lse = logsumexp_last(&x)?;
        let lse_ref = x.exp()?.sum_keepdim(D::Minus1)?.log()?;
        close(&lse.flatten_all()?.to_vec1()?, &lse_ref.flatten_all()?.to_vec1()?, 1e-12);
        let ln = ref_layer_norm(&x, &gamma, &beta, 1e-6)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let d = x.broadcast_sub(&mean)?;
        let std = (d.sqr()?.sum_keepdim(D::Minus1)? / 6.0)?.sqrt()?;
        let ln_ref = d.broadcast_div(&(std + 1e-6)?)?.broadcast_mul(&gamma)?.broadcast_add(&beta)?;
        close(&ln.flatten_all()?.to_vec1()?, &ln_ref.flatten_all()?.to_vec1()?, 1e-12);

        // gradients against finite differences
        let objective = |name: &str, t: &Tensor| -> Result<Tensor> {
            match name {
                "softmax" => (softmax_last(t)? * &w)?.sum_all(),
                "lse" => (logsumexp_last(t)? * w.narrow(2, 0, 1)?)?.sum_all(),
                _ => (ref_layer_norm(t, &gamma, &beta, 1e-6)? * &w)?.sum_all(),
            }
        };
        for name in ["softmax", "lse", "ln"] {
            let v = Var::from_tensor(&x)?;
            let out = objective(name, v.as_tensor())?;
            let g = out.backward()?.get(v.as_tensor()).unwrap().flatten_all()?.to_vec1::<f64>()?;
            let n = num_grad(&|t| objective(name, t)?.to_scalar::<f64>(), &x, 1e-6)?;
            close(&g, &n, 1e-6);
        }
        // layer norm: gamma and beta gradients
        let (gv, bv) = (Var::from_tensor(&gamma)?, Var::from_tensor(&beta)?);
        let out = (ref_layer_norm(&x, gv.as_tensor(), bv.as_tensor(), 1e-6)? * &w)?.sum_all()?;
        let grads = out.backward()?;
        let gg = grads.get(gv.as_tensor()).unwrap().to_vec1::<f64>()?;
        let gb = grads.get(bv.as_tensor()).unwrap().to_vec1::<f64>()?;
        let ng =
            num_grad(&|t| (ref_layer_norm(&x, t, &beta, 1e-6)? * &w)?.sum_all()?.to_scalar::<f64>(), &gamma, 1e-6)?;
        let nb =
            num_grad(&|t| (ref_layer_norm(&x, &gamma, t, 1e-6)? * &w)?.sum_all()?.to_scalar::<f64>(), &beta, 1e-6)?;
        close(&gg, &ng, 1e-6);
        close(&gb, &nb, 1e-6);
        Ok(())
    }

    #[test]
    fn topk_is_sorted_descending_and_stable_on_ties() -> Result<()> {
        let x = Tensor::new(&[[1f32, 5., 3., 5., -1e18, 2.], [-1e18, -1e18, 0., -1e18, -1e18, -1e18]], &Device::Cpu)?;
        let i = topk_indices(&x, 4)?.to_vec2::<u32>()?;
        assert_eq!(i, vec![vec![1, 3, 2, 5], vec![2, 0, 1, 3]]);
        Ok(())
    }
}
