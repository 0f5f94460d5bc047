//! The association viewer: one self-contained HTML page of sampled test dialogues with the
//! analysed model's associated words highlighted and every compared system's response.
//!
//! Deps: exactly one analysis stage (the associations) and one or more evaluate stages (the
//! responses); each system is named by its dep's stage name and the variant its manifest
//! records.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use iamm_viewer::{ViewerOptions, render};
use serde_json::json;

use crate::needs::Need;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Viewer;

const ASSOCIATIONS: Need = Need::One { kind: "analysis", what: "the associations to show" };
const SYSTEMS: Need = Need::Some { kind: "evaluate", what: "the systems whose responses to compare" };

impl StageKind for Viewer {
    fn kind(&self) -> &'static str {
        "viewer"
    }
    fn about(&self) -> &'static str {
        "an HTML page of sampled test dialogues with associated words highlighted and the compared systems' responses \
         (paper Figure 1, Table 4)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        ViewerOptions::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::VIEWER
    }
    fn needs(&self) -> &'static [Need] {
        &[ASSOCIATIONS, SYSTEMS]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let opts = ViewerOptions::from_values(ctx.params)?;
        let (analysis, artifact) = ctx.one(&ASSOCIATIONS)?;
        let associations =
            iamm_tables::associations::read(&artifact.read_table("associations")?, &format!("associations of `{analysis}`"))?;

        let mut systems = Vec::new();
        for (name, artifact) in ctx.all(&SYSTEMS)? {
            // "evaluate (full)": the stage name says which run, the variant what was trained.
            let label = super::systems::system_label(name, artifact);
            let table = artifact.read_table("responses").with_context(|| format!("reading the responses of `{name}`"))?;
            let rows = iamm_tables::responses::read(&table, &format!("responses of `{label}`"))?;
            systems.push(iamm_viewer::Responses { label, rows });
        }
        let page = render(&associations, &systems, &opts).map_err(|e| anyhow!("{e}"))?;
        std::fs::write(ctx.out_dir.join("viewer.html"), &page.html).context("writing viewer.html")?;

        let shown = &page.shown;
        let u32s = |f: fn(&iamm_viewer::Shown) -> u32| Arc::new(UInt32Array::from_iter_values(shown.iter().map(f))) as ArrayRef;
        let sample = RecordBatch::try_from_iter([
            ("example_id", u32s(|s| s.example_id)),
            ("conv_id", Arc::new(StringArray::from_iter_values(shown.iter().map(|s| s.conv_id.as_str()))) as ArrayRef),
            ("gold_emotion", Arc::new(StringArray::from_iter_values(shown.iter().map(|s| s.gold_emotion.as_str())))),
            ("associations", u32s(|s| s.associations as u32)),
            ("highlighted", u32s(|s| s.highlighted.len() as u32)),
            ("marks", u32s(|s| s.marks as u32)),
        ])?;
        let labels: Vec<&str> = systems.iter().map(|s| s.label.as_str()).collect();
        let summary = format!(
            "viewer.html: {} of {} dialogues with associations, {} system(s): {}",
            shown.len(),
            page.eligible,
            labels.len(),
            labels.join(", ")
        );
        Ok(StageOutput {
            tables: vec![("viewer_sample".into(), sample)],
            stats: json!({
                "shown": shown.len(),
                "eligible": page.eligible,
                "without_associations": page.without_associations,
                "analysis": analysis,
                "systems": labels,
                "marks": shown.iter().map(|s| s.marks).sum::<usize>(),
                "html_bytes": page.html.len(),
            }),
            summary,
        })
    }
}
