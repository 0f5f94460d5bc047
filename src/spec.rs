//! `pipeline.yaml`: parsing and validation. Every error names the file, the line and the key.
//! Stages with a `matrix:` are expanded into their members by `expand.rs`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use iamm_options::ParamSpec;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::executor::slurm::StageSlurm;
use crate::expand::{self, Axis, BaseDecl, DepRef, Matrix};
use crate::kinds;
use crate::matrix::{self, Coords, Pick, VALUE_RULE, glob_matches, is_glob, parse_selector, split_override};
use crate::params::parse_override_value;
use crate::stage::StageKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    stages: IndexMap<String, Spanned<RawStage>>,
    #[serde(default)]
    profiles: IndexMap<String, Spanned<IndexMap<String, Spanned<RawParams>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    uses: Option<Spanned<String>>,
    #[serde(default)]
    deps: Vec<Spanned<String>>,
    #[serde(default)]
    params: RawParams,
    /// axis (a param of the kind) -> its values
    #[serde(default)]
    matrix: RawParams,
    /// sbatch options of its jobs under `run --executor slurm`.
    #[serde(default)]
    slurm: RawParams,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the YAML only
    description: Option<String>,
}

type RawParams = IndexMap<String, Spanned<Value>>;

/// The key of a profile's stage entry that overlays the stage's matrix instead of a param.
const MATRIX_KEY: &str = "matrix";

/// Where a param value came from, for error messages and `status`.
#[derive(Debug, Clone)]
pub enum Origin {
    Default,
    Yaml { file: PathBuf, line: u64 },
    Profile { name: String, file: PathBuf, line: u64 },
    /// A matrix axis (of the stage itself, or overlaid by a profile).
    Matrix { profile: Option<String>, file: PathBuf, line: u64 },
    CommandLine,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "the default"),
            Origin::Yaml { file, line } => write!(f, "{}:{line}", file.display()),
            Origin::Profile { name, file, line } => {
                write!(f, "profile `{name}` at {}:{line}", file.display())
            }
            Origin::Matrix { profile: None, file, line } => write!(f, "the matrix at {}:{line}", file.display()),
            Origin::Matrix { profile: Some(name), file, line } => {
                write!(f, "the matrix of profile `{name}` at {}:{line}", file.display())
            }
            Origin::CommandLine => write!(f, "-p on the command line"),
        }
    }
}

/// Checked param values of one stage, with where each came from.
pub type StageParams = IndexMap<String, (Value, Origin)>;

/// One stage as it runs: a declared stage, or one member of a declared matrix.
pub struct StageDecl {
    pub kind: &'static dyn StageKind,
    pub deps: Vec<String>,
    pub params: StageParams,
    pub line: u64,
    /// The declared stage this one belongs to (its own name when it has no matrix)...
    pub base: String,
    /// ...and its coordinates on that stage's axes, its own and those it inherits from deps.
    pub coords: Coords,
}

/// A profile's overlay of one stage.
#[derive(Clone)]
pub struct Overlay {
    pub params: StageParams,
    pub matrix: Matrix,
}

pub struct Pipeline {
    pub file: PathBuf,
    pub base_dir: PathBuf,
    /// The stages as they run: every matrix expanded into its members, in declaration order.
    pub stages: IndexMap<String, StageDecl>,
    /// The stages as declared.
    bases: IndexMap<String, BaseDecl>,
    /// profile -> stage -> what it overlays
    profiles: IndexMap<String, IndexMap<String, Overlay>>,
    /// The axes (and values) each declared stage expanded along, under the applied profile.
    axes: IndexMap<String, BTreeMap<String, Vec<String>>>,
    /// Declared stage -> the `slurm:` options of its jobs (every member's).
    pub slurm: IndexMap<String, StageSlurm>,
}

