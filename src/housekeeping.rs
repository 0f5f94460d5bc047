//! `clean`, `gc` and `verify`: removing and checking artifacts, always holding the store lock
//! exclusively (no run works meanwhile). Nothing outside the store is ever deleted (see
//! `Store::discard`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};

use crate::kinds;
use crate::lock::StoreLock;
use crate::store::Artifact;
use crate::workspace::Workspace;

/// The stages that `names` (stage names, selectors, globs) name in the pipeline.
fn select_all(ws: &Workspace, names: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        for s in ws.pipeline.select(name).map_err(|e| anyhow!(e))? {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

pub fn clean(ws: &mut Workspace, stages: &[String], all: bool) -> Result<()> {
    if stages.is_empty() && !all {
        bail!("say which stages to clean (`iamm-pipe clean tokenize`), or `--all` for every artifact");
    }
    let unknown: Vec<String> = stages.iter().filter(|s| ws.pipeline.select(s).is_err()).map(|s| format!("`{s}`")).collect();
    if !unknown.is_empty() {
        bail!(
            "no stage {} in {}; `clean` takes the names of its stages ({}) or `--all`. Artifacts of stages no longer \
             in the pipeline go with `iamm-pipe gc`",
            unknown.join(", "),
            ws.pipeline.file.display(),
            ws.pipeline.list_all()
        );
    }
    let selected = select_all(ws, stages)?;
    let _lock = StoreLock::exclusive(&ws.store.root, "clean")?;
    // Alone in the store: a half-removed folder from a killed `clean` goes too.
    ws.store.sweep_temporaries(true, true);
    let names: Vec<String> = if all { ws.store.stages_on_disk() } else { selected };
    for name in names {
        let n = ws.store.all(&name).len();
        if std::fs::symlink_metadata(ws.store.root.join(&name)).is_err() {
            println!("`{name}` has no artifacts");
            continue;
        }
        ws.store.discard(&name, None, &ws.memo)?;
        println!("removed {n} artifact(s) of `{name}`");
    }
    ws.memo.save();
    Ok(())
}

/// Why an artifact can never be reused by this pipeline and build, if so.
fn unusable(a: &Artifact, stage: &str, kinds_now: &HashMap<String, String>, file: &str) -> Option<String> {
    let parts = &a.manifest.key_parts;
    let Some(kind) = kinds_now.get(stage) else {
        return Some(format!("stage `{stage}` is not in {file} (under any profile)"));
    };
    if *kind != parts.kind {
        return Some(format!("stage `{stage}` now uses `{kind}`; this was made by `{}`", parts.kind));
    }
    if parts.key() != a.manifest.key {
        return Some("made by an older iamm-pipe, whose keys this one no longer computes".into());
    }
    match kinds::find(&parts.kind) {
        Some(k) if k.fingerprint().hash == parts.code => None,
        _ => Some(format!("made by other code of `{}` than this build's (`iamm-pipe stages --code`)", parts.kind)),
    }
}

/// Removes what no run can reuse: leftovers of interrupted runs, artifacts of stages no longer
/// in the pipeline, and artifacts made by other code (or on such an upstream artifact); with
/// `all_unused`, also every artifact the pipeline uses under no profile (with the `-p` given
/// here). Each stage's `current` artifact stays unless `all_unused`.
pub fn gc(ws: &mut Workspace, dry_run: bool, all_unused: bool, overrides: &[String]) -> Result<()> {
    let file = ws.pipeline.file.clone();
    let mut used: HashSet<(String, String)> = HashSet::new();
    // Every stage name some profile has, with its kind.
    let mut kinds_now: HashMap<String, String> = HashMap::new();
    let mut profiles: Vec<Option<String>> = vec![None];
    profiles.extend(ws.pipeline.profile_names().into_iter().map(Some));
    let profile_list = profiles.iter().map(|p| p.as_deref().unwrap_or("default")).collect::<Vec<_>>().join(", ");
    for profile in &profiles {
        let mut view = Workspace::open(&file, profile.as_deref(), overrides)?;
        for (name, decl) in &view.pipeline.stages {
            kinds_now.insert(name.clone(), decl.kind.kind().to_string());
        }
        for (name, p) in view.plan_targets(&[])? {
            if let Ok(p) = p {
                used.insert((name, p.key));
            }
        }
    }
    let _lock = StoreLock::exclusive(&ws.store.root, "gc")?;
    let leftovers = ws.store.sweep_temporaries(!dry_run, true);
    for path in &leftovers {
        let rel = path.strip_prefix(&ws.store.root).unwrap_or(path);
        println!("{} artifacts/{}: left by an interrupted run", if dry_run { "would remove" } else { "removed" }, rel.display());
    }

    let file_name = file.display().to_string();
    let mut artifacts: Vec<(String, Artifact)> = Vec::new();
    for stage in ws.store.stages_on_disk() {
        artifacts.extend(ws.store.all(&stage).into_iter().map(|a| (stage.clone(), a)));
    }
    let mut why: HashMap<(String, String), String> = HashMap::new();
    for (stage, a) in &artifacts {
        if let Some(reason) = unusable(a, stage, &kinds_now, &file_name) {
            why.insert((stage.clone(), a.manifest.key.clone()), reason);
        }
    }
    // What was built on an unusable artifact can never be reused either.
    loop {
        let before = why.len();
        for (stage, a) in &artifacts {
            let id = (stage.clone(), a.manifest.key.clone());
            if why.contains_key(&id) {
                continue;
            }
            let dead_up = a.manifest.key_parts.upstream.iter().find(|(s, k)| why.contains_key(&((*s).clone(), (*k).clone())));
            if let Some((s, k)) = dead_up {
                why.insert(id, format!("built on {s}/{k}, which goes too"));
            }
        }
        if why.len() == before {
            break;
        }
    }

    let (mut removed, mut kept, mut unused_kept, mut bytes) = (0, 0, 0, 0u64);
    for (stage, a) in &artifacts {
        let id = (stage.clone(), a.manifest.key.clone());
        let reason = if used.contains(&id) {
            None
        } else if all_unused {
            Some(why.get(&id).cloned().unwrap_or_else(|| format!("the pipeline uses it under no profile ({profile_list})")))
        } else if kinds_now.contains_key(stage) && ws.store.current(stage).is_some_and(|c| c.manifest.key == id.1) {
            // What `status` compares the stage with, until a run moves the link.
            None
        } else {
            why.get(&id).cloned()
        };
        let Some(reason) = reason else {
            kept += 1;
            unused_kept += usize::from(!used.contains(&id));
            continue;
        };
        let size = a.manifest.content.values().map(|f| f.bytes).sum::<u64>();
        bytes += size;
        let last = ws.store.last_use(a).map(|t| format!(", last used {}", ago(t))).unwrap_or_default();
        let made = UNIX_EPOCH + Duration::from_millis(a.manifest.created_unix_ms);
        println!(
            "{} {stage}/{} ({:.1} MB): {reason}; made {}{last}",
            if dry_run { "would remove" } else { "removed" },
            a.manifest.key,
            size as f64 / 1e6,
            ago(made)
        );
        if !dry_run {
            ws.store.discard(stage, Some(&a.manifest.key), &ws.memo)?;
        }
        removed += 1;
    }
    ws.memo.save();
    let verb = if dry_run { "would be removed" } else { "removed" };
    let unused_note = match unused_kept {
        0 => String::new(),
        n => format!(" ({n} that no profile uses, such as a `-p` sweep: `gc --all-unused` removes them)"),
    };
    println!(
        "gc: {removed} artifact(s) ({:.1} MB) {verb}, {kept} kept{unused_note}; {} interrupted leftover(s) {verb}",
        bytes as f64 / 1e6,
        leftovers.len()
    );
    Ok(())
}

/// `3 days ago`, `5 minutes ago`.
fn ago(t: SystemTime) -> String {
    let secs = SystemTime::now().duration_since(t).map(|d| d.as_secs()).unwrap_or(0);
    let (n, unit) = match secs {
        s if s < 120 => (s, "second"),
        s if s < 7200 => (s / 60, "minute"),
        s if s < 2 * 86400 => (s / 3600, "hour"),
        s => (s / 86400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Reads every file of every artifact of `stages` (default: all) and compares it with the
/// hash its manifest recorded. Returns whether all were intact.
pub fn verify(ws: &mut Workspace, stages: &[String]) -> Result<bool> {
    let on_disk = ws.store.stages_on_disk();
    let mut names = Vec::new();
    for stage in stages {
        match ws.pipeline.select(stage) {
            Ok(found) => names.extend(found),
            Err(_) if on_disk.contains(stage) => names.push(stage.clone()),
            Err(e) => bail!("{e}; and no artifacts of that name"),
        }
    }
    if stages.is_empty() {
        names = on_disk;
    }
    let _lock = StoreLock::exclusive(&ws.store.root, "verify")?;
    let (mut intact, mut damaged, mut bytes) = (0, 0, 0u64);
    for stage in &names {
        for a in ws.store.all(stage) {
            let problems = ws.store.check(&a, &ws.memo, true);
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
        if damaged > 0 { "; `iamm-pipe run` rebuilds the ones it uses, `iamm-pipe gc --all-unused` drops the rest" } else { "" }
    );
    Ok(damaged == 0)
}
