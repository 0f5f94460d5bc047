//! Typed values out of checked params: what each Rust field type reads, and the param type
//! it declares when the declaration does not name one.

use std::path::PathBuf;

use serde_json::Value;

use crate::spec::{ParamSpec, ParamType, show_value};

/// The params of one stage run, checked against its declaration and with defaults filled in
/// (the engine's resolved params, or [`Defaults`]).
pub trait Values {
    fn value(&self, name: &str) -> Option<&Value>;
    /// A path as the pipeline wrote it, made usable (the engine resolves it against the
    /// pipeline file's folder).
    fn resolve_path(&self, text: &str) -> PathBuf;
}

/// A param whose value does not fit the field that reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub param: &'static str,
    pub message: String,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "param `{}`: {}", self.param, self.message)
    }
}

impl std::error::Error for ParamError {}

/// A Rust type an options field can have.
pub trait Param: Sized {
    fn from_value(v: &Value, values: &dyn Values) -> Result<Self, String>;
}

/// A field type that says which param type it is (integers and floats need their range
/// declared instead).
pub trait Typed: Param {
    const TYPE: ParamType;
}

/// Field `name` of an options struct, read from `values`.
pub fn read<T: Param>(values: &dyn Values, name: &'static str) -> Result<T, ParamError> {
    let error = |message: String| ParamError { param: name, message };
    let v = values.value(name).ok_or_else(|| error("not given".into()))?;
    T::from_value(v, values).map_err(error)
}

fn expected<T>(what: &str, v: &Value) -> Result<T, String> {
    Err(format!("expected {what}, found {}", show_value(v)))
}

impl Param for bool {
    fn from_value(v: &Value, _: &dyn Values) -> Result<Self, String> {
        v.as_bool().map_or_else(|| expected("true or false", v), Ok)
    }
}

impl Typed for bool {
    const TYPE: ParamType = ParamType::Bool;
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn from_value(v: &Value, _: &dyn Values) -> Result<Self, String> {
                match v.as_i64().map(<$t>::try_from) {
                    Some(Ok(n)) => Ok(n),
                    _ => expected(concat!("an integer that fits ", stringify!($t)), v),
                }
            }
        }
    )*};
}

integers!(i64, u64, usize, u32);

impl Param for f64 {
    fn from_value(v: &Value, _: &dyn Values) -> Result<Self, String> {
        v.as_f64().map_or_else(|| expected("a number", v), Ok)
    }
}

impl Param for f32 {
    fn from_value(v: &Value, values: &dyn Values) -> Result<Self, String> {
        f64::from_value(v, values).map(|f| f as f32)
    }
}

impl Param for String {
    fn from_value(v: &Value, _: &dyn Values) -> Result<Self, String> {
        v.as_str().map_or_else(|| expected("a string", v), |s| Ok(s.to_string()))
    }
}

impl Typed for String {
    const TYPE: ParamType = ParamType::Str;
}

impl Param for PathBuf {
    fn from_value(v: &Value, values: &dyn Values) -> Result<Self, String> {
        v.as_str().map_or_else(|| expected("a path", v), |s| Ok(values.resolve_path(s)))
    }
}

/// An input file or folder (a tool's location declares `ParamType::ToolPath` instead).
impl Typed for PathBuf {
    const TYPE: ParamType = ParamType::Path;
}

impl<T: Param> Param for Option<T> {
    fn from_value(v: &Value, values: &dyn Values) -> Result<Self, String> {
        if v.is_null() { Ok(None) } else { T::from_value(v, values).map(Some) }
    }
}

impl<T: Typed> Typed for Option<T> {
    const TYPE: ParamType = ParamType::Nullable(&T::TYPE);
}

impl<T: Param> Param for Vec<T> {
    fn from_value(v: &Value, values: &dyn Values) -> Result<Self, String> {
        let Some(items) = v.as_array() else { return expected("a list", v) };
        items.iter().map(|item| T::from_value(item, values)).collect()
    }
}

/// Every param at its default: options as a stage runs when the pipeline sets nothing.
pub struct Defaults {
    values: Vec<(&'static str, Value)>,
}

impl Defaults {
    /// The defaults of `params`; a required param has none, and reading it fails.
    pub fn of(params: &[ParamSpec]) -> Defaults {
        let values = params
            .iter()
            .filter_map(|p| Some((p.name, serde_json::from_str(p.default?).expect("param defaults are JSON literals"))))
            .collect();
        Defaults { values }
    }
}

impl Values for Defaults {
    fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn resolve_path(&self, text: &str) -> PathBuf {
        PathBuf::from(text)
    }
}
