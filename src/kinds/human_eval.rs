//! Human evaluation (paper Table 2): `human_eval` exports blinded A/B sheets for two
//! evaluated systems; `human_eval_score` scores the filled sheets (or, for the demo, sheets
//! filled by seeded simulated annotators, labelled as such everywhere).

use anyhow::{Context, Result, anyhow, bail};
use iamm_human_eval::{
    Aggregate, ExportOptions, Identical, Key, SIMULATED, check_annotators, export, fill_sheet, read_sheets_dir, score,
    simulated_answers, write_export,
};
use iamm_tables::responses::Response;
use serde_json::json;

use crate::params::{OPTIONAL_PATH, ParamSpec, ParamType, Role};
use crate::needs::Need;
use super::Code;
use crate::stage::{StageContext, StageKind, StageOutput};

pub struct HumanEval;
pub struct HumanEvalScore;

const SEED: ParamType = ParamType::Int { min: 0, max: i64::MAX };

static EXPORT_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "proposed",
        ty: ParamType::Str,
        default: None,
        help: "the dep (an evaluate stage) whose responses are the proposed system; Win means it was preferred",
        role: Role::Key,
    },
    ParamSpec { name: "baseline", ty: ParamType::Str, default: None, help: "the dep (an evaluate stage) compared against", role: Role::Key },
    ParamSpec {
        name: "sample",
        ty: ParamType::Int { min: 1, max: 1_000_000 },
        default: Some("100"),
        help: "test dialogues to rate, drawn with the seed (all eligible ones when fewer)",
        role: Role::Key,
    },
    ParamSpec { name: "annotators", ty: ParamType::Int { min: 1, max: 1000 }, default: Some("3"), help: "sheets to write, one per annotator", role: Role::Key },
    ParamSpec { name: "seed", ty: SEED, default: Some("42"), help: "seeds the sample, the A/B sides, the item ids and each sheet's order", role: Role::Key },
    ParamSpec {
        name: "identical",
        ty: ParamType::Choice(&["tie", "drop"]),
        default: Some("\"tie\""),
        help: "identical responses: tie = not shown, scored as a tie by every annotator; drop = left out of the sample",
        role: Role::Key,
    },
    ParamSpec {
        name: "attention_checks",
        ty: ParamType::Int { min: 0, max: 1000 },
        default: Some("3"),
        help: "extra items with a known answer: a dialogue's human reply vs another dialogue's reply with its words shuffled",
        role: Role::Key,
    },
];

static SCORE_PARAMS: &[ParamSpec] = &[
    ParamSpec {
        name: "sheets",
        ty: OPTIONAL_PATH,
        default: Some("null"),
        help: "folder of filled sheets (.csv or .xlsx, one per annotator); null = sheets filled by seeded simulated \
               annotators (demo only; every output says so)",
        role: Role::Key,
    },
    ParamSpec {
        name: "aggregate",
        ty: ParamType::Choice(&["pooled", "majority"]),
        default: Some("\"pooled\""),
        help: "pooled = every judgement counts (the paper's description); majority = one outcome per item (no majority = tie)",
        role: Role::Key,
    },
    ParamSpec {
        name: "annotators",
        ty: ParamType::Nullable(&ParamType::Int { min: 1, max: 1000 }),
        default: Some("null"),
        help: "sheets to score; null = as many as human_eval wrote (a sheet missing from `sheets` is an error); \
               fewer = score only the sheets that came back (simulated: the first N)",
        role: Role::Key,
    },
    ParamSpec { name: "simulation_seed", ty: SEED, default: Some("42"), help: "seeds the simulated annotators (sheets: null only)", role: Role::Key },
];

impl StageKind for HumanEval {
    fn kind(&self) -> &'static str {
        "human_eval"
    }
    fn about(&self) -> &'static str {
        "blinded A/B human-evaluation sheets (CSV, XLSX) for two evaluated systems, with the unblinding key (paper Table 2)"
    }
    fn params(&self) -> &'static [ParamSpec] {
        EXPORT_PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::HUMAN_EVAL
    }
    fn needs(&self) -> &'static [Need] {
        &[
            Need::Named { param: "proposed", kind: "evaluate" },
            Need::Named { param: "baseline", kind: "evaluate" },
        ]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ctx.params;
        let (proposed, baseline) = (p.str("proposed")?, p.str("baseline")?);
        if proposed == baseline {
            bail!("`proposed` and `baseline` are both `{proposed}`; name two different evaluate stages among the deps");
        }
        let read = |dep: &str| -> Result<(String, Vec<Response>)> {
            let artifact = ctx.dep(dep)?;
            if !artifact.manifest.tables.contains_key("responses") {
                bail!("dep `{dep}` has no `responses` table; `proposed` and `baseline` must name evaluate stages");
            }
            let rows = iamm_tables::responses::read(&artifact.read_table("responses")?, &format!("responses of `{dep}`"))?;
            Ok((super::systems::system_label(dep, artifact), rows))
        };
        let (p_name, p_rows) = read(proposed)?;
        let (b_name, b_rows) = read(baseline)?;
        let opts = ExportOptions {
            proposed: p_name.clone(),
            baseline: b_name.clone(),
            seed: p.int("seed")? as u64,
            sample: p.int("sample")? as usize,
            annotators: p.int("annotators")? as usize,
            identical: if p.str("identical")? == "drop" { Identical::Drop } else { Identical::Tie },
            attention_checks: p.int("attention_checks")? as usize,
        };
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
                ctx.stage
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
        SCORE_PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::HUMAN_EVAL
    }
    fn needs(&self) -> &'static [Need] {
        &[Need::One { kind: "human_eval", what: "the export whose sheets to score" }]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = ctx.params;
        let (export_stage, export) = ctx.only_dep_of_kind("human_eval", "the export whose sheets to score")?;
        let key = Key::from_batch(&export.read_table("human_eval_key")?, &format!("key of `{export_stage}`"))?;
        let aggregate = if p.str("aggregate")? == "majority" { Aggregate::Majority } else { Aggregate::Pooled };
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
        let accept = p.opt("annotators")?.map(|v| v.as_u64().context("param `annotators` is not an integer")).transpose()?;
        let accept = accept.map(|n| n as usize);
        let (sheets, label, dir) = match p.path("sheets")? {
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
                let seed = p.int("simulation_seed")? as u64;
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
        check_annotators(&sheets, written, accept, ctx.stage, &dir)
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
                "aggregate": aggregate.as_str(),
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
