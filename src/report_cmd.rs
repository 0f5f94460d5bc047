//! `iamm-pipe report`: prints the pipeline's latest Table 1 report and copies its files to
//! `reports/`; `iamm-pipe report --compare A B C …` puts the metrics of evaluated runs side by
//! side (stage names, artifact keys, `stage@key`, or patterns of stages), like `dvc metrics
//! diff` for any number of runs.

use anyhow::{Context, Result, anyhow, bail};
use iamm_tables::metrics::MetricsRow;
use serde_json::json;

use crate::inspect;
use crate::matrix::shell_quote;
use crate::kinds::report::FILES;
use crate::store::Artifact;
use crate::workspace::Workspace;

/// The artifact a stage name stands for: the one of its current key when built, else its
/// newest (with a warning on stderr).
fn current_or_newest(ws: &mut Workspace, stage: &str) -> Result<Artifact> {
    let (artifact, fresh) = inspect::current_or_latest(ws, stage)?;
    if !fresh {
        eprintln!(
            "warning: `{stage}` is stale for the current pipeline; using its newest artifact {} \
             (`iamm-pipe status {}` says why)",
            artifact.manifest.key,
            shell_quote(stage)
        );
    }
    Ok(artifact)
}

/// Prints the report of `stage` (default: the pipeline's only report stage) and copies its
/// files to `reports/` beside pipeline.yaml; with `json`, prints the report's rows as JSON.
pub fn show(ws: &mut Workspace, stage: Option<&str>, as_json: bool) -> Result<()> {
    let reports: Vec<String> =
        ws.pipeline.stages.iter().filter(|(_, d)| d.kind.kind() == "report").map(|(n, _)| n.clone()).collect();
    let stage = match (stage, reports.as_slice()) {
        (Some(s), _) if reports.iter().any(|r| r == s) => s.to_string(),
        (Some(s), _) if ws.pipeline.stages.contains_key(s) => {
            bail!("stage `{s}` is not a report stage (it uses `{}`); report stages: {}", ws.pipeline.stages[s].kind.kind(), list(&reports))
        }
        (Some(s), _) => bail!("no stage `{s}` in {}; report stages: {}", ws.pipeline.file.display(), list(&reports)),
        (None, [one]) => one.clone(),
        (None, []) => bail!(
            "{} has no report stage; add one (`uses: report`, deps: the evaluate stages) or compare runs with \
             `iamm-pipe report --compare A B`",
            ws.pipeline.file.display()
        ),
        (None, many) => bail!("several report stages ({}); name one: `iamm-pipe report STAGE`", list(many)),
    };
    let artifact = current_or_newest(ws, &stage)?;
    if as_json {
        let out = json!({
            "stage": stage,
            "key": artifact.manifest.key,
            "dir": artifact.dir.display().to_string(),
            "runs": artifact.manifest.stats["runs"],
            "systems": artifact.manifest.stats["systems"],
            "significance": artifact.manifest.stats["significance"],
            "sections": artifact.manifest.stats["sections"],
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let md = artifact.dir.join("report.md");
        print!("{}", std::fs::read_to_string(&md).with_context(|| format!("cannot read {}", md.display()))?);
    }
    let dest = ws.pipeline.base_dir.join("reports");
    std::fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    for f in FILES {
        // Another report stage's files get its name in front, so they do not overwrite these.
        let name = if stage == "report" { f.to_string() } else { format!("{stage}-{f}") };
        std::fs::copy(artifact.dir.join(f), dest.join(&name))
            .with_context(|| format!("cannot copy {f} of `{stage}` to {}", dest.display()))?;
    }
    eprintln!("report of `{stage}` (artifact {}) copied to {}", artifact.manifest.key, dest.display());
    Ok(())
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ") }
}

/// The runs `spec` names: `stage@key` (key or a unique prefix of it), a stage (its current
/// artifact, else its newest), an artifact key (or unique prefix) of any stage, or a pattern
/// (a matrix stage's name, a selector, a glob; see `Workspace::stages_named`) naming several
/// stages, each with its current or newest artifact; and whether it is a pattern.
fn resolve(ws: &mut Workspace, spec: &str) -> Result<(Vec<Artifact>, bool)> {
    if let Some((stage, key)) = spec.split_once('@') {
        let all = ws.store.all(stage);
        if !ws.pipeline.stages.contains_key(stage) && all.is_empty() {
            bail!("`{spec}`: no stage `{stage}` in {} and no artifacts of one", ws.pipeline.file.display());
        }
        let hint = keys_hint(&all);
        let found: Vec<Artifact> = all.into_iter().filter(|a| a.manifest.key.starts_with(key)).collect();
        return match found.len() {
            1 => Ok((found, false)),
            0 => bail!("`{spec}`: stage `{stage}` has no artifact with key `{key}`{hint}"),
            n => bail!("`{spec}`: {n} artifacts of `{stage}` start with `{key}`; give more of the key"),
        };
    }
    if ws.pipeline.stages.contains_key(spec) {
        return Ok((vec![current_or_newest(ws, spec)?], false));
    }
    if spec.len() >= 4 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        let found: Vec<Artifact> = ws
            .store
            .stages_on_disk()
            .iter()
            .flat_map(|s| ws.store.all(s))
            .filter(|a| a.manifest.key.starts_with(spec))
            .collect();
        match found.len() {
            1 => return Ok((found, false)),
            0 => {}
            n => bail!("`{spec}`: {n} artifacts have keys starting with it; use STAGE@KEY"),
        }
    }
    let stages = ws.stages_named(spec).map_err(|e| {
        anyhow!("`{spec}` is neither a stage, an artifact key, STAGE@KEY, nor a pattern of stages: {e:#}")
    })?;
    let mut found = Vec::new();
    for stage in &stages {
        if ws.pipeline.stages.contains_key(stage) {
            found.push(current_or_newest(ws, stage)?);
        } else if let Some(a) = ws.store.last_used(stage) {
            found.push(a);
        }
    }
    Ok((found, true))
}

fn keys_hint(artifacts: &[Artifact]) -> String {
    if artifacts.is_empty() {
        return " (it has none)".into();
    }
    format!("; its keys: {}", artifacts.iter().map(|a| a.manifest.key.as_str()).collect::<Vec<_>>().join(", "))
}

/// Prints every metric of the runs `specs` name side by side, with each one's change from the
/// first.
pub fn compare(ws: &mut Workspace, specs: &[String], as_json: bool) -> Result<()> {
    let mut sides: Vec<(Artifact, MetricsRow)> = Vec::new();
    for spec in specs {
        let (artifacts, pattern) = resolve(ws, spec)?;
        let mut evaluated = false;
        for artifact in artifacts {
            let m = &artifact.manifest;
            if !m.tables.contains_key("metrics") {
                if pattern {
                    continue;
                }
                bail!(
                    "`{spec}` is stage `{}` (kind {}), artifact {}, which has no `metrics` table; compare evaluate stages",
                    m.stage,
                    m.key_parts.kind,
                    m.key
                );
            }
            let metrics = iamm_tables::metrics::read(&artifact.read_table("metrics")?, &format!("metrics of `{spec}` (artifact {})", m.key))?;
            evaluated = true;
            // A pattern adds the runs not named yet; a run named on its own is always shown.
            if !(pattern && sides.iter().any(|(a, _)| a.dir == artifact.dir)) {
                sides.push((artifact, metrics));
            }
        }
        if !evaluated {
            bail!("`{spec}` names no run with a `metrics` table (an evaluate stage that has run)");
        }
    }
    if sides.len() < 2 {
        bail!("{} name(s) {} run; `--compare` needs at least two", specs.join(" "), sides.len());
    }
    let rows = iamm_report::compare(&sides.iter().map(|(_, m)| m.values.clone()).collect::<Vec<_>>());
    if as_json {
        let describe = |(a, m): &(Artifact, MetricsRow)| {
            json!({"stage": a.manifest.stage, "key": a.manifest.key, "variant": m.variant, "seed": m.seed, "params": a.manifest.params})
        };
        println!("{}", serde_json::to_string_pretty(&iamm_report::compare_json(sides.iter().map(describe).collect(), &rows))?);
    } else {
        let label = |(a, m): &(Artifact, MetricsRow)| {
            let seed = m.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
            format!("{}@{} ({}{seed})", a.manifest.stage, a.manifest.key, m.variant.as_deref().unwrap_or("?"))
        };
        print!("{}", iamm_report::compare_text(&sides.iter().map(label).collect::<Vec<_>>(), &rows));
    }
    Ok(())
}
