//! Formula injection (OWASP "CSV Injection"): associated words come from untrusted dialogue
//! text, so `word_stats.csv` and `curves.csv` must hold a word such as `=sum` or `-2+3` as
//! text (a `'` in front), keep numbers as numbers, and the tables keep the exact words.

use iamm_analysis::*;
use iamm_tables::associations::Association;
use iamm_csv::{FORMULA_TRIGGERS, strip_formula_guard};
use polars::prelude::*;

const HOSTILE: [&str; 7] = ["=sum(1)", "+cmd|calc", "-2+3", "@sum(1)", "\t=1", "\r=2", "=hyperlink(\"x\",\"y\")"];
/// Harmless words, one of which starts with a quote (a clitic, as tokenize makes them).
const PLAIN: [&str; 3] = ["'s", "lake", "sad"];

/// A minimal RFC 4180 reader: records of cells, quotes removed.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
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
    assert!(cell.is_empty() && row.is_empty(), "the file ends with a line break");
    rows
}

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name).unwrap().str().unwrap().iter().map(|s| s.unwrap().to_string()).collect()
}

/// Checks every cell of `path`: text never starts with a formula character, and the text
/// columns read back (guard removed) to `df`'s exact values. Returns the guarded cells.
fn check_file(path: &std::path::Path, df: &DataFrame) -> usize {
    let rows = parse_csv(&std::fs::read_to_string(path).unwrap());
    let header = &rows[0];
    assert_eq!(header.len(), df.width());
    assert_eq!(rows.len(), df.height() + 1, "{}", path.display());
    let mut guarded = 0;
    for (c, name) in header.iter().enumerate() {
        let column = df.column(name).unwrap();
        let text = column.dtype() == &DataType::String;
        let exact = if text { strings(df, name) } else { Vec::new() };
        for (r, row) in rows[1..].iter().enumerate() {
            let cell = &row[c];
            assert!(!cell.starts_with(FORMULA_TRIGGERS) || (!text && cell.parse::<f64>().is_ok()), "{name}, row {r}: {cell:?}");
            if text {
                assert_eq!(strip_formula_guard(cell), exact[r], "{name}, row {r}");
                guarded += usize::from(strip_formula_guard(cell) != cell);
            }
        }
    }
    guarded
}

#[test]
fn hostile_words_are_text_in_the_csvs_and_exact_in_the_tables() {
    let words: Vec<&str> = HOSTILE.iter().chain(&PLAIN).copied().collect();
    // Word i is selected i + 1 times (distinct counts: a fixed order), with weight (i + 1) / 20.
    let associations: Vec<Association> = words
        .iter()
        .enumerate()
        .flat_map(|(i, w)| (0..=i).map(move |_| Association { word: w.to_string(), weight: (i + 1) as f32 / 20.0, source: "explicit".into(), ..Association::default() }))
        .collect();
    let documents: Vec<Vec<String>> = vec![words.iter().map(|w| w.to_string()).collect(), vec!["lake".into()]];
    let test_words: Vec<String> = documents.iter().flatten().cloned().collect();
    let lexicon = Lexicon::parse("sad\tsadness\t0.8\n=sum(1)\tanger\t0.5\n", "lex.txt", LexiconFormat::NrcIntensity).unwrap();
    let mut a = analyse(&Inputs {
        associations: &associations,
        documents: &documents,
        test_words: &test_words,
        lexicon: &lexicon,
        missing: Missing::Zero,
        top_k_max: 0,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ws, cv) = (dir.path().join("word_stats.csv"), dir.path().join("curves.csv"));
    write_csv(&mut a.word_stats, &ws).unwrap();
    write_csv(&mut a.curves, &cv).unwrap();

    // Every hostile word once in word_stats, twice (two rankings) in curves.
    assert_eq!(check_file(&ws, &a.word_stats), HOSTILE.len());
    assert_eq!(check_file(&cv, &a.curves), 2 * HOSTILE.len());
    let text = std::fs::read_to_string(&ws).unwrap();
    assert!(text.contains("\n'-2+3,") && text.contains("\n's,") && text.contains("\"'\r=2\""), "{text:?}");

    // The tables (and so the Parquet files) keep the exact words.
    let table = iamm_tables::word_stats::write(&a.word_stat_rows().unwrap()).unwrap();
    let mut sorted: Vec<String> = iamm_tables::word_stats::read(&table, "word_stats").unwrap().into_iter().map(|w| w.word).collect();
    sorted.sort();
    let mut want: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    want.sort();
    assert_eq!(sorted, want);
}

#[test]
fn negative_numbers_stay_numbers() {
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("word".into(), ["-0.25", "-x", "ok"]),
        Column::new("delta".into(), [-0.25f64, -1.5, 2.0]),
        Column::new("n".into(), [-3i64, 0, 4]),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    write_csv(&mut df, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // A text cell is text whatever it looks like; number columns are written as numbers.
    assert_eq!(text, "word,delta,n\n'-0.25,-0.25,-3\n'-x,-1.5,0\nok,2.0,4\n");
    assert_eq!(check_file(&path, &df), 2);
}
