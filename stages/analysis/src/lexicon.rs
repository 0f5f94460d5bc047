//! Emotion-intensity lexicons: the NRC Emotion Intensity Lexicon (max over emotions) and the
//! KEMP formula over the NRC VAD lexicon.
//!
//! - **`nrc_intensity`**: lines `word<TAB>emotion<TAB>score` (score in [0, 1]), an optional
//!   header `word<TAB>emotion<TAB>emotion-intensity-score`. A word's intensity is its highest
//!   score over the emotions it is listed with.
//! - **`nrc_vad_kemp`**: lines `word<TAB>valence<TAB>arousal<TAB>dominance` (each in [0, 1],
//!   the v1 layout), an optional header starting with `word` or `term`. As in KEMP (Li et al.,
//!   AAAI 2022, "Knowledge Bridging for Empathetic Dialogue Generation", §"Emotional
//!   Context Graph"): `η(w) = min-max(‖(V(w) − ½, A(w)/2)‖₂)`, the distance of the word from the
//!   neutral point (valence ½, arousal 0) with arousal counted half, min-max normalised to
//!   [0, 1] over the lexicon. KEMP's code hard-codes the normalising minimum and range of its
//!   copy of the lexicon; here both come from the file loaded, so the most neutral entry
//!   scores 0 and the most intense 1. Dominance is not used.
//!
//! Words are looked up exactly (our tokens and the NRC entries are lowercase). A word not in
//! the lexicon has no intensity; how it counts is the caller's [`crate::Missing`] choice.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

iamm_options::choices! {
    /// Which lexicon layout and intensity formula.
    pub enum LexiconFormat ("lexicon format") {
        NrcIntensity = "nrc_intensity",
        NrcVadKemp = "nrc_vad_kemp",
    }
}

/// A lexicon that cannot be read, with the file and line (1-based; 0 = the whole file).
#[derive(Debug, Clone, PartialEq)]
pub struct LexiconError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LexiconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for LexiconError {}

/// Word → emotion intensity in [0, 1].
#[derive(Debug, Clone)]
pub struct Lexicon {
    pub format: LexiconFormat,
    /// The file it was read from (as given).
    pub source: String,
    scores: HashMap<String, f64>,
}

