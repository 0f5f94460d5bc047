//! `iamm-pipe runs`: every artifact in the store, current or not, one row each, like `dvc exp
//! show`; for notebooks as JSON, CSV or Parquet. Reads manifests and the one-row `metrics`
//! tables only, so it stays fast on a store of hundreds of artifacts.
//!
//! Columns, in this order:
//! - `stage` (a matrix member's full name), `base` (its declared stage), one column per matrix
//!   axis found in the member names (text, as in the name; `axis.<name>` where an axis is named
//!   like one of these columns), `kind`, `key`, `state`, `created` (UTC), `wall_s`;
//! - every param as `<kind>.<param>` (`train.seed`, `evaluate.batch_size`: kinds share param
//!   names with other meanings); an evaluate row also has the params of the training that made
//!   its model as `train.<param>`, so `train.variant` and `train.seed` are there whether or
//!   not the pipeline is a matrix;
//! - every column of a `metrics` table as `metrics.<column>` (`metrics.acc` a fraction,
//!   `metrics.variant`, `metrics.seed`; its `stage` and `key` are the row's own);
//! - for an evaluate run that a current report tested against IAMM: `sig.versus` (the IAMM
//!   system) and `sig.p_acc`, `sig.p_ppl`, `sig.p_dist1`, `sig.p_dist2`.
//!
//! `state`: `current` when the key is the one the pipeline plans now for that stage (under the
//! given `--profile` and `-p`); `stale` when it is not, but the stage's `current` link (the
//! artifact the last `run` used) points at it: the plan has moved on, or this profile does not
//! have the stage; `unused` otherwise (an older run, a sweep made by hand with `-p`).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Result, anyhow};
use iamm_report::sheet::{Column, Sheet, iso_time};
use iamm_tables::metrics::Cell;
use serde_json::{Map, Value, json};

use crate::matrix::parse_member;
use crate::store::{Artifact, read_parquet, write_parquet};
use crate::workspace::Workspace;

/// The columns every row has, before the axes (`stage`, `base`) and after them.
const LEADING: [&str; 2] = ["stage", "base"];
const IDENTITY: [&str; 5] = ["kind", "key", "state", "created", "wall_s"];

/// The metrics the text table shows, with their decimals.
const SHOWN: [(&str, usize); 4] = [("metrics.acc", 4), ("metrics.ppl", 2), ("metrics.dist1", 2), ("metrics.dist2", 2)];

/// One artifact's row: its fixed cells, then every other column by name.
struct Row {
    stage: String,
    base: String,
    axes: Vec<(String, String)>,
    kind: String,
    key: String,
    state: &'static str,
    created_ms: i64,
    wall_s: f64,
    cells: Vec<(String, Value)>,
}

pub fn runs(ws: &mut Workspace, patterns: &[String], as_json: bool, csv: Option<&Path>, parquet: Option<&Path>) -> Result<()> {
    let mut stages: Vec<String> = Vec::new();
    if patterns.is_empty() {
        // The pipeline's stages in its order, then those only in the store.
        let on_disk = ws.store.stages_on_disk();
        stages = ws.pipeline.topo_order().into_iter().filter(|s| on_disk.contains(s)).collect();
        stages.extend(on_disk.into_iter().filter(|s| !ws.pipeline.stages.contains_key(s)));
    }
    for p in patterns {
        for s in ws.stages_named(p)? {
            if !stages.contains(&s) {
                stages.push(s);
            }
        }
    }
    let planned: HashMap<String, String> =
        ws.plan_targets(&[])?.into_iter().filter_map(|(name, p)| p.ok().map(|p| (name, p.key))).collect();
    let tests = significance(ws, &planned);
    let mut rows = Vec::new();
    for stage in &stages {
        let link = ws.store.current_key(stage);
        for a in ws.store.all(stage) {
            let state = if planned.get(stage) == Some(&a.manifest.key) {
                "current"
            } else if link.as_deref() == Some(a.manifest.key.as_str()) {
                "stale"
            } else {
                "unused"
            };
            rows.push(row(&a, state, &tests)?);
        }
    }
    let sheet = sheet(&rows);
    if let Some(path) = csv {
        std::fs::write(path, sheet.csv()).map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {} row(s), {} column(s) to {}", rows.len(), sheet.columns.len(), path.display());
    }
    if let Some(path) = parquet {
        write_parquet(path, &sheet.batch()?)?;
        eprintln!("wrote {} row(s), {} column(s) to {}", rows.len(), sheet.columns.len(), path.display());
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&json!({"profile": ws.profile, "runs": json_rows(&sheet)}))?);
    } else if csv.is_none() && parquet.is_none() {
        print!("{}", text(&rows, &ws.store.root));
    }
    Ok(())
}

