//! `run comet --shard I/N`: shards fill the row cache side by side and publish nothing; a plain
//! run afterwards publishes the table of an unsharded run, to the last bit, however many shards
//! there were and whether one of them was killed and rerun.

mod common;

use std::time::{Duration, Instant};

use common::{Ws, parquet_files};

/// One ONNX Runtime thread (the machine is shared) and small row-cache shards, so that a killed
/// shard has saved some of its rows; both are tuning params, outside the cache key.
const TUNING: [&str; 4] = ["-p", "comet.threads=1", "-p", "comet.shard_size=16"];

fn with_tuning<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &TUNING[..]].concat()
}

fn knowledge_hash(ws: &Ws) -> String {
    let m = ws.json(&with_tuning(&["show", "comet", "--json"]));
    let bytes = std::fs::read(m["tables"]["knowledge"]["path"].as_str().unwrap()).unwrap();
    blake3::hash(&bytes).to_hex().to_string()
}

/// `queries_in_shard` of the summary line `shard I/N: Q of T queries, …`.
fn queries_in(summary: &str) -> u64 {
    let after = summary.split_once(": ").map(|(_, rest)| rest).unwrap_or_else(|| panic!("no summary: {summary}"));
    after.split_whitespace().next().unwrap().parse().unwrap_or_else(|_| panic!("no count in {summary}"))
}

#[test]
fn sharded_generation_publishes_the_table_of_an_unsharded_run() {
    let reference = Ws::demo();
    reference.ok(&with_tuning(&["run", "comet"]));
    let expected = knowledge_hash(&reference);
    let all_queries = reference.json(&with_tuning(&["show", "comet", "--json"]))["stats"]["source"]["queries_generated"]
        .as_u64()
        .unwrap();

    for n in [1, 3, 7] {
        let ws = Ws::demo();
        let mut in_shards = 0;
        for i in 0..n {
            let shard = format!("{i}/{n}");
            if n == 3 && i == 1 {
                kill_midway(&ws, &shard);
            }
            let out = ws.ok(&with_tuning(&["run", "comet", "--shard", &shard]));
            let line = out.lines().find(|l| l.contains(&format!("shard {shard}:"))).unwrap_or_else(|| panic!("{out}"));
            in_shards += queries_in(line);
            assert!(ws.artifacts("comet").is_empty(), "a shard publishes nothing: {out}");
        }
        assert_eq!(in_shards, all_queries, "the {n} shards split the queries among themselves");
        let out = ws.ok(&with_tuning(&["run", "comet"]));
        assert!(out.contains("ran     comet"), "{out}");
        let m = ws.json(&with_tuning(&["show", "comet", "--json"]));
        assert_eq!(m["stats"]["source"]["queries_generated"], 0, "every row came from the shards ({n})");
        assert_eq!(knowledge_hash(&ws), expected, "{n} shards publish the table of one unsharded run");
    }
}

/// Starts shard `shard`, kills it once it saved some rows, and checks it left no shard file
/// half-written and published nothing.
fn kill_midway(ws: &Ws, shard: &str) {
    let cache = ws.path("artifacts/.rows/comet");
    let before = parquet_files(&cache);
    let mut child = std::process::Command::new(common::BIN)
        .args(with_tuning(&["run", "comet", "--shard", shard]))
        .current_dir(ws.dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while parquet_files(&cache) < before + 3 && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert!(!status.success(), "shard {shard} was killed before it finished");
    assert!(parquet_files(&cache) >= before + 3, "the killed shard saved rows");
    assert!(ws.artifacts("comet").is_empty());
}

#[test]
fn only_one_shardable_stage_runs_in_shards() {
    let ws = Ws::demo();
    let err = ws.fails(&["run", "tokenize", "--shard", "0/2"]);
    assert!(err.contains("stage `tokenize` (kind tokenize) cannot run in shards") && err.contains("(comet)"), "{err}");
    let err = ws.fails(&["run", "comet", "tokenize", "--shard", "0/2"]);
    assert!(err.contains("name one (this names `comet`, `tokenize`)"), "{err}");
    let err = ws.fails(&["run", "comet", "--shard", "2/2"]);
    assert!(err.contains("expected I/N with 0 <= I < N"), "{err}");
    // Knowledge generated elsewhere has nothing left to generate.
    std::fs::write(ws.path("knowledge.tsv"), "sentence\trelation\tbeam\ttext\tscore\n").unwrap();
    let err = ws.fails(&["run", "comet", "--shard", "0/2", "-p", "comet.import=knowledge.tsv", "-p", "comet.model=null"]);
    assert!(err.contains("only generation from a `model` runs in shards"), "{err}");
    assert!(ws.artifacts("comet").is_empty());
}
