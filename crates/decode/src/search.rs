//! The decoding loops over [`Iamm::decode_step`]: greedy, beam search, sampling. All work on
//! batch rows (the caller reorders into example order).

use std::cmp::Ordering;

use candle_core::{D, DType, Result, Tensor};
use iamm_core::special::{EOS, SOS};

use iamm_train::model::{Encoded, Iamm};
use iamm_train::training::Rng;

/// One sequence per row, rows dropped from the decoding state as they emit EOS. `choose`
/// gets `log P [R, V]` of the active rows and their batch rows, and returns the next token of
/// each.
fn single_rows(
    model: &Iamm,
    enc: &Encoded,
    steps: usize,
    mut choose: impl FnMut(&Tensor, &[usize]) -> Result<Vec<u32>>,
) -> Result<Vec<Vec<u32>>> {
    let b = enc.ctx.dim(0)?;
    let dev = enc.ctx.device().clone();
    let mut out: Vec<Vec<u32>> = vec![vec![]; b];
    if steps == 0 {
        return Ok(out);
    }
    let mut state = model.start_decoding(enc)?;
    let mut active: Vec<usize> = (0..b).collect();
    let mut feed = vec![SOS; b];
    for step in 0..steps {
        let lp = model.decode_step(&mut state, &Tensor::new(feed.as_slice(), &dev)?)?;
        let next = choose(&lp, &active)?;
        let mut keep = vec![];
        feed.clear();
        for (i, (&row, &id)) in active.iter().zip(&next).enumerate() {
            if id != EOS {
                out[row].push(id);
                keep.push(i as u32);
                feed.push(id);
            }
        }
        if keep.is_empty() || step + 1 == steps {
            break;
        }
        if keep.len() < active.len() {
            state = state.select(&keep)?;
            active = keep.iter().map(|&i| active[i as usize]).collect();
        }
    }
    Ok(out)
}

/// Greedy decoding, rows in batch order: `steps` steps at most, cut at the first EOS.
pub(crate) fn greedy_rows(model: &Iamm, enc: &Encoded, steps: usize) -> Result<Vec<Vec<u32>>> {
    single_rows(model, enc, steps, |lp, _| lp.argmax(D::Minus1)?.to_vec1::<u32>())
}

/// Sampling parameters (see [`super::Strategy::Sample`]).
pub(crate) struct Sampler {
    pub top_k: usize,
    pub top_p: f32,
    pub temperature: f32,
}

/// `a` ranks before `b`: higher value first, then lower index (candle's `argmax` keeps the
/// first maximum). NaN ranks last.
fn rank(a: (f64, usize), b: (f64, usize)) -> Ordering {
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    key(b.0).partial_cmp(&key(a.0)).expect("no NaN").then(a.1.cmp(&b.1))
}

/// The indices of the `k` best of `vals` (by [`rank`]), best first.
fn top_indices(vals: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..vals.len()).collect();
    let by = |a: &usize, b: &usize| rank((f64::from(vals[*a]), *a), (f64::from(vals[*b]), *b));
    if k < idx.len() && k > 0 {
        idx.select_nth_unstable_by(k - 1, by);
        idx.truncate(k);
    }
    idx.sort_unstable_by(by);
    idx
}

