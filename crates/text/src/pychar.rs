//! Character classes with the semantics of Python 3 `str` methods and `re`
//! patterns on `str` (which are Unicode-aware), so the ports below match
//! NLTK on non-ASCII input too.

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// `\s`, `str.isspace()`, and the separators of `str.split()` / `str.strip()`.
///
/// Python also counts the ASCII separators U+001C..U+001F as whitespace,
/// which Rust's `char::is_whitespace` does not.
#[inline]
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, ' ' | '\t'..='\r' | '\x1c'..='\x1f')
    } else {
        c.is_whitespace()
    }
}

/// `\d`: decimal digits (general category Nd).
#[inline]
pub fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        c.general_category() == GeneralCategory::DecimalNumber
    }
}

/// `\w`: letters, numbers (any N* category) and the underscore.
#[inline]
pub fn is_word(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number
        )
    }
}

/// Case-insensitive comparison of a text char with a lowercase ASCII letter of
/// a pattern, as `re.IGNORECASE` does it: besides the ASCII pair, `i` also
/// matches `ı`/`İ`, `s` matches `ſ` and `k` matches the Kelvin sign.
#[inline]
pub fn eq_ignore_case(c: char, pattern: char) -> bool {
    c.to_ascii_lowercase() == pattern
        || match pattern {
            'i' => c == '\u{131}' || c == '\u{130}',
            's' => c == '\u{17f}',
            'k' => c == '\u{212a}',
            _ => false,
        }
}

/// Python `str.rstrip()` with no argument.
#[inline]
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python `str.strip()` with no argument.
#[inline]
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// The char starting at byte `i` of `s` (None at the end or off a boundary).
#[inline]
pub fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

/// The char ending at byte `i` of `s` (None at the start or off a boundary).
#[inline]
pub fn char_before(s: &str, i: usize) -> Option<char> {
    s.get(..i).and_then(|t| t.chars().next_back())
}

/// Python `str.lower()`; borrows when nothing changes.
pub fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(|c| c.to_lowercase().next() != Some(c)) {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_python() {
        assert!(is_space('\x1f') && is_space('\u{a0}') && is_space('\u{3000}'));
        assert!(!is_space('\u{200b}'));
        assert!(is_digit('٣') && !is_digit('²') && !is_digit('a'));
        assert!(is_word('é') && is_word('²') && is_word('_') && is_word('中'));
        assert!(!is_word('’') && !is_word('😊') && !is_word('-'));
        assert!(eq_ignore_case('S', 's') && eq_ignore_case('\u{17f}', 's'));
        assert!(!eq_ignore_case('t', 's'));
    }

    #[test]
    fn lower_matches_python() {
        assert_eq!(lower("abc"), "abc");
        assert_eq!(lower("ÀB"), "àb");
        // Python: 'İ'.lower() == 'i\u0307'
        assert_eq!(lower("İ"), "i\u{307}");
        // final sigma
        assert_eq!(lower("ΟΔΟΣ"), "οδος");
    }
}
