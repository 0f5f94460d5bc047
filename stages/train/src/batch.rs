//! Examples and the reference's collate (`collate_fn`, loader.py:390-505): padding with PAD,
//! the batch sorted by number of utterances (descending, stable).

use candle_core::{Device, Result, Tensor, bail};
use iamm_core::special::{PAD, SOS};

/// The model reads the tokenize stage's examples as they are.
pub use iamm_tables::token_examples::{Comet, Example, NUM_RELATIONS};

/// COMET tensors of a batch: `context[r] [B, N, Lr]`, `situation[r] [B, 1, Ls]` (u32, PAD 1).
#[derive(Debug, Clone)]
pub struct CometBatch {
    pub context: [Tensor; NUM_RELATIONS],
    pub situation: [Tensor; NUM_RELATIONS],
}

/// A collated batch, laid out as the reference's `collate_fn` builds it. All id tensors are
/// u32, padded with PAD (1).
#[derive(Debug, Clone)]
pub struct Batch {
    /// `input_batch [B, N, L]`: N = most utterances in the batch, L = longest utterance.
    /// Padded utterance slots are all PAD (no `[CLS]`).
    pub input: Tensor,
    /// `mask_input [B, N, L]`: the speaker roles.
    pub mask_input: Tensor,
    /// `situation_batch [B, S]`.
    pub situation: Tensor,
    /// `target_batch [B, T]`.
    pub target: Tensor,
    /// `c_*` and `s_*`, or `None` when the examples carry no COMET knowledge.
    pub comet: Option<CometBatch>,
    /// `program_label [B]` (u32).
    pub emotion: Tensor,
    /// Row `r` of the batch holds `examples[order[r]]` (the collate sorts the examples).
    pub order: Vec<usize>,
    /// Utterances per row (for callers; the model reads padding from the tensors).
    pub utterances: Vec<usize>,
    /// Target length per row (EOS included).
    pub target_lens: Vec<usize>,
}

impl Batch {
    pub fn size(&self) -> usize {
        self.order.len()
    }

    /// The rows `rows` of this batch, padded as this batch is (so every row computes what it
    /// computes here: padding, padded utterance slots included, is part of the reference's
    /// numbers). `order` still indexes the examples given to [`collate`].
    pub fn rows(&self, rows: &[usize]) -> Result<Batch> {
        if let Some(&r) = rows.iter().find(|&&r| r >= self.size()) {
            bail!("batch rows: row {r} of a batch of {}", self.size());
        }
        let index = Tensor::from_vec(rows.iter().map(|&r| r as u32).collect::<Vec<_>>(), rows.len(), self.input.device())?;
        let pick = |t: &Tensor| t.index_select(&index, 0);
        let comet = match &self.comet {
            Some(c) => {
                let all = |ts: &[Tensor; NUM_RELATIONS]| -> Result<[Tensor; NUM_RELATIONS]> {
                    let v = ts.iter().map(pick).collect::<Result<Vec<_>>>()?;
                    Ok(v.try_into().expect("5 relations"))
                };
                Some(CometBatch { context: all(&c.context)?, situation: all(&c.situation)? })
            }
            None => None,
        };
        let each = |v: &[usize]| rows.iter().map(|&r| v[r]).collect::<Vec<_>>();
        Ok(Batch {
            input: pick(&self.input)?,
            mask_input: pick(&self.mask_input)?,
            situation: pick(&self.situation)?,
            target: pick(&self.target)?,
            comet,
            emotion: pick(&self.emotion)?,
            order: each(&self.order),
            utterances: each(&self.utterances),
            target_lens: each(&self.target_lens),
        })
    }

    /// Decoder input for teacher forcing: `[SOS] + target[:, :-1]` `[B, T]`.
    pub fn decoder_input(&self) -> Result<Tensor> {
        let (b, t) = self.target.dims2()?;
        let sos = Tensor::full(SOS, (b, 1), self.target.device())?;
        Tensor::cat(&[&sos, &self.target.narrow(1, 0, t - 1)?], 1)
    }
}

fn pad2(rows: &[&[u32]], min_len: usize) -> (Vec<u32>, usize) {
    let len = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(min_len);
    let mut v = vec![PAD; rows.len() * len];
    for (i, r) in rows.iter().enumerate() {
        v[i * len..i * len + r.len()].copy_from_slice(r);
    }
    (v, len)
}

