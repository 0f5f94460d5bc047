//! Reads EmpatheticDialogues (ED, Rashkin et al. 2019) in its original release layout and
//! returns one pair of Arrow [`RecordBatch`]es per split (`train`, `valid`, `test`).
//!
//! This is a plain library: it knows nothing about the pipeline engine, which is what writes
//! the batches to Parquet, caches them and records [`Ingested::skipped`] in its manifest.
//!
//! # Source layout
//!
//! [`ingest`] takes either a folder holding `train.csv`, `valid.csv` and `test.csv`, or the
//! official `empatheticdialogues.tar.gz` (any entry whose last path component is `train.csv`,
//! `valid.csv` or `test.csv` is used, normally `empatheticdialogues/train.csv` etc.). An archive
//! is checked against the official release's sha256 ([`OFFICIAL_SHA256`]) unless
//! [`IngestOptions::verify_checksum`] is off.
//!
//! Each file has one header line (`conv_id,utterance_idx,context,prompt,speaker_idx,utterance,
//! selfeval,tags`) and then one line per utterance. A line splits on `,` with no CSV quoting
//! (quotes are literal text); commas inside text are written `_comma_`, which is turned back into
//! `,` in the situation (`prompt`) and the utterances and nowhere else. Text is otherwise kept
//! exactly as written (no stripping, no case folding). Some release files carry a 9th column of
//! retrieval candidates; it is ignored (the header is then exactly the 8 names, or those and a
//! 9th; anything else is rejected). `context` is the emotion label (one of
//! [`iamm_core::EMOTIONS`]). A NUL byte anywhere in a line makes it a bad line.
//!
//! A `conv_id` held by more than one split is not an error (the splits are the data's), but
//! it is returned in [`Ingested::shared_conv_ids`] so that the engine can warn about the leak.
//!
//! A conversation is a maximal run of consecutive lines with the same `conv_id`; its
//! `utterance_idx` must count 1, 2, 3, … and its emotion and situation must not change. See
//! [`OnBadLine`] for what happens to lines and conversations that break these rules.
//!
//! # Outputs
//!
//! * `dialogues` ([`iamm_tables::dialogues`]): one row per conversation, utterances in order.
//! * `examples` ([`iamm_tables::text_examples`]): one row per listener turn, built like the reference: for
//!   every utterance with an even `utterance_idx` (2, 4, 6, …), `context` is all earlier
//!   utterances of the conversation and `target` is that utterance.
//!
//! # Example counts on the real data, and why they differ from the reference by 4 per split
//!
//! On `shared/data/ed` (24,850 conversations: 19,533 / 2,770 / 2,547; 84,169 / 12,078 / 10,973
//! utterances) this crate builds **40,254 / 5,738 / 5,259** train / valid / test examples. The
//! reference reports 40,250 / 5,734 / 5,255: exactly 4 fewer in every split. The difference is
//! not in the data but in how the reference's example files (`sys_*_texts.{train,dev,test}.npy`,
//! made by HLTCHKUST's ParlAI-based `get_ed_data.py` for MoEL and reused by CEM and IAMM) were
//! produced. That script walked the data through the 2019 ParlAI `EmpatheticDialogueTeacher`
//! (the `FixedDialogTeacher` version), whose `_setup_data` only appends a conversation to its episode list when the *next* conversation starts and never
//! appends the one pending at end of file, so the last conversation of every split is lost. The
//! script itself then repeats the pattern: it flushes the dialogue it is collecting only when
//! the situation of the next message differs, and never flushes the last one, losing the last
//! conversation it did receive. So the last two conversations of every split are dropped, and in
//! all three splits both of them have 4 or 5 utterances, i.e. 2 listener turns each:
//!
//! | split | last two conversations (utterances → examples) | ours | reference |
//! |---|---|---|---|
//! | train | `hit:12424_conv:24848` (5 → 2), `hit:12424_conv:24849` (4 → 2) | 40,254 | 40,250 |
//! | valid | `hit:12361_conv:24722` (4 → 2), `hit:12392_conv:24785` (4 → 2) | 5,738 | 5,734 |
//! | test  | `hit:12416_conv:24832` (4 → 2), `hit:12423_conv:24847` (4 → 2) | 5,259 | 5,255 |
//!
//! Conversations with odd structure do not change the count: the 1-utterance conversations
//! (`hit:6_conv:13`, `hit:296_conv:593` in train, one in valid) have no listener turn in either
//! implementation, and 2- and 3-utterance conversations give one example in both. This crate
//! keeps every conversation, including the last ones: dropping data because of an end-of-file
//! bug is not something a reproduction should copy silently.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use iamm_core::{EMOTIONS, SPLITS, emotion_id};
use iamm_tables::TableError;
use iamm_tables::dialogues::Dialogue;
use iamm_tables::text_examples::TextExample;
use indicatif::ProgressBar;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// sha256 of the official `empatheticdialogues.tar.gz` release
/// (`https://dl.fbaipublicfiles.com/parlai/empatheticdialogues/empatheticdialogues.tar.gz`).
pub const OFFICIAL_SHA256: &str =
    "240c492cb6199a315722f716bfcc14f13ea6605f1cec67349153b606be92f6f2";

