//! Paired significance tests between IAMM (the `full` variant) and each other system, per
//! Table 1 metric, with `iamm-stats`: seed-averaged where the systems have several runs, run
//! `r` of one paired with the run of the same seed of the other.
//!
//! Which IAMM: an ablation is tested against the IAMM system configured like it but for the
//! variant (the only one, usually). Where IAMM is several systems (greedy and beam decoding of
//! the same models, say), each but the first is also tested against the first: the one whose
//! run comes first among the report's deps.

use std::collections::{BTreeSet, HashMap};

use iamm_stats::paired::{Outcome, TestOptions, accuracy_test, distinct_test, perplexity_test};
use rayon::prelude::*;

use crate::responses::Outputs;
use crate::systems::System;
use crate::Run;

/// The metrics tested, as named in the `metrics` table.
pub const TESTED: [&str; 4] = ["acc", "ppl", "dist1", "dist2"];

/// The variant every other system is tested against: IAMM itself, first of the variants.
pub const REFERENCE: &str = iamm_core::VARIANTS[0];

/// Two systems to test and the runs that pair up.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairing {
    /// Indices of the systems: A is IAMM.
    pub a: usize,
    pub b: usize,
    /// Run `i` of A is paired with run `i` of B (indices into the runs).
    pub runs_a: Vec<usize>,
    pub runs_b: Vec<usize>,
    /// How the runs were paired when not all by seed.
    pub note: Option<String>,
}

/// The pairings of `systems`, and a note for each system that has no IAMM system to be
/// tested against.
pub fn pairings(runs: &[Run], systems: &[System]) -> (Vec<Pairing>, Vec<String>) {
    let reference: Vec<usize> = (0..systems.len()).filter(|&i| systems[i].variant == REFERENCE).collect();
    let primary = reference.iter().copied().min_by_key(|&i| systems[i].first);
    let (mut out, mut notes) = (Vec::new(), Vec::new());
    for (b, sys) in systems.iter().enumerate() {
        if sys.variant == REFERENCE {
            if let Some(a) = primary.filter(|&a| a != b) {
                let (runs_a, runs_b, note) = pair_runs(runs, &systems[a], sys);
                out.push(Pairing { a, b, runs_a, runs_b, note });
            }
            continue;
        }
        let a = match reference.as_slice() {
            [] => {
                notes.push(format!("{} is not tested: there is no IAMM (`{REFERENCE}`) system", sys.label));
                continue;
            }
            [one] => *one,
            many => {
                // Several IAMM systems: the one configured like this system but for the variant.
                let like = |s: &System| {
                    let mut c = s.config.clone();
                    c.remove("train.variant");
                    c
                };
                match many.iter().find(|&&a| like(&systems[a]) == like(sys)) {
                    Some(&a) => a,
                    None => {
                        notes.push(format!(
                            "{} is not tested: of the IAMM systems ({}), none is configured like it but for the variant",
                            sys.label,
                            many.iter().map(|&a| systems[a].label.as_str()).collect::<Vec<_>>().join("; ")
                        ));
                        continue;
                    }
                }
            }
        };
        let (runs_a, runs_b, note) = pair_runs(runs, &systems[a], sys);
        out.push(Pairing { a, b, runs_a, runs_b, note });
    }
    (out, notes)
}

