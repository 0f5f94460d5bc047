//! Unblinding the filled sheets and computing Table 2.

use std::collections::HashMap;
use std::fmt::Write as _;

use iamm_csv::csv_text_cell;

use crate::export::CHECK_DESIGN;
use crate::key::Key;
use crate::paper::PAPER_TABLE2;
use crate::sheets::FilledSheet;
use crate::stats::{fleiss_kappa, sign_test};
use crate::{Aggregate, Answer, Aspect, Error, ItemKind, Outcome, Result};

/// The label every output made from simulated annotators carries.
pub const SIMULATED: &str = "simulated annotators (demo)";

#[derive(Debug, Clone, PartialEq)]
pub struct AspectResult {
    pub aspect: Aspect,
    /// Counts in the chosen aggregate (judgements when pooled, items when majority).
    pub win: u64,
    pub lose: u64,
    pub tie: u64,
    pub win_pct: f64,
    pub lose_pct: f64,
    pub tie_pct: f64,
    /// Fleiss' kappa across annotators over the pairs they rated (3 categories after
    /// unblinding); `None` with the reason when it is undefined.
    pub kappa: Option<f64>,
    pub kappa_note: Option<String>,
    /// Exact two-sided sign test of `win` vs `lose` (ties dropped).
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttentionResult {
    pub file: String,
    /// Checks where all three answers named the right response.
    pub passed: usize,
    pub total: usize,
    /// Answers (three per check) that named the right response.
    pub answers_right: usize,
}

/// One unblinded judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub file: String,
    pub row: usize,
    pub item_id: String,
    pub example_id: u32,
    pub kind: ItemKind,
    pub aspect: Aspect,
    pub answer: Answer,
    /// For pairs: the proposed system's outcome; for checks: whether the answer was right
    /// is `answer == expected`, and this is `None`.
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub proposed: String,
    pub baseline: String,
    pub aggregate: Aggregate,
    /// Sheet file names, one per annotator.
    pub annotators: Vec<String>,
    /// Pairs the annotators rated.
    pub pairs: usize,
    /// Pairs with identical responses, counted as ties without being shown.
    pub auto_ties: usize,
    pub aspects: Vec<AspectResult>,
    pub attention: Vec<AttentionResult>,
    pub judgements: Vec<Judgement>,
    /// `Some(SIMULATED)` when the answers did not come from people.
    pub label: Option<String>,
}