/// The 8 header names of an ED split file. The header is exactly these, or these and one 9th
/// name (the retrieval-candidates column some release files carry, whatever it is called).
pub const HEADER: [&str; 8] = [
    "conv_id",
    "utterance_idx",
    "context",
    "prompt",
    "speaker_idx",
    "utterance",
    "selfeval",
    "tags",
];

iamm_options::choices! {
    /// What to do with a line or conversation that breaks the file layout.
    #[derive(Default)]
    pub enum OnBadLine ("on_bad_line") {
        /// The first problem aborts ingestion; nothing is returned.
        #[default]
        Error = "error",
        /// A bad line is skipped and reading continues. Conversation-level problems (a gap in
        /// `utterance_idx`, the emotion or situation changing, a `conv_id` reappearing later) drop
        /// the whole conversation. Everything skipped is listed in [`Ingested::skipped`]. A skipped
        /// line inside a conversation leaves a gap in its `utterance_idx`, so that conversation is
        /// then dropped too (and listed separately); a skipped last line only shortens it.
        /// File-level problems (missing, empty or header-only file, wrong header) still abort.
        Skip = "skip",
    }
}

iamm_options::options! {
    /// The ingest stage's params.
    pub struct IngestParams {
        source: PathBuf, Key,
            "EmpatheticDialogues: a folder with train.csv, valid.csv, test.csv, or the official empatheticdialogues.tar.gz";
        on_bad_line: OnBadLine = "error", Key,
            "error: stop at the first malformed line; skip: drop it (and a conversation it breaks) and list it in the manifest";
        verify_checksum: bool = true, Key, "check the archive's sha256 against the official release";
    }
}

impl IngestParams {
    pub fn options(&self) -> IngestOptions {
        IngestOptions { on_bad_line: self.on_bad_line, verify_checksum: self.verify_checksum }
    }
}

/// Options of [`ingest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOptions {
    pub on_bad_line: OnBadLine,
    /// Check an archive source against [`OFFICIAL_SHA256`] (folders are never checked).
    pub verify_checksum: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            on_bad_line: OnBadLine::Error,
            verify_checksum: true,
        }
    }
}

/// The two tables of one split.
#[derive(Debug, Clone)]
pub struct SplitTables {
    /// `"train"`, `"valid"` or `"test"`.
    pub split: &'static str,
    /// The file it was read from, as shown in messages (for an archive: `<archive>/<entry>`).
    pub file: String,
    /// One row per conversation, see [`iamm_tables::dialogues`].
    pub dialogues: RecordBatch,
    /// One row per listener turn, see [`iamm_tables::text_examples`].
    pub examples: RecordBatch,
}

/// A line or conversation skipped under [`OnBadLine::Skip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The file, as shown in messages (for an archive: `<archive>/<entry>`).
    pub file: String,
    /// 1-based line number in that file.
    pub line: u64,
    /// What was wrong, in plain words (for a dropped conversation, says so).
    pub problem: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

