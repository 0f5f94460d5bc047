//! `pipeline.yaml`: parsing and validation. Every error names the file, the line and the key.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use iamm_options::ParamSpec;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::kinds;
use crate::params::parse_override_value;
use crate::stage::StageKind;
use crate::store::check_stage_name;

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
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the YAML only
    description: Option<String>,
}

type RawParams = IndexMap<String, Spanned<Value>>;

/// Where a param value came from, for error messages and `status`.
#[derive(Debug, Clone)]
pub enum Origin {
    Default,
    Yaml { file: PathBuf, line: u64 },
    Profile { name: String, file: PathBuf, line: u64 },
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
            Origin::CommandLine => write!(f, "-p on the command line"),
        }
    }
}

/// Checked param values of one stage, with where each came from.
pub type StageParams = IndexMap<String, (Value, Origin)>;

pub struct StageDecl {
    pub kind: &'static dyn StageKind,
    pub deps: Vec<String>,
    pub params: StageParams,
    pub line: u64,
}

pub struct Pipeline {
    pub file: PathBuf,
    pub base_dir: PathBuf,
    pub stages: IndexMap<String, StageDecl>,
    /// profile -> stage -> params it overlays
    profiles: IndexMap<String, IndexMap<String, StageParams>>,
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
        let mut stages = IndexMap::new();
        for (name, decl) in &raw.stages {
            let line = decl.referenced.line();
            check_stage_name(name).map_err(|e| anyhow!("{}: {e}", at(line)))?;
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
                let d = &dep.value;
                if !raw.stages.contains_key(d) {
                    bail!(
                        "{}: stage `{name}`, key `deps`: no stage named `{d}`; declared stages: {}",
                        at(dep.referenced.line()),
                        raw.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                if d == name {
                    bail!("{}: stage `{name}` lists itself in `deps`", at(dep.referenced.line()));
                }
                deps.push(d.clone());
            }
            let params = check_params(kind, name, &decl.value.params, |line| Origin::Yaml {
                file: file.to_path_buf(),
                line,
            })?;
            stages.insert(name.clone(), StageDecl { kind, deps, params, line });
        }
        let mut profiles = IndexMap::new();
        for (pname, overlay) in &raw.profiles {
            let mut per_stage = IndexMap::new();
            for (sname, params) in &overlay.value {
                let line = params.referenced.line();
                let stage = stages.get(sname).ok_or_else(|| {
                    anyhow!("{}: profile `{pname}` sets params of `{sname}`, which is not a declared stage", at(line))
                })?;
                let checked = check_params(stage.kind, sname, &params.value, |line| Origin::Profile {
                    name: pname.clone(),
                    file: file.to_path_buf(),
                    line,
                })?;
                per_stage.insert(sname.clone(), checked);
            }
            profiles.insert(pname.clone(), per_stage);
        }
        let pipeline = Pipeline { file: file.to_path_buf(), base_dir, stages, profiles };
        pipeline.check_acyclic()?;
        Ok(pipeline)
    }

    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// Applies a profile and `-p stage.param=value` overrides, in that order.
    pub fn apply(&mut self, profile: Option<&str>, overrides: &[String]) -> Result<()> {
        if let Some(p) = profile {
            let overlay = self.profiles.get(p).cloned().ok_or_else(|| {
                anyhow!(
                    "no profile `{p}` in {}; profiles: {}",
                    self.file.display(),
                    if self.profiles.is_empty() { "(none)".into() } else { self.profile_names().join(", ") }
                )
            })?;
            for (stage, params) in overlay {
                if let Some(decl) = self.stages.get_mut(&stage) {
                    decl.params.extend(params);
                }
            }
        }
        for text in overrides {
            let (target, value) = text
                .split_once('=')
                .ok_or_else(|| anyhow!("-p {text}: expected stage.param=value"))?;
            let (stage, param) = target
                .split_once('.')
                .ok_or_else(|| anyhow!("-p {text}: expected stage.param=value (no `.` in `{target}`)"))?;
            let decl = self.stages.get_mut(stage).ok_or_else(|| {
                anyhow!("-p {text}: no stage named `{stage}` in the pipeline")
            })?;
            let spec = find_spec(decl.kind, param).ok_or_else(|| {
                anyhow!("-p {text}: stage `{stage}` has no param `{param}`; {}", list_params(decl.kind))
            })?;
            let value = parse_override_value(value).map_err(|e| anyhow!("-p {text}: {e}"))?;
            let value = spec.ty.check(&value).map_err(|e| anyhow!("-p {text}: {e}"))?;
            decl.params.insert(param.to_string(), (value, Origin::CommandLine));
        }
        Ok(())
    }

    /// Stages in an order where every stage comes after its deps.
    pub fn topo_order(&self) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = std::collections::HashSet::new();
        fn visit(p: &Pipeline, n: &str, seen: &mut std::collections::HashSet<String>, out: &mut Vec<String>) {
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

    /// The named stages plus everything they depend on, in run order.
    pub fn closure(&self, targets: &[String]) -> Result<Vec<String>> {
        let mut wanted = std::collections::HashSet::new();
        let mut stack = Vec::new();
        for t in targets {
            if !self.stages.contains_key(t) {
                bail!(
                    "no stage named `{t}` in {}; stages: {}",
                    self.file.display(),
                    self.stages.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            stack.push(t.clone());
        }
        while let Some(n) = stack.pop() {
            if wanted.insert(n.clone()) {
                stack.extend(self.stages[&n].deps.iter().cloned());
            }
        }
        Ok(self.topo_order().into_iter().filter(|n| wanted.contains(n)).collect())
    }

    fn check_acyclic(&self) -> Result<()> {
        // 0 = unvisited, 1 = on the current path, 2 = done
        let mut state: IndexMap<&str, u8> = self.stages.keys().map(|k| (k.as_str(), 0)).collect();
        let mut path: Vec<&str> = Vec::new();
        fn dfs<'a>(p: &'a Pipeline, n: &'a str, state: &mut IndexMap<&'a str, u8>, path: &mut Vec<&'a str>) -> Result<()> {
            state[n] = 1;
            path.push(n);
            for d in &p.stages[n].deps {
                match state[d.as_str()] {
                    1 => {
                        let start = path.iter().position(|x| *x == d).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[start..].to_vec();
                        cycle.push(d);
                        bail!(
                            "{}:{}: stage `{n}`: `deps` make a cycle: {}; remove one of these deps",
                            p.file.display(),
                            p.stages[n].line,
                            cycle.join(" -> ")
                        );
                    }
                    0 => dfs(p, d, state, path)?,
                    _ => {}
                }
            }
            path.pop();
            state[n] = 2;
            Ok(())
        }
        let names: Vec<&str> = self.stages.keys().map(String::as_str).collect();
        for n in names {
            if state[n] == 0 {
                dfs(self, n, &mut state, &mut path)?;
            }
        }
        Ok(())
    }
}

fn find_spec(kind: &dyn StageKind, param: &str) -> Option<&'static ParamSpec> {
    kind.params().iter().find(|p| p.name == param)
}

fn list_params(kind: &dyn StageKind) -> String {
    let names: Vec<_> = kind.params().iter().map(|p| p.name).collect();
    format!("`{}` params: {}", kind.kind(), names.join(", "))
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
        let place = match origin(line) {
            o @ (Origin::Yaml { .. } | Origin::Profile { .. }) => o.to_string(),
            _ => String::new(),
        };
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
