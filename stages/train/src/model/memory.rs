//! The iterative association memory (paper §3.4.1; reference `forward`, lines 685-749).
//!
//! For utterance slots `i = 0 .. N-1` — **padded slots included**, as the reference loops over
//! the batch's `N` — with `U_i` the unit (utterance embeddings, or its 5 COMET vectors) and
//! `A` the anchor (situation embeddings, or the situation's COMET vectors):
//!
//! | step | pair | attention |
//! |---|---|---|
//! | all i | `sc_i = IAM(U_i, A)` | `sc` |
//! | i > 0 | `rc_i = IAM(U_i, memory_{i-1})` | `rc` |
//! | i > 0 | `pc_i = IAM(U_i, U_0 ⊕ … ⊕ U_{i-1})` | `sc` (the reference reuses it) |
//!
//! `memory_0 = sc_0`, `memory_i = memory_{i-1} ⊕ sc_i ⊕ rc_i ⊕ pc_i`: `S + 3S(N-1)` slots with
//! `S = 2·H·k2` (20 + 60(N-1) at the reference sizes).
//!
//! Only `rc` depends on the memory, so `sc` runs for all `i` in one batched IAM call and `pc`
//! for all `i > 0` in another: the history of `i` is every unit with the positions from
//! `U_i` on made *virtual* (masked, zero values, out of the means; see `iam.rs`), which
//! selects exactly what the sequential loop selects. Q/K/V of every unit and memory piece are
//! computed once. `rc` stays a loop of `N-1` small calls.

use candle_core::{DType, Result, Tensor};

use super::iam::{self, IamAttention, IamHead, IamTrace, Side};

/// The memory of one kind (explicit or implicit): `slots [B, R, d]`, `pad [B, R]` (u8).
#[derive(Debug, Clone)]
pub struct Memory {
    pub slots: Tensor,
    pub pad: Tensor,
    pub trace: MemoryTrace,
}

/// The associated words of every pair (detached tensors, cheap to keep). Shapes use
/// `B` = batch, `H` heads, `k2`/`k1` the selection sizes of [`iam::Selection`].
#[derive(Debug, Clone)]
pub struct MemoryTrace {
    /// Unit ↔ anchor for every slot `i`: selections `[B·N, H, k2]` (row `b·N + i`).
    pub sc: IamTrace,
    /// Unit ↔ history for `i ≥ 1`: `[B·(N-1), H, k2]` (row `b·(N-1) + i - 1`). History
    /// positions index the units flattened: `j·Lu + t` is position `t` of unit `j`.
    pub pc: Option<IamTrace>,
    /// Unit ↔ memory for `i = 1 .. N-1`, one `[B, H, k2]` trace each; memory positions are
    /// slot indices of the memory built so far.
    pub rc: Vec<IamTrace>,
    /// Slots per pair (`2·H·k2`).
    pub slots_per_pair: usize,
}

/// The attentions and heads of one memory kind.
pub struct MemoryBuilder<'a> {
    pub sc: &'a IamAttention,
    pub rc: &'a IamAttention,
    pub head: IamHead<'a>,
}

/// Rows `[B, n, ...]` → `[B·n, ...]`.
fn merge01(t: &Tensor) -> Result<Tensor> {
    let mut d = t.dims().to_vec();
    let n = d.remove(1);
    d[0] *= n;
    t.reshape(d)
}

/// `[B, ...]` → `[B·n, ...]` repeating each row `n` times.
fn repeat_rows(t: &Tensor, n: usize) -> Result<Tensor> {
    let mut d = t.dims().to_vec();
    d.insert(1, n);
    merge01(&t.unsqueeze(1)?.broadcast_as(d)?.contiguous()?)
}

