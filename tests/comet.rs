//! The comet stage in the pipeline: knowledge for the demo corpus from the shipped tiny model,
//! flowing into tokenize; the row cache, resume after kill -9, import, and bad input.

mod common;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt8Type;
use arrow_array::RecordBatch;
use common::{Ws, rows};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn read(manifest: &serde_json::Value, table: &str) -> RecordBatch {
    let path = manifest["tables"][table]["path"].as_str().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn table_hash(manifest: &serde_json::Value, table: &str) -> String {
    let bytes = std::fs::read(manifest["tables"][table]["path"].as_str().unwrap()).unwrap();
    blake3::hash(&bytes).to_hex().to_string()
}

#[test]
fn demo_knowledge_flows_into_tokenize_and_rows_are_cached() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", "all"]);
    assert!(out.contains("ran     comet"), "{out}");
    let comet = ws.json(&["show", "comet", "--json"]);
    let unique = comet["stats"]["sentences_unique"].as_u64().unwrap();
    assert!(unique > 300, "{unique} unique sentences");
    assert!(comet["stats"]["sentences_naive"].as_u64().unwrap() > unique, "repeats are deduplicated");
    assert_eq!(rows(&comet, "knowledge"), unique * 5 * 5, "5 relations x 5 beams per sentence");
    assert_eq!(comet["stats"]["source"]["queries_generated"].as_u64(), Some(unique * 5));
    assert!(comet["stats"]["source"]["onnxruntime"].as_str().unwrap().contains("ONNX Runtime 1."));

    let knowledge = read(&comet, "knowledge");
    let beams = knowledge.column_by_name("beam").unwrap().as_primitive::<UInt8Type>();
    assert_eq!((0..beams.len()).filter(|&i| beams.value(i) == 0).count() as u64, unique * 5);
    let scores = knowledge.column_by_name("score").unwrap().as_primitive::<arrow_array::types::Float32Type>();
    assert!((0..scores.len()).all(|i| scores.value(i).is_finite() && scores.value(i) <= 0.0));

    let tok = ws.json(&["show", "tokenize", "--json"]);
    assert_eq!(tok["stats"]["knowledge_sentences"].as_u64(), Some(unique));
    let columns: Vec<&str> = tok["tables"]["examples_train"]["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for c in ["c_intent", "c_need", "c_want", "c_effect", "c_react", "s_intent", "s_react"] {
        assert!(columns.contains(&c), "{c} missing from {columns:?}");
    }

    // Another batch size: the stage reruns, but every row comes from the row cache.
    let again = ws.ok(&["run", "comet", "-p", "comet.batch_size=3"]);
    assert!(again.contains("ran     comet"), "{again}");
    let m = ws.json(&["show", "comet", "--json", "-p", "comet.batch_size=3"]);
    assert_eq!(m["stats"]["source"]["queries_generated"], 0);
    assert_eq!(m["stats"]["source"]["queries_from_cache"].as_u64(), Some(unique * 5));
    assert_eq!(table_hash(&m, "knowledge"), table_hash(&comet, "knowledge"));

    // A tokenize-only change leaves comet cached.
    let t = ws.ok(&["run", "all", "-p", "tokenize.vocab_splits=[train]"]);
    assert!(t.contains("cached  comet") && t.contains("ran     tokenize"), "{t}");
}

