//! NLTK 3.5's `NLTKWordTokenizer.tokenize` (the improved Treebank word
//! tokenizer used by `nltk.word_tokenize`) for one sentence.
//!
//! NLTK runs a fixed list of `re.sub` rewrites and then `str.split()`s. Each
//! rule below is a hand-written scanner with the same leftmost,
//! non-overlapping semantics, and is skipped when its trigger characters are
//! absent. Spacing is reproduced exactly because later rules look at spaces.

use crate::pychar::{char_at, char_before, eq_ignore_case, is_digit, is_space, is_word};

/// Splits one sentence into tokens, appending them to `out`.
pub(crate) fn tokenize(sentence: &str, out: &mut Vec<String>) {
    let mut r = Rewriter {
        cur: String::with_capacity(sentence.len() * 2 + 8),
        tmp: String::with_capacity(sentence.len() * 2 + 8),
    };
    r.cur.push_str(sentence);
    let has_non_ascii = !sentence.is_ascii();

    // Starting quotes.
    if has_non_ascii || r.cur.contains('`') {
        r.apply(opening_quotes);
    }
    if r.cur.starts_with('"') {
        r.cur.replace_range(..1, "``");
    }
    if r.cur.contains("``") {
        r.apply(|s, o| replace_all(s, o, "``", " `` "));
    }
    if r.cur.contains(['"', '\'']) {
        r.apply(quote_after_opener);
    }
    if r.cur.contains('\'') {
        r.apply(quote_before_letter);
    }

    // Punctuation.
    if r.cur.contains('.') {
        r.apply(|s, o| final_period(s, o, true));
    }
    if r.cur.contains([':', ',']) {
        r.apply(colon_comma);
        r.apply(colon_comma_at_end);
    }
    if r.cur.contains("..") {
        r.apply(dot_runs);
    }
    if r.cur.contains([';', '@', '#', '$', '%', '&']) {
        r.apply(|s, o| pad_ascii(s, o, b";@#$%&"));
    }
    if r.cur.contains('.') {
        r.apply(|s, o| final_period(s, o, false));
    }
    if r.cur.contains(['?', '!']) {
        r.apply(|s, o| pad_ascii(s, o, b"?!"));
    }
    if r.cur.contains("' ") {
        r.apply(quote_space);
    }
    if r.cur.contains('*') {
        r.apply(|s, o| pad_ascii(s, o, b"*"));
    }
    if r.cur.contains(['[', ']', '(', ')', '{', '}', '<', '>']) {
        r.apply(|s, o| pad_ascii(s, o, b"[](){}<>"));
    }
    if r.cur.contains("--") {
        r.apply(|s, o| replace_all(s, o, "--", " -- "));
    }

    // Ending quotes, on the text with a space added at both ends.
    r.cur.insert(0, ' ');
    r.cur.push(' ');
    if has_non_ascii {
        r.apply(closing_quotes);
    }
    if r.cur.contains('"') {
        r.apply(|s, o| replace_all(s, o, "\"", " '' "));
    }
    if r.cur.contains("''") {
        r.apply(double_single_quote);
    }
    if r.cur.contains('\'') {
        r.apply(short_clitics);
        r.apply(long_clitics);
    }

    // MacIntyre contractions (CONTRACTIONS2 and CONTRACTIONS3), each skipped
    // unless its trigger occurs in the ASCII-case-folded text. Rules only
    // insert spaces, which cannot create a trigger, so one folded copy serves.
    let folded = r.cur.to_ascii_lowercase();
    for rule in &CONTRACTIONS {
        if folded.contains(rule.trigger) {
            r.apply(|s, o| contraction(s, o, rule));
        }
    }

    out.extend(
        r.cur
            .split(is_space)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    );
}

/// Two buffers that rules rewrite back and forth.
struct Rewriter {
    cur: String,
    tmp: String,
}

impl Rewriter {
    fn apply(&mut self, rule: impl FnOnce(&str, &mut String)) {
        self.tmp.clear();
        rule(&self.cur, &mut self.tmp);
        std::mem::swap(&mut self.cur, &mut self.tmp);
    }
}

fn replace_all(s: &str, o: &mut String, from: &str, to: &str) {
    let mut last = 0;
    for (i, _) in s.match_indices(from) {
        o.push_str(&s[last..i]);
        o.push_str(to);
        last = i + from.len();
    }
    o.push_str(&s[last..]);
}

