//! Building the blinded items and writing the annotator sheets and the key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use iamm_csv::neutralise_formula;
use rand::Rng;
use rand::seq::SliceRandom;
use iamm_tables::responses::Response;
use rust_xlsxwriter::{DataValidation, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::key::{Key, KeyRow};
use crate::readable::readable;
use crate::layout::{COLUMN_WIDTHS, row_height, set_print_layout};
use crate::rng::{id_key, stream};
use crate::{Answer, Aspect, Error, Identical, ItemKind, Result};

/// How attention checks are made (also written into the report, never into the sheets).
pub const CHECK_DESIGN: &str = "An attention check shows a real test dialogue with two responses: its human \
reference response, and the human reference response of another test dialogue with its words shuffled (off-topic \
and ungrammatical). The reference is the correct answer for empathy, relevance and fluency alike; an annotator \
passes a check when all three answers name it.";

/// The sheet columns, in order.
pub const SHEET_COLUMNS: [&str; 7] = ["item_id", "context", "response_a", "response_b", "empathy", "relevance", "fluency"];

#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Display name of the proposed system (goes into the key only).
    pub proposed: String,
    pub baseline: String,
    pub seed: u64,
    /// Items to draw; fewer when fewer test dialogues are eligible.
    pub sample: usize,
    pub annotators: usize,
    pub identical: Identical,
    pub attention_checks: usize,
}

/// One item as an annotator sees it, with its key facts.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: KeyRow,
    /// "Speaker: ..." / "Listener: ..." lines.
    pub context: String,
    pub response_a: String,
    pub response_b: String,
}

/// One annotator's sheet: item ids in the order shown.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// 1-based.
    pub annotator: usize,
    pub item_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Export {
    pub options: ExportOptions,
    /// Sorted by item id.
    pub items: Vec<Item>,
    pub sheets: Vec<Sheet>,
    /// Test dialogues that both systems answered.
    pub joined: usize,
    /// Of those, how many have identical responses.
    pub identical_found: usize,
    /// Sampled pairs (auto-ties included).
    pub sampled: usize,
    pub auto_ties: usize,
    pub only_proposed: usize,
    pub only_baseline: usize,
}

impl Export {
    pub fn key(&self) -> Result<Key> {
        Key::new(
            self.options.proposed.clone(),
            self.options.baseline.clone(),
            self.items.iter().map(|i| i.key.clone()).collect(),
        )
    }

    fn item(&self, id: &str) -> Option<&Item> {
        self.items.binary_search_by(|i| i.key.item_id.as_str().cmp(id)).ok().map(|i| &self.items[i])
    }
}

fn context_text(row: &Response) -> Result<String> {
    let mut lines = Vec::with_capacity(row.context.len());
    for (utt, role) in row.context.iter().zip(&row.context_roles) {
        let label = match role.to_ascii_lowercase().as_str() {
            "speaker" => "Speaker",
            "listener" => "Listener",
            other => {
                return Err(Error::Input(format!(
                    "example {}: context role `{other}` is neither `speaker` nor `listener`",
                    row.example_id
                )));
            }
        };
        lines.push(format!("{label}: {}", readable(utt)));
    }
    Ok(lines.join("\n"))
}

