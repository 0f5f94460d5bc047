//! Human evaluation (paper Table 2): `human_eval` exports blinded A/B sheets for two
//! evaluated systems; `human_eval_score` scores the filled sheets (or, for the demo, sheets
//! filled by seeded simulated annotators, labelled as such everywhere).

use anyhow::{Context, Result, anyhow, bail};
use iamm_human_eval::{
    ExportParams, Key, SIMULATED, ScoreParams, check_annotators, export, fill_sheet, read_sheets_dir,
    responses_from_batch, score, simulated_answers, write_export,
};
use serde_json::json;

use crate::matrix::shell_quote;
use crate::needs::Need;
use super::Code;
use crate::stage::{ParamSpec, StageContext, StageKind, StageOutput};

pub struct HumanEval;
pub struct HumanEvalScore;

const PROPOSED: Need = Need::Named { param: "proposed", kind: "evaluate" };
const BASELINE: Need = Need::Named { param: "baseline", kind: "evaluate" };
const EXPORT: Need = Need::One { kind: "human_eval", what: "the export whose sheets to score" };

impl StageKind for HumanEval {
    fn kind(&self) -> &'static str {
        "human_eval"
    }
    fn about(&self) -> &'static str {
        "blinded A/B human-evaluation sheets (CSV, XLSX) for two evaluated systems, with the unblinding key (paper Table 2)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        ExportParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::HUMAN_EVAL
    }
    fn needs(&self) -> &'static [Need] {
        &[PROPOSED, BASELINE]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ExportParams::from_values(ctx.params)?;
        if p.proposed == p.baseline {
            bail!("`proposed` and `baseline` are both `{}`; name two different evaluate stages among the deps", p.proposed);
        }
        let read = |need: &Need| -> Result<(String, Vec<iamm_human_eval::ResponseRow>)> {
            let (dep, artifact) = ctx.one(need)?;
            let rows = responses_from_batch(&artifact.read_table("responses")?, &format!("responses of `{dep}`"))?;
            Ok((super::systems::system_label(dep, artifact), rows))
        };
        let (p_name, p_rows) = read(&PROPOSED)?;
        let (b_name, b_rows) = read(&BASELINE)?;
        let opts = p.options(p_name.clone(), b_name.clone());
        let ex = export(&p_rows, &b_rows, &opts)?;
        write_export(ctx.out_dir, &ex)?;
        let key = ex.key()?;
        let pairs = key.rows.iter().filter(|r| r.kind == iamm_human_eval::ItemKind::Pair).count();
        let shown = ex.sheets.first().map_or(0, |s| s.item_ids.len());
        Ok(StageOutput {
            tables: vec![("human_eval_key".into(), key.to_batch()?)],
            stats: json!({
                "proposed": p_name,
                "baseline": b_name,
                "shared_examples": ex.joined,
                "identical_responses": ex.identical_found,
                "requested_sample": opts.sample,
                "sampled": ex.sampled,
                "pairs_shown": pairs,
                "auto_ties": ex.auto_ties,
                "attention_checks": opts.attention_checks,
                "items_per_sheet": shown,
                "annotators": opts.annotators,
                "only_in_proposed": ex.only_proposed,
                "only_in_baseline": ex.only_baseline,
            }),
            summary: format!(
                "{pairs} pairs{} + {} checks for {} annotators: hand out sheets/ (see `iamm-pipe show {}`), keep key.csv",
                if ex.auto_ties > 0 { format!(" (+{} identical = ties)", ex.auto_ties) } else { String::new() },
                opts.attention_checks,
                opts.annotators,
                shell_quote(ctx.stage)
            ),
        })
    }
}