/// Surrounds each byte of `set` (ASCII only) with spaces.
fn pad_ascii(s: &str, o: &mut String, set: &[u8]) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        if set.contains(&b) {
            o.push_str(&s[last..i]);
            o.push(' ');
            o.push(b as char);
            o.push(' ');
            last = i + 1;
        }
    }
    o.push_str(&s[last..]);
}

/// `([«“‘„]|[`]+)` -> ` \1 `.
fn opening_quotes(s: &str, o: &mut String) {
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '«' | '“' | '‘' | '„' => {
                o.push(' ');
                o.push(c);
                o.push(' ');
            }
            '`' => {
                let mut end = i + 1;
                while let Some(&(j, '`')) = chars.peek() {
                    end = j + 1;
                    chars.next();
                }
                o.push(' ');
                o.push_str(&s[i..end]);
                o.push(' ');
            }
            _ => o.push(c),
        }
    }
}

/// `([»”’])` -> ` \1 `.
fn closing_quotes(s: &str, o: &mut String) {
    for c in s.chars() {
        if matches!(c, '»' | '”' | '’') {
            o.push(' ');
            o.push(c);
            o.push(' ');
        } else {
            o.push(c);
        }
    }
}

/// `([ \(\[{<])(\"|\'{2})` -> `\1 `` `.
fn quote_after_opener(s: &str, o: &mut String) {
    let b = s.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        if matches!(b[i], b' ' | b'(' | b'[' | b'{' | b'<') {
            let quote_len = match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'"'), _) => 1,
                (Some(b'\''), Some(b'\'')) => 2,
                _ => 0,
            };
            if quote_len > 0 {
                o.push_str(&s[last..=i]);
                o.push_str(" `` ");
                i += 1 + quote_len;
                last = i;
                continue;
            }
        }
        i += 1;
    }
    o.push_str(&s[last..]);
}

/// `(?i)(\')(?!re|ve|ll|m|t|s|d)(\w)\b` -> `\1 \2`: a quote before a
/// one-letter word that is not a clitic (`'m`, `'t`, `'s`, `'d`) gets a space.
/// (`re`, `ve` and `ll` can never be followed by the word boundary.)
fn quote_before_letter(s: &str, o: &mut String) {
    let mut last = 0;
    let mut from = 0;
    while let Some(q) = s.get(from..).and_then(|t| t.find('\'')).map(|n| from + n) {
        from = q + 1;
        let Some(w) = char_at(s, q + 1) else { break };
        let after = q + 1 + w.len_utf8();
        let is_clitic = ['m', 't', 's', 'd'].iter().any(|&p| eq_ignore_case(w, p));
        if is_word(w) && !is_clitic && !char_at(s, after).is_some_and(is_word) {
            o.push_str(&s[last..=q]);
            o.push(' ');
            o.push_str(&s[q + 1..after]);
            last = after;
            from = after;
        }
    }
    o.push_str(&s[last..]);
}

/// The sentence-final period rules: `([^\.])(\.)([\]\)}>"\'»”’ ]*)\s*$` ->
/// `\1 \2 \3 ` when `wide`, else `([^\.])(\.)([\]\)}>"\']*)\s*$` -> `\1 \2\3 `.
/// Only the last period of the text can match.
fn final_period(s: &str, o: &mut String, wide: bool) {
    let closing = |c: char| {
        matches!(c, ']' | ')' | '}' | '>' | '"' | '\'')
            || (wide && matches!(c, '»' | '”' | '’' | ' '))
    };
    let matched = s
        .rfind('.')
        .filter(|&p| p > 0 && s.as_bytes()[p - 1] != b'.')
        .and_then(|p| {
            let tail = &s[p + 1..];
            let closing_len = tail.find(|c: char| !closing(c)).unwrap_or(tail.len());
            tail[closing_len..]
                .chars()
                .all(is_space)
                .then_some((p, p + 1 + closing_len))
        });
    let Some((p, closing_end)) = matched else {
        o.push_str(s);
        return;
    };
    o.push_str(&s[..p]);
    o.push_str(if wide { " . " } else { " ." });
    o.push_str(&s[p + 1..closing_end]);
    o.push(' ');
}

/// `([:,])([^\d])` -> ` \1 \2`.
fn colon_comma(s: &str, o: &mut String) {
    let b = s.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        if matches!(b[i], b':' | b',')
            && let Some(next) = char_at(s, i + 1).filter(|&c| !is_digit(c))
        {
            o.push_str(&s[last..i]);
            o.push(' ');
            o.push(b[i] as char);
            o.push(' ');
            o.push(next);
            i += 1 + next.len_utf8();
            last = i;
            continue;
        }
        i += 1;
    }
    o.push_str(&s[last..]);
}