/// Where the data came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A folder with `train.csv`, `valid.csv`, `test.csv`.
    Folder,
    /// A `.tar.gz` archive, with the sha256 of the archive file (lowercase hex).
    Archive { sha256: String },
}

/// Everything [`ingest`] returns.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// In [`SPLITS`] order: train, valid, test.
    pub splits: Vec<SplitTables>,
    /// Lines and conversations skipped under [`OnBadLine::Skip`], in split then file order
    /// (always empty under [`OnBadLine::Error`]).
    pub skipped: Vec<BadLine>,
    /// `conv_id`s found in more than one split, in train-then-valid-then-test order of their
    /// first split. They are kept (the splits are the release's), but the same conversation
    /// in train and test is a leak worth knowing about: the engine warns and lists them.
    pub shared_conv_ids: Vec<SharedConvId>,
    pub source_kind: SourceKind,
}

/// A `conv_id` that more than one split holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedConvId {
    pub conv_id: String,
    /// Where each split has it: (split, file, first line of the conversation).
    pub places: Vec<(&'static str, String, u64)>,
}

impl fmt::Display for SharedConvId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places: Vec<String> = self.places.iter().map(|(_, file, line)| format!("{file}:{line}")).collect();
        write!(f, "conv_id `{}` is in {}", self.conv_id, places.join(" and "))
    }
}

impl Ingested {
    /// The tables of one split, by name.
    pub fn split(&self, name: &str) -> Option<&SplitTables> {
        self.splits.iter().find(|s| s.split == name)
    }
}

/// Why ingestion failed. Every message names the file (and line, where there is one) and says
/// what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(
        "{}: source not found; point `source` at a folder holding train.csv, valid.csv and \
         test.csv, or at the official empatheticdialogues.tar.gz",
        path.display()
    )]
    SourceMissing { path: PathBuf },

    #[error(
        "{}: file missing; an EmpatheticDialogues folder must hold train.csv, valid.csv and \
         test.csv (as extracted from empatheticdialogues.tar.gz)",
        path.display()
    )]
    MissingFile { path: PathBuf },

    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{}: not the official EmpatheticDialogues release: its sha256 is {found}, the official \
         empatheticdialogues.tar.gz has {OFFICIAL_SHA256}; pass the extracted folder as `source` \
         instead, or set `verify_checksum: false` to read this archive anyway",
        path.display()
    )]
    ChecksumMismatch { path: PathBuf, found: String },

    #[error(
        "{}: not a readable EmpatheticDialogues archive: {problem}; `source` must be a \
         .tar.gz with train.csv, valid.csv and test.csv inside, or a folder holding them",
        path.display()
    )]
    Archive { path: PathBuf, problem: String },

    #[error("{file}:{line}: {problem}; {hint}")]
    BadLine {
        file: String,
        line: u64,
        problem: String,
        hint: String,
    },

    #[error("{file}: cannot build the {split} tables: {source}")]
    Table {
        file: String,
        split: &'static str,
        #[source]
        source: Box<TableError>,
    },
}

