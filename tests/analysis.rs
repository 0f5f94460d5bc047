//! The analysis stage end to end: associated words of a demo-trained model, their statistics,
//! the Figure 3/4 curves and figures, on the synthetic demo lexicon and on the real NRC
//! lexicons (../shared/data/lexicons).

mod common;

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use common::demo::ANALYSIS;
use common::{Ws, rows, shared_data, strs, table, u32s};

fn f64s(t: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let c = t.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    let c = c.as_primitive::<Float64Type>();
    (0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))).collect()
}

/// The checks every analysis artifact must pass; returns the word → intensity map.
fn check_artifact(ws: &Ws, show: &[&str]) -> HashMap<String, f64> {
    let m = ws.json(show);
    let stats = &m["stats"];
    let selections = stats["selections"].as_u64().unwrap();
    let distinct = stats["associated_words"].as_u64().unwrap();
    assert!(selections > 0 && distinct > 0, "{stats}");
    assert_eq!(stats["paper_associated_words"], 8012);
    assert_eq!(rows(&m, "associations"), selections);
    assert_eq!(rows(&m, "word_stats"), distinct);

    // every selection is the token at its position in its example's situation ⊕ utterances
    let tok = ws.json(&["show", "tokenize", "--json"]);
    let test = table(&tok, "examples_test");
    let ids = u32s(&test, "example_id");
    let sit = test.column_by_name("situation_ids").unwrap().as_list::<i32>();
    let ctx = test.column_by_name("context_ids").unwrap().as_list::<i32>();
    let mut text: HashMap<u32, Vec<u32>> = HashMap::new();
    for (row, id) in ids.iter().enumerate() {
        let mut flat = sit.value(row).as_primitive::<UInt32Type>().values().to_vec();
        let utts = ctx.value(row);
        let utts = utts.as_list::<i32>();
        for u in 0..utts.len() {
            flat.extend(utts.value(u).as_primitive::<UInt32Type>().values());
        }
        text.insert(*id, flat);
    }
    let assoc = table(&m, "associations");
    let (ex, pos, tid) = (u32s(&assoc, "example_id"), u32s(&assoc, "position"), u32s(&assoc, "token_id"));
    for i in 0..assoc.num_rows() {
        assert_eq!(text[&ex[i]][pos[i] as usize], tid[i], "row {i}");
        assert!(tid[i] >= 7, "special token selected at row {i}");
    }
    let weights = assoc.column_by_name("weight").unwrap().as_primitive::<Float32Type>();
    assert!(weights.values().iter().all(|w| (0.0..=1.0).contains(w)));
    let pairs = strs(&assoc, "pair");
    for p in ["situation", "history", "memory"] {
        assert!(pairs.iter().any(|x| x == p), "no {p} selections");
    }
    let dirs = strs(&assoc, "direction");
    assert!(dirs.iter().all(|d| ["s2u", "u2s", "h2u", "u2h", "m2u", "u2m"].contains(&d.as_str())));
    assert!(strs(&assoc, "source").iter().all(|s| s == "explicit"));

    let ws_t = table(&m, "word_stats");
    let counts = u32s(&ws_t, "count");
    assert_eq!(counts.iter().map(|&c| c as u64).sum::<u64>(), selections);
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "sorted by count");
    let words = strs(&ws_t, "word");
    let intensity = f64s(&ws_t, "intensity");
    assert!(intensity.iter().all(|v| v.is_some_and(|v| (0.0..=1.0).contains(&v))), "missing words count as 0");
    assert!(f64s(&ws_t, "idf").iter().all(|v| v.unwrap() >= 0.0));
    let in_lex = ws_t.column_by_name("in_lexicon").unwrap().as_boolean();
    assert!(in_lex.true_count() > 0, "some associated words are in the lexicon");

    // curves: k runs 1..=words for each ranking; at k = all words both end at the
    // associated-words mean, which is the mean of word_stats
    let c = table(&m, "curves");
    let k = u32s(&c, "k");
    let ranking = strs(&c, "ranking");
    assert_eq!(c.num_rows() as u64, 2 * distinct);
    let mi = f64s(&c, "mean_intensity");
    let md = f64s(&c, "mean_idf");
    let mean = |v: &[Option<f64>]| v.iter().map(|x| x.unwrap()).sum::<f64>() / v.len() as f64;
    let (all_i, all_d) = (mean(&intensity), mean(&f64s(&ws_t, "idf")));
    for r in ["count", "weight"] {
        let last = (0..c.num_rows()).filter(|&i| ranking[i] == r).max_by_key(|&i| k[i]).unwrap();
        assert_eq!(k[last] as u64, distinct);
        assert!((mi[last].unwrap() - all_i).abs() < 1e-9, "{r}: {:?} vs {all_i}", mi[last]);
        assert!((md[last].unwrap() - all_d).abs() < 1e-9);
        assert!((f64s(&c, "assoc_words_intensity")[last].unwrap() - all_i).abs() < 1e-9);
    }
    let gray = f64s(&c, "all_words_intensity")[0].unwrap();
    assert!((0.0..=1.0).contains(&gray));
    assert_eq!(stats["all_test_words"]["intensity"].as_f64().unwrap(), gray);

    let dir = std::path::Path::new(m["dir"].as_str().unwrap());
    for f in ["fig3_intensity.svg", "fig3_intensity.png", "fig4_idf.svg", "fig4_idf.png", "word_stats.csv", "curves.csv"] {
        assert!(std::fs::metadata(dir.join(f)).map(|m| m.len() > 100).unwrap_or(false), "{f}");
    }
    assert!(std::fs::read_to_string(dir.join("fig3_intensity.svg")).unwrap().contains("ranked by attention count"));
    let csv = std::fs::read_to_string(dir.join("word_stats.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, distinct + 1);
    let section = std::fs::read_to_string(dir.join("report_section.md")).unwrap();
    assert!(section.contains(&format!("{selections} selections of {distinct} distinct words")), "{section}");
    assert!(section.contains("8012") && section.contains("Ours:"), "{section}");
    words.into_iter().zip(intensity).map(|(w, i)| (w, i.unwrap())).collect()
}

/// Test oracle for the NRC Emotion Intensity layout: word → highest score.
fn nrc_max(path: &std::path::Path) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let v: f64 = f[2].parse().unwrap();
        let e = out.entry(f[0].to_string()).or_insert(v);
        *e = e.max(v);
    }
    out
}

