//! Beam search semantics on a hand-written scorer (no ONNX): EOS handling, length penalty,
//! min length, no-repeat n-grams, forced BOS/EOS, early stopping, batching.

use iamm_comet::{CometError, EarlyStopping, GenerationSettings, Hypothesis, Logits, StepModel, beam_search};

// Token ids of the toy vocabulary.
const START: u32 = 0;
const PAD: u32 = 1;
const EOS: u32 = 2;
const VOCAB: usize = 8;

type Dist = fn(query: &[u32], generated: &[u32]) -> Vec<(u32, f64)>;

/// Next-token probabilities from a table; unlisted tokens get a negligible logit. It keeps its
/// own per-row history like a key/value cache, so wrong reordering shows up as a failed check.
struct Toy {
    dist: Dist,
    queries: Vec<Vec<u32>>,
    row_query: Vec<usize>,
    cache: Vec<Vec<u32>>,
    steps: usize,
}

impl Toy {
    fn new(dist: Dist) -> Self {
        Toy { dist, queries: Vec::new(), row_query: Vec::new(), cache: Vec::new(), steps: 0 }
    }
}

impl StepModel for Toy {
    fn encode(&mut self, queries: &[Vec<u32>], num_beams: usize) -> Result<(), CometError> {
        self.queries = queries.to_vec();
        self.row_query = (0..queries.len()).flat_map(|q| std::iter::repeat_n(q, num_beams)).collect();
        self.cache = vec![Vec::new(); self.row_query.len()];
        Ok(())
    }

    fn step(&mut self, seqs: &[&[u32]]) -> Result<Logits, CometError> {
        self.steps += 1;
        assert_eq!(seqs.len(), self.cache.len(), "row count");
        let mut data = Vec::with_capacity(seqs.len() * VOCAB);
        for (r, s) in seqs.iter().enumerate() {
            self.cache[r].push(*s.last().expect("non-empty row"));
            assert_eq!(self.cache[r], *s, "row {r}: the cache does not follow the beam");
            let mut row = vec![-30.0f32; VOCAB];
            for (t, p) in (self.dist)(&self.queries[self.row_query[r]], &s[1..]) {
                row[t as usize] = p.ln() as f32;
            }
            data.extend(row);
        }
        Ok(Logits { data, vocab: VOCAB })
    }

    fn reorder(&mut self, src: &[usize], keep: &[usize]) -> Result<(), CometError> {
        for (&s, &k) in src.iter().zip(keep) {
            assert_eq!(self.row_query[s], self.row_query[k], "a beam moved to another query");
        }
        self.cache = src.iter().map(|&s| self.cache[s].clone()).collect();
        self.row_query = keep.iter().map(|&k| self.row_query[k]).collect();
        Ok(())
    }
}

fn settings(num_beams: usize, max_length: usize) -> GenerationSettings {
    GenerationSettings {
        num_beams,
        num_return_sequences: num_beams,
        max_length,
        min_length: 0,
        length_penalty: 1.0,
        early_stopping: EarlyStopping::True,
        no_repeat_ngram_size: 0,
        forced_bos_token_id: None,
        forced_eos_token_id: None,
        decoder_start_token_id: START,
        eos_token_id: vec![EOS],
        pad_token_id: PAD,
        bos_token_id: None,
    }
}

fn run(dist: Dist, s: &GenerationSettings) -> (Vec<Hypothesis>, usize) {
    let mut toy = Toy::new(dist);
    let mut out = beam_search(&mut toy, &[vec![7]], s).expect("beam search");
    (out.remove(0), toy.steps)
}

fn tokens(h: &[Hypothesis]) -> Vec<Vec<u32>> {
    h.iter().map(|h| h.tokens.clone()).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-5
}

/// eos is likely at once; 3 and 4 lead to an eos next.
fn short(_: &[u32], g: &[u32]) -> Vec<(u32, f64)> {
    match g {
        [] => vec![(EOS, 0.5), (3, 0.3), (4, 0.2)],
        [3] => vec![(EOS, 0.9), (5, 0.1)],
        [4] => vec![(EOS, 0.6), (5, 0.4)],
        _ => vec![(EOS, 0.9), (6, 0.1)],
    }
}