impl Lexicon {
    /// Reads a lexicon file; errors name the file and line.
    pub fn load(path: &Path, format: LexiconFormat) -> Result<Lexicon, LexiconError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LexiconError {
            file: file.clone(),
            line: 0,
            message: format!(
                "cannot read the lexicon ({e}); the NRC lexicons are not shipped: download them from \
                 saifmohammad.com (see README, \"Associated-word analysis\") and point `lexicon` at the file"
            ),
        })?;
        Lexicon::parse(&text, &file, format)
    }

    /// Parses lexicon text; `file` names it in errors.
    pub fn parse(text: &str, file: &str, format: LexiconFormat) -> Result<Lexicon, LexiconError> {
        let err = |line: usize, message: String| LexiconError { file: file.to_string(), line, message };
        let columns = match format {
            LexiconFormat::NrcIntensity => 3,
            LexiconFormat::NrcVadKemp => 4,
        };
        let mut scores: HashMap<String, f64> = HashMap::new();
        // VAD: (valence, arousal) per word until the min-max is known
        let mut raw: Vec<(String, f64)> = Vec::new();
        let mut seen_vad: HashMap<String, usize> = HashMap::new();
        let mut first = true;
        for (i, line) in text.lines().enumerate() {
            let no = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let is_first = std::mem::replace(&mut first, false);
            let head = fields[0].trim().to_ascii_lowercase();
            if is_first && (head == "word" || head == "term") && fields.len() == columns {
                continue; // header
            }
            if fields.len() != columns {
                let layout = match format {
                    LexiconFormat::NrcIntensity => "word<TAB>emotion<TAB>score",
                    LexiconFormat::NrcVadKemp => "word<TAB>valence<TAB>arousal<TAB>dominance",
                };
                return Err(err(
                    no,
                    format!(
                        "expected {columns} tab-separated fields ({layout}, format {}), found {}",
                        format.name(),
                        fields.len()
                    ),
                ));
            }
            let word = fields[0].trim();
            if word.is_empty() {
                return Err(err(no, "empty word".into()));
            }
            let number = |col: usize, what: &str| -> Result<f64, LexiconError> {
                let s = fields[col].trim();
                match s.parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                    Ok(v) => Err(err(no, format!("{what} {v} is outside [0, 1]"))),
                    Err(_) => Err(err(no, format!("{what} `{s}` is not a number"))),
                }
            };
            match format {
                LexiconFormat::NrcIntensity => {
                    if fields[1].trim().is_empty() {
                        return Err(err(no, "empty emotion".into()));
                    }
                    let v = number(2, "score")?;
                    let e = scores.entry(word.to_string()).or_insert(v);
                    *e = e.max(v);
                }
                LexiconFormat::NrcVadKemp => {
                    let (v, a) = (number(1, "valence")?, number(2, "arousal")?);
                    number(3, "dominance")?;
                    if let Some(prev) = seen_vad.insert(word.to_string(), no) {
                        return Err(err(no, format!("`{word}` is listed twice (also on line {prev})")));
                    }
                    raw.push((word.to_string(), ((v - 0.5).powi(2) + (a / 2.0).powi(2)).sqrt()));
                }
            }
        }
        if format == LexiconFormat::NrcVadKemp {
            let min = raw.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
            let max = raw.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
            let range = max - min;
            // a single entry (or all equally intense): nothing to normalise against
            scores = raw.into_iter().map(|(w, n)| (w, if range > 0.0 { (n - min) / range } else { 0.0 })).collect();
        }
        if scores.is_empty() {
            return Err(err(0, format!("no entries (format {})", format.name())));
        }
        Ok(Lexicon { format, source: file.to_string(), scores })
    }

    /// The word's intensity in [0, 1], or `None` when the lexicon lacks it.
    pub fn intensity(&self, word: &str) -> Option<f64> {
        self.scores.get(word).copied()
    }

    /// Entries (distinct words).
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn nrc_intensity_takes_the_max_over_emotions() {
        let text = "word\temotion\temotion-intensity-score\nsad\tsadness\t0.8\nsad\tfear\t0.3\nhappy\tjoy\t0.5\n\n";
        let lx = Lexicon::parse(text, "x.txt", LexiconFormat::NrcIntensity).unwrap();
        assert_eq!(lx.len(), 2);
        assert_eq!(lx.intensity("sad"), Some(0.8));
        assert_eq!(lx.intensity("happy"), Some(0.5));
        assert_eq!(lx.intensity("table"), None);
    }

    #[test]
    fn kemp_intensity_is_the_min_max_normalised_va_distance() {
        // norms: calm (0.5, 0) → 0; angry (0.1, 0.9) → √(0.16 + 0.2025) = √0.3625;
        // joy (0.9, 0.4) → √(0.16 + 0.04) = √0.2
        let text = "calm\t0.5\t0.0\t0.3\nangry\t0.1\t0.9\t0.6\r\njoy\t0.9\t0.4\t0.5\n";
        let lx = Lexicon::parse(text, "vad.txt", LexiconFormat::NrcVadKemp).unwrap();
        assert_eq!(lx.intensity("calm"), Some(0.0));
        assert_eq!(lx.intensity("angry"), Some(1.0));
        assert!(close(lx.intensity("joy").unwrap(), 0.2f64.sqrt() / 0.3625f64.sqrt()));
        // a header line is accepted
        let with_header = format!("Word\tValence\tArousal\tDominance\n{text}");
        assert_eq!(Lexicon::parse(&with_header, "v", LexiconFormat::NrcVadKemp).unwrap().len(), 3);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let e = Lexicon::parse("a\tjoy\t0.5\nb\tjoy\n", "lex.txt", LexiconFormat::NrcIntensity).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("lex.txt", 2));
        assert!(e.to_string().starts_with("lex.txt:2: expected 3 tab-separated fields"), "{e}");
        let e = Lexicon::parse("a\tjoy\thigh\n", "lex.txt", LexiconFormat::NrcIntensity).unwrap_err();
        assert_eq!(e.to_string(), "lex.txt:1: score `high` is not a number");
        let e = Lexicon::parse("a\t0.5\t0.5\t0.5\nb\t0.5\t1.5\t0.5\n", "v.txt", LexiconFormat::NrcVadKemp).unwrap_err();
        assert_eq!(e.to_string(), "v.txt:2: arousal 1.5 is outside [0, 1]");
        let e = Lexicon::parse("a\t0.5\t0.5\t0.5\na\t0.1\t0.5\t0.5\n", "v.txt", LexiconFormat::NrcVadKemp).unwrap_err();
        assert_eq!(e.to_string(), "v.txt:2: `a` is listed twice (also on line 1)");
        // a VAD file read as the intensity layout is caught on its first line
        let e = Lexicon::parse("a\t0.5\t0.5\t0.5\n", "v.txt", LexiconFormat::NrcIntensity).unwrap_err();
        assert_eq!(e.line, 1);
        let e = Lexicon::parse("\n\n", "empty.txt", LexiconFormat::NrcIntensity).unwrap_err();
        assert_eq!(e.to_string(), "empty.txt: no entries (format nrc_intensity)");
        let e = Lexicon::load(Path::new("/nonexistent/lex.txt"), LexiconFormat::NrcIntensity).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/lex.txt: cannot read") && e.to_string().contains("saifmohammad.com"));
    }
}
