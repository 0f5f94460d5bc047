//! The report stage: Table 1 over every evaluate stage among its deps, grouped into systems,
//! the paper's rows beside ours, paired significance tests (logic in `iamm-report`), plus the
//! `report_section.md` any dep publishes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Result, anyhow, bail};
use iamm_report::params::ReportParams;
use iamm_report::responses::Outputs;
use iamm_report::{Report as Table1, Run, Section, Tests, significance};
use serde_json::{Value, json};

use super::Code;
use crate::needs::Need;
use crate::params::Params;
use crate::schedule::Resources;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};
use crate::store::Artifact;

pub struct Report;

/// Table 1's rows.
const SYSTEMS: Need = Need::Any { kind: "evaluate" };
/// Whatever they are, deps may publish a section to append.
const SECTIONS: Need = Need::Every;

/// The file a dep publishes to have it appended to the report.
pub const SECTION_FILE: &str = "report_section.md";
/// Files the report stage publishes (and `iamm-pipe report` copies to reports/).
pub const FILES: [&str; 6] = ["report.md", "table1.tex", "table1.csv", "table1_runs.csv", "significance.tex", "significance.csv"];

impl StageKind for Report {
    fn kind(&self) -> &'static str {
        "report"
    }
    fn about(&self) -> &'static str {
        "Table 1 (Markdown, LaTeX, CSV) of every evaluate stage among its deps, grouped into systems (mean and sd \
         over seeds) beside the paper's rows, paired significance tests against IAMM, traceability; appends each \
         dep's report_section.md"
    }
    fn params(&self) -> &'static [ParamSpec] {
        ReportParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::REPORT
    }
    fn needs(&self) -> &'static [Need] {
        &[SYSTEMS, SECTIONS]
    }
    /// The tests run in parallel on every core.
    fn resources(&self, p: &Params) -> Resources {
        match p.str("significance") {
            Ok("none") => Resources::default(),
            _ => Resources::cpu(0, 1024),
        }
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ReportParams::from_values(ctx.params)?;
        let evaluated = ctx.all(&SYSTEMS)?;
        let runs = evaluated.iter().map(|(name, artifact)| run_of(name, artifact)).collect::<Result<Vec<_>>>()?;
        let deps = ctx.all(&SECTIONS)?;
        let mut sections = Vec::new();
        for (name, artifact) in &deps {
            let section = artifact.dir.join(SECTION_FILE);
            if section.is_file() {
                let text = std::fs::read_to_string(&section).map_err(|e| anyhow!("cannot read {}: {e}", section.display()))?;
                sections.push(Section { stage: name.to_string(), key: artifact.manifest.key.clone(), text });
            }
        }
        if runs.is_empty() && sections.is_empty() {
            bail!(
                "stage `{}`: none of its deps ({}) is an evaluate stage (with a `metrics` table) or publishes {SECTION_FILE}; \
                 list the evaluate stages in `deps:`",
                ctx.stage,
                deps.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            );
        }
        let mut report = Table1::new(runs, sections);
        if let Some(opts) = p.tests() {
            let (pairings, notes) = significance::pairings(&report.runs, &report.systems);
            let paired: BTreeSet<&str> =
                pairings.iter().flat_map(|p| p.runs_a.iter().chain(&p.runs_b)).map(|&r| report.runs[r].key.as_str()).collect();
            let mut outputs = HashMap::new();
            for (name, artifact) in evaluated.iter().filter(|(_, a)| paired.contains(a.manifest.key.as_str())) {
                let key = &artifact.manifest.key;
                let what = format!("responses of `{name}` (artifact {key})");
                let table = artifact.read_table("responses")?;
                outputs.insert(key.clone(), Outputs::of(iamm_tables::responses::read(&table, &what)?));
            }
            let comparisons = significance::test_all(&report.runs, &report.systems, &pairings, &outputs, &opts)
                .map_err(|e| anyhow!("stage `{}`, significance tests: {e}", ctx.stage))?;
            report.tests = Tests { settings: Some(opts), comparisons, notes };
        }

        let (table1, runs_table, tests_table) =
            (iamm_report::table1(&report), iamm_report::runs_table(&report), iamm_report::significance_table(&report.tests));
        std::fs::write(ctx.out_dir.join("report.md"), iamm_report::markdown(&report))?;
        std::fs::write(ctx.out_dir.join("table1.tex"), iamm_report::latex(&report))?;
        std::fs::write(ctx.out_dir.join("table1.csv"), table1.csv())?;
        std::fs::write(ctx.out_dir.join("table1_runs.csv"), runs_table.csv())?;
        std::fs::write(ctx.out_dir.join("significance.tex"), iamm_report::significance_latex(&report.tests))?;
        std::fs::write(ctx.out_dir.join("significance.csv"), tests_table.csv())?;

        let summary = format!(
            "Table 1: {} system(s) of ours from {} run(s) beside the paper's {}{}{}",
            report.systems.len(),
            report.runs.len(),
            iamm_report::PAPER_TABLE1.len(),
            match report.tests.settings {
                Some(_) => format!(", {} significance test(s)", report.tests.comparisons.len()),
                None => String::new(),
            },
            match report.sections.len() {
                0 => String::new(),
                n => format!(", {n} appended section(s)"),
            }
        );
        Ok(StageOutput {
            tables: vec![
                ("table1".into(), table1.batch()?),
                ("table1_runs".into(), runs_table.batch()?),
                ("significance".into(), tests_table.batch()?),
            ],
            stats: stats(&report),
            summary,
        })
    }
}