#[test]
fn eos_ends_hypotheses_scored_with_the_length_penalty() {
    // Step 1 finishes [eos] (1 generated token); step 2 finishes [3, eos] and [4, eos] (2 each).
    let (ln5, ln27, ln12) = (0.5f64.ln(), 0.27f64.ln(), 0.12f64.ln());
    let mut s = settings(2, 10);
    let (h, steps) = run(short, &s);
    assert_eq!(steps, 2, "early_stopping=true stops once 2 hypotheses are done");
    assert_eq!(tokens(&h), [vec![0, 3, 2], vec![0, 2]]);
    assert!(close(h[0].score, ln27 / 2.0) && close(h[1].score, ln5), "{h:?}");

    s.length_penalty = 2.0; // longer is better: [4, eos] pushes [eos] out
    let (h, _) = run(short, &s);
    assert_eq!(tokens(&h), [vec![0, 3, 2], vec![0, 4, 2]]);
    assert!(close(h[0].score, ln27 / 4.0) && close(h[1].score, ln12 / 4.0), "{h:?}");

    s.length_penalty = 0.0; // raw sums
    let (h, _) = run(short, &s);
    assert_eq!(tokens(&h), [vec![0, 2], vec![0, 3, 2]]);
    assert!(close(h[0].score, ln5) && close(h[1].score, ln27), "{h:?}");

    s.num_return_sequences = 1;
    assert_eq!(run(short, &s).0.len(), 1);
}

#[test]
fn min_length_bans_eos_until_reached() {
    let mut s = settings(2, 10);
    s.min_length = 3; // counts the start token: eos allowed from the 3rd position on
    let (h, _) = run(short, &s);
    assert_eq!(tokens(&h), [vec![0, 4, 5, 2], vec![0, 3, 5, 2]]);
    let want = [(0.2f64 * 0.4 * 0.9).ln() / 3.0, (0.3f64 * 0.1 * 0.9).ln() / 3.0];
    assert!(close(h[0].score, want[0]) && close(h[1].score, want[1]), "{h:?}");
}

/// Always wants to repeat token 3.
fn repetitive(_: &[u32], g: &[u32]) -> Vec<(u32, f64)> {
    if g.len() >= 5 { vec![(EOS, 0.5), (3, 0.3), (4, 0.2)] } else { vec![(3, 0.6), (4, 0.25), (5, 0.1), (EOS, 0.05)] }
}

#[test]
fn no_repeat_ngram_size_is_enforced() {
    let mut s = settings(3, 8);
    let (h, _) = run(repetitive, &s);
    assert_eq!(h[0].tokens[..4], [0, 3, 3, 3], "without the processor it repeats");
    for n in [1usize, 2, 3] {
        s.no_repeat_ngram_size = n;
        let (h, _) = run(repetitive, &s);
        for hyp in &h {
            let t = &hyp.tokens;
            let grams: Vec<&[u32]> = t.windows(n).collect();
            for (i, g) in grams.iter().enumerate() {
                assert!(!grams[..i].contains(g), "n={n}: {t:?} repeats {g:?}");
            }
        }
    }
}

#[test]
fn forced_bos_and_forced_eos() {
    let mut s = settings(2, 10);
    s.forced_bos_token_id = Some(6); // unlikely under the model, forced anyway at no cost
    let (h, _) = run(short, &s);
    assert!(h.iter().all(|h| h.tokens[1] == 6), "{h:?}");
    // After [6] the table's default applies: eos 0.9, so [6, eos] = (0 + ln 0.9) / 2.
    assert_eq!(h[0].tokens, [0, 6, 2]);
    assert!(close(h[0].score, 0.9f64.ln() / 2.0), "{h:?}");

    let mut s = settings(2, 5);
    s.forced_eos_token_id = Some(vec![EOS]);
    let (h, steps) = run(repetitive, &s);
    assert_eq!(steps, 4);
    for hyp in &h {
        assert_eq!(hyp.tokens.len(), 5, "{hyp:?}");
        assert_eq!(hyp.tokens.last(), Some(&EOS));
    }
    // [3, 3, 3, eos]: the forced eos adds nothing; 4 generated tokens.
    assert_eq!(h[0].tokens, [0, 3, 3, 3, 2]);
    assert!(close(h[0].score, 3.0 * 0.6f64.ln() / 4.0), "{h:?}");
}

