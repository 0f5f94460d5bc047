//! Turns the pipeline into cache keys: resolved params, input hashes and upstream keys.
//! Keys depend only on inputs, never on outputs, so the whole plan is known before any work.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use iamm_options::Role;
use indexmap::IndexMap;
use serde_json::Value;

use crate::hashing::HashMemo;
use crate::kinds;
use crate::matrix::shell_quote;
use crate::needs::{self, DepKind};
use crate::params::Params;
use crate::spec::{Origin, Pipeline};
use crate::stage::StageKind;
use crate::store::{InputInfo, KeyParts};

pub struct PlannedStage {
    pub name: String,
    pub kind: &'static dyn StageKind,
    pub deps: Vec<String>,
    pub params: Params,
    pub parts: KeyParts,
    pub key: String,
}

/// A stage that cannot be planned because one of its deps cannot: the dep's error says why.
#[derive(Debug)]
pub struct Blocked {
    pub stage: String,
    pub dep: String,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stage `{}` waits for `{}`, which cannot run (see above)", self.stage, self.dep)
    }
}

impl std::error::Error for Blocked {}

/// An input file or folder that a stage's param names and that cannot be read.
#[derive(Debug)]
pub struct MissingInput {
    pub stage: String,
    pub param: &'static str,
    /// Where the path was set (`profile \`paper\` at FILE:LINE`, a default...).
    pub origin: String,
    pub path: PathBuf,
    pub error: String,
    /// Where to get the file (see `kinds::where_to_get`).
    pub hint: Option<&'static str>,
}

/// What keeps one stage from being planned: its declaration (deps, params) and its inputs.
#[derive(Debug)]
pub struct StageProblems {
    pub declaration: Vec<String>,
    pub inputs: Vec<MissingInput>,
}

impl MissingInput {
    /// `stage.param`, as messages name it.
    fn target(&self) -> String {
        format!("{}.{}", self.stage, self.param)
    }

    /// The `-p` flag that points the param elsewhere, as a shell takes it.
    fn flag(&self) -> String {
        format!("-p {}.{}=PATH", shell_quote(&self.stage), self.param)
    }
}

impl std::fmt::Display for StageProblems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inputs = self.inputs.iter().map(|i| {
            format!(
                "param `{}` (set by {}): {}\nhint: {}fix the path in pipeline.yaml or pass {}",
                i.target(),
                i.origin,
                i.error,
                i.hint.map(|h| format!("{h}; ")).unwrap_or_default(),
                i.flag()
            )
        });
        write!(f, "{}", self.declaration.iter().cloned().chain(inputs).collect::<Vec<_>>().join("\n"))
    }
}

impl std::error::Error for StageProblems {}

/// One message for the stages of a plan that cannot be planned: declaration problems as they
/// are, each missing input once with every param that names it, and the stages that only wait
/// for a broken one left out (they are fixed with it).
pub fn describe_failures(errors: &[&anyhow::Error]) -> String {
    let mut lines = Vec::new();
    let mut missing: IndexMap<&PathBuf, Vec<&MissingInput>> = IndexMap::new();
    for e in errors {
        match e.downcast_ref::<StageProblems>() {
            Some(p) => {
                lines.extend(p.declaration.iter().cloned());
                for i in &p.inputs {
                    missing.entry(&i.path).or_default().push(i);
                }
            }
            None if e.is::<Blocked>() => {}
            None => lines.push(format!("{e:#}")),
        }
    }
    for users in missing.values() {
        let first = users[0];
        lines.push(format!("missing input: {}", first.error));
        let by: Vec<String> = users.iter().map(|i| format!("{} (set by {})", i.target(), i.origin)).collect();
        lines.push(format!("  read by {}", by.join(", ")));
        if let Some(hint) = first.hint {
            lines.push(format!("  get it: {hint}"));
        }
        let flags: Vec<String> = users.iter().map(|i| i.flag()).collect();
        lines.push(format!("  then fix the path in pipeline.yaml, or pass {}", flags.join(" ")));
    }
    if lines.is_empty() {
        // Only waiting stages: say so rather than nothing.
        lines.extend(errors.iter().map(|e| format!("{e:#}")));
    }
    match lines.len() {
        1 => lines.remove(0),
        _ => format!("the plan cannot run; nothing ran:\n{}", lines.join("\n")),
    }
}

