//! Reading filled sheets (CSV or XLSX), validating them against the key, and filling sheets
//! programmatically (simulated annotators, tests).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use iamm_csv::strip_formula_guard;

use crate::export::{SHEET_COLUMNS, write_csv, write_xlsx};
use crate::key::Key;
use crate::{Answer, Aspect, Error, Problem, Result, column_label};

/// One validated sheet row.
#[derive(Debug, Clone, PartialEq)]
pub struct FilledRow {
    /// As a spreadsheet shows it (header = 1).
    pub row: usize,
    pub item_id: String,
    /// Empathy, relevance, fluency.
    pub answers: [Answer; 3],
}

/// One annotator's validated sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct FilledSheet {
    /// The file name (the annotator's identity in the results).
    pub file: String,
    pub rows: Vec<FilledRow>,
}

/// A sheet's cells as text; `cells[0]` is spreadsheet row 1.
struct Grid {
    cells: Vec<Vec<String>>,
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

enum Format {
    Csv,
    Xlsx,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_string_lossy().to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "xlsx" => Some(Format::Xlsx),
        _ => None,
    }
}

fn read_grid(path: &Path) -> Result<Grid> {
    let err = |m: String| Error::File { path: path.display().to_string(), message: m };
    match format_of(path) {
        Some(Format::Csv) => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_path(path)
                .map_err(|e| err(e.to_string()))?;
            let mut cells = Vec::new();
            for rec in r.records() {
                let rec = rec.map_err(|e| err(format!("not a readable CSV sheet: {e}")))?;
                // Cells were written through `neutralise_formula`: take its `'` off again.
                cells.push(rec.iter().map(|c| strip_formula_guard(c).to_string()).collect::<Vec<_>>());
            }
            // Sheets are written with a byte-order mark for Excel; editors may keep it.
            if let Some(first) = cells.first_mut().and_then(|r| r.first_mut())
                && let Some(rest) = first.strip_prefix('\u{feff}')
            {
                *first = rest.to_string();
            }
            Ok(Grid { cells })
        }
        Some(Format::Xlsx) => {
            let mut wb: Xlsx<_> = open_workbook(path).map_err(|e| err(format!("not a readable XLSX workbook: {e}")))?;
            let names = wb.sheet_names();
            let name = names
                .iter()
                .find(|n| n.as_str() == "Ratings")
                .or_else(|| names.first())
                .cloned()
                .ok_or_else(|| err("the workbook has no worksheet".into()))?;
            let range = wb.worksheet_range(&name).map_err(|e| err(format!("worksheet `{name}`: {e}")))?;
            let mut cells: Vec<Vec<String>> = Vec::new();
            if let (Some((r0, c0)), Some((r1, c1))) = (range.start(), range.end()) {
                // Absolute positions, so that row numbers match what the annotator sees.
                for r in 0..=r1 {
                    let mut row = Vec::new();
                    if r >= r0 {
                        for c in 0..=c1 {
                            let v = if c >= c0 { range.get_value((r, c)) } else { None };
                            row.push(v.map(cell_text).unwrap_or_default());
                        }
                    }
                    cells.push(row);
                }
            }
            Ok(Grid { cells })
        }
        None => Err(err("a sheet must be a .csv or .xlsx file".into())),
    }
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string().to_uppercase(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// Validates one sheet's grid; returns the rows that are fully valid and every problem.
fn validate(file: &str, grid: &Grid, key: &Key) -> (FilledSheet, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut sheet = FilledSheet { file: file.to_string(), rows: Vec::new() };
    let problem = |row: Option<usize>, column: Option<String>, message: String| Problem {
        file: file.to_string(),
        row,
        column,
        message,
    };
    let Some(header) = grid.cells.first() else {
        problems.push(problem(None, None, "the sheet is empty (no header row)".into()));
        return (sheet, problems);
    };
    let find = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let needed = ["item_id", Aspect::Empathy.column(), Aspect::Relevance.column(), Aspect::Fluency.column()];
    let found: Vec<Option<usize>> = needed.iter().map(|n| find(n)).collect();
    let missing: Vec<&str> = needed.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        let hint = if header.iter().any(|h| h == "a_is") {
            " (this is the unblinding key, not an annotator sheet; keep key.csv out of the sheets folder)"
        } else {
            ""
        };
        problems.push(problem(
            Some(1),
            None,
            format!(
                "the header row has no column {} (found: {}); the header must be {}{hint}",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                header.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", "),
                SHEET_COLUMNS.join(", ")
            ),
        ));
        return (sheet, problems);
    }
    let cols: Vec<usize> = found.into_iter().flatten().collect();
    let (id_col, answer_cols) = (cols[0], [cols[1], cols[2], cols[3]]);
    let col = |c: usize| column_label(c, header[c].trim());
    let data_rows = grid.cells.iter().skip(1).filter(|r| r.iter().any(|c| !c.trim().is_empty())).count();
    let unfilled = grid
        .cells
        .iter()
        .skip(1)
        .all(|r| answer_cols.iter().all(|&c| r.get(c).is_none_or(|s| s.trim().is_empty())));
    if data_rows > 0 && unfilled {
        problems.push(problem(
            None,
            None,
            format!("no answer is filled in ({data_rows} rows); is this the blank sheet as exported?"),
        ));
        return (sheet, problems);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (r, cells) in grid.cells.iter().enumerate().skip(1) {
        let row_no = r + 1;
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cell = |c: usize| cells.get(c).map(|s| s.trim()).unwrap_or("");
        let id = cell(id_col);
        let mut ok = true;
        if id.is_empty() {
            problems.push(problem(Some(row_no), Some(col(id_col)), "the item id is empty".into()));
            ok = false;
        } else {
            match key.get(id) {
                None => {
                    problems.push(problem(
                        Some(row_no),
                        Some(col(id_col)),
                        format!("unknown item id `{id}`: not in this export's key (a sheet from another export, or an edited id?)"),
                    ));
                    ok = false;
                }
                Some(k) if !k.in_sheets() => {
                    problems.push(problem(
                        Some(row_no),
                        Some(col(id_col)),
                        format!("item `{id}` was not handed out in this export (identical responses, scored as a tie)"),
                    ));
                    ok = false;
                }
                Some(_) => {
                    if let Some(first) = seen.get(id) {
                        problems.push(problem(
                            Some(row_no),
                            Some(col(id_col)),
                            format!("item `{id}` appears twice (first on row {first}); keep one row per item"),
                        ));
                        ok = false;
                    } else {
                        seen.insert(id.to_string(), row_no);
                    }
                }
            }
        }
        let mut answers = [Answer::Tie; 3];
        for (j, &c) in answer_cols.iter().enumerate() {
            let text = cell(c);
            match Answer::parse(text) {
                Some(a) => answers[j] = a,
                None => {
                    let message = if text.is_empty() {
                        "missing answer; write A, B or Tie".to_string()
                    } else {
                        format!("invalid answer `{text}`; write A, B or Tie (any case)")
                    };
                    problems.push(problem(Some(row_no), Some(col(c)), message));
                    ok = false;
                }
            }
        }
        if ok {
            sheet.rows.push(FilledRow { row: row_no, item_id: id.to_string(), answers });
        }
    }
    let expected: Vec<&str> = key.rows.iter().filter(|r| r.in_sheets()).map(|r| r.item_id.as_str()).collect();
    let absent: Vec<&str> = expected.iter().copied().filter(|id| !seen.contains_key(*id)).collect();
    if !absent.is_empty() {
        let shown: Vec<String> = absent.iter().take(5).map(|s| format!("`{s}`")).collect();
        problems.push(problem(
            None,
            Some(col(id_col)),
            format!(
                "{} of the {} items handed out are missing: {}{}; every annotator rates every item",
                absent.len(),
                expected.len(),
                shown.join(", "),
                if absent.len() > 5 { ", ..." } else { "" }
            ),
        ));
    }
    (sheet, problems)
}