/// `([:,])$` -> ` \1 ` (`$` also matches before a final newline).
fn colon_comma_at_end(s: &str, o: &mut String) {
    let body = s.strip_suffix('\n').unwrap_or(s);
    let p = if s.ends_with([':', ',']) {
        s.len() - 1
    } else if body.len() < s.len() && body.ends_with([':', ',']) {
        body.len() - 1
    } else {
        o.push_str(s);
        return;
    };
    o.push_str(&s[..p]);
    o.push(' ');
    o.push_str(&s[p..=p]);
    o.push(' ');
    o.push_str(&s[p + 1..]);
}

/// `\.{2,}` -> ` \g<0> `.
fn dot_runs(s: &str, o: &mut String) {
    let b = s.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i < b.len() {
        if b[i] == b'.' {
            let run = b[i..].iter().take_while(|&&x| x == b'.').count();
            if run >= 2 {
                o.push_str(&s[last..i]);
                o.push(' ');
                o.push_str(&s[i..i + run]);
                o.push(' ');
                last = i + run;
            }
            i += run;
        } else {
            i += 1;
        }
    }
    o.push_str(&s[last..]);
}

/// `([^'])' ` -> `\1 ' `.
fn quote_space(s: &str, o: &mut String) {
    let mut last = 0;
    for (q, _) in s.match_indices("' ") {
        let Some(c) = char_before(s, q) else { continue };
        if c != '\'' && q - c.len_utf8() >= last {
            o.push_str(&s[last..q]);
            o.push_str(" ' ");
            last = q + 2;
        }
    }
    o.push_str(&s[last..]);
}

/// `(\S)(\'\')` -> `\1 \2 `.
fn double_single_quote(s: &str, o: &mut String) {
    let b = s.as_bytes();
    let mut last = 0;
    for q in 1..b.len().saturating_sub(1) {
        if b[q] != b'\'' || b[q + 1] != b'\'' {
            continue;
        }
        let Some(c) = char_before(s, q) else { continue };
        if !is_space(c) && q - c.len_utf8() >= last {
            o.push_str(&s[last..q]);
            o.push_str(" '' ");
            last = q + 2;
        }
    }
    o.push_str(&s[last..]);
}

/// `([^' ])('[sS]|'[mM]|'[dD]|') ` -> `\1 \2 `.
fn short_clitics(s: &str, o: &mut String) {
    clitics(s, o, |b, q| match (b.get(q + 1), b.get(q + 2)) {
        (Some(b's' | b'S' | b'm' | b'M' | b'd' | b'D'), Some(b' ')) => Some((q, q + 2)),
        (Some(b' '), _) => Some((q, q + 1)),
        _ => None,
    });
}

/// `([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ` -> `\1 \2 `.
fn long_clitics(s: &str, o: &mut String) {
    clitics(s, o, |b, q| {
        let at = |start: usize| b.get(start..start + 4);
        if let Some(b"'ll " | b"'LL " | b"'re " | b"'RE " | b"'ve " | b"'VE ") = at(q) {
            Some((q, q + 3))
        } else if let Some(b"n't " | b"N'T ") = q.checked_sub(1).and_then(at) {
            Some((q - 1, q + 2))
        } else {
            None
        }
    });
}

/// Shared scanner of the two clitic rules: for each quote at `q`, `clitic`
/// gives the clitic's byte range (followed by a space); the char before it
/// must be neither a quote nor a space and not inside the previous match.
fn clitics(s: &str, o: &mut String, clitic: impl Fn(&[u8], usize) -> Option<(usize, usize)>) {
    let b = s.as_bytes();
    let mut last = 0;
    for q in 0..b.len() {
        if b[q] != b'\'' {
            continue;
        }
        let Some((start, end)) = clitic(b, q) else {
            continue;
        };
        let Some(c) = char_before(s, start) else {
            continue;
        };
        if c != '\'' && c != ' ' && start - c.len_utf8() >= last {
            o.push_str(&s[last..start]);
            o.push(' ');
            o.push_str(&s[start..end]);
            o.push(' ');
            last = end + 1;
        }
    }
    o.push_str(&s[last..]);
}