/// Plans `order` (which must be dependency-ordered). A stage that cannot be planned gets
/// its error, and so does everything downstream of it.
pub fn plan(pipeline: &Pipeline, order: &[String], memo: &HashMemo) -> IndexMap<String, Result<PlannedStage>> {
    let mut planned: IndexMap<String, Result<PlannedStage>> = IndexMap::new();
    for name in order {
        let result = plan_one(pipeline, name, &planned, memo);
        planned.insert(name.clone(), result);
    }
    memo.save();
    planned
}

fn plan_one(
    pipeline: &Pipeline,
    name: &str,
    planned: &IndexMap<String, Result<PlannedStage>>,
    memo: &HashMemo,
) -> Result<PlannedStage> {
    let decl = &pipeline.stages[name];
    let at = format!("{}:{}", pipeline.file.display(), decl.line);
    let given: IndexMap<String, Value> =
        decl.params.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
    let params = Params::resolve(decl.kind.params(), &given, &pipeline.base_dir)
        .map_err(|e| anyhow!("{at}: stage `{name}`: {e}"))?;
    // Everything wrong with this stage's own declaration is listed at once.
    let deps: Vec<DepKind> =
        decl.deps.iter().map(|d| DepKind { name: d, kind: pipeline.stages[d].kind.kind() }).collect();
    let mut problems = StageProblems {
        declaration: needs::unmet(name, decl.kind.needs(), &params, &deps).into_iter().map(|p| format!("{at}: {p}")).collect(),
        inputs: Vec::new(),
    };
    let mut key_params = IndexMap::new();
    let mut inputs = IndexMap::new();
    for spec in decl.kind.params() {
        let value = &params.values()[spec.name];
        if spec.role == Role::Tuning {
            continue;
        }
        if !spec.ty.is_path() {
            key_params.insert(spec.name.to_string(), value.clone());
            continue;
        }
        let Some(path) = params.path(spec.name)? else { continue };
        let origin = decl.params.get(spec.name).map(|(_, o)| o.clone()).unwrap_or(Origin::Default);
        match memo.hash_path(&path) {
            Ok(hashed) => {
                inputs.insert(
                    spec.name.to_string(),
                    InputInfo { path: path.display().to_string(), hash: hashed.hash, bytes: hashed.bytes },
                );
            }
            Err(e) => problems.inputs.push(MissingInput {
                stage: name.to_string(),
                param: spec.name,
                origin: origin.to_string(),
                path,
                error: format!("{e:#}"),
                hint: kinds::where_to_get(decl.kind.kind(), spec.name),
            }),
        }
    }
    if !(problems.declaration.is_empty() && problems.inputs.is_empty()) {
        return Err(problems.into());
    }
    let mut upstream = IndexMap::new();
    for dep in &decl.deps {
        match planned.get(dep) {
            Some(Ok(p)) => {
                upstream.insert(dep.clone(), p.key.clone());
            }
            _ => return Err(Blocked { stage: name.to_string(), dep: dep.clone() }.into()),
        }
    }
    let parts = KeyParts {
        kind: decl.kind.kind().to_string(),
        code: decl.kind.fingerprint().hash.to_string(),
        params: key_params,
        inputs,
        upstream,
    };
    let key = parts.key();
    Ok(PlannedStage { name: name.to_string(), kind: decl.kind, deps: decl.deps.clone(), params, parts, key })
}

