//! Beam search with transformers 4.46 semantics (`GenerationMixin._beam_search`,
//! `BeamSearchScorer`, `BeamHypotheses` and the logits processors it uses), independent of ONNX.
//!
//! Numerics follow PyTorch where it matters for ranking: log-probabilities, processed scores and
//! running beam scores are f32; a finished hypothesis' score is computed in f64 (Python floats),
//! `sum_logprobs / generated_len ** length_penalty`, and so is the early-stopping test.

use crate::error::CometError;
use crate::settings::{EarlyStopping, GenerationSettings};

/// Row-major logits of one decoder step: `rows × vocab`.
#[derive(Debug, Clone)]
pub struct Logits {
    pub data: Vec<f32>,
    pub vocab: usize,
}

/// What beam search needs from a seq2seq model. Rows are `query × beam`, beams of a query adjacent
/// (transformers' `repeat_interleave` layout).
pub trait StepModel {
    /// Encodes a batch of queries (token ids, special tokens included) and prepares
    /// `queries.len() × num_beams` decoder rows.
    fn encode(&mut self, queries: &[Vec<u32>], num_beams: usize) -> Result<(), CometError>;

    /// Runs one decoder step. `seqs[r]` is row r's tokens so far (decoder start token first); a
    /// model with a cache only needs the last one. Returns logits for the next token of each row.
    fn step(&mut self, seqs: &[&[u32]]) -> Result<Logits, CometError>;

    /// Prepares the next step's rows: new row i continues old row `src[i]` (the self-attention
    /// cache moves with the beam) and keeps the encoder-side state (encoder outputs, mask,
    /// cross-attention cache) of old row `keep[i]`, a row of the same query. Rows of finished
    /// queries are dropped, so the new row count may be smaller.
    fn reorder(&mut self, src: &[usize], keep: &[usize]) -> Result<(), CometError>;
}

/// One returned sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// As `generate` returns it: decoder start token first, then the generated tokens, then the
    /// first eos id if the hypothesis ended with an eos (without the pad tokens that `generate`
    /// adds to make the rows of a batch equally long).
    pub tokens: Vec<u32>,
    /// `sequences_scores` before its cast to f32: sum of log-probabilities / length ** penalty.
    pub score: f64,
}

/// `BeamHypotheses`: the n best finished hypotheses of one query, in insertion order.
struct Finished {
    beams: Vec<(f64, Vec<u32>, bool)>, // (score, tokens without eos, ended with eos)
    worst_score: f64,
}

impl Finished {
    fn new() -> Self {
        Finished { beams: Vec::new(), worst_score: 1e9 }
    }

    fn add(&mut self, s: &GenerationSettings, tokens: Vec<u32>, sum_logprobs: f64, generated_len: usize, eos: bool) {
        let score = sum_logprobs / (generated_len as f64).powf(s.length_penalty);
        if self.beams.len() < s.num_beams || score > self.worst_score {
            self.beams.push((score, tokens, eos));
            if self.beams.len() > s.num_beams {
                // Python sorts (score, index) tuples: the worst score goes, the lowest index on ties.
                let mut order: Vec<(f64, usize)> = self.beams.iter().enumerate().map(|(i, b)| (b.0, i)).collect();
                order.sort_by(|a, b| py_cmp(a.0, b.0).then(a.1.cmp(&b.1)));
                self.beams.remove(order[0].1);
                self.worst_score = order[1].0;
            } else {
                self.worst_score = score.min(self.worst_score);
            }
        }
    }

    /// `BeamHypotheses.is_done`; `cur_len` counts the start token (transformers' `cur_len -
    /// decoder_prompt_len` with the prompt being the start token, plus one).
    fn is_done(&self, s: &GenerationSettings, best_sum_logprobs: f64, cur_len: usize) -> bool {
        if self.beams.len() < s.num_beams {
            return false;
        }
        let attainable = |len: usize| best_sum_logprobs / (len as f64).powf(s.length_penalty);
        match s.early_stopping {
            EarlyStopping::True => true,
            EarlyStopping::False => self.worst_score >= attainable(cur_len - 1),
            EarlyStopping::Never => {
                if s.length_penalty > 0.0 {
                    self.worst_score >= attainable(s.max_length - 1)
                } else {
                    self.worst_score >= attainable(cur_len - 1)
                }
            }
        }
    }
}