/// Unblinds validated sheets with the key and computes per-aspect Win/Lose/Tie, kappa and
/// the sign test.
pub fn score(key: &Key, sheets: &[FilledSheet], aggregate: Aggregate) -> Result<Scores> {
    if sheets.is_empty() {
        return Err(Error::Input("no filled sheets to score".into()));
    }
    let shown: Vec<_> = key.rows.iter().filter(|r| r.in_sheets()).collect();
    // Answers by item, one entry per sheet, in sheet order.
    let mut by_item: HashMap<&str, Vec<[Answer; 3]>> = HashMap::new();
    let mut judgements = Vec::new();
    for sheet in sheets {
        for row in &sheet.rows {
            let k = key.get(&row.item_id).ok_or_else(|| {
                Error::Input(format!("{}, row {}: unknown item id `{}`", sheet.file, row.row, row.item_id))
            })?;
            by_item.entry(k.item_id.as_str()).or_default().push(row.answers);
            for (aspect, &answer) in Aspect::ALL.iter().zip(&row.answers) {
                judgements.push(Judgement {
                    file: sheet.file.clone(),
                    row: row.row,
                    item_id: k.item_id.clone(),
                    example_id: k.example_id,
                    kind: k.kind,
                    aspect: *aspect,
                    answer,
                    outcome: (k.kind == ItemKind::Pair).then(|| key.unblind(k, answer)),
                });
            }
        }
    }
    let n = sheets.len();
    for r in &shown {
        let got = by_item.get(r.item_id.as_str()).map_or(0, Vec::len);
        if got != n {
            return Err(Error::Input(format!(
                "item `{}` has {got} answers from {n} sheets; every annotator must rate every item",
                r.item_id
            )));
        }
    }
    let pairs: Vec<_> = shown.iter().filter(|r| r.kind == ItemKind::Pair).collect();
    let auto_ties = key.rows.iter().filter(|r| r.kind == ItemKind::AutoTie).count();

    let mut aspects = Vec::new();
    for (j, aspect) in Aspect::ALL.iter().enumerate() {
        // Per shown pair: how many annotators gave win / lose / tie.
        let table: Vec<[u64; 3]> = pairs
            .iter()
            .map(|r| {
                let mut c = [0u64; 3];
                for a in &by_item[r.item_id.as_str()] {
                    c[key.unblind(r, a[j]).index()] += 1;
                }
                c
            })
            .collect();
        let mut totals = [0u64; 3];
        match aggregate {
            Aggregate::Pooled => {
                for c in &table {
                    for (t, x) in totals.iter_mut().zip(c) {
                        *t += x;
                    }
                }
                totals[2] += (auto_ties * n) as u64;
            }
            Aggregate::Majority => {
                for c in &table {
                    let o = if c[0] * 2 > n as u64 {
                        0
                    } else if c[1] * 2 > n as u64 {
                        1
                    } else {
                        2
                    };
                    totals[o] += 1;
                }
                totals[2] += auto_ties as u64;
            }
        }
        let all: u64 = totals.iter().sum();
        let pct = |x: u64| if all == 0 { 0.0 } else { 100.0 * x as f64 / all as f64 };
        let (kappa, kappa_note) = match fleiss_kappa(&table) {
            Ok(k) => (Some(k), None),
            Err(e) => (None, Some(e.to_string())),
        };
        aspects.push(AspectResult {
            aspect: *aspect,
            win: totals[0],
            lose: totals[1],
            tie: totals[2],
            win_pct: pct(totals[0]),
            lose_pct: pct(totals[1]),
            tie_pct: pct(totals[2]),
            kappa,
            kappa_note,
            p_value: sign_test(totals[0], totals[1]),
        });
    }

    let checks: Vec<_> = shown.iter().filter(|r| r.kind == ItemKind::AttentionCheck).collect();
    let attention = sheets
        .iter()
        .map(|s| {
            let mut res = AttentionResult { file: s.file.clone(), passed: 0, total: checks.len(), answers_right: 0 };
            for row in &s.rows {
                if let Some(k) = key.get(&row.item_id)
                    && k.kind == ItemKind::AttentionCheck
                    && let Some(right) = k.expected
                {
                    let n_right = row.answers.iter().filter(|a| **a == right).count();
                    res.answers_right += n_right;
                    res.passed += usize::from(n_right == 3);
                }
            }
            res
        })
        .collect();
    Ok(Scores {
        proposed: key.proposed.clone(),
        baseline: key.baseline.clone(),
        aggregate,
        annotators: sheets.iter().map(|s| s.file.clone()).collect(),
        pairs: pairs.len(),
        auto_ties,
        aspects,
        attention,
        judgements,
        label: None,
    })
}

fn kappa_text(k: Option<f64>) -> String {
    k.map(|k| format!("{k:.2}")).unwrap_or_else(|| "n/a".into())
}

fn p_text(p: f64) -> String {
    if p < 0.001 { format!("{p:.1e}") } else { format!("{p:.3}") }
}

fn latex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            _ => out.push(ch),
        }
    }
    out
}

/// One row of Table 2 as every rendering shows it: ours (`ours` holds the aspect's counts and
/// test) or the paper's (its Tie derived as 100 − Win − Lose).
struct Table2Row<'a> {
    source: String,
    comparison: String,
    aspect: &'static str,
    win: f64,
    lose: f64,
    tie: f64,
    kappa: Option<f64>,
    ours: Option<&'a AspectResult>,
}

impl Table2Row<'_> {
    fn p_text(&self) -> Option<String> {
        self.ours.map(|a| p_text(a.p_value))
    }
}

