//! Stage params as the engine handles them: each stage kind declares its params (with its
//! options, in `iamm-options`); the engine checks YAML values and `-p` overrides against the
//! declaration, fills in defaults, and builds the canonical form that goes into the cache key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use iamm_options::{ParamSpec, Values};
use indexmap::IndexMap;
use serde_json::Value;

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

    pub fn str(&self, name: &str) -> Result<&str> {
        self.get(name)?.as_str().with_context(|| format!("param `{name}` is not a string"))
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

/// What the stage crates' options read.
impl Values for Params {
    fn value(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    fn resolve_path(&self, text: &str) -> PathBuf {
        resolve_path(&self.base_dir, text)
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
    fn overrides_are_typed_like_yaml() {
        assert_eq!(parse_override_value("true").unwrap(), json!(true));
        assert_eq!(parse_override_value("12").unwrap(), json!(12));
        assert_eq!(parse_override_value("[train, valid]").unwrap(), json!(["train", "valid"]));
        assert_eq!(parse_override_value("data/ed").unwrap(), json!("data/ed"));
        assert_eq!(parse_override_value("null").unwrap(), Value::Null);
    }
}