/// Runs beam search for a batch of encoded queries. Returns, per query,
/// `num_return_sequences` hypotheses, best first.
pub fn beam_search<M: StepModel + ?Sized>(
    model: &mut M,
    queries: &[Vec<u32>],
    s: &GenerationSettings,
) -> Result<Vec<Vec<Hypothesis>>, CometError> {
    validate(s)?;
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let nb = s.num_beams;
    model.encode(queries, nb)?;

    let mut finished: Vec<Finished> = queries.iter().map(|_| Finished::new()).collect();
    let mut done = vec![false; queries.len()];
    // Queries still in the model's batch, in row order.
    let mut active: Vec<usize> = (0..queries.len()).collect();
    let mut seqs: Vec<Vec<u32>> = vec![vec![s.decoder_start_token_id]; queries.len() * nb];
    // Only the first beam starts live, so the first step does not pick the same token nb times.
    let mut beam_scores: Vec<f32> = (0..seqs.len()).map(|r| if r % nb == 0 { 0.0 } else { -1e9 }).collect();
    let n_keep = 2.max(1 + s.eos_token_id.len()) * nb;
    let mut cur_len = 1usize;

    loop {
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let logits = model.step(&refs)?;
        let vocab = logits.vocab;
        if vocab == 0 || logits.data.len() != seqs.len() * vocab {
            return Err(CometError::Model(format!(
                "decoder returned {} logits for {} rows of vocabulary {}",
                logits.data.len(),
                seqs.len(),
                vocab
            )));
        }
        if nb * vocab < n_keep {
            return Err(CometError::Model(format!(
                "vocabulary of {vocab} is too small for {nb} beams (needs {n_keep} candidates per step)"
            )));
        }
        check_ids(s, vocab)?;
        let mut scores = logits.data;
        for (r, row) in scores.chunks_exact_mut(vocab).enumerate() {
            log_softmax(row).map_err(|m| CometError::Model(format!("row {r}: {m}")))?;
            process(s, &seqs[r], row);
            let b = beam_scores[r];
            row.iter_mut().for_each(|x| *x += b);
        }

        // BeamSearchScorer.process, one active query at a time.
        let mut next_seqs = Vec::with_capacity(seqs.len());
        let mut next_scores = Vec::with_capacity(seqs.len());
        let mut src = Vec::with_capacity(seqs.len());
        let mut keep = Vec::with_capacity(seqs.len());
        let mut still_active = Vec::with_capacity(active.len());
        for (a, &q) in active.iter().enumerate() {
            let block = &scores[a * nb * vocab..(a + 1) * nb * vocab];
            let cands = top_k(block, n_keep);
            let mut picked: Vec<(f32, u32, usize)> = Vec::with_capacity(nb); // (score, token, old row)
            for (rank, &(score, flat)) in cands.iter().enumerate() {
                let token = (flat % vocab) as u32;
                let row = a * nb + flat / vocab;
                if s.eos_token_id.contains(&token) {
                    if rank >= nb {
                        continue;
                    }
                    let generated_len = seqs[row].len(); // start token excluded, eos included
                    finished[q].add(s, seqs[row].clone(), f64::from(score), generated_len, true);
                } else {
                    picked.push((score, token, row));
                }
                if picked.len() == nb {
                    break;
                }
            }
            if picked.len() < nb {
                return Err(CometError::Model(format!(
                    "query {q}: fewer than {nb} non-eos candidates among the top {n_keep}"
                )));
            }
            done[q] = done[q] || finished[q].is_done(s, f64::from(cands[0].0), cur_len + 1);
            if done[q] {
                continue;
            }
            for (j, (score, token, row)) in picked.into_iter().enumerate() {
                let mut seq = seqs[row].clone();
                seq.push(token);
                next_seqs.push(seq);
                next_scores.push(score);
                src.push(row);
                keep.push(a * nb + j);
            }
            still_active.push(q);
        }
        cur_len += 1;

        // Queries done at this step keep their hypotheses; the others carry on (or end at max_length).
        let stop = still_active.is_empty() || cur_len >= s.max_length;
        if stop {
            // BeamSearchScorer.finalize: unfinished queries offer their running beams.
            for (a, &q) in still_active.iter().enumerate() {
                for j in 0..nb {
                    let seq = &next_seqs[a * nb + j];
                    finished[q].add(s, seq.clone(), f64::from(next_scores[a * nb + j]), seq.len() - 1, false);
                }
            }
            break;
        }
        model.reorder(&src, &keep)?;
        seqs = next_seqs;
        beam_scores = next_scores;
        active = still_active;
    }

    let eos0 = s.eos_token_id[0];
    Ok(finished
        .into_iter()
        .map(|f| {
            // Python's stable sort by score, then pop() from the end: on ties the later-added wins.
            let mut order: Vec<usize> = (0..f.beams.len()).collect();
            order.sort_by(|&a, &b| py_cmp(f.beams[a].0, f.beams[b].0));
            order
                .iter()
                .rev()
                .take(s.num_return_sequences)
                .map(|&i| {
                    let (score, tokens, eos) = &f.beams[i];
                    let mut tokens = tokens.clone();
                    // finalize appends eos_token_id[0] to every sequence shorter than the padded
                    // width; that is exactly the ones that ended with an eos.
                    if *eos {
                        tokens.push(eos0);
                    }
                    Hypothesis { tokens, score: *score }
                })
                .collect()
        })
        .collect())
}

