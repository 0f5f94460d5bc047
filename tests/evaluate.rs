//! The evaluate and report stages end to end on the demo: every Table 1 row, metrics that an
//! independent computation from the `responses` table reproduces, run comparisons, and clear
//! errors for bad input.

mod common;

use std::collections::{HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use common::demo::{self, EVALUATE};
use common::{Ws, rows, strs, table, u32s};
use iamm_text::{PunktParams, Tokenizer};

fn f64s(t: &RecordBatch, name: &str) -> Vec<f64> {
    t.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_primitive::<Float64Type>().values().to_vec()
}

fn metric(m: &RecordBatch, name: &str) -> f64 {
    let c = m.column_by_name(name).unwrap_or_else(|| panic!("no metric {name}"));
    match c.data_type() {
        arrow_schema::DataType::UInt32 => f64::from(c.as_primitive::<UInt32Type>().value(0)),
        _ => c.as_primitive::<Float64Type>().value(0),
    }
}

/// Dist-n written out as CEM's `calc_distinct_n`: a set of n-gram tuples and a counter.
fn dist(responses: &[Vec<String>], n: usize) -> f64 {
    let mut seen = HashSet::new();
    let mut total = 0usize;
    for r in responses {
        for i in 0..(r.len() + 1).saturating_sub(n) {
            seen.insert(r[i..i + n].to_vec());
            total += 1;
        }
    }
    seen.len() as f64 / (total as f64 + 1e-16) * 100.0
}

/// Python's `("Greedy:" + h + "\n").strip("Greedy:").strip("\n")`, char by char.
fn python_read_back(h: &str) -> String {
    let line: Vec<char> = format!("Greedy:{h}\n").chars().collect();
    let set: Vec<char> = "Greedy:".chars().collect();
    let (mut a, mut b) = (0, line.len());
    while a < b && set.contains(&line[a]) {
        a += 1;
    }
    while b > a && set.contains(&line[b - 1]) {
        b -= 1;
    }
    line[a..b].iter().collect::<String>().trim_matches('\n').to_string()
}

/// Recomputes Acc, PPL and Dist-n from a `responses` table and checks the `metrics` table.
fn check_metrics(ws: &Ws, stage: &str, extra: &[&str], quirk: bool) -> (RecordBatch, RecordBatch) {
    let mut args = vec!["show", stage, "--json"];
    args.extend_from_slice(extra);
    let m = ws.json(&args);
    assert!(m["files"]["confusion.png"].as_u64().unwrap() > 1000, "{m}");
    assert!(m["files"]["confusion.svg"].as_u64().unwrap() > 1000, "{m}");
    let (resp, metrics) = (table(&m, "responses"), table(&m, "metrics"));
    let n = resp.num_rows();
    assert_eq!(metric(&metrics, "examples"), n as f64);
    assert_eq!(m["stats"]["examples"], n);

    let (nll, tokens, batch) = (f64s(&resp, "nll_sum"), u32s(&resp, "tokens"), u32s(&resp, "batch"));
    let means: Vec<f64> = nll.iter().zip(&tokens).map(|(s, t)| s / f64::from(*t)).collect();
    for (a, b) in means.iter().zip(f64s(&resp, "nll_mean")) {
        assert!((a - b).abs() < 1e-12);
    }
    let ppl = (means.iter().sum::<f64>() / n as f64).exp();
    let ppl_corpus = (nll.iter().sum::<f64>() / tokens.iter().map(|&t| f64::from(t)).sum::<f64>()).exp();
    assert!((metric(&metrics, "ppl") - ppl).abs() < 1e-6, "{stage}: ppl {} vs {ppl}", metric(&metrics, "ppl"));
    assert!((metric(&metrics, "ppl_corpus") - ppl_corpus).abs() < 1e-6);
    // The stats carry the same numbers as the table.
    assert!((m["stats"]["ppl"].as_f64().unwrap() - ppl).abs() < 1e-6);

    // Batches: the test set in file order, cut every 48 examples.
    assert_eq!(batch, (0..n as u32).map(|i| i / 48).collect::<Vec<_>>());
    let (gold, pred) = (strs(&resp, "gold_emotion"), strs(&resp, "pred_emotion"));
    let mut per_batch: HashMap<u32, (usize, usize)> = HashMap::new();
    for i in 0..n {
        let e = per_batch.entry(batch[i]).or_default();
        e.0 += usize::from(gold[i] == pred[i]);
        e.1 += 1;
    }
    let acc = per_batch.values().map(|(c, k)| *c as f64 / *k as f64).sum::<f64>() / per_batch.len() as f64;
    let acc_example = (0..n).filter(|&i| gold[i] == pred[i]).count() as f64 / n as f64;
    assert!((metric(&metrics, "acc") - acc).abs() < 1e-6, "{stage}: acc");
    assert!((metric(&metrics, "acc_example") - acc_example).abs() < 1e-6);

    let tokenizer = Tokenizer::new(PunktParams::fallback());
    let generated = strs(&resp, "generated");
    let toks: Vec<Vec<String>> = generated
        .iter()
        .map(|g| tokenizer.word_tokenize(&if quirk { python_read_back(g) } else { g.clone() }))
        .collect();
    for (name, n) in [("dist1", 1), ("dist2", 2)] {
        let expected = dist(&toks, n);
        assert!((metric(&metrics, name) - expected).abs() < 1e-6, "{stage} {name}: {} vs {expected}", metric(&metrics, name));
        let (lo, hi) = (metric(&metrics, &format!("{name}_lo")), metric(&metrics, &format!("{name}_hi")));
        // The jackknife interval is symmetric around its point, cut to [0, 100].
        assert!(0.0 <= lo && lo < expected && expected < hi && hi <= 100.0, "{stage} {name} interval [{lo}, {hi}] vs {expected}");
    }
    // The t interval over the batch accuracies: around the printed (batch-mean) Acc, cut to [0, 1].
    let (lo, hi) = (metric(&metrics, "acc_lo"), metric(&metrics, "acc_hi"));
    assert!(0.0 <= lo && lo <= acc && acc <= hi && hi <= 1.0, "{stage}: acc interval [{lo}, {hi}] vs {acc}");
    if lo > 0.0 && hi < 1.0 {
        assert!(((lo + hi) / 2.0 - acc).abs() < 1e-9, "{stage}: acc interval [{lo}, {hi}] vs {acc}");
    }
    (resp, metrics)
}

#[test]
fn demo_reports_table1_with_metrics_that_recompute() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", "report"]);
    assert!(out.contains("ran     report"), "{out}");

    let tokenize = ws.json(&["show", "tokenize", "--json"]);
    let test_ids = u32s(&table(&tokenize, "examples_test"), "example_id");
    for variant in ["full", "wo_ea", "wo_ia", "wo_ws"] {
        let stage = &demo::variant("evaluate", variant);
        let m = ws.json(&["show", stage, "--json"]);
        assert_eq!(m["stats"]["variant"], variant, "{stage}");
        assert_eq!(rows(&m, "confusion"), 32 * 32);
        assert_eq!(rows(&m, "metrics"), 1);
        let (resp, _) = check_metrics(&ws, stage, &[], false);
        assert_eq!(u32s(&resp, "example_id"), test_ids, "{stage}: responses follow examples_test");
        let confusion = table(&m, "confusion");
        assert_eq!(u32s(&confusion, "count").iter().sum::<u32>() as usize, resp.num_rows());
        let roles = resp.column_by_name("context_roles").unwrap().as_list::<i32>().value(0);
        assert_eq!(roles.as_string::<i32>().value(0), "speaker");
        assert!(strs(&resp, "reference").iter().all(|r| !r.is_empty()));
    }

    // The report: the paper's ten rows and our four, traceable to their artifacts.
    let report = ws.json(&["show", "report", "--json"]);
    assert_eq!(rows(&report, "table1"), 14);
    let md = std::fs::read_to_string(std::path::Path::new(report["dir"].as_str().unwrap()).join("report.md")).unwrap();
    for row in ["| IAMM | paper | 55.92 | 35.66 | 2.09 | 7.03 |", "| w/o WS | paper | 55.82 | 35.46 | 1.75 | 6.01 |", "| EmpDG | paper |"] {
        assert!(md.contains(row), "{row} missing:\n{md}");
    }
    for (variant, label) in [("full", "IAMM"), ("wo_ea", "w/o EA"), ("wo_ia", "w/o IA"), ("wo_ws", "w/o WS")] {
        let stage = demo::variant("evaluate", variant);
        let m = ws.json(&["show", &stage, "--json"]);
        let acc = m["stats"]["acc"].as_f64().unwrap() * 100.0;
        let row = format!("| {label} | ours (`{stage}`) | {acc:.2} [");
        assert!(md.contains(&row), "{row} missing:\n{md}");
        let key = m["key"].as_str().unwrap();
        assert!(md.contains(&format!("artifact `artifacts/{stage}/{key}`")), "no trace of {stage}:\n{md}");
    }

    // `report` prints it and copies the files to reports/.
    let printed = ws.ok(&["report"]);
    assert_eq!(printed, md);
    for f in ["report.md", "table1.tex", "table1.csv"] {
        assert!(ws.path("reports").join(f).is_file(), "reports/{f}");
    }
    let csv = std::fs::read_to_string(ws.path("reports/table1.csv")).unwrap();
    assert_eq!(csv.lines().count(), 15);
    assert!(std::fs::read_to_string(ws.path("reports/table1.tex")).unwrap().contains("\\end{tabular}"));
    let j = ws.json(&["report", "--json"]);
    assert_eq!(j["runs"].as_array().unwrap().len(), 4);

    // --compare: per metric A, B, B - A, from the two metrics tables.
    let wo_ia = &demo::variant("evaluate", "wo_ia");
    let a = table(&ws.json(&["show", EVALUATE, "--json"]), "metrics");
    let b = table(&ws.json(&["show", wo_ia, "--json"]), "metrics");
    let text = ws.ok(&["report", "--compare", EVALUATE, wo_ia]);
    for name in ["acc", "ppl", "dist1", "dist2", "bleu1", "avg_len"] {
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{name}:\n{text}"));
        let cells: Vec<f64> = line.split_whitespace().skip(1).map(|c| c.parse().unwrap()).collect();
        let (va, vb) = (metric(&a, name), metric(&b, name));
        assert!((cells[0] - va).abs() < 1e-4 && (cells[1] - vb).abs() < 1e-4, "{line}");
        assert!((cells[2] - (vb - va)).abs() < 1e-4, "{line}");
    }
    let key = ws.json(&["show", wo_ia, "--json"])["key"].as_str().unwrap().to_string();
    let j = ws.json(&["report", "--compare", EVALUATE, &format!("{wo_ia}@{}", &key[..8]), "--json"]);
    assert_eq!(j["runs"][1]["key"], key.as_str());
    assert!((j["metrics"]["ppl"]["diffs"][1].as_f64().unwrap() - (metric(&b, "ppl") - metric(&a, "ppl"))).abs() < 1e-12);
    assert_eq!(ws.json(&["report", "--compare", &key, wo_ia, "--json"])["metrics"]["acc"]["diffs"][1], 0.0);

    // The compatibility switch: Dist-n over the responses as the reference reads them back.
    ws.ok(&["run", EVALUATE, "-p", "evaluate.strip_greedy_quirk=true"]);
    check_metrics(&ws, EVALUATE, &["-p", "evaluate.strip_greedy_quirk=true"], true);
    assert!(ws.ok(&["run", "report"]).contains("0 ran"), "the switch made a separate artifact");
}

