//! The report's tables for programs, each written as Parquet and CSV with the same columns:
//! `table1` (the paper's rows, then one per system of ours), `table1_runs` (one per run) and
//! `significance` (one per test).

use crate::params::method_word;
use crate::sheet::{Column, Sheet};
use crate::{PAPER_TABLE1, Report, Run, TABLE1, Tests, paper_label, table1_scale};

/// Every metric of a run: column name, `metrics` column.
const RUN_COLUMNS: [(&str, &str); 18] = [
    ("acc_pct", "acc"),
    ("acc_pct_lo", "acc_lo"),
    ("acc_pct_hi", "acc_hi"),
    ("ppl", "ppl"),
    ("dist1", "dist1"),
    ("dist1_lo", "dist1_lo"),
    ("dist1_hi", "dist1_hi"),
    ("dist2", "dist2"),
    ("dist2_lo", "dist2_lo"),
    ("dist2_hi", "dist2_hi"),
    ("acc_example_pct", "acc_example"),
    ("ppl_corpus", "ppl_corpus"),
    ("bleu1", "bleu1"),
    ("bleu2", "bleu2"),
    ("bleu3", "bleu3"),
    ("bleu4", "bleu4"),
    ("avg_len", "avg_len"),
    ("examples", "examples"),
];

fn texts<T>(rows: &[T], f: impl Fn(&T) -> Option<String>) -> Column {
    Column::Text(rows.iter().map(f).collect())
}

fn joined<T: ToString>(values: impl IntoIterator<Item = T>) -> String {
    values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")
}

/// The seeds of some runs, space-separated (`None` where a run has none).
fn seeds_text(seeds: &[Option<i64>]) -> Option<String> {
    seeds.iter().copied().collect::<Option<Vec<i64>>>().map(joined)
}

