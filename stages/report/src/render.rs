//! The report for people: Markdown, and Table 1 and the significance table as LaTeX, in the
//! paper's presentation (Acc in %, Dist-n x100).

use crate::significance::TESTED;
use crate::{PAPER_TABLE1, Report, Run, System, TABLE1, Tests, table1_scale};

/// The further metrics of our runs.
const MORE: [(&str, &str); 8] = [
    ("acc_example", "Acc (examples)"),
    ("ppl_corpus", "PPL (corpus)"),
    ("bleu1", "BLEU-1"),
    ("bleu2", "BLEU-2"),
    ("bleu3", "BLEU-3"),
    ("bleu4", "BLEU-4"),
    ("avg_len", "Avg len"),
    ("examples", "Examples"),
];

fn fmt(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.2}"),
        Some(v) => format!("{v}"),
        None => "–".into(),
    }
}

/// A p-value: four decimals, or in exponent form below 0.0001.
fn fmt_p(p: f64) -> String {
    if p < 1e-4 { format!("{p:.1e}") } else { format!("{p:.4}") }
}

/// How a cell shows a value with its interval, or a mean with its standard deviation.
struct Style {
    interval: fn(&str, f64, f64) -> String,
    spread: fn(&str, f64) -> String,
}

const MARKDOWN: Style = Style { interval: |v, lo, hi| format!("{v} [{lo:.2}, {hi:.2}]"), spread: |v, sd| format!("{v} ± {sd:.2}") };
const LATEX: Style = Style {
    interval: |v, lo, hi| format!("{v} {{\\scriptsize [{lo:.2}, {hi:.2}]}}"),
    spread: |v, sd| format!("{v} {{\\scriptsize $\\pm$ {sd:.2}}}"),
};

/// One run's value, with its interval where it has one.
fn run_cell(run: &Run, metric: &str, ci: bool, style: &Style) -> String {
    let value = fmt(run.table1(metric));
    match (ci, run.table1(&format!("{metric}_lo")), run.table1(&format!("{metric}_hi"))) {
        (true, Some(lo), Some(hi)) => (style.interval)(&value, lo, hi),
        _ => value,
    }
}

/// A system's Table 1 cell: a single run as [`run_cell`], several as mean ± sd.
fn system_cell(r: &Report, s: &System, metric: &str, ci: bool, style: &Style) -> String {
    if let [one] = s.runs.as_slice() {
        return run_cell(&r.runs[*one], metric, ci, style);
    }
    let scale = table1_scale(metric);
    match s.summary(&r.runs, metric) {
        Some(m) => match m.sd {
            Some(sd) => (style.spread)(&fmt(Some(m.mean * scale)), sd * scale),
            None => fmt(Some(m.mean * scale)),
        },
        None => fmt(None),
    }
}

/// "`evaluate`" for a single run, "n = 3: seeds 1, 2, 42" for several.
fn source(r: &Report, s: &System, code: fn(&str) -> String) -> String {
    match s.runs.as_slice() {
        [one] => code(&r.runs[*one].stage),
        many => format!("n = {}: {}", many.len(), s.describe_seeds(&r.runs)),
    }
}

