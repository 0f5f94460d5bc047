//! Punkt's learned statistics, read from NLTK's `punkt_tab` text format.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::TextError;

/// Orthographic context flags (bit values of NLTK's `ortho_context`).
pub(crate) const ORTHO_BEG_UC: u32 = 1 << 1;
pub(crate) const ORTHO_MID_UC: u32 = 1 << 2;
pub(crate) const ORTHO_UNK_UC: u32 = 1 << 3;
pub(crate) const ORTHO_BEG_LC: u32 = 1 << 4;
pub(crate) const ORTHO_MID_LC: u32 = 1 << 5;
pub(crate) const ORTHO_UNK_LC: u32 = 1 << 6;
pub(crate) const ORTHO_UC: u32 = ORTHO_BEG_UC | ORTHO_MID_UC | ORTHO_UNK_UC;
pub(crate) const ORTHO_LC: u32 = ORTHO_BEG_LC | ORTHO_MID_LC | ORTHO_UNK_LC;

/// Abbreviations known to the rule-based fallback splitter (lowercase, without
/// the final period). A token ending in a period whose text before that period
/// is one of these (or whose last hyphen-separated part is) does not end a
/// sentence:
///
/// `mr mrs ms messrs dr prof rev lt sgt capt st jr sr vs etc e.g i.e a.m p.m
/// u.s u.k approx dept inc ltd corp jan feb apr jun jul aug sep sept oct nov
/// dec mon tue thu fri ave blvd mt`.
///
/// Abbreviations that are also common words at the end of a sentence (`no`,
/// `sat`, `sun`, `wed`, `mar`) are left out on purpose.
pub const FALLBACK_ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "messrs", "dr", "prof", "rev", "lt", "sgt", "capt", "st", "jr", "sr", "vs",
    "etc", "e.g", "i.e", "a.m", "p.m", "u.s", "u.k", "approx", "dept", "inc", "ltd", "corp", "jan",
    "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "thu",
    "fri", "ave", "blvd", "mt",
];

/// Where a parameter set came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Dir(PathBuf),
    Fallback,
}

/// Learned Punkt statistics: abbreviation types, collocations, frequent
/// sentence starters and orthographic contexts.
#[derive(Debug, Clone)]
pub struct PunktParams {
    pub(crate) abbrev_types: HashSet<String>,
    /// Keyed by first word; each value lists the second words.
    pub(crate) collocations: HashMap<String, HashSet<String>>,
    pub(crate) sent_starters: HashSet<String>,
    pub(crate) ortho_context: HashMap<String, u32>,
    pub(crate) source: Source,
}

impl PunktParams {
    /// Reads `abbrev_types.txt`, `collocations.tab`, `sent_starters.txt` and
    /// `ortho_context.tab` from `dir` (the layout of NLTK's
    /// `tokenizers/punkt_tab/<language>/`). Blank lines are ignored; any other
    /// line that does not fit the format is an error naming file and line.
    /// Entries are kept verbatim apart from the line ending.
    pub fn load_dir(dir: &Path) -> Result<PunktParams, TextError> {
        let mut abbrev_types = HashSet::new();
        read_lines(&dir.join("abbrev_types.txt"), |line| {
            abbrev_types.insert(single_word(line)?.to_owned());
            Ok(())
        })?;
        let mut sent_starters = HashSet::new();
        read_lines(&dir.join("sent_starters.txt"), |line| {
            sent_starters.insert(single_word(line)?.to_owned());
            Ok(())
        })?;
        let mut collocations: HashMap<String, HashSet<String>> = HashMap::new();
        read_lines(&dir.join("collocations.tab"), |line| {
            let (a, b) = two_fields(line)?;
            collocations
                .entry(a.to_owned())
                .or_default()
                .insert(b.to_owned());
            Ok(())
        })?;
        let mut ortho_context = HashMap::new();
        read_lines(&dir.join("ortho_context.tab"), |line| {
            let (word, flags) = two_fields(line)?;
            let flags: u32 = flags
                .parse()
                .map_err(|_| format!("expected a non-negative integer, got {flags:?}"))?;
            ortho_context.insert(word.to_owned(), flags);
            Ok(())
        })?;
        Ok(PunktParams {
            abbrev_types,
            collocations,
            sent_starters,
            ortho_context,
            source: Source::Dir(dir.to_path_buf()),
        })
    }

    /// The parameters in `dir`, or the fallback when none is given (an optional `punkt` param).
    pub fn load_dir_or_fallback(dir: Option<&Path>) -> Result<PunktParams, TextError> {
        dir.map_or_else(|| Ok(PunktParams::fallback()), PunktParams::load_dir)
    }

    /// Parameters for the rule-based fallback splitter: the Punkt algorithm
    /// with no learned statistics except [`FALLBACK_ABBREVIATIONS`].
    pub fn fallback() -> PunktParams {
        PunktParams {
            abbrev_types: FALLBACK_ABBREVIATIONS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            collocations: HashMap::new(),
            sent_starters: HashSet::new(),
            ortho_context: HashMap::new(),
            source: Source::Fallback,
        }
    }

