//! Turns the pipeline into cache keys: resolved params, input hashes and upstream keys.
//! Keys depend only on inputs, never on outputs, so the whole plan is known before any work.

use anyhow::{Result, anyhow};
use indexmap::IndexMap;
use serde_json::Value;

use crate::hashing::HashMemo;
use crate::params::{Params, show_value};
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

/// Plans `order` (which must be dependency-ordered). A stage that cannot be planned gets
/// its error, and so does everything downstream of it.
pub fn plan(pipeline: &Pipeline, order: &[String], memo: &mut HashMemo) -> IndexMap<String, Result<PlannedStage>> {
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
    memo: &mut HashMemo,
) -> Result<PlannedStage> {
    let decl = &pipeline.stages[name];
    let at = format!("{}:{}", pipeline.file.display(), decl.line);
    let given: IndexMap<String, Value> =
        decl.params.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect();
    let params = Params::resolve(decl.kind.params(), &given, &pipeline.base_dir)
        .map_err(|e| anyhow!("{at}: stage `{name}`: {e}"))?;
    let mut upstream = IndexMap::new();
    for dep in &decl.deps {
        match planned.get(dep) {
            Some(Ok(p)) => {
                upstream.insert(dep.clone(), p.key.clone());
            }
            _ => return Err(anyhow!("stage `{name}` waits for `{dep}`, which cannot run (see above)")),
        }
    }
    let mut key_params = IndexMap::new();
    let mut inputs = IndexMap::new();
    for spec in decl.kind.params() {
        let value = &params.values()[spec.name];
        if !spec.ty.is_path() {
            key_params.insert(spec.name.to_string(), value.clone());
            continue;
        }
        let Some(path) = params.path(spec.name)? else { continue };
        let origin = decl.params.get(spec.name).map(|(_, o)| o.clone()).unwrap_or(Origin::Default);
        let hashed = memo.hash_path(&path).map_err(|e| {
            anyhow!(
                "stage `{name}`, param `{}` (set by {origin}): {e:#}\nhint: fix the path in \
                 pipeline.yaml or pass -p {name}.{}=PATH",
                spec.name,
                spec.name
            )
        })?;
        inputs.insert(
            spec.name.to_string(),
            InputInfo { path: path.display().to_string(), hash: hashed.hash, bytes: hashed.bytes },
        );
    }
    let parts = KeyParts {
        kind: decl.kind.kind().to_string(),
        code: decl.kind.fingerprint().to_string(),
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
            a.map(show_value).unwrap_or_else(|| "unset".into()),
            b.map(show_value).unwrap_or_else(|| "unset".into())
        ))
    });
    diff_maps(&before.inputs, &now.inputs, |k, a, b| {
        why.push(match (a, b) {
            (Some(a), Some(b)) if a.path != b.path => format!("input `{k}` now reads {} (was {})", b.path, a.path),
            (Some(_), Some(b)) => format!("input `{k}` changed: {} has new content", b.path),
            (None, Some(b)) => format!("input `{k}` added: {}", b.path),
            (Some(a), None) => format!("input `{k}` removed (was {})", a.path),
            (None, None) => unreachable!("diff_maps reports only keys present on one side"),
        })
    });
    diff_maps(&before.upstream, &now.upstream, |k, _, _| why.push(format!("upstream stage `{k}` changed")));
    if why.is_empty() {
        why.push("the artifact format of iamm-pipe changed".into());
    }
    why
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
    fn moving_an_input_keeps_the_key() {
        let a = parts();
        let mut b = parts();
        b.inputs.get_mut("vectors").unwrap().path = "/elsewhere/v.txt".into();
        assert_eq!(a.key(), b.key());
    }
}
