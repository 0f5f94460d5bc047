//! The associated words the second-order interaction attention selected (paper §4.4,
//! Appendix C), read off an [`Encoded`]'s explicit [`MemoryTrace`] as flat rows.
//!
//! Each IAM pair `(U_i, Y)` selects, per head, `k2` words of the unit `U_i` (by how `Y`
//! attends to them) and `k2` positions of `Y` (by how `U_i` attends to them), each with its
//! weight `σ(sent_linear(scores))` — the "weight given by the model". One row per selection:
//!
//! | pair | `Y` | direction `to_unit` / `from_unit` (paper: s2u / u2s) |
//! |---|---|---|
//! | `situation` | the situation | `s2u` / `u2s` |
//! | `history` | utterances `0 .. i-1` | `h2u` / `u2h` |
//! | `memory` | the memory built so far | `m2u` / `u2m` |
//!
//! **Memory selections** point to memory slots, not words. Every slot is the image of one
//! word selected earlier (a slot of `sc_j`, `rc_j` or `pc_j` is its selected word), so the
//! slot is mapped back to that word (recursively for slots of earlier `rc`s): a `u2m` row
//! names the situation or utterance word the chosen slot came from.
//!
//! **Left out:** selections of PAD or virtual positions (the IAM pads short sides, see
//! `model::iam`), of special tokens (UNK, `[CLS]`, …; UNK stands for many words), and every
//! pair whose unit is a padded utterance slot (the reference runs them, but they exist only
//! because of batch composition). The **implicit** memory selects COMET relation vectors
//! (one per relation and sentence), not words, so it yields no rows; `Source` keeps the
//! distinction for callers that label rows.

use candle_core::{DType, Device, Result, bail};
use iamm_core::special::TOKENS;

use iamm_train::model::iam::Selection;
use iamm_train::model::{Encoded, IamTrace, Iamm};
use iamm_train::{Batch, Example, collate};

/// Which pair of the iterative association a selection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pair {
    Situation,
    History,
    Memory,
}

impl Pair {
    pub fn name(self) -> &'static str {
        match self {
            Pair::Situation => "situation",
            Pair::History => "history",
            Pair::Memory => "memory",
        }
    }
}

/// Explicit (word embeddings) or implicit (COMET) memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Explicit,
    Implicit,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Explicit => "explicit",
            Source::Implicit => "implicit",
        }
    }
}

/// `ToUnit`: a word of the current utterance selected by how the other side attends to it
/// (the paper's s2u); `FromUnit`: a word of the other side selected by how the utterance
/// attends to it (u2s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToUnit,
    FromUnit,
}

/// The direction's name in the paper's style, per pair: `s2u`, `u2s`, `h2u`, `u2h`, `m2u`, `u2m`.
pub fn direction_name(pair: Pair, direction: Direction) -> &'static str {
    match (pair, direction) {
        (Pair::Situation, Direction::ToUnit) => "s2u",
        (Pair::Situation, Direction::FromUnit) => "u2s",
        (Pair::History, Direction::ToUnit) => "h2u",
        (Pair::History, Direction::FromUnit) => "u2h",
        (Pair::Memory, Direction::ToUnit) => "m2u",
        (Pair::Memory, Direction::FromUnit) => "u2m",
    }
}

/// Where a word is in its example: the situation or context utterance `u`, at `offset` in
/// that sequence as collated (offset 0 is its `[CLS]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loc {
    Situation(usize),
    Utterance(usize, usize),
}

/// One selected word.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// Index of the example in the slice given to `collate` (not the batch row).
    pub example: usize,
    pub pair: Pair,
    pub source: Source,
    pub direction: Direction,
    pub head: u32,
    /// The utterance `i` whose pair made the selection.
    pub unit: u32,
    pub loc: Loc,
    /// Position in the example's text laid out as `situation ⊕ utterance_0 ⊕ utterance_1 ⊕ …`,
    /// each sequence with its leading `[CLS]` (the tokenize stage's `situation_ids` and
    /// `context_ids`, concatenated).
    pub position: u32,
    pub token_id: u32,
    /// `σ(sent_linear(second-order scores))` of the selection.
    pub weight: f32,
}

