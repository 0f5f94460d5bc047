//! Read-only commands: `status`, `dag`, `show`, `stages`.

use anyhow::{Context, Result, bail};
use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use iamm_options::Role;
use serde_json::{Value, json};

use crate::kinds;
use crate::matrix::shell_quote;
use crate::plan::{explain_change, tuning_changes};
use crate::store::{Artifact, read_parquet};
use crate::workspace::Workspace;

pub fn status(ws: &mut Workspace, targets: &[String], as_json: bool) -> Result<bool> {
    let planned = ws.plan_targets(targets)?;
    let mut rows = Vec::new();
    let mut all_fresh = true;
    for (name, p) in &planned {
        let (state, key, reasons, dir) = match p {
            Err(e) => ("blocked", Value::Null, vec![format!("{e:#}")], Value::Null),
            Ok(p) => match ws.store.load(name, &p.key) {
                Some(a) => match ws.store.check(&a, &ws.memo, false) {
                    // Fresh; a tuning param that differs from the run that made it is noted.
                    problems if problems.is_empty() => (
                        "fresh",
                        json!(p.key),
                        tuning_changes(p, &a.manifest.params),
                        json!(a.dir.display().to_string()),
                    ),
                    problems => ("damaged", json!(p.key), problems, json!(a.dir.display().to_string())),
                },
                None => match ws.store.last_used(name) {
                    Some(prev) => (
                        "stale",
                        json!(p.key),
                        explain_change(&prev.manifest.key_parts, &p.parts),
                        Value::Null,
                    ),
                    None => ("missing", json!(p.key), vec!["never ran".to_string()], Value::Null),
                },
            },
        };
        all_fresh &= state == "fresh";
        rows.push(json!({"stage": name, "state": state, "key": key, "reasons": reasons, "artifact": dir}));
    }
    ws.memo.save();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&json!({"profile": ws.profile, "stages": rows}))?);
    } else {
        // Stage names line up in one column however long they are.
        let width = rows.iter().map(|r| r["stage"].as_str().unwrap_or("").len()).max().unwrap_or(0).max(12);
        for r in &rows {
            let key = r["key"].as_str().unwrap_or("-");
            println!("{:<width$} {:<8} {key}", r["stage"].as_str().unwrap_or(""), r["state"].as_str().unwrap_or(""));
            for why in r["reasons"].as_array().into_iter().flatten() {
                println!("{:width$}  - {}", "", why.as_str().unwrap_or(""));
            }
        }
    }
    Ok(all_fresh)
}

pub fn dag(ws: &Workspace, dot: bool) {
    let p = &ws.pipeline;
    if dot {
        println!("digraph pipeline {{");
        for name in p.topo_order() {
            let s = &p.stages[&name];
            println!("  \"{name}\" [label=\"{name}\\n({})\"];", s.kind.kind());
            for d in &s.deps {
                println!("  \"{d}\" -> \"{name}\";");
            }
        }
        println!("}}");
        return;
    }
    // Member names are long: one column for all of them.
    let order = p.topo_order();
    let width = order.iter().map(String::len).max().unwrap_or(0).max(12);
    let kind_width = p.stages.values().map(|s| s.kind.kind().len()).max().unwrap_or(0);
    for name in order {
        let s = &p.stages[&name];
        let deps = if s.deps.is_empty() { "(source)".to_string() } else { format!("<- {}", s.deps.join(", ")) };
        println!("{name:<width$} uses {:<kind_width$} {deps}", s.kind.kind());
    }
}

/// The artifact for the stage's planned key (`true`: fresh), or else the one the last run
/// used (`current`), or else its newest one (`false`).
pub(crate) fn current_or_latest(ws: &mut Workspace, stage: &str) -> Result<(Artifact, bool)> {
    let key = planned_key(ws, stage)?;
    artifact_for(ws, stage, key.as_deref())
}

/// The key the pipeline plans for `stage`, or `None` when it cannot be planned.
fn planned_key(ws: &mut Workspace, stage: &str) -> Result<Option<String>> {
    let planned = ws.plan_targets(&[stage.to_string()])?;
    Ok(planned.get(stage).and_then(|p| p.as_ref().ok()).map(|p| p.key.clone()))
}

/// `current_or_latest` for a stage already planned to `key`.
fn artifact_for(ws: &mut Workspace, stage: &str, key: Option<&str>) -> Result<(Artifact, bool)> {
    if let Some(key) = key
        && let Some(a) = ws.store.load(stage, key)
    {
        warn_if_damaged(ws, &a);
        return Ok((a, true));
    }
    match ws.store.last_used(stage) {
        Some(a) => {
            warn_if_damaged(ws, &a);
            Ok((a, false))
        }
        None => bail!("stage `{stage}` has not run yet: build it with `iamm-pipe run {}`", shell_quote(stage)),
    }
}

fn warn_if_damaged(ws: &mut Workspace, a: &Artifact) {
    let problems = ws.store.check(a, &ws.memo, false);
    ws.memo.save();
    if !problems.is_empty() {
        eprintln!(
            "warning: {} is damaged ({}); `iamm-pipe run` rebuilds it",
            a.dir.display(),
            problems.join("; ")
        );
    }
}

