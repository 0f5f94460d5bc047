use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::builder::{Float32Builder, StringBuilder, UInt8Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{ArrayRef, RecordBatch};
use iamm_comet::CometParams;
use iamm_comet::queries::{self, Answer};
use iamm_core::{RELATIONS, SPLITS};
use iamm_text::{PunktParams, Tokenizer};
use rustc_hash::FxHashMap;
use serde_json::json;

use crate::params::Params;
use crate::schedule::Resources;
use super::shards::ShardStore;
use crate::needs::Need;
use super::Code;
use crate::stage::{ParamSpec, Shard, StageContext, StageKind, StageOutput};

pub struct Comet;

const DIALOGUES: Need = Need::One { kind: "ingest", what: "the dialogues to query COMET for" };

impl StageKind for Comet {
    fn kind(&self) -> &'static str {
        "comet"
    }
    fn about(&self) -> &'static str {
        "COMET-ATOMIC 2020 knowledge (xIntent, xNeed, xWant, xEffect, xReact) for every context utterance \
         and situation, by beam search on ONNX Runtime"
    }
    fn params(&self) -> &'static [ParamSpec] {
        CometParams::PARAMS
    }
    fn fingerprint(&self) -> &'static Code {
        &super::fingerprints::COMET
    }
    fn resources(&self, p: &Params) -> Resources {
        let threads = p.values().get("threads").and_then(serde_json::Value::as_u64).unwrap_or(0) as usize;
        Resources { gpu: p.str("provider").is_ok_and(|d| d == "cuda"), ..Resources::cpu(threads, 2048) }
    }
    fn needs(&self) -> &'static [Need] {
        &[DIALOGUES]
    }

    fn run(&self, ctx: &StageContext) -> Result<StageOutput> {
        let p = CometParams::from_values(ctx.params)?;
        let (tokenizer, sentences) = sentences(ctx, &p)?;
        let n_queries = sentences.unique.len() * RELATIONS.len();
        let keep = p.num_return_sequences;

        let (answers, source) = match (&p.import, &p.model) {
            (Some(file), _) => (import(file)?, json!({"import": file.display().to_string()})),
            (None, Some(model)) => generate(ctx, &p, model, &sentences.unique, None)?,
            (None, None) => bail!("set `model` (an ONNX export of COMET) or `import` (knowledge generated elsewhere)"),
        };
        let answer = |s: &str, r: &str| {
            answers.get(&queries::query(s, r)).map(|a| a.iter().take(keep).cloned().collect::<Answer>())
        };
        let table = queries::knowledge_table(&sentences.unique, answer, &tokenizer).map_err(|e| {
            anyhow!("{e}; an imported table must cover every context utterance and situation")
        })?;
        Ok(StageOutput {
            summary: format!(
                "{} unique sentences ({} occurrences), {} queries, {} rows",
                sentences.unique.len(),
                sentences.naive,
                n_queries,
                table.num_rows()
            ),
            stats: json!({
                "sentences_unique": sentences.unique.len(),
                "sentences_naive": sentences.naive,
                "queries": n_queries,
                "queries_naive": sentences.naive * RELATIONS.len(),
                "sentence_splitter": tokenizer.describe(),
                "source": source,
            }),
            tables: vec![("knowledge".to_string(), table)],
        })
    }

    fn shardable(&self) -> bool {
        true
    }

    fn run_shard(&self, ctx: &StageContext, shard: Shard) -> Result<String> {
        let p = CometParams::from_values(ctx.params)?;
        let Some(model) = p.model.as_deref().filter(|_| p.import.is_none()) else {
            bail!("only generation from a `model` runs in shards (an `import` has nothing to generate): run `iamm-pipe run {}`", ctx.stage)
        };
        let (_, sentences) = sentences(ctx, &p)?;
        let (_, source) = generate(ctx, &p, model, &sentences.unique, Some(shard))?;
        let count = |k: &str| source[k].as_u64().unwrap_or(0);
        Ok(format!(
            "shard {shard}: {} of {} queries, {} generated ({:.1} queries/s), {} from the row cache; rows only: `iamm-pipe \
             run {}` publishes the table once every shard is done",
            count("queries_in_shard"),
            sentences.unique.len() * RELATIONS.len(),
            count("queries_generated"),
            source["queries_per_second"].as_f64().unwrap_or(0.0),
            count("queries_in_shard") - count("queries_generated"),
            ctx.stage
        ))
    }
}