/// Why `now` differs from the parts of an earlier artifact, one reason per line.
pub fn explain_change(before: &KeyParts, now: &KeyParts) -> Vec<String> {
    let mut why = Vec::new();
    if before.kind != now.kind {
        why.push(format!("stage kind changed: {} -> {}", before.kind, now.kind));
    }
    if before.code != now.code {
        why.push(format!("the code of `{}` changed", now.kind));
    }
    diff_maps(&before.params, &now.params, |k, a, b| {
        why.push(format!(
            "param `{k}`: {} -> {}",
            a.map(show_in_full).unwrap_or_else(|| "unset".into()),
            b.map(show_in_full).unwrap_or_else(|| "unset".into())
        ))
    });
    // Only content is in the key: a file read from a new place with the same bytes is no cause.
    diff_maps(&before.inputs, &now.inputs, |k, a, b| match (a, b) {
        (Some(a), Some(b)) if a.hash == b.hash => {}
        (Some(a), Some(b)) if a.path != b.path => {
            why.push(format!("input `{k}` now reads {} (was {}), with other content", b.path, a.path))
        }
        (Some(_), Some(b)) => why.push(format!("input `{k}` changed: {} has new content", b.path)),
        (None, Some(b)) => why.push(format!("input `{k}` added: {}", b.path)),
        (Some(a), None) => why.push(format!("input `{k}` removed (was {})", a.path)),
        (None, None) => unreachable!("diff_maps reports only keys present on one side"),
    });
    diff_maps(&before.upstream, &now.upstream, |k, _, _| why.push(format!("upstream stage `{k}` changed")));
    if why.is_empty() {
        why.push("the artifact format of iamm-pipe changed".into());
    }
    why
}

/// The tuning params (not in the key) whose values here differ from those the artifact was
/// made with, one note each: the artifact is reused all the same.
pub fn tuning_changes(p: &PlannedStage, made_with: &IndexMap<String, Value>) -> Vec<String> {
    p.kind
        .params()
        .iter()
        .filter(|s| s.role == Role::Tuning)
        .filter_map(|s| {
            let now = &p.params.values()[s.name];
            let then = made_with.get(s.name).unwrap_or(&Value::Null);
            (now != then).then(|| {
                format!("tuning param `{}` (not in the key): {} here, {} when it was made", s.name, show_in_full(now), show_in_full(then))
            })
        })
        .collect()
}

/// A param value as YAML would show it on one line, cut after 100 characters.
fn show_in_full(v: &Value) -> String {
    const MAX: usize = 100;
    let text = v.to_string();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
        None => text,
    }
}

fn diff_maps<V: PartialEq>(a: &IndexMap<String, V>, b: &IndexMap<String, V>, mut report: impl FnMut(&str, Option<&V>, Option<&V>)) {
    for (k, va) in a {
        match b.get(k) {
            Some(vb) if vb == va => {}
            other => report(k, Some(va), other),
        }
    }
    for (k, vb) in b {
        if !a.contains_key(k) {
            report(k, None, Some(vb));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts() -> KeyParts {
        KeyParts {
            kind: "tokenize".into(),
            code: "c1".into(),
            params: [("vocab_splits".to_string(), json!(["train"]))].into_iter().collect(),
            inputs: [(
                "vectors".to_string(),
                InputInfo { path: "/v.txt".into(), hash: "h1".into(), bytes: 3 },
            )]
            .into_iter()
            .collect(),
            upstream: [("ingest".to_string(), "k1".to_string())].into_iter().collect(),
        }
    }

    #[test]
    fn explains_each_kind_of_change() {
        let a = parts();
        let mut b = parts();
        assert_eq!(a.key(), b.key());
        b.params.insert("vocab_splits".into(), json!(["train", "valid"]));
        b.inputs.get_mut("vectors").unwrap().hash = "h2".into();
        b.upstream.insert("ingest".into(), "k2".into());
        b.code = "c2".into();
        assert_ne!(a.key(), b.key());
        let why = explain_change(&a, &b).join("\n");
        assert!(why.contains("code of `tokenize` changed"), "{why}");
        assert!(why.contains("param `vocab_splits`"), "{why}");
        assert!(why.contains("input `vectors` changed: /v.txt"), "{why}");
        assert!(why.contains("upstream stage `ingest` changed"), "{why}");
    }

    #[test]
    fn moving_an_input_keeps_the_key_and_is_no_reason() {
        let a = parts();
        let mut b = parts();
        b.inputs.get_mut("vectors").unwrap().path = "/elsewhere/v.txt".into();
        assert_eq!(a.key(), b.key());
        b.params.insert("vocab_splits".into(), json!(["train", "valid", "test"]));
        let why = explain_change(&a, &b);
        assert_eq!(why, vec![r#"param `vocab_splits`: ["train"] -> ["train","valid","test"]"#.to_string()]);
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = Value::String("x".repeat(300));
        let shown = show_in_full(&long);
        assert!(shown.ends_with("… (302 characters)"), "{shown}");
        assert_eq!(shown.chars().count(), 100 + "… (302 characters)".chars().count());
    }
}
