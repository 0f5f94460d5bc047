//! The report stage: Table 1 over every evaluate stage among its deps, the paper's rows
//! beside ours (logic in `iamm-report`), plus the `report_section.md` any dep publishes.

use anyhow::{Result, anyhow, bail};
use iamm_report::{Run, Section};
use serde_json::{Value, json};

use super::Code;
use crate::needs::Need;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Report;

/// Table 1's rows.
const SYSTEMS: Need = Need::Any { kind: "evaluate" };
/// Whatever they are, deps may publish a section to append.
const SECTIONS: Need = Need::Every;

/// The file a dep publishes to have it appended to the report.
pub const SECTION_FILE: &str = "report_section.md";
/// Files the report stage publishes (and `iamm-pipe report` copies to reports/).
pub const FILES: [&str; 3] = ["report.md", "table1.tex", "table1.csv"];

impl StageKind for Report {
    fn kind(&self) -> &'static str {
        "report"
    }
    fn about(&self) -> &'static str {
        "Table 1 (Markdown, LaTeX, CSV) of every evaluate stage among its deps beside the paper's rows, with \
         traceability; appends each dep's report_section.md"
    }
    fn params(&self) -> &'static [ParamSpec] {
        &[]
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::REPORT
    }
    fn needs(&self) -> &'static [Need] {
        &[SYSTEMS, SECTIONS]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let mut runs = Vec::new();
        for (name, artifact) in ctx.all(&SYSTEMS)? {
            let m = &artifact.manifest;
            let table = artifact.read_table("metrics")?;
            let metrics = iamm_tables::metrics::read(&table, &format!("metrics of dep `{name}` (artifact {})", m.key))?;
            runs.push(Run {
                stage: name.to_string(),
                key: m.key.clone(),
                variant: m.stats["variant"].as_str().unwrap_or("unknown").to_string(),
                metrics,
                params: serde_json::to_value(&m.params)?,
                provenance: json!({"train": m.stats["train"], "tokenize": m.stats["tokenize"]}),
            });
        }
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
        runs.sort_by(|a, b| (iamm_report::variant_rank(&a.variant), &a.stage).cmp(&(iamm_report::variant_rank(&b.variant), &b.stage)));

        std::fs::write(ctx.out_dir.join("report.md"), iamm_report::markdown(&runs, &sections))?;
        std::fs::write(ctx.out_dir.join("table1.tex"), iamm_report::latex(&runs))?;
        std::fs::write(ctx.out_dir.join("table1.csv"), iamm_report::csv(&runs))?;
        let table1 = iamm_report::table1(&runs)?;

        let rows: Vec<Value> = runs
            .iter()
            .map(|r| {
                let metrics: serde_json::Map<String, Value> = r.metrics.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
                json!({"stage": r.stage, "key": r.key, "variant": r.variant, "label": r.label(), "metrics": metrics})
            })
            .collect();
        let summary = format!(
            "Table 1: {} row(s) of ours beside the paper's {}{}",
            runs.len(),
            iamm_report::PAPER_TABLE1.len(),
            if sections.is_empty() { String::new() } else { format!(", {} appended section(s)", sections.len()) }
        );
        Ok(StageOutput {
            tables: vec![("table1".into(), table1)],
            stats: json!({
                "runs": rows,
                "sections": sections.iter().map(|s| json!({"stage": s.stage, "key": s.key})).collect::<Vec<_>>(),
            }),
            summary,
        })
    }
}
