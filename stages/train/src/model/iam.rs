//! The Information Association Module (paper §3.4.2; reference `build_relation`, lines
//! 579-653): first- and second-order interaction attention between two sequences X and Y.
//!
//! For each direction and head (heads stay separate, as the reference computes it):
//!
//! 1. **Scores.** `l_xy = q_x·k_y / √d_h` per head (`[B, H, Lx, Ly]`, masked keys `-1e18`) and
//!    `l_yx` the other way, both from the **same** attention weights.
//! 2. **Second order** (which words of X matter): `c_x = mean over the Y rows of l_yx` — how
//!    strongly Y attends to each X word, padded rows included — and the top `k2` X words by
//!    `c_x` (sorted descending).
//! 3. **First order** (what each selected X word is associated with): the top `k1` Y words of
//!    its row of `l_xy` (raw logits, sorted descending), their `d_h` value vectors weighted by
//!    `σ(Linear_{k1×k1}(scores))` and concatenated → `k1·d_h`.
//! 4. The selected rows are weighted by `σ(sent_linear(c_x[selected]))`; the same for Y with
//!    the roles swapped; `[X side; Y side]` (`2·H·k2` rows) goes through `relation_linear`
//!    (`k1·d_h → d`): `2·H·k2` memory slots. A slot's mask is the pad mask of its word.
//!
//! The reference computes step 3 for every X word and then keeps the `k2` selected rows; rows
//! are independent, so selecting first gives the same values with a fraction of the work.
//!
//! **Short sequences** (interpretation; the reference's `topk` raises there): a side shorter
//! than `max(k1, k2)` is padded with *virtual* positions — masked keys (`-1e18`, like PAD),
//! zero value vectors, excluded from the second-order means — so `k` is effectively clamped
//! to the length while the shapes (`Linear(k, k)`, `k1·d_h`, `2·H·k2` slots) stay fixed.
//! Virtual positions rank after every real one (ties go to the lowest index), so a virtual
//! slot is chosen only where the real ones run out; its memory slot is masked.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

use super::config::AssocScore;
use super::layers::{Linear, MultiHeadAttention, split_heads};
use super::ops;

/// One side of a pair, projected by an IAM attention: per-head queries (already scaled),
/// keys and values `[B', H, L, d_h]`, the pad mask `[B', L]` (u8, 1 = PAD: masked as a key),
/// and optionally which positions exist (`[B', L]` float, 0 = virtual; virtual positions
/// must also be masked and have zero values).
#[derive(Debug, Clone)]
pub struct Side {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    pub pad: Tensor,
    pub exists: Option<Tensor>,
}

impl Side {
    /// Appends virtual positions up to `len`.
    pub fn padded_to(&self, len: usize) -> Result<Side> {
        let (b, h, l, dh) = self.q.dims4()?;
        if l >= len {
            return Ok(self.clone());
        }
        let extra = len - l;
        let zeros = Tensor::zeros((b, h, extra, dh), self.q.dtype(), self.q.device())?;
        let cat = |t: &Tensor| Tensor::cat(&[t, &zeros], 2);
        let pad = Tensor::cat(&[&self.pad, &Tensor::ones((b, extra), DType::U8, self.pad.device())?], 1)?;
        let exists = match &self.exists {
            Some(e) => e.clone(),
            None => Tensor::ones((b, l), self.q.dtype(), self.q.device())?,
        };
        let exists = Tensor::cat(&[&exists, &Tensor::zeros((b, extra), self.q.dtype(), self.q.device())?], 1)?;
        Ok(Side { q: cat(&self.q)?, k: cat(&self.k)?, v: cat(&self.v)?, pad, exists: Some(exists) })
    }
}

/// The reference's `make_MHA` used with `topk=True`: only its query/key/value projections
/// take part. Its `output_linear` (`depth × d`) exists in the reference's `state_dict` and
/// parameter count but no forward pass reads it, so it never gets a gradient; it is kept for
/// checkpoint parity and counted (see the parameter table in `iamm.rs`).
#[derive(Debug, Clone)]
pub struct IamAttention {
    pub mha: MultiHeadAttention,
}

impl IamAttention {
    pub fn new(vb: VarBuilder, dim: usize, depth: usize, heads: usize) -> Result<Self> {
        Ok(IamAttention { mha: MultiHeadAttention::new(vb, dim, depth, heads)? })
    }