pub fn show(ws: &mut Workspace, stage: &str, as_json: bool, rows: usize) -> Result<()> {
    let stage = &ws.pipeline.select_one(stage)?;
    let key = planned_key(ws, stage)?;
    let work = if as_json { None } else { unpublished_work(ws, stage, key.as_deref()) };
    if let Some(dir) = &work {
        show_work(dir, rows)?;
    }
    let (artifact, fresh) = match artifact_for(ws, stage, key.as_deref()) {
        Err(_) if work.is_some() => return Ok(()),
        found => found?,
    };
    if !fresh {
        eprintln!(
            "warning: `{stage}` is stale for the current pipeline; showing its newest artifact \
             (`iamm-pipe status` says why, `iamm-pipe run {}` rebuilds it)",
            shell_quote(stage)
        );
    }
    let mut manifest = serde_json::to_value(&artifact.manifest)?;
    manifest["dir"] = json!(artifact.dir.display().to_string());
    manifest["fresh"] = json!(fresh);
    if let Some(tables) = manifest["tables"].as_object_mut() {
        for (name, t) in tables.iter_mut() {
            if let Some(p) = artifact.table_path(name) {
                t["path"] = json!(p.display().to_string());
            }
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&manifest)?);
        return Ok(());
    }
    let m = &artifact.manifest;
    println!("stage     {}  (kind {})", m.stage, m.key_parts.kind);
    println!("key       {}{}", m.key, if fresh { "" } else { "  (stale)" });
    println!("folder    {}", artifact.dir.display());
    println!("built     {:.2}s by iamm-pipe {}", m.wall_time_s, m.tool_version);
    println!("summary   {}", m.summary);
    println!("params    {}", serde_json::to_string(&m.params)?);
    for (name, input) in &m.key_parts.inputs {
        println!("input     {name} = {} ({} bytes, blake3 {})", input.path, input.bytes, &input.hash[..16]);
    }
    for (name, key) in &m.key_parts.upstream {
        println!("upstream  {name} {key}");
    }
    println!("stats     {}", serde_json::to_string_pretty(&m.stats)?.replace('\n', "\n          "));
    for (name, bytes) in &m.files {
        println!("file      {name} ({bytes} bytes)");
    }
    for (name, t) in &m.tables {
        println!("\ntable {name}: {} rows, {} bytes, {}", t.rows, t.bytes, t.path);
        for c in &t.schema {
            println!("  {:<16} {}", c.name, c.ty);
        }
        if rows > 0
            && let Some(path) = artifact.table_path(name) {
                let head = read_parquet(&path, Some(rows))?;
                print!("{}", format_head(&head)?);
            }
    }
    Ok(())
}

/// The work folder of a run of `stage`'s planned key that has not published yet (one that is
/// running, or was killed and resumes from there): `.rows/<kind>/<key>/`, as train keeps its
/// checkpoints and live curve.
fn unpublished_work(ws: &Workspace, stage: &str, key: Option<&str>) -> Option<std::path::PathBuf> {
    let kind = ws.pipeline.stages.get(stage)?.kind.kind();
    let dir = ws.store.root.join(".rows").join(kind).join(key?);
    (dir.is_dir() && ws.store.load(stage, key?).is_none()).then_some(dir)
}

/// A work folder's files, and the last `rows` rows of its CSV files (train's growing curve).
fn show_work(dir: &std::path::Path, rows: usize) -> Result<()> {
    println!("unpublished run (running now, or interrupted: `iamm-pipe run` resumes it)");
    println!("work      {}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        if !name.ends_with(".csv") {
            println!("file      {name}{}", if path.is_dir() { "/" } else { "" });
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let body: Vec<&str> = lines.collect();
        println!("\ncsv {name}: {} rows so far, the last {}:", body.len(), rows.min(body.len()));
        for line in &body[body.len().saturating_sub(rows)..] {
            let cells: Vec<String> = header.iter().zip(line.split(',')).map(|(h, v)| format!("{h}={v}")).collect();
            println!("  {}", cells.join(" "));
        }
    }
    println!();
    Ok(())
}

/// The first rows of a table, one line per row, long cells cut short.
fn format_head(batch: &RecordBatch) -> Result<String> {
    const WIDTH: usize = 48;
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = String::new();
    for row in 0..batch.num_rows() {
        let cells: Vec<String> = formatters
            .iter()
            .map(|f| {
                let s = f.value(row).to_string();
                if s.chars().count() > WIDTH { format!("{}…", s.chars().take(WIDTH).collect::<String>()) } else { s }
            })
            .collect();
        out.push_str(&format!("  [{row}] {}\n", cells.join(" | ")));
    }
    Ok(out)
}

/// `iamm-pipe stages`: every stage kind and its params.
pub fn stages() {
    for k in kinds::all() {
        println!("{}: {}", k.kind(), k.about());
        for p in k.params() {
            let role = if p.role == Role::Tuning { "; tuning, not in the cache key" } else { "" };
            println!(
                "  {:<16} {} (default: {}{role})\n  {:<16} {}",
                p.name,
                p.ty.describe(),
                p.default.unwrap_or("required"),
                "",
                p.help
            );
        }
    }
}

/// What each stage kind's code fingerprint covers (see `build/fingerprint.rs`).
pub fn stage_code() {
    for k in kinds::all() {
        let code = k.fingerprint();
        println!("{}: code {}", k.kind(), code.hash);
        println!("  adapters  {}", code.adapters.join(" "));
        println!("  crates    {}", code.crates.join(" "));
        println!("  locked    {} crates: {}", code.locked.len(), code.locked.join(", "));
    }
}
