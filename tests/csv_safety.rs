//! Hostile dialogue text end to end: the demo corpus with every situation and utterance
//! starting with a formula (`=SUM(1)`, `+cmd|calc`, `-2+3`, `@sum(1)`) runs through the
//! pipeline, and no cell of any CSV it writes for people starts a formula (OWASP "CSV
//! Injection"); the scorer still reads the sheets back, and scoring two of the three exported
//! sheets is an error unless `human_eval_score.annotators` asks for two.

mod common;

use std::path::{Path, PathBuf};

use common::demo::{ANALYSIS, HUMAN_EVAL, HUMAN_EVAL_SCORE};
use common::{Ws, strs, table};
use iamm_csv::{FORMULA_TRIGGERS, strip_formula_guard};
use iamm_human_eval::{Answer, ItemKind, Key, fill_sheet};

const HOSTILE: [&str; 4] = ["=SUM(1)", "+cmd|calc", "-2+3", "@sum(1)"];

/// Prefixes every situation (per conversation, as it must stay constant) and every utterance
/// of the workspace's demo corpus with a hostile opening.
fn hostile_corpus(ws: &Ws) {
    for split in ["train", "valid", "test"] {
        let path = ws.path(&format!("demo/ed/{split}.csv"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            if i == 0 || line.is_empty() {
                out.push_str(line);
            } else {
                let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
                let conv: usize = f[0].rsplit(':').next().unwrap().parse().unwrap();
                f[3] = format!("{} {}", HOSTILE[conv % 4], f[3]);
                f[5] = format!("{} {}", HOSTILE[i % 4], f[5]);
                out.push_str(&f.join(","));
            }
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
    }
}

/// A minimal RFC 4180 reader (a leading byte-order mark dropped): records of cells.
fn parse_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && row.is_empty(), "{}: no final line break", path.display());
    rows
}

/// Asserts that no cell starts a formula (numbers, such as a negative kappa, aside); returns
/// how many cells carry the added `'`.
fn check_cells(path: &Path) -> usize {
    let mut guarded = 0;
    for (r, row) in parse_csv(path).iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            assert!(
                !cell.starts_with(FORMULA_TRIGGERS) || cell.parse::<f64>().is_ok(),
                "{}, record {}, cell {}: {cell:?}",
                path.display(),
                r + 1,
                c + 1
            );
            guarded += usize::from(strip_formula_guard(cell) != cell);
        }
    }
    guarded
}

fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            csv_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "csv") {
            out.push(p);
        }
    }
}

fn dir_of(ws: &Ws, stage: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["show", stage, "--json"];
    args.extend_from_slice(extra);
    PathBuf::from(ws.json(&args)["dir"].as_str().unwrap())
}

#[test]
fn hostile_dialogue_text_never_becomes_a_formula_and_missing_sheets_are_named() {
    let ws = Ws::demo();
    hostile_corpus(&ws);
    ws.ok(&["run", "human_eval_score", "analysis", "report"]);
    ws.ok(&["report"]);

    // The text does reach the tables as it is.
    let ing = ws.json(&["show", "ingest", "--json"]);
    let situations = strs(&table(&ing, "dialogues_test"), "situation");
    assert!(situations.iter().all(|s| s.starts_with(FORMULA_TRIGGERS)), "{situations:?}");

    // Every CSV of every artifact, and the report's copies.
    let mut files = Vec::new();
    csv_files(&ws.path("artifacts"), &mut files);
    csv_files(&ws.path("reports"), &mut files);
    let mut guarded = std::collections::BTreeMap::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        *guarded.entry(name).or_insert(0) += check_cells(f);
    }
    for name in ["annotator_1.csv", "annotator_3.csv", "key.csv", "table2.csv", "word_stats.csv", "curves.csv", "table1.csv"] {
        assert!(guarded.contains_key(name), "no {name} among {files:?}");
    }
    // The attention checks show human references, which start with the hostile text; and
    // hostile words are among the associated ones.
    for name in ["annotator_1.csv", "annotator_2.csv", "annotator_3.csv", "word_stats.csv", "curves.csv"] {
        assert!(guarded[name] > 0, "nothing guarded in {name}: {guarded:?}");
    }

    // word_stats.csv reads back to the exact words of the Parquet table, which has no `'`.
    let an = ws.json(&["show", ANALYSIS, "--json"]);
    let words = strs(&table(&an, "word_stats"), "word");
    assert!(words.iter().any(|w| w.starts_with(FORMULA_TRIGGERS)), "{words:?}");
    let csv = parse_csv(&dir_of(&ws, ANALYSIS, &[]).join("word_stats.csv"));
    let col = csv[0].iter().position(|h| h == "word").unwrap();
    let back: Vec<&str> = csv[1..].iter().map(|r| strip_formula_guard(&r[col])).collect();
    assert_eq!(back, words);

    // The sheets read back: annotators 1 and 2 return their CSV sheets, annotator 3 does not.
    let export = dir_of(&ws, HUMAN_EVAL, &[]);
    let key = Key::read_csv(&export.join("key.csv")).unwrap();
    let two = ws.path("two");
    std::fs::create_dir_all(&two).unwrap();
    for k in 1..=2 {
        let name = format!("annotator_{k}.csv");
        let src = export.join("sheets").join(&name);
        fill_sheet(&src, &two.join(&name), |id| {
            let row = key.get(id).unwrap();
            match row.kind {
                ItemKind::AttentionCheck => [row.expected.unwrap(); 3],
                _ => [if row.a_is == "proposed" { Answer::A } else { Answer::B }; 3],
            }
            .map(|a| a.as_str().to_string())
        })
        .unwrap();
        let (a, b) = (parse_csv(&src), parse_csv(&two.join(&name)));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x[..4], y[..4], "{name}: the shown text is written back as it was");
        }
    }
    let err = ws.fails(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=two"]);
    // The hint names the member, quoted for a shell.
    let hint = "`-p 'human_eval_score[seed=42]'.annotators=2`";
    for part in ["2 filled sheet(s)", "(annotator_1.csv, annotator_2.csv)", "the export wrote 3", "missing: annotator_3", hint] {
        assert!(err.contains(part), "no {part:?} in: {err}");
    }
    let out = ws.ok(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=two", "-p", "human_eval_score.annotators=2"]);
    assert!(out.contains(&format!("ran     {HUMAN_EVAL_SCORE}")) && out.contains("(2 annotators)"), "{out}");
    let s = ws.json(&["show", HUMAN_EVAL_SCORE, "--json", "-p", "human_eval_score.sheets=two", "-p", "human_eval_score.annotators=2"]);
    assert_eq!(s["stats"]["annotators"], serde_json::json!(["annotator_1.csv", "annotator_2.csv"]));
    assert_eq!(s["stats"]["aspects"]["empathy"]["lose"], 0.0);
    assert_eq!(s["stats"]["aspects"]["empathy"]["lose_n"], 0);
    for a in s["stats"]["attention"].as_array().unwrap() {
        assert_eq!(a["passed"], a["total"], "{a}");
    }
    // Three sheets asked for by number, two given: still an error.
    let err = ws.fails(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=two", "-p", "human_eval_score.annotators=3"]);
    assert!(err.contains("`annotators` asks for 3 and the export wrote 3") && err.contains("missing: annotator_3"), "{err}");
    // Simulated annotators: the first two sheets.
    let out = ws.ok(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.annotators=2"]);
    assert!(out.contains("(2 annotators)"), "{out}");
}