/// The p-values of the current report artifacts' tests, by the evaluate key of the tested
/// (non-IAMM) run: `sig.versus`, `sig.p_<metric>`.
fn significance(ws: &Workspace, planned: &HashMap<String, String>) -> HashMap<String, Vec<(String, Value)>> {
    let mut out: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    let reports = ws.pipeline.stages.iter().filter(|(_, d)| d.kind.kind() == "report");
    for (name, _) in reports {
        let Some(a) = planned.get(name).and_then(|key| ws.store.load(name, key)) else { continue };
        for c in a.manifest.stats["significance"]["comparisons"].as_array().into_iter().flatten() {
            for key in c["keys_b"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let cells = out.entry(key.to_string()).or_default();
                if cells.is_empty() {
                    cells.push(("sig.versus".into(), c["system_a"].clone()));
                }
                let column = format!("sig.p_{}", c["metric"].as_str().unwrap_or("?"));
                if !cells.iter().any(|(n, _)| *n == column) {
                    cells.push((column, c["p"].clone()));
                }
            }
        }
    }
    out
}

fn row(a: &Artifact, state: &'static str, tests: &HashMap<String, Vec<(String, Value)>>) -> Result<Row> {
    let m = &a.manifest;
    let kind = m.key_parts.kind.clone();
    let (base, coords) = parse_member(&m.stage).map(|(b, c)| (b.to_string(), c)).unwrap_or_else(|| (m.stage.clone(), Default::default()));
    let mut cells: Vec<(String, Value)> = m.params.iter().map(|(p, v)| (format!("{kind}.{p}"), v.clone())).collect();
    if kind != "train"
        && let Some(train) = m.stats["train"]["params"].as_object()
    {
        cells.extend(train.iter().map(|(p, v)| (format!("train.{p}"), v.clone())));
    }
    if let Some(path) = a.table_path("metrics") {
        let table = read_parquet(&path, None)?;
        let metrics = iamm_tables::metrics::cells(&table, &format!("metrics ({})", path.display()))?;
        cells.extend(metrics.into_iter().filter(|(n, _)| n != "stage" && n != "key").map(|(n, v)| (format!("metrics.{n}"), json_of(v))));
    }
    cells.extend(tests.get(&m.key).into_iter().flatten().cloned());
    Ok(Row {
        stage: m.stage.clone(),
        base,
        axes: coords.into_iter().collect(),
        kind,
        key: m.key.clone(),
        state,
        created_ms: i64::try_from(m.created_unix_ms).unwrap_or(i64::MAX),
        wall_s: m.wall_time_s,
        cells,
    })
}

/// A table's cell as the runs table's other cells are: JSON (a non-finite number as null).
fn json_of(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(t) => json!(t),
        Cell::Int(i) => json!(i),
        Cell::Float(f) => json!(f),
    }
}

/// Every row's cells as typed columns: the fixed ones, the axes, then every other column in
/// the order rows first have it.
fn sheet(rows: &[Row]) -> Sheet {
    let mut sheet = Sheet::default();
    let text = |f: &dyn Fn(&Row) -> Option<String>| Column::Text(rows.iter().map(f).collect());
    sheet.push("stage", text(&|r| Some(r.stage.clone())));
    sheet.push("base", text(&|r| Some(r.base.clone())));
    let axes: BTreeSet<&String> = rows.iter().flat_map(|r| r.axes.iter().map(|(a, _)| a)).collect();
    for axis in axes {
        let name = if LEADING.contains(&axis.as_str()) || IDENTITY.contains(&axis.as_str()) { format!("axis.{axis}") } else { axis.clone() };
        sheet.push(name, text(&|r| r.axes.iter().find(|(a, _)| a == axis).map(|(_, v)| v.clone())));
    }
    sheet.push("kind", text(&|r| Some(r.kind.clone())));
    sheet.push("key", text(&|r| Some(r.key.clone())));
    sheet.push("state", text(&|r| Some(r.state.to_string())));
    sheet.push("created", Column::Time(rows.iter().map(|r| Some(r.created_ms)).collect()));
    sheet.push("wall_s", Column::Float(rows.iter().map(|r| Some(r.wall_s)).collect()));
    let mut names: Vec<&String> = Vec::new();
    for (n, _) in rows.iter().flat_map(|r| &r.cells) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in names {
        let values: Vec<&Value> = rows.iter().map(|r| r.cells.iter().find(|(n, _)| n == name).map_or(&Value::Null, |(_, v)| v)).collect();
        sheet.push(name.clone(), typed(&values));
    }
    sheet
}

