//! What every stage shares: emotion labels, special token ids, relation and split names, how a
//! CSV field is quoted (and a text cell kept from being read as a formula), and SplitMix64 for
//! seeded choices.

use std::borrow::Cow;

/// The 32 EmpatheticDialogues emotions, in the reference's `EMO_MAP` order: a label's
/// position here is its class index everywhere (tensors, tables, confusion matrices).
pub const EMOTIONS: [&str; 32] = [
    "surprised", "excited", "annoyed", "proud", "angry", "sad", "grateful", "lonely",
    "impressed", "afraid", "disgusted", "confident", "terrified", "hopeful", "anxious",
    "disappointed", "joyful", "prepared", "guilty", "furious", "nostalgic", "jealous",
    "anticipating", "embarrassed", "content", "devastated", "sentimental", "caring",
    "trusting", "ashamed", "apprehensive", "faithful",
];

/// Class index of an emotion label, or `None` when it is not one of the 32.
pub fn emotion_id(label: &str) -> Option<u8> {
    EMOTIONS.iter().position(|e| *e == label).map(|i| i as u8)
}

/// Special vocabulary entries, with the reference's fixed ids.
pub mod special {
    pub const UNK: u32 = 0;
    pub const PAD: u32 = 1;
    pub const EOS: u32 = 2;
    pub const SOS: u32 = 3;
    pub const USR: u32 = 4;
    pub const SYS: u32 = 5;
    pub const CLS: u32 = 6;
    /// Token strings of ids 0..=6, as the reference's vocabulary spells them.
    pub const TOKENS: [&str; 7] = ["UNK", "PAD", "EOS", "SOS", "USR", "SYS", "CLS"];
}

/// The COMET-ATOMIC 2020 relations IAMM reads, in the order of its `c_*`/`s_*` inputs,
/// with the short names those inputs use.
pub const RELATIONS: [(&str, &str); 5] =
    [("xIntent", "intent"), ("xNeed", "need"), ("xWant", "want"), ("xEffect", "effect"), ("xReact", "react")];

/// The three ED splits, in the order the reference processes them.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// A CSV field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, a
/// quote or a line break, else as it is.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
/// Injection"): `=`, `+`, `-`, `@`, tab and carriage return.
pub const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `s`, after any leading `'`, begins with a [`FORMULA_TRIGGERS`] character.
fn formula_like(s: &str) -> bool {
    s.trim_start_matches('\'').starts_with(FORMULA_TRIGGERS)
}

/// A text cell as it may go into a CSV that people open in a spreadsheet: text that starts
/// with a [`FORMULA_TRIGGERS`] character gets a `'` in front (`=SUM(1)` → `'=SUM(1)`), so that
/// Excel, LibreOffice or Sheets show it as text instead of evaluating it. Text that starts with
/// quotes followed by such a character gets one more quote, so that [`strip_formula_guard`]
/// gives every text back exactly; all other text (`'s`, `w/o EA`) is left as it is. Only for
/// text columns: numbers (`-0.25`) stay numbers, and Parquet tables keep the exact text.
pub fn neutralise_formula(s: &str) -> Cow<'_, str> {
    if formula_like(s) { Cow::Owned(format!("'{s}")) } else { Cow::Borrowed(s) }
}

/// The inverse of [`neutralise_formula`]: a cell read back from a CSV this project wrote,
/// without the added `'`.
pub fn strip_formula_guard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => s,
    }
}

/// A text cell for a hand-written CSV line: [`neutralise_formula`], then [`csv_field`]'s quoting.
pub fn csv_text_cell(s: &str) -> String {
    csv_field(&neutralise_formula(s))
}

/// SplitMix64 (Steele, Lea & Flood): the next value from `state`, which it advances. Seeds
/// the training generator and draws the viewer's sample without pulling in a crate for it.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_published_sequence() {
        // The first outputs for seed 0 (the reference implementation's test vector).
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut state), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("w/o EA"), "w/o EA");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formula_cells_are_neutralised_and_read_back_exactly() {
        for (text, cell) in [
            ("=SUM(1)", "'=SUM(1)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@sum(1)", "'@sum(1)"),
            ("\tx", "'\tx"),
            ("\r=1", "'\r=1"),
            ("'=1", "''=1"),
            ("''-x", "'''-x"),
        ] {
            assert_eq!(neutralise_formula(text), cell, "{text:?}");
            assert_eq!(strip_formula_guard(cell), text, "{cell:?}");
            assert!(!cell.starts_with(FORMULA_TRIGGERS));
        }
        // Harmless text is left alone, and reads back as it is.
        for text in ["", "'s", "'", "''", "a=b", " =1", "w/o EA", "Speaker: =1", "0.25", "'tis"] {
            assert!(matches!(neutralise_formula(text), Cow::Borrowed(_)), "{text:?}");
            assert_eq!(strip_formula_guard(text), text, "{text:?}");
        }
        // Then quoted as CSV requires: a carriage return, a comma, a quote.
        assert_eq!(csv_text_cell("\r=1"), "\"'\r=1\"");
        assert_eq!(csv_text_cell("=1,2"), "\"'=1,2\"");
        assert_eq!(csv_text_cell("-\"x\""), "\"'-\"\"x\"\"\"");
        assert_eq!(csv_text_cell("plain"), "plain");
    }

    #[test]
    fn emotion_ids_follow_reference_order() {
        assert_eq!(emotion_id("surprised"), Some(0));
        assert_eq!(emotion_id("faithful"), Some(31));
        assert_eq!(emotion_id("sentimental"), Some(26));
        assert_eq!(emotion_id("happy"), None);
        let mut sorted = EMOTIONS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
    }
}