    /// Projects `x [B', L, d]` (with `pad [B', L]`) into a [`Side`]. One matmul for Q, K, V.
    pub fn project(&self, x: &Tensor, pad: &Tensor) -> Result<Side> {
        let m = &self.mha;
        let depth = m.query.weight.dim(0)?;
        let w = Tensor::cat(&[&m.query.weight, &m.key.weight, &m.value.weight], 0)?;
        let qkv = Linear { weight: w, bias: None }.forward(x)?;
        let q = split_heads(&qkv.narrow(2, 0, depth)?, m.heads)?.affine(m.scale, 0.0)?;
        let k = split_heads(&qkv.narrow(2, depth, depth)?, m.heads)?;
        let v = split_heads(&qkv.narrow(2, 2 * depth, depth)?, m.heads)?;
        Ok(Side { q, k, v, pad: pad.clone(), exists: None })
    }
}

/// The learned parts that turn selections into memory slots, and the selection sizes.
#[derive(Debug, Clone, Copy)]
pub struct IamHead<'a> {
    /// `ctx_linear` / `con_linear`: `Linear(k1, k1)` over the sorted first-order scores.
    pub first: &'a Linear,
    /// `sent_linear`: `Linear(k2, k2)` over the sorted second-order scores.
    pub second: &'a Linear,
    /// `relation_linear` / `con_relation_linear`: `Linear(k1·d_h, d)`.
    pub out: &'a Linear,
    pub k1: usize,
    pub k2: usize,
    pub score: AssocScore,
}

/// What one direction selected (detached, for analysis): `index [B', H, k2]` positions in its
/// side, `weight [B', H, k2]` their `σ(sent_linear)` weights, `first_index [B', H, k2, k1]`
/// the positions in the other side each one is associated with, `first_weight` their
/// `σ(Linear_k1)` weights.
#[derive(Debug, Clone)]
pub struct Selection {
    pub index: Tensor,
    pub weight: Tensor,
    pub first_index: Tensor,
    pub first_weight: Tensor,
}

/// The associated words of one pair (both directions).
#[derive(Debug, Clone)]
pub struct IamTrace {
    /// Words of X selected by how Y attends to them (X → memory slots `0 .. H·k2`).
    pub x: Selection,
    /// Words of Y selected by how X attends to them (slots `H·k2 .. 2·H·k2`).
    pub y: Selection,
}

/// The IAM's output: `slots [B', 2·H·k2, d]`, their pad mask `[B', 2·H·k2]` (u8) and the trace.
#[derive(Debug, Clone)]
pub struct IamOutput {
    pub slots: Tensor,
    pub pad: Tensor,
    pub trace: IamTrace,
}

/// Scores of `a` (queries) against `b` (keys): `[B', H, La, Lb]`.
fn scores(a: &Side, b: &Side, how: AssocScore) -> Result<Tensor> {
    let (bb, h, _, _) = a.q.dims4()?;
    let lb = b.k.dim(2)?;
    let logits = a.q.contiguous()?.matmul(&b.k.contiguous()?.t()?)?;
    let logits = ops::masked_fill(&logits, &b.pad.reshape((bb, 1, 1, lb))?, ops::MASK_VALUE)?;
    match how {
        AssocScore::HeadLogits => Ok(logits),
        AssocScore::SigmoidProduct => {
            // A = Π_h σ(logit_h); masked keys: σ(-1e18) = 0.
            let s = candle_nn::ops::sigmoid(&logits)?;
            let mut prod = s.narrow(1, 0, 1)?;
            for i in 1..h {
                prod = (prod * s.narrow(1, i, 1)?)?;
            }
            prod.broadcast_as(logits.shape())?.contiguous()
        }
    }
}

/// Mean over the rows (queries, dim 2) of `l [B', H, La, Lb]`, over existing rows only.
fn row_mean(l: &Tensor, exists: Option<&Tensor>) -> Result<Tensor> {
    match exists {
        None => l.mean(2),
        Some(e) => {
            let (b, _, la, _) = l.dims4()?;
            let e = e.reshape((b, 1, la, 1))?;
            l.broadcast_mul(&e)?.sum(2)?.broadcast_div(&e.sum(2)?)
        }
    }
}

