//! `clean` and `gc`: removing artifacts, always under the workspace lock.

use std::collections::HashSet;

use anyhow::{Result, bail};

use crate::lock::WorkspaceLock;
use crate::workspace::Workspace;

pub fn clean(ws: &Workspace, stages: &[String], all: bool) -> Result<()> {
    if stages.is_empty() && !all {
        bail!("say which stages to clean (`iamm-pipe clean tokenize`), or `--all` for every artifact");
    }
    let _lock = WorkspaceLock::acquire(&ws.store.root, true)?;
    let names: Vec<String> = if all { ws.store.stages_on_disk() } else { stages.to_vec() };
    for name in names {
        let dir = ws.store.root.join(&name);
        if dir.exists() {
            let n = ws.store.all(&name).len();
            std::fs::remove_dir_all(&dir)?;
            println!("removed {n} artifact(s) of `{name}`");
        } else {
            println!("`{name}` has no artifacts");
        }
    }
    Ok(())
}

/// Keeps the artifacts that the pipeline would use under any of its profiles (and the
/// current `-p` overrides); removes the rest and any leftovers of interrupted runs.
pub fn gc(ws: &mut Workspace, dry_run: bool, overrides: &[String]) -> Result<()> {
    let mut keep: HashSet<(String, String)> = HashSet::new();
    let file = ws.pipeline.file.clone();
    let mut profiles: Vec<Option<String>> = vec![None];
    profiles.extend(ws.pipeline.profile_names().into_iter().map(Some));
    for profile in profiles {
        let mut view = Workspace::open(&file, profile.as_deref(), overrides)?;
        for (name, p) in view.plan_targets(&[])? {
            if let Ok(p) = p {
                keep.insert((name, p.key));
            }
        }
    }
    let _lock = WorkspaceLock::acquire(&ws.store.root, true)?;
    let swept = if dry_run { 0 } else { ws.store.sweep_temporaries() };
    let (mut removed, mut kept, mut bytes) = (0, 0, 0u64);
    for stage in ws.store.stages_on_disk() {
        for a in ws.store.all(&stage) {
            if keep.contains(&(stage.clone(), a.manifest.key.clone())) {
                kept += 1;
                continue;
            }
            bytes += a.manifest.tables.values().map(|t| t.bytes).sum::<u64>();
            println!("{} {stage}/{}", if dry_run { "would remove" } else { "removed" }, a.manifest.key);
            if !dry_run {
                std::fs::remove_dir_all(&a.dir)?;
            }
            removed += 1;
        }
    }
    println!(
        "gc: {removed} unreferenced artifact(s) ({:.1} MB) {}, {kept} kept, {swept} interrupted leftovers removed",
        bytes as f64 / 1e6,
        if dry_run { "would be removed" } else { "removed" }
    );
    Ok(())
}