impl StageKind for HumanEvalScore {
    fn kind(&self) -> &'static str {
        "human_eval_score"
    }
    fn about(&self) -> &'static str {
        "scores filled human_eval sheets: Win/Lose/Tie, Fleiss' kappa and a sign test per aspect, beside the paper's Table 2"
    }
    fn params(&self) -> &'static [ParamSpec] {
        ScoreParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::HUMAN_EVAL
    }
    fn needs(&self) -> &'static [Need] {
        &[EXPORT]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ScoreParams::from_values(ctx.params)?;
        let (export_stage, export) = ctx.one(&EXPORT)?;
        let key = Key::from_batch(&export.read_table("human_eval_key")?, &format!("the key of `{export_stage}`"))?;
        let aggregate = p.aggregate;
        // The exported sheets, and how many the export wrote (its `annotators` param).
        let src_dir = export.dir.join("sheets");
        let mut sources: Vec<_> = std::fs::read_dir(&src_dir)
            .with_context(|| format!("the sheets of `{export_stage}` ({})", src_dir.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("annotator_") && n.ends_with(".csv"))
            .collect();
        sources.sort_by_key(|n| n.trim_start_matches("annotator_").trim_end_matches(".csv").parse::<usize>().unwrap_or(0));
        let written = export.manifest.stats.get("annotators").and_then(|v| v.as_u64()).map_or(sources.len(), |n| n as usize);
        let accept = p.annotators;
        let (sheets, label, dir) = match p.sheets {
            Some(dir) => {
                if !dir.is_dir() {
                    bail!(
                        "`sheets` is {}, which is not a folder; put the filled sheets (one .csv or .xlsx per annotator) in a folder and name that",
                        dir.display()
                    );
                }
                (read_sheets_dir(&dir, &key)?, None, dir)
            }
            None => {
                // Fill the exported CSV sheets as seeded simulated annotators would, then read
                // them back through the same validation as real ones.
                let seed = p.simulation_seed;
                let dst_dir = ctx.out_dir.join("simulated_sheets");
                std::fs::create_dir_all(&dst_dir)?;
                for (i, name) in sources.iter().take(accept.unwrap_or(written)).enumerate() {
                    let answers = simulated_answers(&key, seed, i + 1);
                    fill_sheet(&src_dir.join(name), &dst_dir.join(name), |id| {
                        answers.get(id).map(|a| a.map(|x| x.as_str().to_string())).unwrap_or_default()
                    })?;
                }
                (read_sheets_dir(&dst_dir, &key)?, Some(SIMULATED.to_string()), dst_dir)
            }
        };
        check_annotators(&sheets, written, accept, &shell_quote(ctx.stage), &dir)
            .with_context(|| format!("scoring the sheets of `{export_stage}`"))?;
        let mut scores = score(&key, &sheets, aggregate)?;
        scores.label = label.clone();
        for (name, text) in [
            ("table2.md", scores.table2_markdown()),
            ("table2.tex", scores.table2_latex()),
            ("table2.csv", scores.table2_csv()),
            ("report_section.md", scores.report_section()),
        ] {
            std::fs::write(ctx.out_dir.join(name), text).map_err(|e| anyhow!("writing {name}: {e}"))?;
        }
        let aspects: serde_json::Map<String, serde_json::Value> = scores
            .aspects
            .iter()
            .map(|a| {
                (
                    a.aspect.column().to_string(),
                    json!({"win": a.win_pct, "lose": a.lose_pct, "tie": a.tie_pct, "kappa": a.kappa, "p_value": a.p_value,
                           "win_n": a.win, "lose_n": a.lose, "tie_n": a.tie}),
                )
            })
            .collect();
        let attention: Vec<_> = scores
            .attention
            .iter()
            .map(|a| json!({"sheet": a.file, "passed": a.passed, "total": a.total, "answers_right": a.answers_right}))
            .collect();
        let headline = scores
            .aspects
            .iter()
            .map(|a| {
                format!(
                    "{} {:.1}/{:.1}/{:.1} κ {}",
                    a.aspect.short(),
                    a.win_pct,
                    a.lose_pct,
                    a.tie_pct,
                    a.kappa.map(|k| format!("{k:.2}")).unwrap_or_else(|| "n/a".into())
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(StageOutput {
            tables: scores.tables()?,
            stats: json!({
                "label": label,
                "simulated": scores.label.is_some(),
                "comparison": scores.comparison(),
                "aggregate": aggregate.name(),
                "annotators": scores.annotators,
                "pairs": scores.pairs,
                "auto_ties": scores.auto_ties,
                "aspects": aspects,
                "attention": attention,
            }),
            summary: format!(
                "{}win/lose/tie % {headline} ({} annotators)",
                label.map(|l| format!("{}: ", l.to_uppercase())).unwrap_or_default(),
                scores.annotators.len()
            ),
        })
    }
}
