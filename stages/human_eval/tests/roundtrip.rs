//! Export -> fill programmatically (CSV and XLSX) -> score, on synthetic responses tables.

use std::collections::HashMap;
use std::path::Path;

use iamm_human_eval::*;
use iamm_tables::responses::Response;

const WORDS: [&str; 12] = ["we", "went", "to", "the", "lake", "and", "it", "was", "lovely", "sad", "storm", "dog"];

/// A system's `responses` rows for `n` examples (ids 100..). Examples whose id is divisible
/// by 7 get the same response from both systems.
fn responses(n: u32, system: &str) -> Vec<Response> {
    (0..n)
        .map(|i| {
            let id = 100 + i;
            let turns = 1 + (i % 3) as usize;
            let reference: Vec<&str> = (0..6).map(|k| WORDS[(id as usize * 5 + k * 3) % WORDS.len()]).collect();
            Response {
                example_id: id,
                conv_id: format!("hit:{i}_conv:{i}"),
                context: (0..turns).map(|t| format!("utterance {t} of dialogue {id} , i ca n't believe it !")).collect(),
                context_roles: (0..turns).map(|t| if t.is_multiple_of(2) { "speaker" } else { "listener" }.to_string()).collect(),
                situation: "a situation".into(),
                reference: reference.join(" "),
                generated: if id.is_multiple_of(7) {
                    format!("that is great for dialogue {id} .")
                } else {
                    format!("{system} says something about {id} .")
                },
                gold: 25,
                predicted: 6,
                ..Response::default()
            }
        })
        .collect()
}

fn options(sample: usize, identical: Identical, checks: usize) -> ExportOptions {
    ExportOptions {
        proposed: "modelP".into(),
        baseline: "modelB".into(),
        seed: 7,
        sample,
        annotators: 3,
        identical,
        attention_checks: checks,
    }
}

fn make(n: u32, opts: &ExportOptions) -> Export {
    let (p, b) = (responses(n, "alpha"), responses(n, "beta"));
    export(&p, &b, opts).unwrap()
}

/// The planted outcome of annotator `k` for a pair, by example id and aspect.
fn planted(example_id: u32, aspect: usize, annotator: usize) -> Outcome {
    // Annotator 3 disagrees on fluency for even ids: kappa < 1 there.
    let base = match (example_id as usize + aspect) % 3 {
        0 => Outcome::Win,
        1 => Outcome::Lose,
        _ => Outcome::Tie,
    };
    if annotator == 3 && aspect == 2 && example_id.is_multiple_of(2) {
        match base {
            Outcome::Win => Outcome::Lose,
            Outcome::Lose => Outcome::Tie,
            Outcome::Tie => Outcome::Win,
        }
    } else {
        base
    }
}

fn blind(row: &KeyRow, o: Outcome) -> &'static str {
    match (o, row.a_is.as_str()) {
        (Outcome::Tie, _) => "Tie",
        (Outcome::Win, "proposed") | (Outcome::Lose, "baseline") => "A",
        _ => "B",
    }
}

/// Fills annotator `k`'s exported sheet from `src` into `dst` with the planted answers
/// (attention checks right, except annotator 2's first check on empathy).
fn fill(key: &Key, src: &Path, dst: &Path, k: usize) {
    let first_check = key.rows.iter().find(|r| r.kind == ItemKind::AttentionCheck).map(|r| r.item_id.clone());
    fill_sheet(src, dst, |id| {
        let row = key.get(id).expect("exported id in key");
        std::array::from_fn(|j| match row.kind {
            ItemKind::AttentionCheck => {
                let right = row.expected.unwrap();
                let wrong = if right == Answer::A { Answer::B } else { Answer::A };
                // Case variants are accepted.
                let a = if k == 2 && j == 0 && first_check.as_deref() == Some(id) { wrong } else { right };
                a.as_str().to_lowercase()
            }
            _ => blind(row, planted(row.example_id, j, k)).to_string(),
        })
    })
    .unwrap();
}