/// One MacIntyre contraction rule, matched case-insensitively:
/// `\b(first)(second)\b` (or `\s` instead of the last `\b`), or for the
/// CONTRACTIONS3 rules ` (first)(second)\b` with a leading space.
struct Contraction {
    first: &'static str,
    second: &'static str,
    leading_space: bool,
    trailing_space: bool,
    /// A lowercase ASCII substring of every match (ignoring case), to skip
    /// the rule cheaply.
    trigger: &'static str,
}

const fn rule(first: &'static str, second: &'static str, trigger: &'static str) -> Contraction {
    Contraction {
        first,
        second,
        leading_space: false,
        trailing_space: false,
        trigger,
    }
}

const CONTRACTIONS: [Contraction; 10] = [
    rule("can", "not", "nnot"),
    rule("d", "'ye", "'ye"),
    rule("gim", "me", "mme"),
    rule("gon", "na", "nna"),
    rule("got", "ta", "tta"),
    rule("lem", "me", "mme"),
    rule("mor", "'n", "r'n"),
    Contraction {
        trailing_space: true,
        ..rule("wan", "na", "nna")
    },
    Contraction {
        leading_space: true,
        ..rule("'t", "is", "'t")
    },
    Contraction {
        leading_space: true,
        ..rule("'t", "was", "'t")
    },
];

/// Matches the ASCII pattern `pat` case-insensitively (with Python's extra
/// case pairs) at byte `at`, returning the end of the match.
fn match_ignore_case(s: &str, at: usize, pat: &str) -> Option<usize> {
    let mut text = s.get(at..)?.chars();
    let mut end = at;
    for p in pat.chars() {
        let c = text.next().filter(|&c| eq_ignore_case(c, p))?;
        end += c.len_utf8();
    }
    Some(end)
}

/// Applies one contraction rule: ` \1 \2 ` replaces each match.
fn contraction(s: &str, o: &mut String, rule: &Contraction) {
    let mut last = 0;
    let mut pos = 0;
    while let Some(c) = char_at(s, pos) {
        let found = (|| {
            let start = if rule.leading_space {
                (c == ' ').then_some(pos + 1)?
            } else {
                (!char_before(s, pos).is_some_and(is_word)).then_some(pos)?
            };
            let mid = match_ignore_case(s, start, rule.first)?;
            let end = match_ignore_case(s, mid, rule.second)?;
            let after = char_at(s, end);
            let consumed_end = if rule.trailing_space {
                end + after.filter(|&a| is_space(a))?.len_utf8()
            } else if after.is_some_and(is_word) {
                return None;
            } else {
                end
            };
            Some((start, mid, end, consumed_end))
        })();
        match found {
            Some((start, mid, end, consumed_end)) => {
                o.push_str(&s[last..pos]);
                o.push(' ');
                o.push_str(&s[start..mid]);
                o.push(' ');
                o.push_str(&s[mid..end]);
                o.push(' ');
                last = consumed_end;
                pos = consumed_end;
            }
            None => pos += c.len_utf8(),
        }
    }
    o.push_str(&s[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &str) -> String {
        let mut out = Vec::new();
        tokenize(s, &mut out);
        out.join(" ")
    }

    #[test]
    fn quotes() {
        assert_eq!(tok("\"hi\" she said"), "`` hi '' she said");
        assert_eq!(tok("he said \"no\"."), "he said `` no '' .");
        assert_eq!(tok("the 'mentor' was"), "the 'mentor ' was");
        assert_eq!(tok("it's 'a' test"), "it 's ' a ' test");
        assert_eq!(tok("``quoted''"), "`` quoted ''");
    }

    #[test]
    fn punctuation() {
        assert_eq!(tok("a,b,1,000: x:1"), "a , b,1,000 : x:1");
        assert_eq!(tok("end,"), "end ,");
        assert_eq!(tok("wait... what?!"), "wait ... what ? !");
        assert_eq!(tok("cost $5 & 10% (approx)"), "cost $ 5 & 10 % ( approx )");
        assert_eq!(tok("a--b"), "a -- b");
        assert_eq!(tok("(done.)"), "( done . )");
    }

    #[test]
    fn clitics_and_contractions() {
        assert_eq!(tok("he wouldn't say they'll"), "he would n't say they 'll");
        assert_eq!(
            tok("cannot gimme gonna wanna go"),
            "can not gim me gon na wan na go"
        );
        assert_eq!(tok("'Tis 'twas"), "'T is 't was");
        assert_eq!(tok("CANNOT"), "CAN NOT");
    }
}
