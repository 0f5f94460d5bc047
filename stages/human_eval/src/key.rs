//! The unblinding key: item id -> which system's response is A, and what kind of item it is.

use std::path::Path;

use arrow_array::RecordBatch;
use iamm_csv::{neutralise_formula, strip_formula_guard};
use iamm_tables::human_eval_key::KeyEntry;

use crate::{Answer, Error, ItemKind, Outcome, Result};

/// One key row.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub item_id: String,
    pub kind: ItemKind,
    /// The test dialogue whose context the item shows.
    pub example_id: u32,
    /// Whose response is A: "proposed" | "baseline" for pairs and auto-ties, "gold" |
    /// "scrambled" for attention checks.
    pub a_is: String,
    pub b_is: String,
    /// The known answer of an attention check (for all three aspects).
    pub expected: Option<Answer>,
    /// For attention checks: the dialogue whose human response was scrambled.
    pub scrambled_from: Option<u32>,
}

impl KeyRow {
    /// Whether the row is shown to annotators.
    pub fn in_sheets(&self) -> bool {
        self.kind != ItemKind::AutoTie
    }
}

/// The whole key of one export.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub proposed: String,
    pub baseline: String,
    /// Sorted by item id.
    pub rows: Vec<KeyRow>,
}

const COLUMNS: [&str; 9] =
    ["item_id", "kind", "example_id", "a_is", "b_is", "proposed", "baseline", "expected", "scrambled_from"];

impl Key {
    pub fn get(&self, item_id: &str) -> Option<&KeyRow> {
        self.rows.binary_search_by(|r| r.item_id.as_str().cmp(item_id)).ok().map(|i| &self.rows[i])
    }

    /// An answer about a pair, seen from the proposed system's side.
    pub fn unblind(&self, row: &KeyRow, answer: Answer) -> Outcome {
        match (answer, row.a_is == "proposed") {
            (Answer::Tie, _) => Outcome::Tie,
            (Answer::A, true) | (Answer::B, false) => Outcome::Win,
            (Answer::A, false) | (Answer::B, true) => Outcome::Lose,
        }
    }

    /// The key as a table (`human_eval_key`, see [`iamm_tables::human_eval_key`]).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let entries: Vec<KeyEntry> = self
            .rows
            .iter()
            .map(|r| KeyEntry {
                item_id: r.item_id.clone(),
                kind: r.kind.as_str().to_string(),
                example_id: r.example_id,
                a_is: r.a_is.clone(),
                b_is: r.b_is.clone(),
                proposed: self.proposed.clone(),
                baseline: self.baseline.clone(),
                expected: r.expected.map(|a| a.as_str().to_string()),
                scrambled_from: r.scrambled_from,
            })
            .collect();
        iamm_tables::human_eval_key::write(&entries).map_err(|e| Error::Input(e.to_string()))
    }

    /// Reads the key table back (`what` names it in errors).
    pub fn from_batch(batch: &RecordBatch, what: &str) -> Result<Key> {
        let bad = |m: String| Error::Input(format!("{what}: {m}; it does not look like a key written by the human_eval stage"));
        let entries = iamm_tables::human_eval_key::read(batch, what).map_err(|e| Error::Input(e.to_string()))?;
        let Some(first) = entries.first() else { return Err(bad("the key has no rows".into())) };
        let (proposed, baseline) = (first.proposed.clone(), first.baseline.clone());
        let mut rows = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let kind = ItemKind::parse(&e.kind).ok_or_else(|| bad(format!("row {i}: unknown kind `{}`", e.kind)))?;
            let expected = match e.expected.as_deref() {
                None | Some("") => None,
                Some(a) => Some(Answer::parse(a).ok_or_else(|| bad(format!("row {i}: bad expected answer `{a}`")))?),
            };
            rows.push(KeyRow {
                item_id: e.item_id,
                kind,
                example_id: e.example_id,
                a_is: e.a_is,
                b_is: e.b_is,
                expected,
                scrambled_from: e.scrambled_from,
            });
        }
        Key::new(proposed, baseline, rows).map_err(|e| bad(e.to_string()))
    }

    /// Builds a key, sorting rows by id and refusing duplicate ids.
    pub fn new(proposed: String, baseline: String, mut rows: Vec<KeyRow>) -> Result<Key> {
        rows.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        if let Some(w) = rows.windows(2).find(|w| w[0].item_id == w[1].item_id) {
            return Err(Error::Input(format!("item id `{}` appears twice in the key", w[0].item_id)));
        }
        Ok(Key { proposed, baseline, rows })
    }

    /// Writes `key.csv` (same columns as the table; text cells through [`neutralise_formula`],
    /// as the system names come from the pipeline).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let err = |e: csv::Error| Error::Write { path: path.display().to_string(), message: e.to_string() };
        let mut w = csv::Writer::from_path(path).map_err(err)?;
        w.write_record(COLUMNS).map_err(err)?;
        for r in &self.rows {
            let text = |s: &str| neutralise_formula(s).into_owned();
            w.write_record([
                text(&r.item_id),
                text(r.kind.as_str()),
                r.example_id.to_string(),
                text(&r.a_is),
                text(&r.b_is),
                text(&self.proposed),
                text(&self.baseline),
                text(r.expected.map(Answer::as_str).unwrap_or("")),
                r.scrambled_from.map(|x| x.to_string()).unwrap_or_default(),
            ])
            .map_err(err)?;
        }
        w.flush().map_err(|e| Error::Write { path: path.display().to_string(), message: e.to_string() })
    }

    /// Reads `key.csv` back (without the `'` that [`neutralise_formula`] added).
    pub fn read_csv(path: &Path) -> Result<Key> {
        let file_err = |m: String| Error::File { path: path.display().to_string(), message: m };
        let mut r = csv::Reader::from_path(path).map_err(|e| file_err(e.to_string()))?;
        let header: Vec<String> = r.headers().map_err(|e| file_err(e.to_string()))?.iter().map(str::to_string).collect();
        if header != COLUMNS {
            return Err(file_err(format!("header is {header:?}, expected {COLUMNS:?}: not a key.csv of the human_eval stage")));
        }
        let mut rows = Vec::new();
        let (mut proposed, mut baseline) = (String::new(), String::new());
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| file_err(e.to_string()))?;
            let rec: Vec<&str> = rec.iter().map(strip_formula_guard).collect();
            let at = |m: String| file_err(format!("row {}: {m}", i + 2));
            let num = |s: &str| s.parse::<u32>().map_err(|_| at(format!("`{s}` is not a number")));
            proposed = rec[5].to_string();
            baseline = rec[6].to_string();
            rows.push(KeyRow {
                item_id: rec[0].to_string(),
                kind: ItemKind::parse(rec[1]).ok_or_else(|| at(format!("unknown kind `{}`", rec[1])))?,
                example_id: num(rec[2])?,
                a_is: rec[3].to_string(),
                b_is: rec[4].to_string(),
                expected: if rec[7].is_empty() {
                    None
                } else {
                    Some(Answer::parse(rec[7]).ok_or_else(|| at(format!("bad expected answer `{}`", rec[7])))?)
                },
                scrambled_from: if rec[8].is_empty() { None } else { Some(num(rec[8])?) },
            });
        }
        if rows.is_empty() {
            return Err(file_err("the key has no rows".into()));
        }
        Key::new(proposed, baseline, rows).map_err(|e| file_err(e.to_string()))
    }
}