/// One direction: selects `k2` rows of `l [B', H, La, Lb]` by `c [B', H, La]`, and for each
/// the top `k1` columns; gathers their values from `vb [B', H, Lb, d_h]`.
/// Returns rows `[B', H·k2, k1·d_h]`, their pad mask `[B', H·k2]` and the selection.
fn direction(
    l: &Tensor,
    c: &Tensor,
    vb: &Tensor,
    pad_a: &Tensor,
    exists_a: Option<&Tensor>,
    p: &IamHead,
) -> Result<(Tensor, Tensor, Selection)> {
    let (b, h, la, lb) = l.dims4()?;
    let dh = vb.dim(3)?;
    let (k1, k2) = (p.k1, p.k2);
    // second order: which rows
    let idx2 = ops::topk_indices(c, k2)?; // [B', H, k2]
    let s2 = c.contiguous()?.gather(&idx2, 2)?;
    let rows = l.contiguous()?.gather(&idx2.unsqueeze(3)?.broadcast_as((b, h, k2, lb))?.contiguous()?, 2)?;
    // first order: within each selected row, which columns
    let idx1 = ops::topk_indices(&rows, k1)?; // [B', H, k2, k1]
    let s1 = rows.gather(&idx1, 3)?;
    let w1 = candle_nn::ops::sigmoid(&p.first.forward(&s1)?)?;
    let gi = idx1.reshape((b, h, k2 * k1, 1))?.broadcast_as((b, h, k2 * k1, dh))?.contiguous()?;
    let vals = vb.contiguous()?.gather(&gi, 2)?.reshape((b, h, k2, k1, dh))?;
    let weighted = vals.broadcast_mul(&w1.unsqueeze(4)?)?.reshape((b, h, k2, k1 * dh))?;
    let mut w2 = candle_nn::ops::sigmoid(&p.second.forward(&s2)?)?; // [B', H, k2]
    if let Some(e) = exists_a {
        // virtual rows carry nothing
        let e = e.unsqueeze(1)?.broadcast_as((b, h, la))?.contiguous()?.gather(&idx2, 2)?;
        w2 = (w2 * e)?;
    }
    let out = weighted.broadcast_mul(&w2.unsqueeze(3)?)?.reshape((b, h * k2, k1 * dh))?;
    let pad = pad_a.unsqueeze(1)?.broadcast_as((b, h, la))?.contiguous()?.gather(&idx2, 2)?.reshape((b, h * k2))?;
    let sel = Selection { index: idx2, weight: w2.detach(), first_index: idx1, first_weight: w1.detach() };
    Ok((out, pad, sel))
}

