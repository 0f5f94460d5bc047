//! What a param is, as the engine sees it: its type, default, role and help.

use serde_json::Value;

/// What a parameter holds.
#[derive(Debug, Clone, Copy)]
pub enum ParamType {
    Bool,
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Str,
    /// One of a fixed set of words (`true`/`false` count as the words "true"/"false").
    Choice(&'static [&'static str]),
    /// A non-empty list of distinct words from a fixed set.
    ChoiceList(&'static [&'static str]),
    /// An input file or folder: its content (not its name) goes into the cache key.
    Path,
    /// Where to find a tool (a shared library, say): resolved like a path, never hashed.
    ToolPath,
    /// `null` ("not given") or a value of the inner type.
    Nullable(&'static ParamType),
}

/// Whether a param decides what a stage produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// It changes the output: it is in the cache key.
    Key,
    /// It changes only how the output is computed (threads, where a library is, how often
    /// work is saved): recorded in the manifest, not in the key, so changing it reuses the
    /// artifact. Each one's README row says why its results are the same.
    Tuning,
}

/// One declared parameter of a stage kind.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: ParamType,
    /// Default as a JSON literal; `None` means the param is required.
    pub default: Option<&'static str>,
    pub help: &'static str,
    pub role: Role,
}

impl ParamType {
    pub fn describe(&self) -> String {
        match self {
            ParamType::Bool => "true or false".into(),
            ParamType::Int { min, max } => format!("an integer in {min}..={max}"),
            ParamType::Float { min, max } => format!("a number in {min}..={max}"),
            ParamType::Str => "a string".into(),
            ParamType::Choice(c) => format!("one of {}", c.join(", ")),
            ParamType::ChoiceList(c) => format!("a list of distinct values from {}", c.join(", ")),
            ParamType::Path => "a path to a file or folder".into(),
            ParamType::ToolPath => "a path".into(),
            ParamType::Nullable(inner) => format!("{}, or null", inner.describe()),
        }
    }

    /// Whether values of this type are input files whose content goes into the cache key.
    pub fn is_path(&self) -> bool {
        match self {
            ParamType::Path => true,
            ParamType::Nullable(inner) => inner.is_path(),
            _ => false,
        }
    }

    /// Checks `v` and returns it in canonical form.
    pub fn check(&self, v: &Value) -> Result<Value, String> {
        let bad = || Err(format!("expected {}, found {}", self.describe(), show_value(v)));
        match (self, v) {
            (ParamType::Nullable(_), Value::Null) => Ok(Value::Null),
            (ParamType::Nullable(inner), _) => inner.check(v).map_err(|_| {
                format!("expected {}, found {}", self.describe(), show_value(v))
            }),
            (ParamType::Bool, Value::Bool(_)) => Ok(v.clone()),
            (ParamType::Int { min, max }, Value::Number(n)) => match n.as_i64() {
                Some(i) if i >= *min && i <= *max => Ok(v.clone()),
                _ => bad(),
            },
            (ParamType::Float { min, max }, Value::Number(n)) => match n.as_f64() {
                Some(f) if f >= *min && f <= *max => Ok(serde_json::json!(f)),
                _ => bad(),
            },
            (ParamType::Str, Value::String(_)) => Ok(v.clone()),
            (ParamType::Choice(c), Value::String(s)) if c.contains(&s.as_str()) => Ok(v.clone()),
            (ParamType::Choice(c), Value::Bool(b)) if c.contains(&if *b { "true" } else { "false" }) => {
                Ok(Value::String(b.to_string()))
            }
            // A set: canonical in the declared order, so `[valid, train]` is `[train, valid]`.
            (ParamType::ChoiceList(c), Value::Array(items)) => {
                let mut seen = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) if c.contains(&s) && !seen.contains(&s) => seen.push(s),
                        _ => return bad(),
                    }
                }
                if seen.is_empty() {
                    return bad();
                }
                Ok(Value::Array(c.iter().filter(|w| seen.contains(w)).map(|w| Value::from(*w)).collect()))
            }
            (ParamType::Path | ParamType::ToolPath, Value::String(s)) if !s.is_empty() => Ok(v.clone()),
            _ => bad(),
        }
    }
}