fn same_text(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Draws the sample and builds the blinded items and the annotators' orders.
pub fn export(proposed: &[Response], baseline: &[Response], opts: &ExportOptions) -> Result<Export> {
    if opts.annotators == 0 {
        return Err(Error::Input("annotators must be at least 1".into()));
    }
    if opts.proposed == opts.baseline {
        return Err(Error::Input(format!("the proposed and the baseline system are both `{}`", opts.proposed)));
    }
    let mut by_id: HashMap<u32, &Response> = HashMap::with_capacity(baseline.len());
    for r in baseline {
        if by_id.insert(r.example_id, r).is_some() {
            return Err(Error::Input(format!("{}: example_id {} appears twice", opts.baseline, r.example_id)));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(proposed.len());
    let mut joined: Vec<(&Response, &Response)> = Vec::new();
    for p in proposed {
        if !seen.insert(p.example_id) {
            return Err(Error::Input(format!("{}: example_id {} appears twice", opts.proposed, p.example_id)));
        }
        if let Some(b) = by_id.get(&p.example_id) {
            if p.context != b.context {
                return Err(Error::Input(format!(
                    "example {}: `{}` and `{}` show different contexts; were both evaluated on the same test set?",
                    p.example_id, opts.proposed, opts.baseline
                )));
            }
            joined.push((p, b));
        }
    }
    if joined.is_empty() {
        return Err(Error::Input(format!(
            "`{}` and `{}` share no example_id: nothing to compare",
            opts.proposed, opts.baseline
        )));
    }
    joined.sort_by_key(|(p, _)| p.example_id);
    let identical_found = joined.iter().filter(|(p, b)| same_text(&p.generated, &b.generated)).count();
    let pool: Vec<_> = match opts.identical {
        Identical::Tie => joined.clone(),
        Identical::Drop => joined.iter().copied().filter(|(p, b)| !same_text(&p.generated, &b.generated)).collect(),
    };
    if pool.is_empty() {
        return Err(Error::Input(format!(
            "all {} shared examples have identical responses and `identical: drop` leaves none",
            joined.len()
        )));
    }
    let n = opts.sample.min(pool.len());
    let mut chosen = rand::seq::index::sample(&mut stream(opts.seed, "sample", 0), pool.len(), n).into_vec();
    chosen.sort_unstable();

    let id_key = id_key(opts.seed, &opts.proposed, &opts.baseline);
    let mut used_ids = std::collections::HashSet::new();
    let mut make_id = |what: String| {
        // A keyed hash: the id says nothing about position, system or example. 32 bits can
        // collide; the next attempt then gives another id.
        let mut attempt = 0u64;
        loop {
            let h = blake3::keyed_hash(&id_key, format!("{what}#{attempt}").as_bytes()).to_hex();
            let id = format!("Q{}", h[..8].to_ascii_uppercase());
            if used_ids.insert(id.clone()) {
                return id;
            }
            attempt += 1;
        }
    };

    let mut items = Vec::new();
    let mut auto_ties = 0;
    for &i in &chosen {
        let (p, b) = pool[i];
        // Per example, not per position: the A side of an example does not move when the
        // sample size changes.
        let proposed_is_a = stream(opts.seed, "ab", p.example_id as u64).random_bool(0.5);
        let kind = if same_text(&p.generated, &b.generated) {
            auto_ties += 1;
            ItemKind::AutoTie
        } else {
            ItemKind::Pair
        };
        let (first, second) = if proposed_is_a { (p, b) } else { (b, p) };
        items.push(Item {
            key: KeyRow {
                item_id: make_id(format!("pair:{}", p.example_id)),
                kind,
                example_id: p.example_id,
                a_is: if proposed_is_a { "proposed" } else { "baseline" }.into(),
                b_is: if proposed_is_a { "baseline" } else { "proposed" }.into(),
                expected: None,
                scrambled_from: None,
            },
            context: context_text(p)?,
            response_a: readable(&first.generated),
            response_b: readable(&second.generated),
        });
    }

    if opts.attention_checks > 0 {
        items.extend(attention_checks(&joined, &chosen.iter().map(|&i| pool[i].0.example_id).collect::<Vec<_>>(), opts, &mut make_id)?);
    }
    items.sort_by(|a, b| a.key.item_id.cmp(&b.key.item_id));

    let shown: Vec<String> = items.iter().filter(|i| i.key.in_sheets()).map(|i| i.key.item_id.clone()).collect();
    let sheets = (1..=opts.annotators)
        .map(|k| {
            let mut ids = shown.clone();
            ids.shuffle(&mut stream(opts.seed, "order", k as u64));
            Sheet { annotator: k, item_ids: ids }
        })
        .collect();
    let shared: std::collections::HashSet<u32> = joined.iter().map(|(p, _)| p.example_id).collect();
    Ok(Export {
        options: opts.clone(),
        items,
        sheets,
        joined: joined.len(),
        identical_found,
        sampled: chosen.len(),
        auto_ties,
        only_proposed: proposed.len() - joined.len(),
        only_baseline: baseline.iter().filter(|b| !shared.contains(&b.example_id)).count(),
    })
}

/// See [`CHECK_DESIGN`]. Contexts come from dialogues outside the sample where there are
/// enough, so that a check never repeats a real item's context.
fn attention_checks(
    joined: &[(&Response, &Response)],
    sampled: &[u32],
    opts: &ExportOptions,
    make_id: &mut dyn FnMut(String) -> String,
) -> Result<Vec<Item>> {
    // A scramble of fewer than four words, or of one repeated word, may read as fine.
    let usable = |r: &Response| {
        let toks: Vec<&str> = r.reference.split_whitespace().collect();
        toks.len() >= 4 && toks.iter().any(|t| *t != toks[0])
    };
    let mut rng = stream(opts.seed, "checks", 0);
    let mut outside: Vec<&Response> =
        joined.iter().map(|(p, _)| *p).filter(|p| usable(p) && !sampled.contains(&p.example_id)).collect();
    let mut inside: Vec<&Response> =
        joined.iter().map(|(p, _)| *p).filter(|p| usable(p) && sampled.contains(&p.example_id)).collect();
    outside.shuffle(&mut rng);
    inside.shuffle(&mut rng);
    let candidates: Vec<&Response> = outside.into_iter().chain(inside).collect();
    if candidates.len() < 2 || candidates.len() < opts.attention_checks {
        return Err(Error::Input(format!(
            "{} attention checks need as many test dialogues (and at least 2) whose human reference has 4+ words \
             and the `reference` column; {} have one. Lower `attention_checks` or set it to 0",
            opts.attention_checks,
            candidates.len()
        )));
    }
    let mut items = Vec::with_capacity(opts.attention_checks);
    for i in 0..opts.attention_checks {
        let ctx = candidates[i];
        let donor = candidates[(i + 1) % candidates.len()];
        let original: Vec<&str> = donor.reference.split_whitespace().collect();
        let mut shuffled = original.clone();
        while shuffled == original {
            shuffled.shuffle(&mut rng);
        }
        let gold = readable(&ctx.reference);
        let broken = readable(&shuffled.join(" "));
        let gold_is_a = rng.random_bool(0.5);
        let (a, b) = if gold_is_a { (gold, broken) } else { (broken, gold) };
        items.push(Item {
            key: KeyRow {
                item_id: make_id(format!("check:{i}")),
                kind: ItemKind::AttentionCheck,
                example_id: ctx.example_id,
                a_is: if gold_is_a { "gold" } else { "scrambled" }.into(),
                b_is: if gold_is_a { "scrambled" } else { "gold" }.into(),
                expected: Some(if gold_is_a { Answer::A } else { Answer::B }),
                scrambled_from: Some(donor.example_id),
            },
            context: context_text(ctx)?,
            response_a: a,
            response_b: b,
        });
    }
    Ok(items)
}

/// What annotators read (sheets/INSTRUCTIONS.txt and the XLSX's second sheet); the aspect
/// definitions are the paper's (Section 3.8).
fn instructions() -> String {
    let aspects: String =
        Aspect::ALL.iter().map(|a| format!("  {:<10} {}\n", a.column(), a.definition())).collect();
    format!("{INSTRUCTIONS_HEAD}{aspects}{INSTRUCTIONS_TAIL}")
}

const INSTRUCTIONS_HEAD: &str = "How to fill in this sheet

Each row shows a dialogue between a Speaker and a Listener, and two candidate next
responses of the Listener, A and B. For each of the three aspects, write which response
is better: A, B, or Tie when neither is better.

";

const INSTRUCTIONS_TAIL: &str = "
Judge each aspect on its own. Fill every answer cell; do not change the item_id, the
order of the columns or the header row. The XLSX sheet offers the three answers in a
drop-down; in the CSV sheet type A, B or Tie (any case). Return the sheet under its
file name.
";

/// Writes `sheets/annotator_<k>.csv`, `sheets/annotator_<k>.xlsx`, `sheets/INSTRUCTIONS.txt`
/// and `key.csv` under `dir`; returns the files written.
pub fn write_export(dir: &Path, export: &Export) -> Result<Vec<PathBuf>> {
    let sheets_dir = dir.join("sheets");
    std::fs::create_dir_all(&sheets_dir)
        .map_err(|e| Error::Write { path: sheets_dir.display().to_string(), message: e.to_string() })?;
    let mut written = Vec::new();
    let help = sheets_dir.join("INSTRUCTIONS.txt");
    std::fs::write(&help, instructions())
        .map_err(|e| Error::Write { path: help.display().to_string(), message: e.to_string() })?;
    written.push(help);
    for sheet in &export.sheets {
        let rows: Vec<[&str; 4]> = sheet
            .item_ids
            .iter()
            .map(|id| {
                let item = export
                    .item(id)
                    .ok_or_else(|| Error::Input(format!("sheet {} lists item `{id}`, which is not among the items", sheet.annotator)))?;
                Ok([id.as_str(), item.context.as_str(), item.response_a.as_str(), item.response_b.as_str()])
            })
            .collect::<Result<_>>()?;
        let csv_path = sheets_dir.join(format!("annotator_{}.csv", sheet.annotator));
        write_csv(&csv_path, &rows, |_| [""; 3])?;
        let xlsx_path = sheets_dir.join(format!("annotator_{}.xlsx", sheet.annotator));
        write_xlsx(&xlsx_path, &rows, |_| [""; 3])?;
        written.push(csv_path);
        written.push(xlsx_path);
    }
    let key_path = dir.join("key.csv");
    export.key()?.write_csv(&key_path)?;
    written.push(key_path);
    Ok(written)
}

/// A sheet as CSV (UTF-8 with a byte-order mark, so that Excel shows non-ASCII text right).
/// Every cell goes through [`neutralise_formula`]: dialogue text and generated responses are
/// untrusted, and a cell such as `=HYPERLINK(...)` or `+cmd|...` would otherwise run as a
/// formula when an annotator opens the sheet; [`crate::read_sheet`] strips the added `'`.
pub(crate) fn write_csv<'a>(
    path: &Path,
    rows: &[[&str; 4]],
    answers: impl Fn(usize) -> [&'a str; 3],
) -> Result<()> {
    let err = |m: String| Error::Write { path: path.display().to_string(), message: m };
    let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
    let mut file = std::io::BufWriter::new(file);
    std::io::Write::write_all(&mut file, "\u{feff}".as_bytes()).map_err(|e| err(e.to_string()))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(SHEET_COLUMNS).map_err(|e| err(e.to_string()))?;
    for (i, row) in rows.iter().enumerate() {
        let ans = answers(i);
        w.write_record(row.iter().chain(ans.iter()).map(|c| neutralise_formula(c).into_owned()))
            .map_err(|e| err(e.to_string()))?;
    }
    w.flush().map_err(|e| err(e.to_string()))
}

/// A sheet as XLSX: bold frozen header, wrapped text in rows as high as it needs, an A/B/Tie
/// drop-down on the answer columns, a print layout (see [`set_print_layout`]) and a second
/// sheet with the instructions. Cells are string cells (never formulas), so their text is
/// kept exactly, `=...` included.
pub(crate) fn write_xlsx<'a>(
    path: &Path,
    rows: &[[&str; 4]],
    answers: impl Fn(usize) -> [&'a str; 3],
) -> Result<()> {
    let err = |e: XlsxError| Error::Write { path: path.display().to_string(), message: e.to_string() };
    let mut wb = Workbook::new();
    // A fixed creation date keeps the file byte-identical across runs.
    let created = ExcelDateTime::from_ymd(2024, 1, 1).map_err(err)?;
    wb.set_properties(&DocProperties::new().set_title("A/B ratings").set_creation_datetime(&created));
    let header = Format::new().set_bold().set_background_color("D9E1F2").set_border_bottom(FormatBorder::Thin);
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    let answer = Format::new().set_align(FormatAlign::Center).set_align(FormatAlign::Top).set_background_color("FFF2CC");
    let ws = wb.add_worksheet();
    ws.set_name("Ratings").map_err(err)?;
    for (c, (name, width)) in SHEET_COLUMNS.iter().zip(COLUMN_WIDTHS).enumerate() {
        ws.write_string_with_format(0, c as u16, *name, &header).map_err(err)?;
        ws.set_column_width(c as u16, width).map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    set_print_layout(ws).map_err(err)?;
    for (i, row) in rows.iter().enumerate() {
        let r = i as u32 + 1;
        ws.set_row_height(r, row_height(row)).map_err(err)?;
        for (c, text) in row.iter().enumerate() {
            ws.write_string_with_format(r, c as u16, *text, &wrap).map_err(err)?;
        }
        for (j, a) in answers(i).iter().enumerate() {
            ws.write_string_with_format(r, 4 + j as u16, *a, &answer).map_err(err)?;
        }
    }
    if !rows.is_empty() {
        let choices = DataValidation::new()
            .allow_list_strings(&["A", "B", "Tie"])
            .map_err(err)?
            .set_error_title("Not an answer")
            .map_err(err)?
            .set_error_message("Choose A, B or Tie.")
            .map_err(err)?;
        ws.add_data_validation(1, 4, rows.len() as u32, 6, &choices).map_err(err)?;
    }
    let help = wb.add_worksheet();
    help.set_name("Instructions").map_err(err)?;
    help.set_column_width(0, 95.0).map_err(err)?;
    help.set_print_fit_to_pages(1, 0);
    for (i, line) in instructions().lines().enumerate() {
        help.write_string(i as u32, 0, line).map_err(err)?;
    }
    wb.save(path).map_err(err)
}