fn compact(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A significance cell: the difference (Acc in points) and the p-value.
fn test_cell(t: &Tests, a: &str, b: &str, metric: &str, p_label: &str) -> String {
    match t.comparisons.iter().find(|c| c.system_a == a && c.system_b == b && c.metric == metric) {
        Some(c) => format!("{:+.2} ({p_label}{})", c.difference() * table1_scale(metric), fmt_p(c.outcome.p)),
        None => "–".into(),
    }
}

/// The (A, B, runs) of each tested pair, in test order.
fn tested_pairs(t: &Tests) -> Vec<(&str, &str, usize)> {
    let mut pairs: Vec<(&str, &str, usize)> = Vec::new();
    for c in &t.comparisons {
        if !pairs.iter().any(|(a, b, _)| *a == c.system_a && *b == c.system_b) {
            pairs.push((&c.system_a, &c.system_b, c.runs()));
        }
    }
    pairs
}

/// The report: Table 1 (the paper's rows, then our systems), the significance tests, our
/// runs one by one where a system has several, further metrics, the traceability list, then
/// the appended sections.
pub fn markdown(r: &Report) -> String {
    let mut s = String::from("# IAMM reproduction report\n\n## Table 1: automatic evaluation\n\n");
    s.push_str(
        "Acc: emotion accuracy in %, the mean over test batches of batch accuracy (the reference's \
         computation); PPL: exp of the mean over test examples of each example's mean token NLL; \
         Dist-n: distinct / all n-grams over all responses, x100. The paper's rows are copied from \
         its Table 1 (one run each). Our rows are systems, runs that differ only in their seed: one \
         run gives its value and a 95% interval in brackets (for Acc, Student's t over the test \
         batches' accuracies; for Dist-n, of the expected Dist-n of as many test conversations, from \
         a jackknife over conversations); several give the mean ± the sample standard deviation over \
         their n seeds (see the README's Table 1 and Intervals and significance).\n\n",
    );
    s.push_str("| Model | Source | Acc | PPL | Dist-1 | Dist-2 |\n|---|---|---:|---:|---:|---:|\n");
    for p in &PAPER_TABLE1 {
        s.push_str(&format!("| {} | paper | {} | {} | {} | {} |\n", p.model, p.acc, p.ppl, p.dist1, p.dist2));
    }
    for sys in &r.systems {
        let cells: Vec<String> = TABLE1.iter().map(|(m, _, ci)| system_cell(r, sys, m, *ci, &MARKDOWN)).collect();
        let src = source(r, sys, |stage| format!("`{stage}`"));
        s.push_str(&format!("| {} | ours ({src}) | {} |\n", sys.label, cells.join(" | ")));
    }
    if r.runs.is_empty() {
        s.push_str("\n_No evaluated run of ours: give the report stage evaluate stages as deps._\n");
    } else {
        s.push_str(&significance_markdown(&r.tests));
        if r.systems.iter().any(|sys| sys.runs.len() > 1) {
            s.push_str("\n### Runs (ours)\n\n| System | Seed | Run | Acc | PPL | Dist-1 | Dist-2 |\n|---|---:|---|---:|---:|---:|---:|\n");
            for (i, run) in r.runs.iter().enumerate() {
                let cells: Vec<String> = TABLE1.iter().map(|(m, _, ci)| run_cell(run, m, *ci, &MARKDOWN)).collect();
                let seed = run.seed.map(|x| x.to_string()).unwrap_or_else(|| "–".into());
                s.push_str(&format!("| {} | {seed} | `{}` | {} |\n", r.system_of(i).label, run.stage, cells.join(" | ")));
            }
        }
        s.push_str("\n### More metrics (ours)\n\n| Run | ");
        s.push_str(&MORE.iter().map(|(_, h)| *h).collect::<Vec<_>>().join(" | "));
        s.push_str(" |\n|---|");
        s.push_str(&"---:|".repeat(MORE.len()));
        s.push('\n');
        for run in &r.runs {
            let cells: Vec<String> = MORE.iter().map(|(m, _)| more(run, m)).collect();
            s.push_str(&format!("| `{}` | {} |\n", run.stage, cells.join(" | ")));
        }
        s.push_str(
            "\nAcc (examples): plain example-level accuracy, in %. PPL (corpus): exp(Σ NLL / Σ tokens). \
             BLEU: corpus BLEU x100, no smoothing. Avg len: tokens per generated response.\n",
        );
        s.push_str("\n### Traceability\n\n");
        for run in &r.runs {
            s.push_str(&trace(run));
        }
    }
    for sec in &r.sections {
        s.push_str(&format!("\n<!-- from stage `{}`, artifact {} -->\n", sec.stage, sec.key));
        s.push_str(sec.text.trim_end());
        s.push('\n');
    }
    s
}

fn more(run: &Run, metric: &str) -> String {
    match metric {
        "acc_example" => fmt(run.table1(metric)),
        "examples" => run.get(metric).map(|v| format!("{v}")).unwrap_or_else(|| "–".into()),
        _ => fmt(run.get(metric)),
    }
}

fn trace(run: &Run) -> String {
    let mut s = format!(
        "- **{}**: stage `{}`, artifact `artifacts/{}/{}`, params `{}`",
        run.label(),
        run.stage,
        run.stage,
        run.key,
        compact(&run.params)
    );
    let p = &run.provenance;
    if let Some(train) = p.get("train") {
        s.push_str(&format!(
            "; model from stage `{}`, artifact `{}`, params `{}`",
            train["stage"].as_str().unwrap_or("?"),
            train["key"].as_str().unwrap_or("?"),
            compact(&train["params"])
        ));
    }
    if let Some(tok) = p.get("tokenize") {
        s.push_str(&format!("; test data from stage `{}`, artifact `{}`", tok["stage"].as_str().unwrap_or("?"), tok["key"].as_str().unwrap_or("?")));
    }
    s.push('\n');
    s
}

/// What was tested and how, in one paragraph.
fn tests_legend(t: &Tests) -> Option<String> {
    let o = t.settings?;
    let draws = match o.method {
        iamm_stats::paired::Method::Randomization => "shuffles",
        iamm_stats::paired::Method::Bootstrap => "resamples",
    };
    Some(format!(
        "Paired {} of IAMM against each other system on the same test examples (R = {} {draws}, seed {}): Δ is \
         the system's value minus IAMM's (Acc in points, Dist-n x100) and p the two-sided p-value of the \
         hypothesis that the two systems do not differ, at least 1/(R+1) = {}. A system of n runs is tested \
         seed-averaged: its statistic is the mean over its runs, each paired with IAMM's run of the same seed. \
         An ablation is tested against the IAMM system configured like it; further IAMM systems against the \
         first among the report's deps.",
        o.method.name(),
        o.resamples,
        o.seed,
        fmt_p(1.0 / (o.resamples as f64 + 1.0)),
    ))
}

fn significance_markdown(t: &Tests) -> String {
    let mut s = String::from("\n### Significance (ours)\n\n");
    let Some(legend) = tests_legend(t) else {
        s.push_str("Significance tests are off (the report's `significance: none`).\n");
        return s;
    };
    s.push_str(&legend);
    s.push_str("\n\n");
    let pairs = tested_pairs(t);
    if pairs.is_empty() {
        s.push_str("No system was tested against IAMM.\n");
    } else {
        s.push_str("| System | vs | n | Acc Δ (p) | PPL Δ (p) | Dist-1 Δ (p) | Dist-2 Δ (p) |\n|---|---|---:|---:|---:|---:|---:|\n");
        for (a, b, k) in &pairs {
            let cells: Vec<String> = TESTED.iter().map(|m| test_cell(t, a, b, m, "")).collect();
            s.push_str(&format!("| {b} | {a} | {k} | {} |\n", cells.join(" | ")));
        }
    }
    let mut notes: Vec<String> = t.notes.clone();
    for (a, b, _) in &pairs {
        if let Some(note) = t.comparisons.iter().find(|c| c.system_a == *a && c.system_b == *b).and_then(|c| c.note.clone()) {
            notes.push(format!("{b} vs {a}: {note}"));
        }
    }
    if !notes.is_empty() {
        s.push('\n');
        s.extend(notes.iter().map(|n| format!("- {n}\n")));
    }
    s
}

fn tex_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '_' | '%' | '&' | '#' | '$' | '{' | '}' => format!("\\{c}"),
            '~' => "\\textasciitilde{}".into(),
            '^' => "\\textasciicircum{}".into(),
            '\\' => "\\textbackslash{}".into(),
            c => c.to_string(),
        })
        .collect()
}

