//! The experiment's tables on the binary: `runs` lists every artifact with its params, metrics,
//! state and p-values; the report groups seeds into systems (mean, sd, n) and tests them
//! pairwise; `report --compare` takes any number of runs and patterns.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use common::{Ws, table};
use serde_json::Value;

/// Two variants × two seeds of quick trainings; IAMM's models evaluated twice, the second time
/// with a sampling seed that greedy decoding ignores: a system identical to IAMM in all but name.
const PIPELINE: &str = "\
stages:
  ingest:
    params: {source: demo/ed}
  comet:
    deps: [ingest]
    params: {model: demo/comet/tiny-bart}
  tokenize:
    deps: [ingest, comet]
    params: {vectors: demo/vectors/demo-vectors.16d.txt}
  train:
    deps: [tokenize]
    matrix: {variant: [full, wo_ea], seed: [1, 2]}
    params: {dim: 16, max_steps: 4, warmup: 4, eval_every: 4, eval_after: 0, checkpoint_every: 4}
  evaluate:
    deps: [tokenize, train]
  evaluate_again:
    uses: evaluate
    deps: [tokenize, \"train[variant=full]\"]
    params: {seed: 7}
  report:
    deps: [\"evaluate[*]\", \"evaluate_again[*]\"]
    params: {resamples: 999}
  report_one:
    uses: report
    deps: [\"evaluate[seed=1,variant=full]\", \"evaluate[seed=1,variant=wo_ea]\"]
    params: {resamples: 999}
";

const MEMBERS: [&str; 6] = [
    "evaluate[seed=1,variant=full]",
    "evaluate[seed=2,variant=full]",
    "evaluate[seed=1,variant=wo_ea]",
    "evaluate[seed=2,variant=wo_ea]",
    "evaluate_again[seed=1]",
    "evaluate_again[seed=2]",
];

fn metric(ws: &Ws, stage: &str, name: &str) -> f64 {
    let t = table(&ws.json(&["show", stage, "--json"]), "metrics");
    t.column_by_name(name).unwrap_or_else(|| panic!("{stage}: no {name}")).as_primitive::<Float64Type>().value(0)
}

fn mean_sd(v: [f64; 2]) -> (f64, f64) {
    let mean = (v[0] + v[1]) / 2.0;
    (mean, ((v[0] - mean).powi(2) + (v[1] - mean).powi(2)).sqrt())
}

fn row<'a>(rows: &'a [Value], stage: &str, key: &str) -> &'a Value {
    rows.iter().find(|r| r["stage"] == stage && r["key"] == key).unwrap_or_else(|| panic!("no row {stage}@{key}"))
}

#[test]
fn runs_report_and_compare_over_a_seed_matrix() {
    let ws = Ws::new(PIPELINE);
    ws.ok(&["run", "all"]);
    let key = |stage: &str| ws.json(&["show", stage, "--json"])["key"].as_str().unwrap().to_string();

    // The report: a row per system, the mean ± sd over its two seeds.
    let report = ws.ok(&["report", "report"]);
    for (label, variant) in [("IAMM (evaluate.seed=0)", "full"), ("w/o EA", "wo_ea")] {
        let of = |m: &str| [1, 2].map(|s| metric(&ws, &format!("evaluate[seed={s},variant={variant}]"), m));
        let (acc, acc_sd) = mean_sd(of("acc").map(|v| v * 100.0));
        let (ppl, ppl_sd) = mean_sd(of("ppl"));
        let line = format!("| {label} | ours (n = 2: seeds 1, 2) | {acc:.2} ± {acc_sd:.2} | {ppl:.2} ± {ppl_sd:.2} |");
        assert!(report.contains(&line), "{line}\nnot in\n{report}");
    }
    assert!(report.contains("| IAMM (evaluate.seed=7) | ours (n = 2: seeds 1, 2) |"), "{report}");
    // The twin of IAMM: no difference, p = 1 on every metric; the ablation: p in [1/(R+1), 1].
    let twin = "| IAMM (evaluate.seed=7) | IAMM (evaluate.seed=0) | 2 | +0.00 (1.0000) | +0.00 (1.0000) | +0.00 (1.0000) | +0.00 (1.0000) |";
    assert!(report.contains(twin), "{report}");
    assert!(report.contains("| w/o EA | IAMM (evaluate.seed=0) | 2 | "), "{report}");
    for f in ["table1.csv", "table1_runs.csv", "significance.csv", "significance.tex"] {
        assert!(ws.path("reports").join(f).is_file(), "reports/{f}");
    }

    let shown = ws.json(&["show", "report", "--json"]);
    let t1 = table(&shown, "table1");
    assert_eq!(t1.num_rows(), 10 + 3);
    let n = t1.column_by_name("n").unwrap().as_primitive::<UInt32Type>();
    assert_eq!((10..13).map(|i| n.value(i)).collect::<Vec<_>>(), [2, 2, 2]);
    let acc = t1.column_by_name("acc_pct").unwrap().as_primitive::<Float64Type>();
    let sd = t1.column_by_name("acc_pct_sd").unwrap().as_primitive::<Float64Type>();
    let (m, s) = mean_sd([1, 2].map(|s| metric(&ws, &format!("evaluate[seed={s},variant=wo_ea]"), "acc") * 100.0));
    assert!((acc.value(12) - m).abs() < 1e-9 && (sd.value(12) - s).abs() < 1e-9, "w/o EA: {} ± {}", acc.value(12), sd.value(12));
    assert!(t1.column_by_name("acc").is_none(), "Acc in % goes by acc_pct");
    let sig = table(&shown, "significance");
    assert_eq!(sig.num_rows(), 2 * 4);
    let (p, diff) = (sig.column_by_name("p").unwrap().as_primitive::<Float64Type>(), sig.column_by_name("difference").unwrap().as_primitive::<Float64Type>());
    let b = common::strs(&sig, "system_b");
    for (i, system) in b.iter().enumerate() {
        assert!((1.0 / 1000.0..=1.0).contains(&p.value(i)), "p = {}", p.value(i));
        if system == "IAMM (evaluate.seed=7)" {
            assert_eq!((diff.value(i), p.value(i)), (0.0, 1.0), "identical systems");
        }
    }
    let ablation_acc = (0..sig.num_rows()).find(|&i| b[i] == "w/o EA").unwrap();
    let (a0, b0) = (metric(&ws, "evaluate[seed=1,variant=full]", "acc"), metric(&ws, "evaluate[seed=1,variant=wo_ea]", "acc"));
    let (a1, b1) = (metric(&ws, "evaluate[seed=2,variant=full]", "acc"), metric(&ws, "evaluate[seed=2,variant=wo_ea]", "acc"));
    assert!((diff.value(ablation_acc) - ((b0 + b1) / 2.0 - (a0 + a1) / 2.0)).abs() < 1e-12, "seed-averaged Acc difference");

    // One seed per system prints as before: the run's value and its interval, tested n = 1.
    let one = ws.ok(&["report", "report_one"]);
    let acc = metric(&ws, "evaluate[seed=1,variant=wo_ea]", "acc") * 100.0;
    let line = format!("| w/o EA | ours (`evaluate[seed=1,variant=wo_ea]`) | {acc:.2} [");
    assert!(one.contains(&line), "{line}\nnot in\n{one}");
    assert!(one.contains("| w/o EA | IAMM | 1 | ") && !one.contains("### Runs (ours)"), "{one}");

    // runs: every artifact, one row each, all current after `run all`.
    let artifacts: usize = ["ingest", "comet", "tokenize", "report", "report_one"]
        .iter()
        .map(|s| s.to_string())
        .chain(MEMBERS.iter().map(|s| s.to_string()))
        .chain([1, 2].iter().flat_map(|s| ["full", "wo_ea"].map(|v| format!("train[seed={s},variant={v}]"))))
        .map(|s| ws.artifacts(&s).len())
        .sum();
    let listed = ws.json(&["runs", "--json"]);
    let rows = listed["runs"].as_array().unwrap();
    assert_eq!((rows.len(), artifacts), (15, 15));
    assert!(rows.iter().all(|r| r["state"] == "current"), "{listed}");
    let wo_ea = row(rows, "evaluate[seed=2,variant=wo_ea]", &key("evaluate[seed=2,variant=wo_ea]"));
    assert_eq!((wo_ea["base"].as_str(), wo_ea["seed"].as_str(), wo_ea["variant"].as_str()), (Some("evaluate"), Some("2"), Some("wo_ea")));
    assert_eq!((wo_ea["train.seed"].as_i64(), wo_ea["train.variant"].as_str(), wo_ea["train.max_steps"].as_i64()), (Some(2), Some("wo_ea"), Some(4)));
    assert_eq!((wo_ea["metrics.seed"].as_i64(), wo_ea["metrics.variant"].as_str()), (Some(2), Some("wo_ea")));
    assert_eq!(wo_ea["evaluate.decoding"], "greedy");
    assert_eq!(wo_ea["metrics.acc"].as_f64(), Some(metric(&ws, "evaluate[seed=2,variant=wo_ea]", "acc")), "a fraction, as in the metrics table");
    assert_eq!(wo_ea["wall_s"], ws.json(&["show", "evaluate[seed=2,variant=wo_ea]", "--json"])["wall_time_s"]);
    assert_eq!(wo_ea["sig.versus"], "IAMM (evaluate.seed=0)");
    for m in ["acc", "ppl", "dist1", "dist2"] {
        let p = wo_ea[format!("sig.p_{m}")].as_f64().unwrap_or_else(|| panic!("sig.p_{m}: {wo_ea}"));
        assert!((0.0..=1.0).contains(&p), "{m}: {p}");
        assert_eq!(row(rows, "evaluate_again[seed=1]", &key("evaluate_again[seed=1]"))[format!("sig.p_{m}")], 1.0);
    }
    let iamm = row(rows, "evaluate[seed=1,variant=full]", &key("evaluate[seed=1,variant=full]"));
    assert!(iamm["sig.versus"].is_null() && iamm["sig.p_acc"].is_null(), "IAMM is not tested against itself: {iamm}");
    let train = row(rows, "train[seed=1,variant=full]", &key("train[seed=1,variant=full]"));
    assert!(train["metrics.acc"].is_null() && train["evaluate.decoding"].is_null() && train["train.dim"] == 16, "{train}");

    // Two sweeps by hand: the plan's artifact stays current, the last sweep is stale (the
    // stage's `current` link), the first unused.
    let member = "evaluate[seed=1,variant=wo_ea]";
    let planned = key(member);
    for tokens in ["5", "9"] {
        ws.ok(&["run", member, "-p", &format!("{member}.max_new_tokens={tokens}")]);
    }
    let nine = ws.json(&["show", member, "--json", "-p", &format!("{member}.max_new_tokens=9")])["key"].as_str().unwrap().to_string();
    let five = ws.json(&["show", member, "--json", "-p", &format!("{member}.max_new_tokens=5")])["key"].as_str().unwrap().to_string();
    let swept = ws.json(&["runs", member, "--json"]);
    let swept = swept["runs"].as_array().unwrap();
    assert_eq!(swept.len(), 3);
    let state = |rows: &[Value], k: &str| row(rows, member, k)["state"].as_str().unwrap().to_string();
    assert_eq!([state(swept, &planned), state(swept, &nine), state(swept, &five)], ["current", "stale", "unused"]);
    assert_eq!(row(swept, member, &five)["evaluate.max_new_tokens"], 5);
    let under_p = ws.json(&["runs", member, "--json", "-p", &format!("{member}.max_new_tokens=5")]);
    let under_p = under_p["runs"].as_array().unwrap();
    assert_eq!([state(under_p, &planned), state(under_p, &five)], ["unused", "current"]);

    // The text table, and the same rows and columns as CSV and Parquet.
    let text = ws.ok(&["runs", "evaluate*"]);
    assert!(text.lines().next().unwrap().split_whitespace().collect::<Vec<_>>().starts_with(&["stage", "kind", "key", "state"]), "{text}");
    assert!(text.contains("8 artifact(s) of 6 stage(s): 6 current, 1 stale, 1 unused"), "{text}");
    let (csv, parquet) = (ws.path("runs.csv"), ws.path("runs.parquet"));
    ws.ok(&["runs", "evaluate*", "--csv", csv.to_str().unwrap(), "--parquet", parquet.to_str().unwrap()]);
    let csv = std::fs::read_to_string(csv).unwrap();
    let read = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(parquet).unwrap()).unwrap();
    let header: Vec<String> = read.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(csv.lines().next().unwrap(), header.join(","));
    assert_eq!(read.metadata().file_metadata().num_rows(), 8);
    assert_eq!(csv.lines().count(), 1 + 8);
    for column in ["stage", "base", "seed", "variant", "kind", "key", "state", "created", "wall_s", "train.seed", "metrics.acc", "sig.p_dist2"] {
        assert!(header.contains(&column.to_string()), "{column}: {header:?}");
    }

    // --compare: any number of runs and patterns, in the order named; a pattern adds the runs
    // not named before it.
    let j = ws.json(&["report", "--compare", "evaluate[seed=1,variant=full]", "evaluate[variant=full]", "evaluate_again*", "--json"]);
    let stages: Vec<&str> = j["runs"].as_array().unwrap().iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["evaluate[seed=1,variant=full]", "evaluate[seed=2,variant=full]", "evaluate_again[seed=1]", "evaluate_again[seed=2]"]);
    let ppl = &j["metrics"]["ppl"];
    assert_eq!(ppl["values"][1].as_f64(), Some(metric(&ws, "evaluate[seed=2,variant=full]", "ppl")));
    assert_eq!((ppl["diffs"][0].clone(), ppl["diffs"][2].as_f64()), (Value::Null, Some(0.0)), "the same model, decoded alike");
    let text = ws.ok(&["report", "--compare", "evaluate*"]);
    assert!(text.starts_with("A = evaluate[seed=1,variant=full]@") && text.contains("\nF = evaluate_again[seed=2]@"), "{text}");
    assert!(text.contains("F - A"), "{text}");

    let err = ws.fails(&["report", "--compare", "evaluate[seed=1,variant=full]"]);
    assert!(err.contains("`--compare` needs at least two"), "{err}");
    let err = ws.fails(&["report", "--compare", "evaluate*", "tokenize"]);
    assert!(err.contains("`tokenize` is stage `tokenize` (kind tokenize)") && err.contains("no `metrics` table"), "{err}");
    let err = ws.fails(&["report", "--compare", "nosuch*", "evaluate*"]);
    assert!(err.contains("`nosuch*` is neither a stage"), "{err}");
    let err = ws.fails(&["runs", "nosuch"]);
    assert!(err.contains("nosuch"), "{err}");
}