/// Reads ED from `source` (a folder or the release `.tar.gz`) and returns the tables of the
/// three splits.
///
/// `progress` gets the total number of CSV bytes as its length and advances as lines are
/// parsed; pass [`ProgressBar::hidden`] for none.
pub fn ingest(
    source: &Path,
    opts: &IngestOptions,
    progress: &ProgressBar,
) -> Result<Ingested, IngestError> {
    let meta = std::fs::metadata(source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => IngestError::SourceMissing {
            path: source.to_path_buf(),
        },
        _ => IngestError::Io {
            path: source.to_path_buf(),
            source: e,
        },
    })?;

    let results: Vec<Result<(SplitTables, Vec<BadLine>), IngestError>>;
    let source_kind;
    if meta.is_dir() {
        let paths: Vec<PathBuf> = SPLITS
            .iter()
            .map(|s| source.join(format!("{s}.csv")))
            .collect();
        let mut total = 0u64;
        for p in &paths {
            match std::fs::metadata(p) {
                Ok(m) if m.is_file() => total += m.len(),
                Ok(_) => return Err(IngestError::MissingFile { path: p.clone() }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(IngestError::MissingFile { path: p.clone() });
                }
                Err(e) => {
                    return Err(IngestError::Io {
                        path: p.clone(),
                        source: e,
                    });
                }
            }
        }
        progress.set_length(total);
        results = SPLITS
            .par_iter()
            .zip(paths.par_iter())
            .map(|(split, path)| {
                let bytes = std::fs::read(path).map_err(|e| IngestError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                let name = path.display().to_string();
                process_split(split, &name, &bytes, opts.on_bad_line, progress)
            })
            .collect();
        source_kind = SourceKind::Folder;
    } else {
        let bytes = std::fs::read(source).map_err(|e| IngestError::Io {
            path: source.to_path_buf(),
            source: e,
        })?;
        let (sha256, unpacked) =
            rayon::join(|| sha256_hex(&bytes), || unpack_archive(source, &bytes));
        if opts.verify_checksum && sha256 != OFFICIAL_SHA256 {
            return Err(IngestError::ChecksumMismatch {
                path: source.to_path_buf(),
                found: sha256,
            });
        }
        let files = unpacked?;
        progress.set_length(files.iter().map(|(_, b)| b.len() as u64).sum());
        results = SPLITS
            .par_iter()
            .zip(files.par_iter())
            .map(|(split, (name, bytes))| {
                process_split(split, name, bytes, opts.on_bad_line, progress)
            })
            .collect();
        source_kind = SourceKind::Archive { sha256 };
    }

    let mut splits = Vec::with_capacity(SPLITS.len());
    let mut skipped = Vec::new();
    for r in results {
        let (tables, bad) = r?;
        splits.push(tables);
        skipped.extend(bad);
    }
    progress.set_position(progress.length().unwrap_or(0));
    let shared_conv_ids = shared_conv_ids(&splits);
    Ok(Ingested {
        splits,
        skipped,
        shared_conv_ids,
        source_kind,
    })
}