impl MemoryBuilder<'_> {
    /// `units [B, N, Lu, d]` with `units_pad [B, N, Lu]`; `anchor [B, La, d]` with
    /// `anchor_pad [B, La]`.
    pub fn build(&self, units: &Tensor, units_pad: &Tensor, anchor: &Tensor, anchor_pad: &Tensor) -> Result<Memory> {
        let (b, n, lu, dim) = units.dims4()?;
        let flat_units = units.reshape((b * n, lu, dim))?;
        let flat_pad = units_pad.reshape((b * n, lu))?;
        let u_sc = self.sc.project(&flat_units, &flat_pad)?; // [B·N, H, Lu, dh]
        let a_sc = self.sc.project(anchor, anchor_pad)?; // [B, H, La, dh]
        let (_, h, _, dh) = u_sc.q.dims4()?;

        // sc: every unit against the anchor, one call.
        let a_rep = Side {
            q: repeat_rows(&a_sc.q, n)?,
            k: repeat_rows(&a_sc.k, n)?,
            v: repeat_rows(&a_sc.v, n)?,
            pad: repeat_rows(anchor_pad, n)?,
            exists: None,
        };
        let sc = iam::associate(&u_sc, &a_rep, &self.head)?;
        let s = sc.slots.dim(1)?;
        let sc_slots = sc.slots.reshape((b, n, s, dim))?;
        let sc_pad = sc.pad.reshape((b, n, s))?;

        if n == 1 {
            let trace = MemoryTrace { sc: sc.trace, pc: None, rc: vec![], slots_per_pair: s };
            return Ok(Memory { slots: sc_slots.squeeze(1)?, pad: sc_pad.squeeze(1)?, trace });
        }

        // pc: unit i against units 0 .. i-1, for all i ≥ 1 in one call.
        let m = n - 1;
        let hist_len = m * lu;
        let u5 = |t: &Tensor| t.reshape((b, n, h, lu, dh));
        let x_rows = |t: &Tensor| -> Result<Tensor> { merge01(&u5(t)?.narrow(1, 1, m)?.contiguous()?) };
        let hist = |t: &Tensor| -> Result<Tensor> {
            repeat_rows(&u5(t)?.narrow(1, 0, m)?.permute((0, 2, 1, 3, 4))?.reshape((b, h, hist_len, dh))?, m)
        };
        let dtype = units.dtype();
        let dev = units.device();
        // exists[i-1, p] = p < i·Lu
        let ex: Vec<f32> =
            (1..n).flat_map(|i| (0..hist_len).map(move |p| if p < i * lu { 1.0 } else { 0.0 })).collect();
        let exists = Tensor::from_vec(ex, (m, hist_len), dev)?.to_dtype(dtype)?;
        let exists = exists.unsqueeze(0)?.broadcast_as((b, m, hist_len))?.reshape((b * m, hist_len))?;
        let hist_pad = repeat_rows(&units_pad.narrow(1, 0, m)?.reshape((b, hist_len))?, m)?;
        let exists_u8 = exists.to_dtype(DType::U8)?;
        let virt = exists_u8.ones_like()?.sub(&exists_u8)?;
        let x_side = Side {
            q: x_rows(&u_sc.q)?,
            k: x_rows(&u_sc.k)?,
            v: x_rows(&u_sc.v)?,
            pad: merge01(&units_pad.narrow(1, 1, m)?.contiguous()?)?,
            exists: None,
        };
        let e4 = exists.reshape((b * m, 1, hist_len, 1))?;
        let h_side = Side {
            q: hist(&u_sc.q)?,
            k: hist(&u_sc.k)?,
            v: hist(&u_sc.v)?.broadcast_mul(&e4)?,
            pad: hist_pad.maximum(&virt)?,
            exists: Some(exists),
        };
        let pc = iam::associate(&x_side, &h_side, &self.head)?;
        let pc_slots = pc.slots.reshape((b, m, s, dim))?;
        let pc_pad = pc.pad.reshape((b, m, s))?;

        // rc: unit i against the memory so far, sequentially.
        let u_rc = self.rc.project(&flat_units, &flat_pad)?;
        let unit_i = |t: &Tensor, i: usize| -> Result<Tensor> { u5(t)?.narrow(1, i, 1)?.squeeze(1)?.contiguous() };
        // rc projections of every sc and pc piece, once
        let sc_rc = self.rc.project(&sc.slots, &sc.pad)?; // [B·N, H, S, dh]
        let pc_rc = self.rc.project(&pc.slots, &pc.pad)?; // [B·(N-1), H, S, dh]
        let piece = |side: &Side, rows: usize, i: usize| -> Result<(Tensor, Tensor, Tensor)> {
            let g = |t: &Tensor| -> Result<Tensor> { t.reshape((b, rows, h, s, dh))?.narrow(1, i, 1)?.squeeze(1) };
            Ok((g(&side.k)?, g(&side.v)?, g(&side.q)?))
        };
        let pad_piece = |pad: &Tensor, rows: usize, i: usize| -> Result<Tensor> {
            pad.reshape((b, rows, s))?.narrow(1, i, 1)?.squeeze(1)
        };

        // memory as built so far: its slots, pad, and rc-projected q/k/v
        let (k0, v0, q0) = piece(&sc_rc, n, 0)?;
        let mut mem_slots = vec![sc_slots.narrow(1, 0, 1)?.squeeze(1)?];
        let mut mem_pad = vec![pad_piece(&sc.pad, n, 0)?];
        let mut mem_q = vec![q0];
        let mut mem_k = vec![k0];
        let mut mem_v = vec![v0];
        let mut rc_traces = Vec::with_capacity(m);
        for i in 1..n {
            let x = Side {
                q: unit_i(&u_rc.q, i)?,
                k: unit_i(&u_rc.k, i)?,
                v: unit_i(&u_rc.v, i)?,
                pad: units_pad.narrow(1, i, 1)?.squeeze(1)?,
                exists: None,
            };
            let y = Side {
                q: Tensor::cat(&mem_q, 2)?,
                k: Tensor::cat(&mem_k, 2)?,
                v: Tensor::cat(&mem_v, 2)?,
                pad: Tensor::cat(&mem_pad, 1)?,
                exists: None,
            };
            let rc = iam::associate(&x, &y, &self.head)?;
            let rc_p = self.rc.project(&rc.slots, &rc.pad)?;
            let (sk, sv, sq) = piece(&sc_rc, n, i)?;
            let (pk, pv, pq) = piece(&pc_rc, m, i - 1)?;
            mem_q.extend([sq, rc_p.q, pq]);
            mem_k.extend([sk, rc_p.k, pk]);
            mem_v.extend([sv, rc_p.v, pv]);
            mem_slots.extend([
                sc_slots.narrow(1, i, 1)?.squeeze(1)?,
                rc.slots,
                pc_slots.narrow(1, i - 1, 1)?.squeeze(1)?,
            ]);
            mem_pad.extend([pad_piece(&sc.pad, n, i)?, rc.pad, pc_pad.narrow(1, i - 1, 1)?.squeeze(1)?]);
            rc_traces.push(rc.trace);
        }
        let slots = Tensor::cat(&mem_slots, 1)?;
        let pad = Tensor::cat(&mem_pad, 1)?;
        Ok(Memory {
            slots,
            pad,
            trace: MemoryTrace { sc: sc.trace, pc: Some(pc.trace), rc: rc_traces, slots_per_pair: s },
        })
    }

    /// The reference's loop, one pair at a time (no batching); the batched [`build`] must give
    /// the same memory. Test-only.
    ///
    /// [`build`]: MemoryBuilder::build
    #[cfg(test)]
    pub(crate) fn build_sequential(
        &self,
        units: &Tensor,
        units_pad: &Tensor,
        anchor: &Tensor,
        anchor_pad: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let n = units.dim(1)?;
        let a_sc = self.sc.project(anchor, anchor_pad)?;
        let mut mem: Option<(Tensor, Tensor)> = None;
        let mut hist: Option<(Tensor, Tensor)> = None;
        for i in 0..n {
            let u = units.narrow(1, i, 1)?.squeeze(1)?;
            let up = units_pad.narrow(1, i, 1)?.squeeze(1)?;
            let sc = iam::associate(&self.sc.project(&u, &up)?, &a_sc, &self.head)?;
            match (&mem, &hist) {
                (Some((ms, mp)), Some((hs, hp))) => {
                    let rc = iam::associate(&self.rc.project(&u, &up)?, &self.rc.project(ms, mp)?, &self.head)?;
                    let pc = iam::associate(&self.sc.project(&u, &up)?, &self.sc.project(hs, hp)?, &self.head)?;
                    let new_mem = (
                        Tensor::cat(&[ms, &sc.slots, &rc.slots, &pc.slots], 1)?,
                        Tensor::cat(&[mp, &sc.pad, &rc.pad, &pc.pad], 1)?,
                    );
                    hist = Some((Tensor::cat(&[hs, &u], 1)?, Tensor::cat(&[hp, &up], 1)?));
                    mem = Some(new_mem);
                }
                _ => {
                    mem = Some((sc.slots, sc.pad));
                    hist = Some((u, up));
                }
            }
        }
        Ok(mem.expect("n >= 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::AssocScore;
    use crate::model::layers::Linear;
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};

    fn check(n: usize, lu: usize, la: usize, k1: usize, k2: usize, how: AssocScore) -> Result<()> {
        let (d, depth, heads, b) = (8, 4, 2, 3);
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F64, &Device::Cpu);
        let sc = IamAttention::new(vb.pp("sc"), d, depth, heads)?;
        let rc = IamAttention::new(vb.pp("rc"), d, depth, heads)?;
        let first = Linear::new(vb.pp("first"), k1, k1, true)?;
        let second = Linear::new(vb.pp("second"), k2, k2, true)?;
        let out = Linear::new(vb.pp("out"), k1 * depth / heads, d, true)?;
        let builder = MemoryBuilder {
            sc: &sc,
            rc: &rc,
            head: IamHead { first: &first, second: &second, out: &out, k1, k2, score: how },
        };
        let dev = Device::Cpu;
        let units = Tensor::randn(0f64, 1.0, (b, n, lu, d), &dev)?;
        let anchor = Tensor::randn(0f64, 1.0, (b, la, d), &dev)?;
        // example 0: all real; 1: short utterances, last slot padded; 2: one utterance only
        let mut up = vec![0u8; b * n * lu];
        for i in 0..n {
            for t in 0..lu {
                let short = t > lu / 2;
                up[(n + i) * lu + t] = u8::from(short || i == n - 1 && n > 1);
                up[(2 * n + i) * lu + t] = u8::from(i > 0 || t >= 2);
            }
        }
        let units_pad = Tensor::from_vec(up, (b, n, lu), &dev)?;
        let mut ap = vec![0u8; b * la];
        ap[la + la - 1] = 1;
        let anchor_pad = Tensor::from_vec(ap, (b, la), &dev)?;
        let mem = builder.build(&units, &units_pad, &anchor, &anchor_pad)?;
        let (seq, seq_pad) = builder.build_sequential(&units, &units_pad, &anchor, &anchor_pad)?;
        let s = 2 * heads * k2;
        assert_eq!(mem.slots.dims(), &[b, s + 3 * s * (n - 1), d]);
        assert_eq!(mem.pad.to_vec2::<u8>()?, seq_pad.to_vec2::<u8>()?);
        let diff = (mem.slots - seq)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-9, "batched and sequential memories differ by {diff}");
        Ok(())
    }

    #[test]
    fn batched_memory_equals_the_reference_loop() -> Result<()> {
        for how in [AssocScore::HeadLogits, AssocScore::SigmoidProduct] {
            check(4, 6, 5, 3, 2, how)?;
            check(1, 6, 5, 3, 2, how)?;
            // k1 longer than an utterance: history of unit 1 is shorter than k1
            check(3, 2, 4, 5, 2, how)?;
            // the COMET shape: 5-slot units, k1 = 5
            check(3, 5, 5, 5, 5, how)?;
        }
        Ok(())
    }
}