/// One direction's selections as host vectors: `index[row][head][j]`, `weight[row][head][j]`.
struct Sel {
    index: Vec<Vec<Vec<u32>>>,
    weight: Vec<Vec<Vec<f32>>>,
}

impl Sel {
    fn new(s: &Selection) -> Result<Sel> {
        Ok(Sel {
            index: s.index.to_dtype(DType::U32)?.to_vec3()?,
            weight: s.weight.to_dtype(DType::F32)?.to_vec3()?,
        })
    }
    /// `(head, j, position, weight)` of one row.
    fn row(&self, r: usize) -> impl Iterator<Item = (usize, usize, usize, f32)> + '_ {
        self.index[r].iter().zip(&self.weight[r]).enumerate().flat_map(|(h, (ix, w))| {
            ix.iter().zip(w).enumerate().map(move |(j, (&p, &w))| (h, j, p as usize, w))
        })
    }
}

struct Traced {
    x: Sel,
    y: Sel,
}

impl Traced {
    fn new(t: &IamTrace) -> Result<Traced> {
        Ok(Traced { x: Sel::new(&t.x)?, y: Sel::new(&t.y)? })
    }
}

/// One batch row's token ids and the layout of its text.
struct RowText<'a> {
    input: &'a [Vec<u32>],
    situation: &'a [u32],
    /// Real length of each utterance slot and of the situation (PAD excluded).
    utt_len: Vec<usize>,
    sit_len: usize,
    utterances: usize,
}

impl RowText<'_> {
    /// The token at `loc`, if it is a real, non-special word.
    fn word(&self, loc: Loc) -> Option<u32> {
        let id = match loc {
            Loc::Situation(t) if t < self.sit_len => self.situation[t],
            Loc::Utterance(u, t) if u < self.utterances && t < self.utt_len[u] => self.input[u][t],
            _ => return None,
        };
        (id as usize >= TOKENS.len()).then_some(id)
    }
    fn position(&self, loc: Loc) -> usize {
        match loc {
            Loc::Situation(t) => t,
            Loc::Utterance(u, t) => self.sit_len + self.utt_len[..u].iter().sum::<usize>() + t,
        }
    }
}

fn real_len(seq: &[u32]) -> usize {
    seq.iter().filter(|&&id| id != iamm_core::special::PAD).count()
}

/// The associated words of `examples`, encoded in consecutive batches of `batch_size` in
/// their order (the analysis stage's loop): padded rows enter the second-order means as in
/// the reference, so the batches decide the selections. [`Association::example`] indexes
/// `examples`; `done(n)` is called after each batch of `n` examples.
pub fn trace(
    model: &Iamm,
    examples: &[&Example],
    batch_size: usize,
    device: &Device,
    done: &mut dyn FnMut(usize),
) -> Result<Vec<Association>> {
    let size = batch_size.max(1);
    let mut rows = Vec::new();
    for (chunk_no, chunk) in examples.chunks(size).enumerate() {
        let batch = collate(chunk, device)?;
        let offset = chunk_no * size;
        rows.extend(associations(&model.encode(&batch)?, &batch)?.into_iter().map(|mut a| {
            a.example += offset;
            a
        }));
        done(chunk.len());
    }
    Ok(rows)
}