/// The `conv_id`s more than one split holds (see [`Ingested::shared_conv_ids`]).
fn shared_conv_ids(splits: &[SplitTables]) -> Vec<SharedConvId> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;
    // conv_id -> its places so far; in the order first seen.
    let mut index: HashMap<&str, usize> = HashMap::new();
    type Places<'s> = Vec<(&'static str, &'s str, u64)>;
    let mut places: Vec<(&str, Places)> = Vec::new();
    for s in splits {
        let (Some(ids), Some(lines)) = (
            s.dialogues.column_by_name("conv_id").and_then(|c| c.as_string_opt::<i32>()),
            s.dialogues.column_by_name("first_line").and_then(|c| c.as_primitive_opt::<UInt64Type>()),
        ) else {
            continue;
        };
        for (id, &line) in ids.iter().zip(lines.values().iter()) {
            let Some(id) = id else { continue };
            let k = *index.entry(id).or_insert_with(|| {
                places.push((id, Vec::new()));
                places.len() - 1
            });
            let list = &mut places[k].1;
            // Within a split a conv_id is one conversation (the parser rejects a reappearance).
            if list.last().is_none_or(|p| p.0 != s.split) {
                list.push((s.split, &s.file, line));
            }
        }
    }
    places
        .into_iter()
        .filter(|(_, p)| p.len() > 1)
        .map(|(id, p)| SharedConvId {
            conv_id: id.to_string(),
            places: p.into_iter().map(|(split, file, line)| (split, file.to_string(), line)).collect(),
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest.iter() {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Unpacks the three split CSVs from a `.tar.gz`; returns (display name, bytes) in SPLITS order.
fn unpack_archive(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, IngestError> {
    let fail = |problem: String| IngestError::Archive {
        path: path.to_path_buf(),
        problem,
    };
    let mut found: [Option<(String, Vec<u8>)>; 3] = [None, None, None];
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = archive.entries().map_err(|e| fail(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let entry_path = entry.path().map_err(|e| fail(e.to_string()))?.into_owned();
        let Some(file_name) = entry_path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(slot) = SPLITS
            .iter()
            .position(|s| file_name.strip_suffix(".csv") == Some(s))
        else {
            continue;
        };
        let shown = entry_path.display().to_string();
        if let Some((earlier, _)) = &found[slot] {
            return Err(fail(format!(
                "it holds two {file_name} entries ({earlier} and {shown}); keep only one"
            )));
        }
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 30));
        entry
            .read_to_end(&mut data)
            .map_err(|e| fail(format!("reading {shown}: {e}")))?;
        found[slot] = Some((shown, data));
    }
    let mut out = Vec::with_capacity(3);
    for (slot, f) in found.into_iter().enumerate() {
        match f {
            Some((entry, data)) => out.push((format!("{}/{}", path.display(), entry), data)),
            None => {
                return Err(fail(format!(
                    "no entry named {}.csv (expected e.g. empatheticdialogues/{}.csv)",
                    SPLITS[slot], SPLITS[slot]
                )));
            }
        }
    }
    Ok(out)
}

fn process_split(
    split: &'static str,
    file: &str,
    bytes: &[u8],
    policy: OnBadLine,
    progress: &ProgressBar,
) -> Result<(SplitTables, Vec<BadLine>), IngestError> {
    let parsed = parse_split(file, bytes, policy, progress)?;
    let (dialogues, examples) = rows(&parsed).ok_or_else(|| IngestError::BadLine {
        file: file.to_string(),
        line: 1,
        problem: "more listener turns than fit a 32-bit example_id".to_string(),
        hint: "split the file".to_string(),
    })?;
    let table = |source| IngestError::Table { file: file.to_string(), split, source: Box::new(source) };
    let (dialogues, examples) =
        (iamm_tables::dialogues::write(&dialogues).map_err(table)?, iamm_tables::text_examples::write(&examples).map_err(table)?);
    Ok((
        SplitTables {
            split,
            file: file.to_string(),
            dialogues,
            examples,
        },
        parsed.skipped,
    ))
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// One accepted utterance line; text is borrowed from the file buffer, still escaped.
struct Row<'a> {
    line: u64,
    conv_id: &'a str,
    emotion_id: u8,
    situation: &'a str,
    utterance: &'a str,
}

struct Conversation {
    /// Range into `Parsed::rows`.
    start: usize,
    end: usize,
}

struct Parsed<'a> {
    rows: Vec<Row<'a>>,
    convs: Vec<Conversation>,
    skipped: Vec<BadLine>,
}

#[derive(Clone, Copy)]
enum Kind {
    /// The whole file is unusable: skipping cannot help.
    File,
    /// One line is bad.
    Line,
    /// A conversation is inconsistent.
    Conversation,
}

fn hint(kind: Kind) -> &'static str {
    match kind {
        Kind::File => {
            "an EmpatheticDialogues split file has the header line \
             `conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags` followed \
             by one line per utterance; check that `source` points at the ED release"
        }
        Kind::Line => {
            "fix or remove the line (commas inside text must be written `_comma_`), or set \
             `on_bad_line: skip` to skip bad lines"
        }
        Kind::Conversation => {
            "fix the conversation's lines, or set `on_bad_line: skip` to drop such conversations"
        }
    }
}

/// The conversation being collected.
struct Run<'a> {
    conv_id: &'a str,
    start_row: usize,
    first_line: u64,
    last_line: u64,
    prev_idx: u32,
    emotion_id: u8,
    situation: &'a str,
    dropped: bool,
}

struct Parser<'a, 'f> {
    file: &'f str,
    policy: OnBadLine,
    rows: Vec<Row<'a>>,
    convs: Vec<Conversation>,
    skipped: Vec<BadLine>,
    /// conv_id -> (first line, last line) of every conversation run already closed.
    seen: HashMap<&'a str, (u64, u64)>,
    run: Option<Run<'a>>,
}

impl<'a, 'f> Parser<'a, 'f> {
    fn fatal(&self, kind: Kind, line: u64, problem: String) -> IngestError {
        IngestError::BadLine {
            file: self.file.to_string(),
            line,
            problem,
            hint: hint(kind).to_string(),
        }
    }

