//! The names of matrix members and the patterns that address stages: a stage declared with
//! `matrix: {seed: [1, 2], variant: [full, wo_ea]}` becomes one stage per combination, named
//! `train[seed=1,variant=full]` (axes in alphabetical order, values as YAML scalars), and
//! `train[variant=full]` (a selector) or `train*` (a glob) name several stages at once.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

/// A member's coordinates: axis -> value as printed in its name.
pub type Coords = BTreeMap<String, String>;

/// The printed form of a matrix value, or `None` when it cannot be part of a stage (folder)
/// name: numbers, `true`/`false`, `null` and words of letters, digits and `_ . + -`.
pub fn value_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => return None,
    };
    (!text.is_empty() && text.chars().all(value_char)).then_some(text)
}

fn value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-')
}

/// What a value must look like to be a matrix value (for errors).
pub const VALUE_RULE: &str =
    "matrix values become part of stage (folder) names: numbers, true/false, null, or words of letters, digits and `_ . + -`";

/// A declared stage name: letters, digits, `_` and `-`, not starting with `.`.
pub fn is_base_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `base` alone, or `base[a=1,b=x]` with its axes sorted.
pub fn member_name(base: &str, coords: &Coords) -> String {
    if coords.is_empty() {
        return base.to_string();
    }
    let axes: Vec<String> = coords.iter().map(|(a, v)| format!("{a}={v}")).collect();
    format!("{base}[{}]", axes.join(","))
}

/// Splits a member name into its base and coordinates (`None`: not a well-formed name).
pub fn parse_member(name: &str) -> Option<(&str, Coords)> {
    let Some((base, rest)) = name.split_once('[') else {
        return is_base_name(name).then(|| (name, Coords::new()));
    };
    let inner = rest.strip_suffix(']')?;
    let mut coords = Coords::new();
    for part in inner.split(',') {
        let (axis, value) = part.split_once('=')?;
        let axis_ok = !axis.is_empty() && axis.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let value_ok = !value.is_empty() && value.chars().all(value_char);
        // Axes strictly increasing: one spelling per member.
        if !axis_ok || !value_ok || coords.last_key_value().is_some_and(|(last, _)| last.as_str() >= axis) {
            return None;
        }
        coords.insert(axis.to_string(), value.to_string());
    }
    is_base_name(base).then_some((base, coords))
}

/// A stage name as a command suggested to the user must spell it: a member name's `[`, `]`
/// (and a selector's `*`) are glob syntax to a shell, so such a name goes in single quotes
/// (`iamm-pipe run 'train[seed=1,variant=full]'`).
pub fn shell_quote(name: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '=' | ',' | '/' | ':' | '@');
    if !name.is_empty() && name.chars().all(plain) {
        return Cow::Borrowed(name);
    }
    Cow::Owned(format!("'{}'", name.replace('\'', r"'\''")))
}

/// `train`, `train[*]` (every member) or `train[seed=2,variant=*]` (some axes fixed, `*`:
/// any value).
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub base: String,
    pub pick: Pick,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pick {
    /// No brackets.
    Plain,
    /// `[*]`.
    All,
    /// `axis=value` (`Some`) or `axis=*` (`None`), in the order written.
    Axes(Vec<(String, Option<String>)>),
}

impl Selector {
    /// The axes fixed to a value.
    pub fn fixed(&self) -> impl Iterator<Item = (&str, &str)> {
        let axes = match &self.pick {
            Pick::Axes(axes) => axes.as_slice(),
            _ => &[],
        };
        axes.iter().filter_map(|(a, v)| Some((a.as_str(), v.as_deref()?)))
    }

    /// Whether `coords` agree with every axis this selector fixes (others: any value).
    pub fn admits(&self, coords: &Coords) -> bool {
        self.fixed().all(|(a, v)| coords.get(a).is_some_and(|c| c == v))
    }
}

/// Parses a selector; the error says what is wrong with it.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    let Some((base, rest)) = text.split_once('[') else {
        return if is_base_name(text) { Ok(Selector { base: text.into(), pick: Pick::Plain }) } else { Err(bad_selector(text)) };
    };
    let inner = rest.strip_suffix(']').filter(|_| is_base_name(base)).ok_or_else(|| bad_selector(text))?;
    if inner.trim() == "*" {
        return Ok(Selector { base: base.into(), pick: Pick::All });
    }
    let mut axes: Vec<(String, Option<String>)> = Vec::new();
    for part in inner.split(',') {
        let (axis, value) = part.split_once('=').ok_or_else(|| bad_selector(text))?;
        let (axis, value) = (axis.trim(), value.trim());
        if axis.is_empty() || value.is_empty() || value.contains(['[', ']', '=']) {
            return Err(bad_selector(text));
        }
        if axes.iter().any(|(a, _)| a == axis) {
            return Err(format!("`{text}` names axis `{axis}` twice"));
        }
        axes.push((axis.to_string(), (value != "*").then(|| value.to_string())));
    }
    Ok(Selector { base: base.into(), pick: Pick::Axes(axes) })
}

fn bad_selector(text: &str) -> String {
    format!(
        "`{text}` is not a stage name or selector: write `stage`, `stage[*]` (all its members) or \
         `stage[axis=value,…]` (`axis=*`: every value of that axis)"
    )
}