#[test]
fn bad_input_is_explained() {
    let ws = Ws::demo();
    let err = ws.fails(&["report"]);
    assert!(err.contains("stage `report` has not run yet") && err.contains("iamm-pipe run report"), "{err}");
    let err = ws.fails(&["report", "--compare", EVALUATE, "nosuch"]);
    // The command it suggests names the member quoted for a shell.
    let hint = "stage `evaluate[seed=42,variant=full]` has not run yet: build it with `iamm-pipe run 'evaluate[seed=42,variant=full]'`";
    assert!(err.contains(hint), "{err}");
    let err = ws.fails(&["report", "nosuch"]);
    assert!(err.contains("no stage `nosuch`") && err.contains("`report`"), "{err}");
    let err = ws.fails(&["report", demo::TRAIN]);
    assert!(err.contains("not a report stage"), "{err}");

    // An evaluate stage without a train stage, a report without evaluate stages. (No COMET
    // here: the checks come before any model work.)
    let ws = Ws::new(
        "stages:\n  ingest:\n    params: {source: demo/ed}\n  tokenize:\n    deps: [ingest]\n  \
         evaluate:\n    deps: [tokenize]\n  report:\n    deps: [tokenize]\n",
    );
    let err = ws.fails(&["run", "evaluate"]);
    assert!(err.contains("needs one `train` stage among its deps") && err.contains("deps: [tokenize, train]"), "{err}");
    assert!(ws.artifacts("evaluate").is_empty());
    let err = ws.fails(&["run", "report"]);
    assert!(err.contains("none of its deps (tokenize) is an evaluate stage"), "{err}");
    let err = ws.fails(&["report", "--compare", "tokenize", "ingest"]);
    assert!(err.contains("has no `metrics` table"), "{err}");
    let err = ws.fails(&["report", "--compare", "zzzzzz", "tokenize"]);
    assert!(err.contains("`zzzzzz` is neither a stage"), "{err}");

    // A dep that names no stage is a pipeline error.
    let ws = Ws::new(
        "stages:\n  ingest:\n    params: {source: demo/ed}\n  tokenize:\n    deps: [ingest]\n  \
         evaluate:\n    deps: [tokenize, train_x]\n",
    );
    let err = ws.fails(&["run", "evaluate"]);
    assert!(err.contains("no stage named `train_x`"), "{err}");
}
