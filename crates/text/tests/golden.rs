//! Parity with real NLTK 3.5: every unique EmpatheticDialogues text of the
//! train and valid splits must tokenize exactly as the golden files say.

use std::path::{Path, PathBuf};

use iamm_text::{PunktParams, Tokenizer};

fn golden_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/golden"
    ));
    assert!(
        dir.join("punkt_english_params").is_dir(),
        "golden data missing: expected {} (shared/data/golden beside the repository)",
        dir.display()
    );
    dir.to_path_buf()
}

fn tokenizer() -> Tokenizer {
    let params_dir = golden_dir().join("punkt_english_params");
    let params = PunktParams::load_dir(&params_dir)
        .unwrap_or_else(|e| panic!("cannot load English Punkt parameters: {e}"));
    Tokenizer::new(params)
}

fn check_split(file: &str, expected_lines: usize) {
    let path = golden_dir().join(file);
    let data = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let tok = tokenizer();
    assert!(
        tok.describe().starts_with("punkt (params: "),
        "{}",
        tok.describe()
    );
    let (mut total, mut mismatches) = (0, 0);
    for line in data.lines() {
        let (text, expected) = line
            .rsplit_once('\t')
            .unwrap_or_else(|| panic!("{file}: line without a tab: {line:?}"));
        total += 1;
        let got = tok.process_sent(text).join(" ");
        if got != expected {
            mismatches += 1;
            if mismatches <= 20 {
                eprintln!(
                    "MISMATCH {file}\n  text:     {text:?}\n  expected: {expected:?}\n  got:      {got:?}"
                );
            }
        }
    }
    eprintln!("{file}: {} / {total} identical", total - mismatches);
    assert_eq!(total, expected_lines, "{file}: unexpected number of lines");
    assert_eq!(
        mismatches, 0,
        "{file}: {mismatches} of {total} texts differ from NLTK 3.5"
    );
}

#[test]
fn golden_train_is_identical() {
    check_split("ed_tokens.train.tsv", 96_901);
}

#[test]
fn golden_valid_is_identical() {
    check_split("ed_tokens.valid.tsv", 14_347);
}