/// Associates X with Y: `2·H·k2` memory slots (X side first, then Y side).
pub fn associate(x: &Side, y: &Side, p: &IamHead) -> Result<IamOutput> {
    let need = p.k1.max(p.k2);
    let x = x.padded_to(need)?;
    let y = y.padded_to(need)?;
    let lxy = scores(&x, &y, p.score)?; // [B', H, Lx, Ly]
    let lyx = scores(&y, &x, p.score)?; // [B', H, Ly, Lx]
    let c_y = row_mean(&lxy, x.exists.as_ref())?; // how X attends to each Y word
    let c_x = row_mean(&lyx, y.exists.as_ref())?; // how Y attends to each X word
    let (rx, px, sx) = direction(&lxy, &c_x, &y.v, &x.pad, x.exists.as_ref(), p)?;
    let (ry, py, sy) = direction(&lyx, &c_y, &x.v, &y.pad, y.exists.as_ref(), p)?;
    let slots = p.out.forward(&Tensor::cat(&[rx, ry], 1)?)?;
    let pad = Tensor::cat(&[px, py], 1)?;
    Ok(IamOutput { slots, pad, trace: IamTrace { x: sx, y: sy } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use candle_nn::VarMap;

    struct Fixture {
        varmap: VarMap,
        att: IamAttention,
        first: Linear,
        second: Linear,
        out: Linear,
    }

    const D: usize = 6;
    const DEPTH: usize = 4;
    const H: usize = 2;
    const K1: usize = 3;
    const K2: usize = 2;

    fn fixture(dtype: DType) -> Result<Fixture> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu);
        Ok(Fixture {
            att: IamAttention::new(vb.pp("mha"), D, DEPTH, H)?,
            first: Linear::new(vb.pp("first"), K1, K1, true)?,
            second: Linear::new(vb.pp("second"), K2, K2, true)?,
            out: Linear::new(vb.pp("out"), K1 * DEPTH / H, D, true)?,
            varmap,
        })
    }

    fn run(f: &Fixture, x: &Tensor, xp: &Tensor, y: &Tensor, yp: &Tensor, how: AssocScore) -> Result<IamOutput> {
        let p = IamHead { first: &f.first, second: &f.second, out: &f.out, k1: K1, k2: K2, score: how };
        associate(&f.att.project(x, xp)?, &f.att.project(y, yp)?, &p)
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn shapes_masks_and_selection_order() -> Result<()> {
        let f = fixture(DType::F32)?;
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 5, D), &dev)?;
        let y = Tensor::randn(0f32, 1.0, (3, 4, D), &dev)?;
        let xp = Tensor::new(&[[0u8, 0, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 1, 1, 1]], &dev)?;
        let yp = Tensor::new(&[[0u8, 0, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]], &dev)?;
        for how in [AssocScore::HeadLogits, AssocScore::SigmoidProduct] {
            let o = run(&f, &x, &xp, &y, &yp, how)?;
            assert_eq!(o.slots.dims(), &[3, 2 * H * K2, D]);
            assert_eq!(o.pad.dims(), &[3, 2 * H * K2]);
            assert_eq!(o.trace.x.first_index.dims(), &[3, H, K2, K1]);
            let pad = o.pad.to_vec2::<u8>()?;
            let xi = o.trace.x.index.to_vec3::<u32>()?;
            let yi = o.trace.y.index.to_vec3::<u32>()?;
            let yfirst = o.trace.x.first_index.to_vec3::<u32>().ok();
            let _ = yfirst;
            for b in 0..3 {
                for h in 0..H {
                    for s in 0..K2 {
                        // slot masks are the pad masks of the selected words
                        let xpad = xp.get(b)?.to_vec1::<u8>()?[xi[b][h][s] as usize];
                        let ypad = yp.get(b)?.to_vec1::<u8>()?[yi[b][h][s] as usize];
                        assert_eq!(pad[b][h * K2 + s], xpad);
                        assert_eq!(pad[b][H * K2 + h * K2 + s], ypad);
                    }
                }
            }
            // X of example 1 has 3 real words: the two selected per head are real
            for h in 0..H {
                assert!(xi[1][h].iter().all(|&i| i < 3), "{how:?}: {:?}", xi[1][h]);
            }
            // Y of example 1 has 2 real words: every selected X word's first-order top-3 holds
            // both real ones first, then the lowest masked index (2)
            let fi = o.trace.x.first_index.get(1)?.flatten_all()?.to_vec1::<u32>()?;
            for c in fi.chunks(K1) {
                let mut head = c[..2].to_vec();
                head.sort();
                assert_eq!(head, vec![0, 1]);
                assert_eq!(c[2], 2);
            }
            // example 2: X is all padding: its X-side slots are all masked, the Y side is live
            assert!(pad[2][..H * K2].iter().all(|&m| m == 1));
            assert!(pad[2][H * K2..].iter().all(|&m| m == 0));
        }
        Ok(())
    }

    #[test]
    fn short_sides_are_padded_with_virtual_positions() -> Result<()> {
        // Y has 2 positions < k1 = 3: the third first-order pick is virtual (index 2, zero
        // value), every slot still has the fixed size, and nothing is NaN.
        let f = fixture(DType::F32)?;
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 4, D), &dev)?;
        let y = Tensor::randn(0f32, 1.0, (2, 2, D), &dev)?;
        let xp = Tensor::zeros((2, 4), DType::U8, &dev)?;
        let yp = Tensor::zeros((2, 2), DType::U8, &dev)?;
        let o = run(&f, &x, &xp, &y, &yp, AssocScore::HeadLogits)?;
        assert_eq!(o.slots.dims(), &[2, 2 * H * K2, D]);
        let fi = o.trace.x.first_index.flatten_all()?.to_vec1::<u32>()?;
        for c in fi.chunks(K1) {
            assert_eq!(c[2], 2);
        }
        // Y side: only the 2 real Y words can be chosen, so both real, none virtual
        let yi = o.trace.y.index.flatten_all()?.to_vec1::<u32>()?;
        assert!(yi.iter().all(|&i| i < 2));
        assert_eq!(o.pad.sum_all()?.to_scalar::<u8>()?, 0);
        assert!(o.slots.sum_all()?.to_scalar::<f32>()?.is_finite());
        Ok(())
    }

    #[test]
    fn finite_difference_gradients_f64() -> Result<()> {
        let f = fixture(DType::F64)?;
        let dev = Device::Cpu;
        let x = Tensor::randn(0f64, 1.0, (2, 5, D), &dev)?;
        let y = Tensor::randn(0f64, 1.0, (2, 4, D), &dev)?;
        let xp = Tensor::new(&[[0u8, 0, 0, 0, 1], [0, 0, 0, 0, 0]], &dev)?;
        let yp = Tensor::zeros((2, 4), DType::U8, &dev)?;
        let r = Tensor::randn(0f64, 1.0, (2, 2 * H * K2, D), &dev)?;
        for how in [AssocScore::HeadLogits, AssocScore::SigmoidProduct] {
            let loss =
                |x: &Tensor, y: &Tensor| -> Result<Tensor> { (run(&f, x, &xp, y, &yp, how)?.slots * &r)?.sum_all() };
            let xv = Var::from_tensor(&x)?;
            let yv = Var::from_tensor(&y)?;
            let grads = loss(xv.as_tensor(), yv.as_tensor())?.backward()?;
            let h = 1e-6;
            // every parameter, every input
            let mut checked = 0;
            let vars = f.varmap.data().lock().unwrap().clone();
            let mut names: Vec<_> = vars.keys().cloned().collect();
            names.sort();
            for name in names {
                if name.contains("output_linear") {
                    // unused in the IAM (torch's topk mode skips it): no gradient at all
                    assert!(grads.get(vars[&name].as_tensor()).is_none(), "{name}");
                    continue;
                }
                let var = &vars[&name];
                let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no grad for {name}"));
                let g = g.flatten_all()?.to_vec1::<f64>()?;
                let orig = var.as_tensor().copy()?;
                let v0 = orig.flatten_all()?.to_vec1::<f64>()?;
                for i in 0..v0.len() {
                    let mut p = v0.clone();
                    p[i] += h;
                    var.set(&Tensor::from_vec(p.clone(), orig.shape(), &dev)?)?;
                    let fp = loss(&x, &y)?.to_scalar::<f64>()?;
                    p[i] -= 2.0 * h;
                    var.set(&Tensor::from_vec(p, orig.shape(), &dev)?)?;
                    let fm = loss(&x, &y)?.to_scalar::<f64>()?;
                    var.set(&orig)?;
                    let n = (fp - fm) / (2.0 * h);
                    assert!(
                        (n - g[i]).abs() <= 1e-5 * (1.0 + n.abs()),
                        "{how:?} {name}[{i}]: autograd {} vs numeric {n}",
                        g[i]
                    );
                    checked += 1;
                }
            }
            for (t, v, name) in [(&x, &xv, "x"), (&y, &yv, "y")] {
                let g = grads.get(v.as_tensor()).unwrap().flatten_all()?.to_vec1::<f64>()?;
                let v0 = t.flatten_all()?.to_vec1::<f64>()?;
                for i in 0..v0.len() {
                    let mut p = v0.clone();
                    p[i] += h;
                    let tp = Tensor::from_vec(p.clone(), t.shape(), &dev)?;
                    p[i] -= 2.0 * h;
                    let tm = Tensor::from_vec(p, t.shape(), &dev)?;
                    let (fp, fm) = if name == "x" {
                        (loss(&tp, &y)?.to_scalar::<f64>()?, loss(&tm, &y)?.to_scalar::<f64>()?)
                    } else {
                        (loss(&x, &tp)?.to_scalar::<f64>()?, loss(&x, &tm)?.to_scalar::<f64>()?)
                    };
                    let n = (fp - fm) / (2.0 * h);
                    assert!(
                        (n - g[i]).abs() <= 1e-5 * (1.0 + n.abs()),
                        "{how:?} {name}[{i}]: autograd {} vs numeric {n}",
                        g[i]
                    );
                    checked += 1;
                }
            }
            assert!(checked > 150);
        }
        Ok(())
    }
}
