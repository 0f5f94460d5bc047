//! The XLSX sheets print readably: LibreOffice (headless) turns a sheet of the demo's dialogues
//! (multi-turn contexts, long responses, 22 rows as the demo writes) into a PDF whose pages are
//! landscape, few, each with the whole header row, and that shows every word of every cell
//! (none cut off by a row too short for its wrapped text).
//!
//! Needs `soffice` (libreoffice-calc-nogui) and `pdfinfo` / `pdftotext` (poppler-utils);
//! scripts/test.sh installs them.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use iamm_human_eval::*;
use iamm_tables::responses::Response;

/// The demo's test dialogues (`demo/ed/test.csv`, ED layout, `_comma_` for commas) as two
/// systems' responses: every listener turn is an example; the responses are long human
/// sentences (a reference, a situation), different for the two systems.
fn demo_responses() -> (Vec<Response>, Vec<Response>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/ed/test.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut convs: Vec<(String, String, Vec<String>)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (conv, prompt, utt) = (f[0], f[3].replace("_comma_", ","), f[5].replace("_comma_", ","));
        match convs.last_mut() {
            Some((c, _, utts)) if c == conv => utts.push(utt),
            _ => convs.push((conv.to_string(), prompt, vec![utt])),
        }
    }
    let (mut proposed, mut baseline) = (Vec::new(), Vec::new());
    for (c, (_, prompt, utts)) in convs.iter().enumerate() {
        let other = &convs[(c + 1) % convs.len()].1;
        for k in (1..utts.len()).step_by(2) {
            let row = |generated: String| Response {
                example_id: (100 * c + k) as u32,
                context: utts[..k].to_vec(),
                context_roles: (0..k).map(|t| if t % 2 == 0 { "speaker" } else { "listener" }.to_string()).collect(),
                reference: utts[k].clone(),
                generated,
                ..Response::default()
            };
            proposed.push(row(format!("{} {prompt}", utts[k])));
            baseline.push(row(format!("That sounds like a lot. {other}")));
        }
    }
    (proposed, baseline)
}

/// Fails the test, naming the script that installs them, when the programs it needs are
/// not on the PATH: a missing LibreOffice must not pass silently.
fn require_tools() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for program in ["soffice", "pdfinfo", "pdftotext"] {
        assert!(
            std::env::split_paths(&path).any(|dir| dir.join(program).is_file()),
            "`{program}` is not installed: this test needs LibreOffice (soffice, Debian package \
             libreoffice-calc-nogui) and poppler-utils (pdfinfo, pdftotext); scripts/test.sh installs them"
        );
    }
}

/// Runs a command and returns its stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `ht` (points) of every `<row>` in the worksheet XML that has one, by 1-based row number.
fn row_heights(xlsx: &Path) -> HashMap<u32, f64> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(xlsx).unwrap()).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut xml).unwrap();
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[start..start + tag[start..].find('"')?].to_string())
    };
    xml.split("<row ")
        .skip(1)
        .filter_map(|r| {
            let tag = format!(" {}", &r[..r.find('>').unwrap()]);
            Some((attr(&tag, "r")?.parse().unwrap(), attr(&tag, "ht")?.parse().unwrap()))
        })
        .collect()
}