/// Table 1 as a LaTeX `tabular` (booktabs rules): the paper's rows, a rule, our systems.
pub fn latex(r: &Report) -> String {
    let mut s = String::from("% Table 1, generated by iamm-pipe; needs \\usepackage{booktabs}\n");
    s.push_str("\\begin{tabular}{llrrrr}\n\\toprule\nModel & Source & Acc & PPL & Dist-1 & Dist-2 \\\\\n\\midrule\n");
    for p in &PAPER_TABLE1 {
        s.push_str(&format!("{} & paper & {} & {} & {} & {} \\\\\n", tex_escape(p.model), p.acc, p.ppl, p.dist1, p.dist2));
    }
    if !r.systems.is_empty() {
        s.push_str("\\midrule\n");
    }
    for sys in &r.systems {
        let cells: Vec<String> = TABLE1.iter().map(|(m, _, ci)| system_cell(r, sys, m, *ci, &LATEX)).collect();
        let src = source(r, sys, |stage| format!("\\texttt{{{}}}", tex_escape(stage)));
        let src = if sys.runs.len() > 1 { tex_escape(&src) } else { src };
        s.push_str(&format!("{} & ours ({src}) & {} \\\\\n", tex_escape(&sys.label), cells.join(" & ")));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    s
}

/// The significance tests as a LaTeX `tabular`: per tested system, Δ and p per metric.
pub fn significance_latex(t: &Tests) -> String {
    let mut s = String::from("% Paired significance tests against IAMM, generated by iamm-pipe; needs \\usepackage{booktabs}\n");
    match tests_legend(t) {
        Some(legend) => s.push_str(&format!("% {legend}\n")),
        None => s.push_str("% Significance tests are off (the report's `significance: none`).\n"),
    }
    s.push_str("\\begin{tabular}{llrrrrr}\n\\toprule\nSystem & vs. & $n$ & Acc & PPL & Dist-1 & Dist-2 \\\\\n\\midrule\n");
    for (a, b, k) in tested_pairs(t) {
        let cells: Vec<String> = TESTED.iter().map(|m| test_cell(t, a, b, m, "$p$ = ")).collect();
        s.push_str(&format!("{} & {} & {k} & {} \\\\\n", tex_escape(b), tex_escape(a), cells.join(" & ")));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::significance::Comparison;
    use crate::systems::tests::run;
    use crate::{Section, Tests};
    use iamm_stats::paired::{Method, Outcome, TestOptions};
    use serde_json::json;

    fn full_run(stage: &str, variant: &str, seed: i64, acc: f64) -> Run {
        let mut r = run(stage, variant, Some(seed), "greedy", acc);
        let m = |v: f64| Some(v);
        r.metrics = vec![
            ("acc".into(), m(acc)),
            ("acc_example".into(), m(acc + 0.01)),
            ("ppl".into(), m(123.456)),
            ("ppl_corpus".into(), m(120.0)),
            ("dist1".into(), m(1.5)),
            ("dist2".into(), m(4.25)),
            ("bleu1".into(), m(10.0)),
            ("avg_len".into(), m(9.5)),
            ("examples".into(), m(144.0)),
            ("acc_lo".into(), m(acc - 0.05)),
            ("acc_hi".into(), m(acc + 0.05)),
            ("dist1_lo".into(), None),
            ("dist1_hi".into(), None),
        ];
        r.params = json!({"batch_size": 48, "decoding": "greedy"});
        r.provenance = json!({"train": {"stage": "train", "key": "tk", "params": {"dim": 16}}, "tokenize": {"stage": "tokenize", "key": "kk"}});
        r
    }

    fn comparison(b: &str, metric: &'static str, difference: f64, p: f64) -> Comparison {
        Comparison {
            system_a: "IAMM".into(),
            system_b: b.into(),
            metric,
            outcome: Outcome { a: 0.0, b: difference, difference: -difference, p, method: Method::Randomization, resamples: 999 },
            stages_a: vec!["x".into(), "y".into()],
            keys_a: vec!["kx".into(), "ky".into()],
            seeds_a: vec![Some(1), Some(2)],
            stages_b: vec!["u".into(), "v".into()],
            keys_b: vec!["ku".into(), "kv".into()],
            seeds_b: vec![Some(1), Some(2)],
            note: None,
        }
    }

    #[test]
    fn single_runs_print_as_before_and_seeds_aggregate() {
        let runs = vec![
            full_run("evaluate[seed=1,variant=full]", "full", 1, 0.125),
            full_run("evaluate[seed=1,variant=wo_ia]", "wo_ia", 1, 0.5),
            full_run("evaluate[seed=2,variant=wo_ia]", "wo_ia", 2, 0.3),
        ];
        let sections = vec![Section { stage: "human_eval".into(), key: "h1".into(), text: "## Table 2\n\nwins\n".into() }];
        let mut r = Report::new(runs, sections);
        r.tests = Tests {
            settings: Some(TestOptions { method: Method::Randomization, resamples: 999, seed: 0 }),
            comparisons: vec![comparison("w/o IA", "acc", 0.275, 0.001), comparison("w/o IA", "dist2", -0.5, 0.25)],
            notes: vec!["w/o XX is not tested: why".into()],
        };
        let md = markdown(&r);
        assert!(md.contains("| EmpDG | paper | 34.31 | 37.29 | 0.46 | 2.02 |"), "{md}");
        // One run: Acc x100 with its interval; Dist-1 without one (nulls); PPL plain.
        assert!(md.contains("| IAMM | ours (`evaluate[seed=1,variant=full]`) | 12.50 [7.50, 17.50] | 123.46 | 1.50 | 4.25 |"), "{md}");
        // Two seeds: mean ± sd (Acc 50 and 30: 40 ± 14.14), n and the seeds.
        assert!(md.contains("| w/o IA | ours (n = 2: seeds 1, 2) | 40.00 ± 14.14 | 123.46 ± 0.00 | 1.50 ± 0.00 | 4.25 ± 0.00 |"), "{md}");
        assert!(md.contains("| w/o IA | IAMM | 2 | +27.50 (0.0010) | – | – | -0.50 (0.2500) |"), "{md}");
        assert!(md.contains("(R = 999 shuffles, seed 0)") && md.contains("1/(R+1) = 0.0010"), "{md}");
        assert!(md.contains("- w/o XX is not tested: why"), "{md}");
        assert!(md.contains("| w/o IA | 2 | `evaluate[seed=2,variant=wo_ia]` | 30.00 [25.00, 35.00] |"), "per-run rows: {md}");
        assert!(md.contains("| `evaluate[seed=1,variant=full]` | 13.50 | 120.00 | 10.00 | – | – | – | 9.50 | 144 |"), "{md}");
        assert!(md.contains("stage `evaluate[seed=1,variant=full]`, artifact `artifacts/evaluate[seed=1,variant=full]/key-evaluate[seed=1,variant=full]`, params `{\"batch_size\":48,\"decoding\":\"greedy\"}`; model from stage `train`, artifact `tk`, params `{\"dim\":16}`; test data from stage `tokenize`, artifact `kk`"), "{md}");
        assert!(md.trim_end().ends_with("wins"), "{md}");

        let tex = latex(&r);
        assert!(tex.contains("IAMM & ours (\\texttt{evaluate[seed=1,variant=full]}) & 12.50 {\\scriptsize [7.50, 17.50]} & 123.46 & 1.50 & 4.25 \\\\"), "{tex}");
        assert!(tex.contains("w/o IA & ours (n = 2: seeds 1, 2) & 40.00 {\\scriptsize $\\pm$ 14.14} &"), "{tex}");
        assert!(tex.contains("CASE & paper & 40.2 & 35.37 & 0.74 & 4.01 \\\\"), "{tex}");
        let sig = significance_latex(&r.tests);
        assert!(sig.contains("w/o IA & IAMM & 2 & +27.50 ($p$ = 0.0010) & – & – & -0.50 ($p$ = 0.2500) \\\\"), "{sig}");

        r.tests = Tests::default();
        assert!(markdown(&r).contains("Significance tests are off"));
        assert!(!markdown(&Report::new(vec![full_run("evaluate[seed=1,variant=full]", "full", 1, 0.1)], vec![])).contains("### Runs (ours)"), "no per-run table when every system is one run");
        assert_eq!(fmt_p(1.0 / 100_001.0), "1.0e-5");
    }

    #[test]
    fn latex_escapes_names() {
        let r = Report::new(vec![full_run("evaluate[seed=42,variant=wo_ea]", "wo_ea", 1, 0.25)], vec![]);
        let tex = latex(&r);
        assert!(tex.contains("w/o EA & ours (\\texttt{evaluate[seed=42,variant=wo\\_ea]}) & 25.00 {\\scriptsize [20.00, 30.00]} & 123.46 & 1.50 & 4.25 \\\\"), "{tex}");
    }
}