    /// A bad line: an error, or recorded and skipped.
    fn bad_line(&mut self, line: u64, problem: String) -> Result<(), IngestError> {
        match self.policy {
            OnBadLine::Error => Err(self.fatal(Kind::Line, line, problem)),
            OnBadLine::Skip => {
                self.skipped.push(BadLine {
                    file: self.file.to_string(),
                    line,
                    problem,
                });
                Ok(())
            }
        }
    }

    /// A conversation-level problem found at `line`: an error, or the current run is dropped.
    fn bad_conversation(&mut self, line: u64, problem: String) -> Result<(), IngestError> {
        match self.policy {
            OnBadLine::Error => Err(self.fatal(Kind::Conversation, line, problem)),
            OnBadLine::Skip => {
                if let Some(run) = &mut self.run {
                    run.dropped = true;
                    self.rows.truncate(run.start_row);
                    let problem = format!(
                        "{problem}; conversation `{}` (from line {}) dropped",
                        run.conv_id, run.first_line
                    );
                    self.skipped.push(BadLine {
                        file: self.file.to_string(),
                        line,
                        problem,
                    });
                }
                Ok(())
            }
        }
    }

    fn close_run(&mut self) {
        if let Some(run) = self.run.take() {
            if let Entry::Vacant(v) = self.seen.entry(run.conv_id) {
                v.insert((run.first_line, run.last_line));
            }
            if !run.dropped {
                self.convs.push(Conversation {
                    start: run.start_row,
                    end: self.rows.len(),
                });
            }
        }
    }

    fn push(&mut self, line: u64, f: Fields<'a>) -> Result<(), IngestError> {
        let continues = matches!(&self.run, Some(run) if run.conv_id == f.conv_id);
        if !continues {
            self.close_run();
            self.run = Some(Run {
                conv_id: f.conv_id,
                start_row: self.rows.len(),
                first_line: line,
                last_line: line,
                prev_idx: f.idx,
                emotion_id: f.emotion_id,
                situation: f.situation,
                dropped: false,
            });
            if let Some(&(first, last)) = self.seen.get(f.conv_id) {
                let where_ = if first == last {
                    format!("line {first}")
                } else {
                    format!("lines {first}-{last}")
                };
                self.bad_conversation(
                    line,
                    format!(
                        "conv_id `{}` appears again after other conversations (it was already on \
                         {where_}); a conversation's lines must be consecutive",
                        f.conv_id
                    ),
                )?;
            } else if f.idx != 1 {
                self.bad_conversation(
                    line,
                    format!(
                        "conversation `{}` starts with utterance_idx {}, expected 1",
                        f.conv_id, f.idx
                    ),
                )?;
            }
        } else if let Some(run) = &mut self.run {
            let prev = run.prev_idx;
            let first_line = run.first_line;
            let first_emotion = run.emotion_id;
            let same_situation = run.situation == f.situation;
            let dropped = run.dropped;
            run.prev_idx = f.idx;
            run.last_line = line;
            if !dropped {
                if prev.checked_add(1) != Some(f.idx) {
                    let expected = u64::from(prev) + 1;
                    self.bad_conversation(
                        line,
                        format!(
                            "utterance_idx {} follows {prev} in conversation `{}`, expected \
                             {expected} (utterance_idx must count 1, 2, 3, ... without gaps)",
                            f.idx, f.conv_id
                        ),
                    )?;
                } else if first_emotion != f.emotion_id {
                    self.bad_conversation(
                        line,
                        format!(
                            "emotion changes from `{}` (line {first_line}) to `{}` within \
                             conversation `{}`",
                            label(first_emotion),
                            label(f.emotion_id),
                            f.conv_id
                        ),
                    )?;
                } else if !same_situation {
                    self.bad_conversation(
                        line,
                        format!(
                            "situation (prompt) differs from the one on line {first_line} within \
                             conversation `{}`",
                            f.conv_id
                        ),
                    )?;
                }
            }
        }
        if let Some(run) = &self.run
            && !run.dropped
        {
            self.rows.push(Row {
                line,
                conv_id: f.conv_id,
                emotion_id: f.emotion_id,
                situation: f.situation,
                utterance: f.utterance,
            });
        }
        Ok(())
    }
}