/// `seqs[b][j]` → `[B, N, L]` with `N = max_b len(seqs[b])`, `L = max(max len, min_len)`.
fn pad3(seqs: &[&[Vec<u32>]], min_len: usize, device: &Device) -> Result<Tensor> {
    let b = seqs.len();
    let n = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
    let l = seqs.iter().flat_map(|s| s.iter().map(|u| u.len())).max().unwrap_or(0).max(min_len);
    let mut v = vec![PAD; b * n * l];
    for (i, s) in seqs.iter().enumerate() {
        for (j, u) in s.iter().enumerate() {
            let at = (i * n + j) * l;
            v[at..at + u.len()].copy_from_slice(u);
        }
    }
    Tensor::from_vec(v, (b, n, l), device)
}

/// Collates examples as the reference does: sorted by number of utterances, descending
/// (Python's stable sort: ties keep their order), every sequence padded with PAD to the
/// batch maximum.
///
/// COMET sequences are padded to at least 2 positions: the model reads position 1 to mask
/// empty knowledge (the reference's `mask[:, :, 1]`, which raises when a whole batch has
/// only 1-token sequences).
pub fn collate(examples: &[&Example], device: &Device) -> Result<Batch> {
    if examples.is_empty() {
        bail!("collate: no examples");
    }
    for (i, e) in examples.iter().enumerate() {
        if e.context.is_empty() {
            bail!("collate: example {i} has no context utterance");
        }
        if e.roles.len() != e.context.len() || e.roles.iter().zip(&e.context).any(|(r, c)| r.len() != c.len()) {
            bail!("collate: example {i}: roles do not match the context utterances in number or length");
        }
        if e.context.iter().any(|u| u.is_empty()) || e.situation.is_empty() || e.target.is_empty() {
            bail!("collate: example {i} has an empty utterance, situation or target");
        }
        if let Some(c) = &e.comet
            && c.context.iter().any(|r| r.len() != e.context.len())
        {
            bail!("collate: example {i}: COMET knowledge must have one sequence per context utterance and relation");
        }
    }
    let with_comet = examples.iter().filter(|e| e.comet.is_some()).count();
    if with_comet != 0 && with_comet != examples.len() {
        bail!("collate: {with_comet} of {} examples carry COMET knowledge; all or none must", examples.len());
    }

    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(examples[i].context.len()));
    let ex: Vec<&Example> = order.iter().map(|&i| examples[i]).collect();
    let b = ex.len();

    let contexts: Vec<&[Vec<u32>]> = ex.iter().map(|e| e.context.as_slice()).collect();
    let roles: Vec<&[Vec<u32>]> = ex.iter().map(|e| e.roles.as_slice()).collect();
    let input = pad3(&contexts, 0, device)?;
    let mask_input = pad3(&roles, 0, device)?;
    let (sit, s) = pad2(&ex.iter().map(|e| e.situation.as_slice()).collect::<Vec<_>>(), 0);
    let situation = Tensor::from_vec(sit, (b, s), device)?;
    let (trg, t) = pad2(&ex.iter().map(|e| e.target.as_slice()).collect::<Vec<_>>(), 0);
    let target = Tensor::from_vec(trg, (b, t), device)?;
    let emotion = Tensor::from_vec(ex.iter().map(|e| u32::from(e.emotion)).collect::<Vec<_>>(), b, device)?;

    let comet = if with_comet == 0 {
        None
    } else {
        let c: Vec<&Comet> = ex.iter().map(|e| e.comet.as_ref().expect("checked")).collect();
        let mut context = Vec::with_capacity(NUM_RELATIONS);
        let mut situation = Vec::with_capacity(NUM_RELATIONS);
        for r in 0..NUM_RELATIONS {
            let seqs: Vec<&[Vec<u32>]> = c.iter().map(|c| c.context[r].as_slice()).collect();
            context.push(pad3(&seqs, 2, device)?);
            let sits: Vec<Vec<u32>> = c.iter().map(|c| c.situation[r].clone()).collect();
            let one: Vec<[Vec<u32>; 1]> = sits.into_iter().map(|s| [s]).collect();
            let seqs: Vec<&[Vec<u32>]> = one.iter().map(|s| s.as_slice()).collect();
            situation.push(pad3(&seqs, 2, device)?);
        }
        let arr = |v: Vec<Tensor>| -> [Tensor; NUM_RELATIONS] { v.try_into().expect("5 relations") };
        Some(CometBatch { context: arr(context), situation: arr(situation) })
    };

    Ok(Batch {
        input,
        mask_input,
        situation,
        target,
        comet,
        emotion,
        utterances: ex.iter().map(|e| e.context.len()).collect(),
        target_lens: ex.iter().map(|e| e.target.len()).collect(),
        order,
    })
}
