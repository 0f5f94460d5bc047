//! The reference's `line.strip("Greedy:")` (CEM `src/scripts/evaluate.py::read_file`, which
//! IAMM reuses to read hypotheses back before Dist-n).
//!
//! `str.strip(chars)` removes every leading *and* trailing character that is in the set
//! `chars`: it is a character-set strip, not a prefix removal. The reference applies it to
//! the whole file line `"Greedy:" + hypothesis + "\n"` and only afterwards removes the newline
//! (`.strip("\n")`). So at the front the strip runs on into the hypothesis ("do you" loses its
//! "d", "yeah" its "ye"), while at the back the newline, which is not in the set, protects the
//! hypothesis ("i am ready" keeps its "dy"). [`strip_greedy_quirk`] rebuilds that line, so it
//! reproduces both sides exactly.

/// Python's `s.strip(chars)`: removes leading and trailing characters found in `chars`.
pub fn py_strip<'a>(s: &'a str, chars: &str) -> &'a str {
    s.trim_matches(|c| chars.contains(c))
}

/// The hypothesis as the reference's `read_file` returns it for Dist-n:
/// `("Greedy:" + hypothesis + "\n").strip("Greedy:").strip("\n")`.
pub fn strip_greedy_quirk(hypothesis: &str) -> String {
    let line = format!("Greedy:{hypothesis}\n");
    py_strip(&line, "Greedy:").trim_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_strip_is_a_character_set_strip_on_both_ends() {
        // Python: "yeah ready".strip("Greedy:") == "ah rea"
        assert_eq!(py_strip("yeah ready", "Greedy:"), "ah rea");
        assert_eq!(py_strip("Greedy:", "Greedy:"), "");
        assert_eq!(py_strip("", "Greedy:"), "");
        assert_eq!(py_strip("hello", "Greedy:"), "hello");
    }

    #[test]
    fn the_reference_line_strip_eats_leading_set_characters() {
        assert_eq!(strip_greedy_quirk("do you"), "o you");
        assert_eq!(strip_greedy_quirk("yeah"), "ah");
        assert_eq!(strip_greedy_quirk("yes , i do"), "s , i do");
        // G, r, e, d, y and ':' only; case matters ("D" is not in the set).
        assert_eq!(strip_greedy_quirk("Do you"), "Do you");
        assert_eq!(strip_greedy_quirk("that is great"), "that is great");
        // A hypothesis made of set characters only vanishes.
        assert_eq!(strip_greedy_quirk("eddy"), "");
        assert_eq!(strip_greedy_quirk(""), "");
    }

    #[test]
    fn the_trailing_newline_protects_the_end() {
        // A plain `"i am ready".strip("Greedy:")` would give "i am rea"; the reference's line
        // still ends in "\n" when it is stripped.
        assert_eq!(strip_greedy_quirk("i am ready"), "i am ready");
        assert_eq!(strip_greedy_quirk("red"), "");
    }
}