/// The explicit associated words of every example of `batch`, with `enc = model.encode(batch)`.
/// Rows come grouped by example (collate-input order), then unit, pair (situation, history,
/// memory), direction (to the unit first), head and rank. Empty for the w/o EA variant.
pub fn associations(enc: &Encoded, batch: &Batch) -> Result<Vec<Association>> {
    let Some(trace) = &enc.explicit else { return Ok(vec![]) };
    let (b, n, l) = batch.input.dims3()?;
    let input: Vec<Vec<Vec<u32>>> = batch.input.to_vec3()?;
    let situation: Vec<Vec<u32>> = batch.situation.to_vec2()?;
    let sc = Traced::new(&trace.sc)?;
    let pc = trace.pc.as_ref().map(Traced::new).transpose()?;
    let rc = trace.rc.iter().map(Traced::new).collect::<Result<Vec<_>>>()?;
    if sc.x.index.len() != b * n || rc.len() != n.saturating_sub(1) || pc.is_some() != (n > 1) {
        bail!("associations: the explicit trace does not match the batch ({b} rows, {n} utterance slots)");
    }
    let heads = sc.x.index.first().map_or(0, |r| r.len());
    let k2 = sc.x.index.first().and_then(|r| r.first()).map_or(0, |h| h.len());
    let s = trace.slots_per_pair;
    if s != 2 * heads * k2 {
        bail!("associations: {s} slots per pair, expected 2·{heads} heads·{k2}");
    }
    // Slot q of a pair: its side (X first), head and rank.
    let slot = |q: usize| (q / (heads * k2), (q % (heads * k2)) / k2, q % k2);

    let mut rows: Vec<(usize, Vec<Association>)> = Vec::with_capacity(b);
    for r in 0..b {
        let text = RowText {
            input: &input[r],
            situation: &situation[r],
            utt_len: input[r].iter().map(|u| real_len(u)).collect(),
            sit_len: real_len(&situation[r]),
            utterances: batch.utterances[r],
        };
        let example = batch.order[r];
        let mut out = Vec::new();
        let mut emit = |pair: Pair, direction: Direction, unit: usize, head: usize, loc: Option<Loc>, weight: f32| {
            let Some(loc) = loc else { return };
            if let Some(token_id) = text.word(loc) {
                out.push(Association {
                    example,
                    pair,
                    source: Source::Explicit,
                    direction,
                    head: head as u32,
                    unit: unit as u32,
                    loc,
                    position: text.position(loc) as u32,
                    token_id,
                    weight,
                });
            }
        };
        // History position p of unit i: position p % l of unit p / l, if that unit precedes i
        // (later ones are virtual in the batched history).
        let hist = |i: usize, p: usize| (p / l < i).then_some(Loc::Utterance(p / l, p % l));

        // Origins of the memory slots, in memory order: memory_0 = sc_0, then sc_i, rc_i, pc_i.
        let mut origins: Vec<Option<Loc>> = Vec::new();
        for i in 0..n {
            let sc_row = r * n + i;
            let live = i < text.utterances;
            for (h, _, p, w) in sc.x.row(sc_row) {
                if live {
                    emit(Pair::Situation, Direction::ToUnit, i, h, Some(Loc::Utterance(i, p)), w);
                }
            }
            for (h, _, p, w) in sc.y.row(sc_row) {
                if live {
                    emit(Pair::Situation, Direction::FromUnit, i, h, Some(Loc::Situation(p)), w);
                }
            }
            let sc_origins: Vec<Option<Loc>> = (0..s)
                .map(|q| {
                    let (side, h, j) = slot(q);
                    if side == 0 {
                        Some(Loc::Utterance(i, sc.x.index[sc_row][h][j] as usize))
                    } else {
                        Some(Loc::Situation(sc.y.index[sc_row][h][j] as usize))
                    }
                })
                .collect();
            if i == 0 {
                origins.extend(sc_origins);
                continue;
            }
            let (rct, pct) = (&rc[i - 1], pc.as_ref().expect("checked: n > 1"));
            let pc_row = r * (n - 1) + i - 1;
            for (h, _, p, w) in rct.x.row(r) {
                if live {
                    emit(Pair::Memory, Direction::ToUnit, i, h, Some(Loc::Utterance(i, p)), w);
                }
            }
            for (h, _, q, w) in rct.y.row(r) {
                if live {
                    emit(Pair::Memory, Direction::FromUnit, i, h, origins.get(q).copied().flatten(), w);
                }
            }
            for (h, _, p, w) in pct.x.row(pc_row) {
                if live {
                    emit(Pair::History, Direction::ToUnit, i, h, Some(Loc::Utterance(i, p)), w);
                }
            }
            for (h, _, p, w) in pct.y.row(pc_row) {
                if live {
                    emit(Pair::History, Direction::FromUnit, i, h, hist(i, p), w);
                }
            }
            let rc_origins: Vec<Option<Loc>> = (0..s)
                .map(|q| {
                    let (side, h, j) = slot(q);
                    if side == 0 {
                        Some(Loc::Utterance(i, rct.x.index[r][h][j] as usize))
                    } else {
                        origins.get(rct.y.index[r][h][j] as usize).copied().flatten()
                    }
                })
                .collect();
            let pc_origins: Vec<Option<Loc>> = (0..s)
                .map(|q| {
                    let (side, h, j) = slot(q);
                    if side == 0 {
                        Some(Loc::Utterance(i, pct.x.index[pc_row][h][j] as usize))
                    } else {
                        hist(i, pct.y.index[pc_row][h][j] as usize)
                    }
                })
                .collect();
            origins.extend(sc_origins);
            origins.extend(rc_origins);
            origins.extend(pc_origins);
        }
        rows.push((example, out));
    }
    rows.sort_by_key(|(e, _)| *e);
    Ok(rows.into_iter().flat_map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamm_train::{Example, Iamm, IammConfig, Variant, collate};
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};
    use iamm_core::special::{CLS, SYS, USR};
    use std::collections::HashMap;

    fn example(situation: &[u32], utterances: &[&[u32]]) -> Example {
        let with_cls = |ids: &[u32]| [&[CLS], ids].concat();
        Example {
            context: utterances.iter().map(|u| with_cls(u)).collect(),
            roles: utterances
                .iter()
                .enumerate()
                .map(|(i, u)| [vec![CLS], vec![if i % 2 == 0 { USR } else { SYS }; u.len()]].concat())
                .collect(),
            situation: with_cls(situation),
            target: vec![30, 2],
            emotion: 3,
            comet: None,
        }
    }

    /// The sequence a `Loc` names, as the example holds it.
    fn token_at(e: &Example, loc: Loc) -> u32 {
        match loc {
            Loc::Situation(t) => e.situation[t],
            Loc::Utterance(u, t) => e.context[u][t],
        }
    }

    #[test]
    fn selections_are_words_of_their_example() -> Result<()> {
        let cfg = IammConfig { variant: Variant::WithoutIA, ctx_topk: 3, cs_topk: 3, ..IammConfig::tiny(60) };
        let varmap = VarMap::new();
        let model = Iamm::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
        iamm_train::model::reference_init(&varmap, 7)?;
        // Disjoint token ranges per example, so a row's token tells its example. A: one word
        // per sequence (its selections are exactly determined), B: one long utterance,
        // C: two utterances. Given B, C, A so that the collate reorders them (A, C, B).
        let a = example(&[10], &[&[11], &[12], &[13]]);
        let b = example(&[20, 21, 22, 23], &[&[24, 25, 26, 27]]);
        let c = example(&[40, 41], &[&[42, 43, 44], &[45, 46]]);
        let ex = [b, c, a];
        let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
        assert_eq!(batch.order, vec![2, 1, 0]);
        let enc = model.encode(&batch)?;
        let rows = associations(&enc, &batch)?;
        assert!(!rows.is_empty());
        let ranges = [20..28, 40..47, 10..14];
        let mut per: HashMap<(usize, u32, &str, u32), Vec<u32>> = HashMap::new();
        for w in &rows {
            let e = &ex[w.example];
            assert!(ranges[w.example].contains(&w.token_id), "{w:?} is not a word of example {}", w.example);
            assert_eq!(token_at(e, w.loc), w.token_id, "{w:?}");
            // the flat position names the same token
            let flat: Vec<u32> = e.situation.iter().chain(e.context.iter().flatten()).copied().collect();
            assert_eq!(flat[w.position as usize], w.token_id, "{w:?}");
            assert!(w.head < 2 && (0.0..=1.0).contains(&w.weight));
            assert!((w.unit as usize) < e.context.len());
            match (w.pair, w.direction, w.loc) {
                (Pair::Situation, Direction::FromUnit, Loc::Situation(_)) => {}
                (_, Direction::ToUnit, Loc::Utterance(u, _)) => assert_eq!(u, w.unit as usize, "{w:?}"),
                (Pair::History, Direction::FromUnit, Loc::Utterance(u, _)) => assert!(u < w.unit as usize, "{w:?}"),
                (Pair::Memory, Direction::FromUnit, Loc::Situation(_)) => {}
                (Pair::Memory, Direction::FromUnit, Loc::Utterance(u, _)) => assert!(u < w.unit as usize, "{w:?}"),
                _ => panic!("impossible row {w:?}"),
            }
            per.entry((w.example, w.unit, direction_name(w.pair, w.direction), w.head)).or_default().push(w.token_id);
        }
        // example order is collate-input order
        assert!(rows.windows(2).all(|p| p[0].example <= p[1].example));
        // A: k2 = 3 picks among [CLS, word, PAD...]: the word once per head, CLS and PAD dropped.
        for head in 0..2 {
            for i in 0..3u32 {
                assert_eq!(per[&(2, i, "s2u", head)], vec![11 + i]);
                assert_eq!(per[&(2, i, "u2s", head)], vec![10]);
            }
            for i in 1..3u32 {
                assert_eq!(per[&(2, i, "h2u", head)], vec![11 + i]);
                assert_eq!(per[&(2, i, "m2u", head)], vec![11 + i]);
            }
            // the history of unit 1 is [CLS, 11]
            assert_eq!(per[&(2, 1, "u2h", head)], vec![11]);
            // memory_0 = sc_0 holds the images of CLS, 11 (utterance side) and CLS, 10
            // (situation side), the rest are PAD slots
            let m = &per.get(&(2, 1, "u2m", head)).cloned().unwrap_or_default();
            assert!(m.iter().all(|t| [10, 11].contains(t)), "{m:?}");
            // B: a single utterance has no history or memory pairs
            assert!(!per.contains_key(&(0, 1, "s2u", head)));
            assert!(per.keys().all(|k| k.0 != 0 || k.2 == "s2u" || k.2 == "u2s"));
            // B's s2u: 3 of [CLS, 24..27], at most one of them CLS
            let s2u = &per[&(0, 0, "s2u", head)];
            assert!((2..=3).contains(&s2u.len()), "{s2u:?}");
        }
        // every pair and direction occurs
        for (pair, dir) in [(Pair::Memory, Direction::FromUnit), (Pair::History, Direction::FromUnit)] {
            assert!(rows.iter().any(|w| w.pair == pair && w.direction == dir), "no {pair:?} {dir:?} rows");
        }
        // padded utterance slots of B and C make no rows
        assert!(rows.iter().all(|w| (w.unit as usize) < ex[w.example].context.len()));
        Ok(())
    }

    #[test]
    fn without_explicit_memory_there_are_no_rows() -> Result<()> {
        let cfg = IammConfig { variant: Variant::WithoutEA, ..IammConfig::tiny(60) };
        let varmap = VarMap::new();
        let model = Iamm::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
        let mut e = example(&[10, 11], &[&[12, 13]]);
        let comet = iamm_train::Comet {
            context: std::array::from_fn(|_| vec![vec![CLS, 14]]),
            situation: std::array::from_fn(|_| vec![CLS, 15]),
        };
        e.comet = Some(comet);
        let batch = collate(&[&e], &Device::Cpu)?;
        assert!(associations(&model.encode(&batch)?, &batch)?.is_empty());
        Ok(())
    }
}
