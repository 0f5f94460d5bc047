//! The reference's contraction expansion (`WORD_PAIRS` in IAMM's loader):
//! plain substring replacements applied in this order to the lowercased text.

/// The 23 ordered replacements. Order matters: `can't` becomes `cannot`,
/// which the word tokenizer later splits into `can not`.
pub const WORD_PAIRS: [(&str, &str); 23] = [
    ("it's", "it is"),
    ("don't", "do not"),
    ("doesn't", "does not"),
    ("didn't", "did not"),
    ("you'd", "you would"),
    ("you're", "you are"),
    ("you'll", "you will"),
    ("i'm", "i am"),
    ("they're", "they are"),
    ("that's", "that is"),
    ("what's", "what is"),
    ("couldn't", "could not"),
    ("i've", "i have"),
    ("we've", "we have"),
    ("can't", "cannot"),
    ("i'd", "i would"),
    ("aren't", "are not"),
    ("isn't", "is not"),
    ("wasn't", "was not"),
    ("weren't", "were not"),
    ("won't", "will not"),
    ("there's", "there is"),
    ("there're", "there are"),
];

/// Applies [`WORD_PAIRS`] like successive Python `str.replace` calls.
pub fn expand(text: &str) -> String {
    let mut out = text.to_owned();
    // Every pattern holds an ASCII apostrophe.
    if !out.contains('\'') {
        return out;
    }
    for (from, to) in WORD_PAIRS {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn replaces_substrings_in_order() {
        assert_eq!(expand("i can't, it's ok"), "i cannot, it is ok");
        // Substring, not word, replacement: "shit's" contains "it's".
        assert_eq!(expand("shit's"), "shit is");
        assert_eq!(expand("there're"), "there are");
        assert_eq!(expand("can’t"), "can’t");
        assert_eq!(expand(""), "");
    }
}