/// One evaluate artifact as a run of Table 1, with the configuration that makes its system:
/// its own key params and input files (as in its cache key), its upstream artifacts but the
/// model, and in the model's place the params of the training that made it, less `seed`.
fn run_of(name: &str, artifact: &Artifact) -> Result<Run> {
    let m = &artifact.manifest;
    let row = iamm_tables::metrics::read(&artifact.read_table("metrics")?, &format!("metrics of dep `{name}` (artifact {})", m.key))?;
    let train = &m.stats["train"];
    let parts = &m.key_parts;
    let mut config: BTreeMap<String, Value> = BTreeMap::new();
    for (param, value) in &parts.params {
        config.insert(format!("{}.{param}", parts.kind), value.clone());
    }
    for (param, input) in &parts.inputs {
        config.insert(format!("{}.{param}", parts.kind), json!(input.hash));
    }
    for (stage, key) in &parts.upstream {
        if train["stage"].as_str() != Some(stage.as_str()) {
            config.insert(format!("upstream.{stage}"), json!(key));
        }
    }
    for (param, value) in train["params"].as_object().into_iter().flatten().filter(|(p, _)| *p != "seed") {
        config.insert(format!("train.{param}"), value.clone());
    }
    Ok(Run {
        stage: name.to_string(),
        key: m.key.clone(),
        variant: row.variant.or_else(|| m.stats["variant"].as_str().map(str::to_string)).unwrap_or_else(|| "unknown".into()),
        seed: row.seed,
        metrics: row.values,
        params: serde_json::to_value(&m.params)?,
        provenance: json!({"train": m.stats["train"], "tokenize": m.stats["tokenize"]}),
        config,
    })
}

/// The manifest's stats: each run, each system with its means, the tests (with the artifact
/// keys of the runs each compared, which `iamm-pipe runs` joins on), the sections.
fn stats(r: &Table1) -> Value {
    let runs: Vec<Value> = r
        .runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let metrics: serde_json::Map<String, Value> = run.metrics.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
            json!({"stage": run.stage, "key": run.key, "variant": run.variant, "seed": run.seed, "system": r.system_of(i).label,
                   "label": run.label(), "metrics": metrics})
        })
        .collect();
    let systems: Vec<Value> = r
        .systems
        .iter()
        .map(|s| {
            let mut metrics = serde_json::Map::new();
            for (name, _) in s.runs.first().map(|&i| r.runs[i].metrics.as_slice()).unwrap_or_default() {
                if let Some(m) = s.summary(&r.runs, name) {
                    metrics.insert(name.clone(), json!({"mean": m.mean, "sd": m.sd, "n": m.n}));
                }
            }
            json!({"system": s.label, "variant": s.variant, "seeds": s.seeds(&r.runs),
                   "stages": s.runs.iter().map(|&i| &r.runs[i].stage).collect::<Vec<_>>(), "metrics": metrics})
        })
        .collect();
    let t = &r.tests;
    let comparisons: Vec<Value> = t
        .comparisons
        .iter()
        .map(|c| {
            let o = &c.outcome;
            json!({"system_a": c.system_a, "system_b": c.system_b, "metric": c.metric, "a": o.a, "b": o.b,
                   "difference": c.difference(), "p": o.p, "runs": c.runs(), "keys_a": c.keys_a, "keys_b": c.keys_b,
                   "seeds_a": c.seeds_a, "seeds_b": c.seeds_b, "note": c.note})
        })
        .collect();
    let significance = match t.settings {
        Some(o) => json!({"method": iamm_report::params::method_word(o.method), "resamples": o.resamples, "seed": o.seed,
                          "comparisons": comparisons, "notes": t.notes}),
        None => json!({"method": "none"}),
    };
    json!({
        "runs": runs,
        "systems": systems,
        "significance": significance,
        "sections": r.sections.iter().map(|s| json!({"stage": s.stage, "key": s.key})).collect::<Vec<_>>(),
    })
}
