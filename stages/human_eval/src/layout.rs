//! How the XLSX ratings sheet looks on screen and on paper: column widths, row heights from
//! the wrapped text, and the page setup.
//!
//! LibreOffice keeps a row without a height at the default one when it opens the file, and
//! prints multi-turn contexts over the rows below; so each row's height is estimated here
//! from its text.

use rust_xlsxwriter::{Worksheet, XlsxError};

/// Widths of the sheet's columns (see [`crate::SHEET_COLUMNS`]), in characters of the default
/// font: the context widest, the answer columns just wide enough for their header.
pub(crate) const COLUMN_WIDTHS: [f64; 7] = [11.0, 46.0, 32.0, 32.0, 10.0, 10.0, 10.0];

/// Points per wrapped line of the default 11 pt font (Excel's default row height).
const LINE_HEIGHT: f64 = 15.0;

/// Room above and below the text, in points.
const ROW_PADDING: f64 = 4.0;

/// Excel's highest row.
const MAX_ROW_HEIGHT: f64 = 409.0;

/// Characters of text per width unit. The unit is a digit's width of the default font, and
/// an average letter with its share of spaces is narrower: about 1.3 per unit in LibreOffice's
/// print with DejaVu Sans (its substitute where Calibri is missing), much the same in Calibri.
/// Less than that leaves room for wide letters (capitals, `m`, `w`), so that no row is short.
const CHARS_PER_UNIT: f64 = 1.1;

/// The lines `text` takes in a column `width` units wide: every explicit line wrapped at
/// word boundaries, a word longer than a line broken over as many lines as it needs.
pub(crate) fn wrapped_lines(text: &str, width: f64) -> usize {
    // The cell's padding takes about one unit.
    let per_line = ((width - 1.0) * CHARS_PER_UNIT).floor().max(1.0) as usize;
    text.split('\n')
        .map(|line| {
            let (mut lines, mut used) = (1, 0);
            for word in line.split_whitespace() {
                let n = word.chars().count();
                if used > 0 && used + 1 + n <= per_line {
                    used += 1 + n;
                    continue;
                }
                if used > 0 {
                    lines += 1;
                }
                lines += (n - 1) / per_line;
                used = (n - 1) % per_line + 1;
            }
            lines
        })
        .sum()
}

/// The height (points) of a row with these cell texts, one per leading column.
pub(crate) fn row_height(cells: &[&str]) -> f64 {
    let lines = cells.iter().zip(COLUMN_WIDTHS).map(|(text, width)| wrapped_lines(text, width)).max().unwrap_or(1);
    (lines as f64 * LINE_HEIGHT + ROW_PADDING).min(MAX_ROW_HEIGHT)
}

/// Landscape, all columns on one page width (as many pages down as the rows need), the header
/// row on every page, gridlines to tell the rows apart, and the file name and page number in
/// the footer so that a printed stack can be put back together.
pub(crate) fn set_print_layout(ws: &mut Worksheet) -> Result<(), XlsxError> {
    ws.set_landscape()
        .set_print_fit_to_pages(1, 0)
        .set_margins(0.4, 0.4, 0.5, 0.6, 0.3, 0.3)
        .set_print_gridlines(true)
        .set_footer("&L&F&RPage &P of &N")
        .set_repeat_rows(0, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_wrapping_and_newlines() {
        // 16 units: 16 characters a line.
        assert_eq!(wrapped_lines("", 16.0), 1);
        assert_eq!(wrapped_lines("short text", 16.0), 1);
        assert_eq!(wrapped_lines("sixteen chars ok", 16.0), 1);
        assert_eq!(wrapped_lines("sixteen chars ok!", 16.0), 2);
        assert_eq!(wrapped_lines("one\ntwo\nthree", 16.0), 3);
        assert_eq!(wrapped_lines("Speaker: a b c d e f g h\nListener: ok", 16.0), 3);
        // A 40-character word takes three lines of 16.
        assert_eq!(wrapped_lines(&"x".repeat(40), 16.0), 3);
        assert_eq!(wrapped_lines(&format!("ab {}", "x".repeat(16)), 16.0), 2);
    }

    #[test]
    fn rows_grow_with_the_longest_cell_up_to_excels_limit() {
        assert_eq!(row_height(&["Q1", "one line", "a", "b"]), LINE_HEIGHT + ROW_PADDING);
        let context = "Speaker: hello\nListener: hi\nSpeaker: how are you";
        assert_eq!(row_height(&["Q1", context, "a", "b"]), 3.0 * LINE_HEIGHT + ROW_PADDING);
        assert_eq!(row_height(&["Q1", &"word ".repeat(2000), "a", "b"]), MAX_ROW_HEIGHT);
    }
}