fn label(id: u8) -> &'static str {
    EMOTIONS.get(usize::from(id)).copied().unwrap_or("?")
}

/// The fields of one utterance line that are used.
struct Fields<'a> {
    conv_id: &'a str,
    idx: u32,
    emotion_id: u8,
    situation: &'a str,
    utterance: &'a str,
}

/// Parses one data line (without its line ending). `unterminated`: it is the file's last line
/// and has no final newline.
fn parse_fields(line: &[u8], unterminated: bool) -> Result<Fields<'_>, String> {
    let text = std::str::from_utf8(line).map_err(|e| {
        format!(
            "the line is not valid UTF-8 (invalid byte at byte {} of the line); ED files are \
             UTF-8 text",
            e.valid_up_to() + 1
        )
    })?;
    if let Some(at) = text.find('\0') {
        return Err(format!(
            "the line holds a NUL byte (at byte {} of the line); ED text has none, so the file is damaged or \
             not text",
            at + 1
        ));
    }
    let mut cols: [&str; 9] = [""; 9];
    let mut n = 0usize;
    for part in text.split(',') {
        if let Some(slot) = cols.get_mut(n) {
            *slot = part;
        }
        n += 1;
    }
    if n != 8 && n != 9 {
        let mut problem = format!("expected 8 or 9 comma-separated columns, found {n}");
        if unterminated && n < 8 {
            problem.push_str(
                " (it is the last line and has no final newline: the file looks truncated)",
            );
        }
        return Err(problem);
    }
    let conv_id = cols[0];
    if conv_id.is_empty() {
        return Err("conv_id (column 1) is empty".to_string());
    }
    let idx: u32 = cols[1].parse().map_err(|_| {
        format!(
            "utterance_idx (column 2) `{}` is not an integer (expected 1, 2, 3, ...)",
            cols[1]
        )
    })?;
    let emotion_id = emotion_id(cols[2]).ok_or_else(|| {
        format!(
            "unknown emotion label `{}` in column 3 (context); it must be one of the 32 ED \
             emotions: {}",
            cols[2],
            EMOTIONS.join(", ")
        )
    })?;
    Ok(Fields {
        conv_id,
        idx,
        emotion_id,
        situation: cols[3],
        utterance: cols[5],
    })
}

/// Splits the next line off `rest`: (line without `\n` / `\r\n`, had a `\n`, remainder).
fn next_line(rest: &[u8]) -> (&[u8], bool, &[u8]) {
    let (line, terminated, tail) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], true, &rest[i + 1..]),
        None => (rest, false, &rest[rest.len()..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), terminated, tail)
}

const PROGRESS_STEP: u64 = 1 << 20;