/// A value as an error message names it.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        other => other.to_string(),
    }
}

/// How many params `parts` hold together (for `options!`, which joins groups at compile time).
pub const fn total(parts: &[&[ParamSpec]]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// `parts` joined into one table of `N` (= `total(parts)`) params; a name given twice does not
/// compile.
pub const fn join<const N: usize>(parts: &[&[ParamSpec]]) -> [ParamSpec; N] {
    const EMPTY: ParamSpec = ParamSpec { name: "", ty: ParamType::Bool, default: None, help: "", role: Role::Key };
    let mut out = [EMPTY; N];
    let (mut k, mut i) = (0, 0);
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            let mut seen = 0;
            while seen < k {
                assert!(!same(out[seen].name, parts[i][j].name), "a stage declares a param twice");
                seen += 1;
            }
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(k == N, "join: N must be total(parts)");
    out
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPTIONAL_PATH: ParamType = ParamType::Nullable(&ParamType::Path);

    #[test]
    fn checks_types_and_ranges() {
        assert!(ParamType::Bool.check(&json!(true)).is_ok());
        assert!(ParamType::Bool.check(&json!("yes")).unwrap_err().contains("the string \"yes\""));
        let choice = ParamType::Choice(&["error", "skip"]);
        assert!(choice.check(&json!("skip")).is_ok());
        assert!(choice.check(&json!("ignore")).unwrap_err().contains("one of error, skip"));
        assert!(OPTIONAL_PATH.check(&Value::Null).is_ok());
        assert!(OPTIONAL_PATH.check(&json!(3)).unwrap_err().contains("a path to a file or folder, or null"));
        assert!(ParamType::Path.check(&Value::Null).is_err());
        assert!(ParamType::Path.check(&json!("")).is_err());
        let int = ParamType::Nullable(&ParamType::Int { min: 1, max: 10 });
        assert_eq!(int.check(&json!(3)).unwrap(), json!(3));
        assert!(int.check(&json!(0)).unwrap_err().contains("an integer in 1..=10, or null"));
        assert!(int.check(&json!(2.5)).is_err());
        assert_eq!(ParamType::Float { min: 0.0, max: 2.0 }.check(&json!(1)).unwrap(), json!(1.0));
        assert!(ParamType::Float { min: 0.0, max: 2.0 }.check(&json!(2.5)).unwrap_err().contains("a number in 0..=2"));
        let stop = ParamType::Choice(&["true", "false", "never"]);
        assert_eq!(stop.check(&json!(true)).unwrap(), json!("true"));
        assert_eq!(stop.check(&json!("never")).unwrap(), json!("never"));
    }

    #[test]
    fn sets_are_canonical() {
        let list = ParamType::ChoiceList(&["train", "valid", "test"]);
        assert_eq!(list.check(&json!(["train"])).unwrap(), json!(["train"]));
        assert_eq!(list.check(&json!(["test", "train"])).unwrap(), json!(["train", "test"]));
        assert_eq!(list.check(&json!(["valid", "test", "train"])).unwrap(), json!(["train", "valid", "test"]));
        assert!(list.check(&json!(["train", "train"])).is_err());
        assert!(list.check(&json!([])).is_err());
        let e = list.check(&json!(["train", "dev"])).unwrap_err();
        assert!(e.contains("a list of distinct values from train, valid, test"), "{e}");
    }

    #[test]
    fn joined_tables_keep_the_order_of_their_parts() {
        const A: &[ParamSpec] =
            &[ParamSpec { name: "a", ty: ParamType::Bool, default: None, help: "", role: Role::Key }];
        const B: &[ParamSpec] = &[
            ParamSpec { name: "b", ty: ParamType::Str, default: None, help: "", role: Role::Tuning },
            ParamSpec { name: "c", ty: ParamType::Path, default: None, help: "", role: Role::Key },
        ];
        const PARTS: &[&[ParamSpec]] = &[A, &[], B];
        const ALL: [ParamSpec; total(PARTS)] = join(PARTS);
        assert_eq!(ALL.map(|p| p.name), ["a", "b", "c"]);
        assert!(same("seed", "seed") && !same("seed", "seeds") && !same("seed", "weed"));
    }
}
