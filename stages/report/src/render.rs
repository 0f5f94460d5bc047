//! Table 1 as Markdown, LaTeX, CSV and an Arrow table.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::ArrowError;
use iamm_csv::csv_text_cell;

use crate::{PAPER_TABLE1, PaperRow, Run, Section};

/// Table 1's columns: metric name, header, whether our rows carry a 95% interval.
const TABLE1: [(&str, &str, bool); 4] = [("acc", "Acc", true), ("ppl", "PPL", false), ("dist1", "Dist-1", true), ("dist2", "Dist-2", true)];

/// The further metrics of our rows.
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

fn with_ci(run: &Run, metric: &str, ci: bool) -> String {
    let value = fmt(run.table1(metric));
    match (ci, run.table1(&format!("{metric}_lo")), run.table1(&format!("{metric}_hi"))) {
        (true, Some(lo), Some(hi)) => format!("{value} [{lo:.2}, {hi:.2}]"),
        _ => value,
    }
}

fn more(run: &Run, metric: &str) -> String {
    match metric {
        "acc_example" => fmt(run.table1(metric)),
        "examples" => run.get(metric).map(|v| format!("{v}")).unwrap_or_else(|| "–".into()),
        _ => fmt(run.get(metric)),
    }
}

fn compact(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The report: Table 1 (the paper's rows, then ours with 95% intervals), our further
/// metrics, the traceability list, then the appended sections.
pub fn markdown(runs: &[Run], sections: &[Section]) -> String {
    let mut s = String::from("# IAMM reproduction report\n\n## Table 1: automatic evaluation\n\n");
    s.push_str(
        "Acc: emotion accuracy in %, the mean over test batches of batch accuracy (the reference's \
         computation); PPL: exp of the mean over test examples of each example's mean token NLL; \
         Dist-n: distinct / all n-grams over all responses, x100. The paper's rows are copied from \
         its Table 1. Our rows give a 95% interval in brackets: for Acc, Student's t over the test \
         batches' accuracies; for Dist-n, of the expected Dist-n of as many test conversations, from \
         a jackknife over conversations (see the README's Intervals and significance).\n\n",
    );
    s.push_str("| Model | Source | Acc | PPL | Dist-1 | Dist-2 |\n|---|---|---:|---:|---:|---:|\n");
    for p in &PAPER_TABLE1 {
        s.push_str(&format!("| {} | paper | {} | {} | {} | {} |\n", p.model, p.acc, p.ppl, p.dist1, p.dist2));
    }
    for r in runs {
        let cells: Vec<String> = TABLE1.iter().map(|(m, _, ci)| with_ci(r, m, *ci)).collect();
        s.push_str(&format!("| {} | ours (`{}`) | {} |\n", crate::paper_label(&r.variant), r.stage, cells.join(" | ")));
    }
    if runs.is_empty() {
        s.push_str("\n_No evaluated run of ours: give the report stage evaluate stages as deps._\n");
    } else {
        s.push_str("\n### More metrics (ours)\n\n| Run | ");
        s.push_str(&MORE.iter().map(|(_, h)| *h).collect::<Vec<_>>().join(" | "));
        s.push_str(" |\n|---|");
        s.push_str(&"---:|".repeat(MORE.len()));
        s.push('\n');
        for r in runs {
            let cells: Vec<String> = MORE.iter().map(|(m, _)| more(r, m)).collect();
            s.push_str(&format!("| `{}` | {} |\n", r.stage, cells.join(" | ")));
        }
        s.push_str(
            "\nAcc (examples): plain example-level accuracy, in %. PPL (corpus): exp(Σ NLL / Σ tokens). \
             BLEU: corpus BLEU x100, no smoothing. Avg len: tokens per generated response.\n",
        );
        s.push_str("\n### Traceability\n\n");
        for r in runs {
            s.push_str(&format!(
                "- **{}**: stage `{}`, artifact `artifacts/{}/{}`, params `{}`",
                r.label(),
                r.stage,
                r.stage,
                r.key,
                compact(&r.params)
            ));
            let p = &r.provenance;
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
        }
    }
    for sec in sections {
        s.push_str(&format!("\n<!-- from stage `{}`, artifact {} -->\n", sec.stage, sec.key));
        s.push_str(sec.text.trim_end());
        s.push('\n');
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

/// Table 1 as a LaTeX `tabular` (booktabs rules): the paper's rows, a rule, ours.
pub fn latex(runs: &[Run]) -> String {
    let mut s = String::from("% Table 1, generated by iamm-pipe; needs \\usepackage{booktabs}\n");
    s.push_str("\\begin{tabular}{llrrrr}\n\\toprule\nModel & Source & Acc & PPL & Dist-1 & Dist-2 \\\\\n\\midrule\n");
    for p in &PAPER_TABLE1 {
        s.push_str(&format!("{} & paper & {} & {} & {} & {} \\\\\n", tex_escape(p.model), p.acc, p.ppl, p.dist1, p.dist2));
    }
    if !runs.is_empty() {
        s.push_str("\\midrule\n");
    }
    for r in runs {
        let cells: Vec<String> = TABLE1
            .iter()
            .map(|(m, _, ci)| {
                let v = fmt(r.table1(m));
                match (ci, r.table1(&format!("{m}_lo")), r.table1(&format!("{m}_hi"))) {
                    (true, Some(lo), Some(hi)) => format!("{v} {{\\scriptsize [{lo:.2}, {hi:.2}]}}"),
                    _ => v,
                }
            })
            .collect();
        s.push_str(&format!(
            "{} & ours (\\texttt{{{}}}) & {} \\\\\n",
            tex_escape(crate::paper_label(&r.variant)),
            tex_escape(&r.stage),
            cells.join(" & ")
        ));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    s
}

/// Every column of the `table1` table / CSV, after model, source, variant, stage, key.
const VALUE_COLUMNS: [&str; 18] = [
    "acc", "acc_lo", "acc_hi", "ppl", "dist1", "dist1_lo", "dist1_hi", "dist2", "dist2_lo", "dist2_hi",
    "acc_example", "ppl_corpus", "bleu1", "bleu2", "bleu3", "bleu4", "avg_len", "examples",
];

struct Line {
    model: String,
    source: &'static str,
    variant: Option<String>,
    stage: Option<String>,
    key: Option<String>,
    values: Vec<Option<f64>>,
}

fn lines(runs: &[Run]) -> Vec<Line> {
    let paper = |p: &PaperRow| Line {
        model: p.model.into(),
        source: "paper",
        variant: None,
        stage: None,
        key: None,
        values: VALUE_COLUMNS.iter().map(|c| p.value(c)).collect(),
    };
    let ours = |r: &Run| Line {
        model: crate::paper_label(&r.variant).into(),
        source: "ours",
        variant: Some(r.variant.clone()),
        stage: Some(r.stage.clone()),
        key: Some(r.key.clone()),
        values: VALUE_COLUMNS.iter().map(|c| r.table1(c)).collect(),
    };
    PAPER_TABLE1.iter().map(paper).chain(runs.iter().map(ours)).collect()
}

/// Table 1 as an Arrow table: the paper's rows then ours, Acc in %, nulls where a row has
/// no value.
pub fn table1(runs: &[Run]) -> Result<RecordBatch, ArrowError> {
    let ls = lines(runs);
    let text = |f: &dyn Fn(&Line) -> Option<String>| -> ArrayRef { Arc::new(StringArray::from(ls.iter().map(f).collect::<Vec<_>>())) };
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("model", text(&|l| Some(l.model.clone()))),
        ("source", text(&|l| Some(l.source.to_string()))),
        ("variant", text(&|l| l.variant.clone())),
        ("stage", text(&|l| l.stage.clone())),
        ("key", text(&|l| l.key.clone())),
    ];
    for (i, c) in VALUE_COLUMNS.iter().enumerate() {
        let array: ArrayRef = if *c == "examples" {
            Arc::new(UInt32Array::from(ls.iter().map(|l| l.values[i].map(|v| v as u32)).collect::<Vec<_>>()))
        } else {
            Arc::new(Float64Array::from(ls.iter().map(|l| l.values[i]).collect::<Vec<_>>()))
        };
        columns.push((c, array));
    }
    RecordBatch::try_from_iter(columns)
}

/// Table 1 as CSV (RFC 4180), the `table1` table's columns; values at full precision, text
/// cells through [`csv_text_cell`] (no cell is read as a spreadsheet formula).
pub fn csv(runs: &[Run]) -> String {
    let mut s = String::from("model,source,variant,stage,key,");
    s.push_str(&VALUE_COLUMNS.join(","));
    s.push('\n');
    for l in lines(runs) {
        let mut cells = vec![
            csv_text_cell(&l.model),
            csv_text_cell(l.source),
            csv_text_cell(l.variant.as_deref().unwrap_or("")),
            csv_text_cell(l.stage.as_deref().unwrap_or("")),
            csv_text_cell(l.key.as_deref().unwrap_or("")),
        ];
        cells.extend(l.values.iter().map(|v| v.map(|v| v.to_string()).unwrap_or_default()));
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(stage: &str, variant: &str, acc: f64) -> Run {
        let m = |v: f64| Some(v);
        Run {
            stage: stage.into(),
            key: format!("key-{stage}"),
            variant: variant.into(),
            metrics: vec![
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
            ],
            params: json!({"batch_size": 48, "decoding": "greedy"}),
            provenance: json!({"train": {"stage": "train", "key": "tk", "params": {"dim": 16}}, "tokenize": {"stage": "tokenize", "key": "kk"}}),
        }
    }

    #[test]
    fn markdown_has_both_sources_and_traces_our_rows() {
        let runs = vec![run("evaluate[seed=42,variant=full]", "full", 0.125), run("evaluate[seed=42,variant=wo_ia]", "wo_ia", 0.5)];
        let sections = vec![Section { stage: "human_eval".into(), key: "h1".into(), text: "## Table 2\n\nwins\n".into() }];
        let md = markdown(&runs, &sections);
        assert!(md.contains("| EmpDG | paper | 34.31 | 37.29 | 0.46 | 2.02 |"), "{md}");
        assert!(md.contains("| w/o WS | paper | 55.82 | 35.46 | 1.75 | 6.01 |"), "{md}");
        // Acc x100 with its interval; Dist-1 without one (nulls); PPL plain.
        assert!(md.contains("| IAMM | ours (`evaluate[seed=42,variant=full]`) | 12.50 [7.50, 17.50] | 123.46 | 1.50 | 4.25 |"), "{md}");
        assert!(md.contains("| w/o IA | ours (`evaluate[seed=42,variant=wo_ia]`) | 50.00 [45.00, 55.00] |"), "{md}");
        assert!(md.contains("| `evaluate[seed=42,variant=full]` | 13.50 | 120.00 | 10.00 | – | – | – | 9.50 | 144 |"), "{md}");
        assert!(md.contains("stage `evaluate[seed=42,variant=full]`, artifact `artifacts/evaluate[seed=42,variant=full]/key-evaluate[seed=42,variant=full]`, params `{\"batch_size\":48,\"decoding\":\"greedy\"}`; model from stage `train`, artifact `tk`, params `{\"dim\":16}`; test data from stage `tokenize`, artifact `kk`"), "{md}");
        assert!(md.trim_end().ends_with("wins"), "{md}");
    }

    #[test]
    fn latex_csv_and_table_agree() {
        let runs = vec![run("evaluate[seed=42,variant=wo_ea]", "wo_ea", 0.25)];
        let tex = latex(&runs);
        assert!(tex.contains("w/o EA & ours (\\texttt{evaluate[seed=42,variant=wo\\_ea]}) & 25.00 {\\scriptsize [20.00, 30.00]} & 123.46 & 1.50 & 4.25 \\\\"), "{tex}");
        assert!(tex.contains("CASE & paper & 40.2 & 35.37 & 0.74 & 4.01 \\\\"), "{tex}");
        let c = csv(&runs);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 1 + 10 + 1);
        assert!(lines[0].starts_with("model,source,variant,stage,key,acc,acc_lo,acc_hi,ppl,"));
        assert!(lines[1].starts_with("EmpDG,paper,,,,34.31,,,37.29,0.46,,,2.02,"), "{}", lines[1]);
        assert!(lines[11].starts_with("w/o EA,ours,wo_ea,\"evaluate[seed=42,variant=wo_ea]\",\"key-evaluate[seed=42,variant=wo_ea]\",25,20,30,123.456,1.5,,,4.25,"), "{}", lines[11]);
        let t = table1(&runs).unwrap();
        assert_eq!(t.num_rows(), 11);
        assert_eq!(t.num_columns(), 5 + 18);
        assert_eq!(iamm_csv::csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    #[test]
    fn csv_text_cells_are_never_formulas_and_numbers_stay_numbers() {
        // Stage names, variants and keys come from the pipeline: hostile ones are quoted
        // away, negative metric values stay numbers.
        let mut r = run("=HYPERLINK(\"http://x\")", "-2+3", 0.25);
        r.key = "@sum(1)".into();
        r.metrics.push(("bleu2".into(), Some(-0.25)));
        let c = csv(&[r]);
        let cells: Vec<&str> = c.lines().last().unwrap().split(',').collect();
        assert_eq!(cells[..5], ["IAMM (other variant)", "ours", "'-2+3", "\"'=HYPERLINK(\"\"http://x\"\")\"", "'@sum(1)"], "{c}");
        assert_eq!(cells[5 + VALUE_COLUMNS.iter().position(|c| *c == "bleu2").unwrap()], "-0.25", "{c}");
        for line in c.lines() {
            for cell in line.split(',') {
                assert!(!cell.starts_with(iamm_csv::FORMULA_TRIGGERS) || cell.parse::<f64>().is_ok(), "{cell:?} in {line}");
            }
        }
        // The Arrow table keeps the exact text.
        let t = table1(&[run("=x", "-y", 0.5)]).unwrap();
        let stage = t.column_by_name("stage").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(stage.value(10), "=x");
    }
}