/// A column of JSON values as the narrowest type that holds them all: booleans, integers,
/// numbers, text; anything else (lists, mixed types) as JSON text.
fn typed(values: &[&Value]) -> Column {
    let present = || values.iter().filter(|v| !v.is_null());
    if present().all(|v| v.is_boolean()) && present().next().is_some() {
        Column::Bool(values.iter().map(|v| v.as_bool()).collect())
    } else if present().all(|v| v.is_i64()) && present().next().is_some() {
        Column::Int(values.iter().map(|v| v.as_i64()).collect())
    } else if present().all(|v| v.is_number()) && present().next().is_some() {
        Column::Float(values.iter().map(|v| v.as_f64()).collect())
    } else {
        Column::Text(
            values
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect(),
        )
    }
}

/// The sheet's rows as JSON objects, every column in each (null where a row has no value).
fn json_rows(sheet: &Sheet) -> Vec<Value> {
    (0..sheet.rows())
        .map(|i| {
            let row: Map<String, Value> = sheet
                .columns
                .iter()
                .map(|(name, c)| {
                    let v = match c {
                        Column::Text(v) => json!(v[i]),
                        Column::Float(v) => json!(v[i]),
                        Column::Int(v) => json!(v[i]),
                        Column::Count(v) => json!(v[i]),
                        Column::Bool(v) => json!(v[i]),
                        Column::Time(v) => json!(v[i].map(iso_time)),
                    };
                    (name.clone(), v)
                })
                .collect();
            Value::Object(row)
        })
        .collect()
}

/// A compact aligned table: stage, kind, key, state, when, wall time and Table 1's metrics
/// where any row has them; long stage names cut.
fn text(rows: &[Row], store: &Path) -> String {
    const STAGE_WIDTH: usize = 40;
    if rows.is_empty() {
        return format!("no artifacts in {}: `iamm-pipe run` makes them\n", store.display());
    }
    let cut = |s: &str| match s.char_indices().nth(STAGE_WIDTH - 1) {
        Some((at, _)) if s.chars().count() > STAGE_WIDTH => format!("{}…", &s[..at]),
        _ => s.to_string(),
    };
    let shown: Vec<(&str, usize)> =
        SHOWN.iter().copied().filter(|(m, _)| rows.iter().any(|r| r.cells.iter().any(|(n, _)| n == m))).collect();
    let mut table: Vec<Vec<String>> = vec![["stage", "kind", "key", "state", "created", "wall"].iter().map(|s| s.to_string()).collect()];
    table[0].extend(shown.iter().map(|(m, _)| m.trim_start_matches("metrics.").to_string()));
    for r in rows {
        let mut line = vec![
            cut(&r.stage),
            r.kind.clone(),
            r.key.clone(),
            r.state.to_string(),
            iso_time(r.created_ms)[..16].replace('T', " "),
            format!("{:.1}s", r.wall_s),
        ];
        for (m, decimals) in &shown {
            let v = r.cells.iter().find(|(n, _)| n == m).and_then(|(_, v)| v.as_f64());
            line.push(v.map(|v| format!("{v:.decimals$}")).unwrap_or_else(|| "-".into()));
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len()).map(|c| table.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for line in &table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| if c >= 5 { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let count = |s: &str| rows.iter().filter(|r| r.state == s).count();
    let stages: BTreeSet<&str> = rows.iter().map(|r| r.stage.as_str()).collect();
    out.push_str(&format!(
        "{} artifact(s) of {} stage(s): {} current, {} stale, {} unused (UTC times; every param and metric: --json, --csv FILE, --parquet FILE)\n",
        rows.len(),
        stages.len(),
        count("current"),
        count("stale"),
        count("unused")
    ));
    out
}
