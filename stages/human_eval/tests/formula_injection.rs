//! Formula injection (OWASP "CSV Injection"): dialogue text, generated responses and system
//! names that start with `=`, `+`, `-`, `@`, tab or carriage return must reach the annotators'
//! CSV sheets, `key.csv` and `table2.csv` as text (a `'` in front), the XLSX sheets as string
//! cells, and come back exactly when the sheets and the key are read.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use arrow_array::cast::AsArray;
use calamine::{Data, Reader, Xlsx, open_workbook};
use iamm_csv::{FORMULA_TRIGGERS, strip_formula_guard};
use iamm_human_eval::*;
use iamm_tables::responses::Response;

/// Openings an attacker would use, one per formula character `readable` lets through (it
/// splits on whitespace, so tabs and carriage returns only reach the files through names).
const HOSTILE: [&str; 5] = ["=SUM(1)", "+cmd|' /C calc'!A0", "-2+3", "@sum(1)", "=HYPERLINK(\"http://x\",\"y\")"];

/// System names from the pipeline go into the key and Table 2 as they are.
const PROPOSED: &str = "\t=1+1";
const BASELINE: &str = "\r-2+3";

/// A system's `responses` rows for 40 examples (ids 100..) whose utterances, references and
/// responses all start with a hostile opening.
fn responses(system: usize) -> Vec<Response> {
    let h = |k: u32| HOSTILE[(k as usize) % HOSTILE.len()];
    (0..40u32)
        .map(|i| {
            let id = 100 + i;
            Response {
                example_id: id,
                context: (0..2u32).map(|t| format!("{} dialogue {id} turn {t} , what now ?", h(i + t))).collect(),
                context_roles: vec!["speaker".into(), "listener".into()],
                reference: format!("{} we went to the lake {id} .", h(i + 2)),
                generated: format!("{} system {system} answers {id} .", h(i + system as u32)),
                ..Response::default()
            }
        })
        .collect()
}

fn hostile_export() -> Export {
    let (p, b) = (responses(1), responses(2));
    let opts = ExportOptions {
        proposed: PROPOSED.into(),
        baseline: BASELINE.into(),
        seed: 3,
        sample: 20,
        annotators: 3,
        identical: Identical::Tie,
        attention_checks: 2,
    };
    export(&p, &b, &opts).unwrap()
}

/// Every record of a CSV file (a leading byte-order mark removed).
fn csv_cells(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Asserts that no cell of `path` starts with a formula character (numbers aside); returns
/// how many cells carry the added `'`.
fn assert_no_formula(path: &Path) -> usize {
    let mut guarded = 0;
    for (r, row) in csv_cells(path).iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            assert!(
                !cell.starts_with(FORMULA_TRIGGERS) || cell.parse::<f64>().is_ok(),
                "{}, record {}, cell {c}: {cell:?}",
                path.display(),
                r + 1
            );
            guarded += usize::from(strip_formula_guard(cell) != cell);
        }
    }
    guarded
}