#[test]
fn round_trip_gives_the_planted_percentages() {
    let opts = options(30, Identical::Tie, 3);
    let ex = make(60, &opts);
    let out = tempfile::tempdir().unwrap();
    let written = write_export(out.path(), &ex).unwrap();
    assert_eq!(written.len(), 1 + 3 * 2 + 1, "{written:?}");
    let key = Key::read_csv(&out.path().join("key.csv")).unwrap();
    assert_eq!(key, ex.key().unwrap(), "key.csv reads back to the key");
    let from_table = Key::from_batch(&ex.key().unwrap().to_batch().unwrap(), "key table").unwrap();
    assert_eq!(from_table, key);

    // 30 sampled pairs; ids divisible by 7 among them are auto-ties; plus 3 checks.
    let pairs: Vec<&KeyRow> = key.rows.iter().filter(|r| r.kind == ItemKind::Pair).collect();
    let ties: Vec<&KeyRow> = key.rows.iter().filter(|r| r.kind == ItemKind::AutoTie).collect();
    assert_eq!(pairs.len() + ties.len(), 30);
    assert!(!ties.is_empty() && ties.iter().all(|r| r.example_id.is_multiple_of(7)));
    assert!(pairs.iter().all(|r| !r.example_id.is_multiple_of(7)));
    assert_eq!(key.rows.iter().filter(|r| r.kind == ItemKind::AttentionCheck).count(), 3);

    // Annotators 1 and 3 return CSV, annotator 2 XLSX (read back through calamine).
    let filled = tempfile::tempdir().unwrap();
    for k in 1..=3 {
        let ext = if k == 2 { "xlsx" } else { "csv" };
        let src = out.path().join(format!("sheets/annotator_{k}.{ext}"));
        fill(&key, &src, &filled.path().join(format!("annotator_{k}.{ext}")), k);
    }
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    assert_eq!(sheets.len(), 3);
    assert!(sheets.iter().all(|s| s.rows.len() == pairs.len() + 3));

    for aggregate in [Aggregate::Pooled, Aggregate::Majority] {
        let scores = score(&key, &sheets, aggregate).unwrap();
        for (j, a) in scores.aspects.iter().enumerate() {
            // Expected counts straight from the plan, independent of the scorer.
            let mut want = [0u64; 3];
            for r in &pairs {
                let votes: Vec<Outcome> = (1..=3).map(|k| planted(r.example_id, j, k)).collect();
                match aggregate {
                    Aggregate::Pooled => {
                        for o in votes {
                            want[o as usize] += 1;
                        }
                    }
                    Aggregate::Majority => {
                        let top = [Outcome::Win, Outcome::Lose]
                            .into_iter()
                            .find(|o| votes.iter().filter(|v| *v == o).count() >= 2)
                            .unwrap_or(Outcome::Tie);
                        want[top as usize] += 1;
                    }
                }
            }
            want[2] += ties.len() as u64 * if aggregate == Aggregate::Pooled { 3 } else { 1 };
            let all = want.iter().sum::<u64>() as f64;
            assert_eq!([a.win, a.lose, a.tie], want, "{aggregate:?} aspect {j}");
            assert!((a.win_pct - 100.0 * want[0] as f64 / all).abs() < 1e-9);
            assert!((a.lose_pct - 100.0 * want[1] as f64 / all).abs() < 1e-9);
            assert!((a.tie_pct - 100.0 * want[2] as f64 / all).abs() < 1e-9);
            assert!((a.p_value - stats::sign_test(want[0], want[1])).abs() < 1e-15);
        }
        // Full agreement on empathy and relevance; annotator 3 deviates on fluency.
        assert!((scores.aspects[0].kappa.unwrap() - 1.0).abs() < 1e-12);
        assert!((scores.aspects[1].kappa.unwrap() - 1.0).abs() < 1e-12);
        assert!(scores.aspects[2].kappa.unwrap() < 0.9);
        assert_eq!(scores.pairs, pairs.len());
        assert_eq!(scores.auto_ties, ties.len());
        let passed: Vec<usize> = scores.attention.iter().map(|a| a.passed).collect();
        assert_eq!(passed, [3, 2, 3]);
        assert_eq!(scores.attention[1].answers_right, 8);
    }

    // The fluency kappa by hand from the plan.
    let scores = score(&key, &sheets, Aggregate::Pooled).unwrap();
    let table: Vec<[u64; 3]> = pairs
        .iter()
        .map(|r| {
            let mut c = [0u64; 3];
            for k in 1..=3 {
                c[planted(r.example_id, 2, k) as usize] += 1;
            }
            c
        })
        .collect();
    assert!((scores.aspects[2].kappa.unwrap() - stats::fleiss_kappa(&table).unwrap()).abs() < 1e-12);

    let md = scores.table2_markdown();
    assert!(md.contains("| modelP vs. modelB | Emp. |"), "{md}");
    assert!(md.contains("| IAMM vs. SEEK | Rel. | 41.2 | 16.8 | 42.0† | 0.45 | – | paper |"), "{md}");
    let tex = scores.table2_latex();
    assert!(tex.contains("IAMM vs. ESCM & Emp. & 23.5 & 20.0 & 56.5$^\\dagger$ & 0.43"), "{tex}");
    let csv = scores.table2_csv();
    assert_eq!(csv.lines().count(), 1 + 3 + 6);
    assert!(csv.contains("paper,IAMM vs. ESCM,Flu.,18.0,16.8,65.2,true,0.43"), "{csv}");
}