/// Whether `pattern` is a glob (`*` any run of characters, `?` one; brackets are literal).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// Glob match of a whole stage name.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Splits `-p STAGE.PARAM=VALUE`: the value starts after the first `=` outside brackets and
/// the param after the last `.` before it outside brackets (a member name may hold both).
pub fn split_override(text: &str) -> Option<(&str, &str, &str)> {
    let mut depth = 0i32;
    let mut last_dot = None;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => last_dot = Some(i),
            '=' if depth == 0 => {
                let dot = last_dot?;
                return Some((&text[..dot], &text[dot + 1..i], &text[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

/// Every combination of the axes' values, the first axis (alphabetically) outermost and
/// each axis's values in the declared order. No axes: one empty combination.
pub fn combinations(axes: &BTreeMap<String, Vec<String>>) -> Vec<Coords> {
    let mut out = vec![Coords::new()];
    for (axis, values) in axes {
        out = out
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(axis.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_stable_and_parse_back() {
        let coords: Coords = [("variant", "wo_ea"), ("seed", "2")].iter().map(|(a, v)| (a.to_string(), v.to_string())).collect();
        let name = member_name("train", &coords);
        assert_eq!(name, "train[seed=2,variant=wo_ea]");
        assert_eq!(parse_member(&name), Some(("train", coords)));
        assert_eq!(parse_member("train"), Some(("train", Coords::new())));
        assert_eq!(parse_member("train[variant=x,seed=2]"), None, "axes out of order");
        assert_eq!(parse_member("train[seed=]"), None);
        assert_eq!(parse_member("../x[a=1]"), None);
        assert_eq!(member_name("ingest", &Coords::new()), "ingest");
    }

    #[test]
    fn names_in_suggested_commands_are_quoted_for_a_shell() {
        assert_eq!(shell_quote("human_eval_score"), "human_eval_score");
        assert_eq!(shell_quote("train[seed=42,variant=full]"), "'train[seed=42,variant=full]'");
        assert_eq!(shell_quote("train*"), "'train*'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn values_print_as_yaml_scalars_or_are_refused() {
        assert_eq!(value_text(&json!(2)).as_deref(), Some("2"));
        assert_eq!(value_text(&json!(0.5)).as_deref(), Some("0.5"));
        assert_eq!(value_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(value_text(&json!("wo_ea")).as_deref(), Some("wo_ea"));
        assert_eq!(value_text(&Value::Null).as_deref(), Some("null"));
        assert_eq!(value_text(&json!("a/b")), None);
        assert_eq!(value_text(&json!("a,b")), None);
        assert_eq!(value_text(&json!("")), None);
        assert_eq!(value_text(&json!([1])), None);
    }

    #[test]
    fn selectors() {
        assert_eq!(parse_selector("train").unwrap().pick, Pick::Plain);
        assert_eq!(parse_selector("train[*]").unwrap().pick, Pick::All);
        let s = parse_selector("train[variant=full, seed=*]").unwrap();
        assert_eq!(s.pick, Pick::Axes(vec![("variant".into(), Some("full".into())), ("seed".into(), None)]));
        let coords = |v: &str| [("seed".to_string(), "1".to_string()), ("variant".to_string(), v.to_string())].into_iter().collect();
        assert!(s.admits(&coords("full")) && !s.admits(&coords("wo_ea")));
        assert!(parse_selector("train[seed=1,seed=2]").unwrap_err().contains("twice"));
        for bad in ["train[seed]", "train[seed=1", "tr ain", "train[=1]", "[seed=1]"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_matches("train*", "train"));
        assert!(glob_matches("train*", "train_wo_ea"));
        assert!(glob_matches("train*", "train[seed=1,variant=full]"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("*.x", "a.b.x") && !glob_matches("*.x", "a.b.y"));
        assert!(glob_matches("train[seed=?,*]", "train[seed=2,variant=wo_ea]"));
        assert!(!glob_matches("train[seed=?]", "train[seed=12]"));
        assert!(!glob_matches("evaluate*", "train"));
        assert!(glob_matches("*_wo_*", "evaluate_wo_ws"));
    }

    #[test]
    fn overrides_split_outside_brackets() {
        assert_eq!(split_override("train.max_steps=10"), Some(("train", "max_steps", "10")));
        assert_eq!(
            split_override("train[seed=2,variant=wo_ea].max_steps=10"),
            Some(("train[seed=2,variant=wo_ea]", "max_steps", "10"))
        );
        assert_eq!(split_override("x[lr=0.5].dim=a=b"), Some(("x[lr=0.5]", "dim", "a=b")));
        assert_eq!(split_override("*.punkt=~/p.txt"), Some(("*", "punkt", "~/p.txt")));
        assert_eq!(split_override("train=1"), None);
        assert_eq!(split_override("train.x"), None);
    }

    #[test]
    fn combinations_nest_axes_alphabetically() {
        let axes: BTreeMap<String, Vec<String>> =
            [("variant".to_string(), vec!["full".to_string(), "wo_ea".to_string()]), ("seed".to_string(), vec!["1".to_string(), "2".to_string()])]
                .into_iter()
                .collect();
        let names: Vec<String> = combinations(&axes).iter().map(|c| member_name("t", c)).collect();
        assert_eq!(names, ["t[seed=1,variant=full]", "t[seed=1,variant=wo_ea]", "t[seed=2,variant=full]", "t[seed=2,variant=wo_ea]"]);
        assert_eq!(combinations(&BTreeMap::new()), vec![Coords::new()]);
    }
}
