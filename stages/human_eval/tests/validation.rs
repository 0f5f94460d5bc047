//! Every problem in a filled sheet is reported with its sheet file, row and column.

use std::path::Path;

use iamm_human_eval::*;
use iamm_tables::responses::Response;

/// Eight examples (ids 0..8); id 7 has identical responses.
fn rows(system: &str) -> Vec<Response> {
    (0..8)
        .map(|i| Response {
            example_id: i,
            context: vec![format!("my dog number {i} ran away")],
            context_roles: vec!["speaker".into()],
            reference: format!("oh no , is dog {i} back yet ?"),
            generated: if i == 7 { "same".to_string() } else { format!("{system} {i}") },
            ..Response::default()
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, Export, Key) {
    let opts = ExportOptions {
        proposed: "p".into(),
        baseline: "b".into(),
        seed: 3,
        sample: 8,
        annotators: 2,
        identical: Identical::Tie,
        attention_checks: 0,
    };
    let ex = export(&rows("p"), &rows("b"), &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), &ex).unwrap();
    let key = ex.key().unwrap();
    (dir, ex, key)
}

fn problems(e: Error) -> Vec<Problem> {
    match e {
        Error::Sheets { problems, .. } => problems,
        other => panic!("expected sheet problems, got {other}"),
    }
}

fn at(p: &Problem) -> (String, Option<usize>, Option<String>) {
    (p.file.clone(), p.row, p.column.clone())
}

#[test]
fn csv_problems_name_file_row_and_column() {
    let (_dir, ex, key) = setup();
    let ids = &ex.sheets[0].item_ids;
    assert_eq!(ids.len(), 7, "7 pairs shown, the identical one is an auto-tie");
    let auto_tie = key.rows.iter().find(|r| r.kind == ItemKind::AutoTie).unwrap().item_id.clone();
    let filled = tempfile::tempdir().unwrap();
    // Columns in another order and case: found by name.
    let text = format!(
        "Item_ID,context,response_a,response_b,Fluency,Relevance,EMPATHY\n\
         {a},,,,tie,b, a \n\
         QDEADBEEF,,,,A,A,A\n\
         {b},,,,A,B,\n\
         {c},,,,A,maybe,A\n\
         {a},,,,A,A,A\n\
         ,,,,,,\n\
         {t},,,,A,A,A\n",
        a = ids[0],
        b = ids[1],
        c = ids[2],
        t = auto_tie
    );
    std::fs::write(filled.path().join("annotator_1.csv"), text).unwrap();
    let err = read_sheets_dir(filled.path(), &key).unwrap_err();
    let shown = err.to_string();
    let ps = problems(err);
    let f = || "annotator_1.csv".to_string();
    let got: Vec<_> = ps.iter().map(at).collect();
    assert_eq!(
        got,
        vec![
            (f(), Some(3), Some("A (Item_ID)".into())),
            (f(), Some(4), Some("G (EMPATHY)".into())),
            (f(), Some(5), Some("F (Relevance)".into())),
            (f(), Some(6), Some("A (Item_ID)".into())),
            (f(), Some(8), Some("A (Item_ID)".into())),
            (f(), None, Some("A (Item_ID)".into())),
        ],
        "{shown}"
    );
    assert!(ps[0].message.contains("unknown item id `QDEADBEEF`"), "{}", ps[0].message);
    assert!(ps[1].message.contains("missing answer"), "{}", ps[1].message);
    assert!(ps[2].message.contains("invalid answer `maybe`"), "{}", ps[2].message);
    assert!(ps[3].message.contains("first on row 2"), "{}", ps[3].message);
    assert!(ps[4].message.contains("not handed out"), "{}", ps[4].message);
    assert!(ps[5].message.contains("4 of the 7 items handed out are missing"), "{}", ps[5].message);
    assert!(shown.contains("annotator_1.csv, row 5, column F (Relevance): invalid answer `maybe`"), "{shown}");
}

#[test]
fn xlsx_problem_names_row_and_column() {
    let (dir, ex, key) = setup();
    let bad = ex.sheets[1].item_ids[4].clone();
    let filled = tempfile::tempdir().unwrap();
    let dst = filled.path().join("annotator_2.xlsx");
    fill_sheet(&dir.path().join("sheets/annotator_2.xlsx"), &dst, |id| {
        let f = if id == bad { "C" } else { "Tie" };
        ["A".into(), "b".into(), f.into()]
    })
    .unwrap();
    let ps = problems(read_sheet(&dst, &key).unwrap_err());
    assert_eq!(ps.len(), 1, "{ps:?}");
    // Fifth item of the sheet: row 6 (the header is row 1).
    assert_eq!(at(&ps[0]), ("annotator_2.xlsx".into(), Some(6), Some("G (fluency)".into())));
    assert!(ps[0].message.contains("invalid answer `C`"));
    // The same sheet filled right reads back with its answers.
    fill_sheet(&dir.path().join("sheets/annotator_2.xlsx"), &dst, |_| ["A".into(), "b".into(), "TIE".into()]).unwrap();
    let sheet = read_sheet(&dst, &key).unwrap();
    assert_eq!(sheet.rows.len(), 7);
    assert!(sheet.rows.iter().all(|r| r.answers == [Answer::A, Answer::B, Answer::Tie]));
    assert_eq!(sheet.rows.iter().map(|r| r.item_id.clone()).collect::<Vec<_>>(), ex.sheets[1].item_ids);
}

fn fill_all(src: &Path, dst: &Path) {
    fill_sheet(src, dst, |_| ["A".into(), "A".into(), "A".into()]).unwrap();
}

#[test]
fn folder_level_problems() {
    let (dir, _ex, key) = setup();
    let empty = tempfile::tempdir().unwrap();
    let err = read_sheets_dir(empty.path(), &key).unwrap_err().to_string();
    assert!(err.contains("no .csv or .xlsx sheets"), "{err}");

    let filled = tempfile::tempdir().unwrap();
    fill_all(&dir.path().join("sheets/annotator_1.csv"), &filled.path().join("annotator_1.csv"));
    fill_all(&dir.path().join("sheets/annotator_1.xlsx"), &filled.path().join("annotator_1.xlsx"));
    std::fs::copy(dir.path().join("key.csv"), filled.path().join("key.csv")).unwrap();
    std::fs::write(filled.path().join("~$annotator_1.xlsx"), b"lock").unwrap();
    std::fs::write(filled.path().join("notes.txt"), b"ignored").unwrap();
    let ps = problems(read_sheets_dir(filled.path(), &key).unwrap_err());
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert_eq!(ps[0].file, "annotator_1.xlsx");
    assert!(ps[0].message.contains("annotator_1.csv is here too"), "{}", ps[0].message);
    assert_eq!(at(&ps[1]), ("key.csv".into(), Some(1), None));
    assert!(ps[1].message.contains("unblinding key"), "{}", ps[1].message);

    std::fs::remove_file(filled.path().join("annotator_1.xlsx")).unwrap();
    std::fs::remove_file(filled.path().join("key.csv")).unwrap();
    fill_all(&dir.path().join("sheets/annotator_2.xlsx"), &filled.path().join("annotator_2.xlsx"));
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    assert_eq!(sheets.iter().map(|s| s.file.as_str()).collect::<Vec<_>>(), ["annotator_1.csv", "annotator_2.xlsx"]);
    let scores = score(&key, &sheets, Aggregate::Pooled).unwrap();
    // Everyone says A: wins are the pairs where the proposed system is A.
    let a_prop = key.rows.iter().filter(|r| r.kind == ItemKind::Pair && r.a_is == "proposed").count() as u64;
    assert_eq!(scores.aspects[0].win, 2 * a_prop);
    assert_eq!(scores.aspects[0].lose, 2 * (7 - a_prop));
    assert_eq!(scores.aspects[0].tie, 2, "the auto-tie, once per annotator");
}

#[test]
fn a_blank_sheet_is_one_problem() {
    let (dir, _ex, key) = setup();
    let ps = problems(read_sheet(&dir.path().join("sheets/annotator_1.xlsx"), &key).unwrap_err());
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(at(&ps[0]), ("annotator_1.xlsx".into(), None, None));
    assert!(ps[0].message.contains("no answer is filled in (7 rows)"), "{}", ps[0].message);
}

#[test]
fn long_problem_lists_are_cut_in_the_message() {
    let problems: Vec<Problem> = (0..45)
        .map(|i| Problem { file: "s.csv".into(), row: Some(i + 2), column: Some("E (empathy)".into()), message: "missing answer".into() })
        .collect();
    let text = Error::Sheets { where_: "dir".into(), problems }.to_string();
    assert!(text.starts_with("45 problem(s) in the filled sheets in dir"), "{text}");
    assert!(text.contains("s.csv, row 41, column E (empathy): missing answer"));
    assert!(!text.contains("row 42,"));
    assert!(text.ends_with("... and 5 more"), "{text}");
}
