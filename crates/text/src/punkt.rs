//! Punkt sentence boundary detection, as NLTK 3.5's
//! `PunktSentenceTokenizer.span_tokenize(text, realign_boundaries=True)`.
//!
//! NLTK only inspects candidate periods: every whitespace-delimited chunk that
//! holds a `.`, `?` or `!` followed by other punctuation or by another chunk.
//! For each candidate, the chunk plus what follows it (the "context") is split
//! into Punkt words, annotated in two passes, and the candidate is a boundary
//! when any annotated word but the last is a sentence break. All offsets here
//! are byte offsets into the text, always on char boundaries.

use std::borrow::Cow;

use crate::params::{ORTHO_BEG_LC, ORTHO_LC, ORTHO_MID_UC, ORTHO_UC, PunktParams};
use crate::pychar::{char_at, is_digit, is_space, is_word, lower, rstrip, strip};

/// Chars that end a Punkt word (`_re_non_word_chars`); all ASCII.
fn is_non_word(c: char) -> bool {
    matches!(
        c,
        '?' | '!' | ')' | '"' | ';' | '}' | ']' | '*' | ':' | '@' | '\'' | '(' | '{' | '['
    )
}

/// Chars that cannot start a multi-char Punkt word (complement of `_re_word_start`).
fn is_bad_word_start(c: char) -> bool {
    matches!(
        c,
        '(' | '"'
            | '`'
            | '{'
            | '['
            | ':'
            | ';'
            | '&'
            | '#'
            | '*'
            | '@'
            | ')'
            | '}'
            | ']'
            | '-'
            | ','
    )
}