/// Table 1: model, source, system, variant, n, seeds, stages, keys, then per metric the value
/// (our systems: the mean over their runs), `_sd` (the sample standard deviation, from two
/// runs on) and, where a system is one run, its 95% interval `_lo`, `_hi`. Acc in %.
pub fn table1(r: &Report) -> Sheet {
    enum Line<'a> {
        Paper(&'a crate::PaperRow),
        Ours(&'a crate::System),
    }
    let lines: Vec<Line> = PAPER_TABLE1.iter().map(Line::Paper).chain(r.systems.iter().map(Line::Ours)).collect();
    let ours = |f: &dyn Fn(&crate::System) -> Option<String>| {
        texts(&lines, |l| match l {
            Line::Paper(_) => None,
            Line::Ours(s) => f(s),
        })
    };
    let runs_of = |s: &crate::System| s.runs.iter().map(|&i| &r.runs[i]).collect::<Vec<&Run>>();
    let mut sheet = Sheet::default();
    sheet.push("model", texts(&lines, |l| Some(match l {
        Line::Paper(p) => p.model.to_string(),
        Line::Ours(s) => paper_label(&s.variant).to_string(),
    })));
    sheet.push("source", texts(&lines, |l| Some(if matches!(l, Line::Paper(_)) { "paper" } else { "ours" }.to_string())));
    sheet.push("system", ours(&|s| Some(s.label.clone())));
    sheet.push("variant", ours(&|s| Some(s.variant.clone())));
    sheet.push(
        "n",
        Column::Count(lines.iter().map(|l| if let Line::Ours(s) = l { Some(s.runs.len() as u32) } else { None }).collect()),
    );
    sheet.push("seeds", ours(&|s| seeds_text(&s.seeds(&r.runs))));
    sheet.push("stages", ours(&|s| Some(joined(runs_of(s).iter().map(|x| &x.stage)))));
    sheet.push("keys", ours(&|s| Some(joined(runs_of(s).iter().map(|x| &x.key)))));
    for (metric, column, ci) in TABLE1 {
        let scale = table1_scale(metric);
        let value = |l: &Line, part: &str| -> Option<f64> {
            match l {
                Line::Paper(p) => (part.is_empty()).then(|| p.value(metric)).flatten(),
                Line::Ours(s) => {
                    let summary = s.summary(&r.runs, metric)?;
                    match part {
                        "" => Some(summary.mean * scale),
                        "_sd" => summary.sd.map(|sd| sd * scale),
                        bound if s.runs.len() == 1 => r.runs[s.runs[0]].table1(&format!("{metric}{bound}")),
                        _ => None,
                    }
                }
            }
        };
        let parts: &[&str] = if ci { &["", "_sd", "_lo", "_hi"] } else { &["", "_sd"] };
        for part in parts {
            sheet.push(format!("{column}{part}"), Column::Float(lines.iter().map(|l| value(l, part)).collect()));
        }
    }
    sheet
}

/// One row per run of ours: model, system, variant, seed, stage, key, then every metric
/// (Acc in %, as `acc_pct`).
pub fn runs_table(r: &Report) -> Sheet {
    let rows: Vec<(&Run, &crate::System)> = r.runs.iter().enumerate().map(|(i, run)| (run, r.system_of(i))).collect();
    let mut sheet = Sheet::default();
    sheet.push("model", texts(&rows, |(run, _)| Some(paper_label(&run.variant).to_string())));
    sheet.push("system", texts(&rows, |(_, s)| Some(s.label.clone())));
    sheet.push("variant", texts(&rows, |(run, _)| Some(run.variant.clone())));
    sheet.push("seed", Column::Int(rows.iter().map(|(run, _)| run.seed).collect()));
    sheet.push("stage", texts(&rows, |(run, _)| Some(run.stage.clone())));
    sheet.push("key", texts(&rows, |(run, _)| Some(run.key.clone())));
    for (column, metric) in RUN_COLUMNS {
        let values = rows.iter().map(|(run, _)| run.table1(metric));
        sheet.push(
            column,
            if metric == "examples" {
                Column::Count(values.map(|v| v.map(|v| v as u32)).collect())
            } else {
                Column::Float(values.collect())
            },
        );
    }
    sheet
}

/// One row per test: the two systems, the metric (`acc` a fraction, Dist-n x100, as in the
/// `metrics` tables), each system's value, `difference` = b − a, the two-sided `p`, the method
/// and resamples, the runs per system, and which runs (seeds, stages, keys; space-separated).
pub fn significance_table(t: &Tests) -> Sheet {
    let c = &t.comparisons;
    let mut sheet = Sheet::default();
    let float = |f: fn(&crate::Comparison) -> f64| Column::Float(c.iter().map(|x| Some(f(x))).collect());
    sheet.push("system_a", texts(c, |x| Some(x.system_a.clone())));
    sheet.push("system_b", texts(c, |x| Some(x.system_b.clone())));
    sheet.push("metric", texts(c, |x| Some(x.metric.to_string())));
    sheet.push("a", float(|x| x.outcome.a));
    sheet.push("b", float(|x| x.outcome.b));
    sheet.push("difference", float(crate::Comparison::difference));
    sheet.push("p", float(|x| x.outcome.p));
    sheet.push("method", texts(c, |x| Some(method_word(x.outcome.method).to_string())));
    sheet.push("resamples", Column::Int(c.iter().map(|x| Some(x.outcome.resamples as i64)).collect()));
    sheet.push("runs", Column::Count(c.iter().map(|x| Some(x.runs() as u32)).collect()));
    sheet.push("seeds_a", texts(c, |x| seeds_text(&x.seeds_a)));
    sheet.push("seeds_b", texts(c, |x| seeds_text(&x.seeds_b)));
    sheet.push("stages_a", texts(c, |x| Some(joined(&x.stages_a))));
    sheet.push("stages_b", texts(c, |x| Some(joined(&x.stages_b))));
    sheet.push("keys_a", texts(c, |x| Some(joined(&x.keys_a))));
    sheet.push("keys_b", texts(c, |x| Some(joined(&x.keys_b))));
    sheet.push("note", texts(c, |x| x.note.clone()));
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::tests::run;

    fn report() -> Report {
        let mut runs = vec![
            run("e[seed=1,variant=full]", "full", Some(1), "greedy", 0.1),
            run("e[seed=2,variant=full]", "full", Some(2), "greedy", 0.3),
            run("e[seed=1,variant=wo_ea]", "wo_ea", Some(1), "greedy", 0.25),
        ];
        runs[2].metrics.extend([("acc_lo".to_string(), Some(0.2)), ("acc_hi".to_string(), Some(0.3)), ("examples".to_string(), Some(63.0))]);
        Report::new(runs, vec![])
    }

    #[test]
    fn table1_has_a_row_per_system_with_mean_sd_and_n() {
        let t = table1(&report());
        assert_eq!(t.rows(), 10 + 2);
        let names: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..10], ["model", "source", "system", "variant", "n", "seeds", "stages", "keys", "acc_pct", "acc_pct_sd"]);
        assert!(!names.contains(&"acc"), "Acc in % is acc_pct: {names:?}");
        let col = |name: &str| t.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c.clone()).unwrap();
        let Column::Float(acc) = col("acc_pct") else { panic!() };
        let Column::Float(sd) = col("acc_pct_sd") else { panic!() };
        let Column::Float(lo) = col("acc_pct_lo") else { panic!() };
        assert_eq!(acc[6], Some(55.92), "the paper's IAMM");
        assert!((acc[10].unwrap() - 20.0).abs() < 1e-12 && (sd[10].unwrap() - 200f64.sqrt()).abs() < 1e-12, "{acc:?} {sd:?}");
        assert_eq!((acc[11], sd[11], lo[11], lo[10]), (Some(25.0), None, Some(20.0), None));
        assert_eq!(col("n"), Column::Count([vec![None; 10], vec![Some(2), Some(1)]].concat()));
        let Column::Text(seeds) = col("seeds") else { panic!() };
        assert_eq!((seeds[9].as_deref(), seeds[10].as_deref(), seeds[11].as_deref()), (None, Some("1 2"), Some("1")));
        let csv = t.csv();
        assert!(csv.lines().nth(12).unwrap().starts_with("w/o EA,ours,w/o EA,wo_ea,1,1,\"e[seed=1,variant=wo_ea]\",\"key-e[seed=1,variant=wo_ea]\",25,,20,30,"), "{csv}");
        assert_eq!(t.batch().unwrap().num_rows(), 12);
    }

    #[test]
    fn runs_table_keeps_every_run() {
        let t = runs_table(&report());
        assert_eq!(t.rows(), 3);
        let c = t.csv();
        assert!(c.starts_with("model,system,variant,seed,stage,key,acc_pct,acc_pct_lo,acc_pct_hi,ppl,"), "{c}");
        assert!(c.contains("\nw/o EA,w/o EA,wo_ea,1,\"e[seed=1,variant=wo_ea]\",\"key-e[seed=1,variant=wo_ea]\",25,20,30,"), "{c}");
        assert!(c.trim_end().ends_with(",63"), "examples as a count: {c}");
    }
}
