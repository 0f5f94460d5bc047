//! Typed stage parameters: each stage kind declares its params; the engine checks YAML
//! values and `-p` overrides against the declaration and builds the canonical form that
//! goes into the cache key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
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

/// A path param that may be left out.
pub const OPTIONAL_PATH: ParamType = ParamType::Nullable(&ParamType::Path);

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

pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        other => other.to_string(),
    }
}

/// Parses the value part of `-p stage.param=value` the way YAML would type it.
pub fn parse_override_value(text: &str) -> Result<Value> {
    if text.trim().is_empty() {
        return Ok(Value::String(String::new()));
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| anyhow!("cannot read value {text:?}: {e}"))
}

/// Resolved, checked params of one stage, in declaration order.
#[derive(Debug, Clone)]
pub struct Params {
    values: IndexMap<String, Value>,
    base_dir: PathBuf,
}

impl Params {
    /// Fills defaults and checks that every required param is present.
    pub fn resolve(
        specs: &[ParamSpec],
        given: &IndexMap<String, Value>,
        base_dir: &Path,
    ) -> Result<Params, String> {
        let mut values = IndexMap::new();
        for spec in specs {
            let value = match (given.get(spec.name), spec.default) {
                (Some(v), _) => v.clone(),
                (None, Some(lit)) => serde_json::from_str(lit).expect("param defaults are valid JSON"),
                (None, None) => {
                    return Err(format!(
                        "param `{}` is required ({}): {}",
                        spec.name,
                        spec.ty.describe(),
                        spec.help
                    ));
                }
            };
            values.insert(spec.name.to_string(), value);
        }
        Ok(Params { values, base_dir: base_dir.to_path_buf() })
    }

    pub fn values(&self) -> &IndexMap<String, Value> {
        &self.values
    }

    fn get(&self, name: &str) -> Result<&Value> {
        self.values.get(name).with_context(|| format!("stage has no param `{name}`"))
    }

    pub fn bool(&self, name: &str) -> Result<bool> {
        self.get(name)?.as_bool().with_context(|| format!("param `{name}` is not a bool"))
    }

    pub fn str(&self, name: &str) -> Result<&str> {
        self.get(name)?.as_str().with_context(|| format!("param `{name}` is not a string"))
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        self.get(name)?.as_i64().with_context(|| format!("param `{name}` is not an integer"))
    }

    /// A nullable param: `None` when null.
    pub fn opt(&self, name: &str) -> Result<Option<&Value>> {
        Ok(Some(self.get(name)?).filter(|v| !v.is_null()))
    }

    pub fn str_list(&self, name: &str) -> Result<Vec<String>> {
        let v = self.get(name)?;
        let items = v.as_array().with_context(|| format!("param `{name}` is not a list"))?;
        Ok(items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
    }

    /// A path param resolved against the folder that holds `pipeline.yaml`.
    pub fn path(&self, name: &str) -> Result<Option<PathBuf>> {
        match self.get(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(resolve_path(&self.base_dir, s))),
            other => bail!("param `{name}` is not a path: {other}"),
        }
    }
}

/// `~/` expands to the home folder; relative paths are relative to `base`.
pub fn resolve_path(base: &Path, text: &str) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    let p = PathBuf::from(text);
    if p.is_absolute() { p } else { base.join(p) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_types_and_ranges() {
        assert!(ParamType::Bool.check(&json!(true)).is_ok());
        assert!(ParamType::Bool.check(&json!("yes")).unwrap_err().contains("the string \"yes\""));
        let choice = ParamType::Choice(&["error", "skip"]);
        assert!(choice.check(&json!("skip")).is_ok());
        assert!(choice.check(&json!("ignore")).unwrap_err().contains("one of error, skip"));
        let list = ParamType::ChoiceList(&["train", "valid", "test"]);
        assert!(list.check(&json!(["train"])).is_ok());
        assert!(list.check(&json!(["train", "train"])).is_err());
        assert!(list.check(&json!([])).is_err());
        assert_eq!(list.check(&json!(["test", "train"])).unwrap(), json!(["train", "test"]));
        assert!(OPTIONAL_PATH.check(&Value::Null).is_ok());
        assert!(OPTIONAL_PATH.check(&json!(3)).unwrap_err().contains("a path to a file or folder, or null"));
        assert!(ParamType::Path.check(&Value::Null).is_err());
        let int = ParamType::Nullable(&ParamType::Int { min: 1, max: 10 });
        assert_eq!(int.check(&json!(3)).unwrap(), json!(3));
        assert!(int.check(&json!(0)).unwrap_err().contains("an integer in 1..=10, or null"));
        assert_eq!(ParamType::Float { min: 0.0, max: 2.0 }.check(&json!(1)).unwrap(), json!(1.0));
        let stop = ParamType::Choice(&["true", "false", "never"]);
        assert_eq!(stop.check(&json!(true)).unwrap(), json!("true"));
        assert_eq!(stop.check(&json!("never")).unwrap(), json!("never"));
    }

    #[test]
    fn overrides_are_typed_like_yaml() {
        assert_eq!(parse_override_value("true").unwrap(), json!(true));
        assert_eq!(parse_override_value("12").unwrap(), json!(12));
        assert_eq!(parse_override_value("[train, valid]").unwrap(), json!(["train", "valid"]));
        assert_eq!(parse_override_value("data/ed").unwrap(), json!("data/ed"));
        assert_eq!(parse_override_value("null").unwrap(), Value::Null);
    }
}