impl Sampler {
    /// Draws the next token from one row of `log P`.
    fn pick(&self, lp: &[f32], rng: &mut Rng) -> u32 {
        let v = lp.len();
        // Candidates, best first when they were ranked.
        let mut cand: Vec<usize> = if self.top_k > 0 && self.top_k < v || self.top_p < 1.0 {
            top_indices(lp, if self.top_k > 0 { self.top_k.min(v) } else { v })
        } else {
            (0..v).collect()
        };
        if cand.len() == 1 {
            return cand[0] as u32;
        }
        let max = cand.iter().map(|&i| f64::from(lp[i])).fold(f64::NEG_INFINITY, f64::max);
        if max == f64::NEG_INFINITY || max.is_nan() {
            return cand[0] as u32; // nothing has probability: the first candidate
        }
        let t = f64::from(self.temperature);
        let mut w: Vec<f64> = cand.iter().map(|&i| ((f64::from(lp[i]) - max) / t).exp()).collect();
        if self.top_p < 1.0 {
            // `cand` is sorted best first here: keep the shortest prefix reaching top_p.
            let total: f64 = w.iter().sum();
            let (mut acc, mut keep) = (0.0, w.len());
            for (i, x) in w.iter().enumerate() {
                acc += x / total;
                if acc >= f64::from(self.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            cand.truncate(keep);
            w.truncate(keep);
        }
        let total: f64 = w.iter().sum();
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let mut acc = 0.0;
        for (&i, &x) in cand.iter().zip(&w) {
            acc += x;
            if u < acc {
                return i as u32;
            }
        }
        // rounding left `u` at the very top: the last candidate with weight
        cand[w.iter().rposition(|&x| x > 0.0).unwrap_or(0)] as u32
    }
}

/// The random stream of the example at `index` of the collated examples.
fn example_rng(seed: u64, index: usize) -> Rng {
    Rng::seed_from(seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Sampling, rows in batch order; `order[r]` is the example index of row `r` (its stream).
pub(crate) fn sample_rows(
    model: &Iamm,
    enc: &Encoded,
    steps: usize,
    sampler: &Sampler,
    seed: u64,
    order: &[usize],
) -> Result<Vec<Vec<u32>>> {
    let mut rngs: Vec<Rng> = order.iter().map(|&ex| example_rng(seed, ex)).collect();
    if sampler.top_k == 1 {
        // the best token only: greedy (no draw, the streams do not move)
        return greedy_rows(model, enc, steps);
    }
    single_rows(model, enc, steps, |lp, active| {
        let lp = lp.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        Ok(active.iter().zip(&lp).map(|(&row, l)| sampler.pick(l, &mut rngs[row])).collect())
    })
}

#[derive(Debug, Clone)]
struct Hyp {
    tokens: Vec<u32>,
    score: f64,
}

/// Beam search (see [`super::Strategy::Beam`]), rows in batch order.
pub(crate) fn beam_rows(
    model: &Iamm,
    enc: &Encoded,
    steps: usize,
    size: usize,
    length_penalty: f32,
) -> Result<Vec<Vec<u32>>> {
    let b = enc.ctx.dim(0)?;
    let dev = enc.ctx.device().clone();
    let norm = |score: f64, len: usize| score / (len.max(1) as f64).powf(f64::from(length_penalty));
    // per example: (normalised score, tokens) of its finished hypotheses
    let mut finished: Vec<Vec<(f64, Vec<u32>)>> = vec![vec![]; b];
    let mut live: Vec<Vec<Hyp>> = (0..b).map(|_| vec![Hyp { tokens: vec![], score: 0.0 }]).collect();
    let mut active: Vec<usize> = (0..b).collect();
    if steps > 0 {
        let mut state = model.start_decoding(enc)?;
        let mut feed = vec![SOS; b];
        for step in 0..steps {
            let lp = model.decode_step(&mut state, &Tensor::new(feed.as_slice(), &dev)?)?;
            let lp = lp.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            let (mut select, mut next_active) = (vec![], vec![]);
            feed.clear();
            let mut row = 0;
            for &e in &active {
                let hyps = std::mem::take(&mut live[e]);
                // the 2·size best continuations over all live hypotheses (each row's best
                // 2·size contain them)
                let mut cands: Vec<(f64, usize, usize, u32)> = vec![]; // score, flat, hyp, token
                for (j, h) in hyps.iter().enumerate() {
                    let l = &lp[row + j];
                    for t in top_indices(l, 2 * size) {
                        let s = h.score + f64::from(l[t]);
                        if s > f64::NEG_INFINITY {
                            cands.push((s, j * l.len() + t, j, t as u32));
                        }
                    }
                }
                cands.sort_unstable_by(|a, b| rank((a.0, a.1), (b.0, b.1)));
                cands.truncate(2 * size);
                let mut next = vec![];
                for (r, &(s, _, j, t)) in cands.iter().enumerate() {
                    if t == EOS {
                        if r < size {
                            finished[e].push((norm(s, step + 1), hyps[j].tokens.clone()));
                        }
                    } else if next.len() < size {
                        let mut tokens = hyps[j].tokens.clone();
                        tokens.push(t);
                        next.push((row + j, Hyp { tokens, score: s }));
                    }
                }
                row += hyps.len();
                if finished[e].len() >= size || next.is_empty() {
                    continue; // done
                }
                for (r, h) in next {
                    select.push(r as u32);
                    feed.push(*h.tokens.last().expect("one token"));
                    live[e].push(h);
                }
                next_active.push(e);
            }
            active = next_active;
            if active.is_empty() || step + 1 == steps {
                break;
            }
            state = state.select(&select)?;
        }
    }
    // out of steps: the live hypotheses compete unterminated
    for &e in &active {
        for h in std::mem::take(&mut live[e]) {
            let s = norm(h.score, h.tokens.len());
            finished[e].push((s, h.tokens));
        }
    }
    Ok(finished
        .into_iter()
        .map(|f| {
            let mut best: Option<(f64, Vec<u32>)> = None;
            for (s, t) in f {
                if best.as_ref().is_none_or(|(bs, _)| s > *bs) {
                    best = Some((s, t));
                }
            }
            best.map(|(_, t)| t).unwrap_or_default()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_indices_rank_by_value_then_index() {
        let v = [0.5f32, 2.0, -1.0, 2.0, f32::NAN, 0.7];
        assert_eq!(top_indices(&v, 3), vec![1, 3, 5]);
        assert_eq!(top_indices(&v, 0), vec![1, 3, 5, 0, 2, 4]);
    }

    #[test]
    fn sampler_respects_top_k_top_p_and_temperature() {
        let lp: Vec<f32> = [0.5f64, 0.3, 0.15, 0.05].iter().map(|p| p.ln() as f32).collect();
        let mut rng = Rng::seed_from(7);
        let count = |s: &Sampler, rng: &mut Rng| {
            let mut c = [0usize; 4];
            for _ in 0..20_000 {
                c[s.pick(&lp, rng) as usize] += 1;
            }
            c
        };
        // top-p 0.75 keeps {0.5, 0.3} (0.5 < 0.75 ≤ 0.8): renormalised 0.625 / 0.375
        let c = count(&Sampler { top_k: 0, top_p: 0.75, temperature: 1.0 }, &mut rng);
        assert_eq!((c[2], c[3]), (0, 0));
        assert!((c[0] as f64 / 20_000.0 - 0.625).abs() < 0.015, "{c:?}");
        // top-k 3: 0.5/0.95, 0.3/0.95, 0.15/0.95
        let c = count(&Sampler { top_k: 3, top_p: 1.0, temperature: 1.0 }, &mut rng);
        assert_eq!(c[3], 0);
        assert!((c[2] as f64 / 20_000.0 - 0.15 / 0.95).abs() < 0.012, "{c:?}");
        // temperature 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 over 0.365
        let c = count(&Sampler { top_k: 0, top_p: 1.0, temperature: 0.5 }, &mut rng);
        assert!((c[0] as f64 / 20_000.0 - 0.25 / 0.365).abs() < 0.015, "{c:?}");
        assert!((c[1] as f64 / 20_000.0 - 0.09 / 0.365).abs() < 0.015, "{c:?}");
        // top-k 1 is the argmax, no draw needed
        assert_eq!(Sampler { top_k: 1, top_p: 1.0, temperature: 3.0 }.pick(&lp, &mut rng), 0);
    }
}