/// Pairs the runs of A and B by seed. Where the seeds differ, the common seeds; where none is
/// common (or a run has no seed, or a seed repeats), the runs in seed order, as many as the
/// smaller system has: the test then treats the seeds as interchangeable.
fn pair_runs(runs: &[Run], a: &System, b: &System) -> (Vec<usize>, Vec<usize>, Option<String>) {
    let seeds = |s: &System| -> Option<Vec<i64>> {
        let seeds: Option<Vec<i64>> = s.seeds(runs).into_iter().collect();
        seeds.filter(|v| v.iter().collect::<BTreeSet<_>>().len() == v.len())
    };
    let list = |s: &System| s.describe_seeds(runs);
    let in_order = |why: String| {
        let k = a.runs.len().min(b.runs.len());
        (a.runs[..k].to_vec(), b.runs[..k].to_vec(), Some(format!("{why}: runs paired in seed order ({k} of each)")))
    };
    let (Some(sa), Some(sb)) = (seeds(a), seeds(b)) else {
        return in_order(format!("runs without a seed or with a repeated one ({}: {}; {}: {})", a.label, list(a), b.label, list(b)));
    };
    let common: Vec<i64> = sa.iter().copied().filter(|s| sb.contains(s)).collect();
    if common.is_empty() {
        return in_order(format!("no seed in common ({}: {}; {}: {})", a.label, list(a), b.label, list(b)));
    }
    let pick = |s: &System, seeds: &[i64]| -> Vec<usize> {
        common.iter().map(|c| s.runs[seeds.iter().position(|x| x == c).expect("a common seed")]).collect()
    };
    let note = (sa.len() != common.len() || sb.len() != common.len()).then(|| {
        let common: Vec<String> = common.iter().map(i64::to_string).collect();
        format!("seeds differ ({}: {}; {}: {}): tested on the common seeds {}", a.label, list(a), b.label, list(b), common.join(", "))
    });
    (pick(a, &sa), pick(b, &sb), note)
}

/// One test: system A (IAMM) against B on one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub system_a: String,
    pub system_b: String,
    pub metric: &'static str,
    /// The test's: each system's metric (the mean over its paired runs) and their difference in
    /// the `metrics` table's units (Acc a fraction, Dist-n x100), the two-sided p-value.
    pub outcome: Outcome,
    pub stages_a: Vec<String>,
    pub keys_a: Vec<String>,
    pub seeds_a: Vec<Option<i64>>,
    pub stages_b: Vec<String>,
    pub keys_b: Vec<String>,
    pub seeds_b: Vec<Option<i64>>,
    pub note: Option<String>,
}

impl Comparison {
    /// B − A, as `report --compare` prints it (the outcome's `difference` is A − B).
    pub fn difference(&self) -> f64 {
        self.outcome.b - self.outcome.a
    }

    /// The number of runs of each system (paired).
    pub fn runs(&self) -> usize {
        self.keys_a.len()
    }
}

/// Runs every test of every pairing, in parallel; `outputs` holds each paired run's outputs
/// by artifact key. Checks first that both systems' runs cover the same test examples in the
/// same order and batches.
pub fn test_all(
    runs: &[Run],
    systems: &[System],
    pairings: &[Pairing],
    outputs: &HashMap<String, Outputs>,
    opts: &TestOptions,
) -> Result<Vec<Comparison>, String> {
    let out = |r: usize| outputs.get(&runs[r].key).ok_or_else(|| format!("no responses read for `{}`", runs[r].stage));
    for p in pairings {
        let first = p.runs_a[0];
        let reference = out(first)?;
        for &r in p.runs_a.iter().chain(&p.runs_b) {
            check_aligned(&runs[first], reference, &runs[r], out(r)?)?;
        }
    }
    let jobs: Vec<(&Pairing, &'static str)> = pairings.iter().flat_map(|p| TESTED.iter().map(move |m| (p, *m))).collect();
    jobs.par_iter()
        .map(|&(p, metric)| {
            let (sa, sb) = (&systems[p.a], &systems[p.b]);
            let side = |rs: &[usize]| -> Vec<&Outputs> { rs.iter().map(|&r| &outputs[&runs[r].key]).collect() };
            let (a, b) = (side(&p.runs_a), side(&p.runs_b));
            let outcome = run_test(metric, &a, &b, opts).map_err(|e| format!("{} vs {}, {metric}: {e}", sb.label, sa.label))?;
            let scale = if metric.starts_with("dist") { 100.0 } else { 1.0 };
            let ids = |rs: &[usize], f: fn(&Run) -> String| rs.iter().map(|&r| f(&runs[r])).collect::<Vec<_>>();
            Ok(Comparison {
                system_a: sa.label.clone(),
                system_b: sb.label.clone(),
                metric,
                outcome: Outcome { a: outcome.a * scale, b: outcome.b * scale, difference: outcome.difference * scale, ..outcome },
                stages_a: ids(&p.runs_a, |r| r.stage.clone()),
                keys_a: ids(&p.runs_a, |r| r.key.clone()),
                seeds_a: p.runs_a.iter().map(|&r| runs[r].seed).collect(),
                stages_b: ids(&p.runs_b, |r| r.stage.clone()),
                keys_b: ids(&p.runs_b, |r| r.key.clone()),
                seeds_b: p.runs_b.iter().map(|&r| runs[r].seed).collect(),
                note: p.note.clone(),
            })
        })
        .collect()
}

fn run_test(metric: &str, a: &[&Outputs], b: &[&Outputs], opts: &TestOptions) -> Result<Outcome, String> {
    let e = |e: iamm_stats::paired::PairedError| e.to_string();
    match metric {
        "acc" => {
            let correct = |s: &[&Outputs]| s.iter().map(|o| o.correct.clone()).collect::<Vec<_>>();
            accuracy_test(&correct(a), &correct(b), &a[0].batch, opts).map_err(e)
        }
        "ppl" => {
            let nll = |s: &[&Outputs]| s.iter().map(|o| o.nll_mean.clone()).collect::<Vec<_>>();
            perplexity_test(&nll(a), &nll(b), opts).map_err(e)
        }
        "dist1" | "dist2" => {
            let n = if metric == "dist1" { 1 } else { 2 };
            distinct_test(&words(a), &words(b), n, opts).map_err(e)
        }
        other => Err(format!("no test for metric `{other}`")),
    }
}

/// Each run's responses as token slices (the tokens are not copied).
fn words<'a>(runs: &[&'a Outputs]) -> Vec<Vec<Vec<&'a str>>> {
    runs.iter().map(|o| o.tokens.iter().map(|t| t.iter().map(String::as_str).collect()).collect()).collect()
}