#[test]
fn libreoffice_prints_a_sheet_on_few_landscape_pages_without_clipping() {
    require_tools();
    let (p, b) = demo_responses();
    let opts = ExportOptions {
        proposed: "proposed".into(),
        baseline: "baseline".into(),
        seed: 42,
        sample: 20,
        annotators: 1,
        identical: Identical::Tie,
        attention_checks: 2,
    };
    let ex = export(&p, &b, &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), &ex).unwrap();
    let xlsx = dir.path().join("sheets/annotator_1.xlsx");
    let rows: Vec<&Item> =
        ex.sheets[0].item_ids.iter().map(|id| ex.items.iter().find(|i| &i.key.item_id == id).unwrap()).collect();
    assert_eq!(rows.len(), 22);
    assert!(rows.iter().any(|i| i.context.lines().count() >= 5), "some contexts have five turns");

    // A profile of its own, so that parallel runs do not share LibreOffice's lock.
    let profile = format!("-env:UserInstallation=file://{}", dir.path().join("lo-profile").display());
    let out_dir = dir.path().join("pdf");
    let (out, sheet) = (out_dir.to_str().unwrap(), xlsx.to_str().unwrap());
    run("timeout", &["300", "soffice", &profile, "--headless", "--convert-to", "pdf", "--outdir", out, sheet]);
    let pdf = out_dir.join("annotator_1.pdf");
    let pdf = pdf.to_str().unwrap();
    let info = run("pdfinfo", &["-f", "1", "-l", "999", pdf]);
    let text = run("pdftotext", &["-layout", pdf, "-"]);
    let pages: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    // The workbook's second sheet, the instructions, prints after the ratings.
    let ratings: Vec<&str> =
        pages.iter().copied().take_while(|p| !p.contains("How to fill in this sheet")).collect();
    let sizes: Vec<(f64, f64)> = info
        .lines()
        .filter(|l| l.starts_with("Page") && l.contains(" size: "))
        .map(|l| {
            let size = l.split(" size: ").nth(1).unwrap();
            let dims: Vec<f64> = size.split_whitespace().filter_map(|w| w.parse().ok()).collect();
            (dims[0], dims[1])
        })
        .collect();
    assert_eq!(sizes.len(), pages.len(), "{info}");

    // Every ratings page is landscape and carries the whole header row: all columns on one
    // page width, the header repeated.
    for (n, page) in ratings.iter().enumerate() {
        assert!(sizes[n].0 > sizes[n].1, "page {} is not landscape: {:?}", n + 1, sizes[n]);
        for col in SHEET_COLUMNS {
            assert!(page.contains(col), "page {} lacks the header `{col}`:\n{page}", n + 1);
        }
    }

    // Few pages: no more than the rows' heights (unscaled, so an upper bound) fill on a page
    // that holds the header and loses an inch and a half to margins, plus one for the packing.
    let heights = row_heights(&xlsx);
    let header = heights.get(&1).copied().unwrap_or(15.0);
    let body: f64 =
        (2..=rows.len() as u32 + 1).map(|r| heights.get(&r).unwrap_or_else(|| panic!("row {r} has no height"))).sum();
    let usable = sizes[0].1 - 1.5 * 72.0 - header;
    let bound = (body / usable).ceil() as usize + 1;
    eprintln!("{} pages, {} of them the ratings sheet (at most {bound}); sizes {sizes:?}", pages.len(), ratings.len());
    assert!(ratings.len() <= bound, "{} ratings pages, expected at most {bound} ({body} pt of rows)", ratings.len());

    // No text is clipped: every word written into the sheet is on the printed ratings pages
    // (counted, so that a cut-off line of a repeated word is caught too).
    let mut printed: HashMap<&str, usize> = HashMap::new();
    for w in ratings.iter().flat_map(|p| p.split_whitespace()) {
        *printed.entry(w).or_default() += 1;
    }
    let cells: Vec<(&str, &str)> = rows
        .iter()
        .flat_map(|i| {
            let id = i.key.item_id.as_str();
            [(id, id), (id, i.context.as_str()), (id, i.response_a.as_str()), (id, i.response_b.as_str())]
        })
        .collect();
    let mut needed: HashMap<&str, usize> = HashMap::new();
    for w in cells.iter().flat_map(|(_, t)| t.split_whitespace()) {
        *needed.entry(w).or_default() += 1;
    }
    let short: Vec<&str> =
        needed.iter().filter(|(w, n)| printed.get(*w).copied().unwrap_or(0) < **n).map(|(w, _)| *w).collect();
    let clipped: Vec<String> = cells
        .iter()
        .filter(|(_, t)| t.split_whitespace().any(|w| short.contains(&w)))
        .map(|(id, t)| format!("{id}: {t:?}"))
        .collect();
    assert!(short.is_empty(), "words missing from the PDF: {short:?}\nin the cells:\n{}", clipped.join("\n"));
}