impl Scores {
    /// Our rows, then the paper's.
    fn table2_rows(&self) -> Vec<Table2Row<'_>> {
        let ours = self.aspects.iter().map(|a| Table2Row {
            source: self.source(),
            comparison: self.comparison(),
            aspect: a.aspect.short(),
            win: a.win_pct,
            lose: a.lose_pct,
            tie: a.tie_pct,
            kappa: a.kappa,
            ours: Some(a),
        });
        let paper = PAPER_TABLE2.iter().map(|r| Table2Row {
            source: "paper".into(),
            comparison: r.comparison.into(),
            aspect: r.aspect.short(),
            win: r.win,
            lose: r.lose,
            tie: r.tie(),
            kappa: Some(r.kappa),
            ours: None,
        });
        ours.chain(paper).collect()
    }

    pub fn comparison(&self) -> String {
        format!("{} vs. {}", self.proposed, self.baseline)
    }

    fn source(&self) -> String {
        match &self.label {
            Some(l) => format!("ours ({l})"),
            None => "ours".into(),
        }
    }

    /// What the numbers are: items, annotators, aggregate, and the simulation label.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}: {} pairs{} rated by {} annotator(s); {}",
            self.comparison(),
            self.pairs,
            if self.auto_ties > 0 { format!(" (+{} identical, counted as ties)", self.auto_ties) } else { String::new() },
            self.annotators.len(),
            match self.aggregate {
                Aggregate::Pooled => "percentages over all judgements (pooled)",
                Aggregate::Majority => "percentages over items (majority of annotators; no majority = tie)",
            }
        );
        if let Some(l) = &self.label {
            s = format!("{} — {s}", l.to_uppercase());
        }
        s
    }

    pub fn table2_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "**Table 2 (human A/B evaluation).** {}\n", self.describe());
        let _ = writeln!(s, "| Comparison | Aspect | Win | Lose | Tie | κ | p (sign test) | Source |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---|");
        for row in self.table2_rows() {
            let dagger = if row.ours.is_some() { "" } else { "†" };
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {:.1}{dagger} | {} | {} | {} |",
                row.comparison,
                row.aspect,
                row.win,
                row.lose,
                row.tie,
                kappa_text(row.kappa),
                row.p_text().unwrap_or_else(|| "–".into()),
                row.source
            );
        }
        let _ = writeln!(s, "\n† not printed in the paper: 100 − Win − Lose.");
        s
    }

    pub fn table2_latex(&self) -> String {
        let mut s = String::new();
        if let Some(l) = &self.label {
            let _ = writeln!(s, "% {}: these are not human judgements.", l.to_uppercase());
        }
        let _ = writeln!(s, "\\begin{{table}}[t]\n\\centering\n\\begin{{tabular}}{{llrrrrrl}}\n\\hline");
        let _ = writeln!(s, "Comparison & Aspect & Win & Lose & Tie & $\\kappa$ & $p$ & Source \\\\\n\\hline");
        let mut ours_done = false;
        for row in self.table2_rows() {
            if row.ours.is_none() && !ours_done {
                ours_done = true;
                let _ = writeln!(s, "\\hline");
            }
            let dagger = if row.ours.is_some() { "" } else { "$^\\dagger$" };
            let _ = writeln!(
                s,
                "{} & {} & {:.1} & {:.1} & {:.1}{dagger} & {} & {} & {} \\\\",
                latex_escape(&row.comparison),
                row.aspect,
                row.win,
                row.lose,
                row.tie,
                kappa_text(row.kappa),
                row.p_text().unwrap_or_else(|| "--".into()),
                latex_escape(&row.source)
            );
        }
        let _ = writeln!(s, "\\hline\n\\end{{tabular}}");
        let _ = writeln!(
            s,
            "\\caption{{Human A/B evaluation. {}. $\\kappa$: Fleiss' kappa across annotators; $p$: exact two-sided sign test of Win vs.\\ Lose. $^\\dagger$100 $-$ Win $-$ Lose (not printed in the paper).}}",
            latex_escape(&self.describe())
        );
        let _ = writeln!(s, "\\end{{table}}");
        s
    }

    /// Table 2 as CSV; text cells (the system names come from the pipeline) through
    /// [`csv_text_cell`], numbers as they are.
    pub fn table2_csv(&self) -> String {
        let mut s = String::from(
            "source,comparison,aspect,win,lose,tie,tie_derived,kappa,p_value,win_n,lose_n,tie_n,pairs,annotators,aggregate\n",
        );
        for row in self.table2_rows() {
            let (win, lose, tie, tie_derived, rest) = match row.ours {
                Some(a) => (
                    format!("{:.4}", row.win),
                    format!("{:.4}", row.lose),
                    format!("{:.4}", row.tie),
                    false,
                    format!(
                        "{},{},{},{},{},{},{},{}",
                        row.kappa.map(|k| format!("{k:.6}")).unwrap_or_default(),
                        a.p_value,
                        a.win,
                        a.lose,
                        a.tie,
                        self.pairs,
                        self.annotators.len(),
                        csv_text_cell(self.aggregate.name())
                    ),
                ),
                None => (
                    format!("{:.1}", row.win),
                    format!("{:.1}", row.lose),
                    format!("{:.1}", row.tie),
                    true,
                    format!("{},,,,,,,", row.kappa.map(|k| format!("{k:.2}")).unwrap_or_default()),
                ),
            };
            let (source, comparison) = (csv_text_cell(&row.source), csv_text_cell(&row.comparison));
            let _ = writeln!(s, "{source},{comparison},{},{win},{lose},{tie},{tie_derived},{rest}", csv_text_cell(row.aspect));
        }
        s
    }

    /// A section for the run report.
    pub fn report_section(&self) -> String {
        let mut s = String::from("## Human evaluation (Table 2)\n\n");
        if let Some(l) = &self.label {
            let _ = writeln!(
                s,
                "> **{}.** No person rated these responses: a seeded simulator filled the exported sheets to \
                 show the scoring loop end to end. Hand the sheets to annotators and score them with \
                 `-p human_eval_score.sheets=DIR` for real numbers.\n",
                capitalise(l)
            );
        }
        s.push_str(&self.table2_markdown());
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "- κ is Fleiss' kappa across the {} annotators over the {} rated pairs (categories win / lose / tie \
             after unblinding); the paper reports 0.42–0.46.",
            self.annotators.len(),
            self.pairs
        );
        let _ = writeln!(
            s,
            "- p is an exact two-sided sign test of Win against Lose (ties dropped) over the {}",
            match self.aggregate {
                Aggregate::Pooled => "pooled judgements; it treats the annotators' judgements of one item as independent, \
                                      so it overstates the evidence (run with `aggregate: majority` for an item-level test).",
                Aggregate::Majority => "items' majority outcomes.",
            }
        );
        for a in &self.aspects {
            if let Some(note) = &a.kappa_note {
                let _ = writeln!(s, "- κ for {} is undefined: {note}.", a.aspect.column());
            }
        }
        if self.attention.iter().any(|a| a.total > 0) {
            let _ = writeln!(s, "- Attention checks: {CHECK_DESIGN}");
            for a in &self.attention {
                let _ = writeln!(
                    s,
                    "  - {}: {}/{} checks passed ({} of {} answers right)",
                    a.file,
                    a.passed,
                    a.total,
                    a.answers_right,
                    a.total * 3
                );
            }
        }
        s
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl Scores {
    /// `table2` (ours beside the paper), `judgements` (one row per answer, unblinded) and
    /// `attention` (per annotator) as Arrow tables.
    pub fn tables(&self) -> Result<Vec<(String, arrow_array::RecordBatch)>> {
        use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
        use std::sync::Arc;
        let err = |e: arrow_schema::ArrowError| Error::Input(format!("building the score tables: {e}"));
        let rows = self.table2_rows();
        let col = |f: fn(&Table2Row) -> f64| Float64Array::from_iter_values(rows.iter().map(f));
        let simulated = self.label.is_some();
        let table2 = RecordBatch::try_from_iter([
            ("source", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.source.as_str()))) as ArrayRef),
            ("comparison", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.comparison.as_str())))),
            ("aspect", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.aspect)))),
            ("win", Arc::new(col(|r| r.win))),
            ("lose", Arc::new(col(|r| r.lose))),
            ("tie", Arc::new(col(|r| r.tie))),
            ("tie_derived", Arc::new(rows.iter().map(|r| Some(r.ours.is_none())).collect::<BooleanArray>())),
            ("kappa", Arc::new(rows.iter().map(|r| r.kappa).collect::<Float64Array>())),
            ("p_value", Arc::new(rows.iter().map(|r| r.ours.map(|a| a.p_value)).collect::<Float64Array>())),
            ("simulated", Arc::new(rows.iter().map(|r| Some(simulated && r.ours.is_some())).collect::<BooleanArray>())),
        ])
        .map_err(err)?;
        let j = &self.judgements;
        let judgements = RecordBatch::try_from_iter([
            ("sheet", Arc::new(StringArray::from_iter_values(j.iter().map(|x| x.file.as_str()))) as ArrayRef),
            ("row", Arc::new(UInt32Array::from_iter_values(j.iter().map(|x| x.row as u32)))),
            ("item_id", Arc::new(StringArray::from_iter_values(j.iter().map(|x| x.item_id.as_str())))),
            ("example_id", Arc::new(UInt32Array::from_iter_values(j.iter().map(|x| x.example_id)))),
            ("kind", Arc::new(StringArray::from_iter_values(j.iter().map(|x| x.kind.as_str())))),
            ("aspect", Arc::new(StringArray::from_iter_values(j.iter().map(|x| x.aspect.column())))),
            ("answer", Arc::new(StringArray::from_iter_values(j.iter().map(|x| x.answer.as_str())))),
            ("outcome", Arc::new(j.iter().map(|x| x.outcome.map(Outcome::as_str)).collect::<StringArray>())),
        ])
        .map_err(err)?;
        let a = &self.attention;
        let attention = RecordBatch::try_from_iter([
            ("sheet", Arc::new(StringArray::from_iter_values(a.iter().map(|x| x.file.as_str()))) as ArrayRef),
            ("passed", Arc::new(UInt32Array::from_iter_values(a.iter().map(|x| x.passed as u32)))),
            ("total", Arc::new(UInt32Array::from_iter_values(a.iter().map(|x| x.total as u32)))),
            ("answers_right", Arc::new(UInt32Array::from_iter_values(a.iter().map(|x| x.answers_right as u32)))),
        ])
        .map_err(err)?;
        Ok(vec![("table2".into(), table2), ("judgements".into(), judgements), ("attention".into(), attention)])
    }
}