#[test]
fn sheets_are_blind_and_shuffled_per_annotator() {
    let ex = make(60, &options(30, Identical::Tie, 2));
    let out = tempfile::tempdir().unwrap();
    write_export(out.path(), &ex).unwrap();
    let help = std::fs::read_to_string(out.path().join("sheets/INSTRUCTIONS.txt")).unwrap();
    assert!(help.contains("  empathy    whether the emotion in the response is appropriate\n"), "{help}");
    assert!(help.contains("  fluency    whether the language of the response is natural and fluent\n"), "{help}");
    let orders: Vec<Vec<String>> = ex.sheets.iter().map(|s| s.item_ids.clone()).collect();
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    let mut sorted = orders[0].clone();
    sorted.sort();
    let mut other = orders[2].clone();
    other.sort();
    assert_eq!(sorted, other, "every annotator rates the same items");
    for k in 1..=3 {
        let text = std::fs::read_to_string(out.path().join(format!("sheets/annotator_{k}.csv"))).unwrap();
        assert!(text.starts_with("\u{feff}item_id,context,response_a,response_b,empathy,relevance,fluency\n"));
        for banned in ["modelP", "modelB", "proposed", "baseline", "devastated", "grateful"] {
            assert!(!text.contains(banned), "annotator_{k}.csv contains {banned}");
        }
        assert!(text.contains("Speaker: utterance 0 of dialogue"), "speaker turns are labelled");
        assert!(text.contains("i can't believe it!"), "tokens are detokenized for reading");
    }
    // Ids are opaque: neither the sample order nor the example ids show through.
    let ids_by_example: Vec<String> = {
        let mut rows: Vec<_> = ex.items.iter().filter(|i| i.key.kind == ItemKind::Pair).collect();
        rows.sort_by_key(|i| i.key.example_id);
        rows.iter().map(|i| i.key.item_id.clone()).collect()
    };
    let mut sorted_ids = ids_by_example.clone();
    sorted_ids.sort();
    assert_ne!(ids_by_example, sorted_ids);
    for i in &ex.items {
        assert!(i.key.item_id.len() == 9 && i.key.item_id.starts_with('Q'), "{}", i.key.item_id);
    }
    // A/B sides are mixed.
    let a_prop = ex.items.iter().filter(|i| i.key.kind == ItemKind::Pair && i.key.a_is == "proposed").count();
    let all = ex.items.iter().filter(|i| i.key.kind == ItemKind::Pair).count();
    assert!(a_prop > all / 5 && a_prop < all * 4 / 5, "{a_prop} of {all}");
    // The pair's responses sit on the sides the key says.
    for i in ex.items.iter().filter(|i| i.key.kind == ItemKind::Pair) {
        let (a, b) = if i.key.a_is == "proposed" { ("alpha", "beta") } else { ("beta", "alpha") };
        assert!(i.response_a.starts_with(a) && i.response_b.starts_with(b), "{i:?}");
    }
}