#[test]
fn csv_sheets_and_key_hold_hostile_text_as_text_and_give_it_back() {
    let ex = hostile_export();
    let out = tempfile::tempdir().unwrap();
    write_export(out.path(), &ex).unwrap();
    let items: HashMap<&str, &Item> = ex.items.iter().map(|i| (i.key.item_id.as_str(), i)).collect();
    let shown = ex.sheets[0].item_ids.len();
    let pairs = ex.items.iter().filter(|i| i.key.kind == ItemKind::Pair).count();
    assert!(pairs >= 15, "{pairs}");
    for k in 1..=3 {
        let path = out.path().join(format!("sheets/annotator_{k}.csv"));
        // Both responses of every pair are hostile (contexts start with "Speaker:").
        assert!(assert_no_formula(&path) >= 2 * pairs, "annotator_{k}.csv");
        let cells = csv_cells(&path);
        assert_eq!(cells[0], SHEET_COLUMNS);
        assert_eq!(cells.len(), 1 + shown);
        for row in &cells[1..] {
            let back: Vec<&str> = row.iter().map(|c| strip_formula_guard(c)).collect();
            let item = items[back[0]];
            assert_eq!(back, [item.key.item_id.as_str(), &item.context, &item.response_a, &item.response_b, "", "", ""]);
            if item.key.kind == ItemKind::Pair {
                assert!(item.response_a.starts_with(FORMULA_TRIGGERS) && item.response_b.starts_with(FORMULA_TRIGGERS), "{item:?}");
                assert!(row[2].starts_with('\'') && row[3].starts_with('\''), "{row:?}");
            }
        }
    }
    // Context lines after the first keep their text as it is (a cell only runs as a formula
    // from its first character).
    let ctx = &ex.items[0].context;
    assert!(ctx.starts_with("Speaker: ") && ctx.contains("\nListener: "), "{ctx}");

    let key_csv = out.path().join("key.csv");
    assert!(assert_no_formula(&key_csv) > 0, "the system names are guarded");
    let key = Key::read_csv(&key_csv).unwrap();
    assert_eq!(key, ex.key().unwrap(), "key.csv reads back exactly");
    assert_eq!((key.proposed.as_str(), key.baseline.as_str()), (PROPOSED, BASELINE));
    let table = key.to_batch().unwrap();
    assert_eq!(table.column_by_name("proposed").unwrap().as_string::<i32>().value(0), PROPOSED, "tables keep the text");

    // Filled sheets (CSV read and written again, CSV into XLSX) keep the text exactly: one
    // `'` in the CSV, none in the XLSX.
    let filled = tempfile::tempdir().unwrap();
    for k in 1..=3 {
        let src = out.path().join(format!("sheets/annotator_{k}.csv"));
        let dst = filled.path().join(format!("annotator_{k}.{}", if k == 2 { "xlsx" } else { "csv" }));
        // Fluency: annotator 1 always prefers the proposed system, 2 the baseline, 3 neither,
        // so that kappa is negative; empathy and relevance: the proposed system.
        fill_sheet(&src, &dst, |id| {
            let row = key.get(id).unwrap();
            let side = |proposed: bool| if (row.a_is == "proposed") == proposed { "A" } else { "B" };
            match row.kind {
                ItemKind::AttentionCheck => [row.expected.unwrap().as_str(); 3].map(str::to_string),
                _ => [side(true), side(true), [side(true), side(false), "Tie"][k - 1]].map(str::to_string),
            }
        })
        .unwrap();
        if k != 2 {
            let (a, b) = (csv_cells(&src), csv_cells(&dst));
            for (x, y) in a.iter().zip(&b) {
                assert_eq!(x[..4], y[..4], "annotator_{k}: the text columns are copied as they were");
            }
            assert_no_formula(&dst);
        }
    }
    let mut wb: Xlsx<_> = open_workbook(filled.path().join("annotator_2.xlsx")).unwrap();
    let range = wb.worksheet_range("Ratings").unwrap();
    for r in 1..range.height() {
        let id = range.get((r, 0)).unwrap().to_string();
        let item = items[id.as_str()];
        assert_eq!(range.get((r, 2)), Some(&Data::String(item.response_a.clone())));
        assert_eq!(range.get((r, 3)), Some(&Data::String(item.response_b.clone())));
    }

    // The scorer reads the item ids and answers back.
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    check_annotators(&sheets, 3, None, "human_eval_score", filled.path()).unwrap();
    let scores = score(&key, &sheets, Aggregate::Pooled).unwrap();
    assert_eq!(scores.pairs, key.rows.iter().filter(|r| r.kind == ItemKind::Pair).count());
    assert!(scores.pairs > 0);
    assert_eq!(scores.aspects[0].lose, 0);
    assert!((scores.aspects[2].kappa.unwrap() + 0.5).abs() < 1e-12, "{:?}", scores.aspects[2]);
    assert!(scores.attention.iter().all(|a| a.passed == a.total && a.total == 2));

    // table2.csv: names guarded, numbers (a negative kappa too) as numbers.
    let t2 = out.path().join("table2.csv");
    std::fs::write(&t2, scores.table2_csv()).unwrap();
    assert_eq!(assert_no_formula(&t2), 3, "the comparison cell of our three rows");
    let rows = csv_cells(&t2);
    let comparison = format!("{PROPOSED} vs. {BASELINE}");
    assert_eq!(strip_formula_guard(&rows[1][1]), comparison);
    assert_eq!(rows[3][2], "Flu.");
    assert_eq!(rows[3][7], "-0.500000", "kappa is written as a number");
    let (_, table2) = scores.tables().unwrap().into_iter().find(|(n, _)| n == "table2").unwrap();
    assert_eq!(table2.column_by_name("comparison").unwrap().as_string::<i32>().value(0), comparison);
}

#[test]
fn xlsx_sheets_store_hostile_text_as_strings_not_formulas() {
    let ex = hostile_export();
    let out = tempfile::tempdir().unwrap();
    write_export(out.path(), &ex).unwrap();
    let path = out.path().join("sheets/annotator_1.xlsx");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut s = String::new();
        zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_string(&mut s).unwrap();
        s
    };
    let sheet = read("xl/worksheets/sheet1.xml");
    let strings = read("xl/sharedStrings.xml");
    // No formula element anywhere in the ratings sheet.
    assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "{sheet}");
    // Every cell with a value is a string cell (shared or inline), none a number or formula.
    let mut string_cells = 0;
    for cell in sheet.split("<c ").skip(1) {
        let head = &cell[..cell.find('>').unwrap()];
        if head.ends_with('/') {
            continue; // an empty answer cell
        }
        assert!(head.contains("t=\"s\"") || head.contains("t=\"inlineStr\""), "not a string cell: <c {head}>");
        string_cells += 1;
    }
    let shown = ex.sheets[0].item_ids.len();
    assert_eq!(string_cells, 7 + 4 * shown, "header + item_id, context and both responses per row");
    // The hostile text is stored exactly (XML-escaped), with no `'` added.
    for h in ["=SUM(1)", "+cmd|&apos;", "-2+3", "@sum(1)", "=HYPERLINK(&quot;http://x&quot;"] {
        let plain = h.replace("&apos;", "'").replace("&quot;", "\"");
        assert!(strings.contains(&format!("<t>{h}")) || strings.contains(&format!("<t>{plain}")), "{h} in {strings}");
        assert!(!strings.contains(&format!("<t>'{plain}")), "{h}");
    }
    // calamine agrees: the responses are strings, exactly as exported, and the sheet has no formulas.
    let mut wb: Xlsx<_> = open_workbook(&path).unwrap();
    let range = wb.worksheet_range("Ratings").unwrap();
    for (r, id) in ex.sheets[0].item_ids.iter().enumerate() {
        let item = ex.items.iter().find(|i| &i.key.item_id == id).unwrap();
        assert_eq!(range.get((r + 1, 2)), Some(&Data::String(item.response_a.clone())));
        assert_eq!(range.get((r + 1, 3)), Some(&Data::String(item.response_b.clone())));
    }
    let formulas = wb.worksheet_formula("Ratings").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "{formulas:?}");
}