/// The tokenizer and the unique sentences of the dialogues to query COMET for.
fn sentences(ctx: &StageContext, p: &CometParams) -> Result<(Tokenizer, queries::Sentences)> {
    let tokenizer = Tokenizer::new(PunktParams::load_dir_or_fallback(p.punkt.as_deref())?);
    let (_, ingested) = ctx.one(&DIALOGUES)?;
    let examples = SPLITS
        .iter()
        .map(|s| {
            let name = format!("examples_{s}");
            Ok(iamm_tables::text_examples::read(&ingested.read_table(&name)?, &name)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let sentences = queries::sentences(&examples.iter().map(Vec::as_slice).collect::<Vec<_>>(), &tokenizer);
    Ok((tokenizer, sentences))
}

/// Generates what the row cache does not hold yet (of one shard's batches, with `shard`);
/// returns every answer the cache then holds and what ran.
fn generate(
    ctx: &StageContext,
    p: &CometParams,
    model_dir: &std::path::Path,
    sentences: &[String],
    shard: Option<Shard>,
) -> Result<(FxHashMap<String, Answer>, serde_json::Value)> {
    let runtime = iamm_comet::runtime(&p.runtime())?;
    let mut model = iamm_comet::Seq2Seq::load(model_dir, runtime, &p.session())?;
    let settings = model.settings(p.task.as_deref(), &p.overrides())?;
    // Rows are keyed by what decides them: the model's content and the decoding settings.
    let settings_json = serde_json::to_string(&settings)?;
    let settings_hash = blake3::hash(settings_json.as_bytes()).to_hex();
    let store = ShardStore::open(ctx.rows, &format!("comet/{}-{}", &model.model_hash()[..16], &settings_hash[..16]))?;
    let mut answers = read_answers(&store.read_all()?)?;

    // Batches are cut from the whole sorted query list, not from what is missing, so that a
    // run resumed after a kill forms the same batches as an uninterrupted one and ends with
    // the same table to the last bit (batch shape changes the float rounding of scores). A
    // batch with any missing query is generated whole; complete batches come from the cache.
    // Shard I of N takes every Nth batch from the Ith: the same batches, spread evenly over
    // short and long queries, so that the shards of an array take about the same time.
    let mut all: Vec<String> =
        sentences.iter().flat_map(|s| RELATIONS.iter().map(move |(r, _)| queries::query(s, r))).collect();
    all.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    let mine: Vec<&[String]> =
        all.chunks(p.batch_size).enumerate().filter(|(i, _)| shard.is_none_or(|s| s.takes(*i))).map(|(_, b)| b).collect();
    let todo: Vec<&[String]> = mine.iter().copied().filter(|b| b.iter().any(|q| !answers.contains_key(q))).collect();
    let generated: usize = todo.iter().map(|b| b.len()).sum();
    let started = Instant::now();
    let bar = ctx.bar(generated as u64, "generating", "queries");
    let mut rows: Vec<(String, Answer)> = Vec::new();
    for (i, batch) in todo.iter().enumerate() {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        let beams = model.generate(&refs, &settings)?;
        for (q, beams) in batch.iter().zip(beams) {
            rows.push((q.clone(), beams.into_iter().map(|b| (b.text, b.score)).collect::<Answer>()));
        }
        bar.inc(batch.len() as u64);
        // Shards hold whole batches: a killed run loses at most one shard of work.
        if rows.len() >= p.shard_size || i + 1 == todo.len() {
            store.append(&answers_batch(&rows)?)?;
            answers.extend(rows.drain(..));
        }
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let mut source = json!({
        "model": model_dir.display().to_string(),
        "model_hash": model.model_hash(),
        "settings": serde_json::from_str::<serde_json::Value>(&settings_json)?,
        "onnxruntime": runtime.describe(),
        "row_cache": store.dir().display().to_string(),
        "queries_from_cache": all.len() - generated,
        "queries_generated": generated,
        "generation_seconds": secs,
        "queries_per_second": if secs > 0.0 { generated as f64 / secs } else { 0.0 },
    });
    if let Some(shard) = shard {
        source["shard"] = json!(shard.to_string());
        source["queries_in_shard"] = json!(mine.iter().map(|b| b.len()).sum::<usize>());
    }
    Ok((answers, source))
}

fn answers_batch(rows: &[(String, Answer)]) -> Result<RecordBatch> {
    let (mut q, mut beam, mut text, mut score) =
        (StringBuilder::new(), UInt8Builder::new(), StringBuilder::new(), Float32Builder::new());
    for (query, beams) in rows {
        for (rank, (t, s)) in beams.iter().enumerate() {
            q.append_value(query);
            beam.append_value(rank as u8);
            text.append_value(t);
            score.append_value(*s);
        }
    }
    Ok(RecordBatch::try_from_iter([
        ("query", std::sync::Arc::new(q.finish()) as ArrayRef),
        ("beam", std::sync::Arc::new(beam.finish())),
        ("text", std::sync::Arc::new(text.finish())),
        ("score", std::sync::Arc::new(score.finish())),
    ])?)
}

/// Row-cache shards back into answers per query, beams in rank order. Writers that generated
/// the same batch (a shard rerun while its first run still went on, a merge beside a late
/// shard) left it in two shards, with the same rows: each query's rows come from the first.
fn read_answers(batches: &[RecordBatch]) -> Result<FxHashMap<String, Answer>> {
    // query -> (the shard its rows come from, its beams)
    let mut out: FxHashMap<String, (usize, Beams)> = FxHashMap::default();
    for (shard, b) in batches.iter().enumerate() {
        let col = |n: &str| b.column_by_name(n).with_context(|| format!("row cache shard lacks `{n}`"));
        let (q, beam, text, score) = (col("query")?, col("beam")?, col("text")?, col("score")?);
        let (q, text) = (q.as_string::<i32>(), text.as_string::<i32>());
        let (beam, score) = (beam.as_primitive::<UInt8Type>(), score.as_primitive::<Float32Type>());
        for i in 0..b.num_rows() {
            let (from, rows) = out.entry(q.value(i).to_string()).or_insert_with(|| (shard, Vec::new()));
            if *from == shard {
                rows.push((beam.value(i), text.value(i).to_string(), score.value(i)));
            }
        }
    }
    Ok(ranked(out.into_iter().map(|(q, (_, rows))| (q, rows)).collect()))
}

/// Knowledge generated elsewhere: `.parquet`, or `.tsv` with a header line.
fn import(path: &std::path::Path) -> Result<FxHashMap<String, Answer>> {
    let shown = path.display();
    let mut rows: FxHashMap<String, Vec<(u8, String, f32)>> = FxHashMap::default();
    let mut add = |sentence: &str, relation: &str, beam: u8, text: &str, score: f32, at: &str| -> Result<()> {
        if !RELATIONS.iter().any(|(r, _)| *r == relation) {
            bail!("{at}: unknown relation `{relation}` (expected one of xIntent, xNeed, xWant, xEffect, xReact)");
        }
        rows.entry(queries::query(sentence, relation)).or_default().push((beam, text.to_string(), score));
        Ok(())
    };
    if path.extension().is_some_and(|e| e == "parquet") {
        let b = crate::store::read_parquet(path, None)?;
        let col = |n: &str| b.column_by_name(n).with_context(|| format!("{shown}: no column `{n}`"));
        let (s, r, beam, t) = (col("sentence")?, col("relation")?, col("beam")?, col("text")?);
        let (s, r, t) = (s.as_string::<i32>(), r.as_string::<i32>(), t.as_string::<i32>());
        let beam = arrow_cast::cast(beam, &arrow_schema::DataType::UInt8)?;
        let beam = beam.as_primitive::<UInt8Type>();
        let score = match b.column_by_name("score") {
            Some(c) => Some(arrow_cast::cast(c, &arrow_schema::DataType::Float32)?),
            None => None,
        };
        for i in 0..b.num_rows() {
            let sc = score.as_ref().map(|c| c.as_primitive::<Float32Type>().value(i)).unwrap_or(f32::NAN);
            add(s.value(i), r.value(i), beam.value(i), t.value(i), sc, &format!("{shown}: row {i}"))?;
        }
    } else {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown} as UTF-8 text"))?;
        let mut lines = text.lines().enumerate();
        let header: Vec<&str> = lines.next().map(|(_, h)| h.split('\t').collect()).unwrap_or_default();
        if header.len() < 4 || header[..4] != ["sentence", "relation", "beam", "text"] {
            bail!("{shown}:1: expected the header `sentence<TAB>relation<TAB>beam<TAB>text[<TAB>score]`");
        }
        for (i, line) in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let at = format!("{shown}:{}", i + 1);
            if f.len() != header.len() {
                bail!("{at}: {} tab-separated fields, the header has {}", f.len(), header.len());
            }
            let beam: u8 = f[2].parse().map_err(|_| anyhow!("{at}: beam {:?} is not a number 0-255", f[2]))?;
            let score = match f.get(4) {
                Some(s) => s.parse().map_err(|_| anyhow!("{at}: score {s:?} is not a number"))?,
                None => f32::NAN,
            };
            add(f[0], f[1], beam, f[3], score, &at)?;
        }
    }
    Ok(ranked(rows))
}

/// (rank, text, score) rows per query -> answers with beams in rank order.
/// A query's beams as stored: rank, text, score.
type Beams = Vec<(u8, String, f32)>;

fn ranked(rows: FxHashMap<String, Beams>) -> FxHashMap<String, Answer> {
    rows.into_iter()
        .map(|(q, mut beams)| {
            beams.sort_by_key(|(rank, _, _)| *rank);
            (q, beams.into_iter().map(|(_, t, s)| (t, s)).collect())
        })
        .collect()
}
