//! The annotator workflow end to end: the demo exports sheets and scores simulated ones; real
//! (here: programmatically filled) sheets are scored through the `sheets` param; a bad answer
//! stops the run with its sheet, row and column.

mod common;

use std::path::{Path, PathBuf};

use common::Ws;
use common::demo::{HUMAN_EVAL, HUMAN_EVAL_SCORE};
use iamm_human_eval::{Answer, ItemKind, Key, KeyRow, fill_sheet};

/// The `folder` line of `iamm-pipe show STAGE`, which is how a user finds the sheets.
fn folder(ws: &Ws, stage: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["show", stage];
    args.extend_from_slice(extra);
    let out = ws.ok(&args);
    let line = out.lines().find_map(|l| l.strip_prefix("folder")).unwrap_or_else(|| panic!("no folder line: {out}"));
    PathBuf::from(line.trim())
}

/// Planted answers: the proposed system wins empathy everywhere, loses relevance on even
/// example ids and ties it on odd ones, and fluency is a tie; checks are answered right.
fn planted(row: &KeyRow) -> [Answer; 3] {
    let side = |proposed_wins: bool| if (row.a_is == "proposed") == proposed_wins { Answer::A } else { Answer::B };
    match row.kind {
        ItemKind::AttentionCheck => [row.expected.unwrap(); 3],
        _ => [side(true), if row.example_id.is_multiple_of(2) { side(false) } else { Answer::Tie }, Answer::Tie],
    }
}

fn fill_all(key: &Key, sheets: &Path, dst: &Path, bad: Option<&str>) {
    std::fs::create_dir_all(dst).unwrap();
    for k in 1..=3 {
        // Annotator 2 returns the XLSX sheet, the others CSV.
        let ext = if k == 2 { "xlsx" } else { "csv" };
        let name = format!("annotator_{k}.{ext}");
        fill_sheet(&sheets.join(&name), &dst.join(&name), |id| {
            let a = planted(key.get(id).unwrap()).map(|a| a.as_str().to_lowercase());
            if k == 3 && Some(id) == bad { [a[0].clone(), "maybe".into(), a[2].clone()] } else { a }
        })
        .unwrap();
    }
}

#[test]
fn annotator_workflow_from_export_to_table2() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", HUMAN_EVAL_SCORE]);
    assert!(out.contains(&format!("ran     {HUMAN_EVAL_SCORE}")), "{out}");

    // The export: three sheets in two formats, instructions, and the key beside (not in) sheets/.
    let export = folder(&ws, HUMAN_EVAL, &[]);
    let sheets = export.join("sheets");
    for k in 1..=3 {
        assert!(sheets.join(format!("annotator_{k}.csv")).is_file());
        assert!(sheets.join(format!("annotator_{k}.xlsx")).is_file());
    }
    assert!(sheets.join("INSTRUCTIONS.txt").is_file());
    assert!(!sheets.join("key.csv").exists());
    let key = Key::read_csv(&export.join("key.csv")).unwrap();
    let m = ws.json(&["show", HUMAN_EVAL, "--json"]);
    let pairs: Vec<&KeyRow> = key.rows.iter().filter(|r| r.kind == ItemKind::Pair).collect();
    let ties = key.rows.iter().filter(|r| r.kind == ItemKind::AutoTie).count();
    assert_eq!(m["stats"]["pairs_shown"], pairs.len());
    assert_eq!(m["stats"]["auto_ties"], ties);
    assert!(pairs.len() + ties > 5, "{m}");

    // The default scores simulated annotators and says so everywhere.
    let sim = folder(&ws, HUMAN_EVAL_SCORE, &[]);
    let s = ws.json(&["show", HUMAN_EVAL_SCORE, "--json"]);
    assert_eq!(s["stats"]["simulated"], true);
    assert!(s["summary"].as_str().unwrap().contains("SIMULATED ANNOTATORS (DEMO)"));
    for f in ["table2.md", "table2.tex", "report_section.md"] {
        let text = std::fs::read_to_string(sim.join(f)).unwrap().to_lowercase();
        assert!(text.contains("simulated annotators (demo)"), "{f}: {text}");
    }
    assert!(std::fs::read_to_string(sim.join("table2.csv")).unwrap().contains("ours (simulated annotators (demo))"));

    // Real sheets: fill the handed-out files with a known pattern, score through the param.
    fill_all(&key, &sheets, &ws.path("filled"), None);
    let run = ws.ok(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=filled"]);
    assert!(run.contains(&format!("cached  {HUMAN_EVAL} ")) && run.contains(&format!("ran     {HUMAN_EVAL_SCORE}")), "{run}");
    let r = ws.json(&["show", HUMAN_EVAL_SCORE, "--json", "-p", "human_eval_score.sheets=filled"]);
    assert_eq!(r["stats"]["simulated"], false);
    assert!(!r["summary"].as_str().unwrap().to_lowercase().contains("simulated"));
    let (n, t) = (pairs.len() as f64, (pairs.len() + ties) as f64);
    let even = pairs.iter().filter(|r| r.example_id.is_multiple_of(2)).count() as f64;
    let pct = |aspect: &str, what: &str| r["stats"]["aspects"][aspect][what].as_f64().unwrap();
    let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    close(pct("empathy", "win"), 100.0 * n / t);
    close(pct("empathy", "lose"), 0.0);
    close(pct("empathy", "tie"), 100.0 * ties as f64 / t);
    close(pct("relevance", "lose"), 100.0 * even / t);
    close(pct("relevance", "tie"), 100.0 * (t - even) / t);
    close(pct("fluency", "tie"), 100.0);
    // Everyone agrees: kappa 1 where two outcomes occur, undefined where one does.
    assert!(even > 0.0 && even < n, "the demo sample has even and odd example ids: {even} of {n}");
    close(pct("relevance", "kappa"), 1.0);
    assert!(r["stats"]["aspects"]["fluency"]["kappa"].is_null());
    let p_emp = pct("empathy", "p_value");
    close(p_emp, (2.0 * 0.5f64.powi(3 * n as i32)).min(1.0));
    let dir = folder(&ws, HUMAN_EVAL_SCORE, &["-p", "human_eval_score.sheets=filled"]);
    let md = std::fs::read_to_string(dir.join("table2.md")).unwrap();
    assert!(md.contains("| IAMM vs. ESCM | Emp. | 23.5 | 20.0 |"), "{md}");
    assert!(!md.to_lowercase().contains("simulated"), "{md}");
    for a in r["stats"]["attention"].as_array().unwrap() {
        assert_eq!(a["passed"], a["total"], "{a}");
    }

    // One invalid answer: exit 2, and the message points at the cell.
    let victim = key.rows.iter().find(|r| r.kind == ItemKind::Pair).unwrap().item_id.clone();
    fill_all(&key, &sheets, &ws.path("filled_bad"), Some(&victim));
    let order: Vec<String> = std::fs::read_to_string(sheets.join("annotator_3.csv"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split(',').next().filter(|id| id.starts_with('Q')).map(str::to_string))
        .collect();
    let row = order.iter().position(|id| *id == victim).unwrap() + 2;
    let err = ws.fails(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=filled_bad"]);
    assert!(
        err.contains(&format!("annotator_3.csv, row {row}, column F (relevance): invalid answer `maybe`")),
        "{err}"
    );
}

#[test]
fn a_missing_sheets_folder_is_explained() {
    let ws = Ws::demo();
    let err = ws.fails(&["run", HUMAN_EVAL_SCORE, "-p", "human_eval_score.sheets=nowhere"]);
    assert!(err.contains("nowhere"), "{err}");
}
