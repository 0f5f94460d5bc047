//! Responses as annotators read them.

/// Space-joined tokens as readable text for annotators: punctuation and clitics attach to
/// the word before them and PTB quotes become plain ones. Both systems' responses (and the
/// context) go through the same function, so the comparison stays fair.
pub fn readable(tokens: &str) -> String {
    const ATTACH_LEFT: &[&str] =
        &[".", ",", "!", "?", ";", ":", "...", "%", ")", "'s", "n't", "'m", "'re", "'ve", "'ll", "'d"];
    let mut out = String::with_capacity(tokens.len());
    let mut glue_next = false;
    for tok in tokens.split_whitespace() {
        let tok = match tok {
            "``" | "''" => "\"",
            "-lrb-" => "(",
            "-rrb-" => ")",
            t => t,
        };
        let attach = ATTACH_LEFT.contains(&tok) || (tok.starts_with('\'') && tok.len() <= 3 && tok.len() > 1);
        if !out.is_empty() && !attach && !glue_next {
            out.push(' ');
        }
        out.push_str(tok);
        glue_next = matches!(tok, "(" | "$");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_attaches_punctuation() {
        assert_eq!(readable("i 'm so happy for you ! did you win ?"), "i'm so happy for you! did you win?");
        assert_eq!(readable("that is n't fair , is it ?"), "that isn't fair, is it?");
        assert_eq!(readable("he said `` hi '' ( twice )"), "he said \" hi \" (twice)");
        assert_eq!(readable(""), "");
    }
}