/// Reads and validates one filled sheet.
pub fn read_sheet(path: &Path, key: &Key) -> Result<FilledSheet> {
    let grid = read_grid(path)?;
    let (sheet, problems) = validate(&file_name(path), &grid, key);
    if problems.is_empty() {
        Ok(sheet)
    } else {
        Err(Error::Sheets { where_: path.display().to_string(), problems })
    }
}

/// Reads and validates every `.csv` / `.xlsx` sheet in `dir` (one per annotator), reporting
/// the problems of all sheets at once.
pub fn read_sheets_dir(dir: &Path, key: &Key) -> Result<Vec<FilledSheet>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::File {
        path: dir.display().to_string(),
        message: format!("cannot list the sheets folder: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && format_of(p).is_some())
        .filter(|p| {
            // Hidden files and Excel's lock files (~$name.xlsx) are not sheets.
            let n = file_name(p);
            !n.starts_with('.') && !n.starts_with("~$")
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::Input(format!(
            "no .csv or .xlsx sheets in {}; put one filled sheet per annotator there",
            dir.display()
        )));
    }
    let mut problems = Vec::new();
    let mut stems: HashMap<String, String> = HashMap::new();
    let mut sheets = Vec::new();
    for p in &paths {
        let name = file_name(p);
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(other) = stems.insert(stem, name.clone()) {
            problems.push(Problem {
                file: name.clone(),
                row: None,
                column: None,
                message: format!(
                    "{other} is here too: one annotator's sheet in two formats would count twice; keep the one they filled"
                ),
            });
            continue;
        }
        match read_grid(p) {
            Ok(grid) => {
                let (sheet, mut found) = validate(&name, &grid, key);
                problems.append(&mut found);
                sheets.push(sheet);
            }
            Err(e) => problems.push(Problem { file: name, row: None, column: None, message: e.to_string() }),
        }
    }
    if problems.is_empty() {
        Ok(sheets)
    } else {
        Err(Error::Sheets { where_: dir.display().to_string(), problems })
    }
}

/// Copies the exported sheet `src` to `dst` (format from its extension) with the answer
/// cells set by `answers(item_id)` (empathy, relevance, fluency; any text, so that tests
/// can plant invalid answers too).
pub fn fill_sheet(src: &Path, dst: &Path, answers: impl Fn(&str) -> [String; 3]) -> Result<()> {
    let grid = read_grid(src)?;
    let err = |m: String| Error::File { path: src.display().to_string(), message: m };
    match grid.cells.first() {
        Some(h) if h.iter().map(|s| s.trim()).eq(SHEET_COLUMNS) => {}
        _ => return Err(err(format!("not an exported sheet: the header is not {}", SHEET_COLUMNS.join(", ")))),
    }
    let rows: Vec<[String; 4]> = grid
        .cells
        .iter()
        .skip(1)
        .filter(|r| r.iter().any(|c| !c.trim().is_empty()))
        .map(|r| std::array::from_fn(|c| r.get(c).cloned().unwrap_or_default()))
        .collect();
    let filled: Vec<[String; 3]> = rows.iter().map(|r| answers(&r[0])).collect();
    let borrowed: Vec<[&str; 4]> = rows.iter().map(|r| std::array::from_fn(|c| r[c].as_str())).collect();
    let answer = |i: usize| -> [&str; 3] { std::array::from_fn(|j| filled[i][j].as_str()) };
    match format_of(dst) {
        Some(Format::Csv) => write_csv(dst, &borrowed, answer),
        Some(Format::Xlsx) => write_xlsx(dst, &borrowed, answer),
        None => Err(Error::Write { path: dst.display().to_string(), message: "a sheet must be .csv or .xlsx".into() }),
    }
}

/// The exported name of annotator `k`'s sheet, without its extension.
fn sheet_stem(k: usize) -> String {
    format!("annotator_{k}")
}

/// Checks that as many sheets were read as are to be scored: `accept` sheets when given, else
/// every one of the `written` sheets the export wrote, so that a sheet that did not come back
/// is not silently scored as fewer annotators. `stage` names the scoring stage in the hint
/// (`-p STAGE.annotators=N`); `dir` is where the sheets were read.
pub fn check_annotators(sheets: &[FilledSheet], written: usize, accept: Option<usize>, stage: &str, dir: &Path) -> Result<()> {
    if let Some(n) = accept
        && (n == 0 || n > written)
    {
        return Err(Error::Input(format!(
            "`annotators` is {n}, but the export wrote {written} sheet(s) (annotator_1 to annotator_{written}); \
             set `-p {stage}.annotators=N` with N from 1 to {written}, or leave it null to score all {written}"
        )));
    }
    let expected = accept.unwrap_or(written);
    if sheets.len() == expected {
        return Ok(());
    }
    let stem = |s: &FilledSheet| Path::new(&s.file).file_stem().map(|x| x.to_string_lossy().into_owned()).unwrap_or_default();
    let found: Vec<String> = sheets.iter().map(stem).collect();
    let names: Vec<&str> = sheets.iter().map(|s| s.file.as_str()).collect();
    let missing: Vec<String> = (1..=written).map(sheet_stem).filter(|s| !found.contains(s)).collect();
    let other: Vec<&str> =
        sheets.iter().zip(&found).filter(|(_, st)| !(1..=written).any(|k| sheet_stem(k) == **st)).map(|(s, _)| s.file.as_str()).collect();
    let asked = match accept {
        Some(n) => format!("`annotators` asks for {n} and the export wrote {written}"),
        None => format!("the export wrote {written}"),
    };
    let mut msg = format!(
        "{} filled sheet(s) in {} ({}), but {asked}",
        sheets.len(),
        dir.display(),
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    );
    if !missing.is_empty() {
        msg.push_str(&format!("; missing: {}", missing.join(", ")));
    }
    if !other.is_empty() {
        msg.push_str(&format!("; not an exported sheet name: {}", other.join(", ")));
    }
    if sheets.len() < expected {
        msg.push_str(&format!(
            ". Every annotator's sheet is scored: add the missing sheet(s), or score only the {} that came back with \
             `-p {stage}.annotators={}`",
            sheets.len(),
            sheets.len()
        ));
    } else {
        msg.push_str(&format!(
            ". More sheets than expected would count some annotator twice: remove the extra sheet(s){}",
            if sheets.len() <= written {
                format!(", or score all of them with `-p {stage}.annotators={}`", sheets.len())
            } else {
                String::new()
            }
        ));
    }
    Err(Error::Input(msg))
}