/// Test oracle for KEMP: ||(V - 1/2, A/2)|| min-max normalised over the file.
fn kemp_oracle(path: &std::path::Path) -> HashMap<String, f64> {
    let norms: Vec<(String, f64)> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let (v, a): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            (f[0].to_string(), ((v - 0.5).powi(2) + (a / 2.0).powi(2)).sqrt())
        })
        .collect();
    let min = norms.iter().map(|n| n.1).fold(f64::INFINITY, f64::min);
    let max = norms.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
    norms.into_iter().map(|(w, n)| (w, (n - min) / (max - min))).collect()
}

/// Every associated word has the lexicon's intensity, or 0 when the lexicon lacks it.
fn check_intensities(got: &HashMap<String, f64>, lexicon: &HashMap<String, f64>) {
    let mut found = 0;
    for (w, v) in got {
        let want = lexicon.get(w).copied().unwrap_or(0.0);
        found += usize::from(lexicon.contains_key(w));
        assert!((v - want).abs() < 1e-12, "{w}: {v} vs {want}");
    }
    assert!(found > 0);
}

#[test]
fn demo_analysis_on_the_synthetic_lexicon() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", ANALYSIS]);
    assert!(out.contains(&format!("ran     {ANALYSIS}")), "{out}");
    let demo = check_artifact(&ws, &["show", ANALYSIS, "--json"]);
    check_intensities(&demo, &nrc_max(&ws.path("demo/lexicons/demo-emotion-intensity.txt")));
    // cached on a second run
    assert!(ws.ok(&["run", ANALYSIS]).contains(&format!("cached  {ANALYSIS}")));

    // a malformed lexicon line is an error naming file and line, and nothing is published
    std::fs::write(ws.path("bad.txt"), "word\temotion\temotion-intensity-score\nhappy\tjoy\t0.5\nsad\tsadness\n").unwrap();
    let err = ws.fails(&["run", ANALYSIS, "-p", "analysis.lexicon=bad.txt"]);
    assert!(err.contains("bad.txt:3: expected 3 tab-separated fields"), "{err}");
    assert_eq!(ws.artifacts(ANALYSIS).len(), 1);
}

#[test]
fn demo_model_on_the_real_nrc_lexicons() {
    let lex = shared_data().join("lexicons");
    let ws = Ws::demo();
    let intensity = format!("analysis.lexicon={}", lex.join("NRC-Emotion-Intensity-Lexicon-v1.txt").display());
    ws.ok(&["run", ANALYSIS, "-p", &intensity]);
    let nrc = check_artifact(&ws, &["show", ANALYSIS, "--json", "-p", &intensity]);
    check_intensities(&nrc, &nrc_max(&lex.join("NRC-Emotion-Intensity-Lexicon-v1.txt")));

    let vad = format!("analysis.lexicon={}", lex.join("NRC-VAD-Lexicon.txt").display());
    let args = ["-p", &vad, "-p", "analysis.lexicon_format=nrc_vad_kemp", "-p", "analysis.idf_corpus=train"];
    ws.ok(&[&["run", ANALYSIS][..], &args].concat());
    let kemp = check_artifact(&ws, &[&["show", ANALYSIS, "--json"][..], &args].concat());
    assert_eq!(ws.artifacts(ANALYSIS).len(), 2);
    // same model, same selections; other intensities
    check_intensities(&kemp, &kemp_oracle(&lex.join("NRC-VAD-Lexicon.txt")));
    assert_eq!(nrc.len(), kemp.len());
    assert_ne!(nrc, kemp);
    let m = ws.json(&[&["show", ANALYSIS, "--json"][..], &args].concat());
    assert_eq!(m["stats"]["idf_corpus"], "train");
    assert!(m["stats"]["idf_documents"].as_u64().unwrap() == 64, "{}", m["stats"]);
}
