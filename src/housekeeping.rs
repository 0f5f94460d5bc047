//! `clean`, `gc` and `verify`: removing and checking artifacts, always under the workspace
//! lock. Nothing outside the store is ever deleted (see `Store::discard`).

use std::collections::HashSet;

use anyhow::{Result, bail};

use crate::lock::WorkspaceLock;
use crate::workspace::Workspace;

pub fn clean(ws: &mut Workspace, stages: &[String], all: bool) -> Result<()> {
    if stages.is_empty() && !all {
        bail!("say which stages to clean (`iamm-pipe clean tokenize`), or `--all` for every artifact");
    }
    let unknown: Vec<&String> = stages.iter().filter(|s| !ws.pipeline.stages.contains_key(*s)).collect();
    if !unknown.is_empty() {
        bail!(
            "no stage {} in {}; `clean` takes the names of its stages ({}) or `--all`. Artifacts \
             of stages no longer in the pipeline go with `iamm-pipe gc`",
            unknown.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
            ws.pipeline.file.display(),
            ws.pipeline.topo_order().join(", ")
        );
    }
    let _lock = WorkspaceLock::acquire(&ws.store.root, true)?;
    let names: Vec<String> = if all { ws.store.stages_on_disk() } else { stages.to_vec() };
    for name in names {
        let n = ws.store.all(&name).len();
        if std::fs::symlink_metadata(ws.store.root.join(&name)).is_err() {
            println!("`{name}` has no artifacts");
            continue;
        }
        ws.store.discard(&name, None, &mut ws.memo)?;
        println!("removed {n} artifact(s) of `{name}`");
    }
    ws.memo.save();
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
            bytes += a.manifest.content.values().map(|f| f.bytes).sum::<u64>();
            println!("{} {stage}/{}", if dry_run { "would remove" } else { "removed" }, a.manifest.key);
            if !dry_run {
                ws.store.discard(&stage, Some(&a.manifest.key), &mut ws.memo)?;
            }
            removed += 1;
        }
    }
    ws.memo.save();
    println!(
        "gc: {removed} unreferenced artifact(s) ({:.1} MB) {}, {kept} kept, {swept} interrupted leftovers removed",
        bytes as f64 / 1e6,
        if dry_run { "would be removed" } else { "removed" }
    );
    Ok(())
}

/// Reads every file of every artifact of `stages` (default: all) and compares it with the
/// hash its manifest recorded. Returns whether all were intact.
pub fn verify(ws: &mut Workspace, stages: &[String]) -> Result<bool> {
    let on_disk = ws.store.stages_on_disk();
    let names = if stages.is_empty() { on_disk.clone() } else { stages.to_vec() };
    let (mut intact, mut damaged, mut bytes) = (0, 0, 0u64);
    for stage in &names {
        if !ws.pipeline.stages.contains_key(stage) && !on_disk.contains(stage) {
            bail!("no stage `{stage}` in {} and no artifacts of that name", ws.pipeline.file.display());
        }
        for a in ws.store.all(stage) {
            let problems = ws.store.check(&a, &mut ws.memo, true);
            if problems.is_empty() {
                intact += 1;
                bytes += a.manifest.content.values().map(|f| f.bytes).sum::<u64>();
                println!("ok       {stage}/{} ({} files)", a.manifest.key, a.manifest.content.len());
            } else {
                damaged += 1;
                println!("DAMAGED  {stage}/{}", a.manifest.key);
                for p in problems {
                    println!("         - {p}");
                }
            }
        }
    }
    ws.memo.save();
    println!(
        "verify: {intact} artifact(s) intact ({:.1} MB read), {damaged} damaged{}",
        bytes as f64 / 1e6,
        if damaged > 0 { "; `iamm-pipe run` rebuilds the current ones, `iamm-pipe gc` drops the rest" } else { "" }
    );
    Ok(damaged == 0)
}