impl Pipeline {
    pub fn load(file: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            anyhow!(
                "cannot read {}: {e}\nhint: run iamm-pipe in the folder that holds pipeline.yaml, \
                 or pass -C DIR / --file PATH",
                file.display()
            )
        })?;
        Self::parse(file, &text)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Pipeline> {
        let at = |line: u64| format!("{}:{line}", file.display());
        let raw: RawPipeline = serde_saphyr::from_str(text)
            .map_err(|e| anyhow!("{}: invalid pipeline file\n{e}", file.display()))?;
        let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        if raw.stages.is_empty() {
            bail!("{}: `stages:` is empty; declare at least one stage", file.display());
        }
        let mut bases = IndexMap::new();
        let mut slurm = IndexMap::new();
        for (name, decl) in &raw.stages {
            let line = decl.referenced.line();
            slurm.insert(name.clone(), StageSlurm::parse(name, &decl.value.slurm, &at)?);
            if !matrix::is_base_name(name) {
                bail!(
                    "{}: stage name {name:?} may only use letters, digits, `_` and `-`{}",
                    at(line),
                    if name.contains('[') { " (members of a matrix are declared with `matrix:`, see README)" } else { "" }
                );
            }
            let (kind_name, kind_line) = match &decl.value.uses {
                Some(u) => (u.value.as_str(), u.referenced.line()),
                None => (name.as_str(), line),
            };
            let kind = kinds::find(kind_name).ok_or_else(|| {
                anyhow!(
                    "{}: stage `{name}`: unknown stage kind `{kind_name}`{}; known kinds: {}",
                    at(kind_line),
                    if decl.value.uses.is_none() { " (no `uses:` given, so the name is the kind)" } else { "" },
                    kinds::names().join(", ")
                )
            })?;
            let mut deps = Vec::new();
            for dep in &decl.value.deps {
                let (d, line) = (&dep.value, dep.referenced.line());
                let selector =
                    parse_selector(d).map_err(|e| anyhow!("{}: stage `{name}`, key `deps`: {e}", at(line)))?;
                if !raw.stages.contains_key(&selector.base) {
                    bail!(
                        "{}: stage `{name}`, key `deps`: no stage named `{}`; declared stages: {}",
                        at(line),
                        selector.base,
                        raw.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                if selector.base == *name {
                    bail!("{}: stage `{name}` lists itself in `deps`", at(line));
                }
                deps.push(DepRef { selector, text: d.clone(), line });
            }
            let params = check_params(kind, name, &decl.value.params, |line| Origin::Yaml {
                file: file.to_path_buf(),
                line,
            })?;
            let matrix = check_matrix(kind, name, &decl.value.matrix, &[&params], |line| Origin::Matrix {
                profile: None,
                file: file.to_path_buf(),
                line,
            })?;
            bases.insert(name.clone(), BaseDecl { kind, deps, params, matrix, line });
        }
        let mut profiles = IndexMap::new();
        for (pname, overlay) in &raw.profiles {
            let mut per_stage = IndexMap::new();
            for (sname, entry) in &overlay.value {
                let line = entry.referenced.line();
                let stage = bases.get(sname).ok_or_else(|| {
                    anyhow!("{}: profile `{pname}` sets params of `{sname}`, which is not a declared stage", at(line))
                })?;
                let mut raw_params = entry.value.clone();
                let raw_matrix = match raw_params.shift_remove(MATRIX_KEY) {
                    None => RawParams::new(),
                    Some(m) => matrix_entries(&m).map_err(|e| {
                        anyhow!("{}: profile `{pname}`, stage `{sname}`, key `matrix`: {e}", at(m.referenced.line()))
                    })?,
                };
                let params = check_params(stage.kind, sname, &raw_params, |line| Origin::Profile {
                    name: pname.clone(),
                    file: file.to_path_buf(),
                    line,
                })?;
                // A profile's param may not set an axis of the stage's own matrix either.
                let own_axes: StageParams = stage.matrix.iter().map(|(a, axis)| (a.clone(), (Value::Null, axis.origin.clone()))).collect();
                check_not_twice(sname, &params, &[&own_axes])?;
                let matrix = check_matrix(stage.kind, sname, &raw_matrix, &[&params, &stage.params], |line| {
                    Origin::Matrix { profile: Some(pname.clone()), file: file.to_path_buf(), line }
                })?;
                per_stage.insert(sname.clone(), Overlay { params, matrix });
            }
            profiles.insert(pname.clone(), per_stage);
        }
        expand::check_acyclic(file, &bases)?;
        let mut pipeline = Pipeline { file: file.to_path_buf(), base_dir, stages: IndexMap::new(), bases, profiles, axes: IndexMap::new(), slurm };
        (pipeline.stages, pipeline.axes) = expand::expand(&pipeline.file, &pipeline.bases, None)?;
        expand::resolve_named(&mut pipeline.stages)?;
        // Every profile's expansion is checked now, so that a broken one is found whichever is used.
        for profile in pipeline.profile_names() {
            expand::expand(&pipeline.file, &pipeline.bases, pipeline.profiles.get(&profile))
                .and_then(|(mut stages, _)| expand::resolve_named(&mut stages))
                .map_err(|e| anyhow!("{e:#} (with profile `{profile}`)"))?;
        }
        Ok(pipeline)
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// Applies a profile and `-p stage.param=value` overrides, in that order.
    pub fn apply(&mut self, profile: Option<&str>, overrides: &[String]) -> Result<()> {
        if let Some(p) = profile {
            let overlay = self.profiles.get(p).ok_or_else(|| {
                anyhow!(
                    "no profile `{p}` in {}; profiles: {}",
                    self.file.display(),
                    if self.profiles.is_empty() { "(none)".into() } else { self.profile_names().join(", ") }
                )
            })?;
            (self.stages, self.axes) = expand::expand(&self.file, &self.bases, Some(overlay))?;
        }
        for text in overrides {
            self.override_param(text)?;
        }
        expand::resolve_named(&mut self.stages)
    }

    /// `-p PATTERN.param=value`: PATTERN is a stage or member name, a declared matrix stage
    /// (all its members), a selector or a glob (see `select`). It sets the param of every
    /// stage it names whose kind has that param; naming none that has it is an error.
    fn override_param(&mut self, text: &str) -> Result<()> {
        let Some((target, param, value)) = split_override(text) else {
            match text.split_once('=') {
                Some((target, _)) => bail!("-p {text}: expected stage.param=value (no `.` in `{target}`)"),
                None => bail!("-p {text}: expected stage.param=value"),
            }
        };
        let matched = self.select(target).map_err(|e| anyhow!("-p {text}: {e}"))?;
        let with_param: Vec<String> =
            matched.iter().filter(|s| find_spec(self.stages[*s].kind, param).is_some()).cloned().collect();
        if with_param.is_empty() {
            if let [only] = matched.as_slice()
                && only == target
            {
                bail!("-p {text}: stage `{only}` has no param `{param}`; {}", list_params(self.stages[only].kind));
            }
            let kinds: Vec<&str> = kinds::all().iter().filter(|k| find_spec(**k, param).is_some()).map(|k| k.kind()).collect();
            bail!(
                "-p {text}: `{target}` matches {}, and no stage among them has a param `{param}` (stage kinds with \
                 `{param}`: {})",
                self.list_some(&matched),
                if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
            );
        }
        let parsed = parse_override_value(value).map_err(|e| anyhow!("-p {text}: {e}"))?;
        for stage in &with_param {
            let decl = self.stages.get_mut(stage).expect("selected from the stages");
            if let Some((_, origin @ Origin::Matrix { .. })) = decl.params.get(param) {
                bail!(
                    "-p {text}: `{param}` is a matrix axis of `{}` (set by {origin}); -p cannot change an axis: edit \
                     that `matrix:` (or give a profile a `matrix:` for `{}`)",
                    decl.base,
                    decl.base
                );
            }
            let spec = find_spec(decl.kind, param).expect("filtered above");
            let checked = spec.ty.check(&parsed).map_err(|e| {
                let to = if with_param.len() > 1 { format!(" (for `{stage}`)") } else { String::new() };
                anyhow!("-p {text}: {e}{to}")
            })?;
            decl.params.insert(param.to_string(), (checked, Origin::CommandLine));
        }
        Ok(())
    }

    /// The stages a pattern names: a stage or member name; a declared stage's name (every member
    /// of its matrix); a selector `stage[axis=value,…]` (`axis=*`: any value) or `stage[*]`; or a
    /// glob over the stage names (`*` any run of characters, `?` one, brackets literal).
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        if self.stages.contains_key(pattern) {
            return Ok(vec![pattern.to_string()]);
        }
        match parse_selector(pattern) {
            Ok(sel) if self.bases.contains_key(&sel.base) => {
                let axes = self.axes.get(&sel.base).cloned().unwrap_or_default();
                if let Pick::Axes(picked) = &sel.pick {
                    for (axis, value) in picked {
                        expand::check_selected_axis(&sel.base, &axes, axis, value.as_deref())
                            .map_err(|e| format!("`{pattern}`: {e}"))?;
                    }
                }
                return Ok(self.stages.iter().filter(|(_, d)| d.base == sel.base && sel.admits(&d.coords)).map(|(n, _)| n.clone()).collect());
            }
            _ if is_glob(pattern) => {
                let found: Vec<String> = self.stages.keys().filter(|n| glob_matches(pattern, n)).cloned().collect();
                if found.is_empty() {
                    return Err(format!(
                        "`{pattern}` matches no stage (`*` stands for any characters, `?` for one); stages: {}",
                        self.list_all()
                    ));
                }
                return Ok(found);
            }
            _ => {}
        }
        Err(format!("no stage named `{pattern}` in {}; stages: {}", self.file.display(), self.list_all()))
    }

    /// Every stage, a matrix as its pattern and member count.
    pub fn list_all(&self) -> String {
        self.bases
            .keys()
            .map(|b| match self.axes.get(b).filter(|a| !a.is_empty()) {
                None => b.clone(),
                Some(axes) => {
                    let n = self.stages.values().filter(|d| &d.base == b).count();
                    let named: Vec<String> = axes.keys().map(|a| format!("{a}=…")).collect();
                    format!("{b}[{}] ({n} members)", named.join(","))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Some stage names with their kinds, shortened when there are many.
    fn list_some(&self, names: &[String]) -> String {
        const SHOWN: usize = 6;
        let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n} ({})", self.stages[n].kind.kind())).collect();
        match names.len().saturating_sub(SHOWN) {
            0 => shown.join(", "),
            more => format!("{} and {more} more", shown.join(", ")),
        }
    }

    /// Stages in an order where every stage comes after its deps.
    pub fn topo_order(&self) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        fn visit(p: &Pipeline, n: &str, seen: &mut HashSet<String>, out: &mut Vec<String>) {
            if !seen.insert(n.to_string()) {
                return;
            }
            for d in &p.stages[n].deps {
                visit(p, d, seen, out);
            }
            out.push(n.to_string());
        }
        for name in self.stages.keys() {
            visit(self, name, &mut seen, &mut order);
        }
        order
    }

    /// The stages the patterns name (see `select`) plus everything they depend on, in run order.
    pub fn closure(&self, targets: &[String]) -> Result<Vec<String>> {
        let mut wanted = HashSet::new();
        let mut stack = Vec::new();
        for t in targets {
            stack.extend(self.select(t).map_err(|e| anyhow!(e))?);
        }
        while let Some(n) = stack.pop() {
            if wanted.insert(n.clone()) {
                stack.extend(self.stages[&n].deps.iter().cloned());
            }
        }
        Ok(self.topo_order().into_iter().filter(|n| wanted.contains(n)).collect())
    }

    /// The one stage a pattern names (for commands that take one, like `show`).
    pub fn select_one(&self, pattern: &str) -> Result<String> {
        let found = self.select(pattern).map_err(|e| anyhow!(e))?;
        match found.as_slice() {
            [one] => Ok(one.clone()),
            many => bail!("`{pattern}` names {} stages ({}); name one of them", many.len(), self.list_some(many)),
        }
    }
}

pub(crate) fn find_spec(kind: &dyn StageKind, param: &str) -> Option<&'static ParamSpec> {
    kind.params().iter().find(|p| p.name == param)
}

fn list_params(kind: &dyn StageKind) -> String {
    let names: Vec<_> = kind.params().iter().map(|p| p.name).collect();
    format!("`{}` params: {}", kind.kind(), names.join(", "))
}

/// Where a YAML or profile value was written, as `FILE:LINE` or `profile `p` at FILE:LINE`.
fn place(origin: &Origin) -> String {
    match origin {
        Origin::Yaml { file, line } | Origin::Matrix { profile: None, file, line } => format!("{}:{line}", file.display()),
        Origin::Profile { name, file, line } | Origin::Matrix { profile: Some(name), file, line } => {
            format!("profile `{name}` at {}:{line}", file.display())
        }
        Origin::Default | Origin::CommandLine => String::new(),
    }
}

fn check_params(
    kind: &dyn StageKind,
    stage: &str,
    raw: &RawParams,
    origin: impl Fn(u64) -> Origin,
) -> Result<StageParams> {
    let mut out = IndexMap::new();
    for (name, value) in raw {
        let line = value.referenced.line();
        let place = place(&origin(line));
        let spec = find_spec(kind, name).ok_or_else(|| {
            anyhow!("{place}: stage `{stage}`: unknown param `{name}`; {}", list_params(kind))
        })?;
        let checked = spec
            .ty
            .check(&value.value)
            .map_err(|e| anyhow!("{place}: stage `{stage}`, param `{name}`: {e}"))?;
        out.insert(name.clone(), (checked, origin(line)));
    }
    Ok(out)
}

/// A profile's `matrix:` value as axis -> values, every axis at the line of `matrix:`.
fn matrix_entries(m: &Spanned<Value>) -> Result<RawParams, String> {
    match &m.value {
        Value::Object(axes) => Ok(axes.iter().map(|(a, v)| (a.clone(), Spanned { value: v.clone(), referenced: m.referenced, defined: m.defined })).collect()),
        other => Err(format!(
            "expected a mapping of axes to lists of values (`matrix: {{seed: [1, 2, 3]}}`), found {}",
            iamm_options::show_value(other)
        )),
    }
}

/// Checks a `matrix:`: each axis a param of the kind, set to a non-empty list of distinct
/// values of the param's type that can be part of a stage name, and not also set in `params`.
fn check_matrix(
    kind: &dyn StageKind,
    stage: &str,
    raw: &RawParams,
    params: &[&StageParams],
    origin: impl Fn(u64) -> Origin,
) -> Result<Matrix> {
    let mut out = Matrix::new();
    for (axis, value) in raw {
        let origin = origin(value.referenced.line());
        let place = place(&origin);
        let spec = find_spec(kind, axis).ok_or_else(|| {
            anyhow!("{place}: stage `{stage}`, matrix: `{axis}` is not a param of its kind, so it cannot be an axis; {}", list_params(kind))
        })?;
        let items = match &value.value {
            Value::Array(items) if items.is_empty() => {
                bail!("{place}: stage `{stage}`, matrix axis `{axis}` is an empty list; give it at least one value, or remove the axis")
            }
            Value::Array(items) => items,
            other => bail!(
                "{place}: stage `{stage}`, matrix axis `{axis}`: expected a list of values (`{axis}: [a, b]`), found {}",
                iamm_options::show_value(other)
            ),
        };
        let mut values = Vec::new();
        for item in items {
            let checked = spec.ty.check(item).map_err(|e| anyhow!("{place}: stage `{stage}`, matrix axis `{axis}`: {e}"))?;
            let text = matrix::value_text(&checked)
                .ok_or_else(|| anyhow!("{place}: stage `{stage}`, matrix axis `{axis}`: value {item} cannot be used: {VALUE_RULE}"))?;
            if values.iter().any(|(_, t)| *t == text) {
                bail!("{place}: stage `{stage}`, matrix axis `{axis}` lists `{text}` twice; its values must be distinct");
            }
            values.push((checked, text));
        }
        out.insert(axis.clone(), Axis { values, origin });
    }
    let as_params: StageParams = out.iter().map(|(a, axis)| (a.clone(), (Value::Null, axis.origin.clone()))).collect();
    check_not_twice(stage, &as_params, params)?;
    Ok(out)
}

/// A param set in `first` and in one of `others` (a matrix axis and a param) is named twice.
fn check_not_twice(stage: &str, first: &StageParams, others: &[&StageParams]) -> Result<()> {
    for (name, (_, here)) in first {
        if let Some((_, there)) = others.iter().find_map(|o| o.get(name)) {
            bail!(
                "{}: stage `{stage}`: param `{name}` is named twice: by {here} and by {there}; a matrix axis sets the \
                 param, so keep one of them",
                place(here)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<Pipeline> {
        Pipeline::parse(Path::new("/w/pipeline.yaml"), yaml)
    }

    const BASE: &str = "stages:
  ingest:
    params: {source: demo/ed}
  tokenize:
    deps: [ingest]
  train:
    deps: [tokenize]
    matrix: {variant: [full, wo_ea], seed: [1, 2]}
";

    fn names(p: &Pipeline) -> Vec<&str> {
        p.stages.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_matrix_expands_into_named_members_with_their_params() {
        let p = parse(BASE).unwrap();
        assert_eq!(
            names(&p),
            ["ingest", "tokenize", "train[seed=1,variant=full]", "train[seed=1,variant=wo_ea]", "train[seed=2,variant=full]", "train[seed=2,variant=wo_ea]"]
        );
        let m = &p.stages["train[seed=2,variant=wo_ea]"];
        assert_eq!(m.params["seed"].0, serde_json::json!(2));
        assert_eq!(m.params["variant"].0, serde_json::json!("wo_ea"));
        assert_eq!(m.params["seed"].1.to_string(), "the matrix at /w/pipeline.yaml:8");
        assert_eq!(m.deps, ["tokenize"]);
        assert_eq!(m.base, "train");
    }

    #[test]
    fn dependents_expand_along_inherited_axes_or_gather() {
        let yaml = format!(
            "{BASE}  evaluate:
    deps: [tokenize, train]
  analysis:
    deps: [tokenize, \"train[variant=full]\"]
  report:
    deps: [\"evaluate[*]\"]
  human_eval:
    deps: [\"evaluate[variant=*]\"]
    params: {{proposed: \"evaluate[variant=full]\", baseline: \"evaluate[variant=wo_ea]\"}}
"
        );
        let p = parse(&yaml).unwrap();
        assert_eq!(p.stages["evaluate[seed=2,variant=wo_ea]"].deps, ["tokenize", "train[seed=2,variant=wo_ea]"]);
        assert_eq!(p.stages["analysis[seed=1]"].deps, ["tokenize", "train[seed=1,variant=full]"]);
        assert!(p.stages.contains_key("analysis[seed=2]") && !p.stages.contains_key("analysis"));
        assert_eq!(p.stages["report"].deps.len(), 4);
        let h = &p.stages["human_eval[seed=2]"];
        assert_eq!(h.deps, ["evaluate[seed=2,variant=full]", "evaluate[seed=2,variant=wo_ea]"]);
        assert_eq!(h.params["proposed"].0, "evaluate[seed=2,variant=full]");
        assert_eq!(h.params["baseline"].0, "evaluate[seed=2,variant=wo_ea]");
        let order = p.topo_order();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(pos("train[seed=1,variant=full]") < pos("analysis[seed=1]"));
        assert_eq!(p.select("evaluate[seed=1]").unwrap(), ["evaluate[seed=1,variant=full]", "evaluate[seed=1,variant=wo_ea]"]);
        assert_eq!(p.select("train").unwrap().len(), 4);
        assert_eq!(p.select("*[seed=2,variant=full]").unwrap(), ["train[seed=2,variant=full]", "evaluate[seed=2,variant=full]"]);
        assert!(p.select_one("evaluate").unwrap_err().to_string().contains("names 4 stages"));
    }

    #[test]
    fn deps_that_expand_the_same_axis_pair_up() {
        let yaml = format!(
            "{BASE}  train_b:
    uses: train
    deps: [tokenize]
    matrix: {{seed: [1, 2]}}
  evaluate:
    deps: [tokenize, \"train[variant=full]\", train_b]
"
        );
        let p = parse(&yaml).unwrap();
        assert_eq!(p.stages["evaluate[seed=2]"].deps, ["tokenize", "train[seed=2,variant=full]", "train_b[seed=2]"]);
        let bad = yaml.replace("matrix: {seed: [1, 2]}\n  evaluate", "matrix: {seed: [1, 3]}\n  evaluate");
        let err = parse(&bad).err().unwrap().to_string();
        assert!(err.contains("/w/pipeline.yaml:14") && err.contains("different values"), "{err}");
    }

    #[test]
    fn a_dependents_own_matrix_combines_with_inherited_axes() {
        let yaml = format!("{BASE}  evaluate:\n    deps: [tokenize, \"train[seed=1]\"]\n    matrix: {{device: [cpu]}}\n");
        let p = parse(&yaml).unwrap();
        assert!(p.stages.contains_key("evaluate[device=cpu,variant=wo_ea]"), "{:?}", names(&p));
        let both = format!("{BASE}  evaluate:\n    deps: [tokenize, train]\n    matrix: {{seed: [1]}}\n");
        assert!(parse(&both).is_err(), "evaluate has no seed param");
        let twice = format!("{BASE}  more:\n    uses: train\n    deps: [tokenize, \"train[variant=full]\"]\n    matrix: {{seed: [1, 2]}}\n");
        let err = parse(&twice).err().unwrap().to_string();
        assert!(err.contains("/w/pipeline.yaml:11") && err.contains("axis `seed`"), "{err}");
    }

    #[test]
    fn bad_matrices_and_selectors_name_file_and_line() {
        let cases = [
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {colour: [red]}", ":8", "`colour` is not a param"),
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: []}", ":8", "empty list"),
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: [1, 1]}", ":8", "twice"),
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: [-5]}", ":8", "an integer in 0"),
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: 3}", ":8", "expected a list"),
            ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: [1]}\n    params: {seed: 4}", ":8", "named twice"),
        ];
        for (from, to, line, what) in cases {
            let err = parse(&BASE.replace(from, to)).err().unwrap().to_string();
            assert!(err.contains(&format!("/w/pipeline.yaml{line}")) && err.contains(what), "{to}: {err}");
        }
        let dep = |d: &str| parse(&format!("{BASE}  evaluate:\n    deps: [tokenize, \"{d}\"]\n")).err().unwrap().to_string();
        for (d, what) in [
            ("train[colour=red]", "has no axis `colour`; its axes: seed, variant"),
            ("train[seed=7]", "`seed=7`"),
            ("tokenize[seed=1]", "`tokenize` has no matrix"),
            ("train[seed]", "not a stage name or selector"),
            ("trian[seed=1]", "no stage named `trian`"),
        ] {
            let err = dep(d);
            assert!(err.contains("/w/pipeline.yaml:10") && err.contains(what), "{d}: {err}");
        }
    }

    #[test]
    fn profiles_overlay_a_matrix_axis_by_axis() {
        let yaml = format!("{BASE}profiles:\n  paper:\n    train:\n      matrix: {{seed: [1, 2, 3]}}\n      dim: 300\n");
        let mut p = parse(&yaml).unwrap();
        p.apply(Some("paper"), &[]).unwrap();
        assert_eq!(p.select("train").unwrap().len(), 6);
        assert_eq!(p.stages["train[seed=3,variant=wo_ea]"].params["dim"].0, 300);
        assert!(p.stages["train[seed=3,variant=wo_ea]"].params["seed"].1.to_string().contains("profile `paper`"));
        let err = parse(&yaml.replace("[1, 2, 3]", "[]")).err().unwrap().to_string();
        assert!(err.contains("/w/pipeline.yaml:12") && err.contains("empty list"), "{err}");
        let err = parse(&yaml.replace("dim: 300", "seed: 3")).err().unwrap().to_string();
        assert!(err.contains("named twice"), "{err}");
    }

    #[test]
    fn overrides_reach_members_selectors_and_globs() {
        let yaml = format!("{BASE}  evaluate:\n    deps: [tokenize, train]\n");
        let mut p = parse(&yaml).unwrap();
        p.apply(None, &["train[seed=2,variant=wo_ea].max_steps=10".into(), "*.device=cuda".into(), "train[variant=full].dim=8".into()]).unwrap();
        assert_eq!(p.stages["train[seed=2,variant=wo_ea]"].params["max_steps"].0, 10);
        assert!(!p.stages["train[seed=1,variant=wo_ea]"].params.contains_key("max_steps"));
        assert_eq!(p.stages["evaluate[seed=1,variant=full]"].params["device"].0, "cuda");
        assert_eq!(p.stages["train[seed=1,variant=full]"].params["dim"].0, 8);
        assert!(!p.stages["train[seed=1,variant=wo_ea]"].params.contains_key("dim"));
        let err = |o: &str| parse(&yaml).unwrap().apply(None, &[o.to_string()]).unwrap_err().to_string();
        assert!(err("train.seed=7").contains("matrix axis of `train`"));
        assert!(err("nope*.x=1").contains("matches no stage"));
        assert!(err("ingest*.punkt=x").contains("no stage among them has a param `punkt`"));
        assert!(err("train[colour=red].dim=3").contains("no axis `colour`"));
    }
}
