//! `iamm-pipe run`: runs what is stale, reuses what is cached, publishes atomically.

use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use rayon::prelude::*;

use crate::hashing::HashMemo;
use crate::lock::{WorkspaceLock, unix_now_ms};
use crate::plan::{PlannedStage, explain_change, tuning_changes};
use crate::progress::{Progress, ProgressMode};
use crate::stage::StageContext;
use crate::store::{Artifact, Manifest, Store, write_table};
use crate::workspace::Workspace;

pub struct RunOptions {
    pub targets: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    pub wait: bool,
    /// A damaged cached artifact is an error instead of being rebuilt.
    pub no_rebuild: bool,
    pub progress: ProgressMode,
    /// Time between two progress lines (`--progress-every`).
    pub progress_every: std::time::Duration,
}

/// How a cached artifact whose files no longer match their published hashes is described.
fn damage_note(problems: &[String]) -> String {
    format!("damaged: {}", problems.join("; "))
}

pub fn run(ws: &mut Workspace, opts: &RunOptions) -> Result<()> {
    let started = Instant::now();
    let plan = ws.plan_or_fail(&opts.targets)?;
    // Stage names line up in one column however long they are.
    let width = plan.iter().map(|p| p.name.len()).max().unwrap_or(0).max(12);
    let all = opts.targets.is_empty() || opts.targets.iter().any(|t| t == "all");
    let forced = |name: &str| opts.force && (all || opts.targets.iter().any(|t| t == name));

    if opts.dry_run {
        for p in &plan {
            let state = match ws.store.load(&p.name, &p.key) {
                Some(_) if forced(&p.name) => "would run (forced)".to_string(),
                Some(a) => match ws.store.check(&a, &mut ws.memo, false) {
                    problems if problems.is_empty() => match tuning_changes(p, &a.manifest.params) {
                        notes if notes.is_empty() => "cached".to_string(),
                        notes => format!("cached ({})", notes.join("; ")),
                    },
                    problems => format!("would run: {}", damage_note(&problems)),
                },
                None => match ws.store.last_used(&p.name) {
                    Some(prev) => format!(
                        "would run: {}",
                        explain_change(&prev.manifest.key_parts, &p.parts).join("; ")
                    ),
                    None => "would run: never ran".to_string(),
                },
            };
            println!("{:<w$} {:<20} {state}", p.name, p.key, w = width);
        }
        ws.memo.save();
        return Ok(());
    }

    let _lock = WorkspaceLock::acquire(ws.artifacts_dir(), opts.wait)?;
    ws.store.sweep_temporaries();
    let progress = Progress::new(opts.progress, opts.progress_every);
    let mut done: Vec<(String, Artifact)> = Vec::new();
    let (mut ran, mut cached) = (0, 0);
    for p in &plan {
        let reusable = match ws.store.load(&p.name, &p.key) {
            Some(a) if !forced(&p.name) => {
                let problems = ws.store.check(&a, &mut ws.memo, false);
                if problems.is_empty() {
                    Some(a)
                } else if opts.no_rebuild {
                    ws.memo.save();
                    bail!(
                        "stage `{}`: its artifact {} is {}; run without --no-rebuild to rebuild it",
                        p.name,
                        a.dir.display(),
                        damage_note(&problems)
                    );
                } else {
                    eprintln!("  {}: {}; rebuilding it", p.name, damage_note(&problems));
                    None
                }
            }
            _ => None,
        };
        let artifact = match reusable {
            Some(a) => {
                cached += 1;
                println!("  cached  {:<w$} {}", p.name, a.manifest.summary, w = width);
                for note in tuning_changes(p, &a.manifest.params) {
                    println!("          {:<w$} ({note}; reused)", "", w = width);
                }
                a
            }
            None => {
                ran += 1;
                let a = run_stage(&ws.store, &mut ws.memo, p, &done, &progress);
                ws.memo.save();
                let a = a.map_err(|e| anyhow!("stage `{}` failed: {e:#}", p.name))?;
                println!(
                    "  ran     {:<w$} {:>7.2}s  {}",
                    p.name,
                    a.manifest.wall_time_s,
                    a.manifest.summary,
                    w = width
                );
                a
            }
        };
        ws.store.set_current(&p.name, &p.key)?;
        done.push((p.name.clone(), artifact));
    }
    ws.memo.save();
    println!(
        "{} stage(s): {ran} ran, {cached} cached, in {:.2}s. Outputs: {}/<stage>/<key>/ \
         (`iamm-pipe show STAGE` prints one)",
        plan.len(),
        started.elapsed().as_secs_f64(),
        ws.artifacts_dir().display()
    );
    Ok(())
}

fn run_stage(
    store: &Store,
    memo: &mut HashMemo,
    p: &PlannedStage,
    done: &[(String, Artifact)],
    progress: &Progress,
) -> Result<Artifact> {
    let started = Instant::now();
    let tmp = store.begin(&p.name, &p.key)?;
    let result = (|| {
        let upstream = p
            .deps
            .iter()
            .map(|d| {
                done.iter()
                    .find(|(n, _)| n == d)
                    .map(|(n, a)| (n.as_str(), a))
                    .with_context(|| format!("upstream `{d}` has no artifact"))
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = store.root.join(".rows");
        let ctx = StageContext {
            stage: &p.name,
            key: &p.key,
            params: &p.params,
            needs: p.kind.needs(),
            upstream,
            rows: &rows,
            out_dir: &tmp,
            progress,
        };
        let output = p.kind.run(&ctx)?;
        // Tables are independent files: write them on all cores.
        let tables: indexmap::IndexMap<String, crate::store::TableInfo> = output
            .tables
            .par_iter()
            .map(|(name, batch)| {
                let info = write_table(&tmp, name, batch).with_context(|| format!("writing table `{name}`"))?;
                Ok((name.clone(), info))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .collect();
        let files = std::fs::read_dir(&tmp)?
            .flatten()
            .filter(|e| !tables.values().any(|t| t.path == e.file_name().to_string_lossy()))
            .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.metadata().ok()?.len())))
            .collect();
        let manifest = Manifest {
            stage: p.name.clone(),
            key: p.key.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_ms: unix_now_ms(),
            wall_time_s: started.elapsed().as_secs_f64(),
            params: p.params.values().clone(),
            key_parts: p.parts.clone(),
            tables,
            files,
            content: Default::default(),
            stats: output.stats,
            summary: output.summary,
        };
        store.publish(&tmp, manifest, memo)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