fn parse_split<'a>(
    file: &str,
    bytes: &'a [u8],
    policy: OnBadLine,
    progress: &ProgressBar,
) -> Result<Parsed<'a>, IngestError> {
    let mut p = Parser {
        file,
        policy,
        rows: Vec::with_capacity(bytes.len() / 160),
        convs: Vec::with_capacity(bytes.len() / 700),
        skipped: Vec::new(),
        seen: HashMap::with_capacity(bytes.len() / 700),
        run: None,
    };
    if bytes.is_empty() {
        return Err(p.fatal(Kind::File, 1, "the file is empty".to_string()));
    }
    let (header, _, mut rest) = next_line(bytes);
    let header = header.strip_prefix("\u{feff}".as_bytes()).unwrap_or(header);
    let names = std::str::from_utf8(header).map(|h| h.split(',').collect::<Vec<_>>());
    let header_ok = names.as_ref().is_ok_and(|n| {
        (n.len() == HEADER.len() || n.len() == HEADER.len() + 1)
            && n.iter().take(HEADER.len()).eq(HEADER.iter())
    });
    if !header_ok {
        let mut shown = String::from_utf8_lossy(&header[..header.len().min(200)]).into_owned();
        if header.len() > 200 {
            shown.push_str("...");
        }
        let columns = match &names {
            Ok(n) => format!(" ({} columns)", n.len()),
            Err(_) => String::new(),
        };
        return Err(p.fatal(
            Kind::File,
            1,
            format!(
                "wrong header `{shown}`{columns}, expected exactly `{}` (8 columns), or those and a 9th \
                 column of retrieval candidates",
                HEADER.join(",")
            ),
        ));
    }
    if rest.is_empty() {
        return Err(p.fatal(
            Kind::File,
            1,
            "the file has only its header line and no conversations".to_string(),
        ));
    }

    let mut line_no: u64 = 1;
    let mut pending_progress: u64 = (bytes.len() - rest.len()) as u64;
    while !rest.is_empty() {
        let before = rest.len();
        let (line, terminated, tail) = next_line(rest);
        rest = tail;
        line_no += 1;
        match parse_fields(line, !terminated) {
            Ok(f) => p.push(line_no, f)?,
            Err(problem) => p.bad_line(line_no, problem)?,
        }
        pending_progress += (before - rest.len()) as u64;
        if pending_progress >= PROGRESS_STEP {
            progress.inc(pending_progress);
            pending_progress = 0;
        }
    }
    progress.inc(pending_progress);
    p.close_run();
    Ok(Parsed {
        rows: p.rows,
        convs: p.convs,
        skipped: p.skipped,
    })
}

// ---------------------------------------------------------------------------------------------
// Rows of the tables

/// `_comma_` -> `,`.
fn unescape(s: &str) -> Cow<'_, str> {
    if s.contains("_comma_") {
        Cow::Owned(s.replace("_comma_", ","))
    } else {
        Cow::Borrowed(s)
    }
}

/// The dialogues and examples of a parsed split; `None` when the examples are too many to
/// number with a `u32`.
fn rows(p: &Parsed<'_>) -> Option<(Vec<Dialogue>, Vec<TextExample>)> {
    let utterances: Vec<String> = p.rows.iter().map(|r| unescape(r.utterance).into_owned()).collect();
    let mut dialogues = Vec::with_capacity(p.convs.len());
    let mut examples = Vec::new();
    for c in &p.convs {
        let Some(first) = p.rows.get(c.start) else {
            continue;
        };
        let utts = &utterances[c.start..c.end];
        let emotion = label(first.emotion_id);
        let situation = unescape(first.situation).into_owned();
        // Utterance k (0-based) has utterance_idx k + 1: the listener's turns are k = 1, 3, ...
        for k in (1..utts.len()).step_by(2) {
            examples.push(TextExample {
                example_id: u32::try_from(examples.len()).ok()?,
                conv_id: first.conv_id.to_string(),
                turn: k as u32,
                emotion: emotion.to_string(),
                emotion_id: first.emotion_id,
                situation: situation.clone(),
                context: utts[..k].to_vec(),
                target: utts[k].clone(),
            });
        }
        dialogues.push(Dialogue {
            conv_id: first.conv_id.to_string(),
            emotion: emotion.to_string(),
            emotion_id: first.emotion_id,
            situation,
            utterances: utts.to_vec(),
            first_line: first.line,
        });
    }
    Some((dialogues, examples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_only_touches_comma_marker() {
        assert_eq!(unescape("a_comma_ b \"q\"  "), "a, b \"q\"  ");
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn next_line_handles_crlf_and_missing_newline() {
        assert_eq!(next_line(b"ab\r\ncd"), (&b"ab"[..], true, &b"cd"[..]));
        assert_eq!(next_line(b"cd"), (&b"cd"[..], false, &b""[..]));
    }

    #[test]
    fn on_bad_line_parses() {
        assert_eq!("skip".parse::<OnBadLine>(), Ok(OnBadLine::Skip));
        assert_eq!("error".parse::<OnBadLine>(), Ok(OnBadLine::Error));
        let e = "drop".parse::<OnBadLine>().unwrap_err().to_string();
        assert_eq!(e, "unknown on_bad_line \"drop\"; expected one of error, skip");
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
