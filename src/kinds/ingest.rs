use anyhow::Result;
use iamm_ingest::{IngestParams, SourceKind};
use serde_json::json;

use crate::matrix::shell_quote;
use crate::params::Params;
use crate::schedule::Resources;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct Ingest;

impl StageKind for Ingest {
    fn kind(&self) -> &'static str {
        "ingest"
    }
    fn about(&self) -> &'static str {
        "reads EmpatheticDialogues CSVs into dialogues and examples (one per listener turn) per split"
    }
    fn params(&self) -> &'static [ParamSpec] {
        IngestParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::INGEST
    }
    fn resources(&self, _: &Params) -> Resources {
        Resources::cpu(0, 512)
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let params = IngestParams::from_values(ctx.params)?;
        let source = &params.source;
        let bar = ctx.bar(0, "reading", "bytes");
        let ingested = iamm_ingest::ingest(source, &params.options(), &bar)?;
        bar.finish_and_clear();
        let mut tables = Vec::new();
        let mut counts = serde_json::Map::new();
        let (mut dialogues, mut examples) = (0, 0);
        for split in ingested.splits {
            counts.insert(
                split.split.to_string(),
                json!({"dialogues": split.dialogues.num_rows(), "examples": split.examples.num_rows()}),
            );
            dialogues += split.dialogues.num_rows();
            examples += split.examples.num_rows();
            tables.push((format!("dialogues_{}", split.split), split.dialogues));
            tables.push((format!("examples_{}", split.split), split.examples));
        }
        let source_json = match &ingested.source_kind {
            SourceKind::Folder => json!({"kind": "folder", "path": source.display().to_string()}),
            SourceKind::Archive { sha256 } => {
                json!({"kind": "archive", "path": source.display().to_string(), "sha256": sha256})
            }
        };
        let skipped: Vec<_> = ingested
            .skipped
            .iter()
            .map(|b| json!({"file": b.file, "line": b.line, "problem": b.problem}))
            .collect();
        let shared = &ingested.shared_conv_ids;
        let mut summary = format!("{dialogues} dialogues, {examples} examples");
        if !shared.is_empty() {
            // Kept (the splits are the data's), but a conversation in train and test leaks.
            let message = format!(
                "warning: {} conv_id(s) appear in more than one split, e.g. {}; the splits are kept as they are, \
                 but a conversation in both train and test inflates test scores (all listed in `iamm-pipe show {}`, \
                 `stats.shared_conv_ids`)",
                shared.len(),
                shared[0],
                shell_quote(ctx.stage)
            );
            ctx.progress.suspend(|| eprintln!("{message}"));
            summary.push_str(&format!(", {} conv_id(s) in two splits", shared.len()));
        }
        let shared_json: Vec<_> = shared
            .iter()
            .map(|c| {
                let places: Vec<_> =
                    c.places.iter().map(|(split, file, line)| json!({"split": split, "file": file, "line": line})).collect();
                json!({"conv_id": c.conv_id, "places": places})
            })
            .collect();
        if !skipped.is_empty() {
            summary.push_str(&format!(", {} bad lines skipped (see `iamm-pipe show {}`)", skipped.len(), shell_quote(ctx.stage)));
        }
        Ok(StageOutput {
            tables,
            stats: json!({
                "source": source_json,
                "splits": counts,
                "skipped_lines": {"count": skipped.len(), "lines": skipped},
                "shared_conv_ids": {"count": shared_json.len(), "conv_ids": shared_json},
            }),
            summary,
        })
    }
}