#[test]
fn killed_generation_resumes_and_ends_with_the_same_table() {
    let slow = ["run", "comet", "-p", "comet.batch_size=2", "-p", "comet.shard_size=1", "-p", "comet.threads=1"];
    let reference = Ws::demo();
    reference.ok(&slow);
    let expected = table_hash(&reference.json(&["show", "comet", "--json", "-p", "comet.batch_size=2", "-p", "comet.shard_size=1", "-p", "comet.threads=1"]), "knowledge");

    let ws = Ws::demo();
    let mut child = std::process::Command::new(common::BIN)
        .args(slow)
        .current_dir(ws.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some shards exist.
    let shards = ws.path("artifacts/.rows/comet");
    let count = || common::parquet_files(&shards);
    let started = std::time::Instant::now();
    while count() < 20 && started.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let saved = count();
    assert!(saved >= 20, "shards saved before the kill: {saved}");
    assert!(ws.artifacts("comet").is_empty(), "a killed run publishes nothing");

    ws.ok(&slow);
    let m = ws.json(&["show", "comet", "--json", "-p", "comet.batch_size=2", "-p", "comet.shard_size=1", "-p", "comet.threads=1"]);
    let from_cache = m["stats"]["source"]["queries_from_cache"].as_u64().unwrap();
    assert!(from_cache >= saved as u64, "resumed from {from_cache} cached queries");
    assert_eq!(table_hash(&m, "knowledge"), expected, "same table as an uninterrupted run");
}

#[test]
fn imported_knowledge_replaces_the_model() {
    let ws = Ws::demo();
    ws.ok(&["run", "all"]);
    let comet = ws.json(&["show", "comet", "--json"]);
    let k = read(&comet, "knowledge");
    let (s, r, b, t) = (
        k.column_by_name("sentence").unwrap().as_string::<i32>(),
        k.column_by_name("relation").unwrap().as_string::<i32>(),
        k.column_by_name("beam").unwrap().as_primitive::<UInt8Type>(),
        k.column_by_name("text").unwrap().as_string::<i32>(),
    );
    let mut tsv = String::from("sentence\trelation\tbeam\ttext\n");
    for i in 0..k.num_rows() {
        tsv.push_str(&format!("{}\t{}\t{}\t{}\n", s.value(i), r.value(i), b.value(i), t.value(i)));
    }
    std::fs::write(ws.path("knowledge.tsv"), tsv).unwrap();
    let args = ["-p", "comet.import=knowledge.tsv", "-p", "comet.model=null"];
    ws.ok(&[&["run", "all"][..], &args].concat());
    let imported = ws.json(&[&["show", "comet", "--json"][..], &args].concat());
    let k2 = read(&imported, "knowledge");
    assert_eq!(k2.num_rows(), k.num_rows());
    assert_eq!(k2.column_by_name("tokens").unwrap(), k.column_by_name("tokens").unwrap());
    let tok_a = read(&ws.json(&["show", "tokenize", "--json"]), "examples_test");
    let tok_b = read(&ws.json(&[&["show", "tokenize", "--json"][..], &args].concat()), "examples_test");
    assert_eq!(tok_a.column_by_name("c_want").unwrap(), tok_b.column_by_name("c_want").unwrap());

    // An incomplete import is an error that says what is missing.
    let partial: String = std::fs::read_to_string(ws.path("knowledge.tsv")).unwrap().lines().take(50).map(|l| format!("{l}\n")).collect();
    std::fs::write(ws.path("partial.tsv"), partial).unwrap();
    let err = ws.fails(&["run", "comet", "-p", "comet.import=partial.tsv"]);
    assert!(err.contains("no answer for"), "{err}");
    std::fs::write(ws.path("bad.tsv"), "sentence\trelation\tbeam\ttext\ni am\txWhat\t0\tx\n").unwrap();
    let err = ws.fails(&["run", "comet", "-p", "comet.import=bad.tsv"]);
    assert!(err.contains("bad.tsv:2: unknown relation `xWhat`"), "{err}");
}

#[test]
fn bad_model_folders_and_runtime_paths_are_explained() {
    let ws = Ws::demo();
    let broken = ws.path("broken-model");
    common::copy_dir(&ws.path("demo/comet/tiny-bart"), &broken);
    std::fs::remove_file(broken.join("encoder_model.onnx")).unwrap();
    let err = ws.fails(&["run", "comet", "-p", "comet.model=broken-model"]);
    assert!(err.contains("encoder_model.onnx"), "{err}");
    assert!(ws.artifacts("comet").is_empty());

    let err = ws.fails(&["run", "comet", "-p", "comet.onnxruntime=/no/such/libonnxruntime.so"]);
    assert!(err.contains("pip install"), "{err}");

    let err = ws.fails(&["run", "comet", "-p", "comet.model=null"]);
    assert!(err.contains("set `model`"), "{err}");
}
