//! How a text cell goes into a CSV file that people open in a spreadsheet: quoted as RFC 4180
//! says, and kept from being read as a formula.

use std::borrow::Cow;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