/// What `BeamSearchScorer` and `generate` refuse (settings may be built by hand, not only resolved).
fn validate(s: &GenerationSettings) -> Result<(), CometError> {
    let problem = if s.num_beams < 2 {
        Some(format!("num_beams is {}; beam search needs at least 2", s.num_beams))
    } else if s.num_return_sequences == 0 || s.num_return_sequences > s.num_beams {
        Some(format!(
            "num_return_sequences ({}) must be between 1 and num_beams ({})",
            s.num_return_sequences, s.num_beams
        ))
    } else if s.max_length < 2 {
        Some(format!("max_length is {}; it counts the decoder start token, so at least 2 is needed", s.max_length))
    } else if s.eos_token_id.is_empty() {
        Some("eos_token_id is empty".to_string())
    } else if !s.length_penalty.is_finite() {
        Some(format!("length_penalty is {}", s.length_penalty))
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(CometError::Settings(p)))
}

/// Python float comparison for sorting (-0.0 == 0.0; there are no NaN scores).
fn py_cmp(a: f64, b: f64) -> std::cmp::Ordering {
    a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
}

/// Token ids used by the processors must be inside the vocabulary (torch would raise).
fn check_ids(s: &GenerationSettings, vocab: usize) -> Result<(), CometError> {
    let ids = s
        .eos_token_id
        .iter()
        .chain(s.forced_eos_token_id.iter().flatten())
        .chain(s.forced_bos_token_id.iter())
        .chain(std::iter::once(&s.decoder_start_token_id));
    for &id in ids {
        if id as usize >= vocab {
            return Err(CometError::Settings(format!(
                "token id {id} in the generation settings is outside the model's vocabulary of {vocab}"
            )));
        }
    }
    Ok(())
}

/// In-place log_softmax in f32, as torch computes it (x - max - log(sum(exp(x - max)))).
fn log_softmax(row: &mut [f32]) -> Result<(), String> {
    let mut max = f32::NEG_INFINITY;
    for &x in row.iter() {
        if x.is_nan() {
            return Err("the decoder produced NaN logits".into());
        }
        max = max.max(x);
    }
    if max.is_infinite() {
        return Err("the decoder produced logits that are all -inf, or +inf".into());
    }
    let sum: f64 = row.iter().map(|&x| f64::from((x - max).exp())).sum();
    let lse = sum.ln() as f32;
    row.iter_mut().for_each(|x| *x = (*x - max) - lse);
    Ok(())
}