    pub(crate) fn is_abbrev(&self, typ: &str) -> bool {
        self.abbrev_types.contains(typ)
    }

    pub(crate) fn is_collocation(&self, first: &str, second: &str) -> bool {
        self.collocations
            .get(first)
            .is_some_and(|s| s.contains(second))
    }

    pub(crate) fn is_sent_starter(&self, typ: &str) -> bool {
        self.sent_starters.contains(typ)
    }

    /// Missing types have no context (NLTK uses a `defaultdict(int)`).
    pub(crate) fn ortho(&self, typ: &str) -> u32 {
        self.ortho_context.get(typ).copied().unwrap_or(0)
    }
}

/// Calls `f` on each non-blank line of `path` (without its line ending),
/// turning its error message into a [`TextError::Format`] with the line number.
fn read_lines(path: &Path, mut f: impl FnMut(&str) -> Result<(), String>) -> Result<(), TextError> {
    let bytes = std::fs::read(path).map_err(|source| TextError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let format_err = |message: String| TextError::Format {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let line = std::str::from_utf8(raw)
            .map_err(|_| format_err("line is not valid UTF-8".to_owned()))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        f(line).map_err(format_err)?;
    }
    Ok(())
}

/// A Punkt type, kept verbatim: types may hold spaces (the English model
/// lists `. . ` as an abbreviation), but a tab means a wrong file.
fn single_word(line: &str) -> Result<&str, String> {
    if line.contains('\t') {
        return Err(format!(
            "expected one entry per line without tabs, got {line:?}"
        ));
    }
    Ok(line)
}

/// Two non-empty, tab-separated fields.
fn two_fields(line: &str) -> Result<(&str, &str), String> {
    let mut parts = line.split('\t');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => Err(format!("expected two tab-separated fields, got {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_dir(files: &[(&str, &[u8])]) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "iamm-text-params-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        for (name, body) in files {
            std::fs::write(dir.join(name), body).expect("write temp file");
        }
        dir
    }

    const GOOD: [(&str, &[u8]); 4] = [
        ("abbrev_types.txt", b"dr\nu.s\n. . \n\n"),
        ("collocations.tab", b"##number##\tcooper\r\n"),
        ("sent_starters.txt", b"however\n"),
        ("ortho_context.tab", b"smith\t4\nthe\t112\n"),
    ];

    #[test]
    fn loads_a_valid_directory() {
        let dir = write_dir(&GOOD);
        let p = PunktParams::load_dir(&dir).expect("valid params");
        assert!(p.is_abbrev("dr") && p.is_abbrev("u.s") && p.is_abbrev(". . "));
        assert!(!p.is_abbrev(""));
        assert!(p.is_collocation("##number##", "cooper"));
        assert!(p.is_sent_starter("however"));
        assert_eq!(p.ortho("the"), 112);
        assert_eq!(p.ortho("missing"), 0);
        assert_eq!(p.source, Source::Dir(dir.clone()));
        std::fs::remove_dir_all(dir).ok();
    }

    fn error_for(name: &str, body: &[u8]) -> String {
        let files: Vec<(&str, &[u8])> = GOOD
            .iter()
            .map(|&(n, b)| if n == name { (n, body) } else { (n, b) })
            .collect();
        let dir = write_dir(&files);
        let err = PunktParams::load_dir(&dir)
            .expect_err("must fail")
            .to_string();
        std::fs::remove_dir_all(dir).ok();
        err
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let e = error_for("ortho_context.tab", b"the\t112\nsmith\tfour\n");
        assert!(
            e.contains("ortho_context.tab, line 2:") && e.contains("integer"),
            "{e}"
        );
        let e = error_for("collocations.tab", b"a\tb\nonly-one\n");
        assert!(
            e.contains("collocations.tab, line 2:") && e.contains("two tab-separated"),
            "{e}"
        );
        let e = error_for("collocations.tab", b"a\tb\tc\n");
        assert!(e.contains("collocations.tab, line 1:"), "{e}");
        let e = error_for("abbrev_types.txt", b"dr\n\nbad\tword\n");
        assert!(e.contains("abbrev_types.txt, line 3:"), "{e}");
        let e = error_for("sent_starters.txt", b"ok\n\xff\n");
        assert!(
            e.contains("sent_starters.txt, line 2:") && e.contains("UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let dir = write_dir(&GOOD[..3]);
        let e = PunktParams::load_dir(&dir)
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("ortho_context.tab"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn fallback_has_the_builtin_list_only() {
        let p = PunktParams::fallback();
        assert!(p.is_abbrev("mr") && p.is_abbrev("e.g") && p.is_abbrev("u.s"));
        assert!(p.collocations.is_empty() && p.sent_starters.is_empty());
        assert_eq!(p.source, Source::Fallback);
    }
}