/// End of the multi-char punctuation (`--+`, `..+`, or `. . .` with single
/// whitespace chars between the dots) that starts at `i`, if any.
fn multi_char_end(s: &str, i: usize) -> Option<usize> {
    let rest = s.as_bytes().get(i..)?;
    let run = |ch: u8| rest.iter().take_while(|&&b| b == ch).count();
    match rest.first() {
        Some(b'-') => Some(i + run(b'-')).filter(|&e| e >= i + 2),
        Some(b'.') => {
            let dots = run(b'.');
            if dots >= 2 {
                return Some(i + dots);
            }
            // `(?:\.\s){2,}\.`: count the ". " repetitions, then take the
            // longest prefix of at least two of them that a final dot follows.
            let (mut reps, mut pos, mut prev) = (0, i, i);
            while s.as_bytes().get(pos) == Some(&b'.') {
                match char_at(s, pos + 1) {
                    Some(c) if is_space(c) => {
                        prev = pos;
                        pos += 1 + c.len_utf8();
                        reps += 1;
                    }
                    _ => break,
                }
            }
            if reps >= 2 && s.as_bytes().get(pos) == Some(&b'.') {
                Some(pos + 1)
            } else if reps >= 3 {
                Some(prev + 1)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Punkt's own word split (`PunktLanguageVars.word_tokenize`) of one line
/// (no `\n`): splits off punctuation other than periods.
fn punkt_words<'a>(line: &'a str, out: &mut Vec<&'a str>) {
    let ends_word = |q: usize| -> bool {
        match char_at(line, q) {
            None => true,
            Some(c) if is_space(c) || is_non_word(c) => true,
            Some(',') => match char_at(line, q + 1) {
                None => true,
                Some(d) => is_space(d) || is_non_word(d) || multi_char_end(line, q + 1).is_some(),
            },
            Some(_) => multi_char_end(line, q).is_some(),
        }
    };
    let mut pos = 0;
    while let Some(c) = char_at(line, pos) {
        let start = pos;
        if is_space(c) {
            pos += c.len_utf8();
            continue;
        }
        if let Some(end) = multi_char_end(line, pos) {
            pos = end;
        } else if is_bad_word_start(c) {
            pos += c.len_utf8();
        } else {
            // Shortest run of non-space chars after which a word end follows.
            pos += c.len_utf8();
            while !ends_word(pos) {
                pos += char_at(line, pos).map_or(1, char::len_utf8);
            }
        }
        out.push(&line[start..pos]);
    }
}

/// `^-?[\.,]?\d[\d,\.-]*\.?$`: Punkt maps such tokens to `##number##`.
fn is_numeric(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.strip_prefix(['.', ',']).unwrap_or(s);
    let mut chars = s.chars();
    chars.next().is_some_and(is_digit) && chars.all(|c| is_digit(c) || matches!(c, ',' | '.' | '-'))
}

const NUMBER: &str = "##number##";

/// One Punkt word with its annotations.
struct Token<'a> {
    tok: &'a str,
    /// Case-normalised type, `##number##` for numbers.
    typ: Cow<'a, str>,
    period_final: bool,
    sentbreak: bool,
    abbr: bool,
    ellipsis: bool,
}

#[derive(PartialEq)]
enum Ortho {
    Starter,
    NotStarter,
    Unknown,
}

impl<'a> Token<'a> {
    fn new(tok: &'a str) -> Token<'a> {
        let lowered = lower(tok);
        let typ = if is_numeric(&lowered) {
            Cow::Borrowed(NUMBER)
        } else {
            lowered
        };
        Token {
            tok,
            typ,
            period_final: tok.ends_with('.'),
            sentbreak: false,
            abbr: false,
            ellipsis: false,
        }
    }

    fn type_no_period(&self) -> &str {
        if self.typ.len() > 1 {
            self.typ.strip_suffix('.').unwrap_or(&self.typ)
        } else {
            &self.typ
        }
    }

    fn type_no_sentperiod(&self) -> &str {
        if self.sentbreak {
            self.type_no_period()
        } else {
            &self.typ
        }
    }

    fn first_upper(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_uppercase)
    }

    fn first_lower(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_lowercase)
    }

    /// `[^\W\d]\.$`: one letter-like char and a period.
    fn is_initial(&self) -> bool {
        let mut chars = self.tok.chars();
        matches!(
            (chars.next(), chars.next(), chars.next()),
            (Some(c), Some('.'), None) if is_word(c) && !is_digit(c)
        )
    }

    /// `\.\.+$`: two or more periods and nothing else.
    fn is_ellipsis(&self) -> bool {
        self.tok.len() >= 2 && self.tok.bytes().all(|b| b == b'.')
    }
}

/// The Punkt sentence splitter over a set of parameters.
pub(crate) struct Punkt {
    params: PunktParams,
}

impl Punkt {
    pub(crate) fn new(params: PunktParams) -> Punkt {
        Punkt { params }
    }

    pub(crate) fn params(&self) -> &PunktParams {
        &self.params
    }

    /// Type-based annotation: sentence-final punctuation, ellipses, and
    /// period-final words that are or are not known abbreviations.
    fn first_pass(&self, t: &mut Token) {
        let tok = t.tok;
        if matches!(tok, "." | "?" | "!") {
            t.sentbreak = true;
        } else if t.is_ellipsis() {
            t.ellipsis = true;
        } else if t.period_final && !tok.ends_with("..") {
            let stem = lower(&tok[..tok.len() - 1]);
            let last_part = stem.rsplit('-').next().unwrap_or(&stem);
            if self.params.is_abbrev(&stem) || self.params.is_abbrev(last_part) {
                t.abbr = true;
            } else {
                t.sentbreak = true;
            }
        }
    }

    /// Does `t` look like the first word of a sentence?
    fn ortho_heuristic(&self, t: &Token) -> Ortho {
        if matches!(t.tok, ";" | ":" | "," | "." | "!" | "?") {
            return Ortho::NotStarter;
        }
        let ctx = self.params.ortho(t.type_no_sentperiod());
        if t.first_upper() && ctx & ORTHO_LC != 0 && ctx & ORTHO_MID_UC == 0 {
            return Ortho::Starter;
        }
        if t.first_lower() && (ctx & ORTHO_UC != 0 || ctx & ORTHO_BEG_LC == 0) {
            return Ortho::NotStarter;
        }
        Ortho::Unknown
    }

    /// Token-based reclassification of `t1` given the (first-pass annotated)
    /// word after it: collocations, abbreviations before sentence starters,
    /// and initials or ordinals that do not end a sentence.
    fn second_pass(&self, t1: &mut Token, t2: &Token) {
        if !t1.period_final {
            return;
        }
        let next_typ = t2.type_no_sentperiod();
        let is_initial = t1.is_initial();
        if self.params.is_collocation(t1.type_no_period(), next_typ) {
            t1.sentbreak = false;
            t1.abbr = true;
            return;
        }
        let next_starts_sentence = || {
            self.ortho_heuristic(t2) == Ortho::Starter
                || (t2.first_upper() && self.params.is_sent_starter(next_typ))
        };
        if (t1.abbr || t1.ellipsis) && !is_initial && next_starts_sentence() {
            t1.sentbreak = true;
            return;
        }
        if is_initial || t1.type_no_period() == NUMBER {
            let ortho = self.ortho_heuristic(t2);
            let always_upper = ortho == Ortho::Unknown
                && is_initial
                && t2.first_upper()
                && self.params.ortho(next_typ) & ORTHO_LC == 0;
            if ortho == Ortho::NotStarter || always_upper {
                t1.sentbreak = false;
                t1.abbr = true;
            }
        }
    }

    /// `text_contains_sentbreak`: whether any word of `context` except the
    /// last one ends a sentence after both annotation passes.
    fn contains_sentbreak<'a>(&self, context: &'a str, words: &mut Vec<&'a str>) -> bool {
        words.clear();
        for line in context.split('\n') {
            if !strip(line).is_empty() {
                punkt_words(line, words);
            }
        }
        let mut tokens: Vec<Token> = words
            .iter()
            .map(|w| {
                let mut t = Token::new(w);
                self.first_pass(&mut t);
                t
            })
            .collect();
        for i in 1..tokens.len() {
            let (head, tail) = tokens.split_at_mut(i);
            let t1 = &mut head[i - 1];
            self.second_pass(t1, &tail[0]);
            if t1.sentbreak {
                return true;
            }
        }
        false
    }

    /// Sentence spans `(start, end)` of `text` in bytes.
    pub(crate) fn sentence_spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.realign(text, &self.raw_slices(text))
    }

    /// `_slices_from_text`: cut after every candidate that is a boundary.
    fn raw_slices(&self, text: &str) -> Vec<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut slices = Vec::new();
        let mut words = Vec::new();
        let mut last_break = 0;
        let mut pos = 0;
        while let Some((run_start, run_end)) = next_chunk(text, pos) {
            pos = run_end;
            // The greedy `\S*[.?!]` takes the last sentence-ending char of
            // the chunk whose lookahead holds.
            let candidate = (run_start..run_end).rev().find_map(|k| {
                if !matches!(bytes[k], b'.' | b'?' | b'!') {
                    return None;
                }
                if k + 1 < run_end {
                    // Followed by punctuation inside the chunk.
                    let next = char_at(text, k + 1).filter(|&c| is_non_word(c))?;
                    Some((k + 1, k + 1 + next.len_utf8(), None))
                } else {
                    // Followed by whitespace and another chunk.
                    next_chunk(text, run_end).map(|(s, e)| (k + 1, e, Some(s)))
                }
            });
            let Some((match_end, context_end, next_tok)) = candidate else {
                continue;
            };
            if self.contains_sentbreak(&text[run_start..context_end], &mut words) {
                slices.push((last_break, match_end));
                last_break = next_tok.unwrap_or(match_end);
            }
        }
        slices.push((last_break, rstrip(text).len()));
        slices
    }

    /// `_realign_boundaries`: closing quotes and brackets right after a
    /// boundary move to the end of the sentence before it.
    fn realign(&self, text: &str, slices: &[(usize, usize)]) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(slices.len());
        let mut realign = 0;
        for (i, &(start, end)) in slices.iter().enumerate() {
            let start = start + realign;
            let Some(&(next_start, next_end)) = slices.get(i + 1) else {
                if start < end {
                    out.push((start, end));
                }
                continue;
            };
            match closing_punct(text.get(next_start..next_end).unwrap_or("")) {
                Some((kept, consumed)) => {
                    out.push((start, next_start + kept));
                    realign = consumed;
                }
                None => {
                    realign = 0;
                    if start < end {
                        out.push((start, end));
                    }
                }
            }
        }
        out
    }
}