#[test]
fn attention_checks_pair_a_reference_with_a_scrambled_one() {
    let ex = make(60, &options(20, Identical::Tie, 4));
    let checks: Vec<&Item> = ex.items.iter().filter(|i| i.key.kind == ItemKind::AttentionCheck).collect();
    assert_eq!(checks.len(), 4);
    let refs: HashMap<u32, String> = responses(60, "alpha")
        .into_iter()
        .map(|r| (r.example_id, readable(&r.reference)))
        .collect();
    let sampled: Vec<u32> = ex.items.iter().filter(|i| i.key.kind != ItemKind::AttentionCheck).map(|i| i.key.example_id).collect();
    for c in checks {
        let (gold, broken) =
            if c.key.expected == Some(Answer::A) { (&c.response_a, &c.response_b) } else { (&c.response_b, &c.response_a) };
        assert_eq!(gold, &refs[&c.key.example_id]);
        let donor = c.key.scrambled_from.unwrap();
        assert_ne!(donor, c.key.example_id);
        assert_ne!(broken, &refs[&donor], "scrambled");
        let mut x: Vec<&str> = broken.split(' ').collect();
        let mut y: Vec<&str> = refs[&donor].split(' ').collect();
        x.sort();
        y.sort();
        assert_eq!(x, y, "same words, other order");
        assert!(!sampled.contains(&c.key.example_id), "check contexts come from outside the sample");
    }
}

#[test]
fn export_is_seeded() {
    let a = make(60, &options(25, Identical::Tie, 2));
    let b = make(60, &options(25, Identical::Tie, 2));
    let ids = |e: &Export| e.items.iter().map(|i| (i.key.item_id.clone(), i.key.example_id, i.key.a_is.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.sheets[1].item_ids, b.sheets[1].item_ids);
    let c = make(60, &ExportOptions { seed: 8, ..options(25, Identical::Tie, 2) });
    assert_ne!(ids(&a), ids(&c));
    // The A side of an example does not depend on the sample size.
    let d = make(60, &options(60, Identical::Tie, 2));
    let side: HashMap<u32, String> = d.items.iter().filter(|i| i.key.kind == ItemKind::Pair).map(|i| (i.key.example_id, i.key.a_is.clone())).collect();
    for i in a.items.iter().filter(|i| i.key.kind == ItemKind::Pair) {
        assert_eq!(side[&i.key.example_id], i.key.a_is);
    }
    // XLSX and CSV files are byte-identical across runs.
    let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_export(x.path(), &a).unwrap();
    write_export(y.path(), &b).unwrap();
    for f in ["sheets/annotator_1.xlsx", "sheets/annotator_3.csv", "key.csv"] {
        assert_eq!(std::fs::read(x.path().join(f)).unwrap(), std::fs::read(y.path().join(f)).unwrap(), "{f}");
    }
}

#[test]
fn identical_responses_drop_or_tie() {
    let tie = make(60, &options(60, Identical::Tie, 0));
    assert_eq!(tie.identical_found, 8, "ids 100..160 divisible by 7: 105, 112, ..., 154");
    assert_eq!(tie.auto_ties, 8);
    assert_eq!(tie.sampled, 60);
    let drop = make(60, &options(100, Identical::Drop, 0));
    assert_eq!(drop.auto_ties, 0);
    assert_eq!(drop.sampled, 52, "all 52 non-identical pairs (the sample asks for more)");
    assert!(drop.items.iter().all(|i| !i.key.example_id.is_multiple_of(7)));
    assert!(drop.sheets[0].item_ids.len() == 52);
}

#[test]
fn bad_inputs_are_explained() {
    let p = responses(10, "alpha");
    let err = export(&p, &p[..0], &options(5, Identical::Tie, 0)).unwrap_err().to_string();
    assert!(err.contains("share no example_id"), "{err}");
    let mut q = p.clone();
    q[3].context[0] = "something else".into();
    let err = export(&p, &q, &options(5, Identical::Tie, 0)).unwrap_err().to_string();
    assert!(err.contains("example 103") && err.contains("different contexts"), "{err}");
    let err = export(&p, &p, &ExportOptions { baseline: "modelP".into(), ..options(5, Identical::Tie, 0) }).unwrap_err().to_string();
    assert!(err.contains("both `modelP`"), "{err}");
    let err = export(&p, &p[..1], &options(5, Identical::Tie, 3)).unwrap_err().to_string();
    assert!(err.contains("attention checks need"), "{err}");
}