#[test]
fn unfinished_beams_are_returned_at_max_length_without_eos() {
    let s = settings(2, 4);
    let (h, steps) = run(repetitive, &s);
    assert_eq!(steps, 3);
    assert_eq!(h[0].tokens, [0, 3, 3, 3]);
    assert!(close(h[0].score, 3.0 * 0.6f64.ln() / 3.0), "{h:?}");
}

/// An early eos, and longer hypotheses that win under a length penalty of 2.
fn stopping(_: &[u32], g: &[u32]) -> Vec<(u32, f64)> {
    match g {
        [] => vec![(EOS, 0.6), (3, 0.3), (4, 0.1)],
        [3] => vec![(EOS, 0.7), (5, 0.3)],
        [4] => vec![(EOS, 0.4), (5, 0.6)],
        _ => vec![(EOS, 0.9), (6, 0.06), (7, 0.04)],
    }
}

#[test]
fn early_stopping_variants() {
    let mut s = settings(2, 8);
    s.length_penalty = 2.0;
    s.early_stopping = EarlyStopping::True;
    let (h, steps) = run(stopping, &s);
    assert_eq!(steps, 2, "true: stops with 2 finished hypotheses");
    assert_eq!(tokens(&h), [vec![0, 3, 2], vec![0, 2]]);

    s.early_stopping = EarlyStopping::False;
    let (h_false, steps_false) = run(stopping, &s);
    assert!(steps_false > 2, "false: a longer hypothesis could still win after step 2");
    assert!(h_false[0].score > h[0].score, "and one does: {h_false:?}");

    s.early_stopping = EarlyStopping::Never;
    let (h_never, steps_never) = run(stopping, &s);
    assert_eq!(steps_never, 7, "never with a positive penalty: bounded by max_length only");
    assert!(h_never[0].score >= h_false[0].score);
    for h in [&h_false, &h_never] {
        assert!(h.windows(2).all(|w| w[0].score >= w[1].score), "best first: {h:?}");
    }

    // With a negative penalty "never" uses the current length, like false.
    s.length_penalty = -1.0;
    s.early_stopping = EarlyStopping::False;
    let a = run(stopping, &s);
    s.early_stopping = EarlyStopping::Never;
    assert_eq!(run(stopping, &s), a);
}

/// Query 7 finishes at once; query 8 takes longer. Batched equals one at a time.
fn per_query(q: &[u32], g: &[u32]) -> Vec<(u32, f64)> {
    if q == [7] { short(q, g) } else { stopping(q, g) }
}

#[test]
fn batches_equal_single_queries_and_finished_queries_leave_the_batch() {
    let mut s = settings(3, 9);
    s.length_penalty = 2.0;
    s.early_stopping = EarlyStopping::False;
    let queries = vec![vec![7], vec![8], vec![7], vec![8]];
    let mut toy = Toy::new(per_query);
    let batched = beam_search(&mut toy, &queries, &s).expect("batch");
    for (i, q) in queries.iter().enumerate() {
        let mut one = Toy::new(per_query);
        let single = beam_search(&mut one, std::slice::from_ref(q), &s).expect("single");
        assert_eq!(batched[i], single[0], "query {i}");
    }
    assert!(beam_search(&mut toy, &[], &s).expect("empty batch").is_empty());
}

#[test]
fn model_errors_and_bad_logits_are_errors_not_panics() {
    fn nan(_: &[u32], _: &[u32]) -> Vec<(u32, f64)> {
        vec![(3, f64::NAN)]
    }
    let e = beam_search(&mut Toy::new(nan), &[vec![7]], &settings(2, 5)).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    for bad in [settings(1, 5), settings(2, 1), GenerationSettings { num_return_sequences: 3, ..settings(2, 5) }] {
        let e = beam_search(&mut Toy::new(short), &[vec![7]], &bad).unwrap_err();
        assert!(matches!(e, CometError::Settings(_)), "{e}");
    }
    let mut s = settings(2, 5);
    s.forced_bos_token_id = Some(99);
    let e = beam_search(&mut Toy::new(short), &[vec![7]], &s).unwrap_err();
    assert!(e.to_string().contains("outside"), "{e}");
}
