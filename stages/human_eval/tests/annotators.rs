//! Scoring fewer (or more) sheets than the export wrote is an error that names what is
//! missing, unless the scorer is told how many sheets to expect.

use std::path::Path;

use iamm_human_eval::*;
use iamm_tables::responses::Response;

fn responses(system: &str) -> Vec<Response> {
    (0..30)
        .map(|i| Response {
            example_id: i,
            context: vec![format!("how was dialogue {i} ?")],
            context_roles: vec!["speaker".into()],
            reference: format!("it was fine , thanks {i}"),
            generated: format!("{system} replies {i}"),
            ..Response::default()
        })
        .collect()
}

/// Exports 3 sheets into `out` and fills annotators `which` (CSV) into `filled`; the proposed
/// system wins everything.
fn setup(out: &Path, filled: &Path, which: &[usize]) -> Key {
    let (p, b) = (responses("alpha"), responses("beta"));
    let opts = ExportOptions {
        proposed: "P".into(),
        baseline: "B".into(),
        seed: 1,
        sample: 10,
        annotators: 3,
        identical: Identical::Tie,
        attention_checks: 0,
    };
    let ex = export(&p, &b, &opts).unwrap();
    write_export(out, &ex).unwrap();
    let key = ex.key().unwrap();
    std::fs::create_dir_all(filled).unwrap();
    for &k in which {
        let name = format!("annotator_{k}.csv");
        fill_sheet(&out.join("sheets").join(&name), &filled.join(&name), |id| {
            let a = if key.get(id).unwrap().a_is == "proposed" { "A" } else { "B" };
            [a, a, a].map(str::to_string)
        })
        .unwrap();
    }
    key
}

#[test]
fn two_of_three_sheets_is_an_error_unless_two_are_asked_for() {
    let (out, filled) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = setup(out.path(), filled.path(), &[1, 3]);
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    assert_eq!(sheets.len(), 2, "both sheets are valid on their own");

    let err = check_annotators(&sheets, 3, None, "human_eval_score", filled.path()).unwrap_err().to_string();
    for part in [
        format!("2 filled sheet(s) in {} (annotator_1.csv, annotator_3.csv)", filled.path().display()),
        "but the export wrote 3".to_string(),
        "missing: annotator_2".to_string(),
        "`-p human_eval_score.annotators=2`".to_string(),
    ] {
        assert!(err.contains(&part), "no {part:?} in: {err}");
    }
    // The stage's name goes into the hint.
    let err = check_annotators(&sheets, 3, None, "score_b", filled.path()).unwrap_err().to_string();
    assert!(err.contains("`-p score_b.annotators=2`"), "{err}");

    // Asked for two: scored as two annotators.
    check_annotators(&sheets, 3, Some(2), "human_eval_score", filled.path()).unwrap();
    let scores = score(&key, &sheets, Aggregate::Pooled).unwrap();
    assert_eq!(scores.annotators, ["annotator_1.csv", "annotator_3.csv"]);
    assert_eq!(scores.aspects[0].win, 2 * scores.pairs as u64);
    assert!(scores.table2_csv().lines().nth(1).unwrap().ends_with(&format!(",{},2,pooled", scores.pairs)));

    // Asked for more than came back, or more than were written.
    let err = check_annotators(&sheets, 3, Some(3), "human_eval_score", filled.path()).unwrap_err().to_string();
    assert!(err.contains("`annotators` asks for 3 and the export wrote 3") && err.contains("missing: annotator_2"), "{err}");
    let err = check_annotators(&sheets, 3, Some(4), "human_eval_score", filled.path()).unwrap_err().to_string();
    assert!(err.contains("`annotators` is 4, but the export wrote 3 sheet(s)"), "{err}");
}

#[test]
fn all_sheets_pass_and_an_extra_copy_is_an_error() {
    let (out, filled) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = setup(out.path(), filled.path(), &[1, 2, 3]);
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    check_annotators(&sheets, 3, None, "human_eval_score", filled.path()).unwrap();
    check_annotators(&sheets, 3, Some(3), "human_eval_score", filled.path()).unwrap();
    // Three sheets back, two asked for: not silently two of them.
    let err = check_annotators(&sheets, 3, Some(2), "human_eval_score", filled.path()).unwrap_err().to_string();
    assert!(err.contains("3 filled sheet(s)") && err.contains("`-p human_eval_score.annotators=3`"), "{err}");

    // A copy of annotator 1's sheet under another name would count that annotator twice.
    std::fs::copy(filled.path().join("annotator_1.csv"), filled.path().join("annotator_1 copy.csv")).unwrap();
    let sheets = read_sheets_dir(filled.path(), &key).unwrap();
    assert_eq!(sheets.len(), 4);
    let err = check_annotators(&sheets, 3, None, "human_eval_score", filled.path()).unwrap_err().to_string();
    assert!(err.contains("4 filled sheet(s)") && err.contains("but the export wrote 3"), "{err}");
    assert!(err.contains("not an exported sheet name: annotator_1 copy.csv") && err.contains("remove the extra"), "{err}");
    assert!(!err.contains("missing:"), "{err}");
}
