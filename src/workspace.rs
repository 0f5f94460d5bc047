//! A workspace: the folder with `pipeline.yaml`, its artifact store and hash memo.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use indexmap::IndexMap;

use crate::hashing::HashMemo;
use crate::matrix::{glob_matches, is_glob, parse_member, parse_selector};
use crate::plan::{PlannedStage, describe_failures, plan};
use crate::spec::Pipeline;
use crate::store::Store;

pub struct Workspace {
    pub pipeline: Pipeline,
    pub store: Store,
    pub memo: HashMemo,
    pub profile: Option<String>,
}

impl Workspace {
    pub fn open(file: &Path, profile: Option<&str>, overrides: &[String]) -> Result<Workspace> {
        let mut pipeline = Pipeline::load(file)?;
        pipeline.apply(profile, overrides)?;
        let artifacts = pipeline.base_dir.join("artifacts");
        let memo = HashMemo::load(artifacts.join(".hash-memo.json"));
        Ok(Workspace { pipeline, store: Store::new(artifacts), memo, profile: profile.map(str::to_string) })
    }

    pub fn artifacts_dir(&self) -> &PathBuf {
        &self.store.root
    }

    /// Plans `targets` (stage names, or `all`) and everything they need.
    pub fn plan_targets(&mut self, targets: &[String]) -> Result<IndexMap<String, Result<PlannedStage>>> {
        let order = if targets.is_empty() || targets.iter().any(|t| t == "all") {
            self.pipeline.topo_order()
        } else {
            self.pipeline.closure(targets)?
        };
        std::fs::create_dir_all(&self.store.root).ok();
        Ok(plan(&self.pipeline, &order, &self.memo))
    }

    /// The stages a pattern names among the pipeline's (see `Pipeline::select`) and among the
    /// stage folders of the store, which may hold stages the pipeline no longer has or has
    /// only under another profile (`train[seed=2,…]` of a sweep): a name, a declared stage's
    /// name (every member), a selector or a glob. Pipeline order first, then the store's.
    pub fn stages_named(&self, pattern: &str) -> Result<Vec<String>> {
        let in_pipeline = self.pipeline.select(pattern);
        let mut found = in_pipeline.clone().unwrap_or_default();
        let selector = parse_selector(pattern).ok();
        let admits = |name: &str| match (&selector, parse_member(name)) {
            (Some(sel), Some((base, coords))) => base == sel.base && sel.admits(&coords),
            _ => false,
        };
        for name in self.store.stages_on_disk() {
            let hit = name == pattern || (is_glob(pattern) && glob_matches(pattern, &name)) || admits(&name);
            if hit && !found.contains(&name) {
                found.push(name);
            }
        }
        match in_pipeline {
            Err(e) if found.is_empty() => Err(anyhow!("{e}; nor does it name a stage with artifacts in {}", self.store.root.display())),
            _ => Ok(found),
        }
    }

    /// Like `plan_targets`, but any stage that cannot be planned is an error, which lists every
    /// problem of the plan at once (see `describe_failures`).
    pub fn plan_or_fail(&mut self, targets: &[String]) -> Result<Vec<PlannedStage>> {
        let (planned, failed): (Vec<_>, Vec<_>) = self.plan_targets(targets)?.into_values().partition(Result::is_ok);
        if failed.is_empty() {
            return Ok(planned.into_iter().flatten().collect());
        }
        let errors: Vec<&anyhow::Error> = failed.iter().filter_map(|r| r.as_ref().err()).collect();
        Err(anyhow!("{}", describe_failures(&errors)))
    }
}