/// The next maximal run of non-whitespace chars at or after `pos`.
fn next_chunk(text: &str, pos: usize) -> Option<(usize, usize)> {
    let rest = text.get(pos..)?;
    let start = pos + rest.find(|c: char| !is_space(c))?;
    let end = text[start..]
        .find(is_space)
        .map_or(text.len(), |n| start + n);
    Some((start, end))
}

/// `["\')\]}]+?(?:\s+|(?=--)|$)` matched at the start of `s`: returns the
/// length of the closing punctuation and of the whole match.
fn closing_punct(s: &str) -> Option<(usize, usize)> {
    let kept = s
        .bytes()
        .take_while(|b| matches!(b, b'"' | b'\'' | b')' | b']' | b'}'))
        .count();
    if kept == 0 {
        return None;
    }
    let rest = &s[kept..];
    if rest.is_empty() || rest.starts_with("--") {
        return Some((kept, kept));
    }
    let ws = rest.len() - rest.trim_start_matches(is_space).len();
    (ws > 0).then_some((kept, kept + ws))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<&str> {
        let mut out = Vec::new();
        punkt_words(line, &mut out);
        out
    }

    #[test]
    fn punkt_word_split() {
        assert_eq!(words("hello, world."), ["hello", ",", "world."]);
        assert_eq!(
            words("1,000 (yes) --no... ok"),
            ["1,000", "(", "yes", ")", "--", "no", "...", "ok"]
        );
        assert_eq!(words("wait. . . what"), ["wait", ". . .", "what"]);
        assert_eq!(words("\"quoted\" it's"), ["\"", "quoted", "\"", "it", "'s"]);
        assert_eq!(words("a,b c,"), ["a,b", "c", ","]);
    }

    #[test]
    fn numbers() {
        assert!(is_numeric("13.") && is_numeric("-1,000.5") && is_numeric(".5") && is_numeric("٣"));
        assert!(!is_numeric("-") && !is_numeric("a1") && !is_numeric("--5"));
    }

    #[test]
    fn realign_match() {
        assert_eq!(closing_punct("\" next"), Some((1, 2)));
        assert_eq!(closing_punct(")'"), Some((2, 2)));
        assert_eq!(closing_punct(")--x"), Some((1, 1)));
        assert_eq!(closing_punct(")x"), None);
        assert_eq!(closing_punct("x"), None);
    }
}