/// The logits processors `generate` builds for these settings, in its order: no-repeat n-gram,
/// min length, forced BOS, forced EOS. `seq` is the row's tokens so far, start token included.
fn process(s: &GenerationSettings, seq: &[u32], row: &mut [f32]) {
    let len = seq.len();
    let n = s.no_repeat_ngram_size;
    if n > 0 && len + 1 >= n {
        // Ban every token that would complete an n-gram already in the sequence.
        let prefix = &seq[len + 1 - n..];
        for i in 0..(len + 1).saturating_sub(n) {
            if &seq[i..i + n - 1] == prefix
                && let Some(x) = row.get_mut(seq[i + n - 1] as usize)
            {
                *x = f32::NEG_INFINITY;
            }
        }
    }
    if s.min_length > 0 && len < s.min_length {
        for &e in &s.eos_token_id {
            if let Some(x) = row.get_mut(e as usize) {
                *x = f32::NEG_INFINITY;
            }
        }
    }
    if let Some(bos) = s.forced_bos_token_id
        && len == 1
    {
        force(row, std::slice::from_ref(&bos));
    }
    if let Some(eos) = &s.forced_eos_token_id
        && len + 1 == s.max_length
    {
        force(row, eos);
    }
}

fn force(row: &mut [f32], ids: &[u32]) {
    row.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
    for &i in ids {
        if let Some(x) = row.get_mut(i as usize) {
            *x = 0.0;
        }
    }
}

/// The k largest (score, index) pairs, best first; on equal scores the lower index first.
fn top_k(scores: &[f32], k: usize) -> Vec<(f32, usize)> {
    let better = |a: &(f32, usize), b: &(f32, usize)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    for (i, &x) in scores.iter().enumerate() {
        let c = (x, i);
        if best.len() == k {
            match best.last() {
                Some(last) if better(&c, last) => {}
                _ => continue,
            }
        }
        let pos = best.iter().position(|b| better(&c, b)).unwrap_or(best.len());
        best.insert(pos, c);
        best.truncate(k);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GenerationSettings {
        GenerationSettings {
            num_beams: 2,
            num_return_sequences: 2,
            max_length: 6,
            min_length: 0,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            no_repeat_ngram_size: 0,
            forced_bos_token_id: None,
            forced_eos_token_id: None,
            decoder_start_token_id: 0,
            eos_token_id: vec![1],
            pad_token_id: 1,
            bos_token_id: None,
        }
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let v = [0.5, 2.0, f32::NEG_INFINITY, 2.0, -1.0, 3.0];
        assert_eq!(top_k(&v, 3), vec![(3.0, 5), (2.0, 1), (2.0, 3)]);
        assert_eq!(top_k(&v, 10).len(), 6);
    }

    #[test]
    fn log_softmax_matches_definition() {
        let mut r = [1.0f32, 2.0, 3.0];
        log_softmax(&mut r).unwrap();
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).sum();
        assert!((f64::from(r[2]) - (3.0 - z.ln())).abs() < 1e-6);
        assert!(log_softmax(&mut [f32::NAN, 1.0]).is_err());
    }

    #[test]
    fn no_repeat_ngram_bans_completions() {
        let mut s = settings();
        s.no_repeat_ngram_size = 2;
        let mut row = vec![0.0f32; 10];
        process(&s, &[0, 5, 6, 5], &mut row);
        assert_eq!(row[6], f32::NEG_INFINITY); // (5, 6) seen, last token 5
        assert_eq!(row.iter().filter(|x| x.is_infinite()).count(), 1);
        s.no_repeat_ngram_size = 1; // every seen token is banned
        let mut row = vec![0.0f32; 10];
        process(&s, &[0, 5, 6], &mut row);
        assert_eq!(row.iter().filter(|x| x.is_infinite()).count(), 3);
        s.no_repeat_ngram_size = 4; // too short to have a 4-gram yet
        let mut row = vec![0.0f32; 10];
        process(&s, &[0, 5], &mut row);
        assert!(row.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn finished_keeps_best_n_and_worst_score() {
        let s = settings();
        let mut f = Finished::new();
        f.add(&s, vec![0, 3], -2.0, 2, true); // -1.0
        f.add(&s, vec![0, 4], -3.0, 2, true); // -1.5
        assert_eq!(f.worst_score, -1.5);
        f.add(&s, vec![0, 5], -1.0, 2, true); // -0.5 pushes -1.5 out
        assert_eq!(f.beams.len(), 2);
        assert_eq!(f.worst_score, -1.0);
        f.add(&s, vec![0, 6], -4.0, 2, true); // worse than worst: ignored
        assert_eq!(f.beams.len(), 2);
    }
}