/// Whether `run` answered the same test examples, in the same order and batches, as `first`.
fn check_aligned(first: &Run, a: &Outputs, run: &Run, b: &Outputs) -> Result<(), String> {
    let what = |r: &Run| format!("`{}` (artifact {})", r.stage, r.key);
    let fix = "a paired test compares two systems on the same test examples: evaluate both on the same test set \
               (tokenize artifact) with the same `batch_size`, or set the report's `significance: none`";
    if a.example_ids != b.example_ids {
        let at = a.example_ids.iter().zip(&b.example_ids).position(|(x, y)| x != y);
        let detail = match at {
            Some(i) => format!("row {i} is example {} in one and {} in the other", a.example_ids[i], b.example_ids[i]),
            None => format!("{} vs {} examples", a.example_ids.len(), b.example_ids.len()),
        };
        return Err(format!("the responses of {} and {} are not the same test examples ({detail}); {fix}", what(first), what(run)));
    }
    if a.batch != b.batch {
        return Err(format!("the responses of {} and {} were scored in different test batches; {fix}", what(first), what(run)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamm_stats::paired::Method;
    use crate::systems::{systems, tests::run};

    fn outputs(n: usize, right_every: usize, nll: f64, word: &str) -> Outputs {
        Outputs {
            example_ids: (0..n as u32).collect(),
            correct: (0..n).map(|i| i % right_every == 0).collect(),
            nll_mean: (0..n).map(|i| nll + (i % 5) as f64 * 0.1).collect(),
            batch: (0..n as u32).map(|i| i / 48).collect(),
            tokens: (0..n).map(|i| vec![word.to_string(), format!("w{}", i % 7)]).collect(),
        }
    }

    #[test]
    fn ablations_pair_with_iamm_by_seed() {
        let runs = vec![
            run("full1", "full", Some(1), "greedy", 0.1),
            run("full2", "full", Some(2), "greedy", 0.2),
            run("ea2", "wo_ea", Some(2), "greedy", 0.3),
            run("ea1", "wo_ea", Some(1), "greedy", 0.3),
            run("ia1", "wo_ia", Some(1), "greedy", 0.3),
            run("ia3", "wo_ia", Some(3), "greedy", 0.3),
            run("ws7", "wo_ws", Some(7), "greedy", 0.3),
        ];
        let s = systems(&runs);
        let (p, notes) = pairings(&runs, &s);
        assert!(notes.is_empty());
        let stages = |rs: &[usize]| rs.iter().map(|&r| runs[r].stage.as_str()).collect::<Vec<_>>();
        assert_eq!((stages(&p[0].runs_a), stages(&p[0].runs_b), &p[0].note), (vec!["full1", "full2"], vec!["ea1", "ea2"], &None));
        assert_eq!((stages(&p[1].runs_a), stages(&p[1].runs_b)), (vec!["full1"], vec!["ia1"]));
        assert_eq!(p[1].note.as_deref(), Some("seeds differ (IAMM: seeds 1, 2; w/o IA: seeds 1, 3): tested on the common seeds 1"));
        assert_eq!((stages(&p[2].runs_a), stages(&p[2].runs_b)), (vec!["full1"], vec!["ws7"]));
        assert!(p[2].note.as_deref().unwrap().starts_with("no seed in common (IAMM: seeds 1, 2; w/o WS: seed 7): runs paired in seed order (1 of each)"));

        // Without an IAMM system nothing is tested; with two, each ablation meets its like.
        let (p, notes) = pairings(&runs[2..4], &systems(&runs[2..4]));
        assert!(p.is_empty() && notes[0].contains("no IAMM (`full`) system"), "{notes:?}");
        let two = vec![
            run("full", "full", Some(1), "greedy", 0.1),
            run("full_beam", "full", Some(1), "beam", 0.1),
            run("ea_beam", "wo_ea", Some(1), "beam", 0.1),
            run("ia_sample", "wo_ia", Some(1), "sample", 0.1),
        ];
        let s = systems(&two);
        let (p, notes) = pairings(&two, &s);
        let pair = |p: &Pairing| (two[p.runs_a[0]].stage.as_str(), two[p.runs_b[0]].stage.as_str());
        // The second IAMM system against the first among the runs given, whatever the labels' order.
        assert_eq!(s[0].label, "IAMM (evaluate.decoding=beam)");
        assert_eq!(p.iter().map(pair).collect::<Vec<_>>(), [("full", "full_beam"), ("full_beam", "ea_beam")]);
        assert!(notes[0].starts_with("w/o IA is not tested: of the IAMM systems"), "{notes:?}");
    }

    #[test]
    fn tests_run_on_aligned_outputs_and_refuse_others() {
        let runs = vec![run("full", "full", Some(1), "greedy", 0.1), run("ea", "wo_ea", Some(1), "greedy", 0.1)];
        let s = systems(&runs);
        let (p, _) = pairings(&runs, &s);
        let opts = TestOptions { method: Method::Randomization, resamples: 99, seed: 3 };
        let mut outs: HashMap<String, Outputs> =
            [("key-full".to_string(), outputs(100, 2, 2.0, "yes")), ("key-ea".to_string(), outputs(100, 5, 2.5, "no"))].into();
        let c = test_all(&runs, &s, &p, &outs, &opts).unwrap();
        assert_eq!(c.iter().map(|c| c.metric).collect::<Vec<_>>(), TESTED);
        for x in &c {
            assert!(x.outcome.p >= 1.0 / 100.0 && x.outcome.p <= 1.0, "{x:?}");
            assert!((x.difference() + x.outcome.difference).abs() < 1e-12);
            assert_eq!((x.runs(), x.system_a.as_str(), x.system_b.as_str()), (1, "IAMM", "w/o EA"));
        }
        // The same numbers as the statistics crate's, Dist-n x100.
        let direct = distinct_test(&[outs["key-full"].tokens.clone()], &[outs["key-ea"].tokens.clone()], 2, &opts).unwrap();
        assert_eq!((c[3].outcome.a, c[3].outcome.p), (direct.a * 100.0, direct.p));
        assert_eq!(test_all(&runs, &s, &p, &outs, &opts).unwrap(), c, "seeded");

        outs.get_mut("key-ea").unwrap().example_ids[5] = 99;
        let e = test_all(&runs, &s, &p, &outs, &opts).unwrap_err();
        assert!(e.starts_with("the responses of `full` (artifact key-full) and `ea` (artifact key-ea) are not the same test examples (row 5 is example 5 in one and 99 in the other)"), "{e}");
        assert!(e.contains("significance: none"), "{e}");
        outs.insert("key-ea".into(), outputs(90, 5, 2.5, "no"));
        assert!(test_all(&runs, &s, &p, &outs, &opts).unwrap_err().contains("(100 vs 90 examples)"));
    }
}
