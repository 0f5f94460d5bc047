//! Bad model folders and awkward queries: clear errors or correct handling, never a panic.

mod common;

use std::path::Path;

use common::*;
use iamm_comet::{CometError, Overrides, Provider, RuntimeOptions, Seq2Seq, SessionOptions};
use serde_json::Value;

fn load_err(dir: &Path) -> String {
    match Seq2Seq::load(dir, rt(), &opts()) {
        Ok(_) => panic!("{} loaded, but should not have", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "expected {p:?} in: {msg}");
    }
}

fn edit_json(path: &Path, f: impl FnOnce(&mut Value)) {
    let mut v = read_json(path);
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
}

#[test]
fn missing_files_are_named() {
    let fx = fixtures().join("tiny-bart");
    for (remove, expect) in [
        (&["encoder_model.onnx"][..], "missing encoder_model.onnx"),
        (&["config.json"][..], "missing config.json"),
        (&["tokenizer.json"][..], "missing tokenizer.json"),
        (
            &["decoder_model_merged.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"][..],
            "missing decoder_model_merged.onnx (or decoder_model.onnx + decoder_with_past_model.onnx)",
        ),
        (&["decoder_model_merged.onnx", "decoder_with_past_model.onnx"][..], "text2text-generation-with-past"),
    ] {
        let dir = copy_dir(&fx);
        for f in remove {
            std::fs::remove_file(dir.path().join(f)).expect("remove");
        }
        has(&load_err(dir.path()), &[expect, "scripts/comet/export_onnx.py"]);
    }
    has(&load_err(Path::new("/nonexistent/comet-model")), &["/nonexistent/comet-model", "not found"]);
}

#[test]
fn wrong_graphs_are_explained() {
    let fx = fixtures().join("tiny-bart");
    let swap = |from: &str, to: &str| {
        let dir = copy_dir(&fx);
        std::fs::copy(fx.join(from), dir.path().join(to)).expect("copy");
        load_err(dir.path())
    };
    // The encoder where the decoder should be.
    let e = swap("encoder_model.onnx", "decoder_model_merged.onnx");
    has(&e, &["decoder_model_merged.onnx", "no key/value cache", "past_key_values", "looks like an encoder graph"]);
    // The decoder where the encoder should be.
    let e = swap("decoder_model_merged.onnx", "encoder_model.onnx");
    has(&e, &["encoder_model.onnx", "missing input(s) `attention_mask`", "unexpected input(s)", "decoder graph"]);
    // The with-past decoder where the merged one should be: no use_cache_branch, no hidden states.
    let e = swap("decoder_with_past_model.onnx", "decoder_model_merged.onnx");
    has(&e, &["decoder_model_merged.onnx", "`encoder_hidden_states`", "`use_cache_branch`"]);
    // Not an ONNX file at all.
    let dir = copy_dir(&fx);
    std::fs::write(dir.path().join("encoder_model.onnx"), b"this is not a model").expect("write");
    has(&load_err(dir.path()), &["encoder_model.onnx", "ONNX Runtime cannot load it"]);
    // A config that disagrees with the graphs.
    let dir = copy_dir(&fx);
    edit_json(&dir.path().join("config.json"), |c| c["decoder_layers"] = 6.into());
    has(&load_err(dir.path()), &["2 decoder layers", "decoder_layers = 6"]);
}

#[test]
fn tokenizer_that_does_not_match_the_model() {
    let fx = fixtures().join("tiny-bart");
    // A vocabulary larger than the model's.
    let dir = copy_dir(&fx);
    edit_json(&dir.path().join("config.json"), |c| c["vocab_size"] = 300.into());
    has(&load_err(dir.path()), &["tokenizer and model do not match", "vocab_size is 300"]);
    // A tokenizer whose </s> is another id than the model's eos.
    let dir = copy_dir(&fx);
    edit_json(&dir.path().join("tokenizer.json"), |t| {
        for a in t["added_tokens"].as_array_mut().expect("added_tokens") {
            match a["content"].as_str() {
                Some("</s>") => a["content"] = "<pad>".into(),
                Some("<pad>") => a["content"] = "</s>".into(),
                _ => {}
            }
        }
        let vocab = t["model"]["vocab"].as_object_mut().expect("vocab");
        vocab.insert("</s>".into(), 1.into());
        vocab.insert("<pad>".into(), 2.into());
    });
    has(&load_err(dir.path()), &["tokenizer and model do not match", "eos_token", "is id 1", "eos_token_id is 2"]);
    // Not a tokenizer file.
    let dir = copy_dir(&fx);
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 1}").expect("write");
    has(&load_err(dir.path()), &["tokenizer.json", "cannot read the tokenizer"]);
    // Broken config.json.
    let dir = copy_dir(&fx);
    std::fs::write(dir.path().join("config.json"), "{ not json").expect("write");
    has(&load_err(dir.path()), &["config.json", "not valid JSON"]);
}

fn settings(model: &Seq2Seq) -> iamm_comet::GenerationSettings {
    model.settings(None, &Overrides { num_return_sequences: Some(5), ..Default::default() }).expect("settings")
}

#[test]
fn empty_queries_are_errors_naming_the_query() {
    let mut model = load(&fixtures().join("tiny-bart"));
    let s = settings(&model);
    for bad in ["", "   ", "\n\t"] {
        let e = model.generate(&["i lost my keys xIntent [GEN]", bad], &s).unwrap_err();
        assert!(matches!(e, CometError::Query { index: 1, .. }), "{e}");
        has(&e.to_string(), &["query 1", "empty"]);
    }
    assert!(model.generate(&[], &s).expect("no queries").is_empty());
}

#[test]
fn very_long_queries_are_truncated_like_the_tokenizer() {
    let mut model = load(&fixtures().join("tiny-bart"));
    let s = settings(&model);
    let max = model.max_input_tokens().expect("the fixture has model_max_length");
    let long = format!("{} xWant [GEN]", "the day i went to the beach with my friends ".repeat(400));
    let ids = model.encode_query(&long).expect("encode");
    assert_eq!(ids.len(), max);
    assert_eq!((ids[0], ids[max - 1]), (0, 2), "<s> … </s> kept after truncation");
    let out = model.generate(&[long.as_str(), "short one xNeed [GEN]"], &s).expect("generate");
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|b| b.len() == 5));
    // Input ids past the model's positions are refused, not sent to the encoder.
    let e = model.generate_ids(&[vec![5; max + 1]], &s).unwrap_err();
    has(&e.to_string(), &["positions"]);
    let e = model.generate_ids(&[vec![0, 99_999, 2]], &s).unwrap_err();
    has(&e.to_string(), &["outside the vocabulary"]);
}

#[test]
fn non_ascii_and_odd_text_is_handled() {
    let mut model = load(&fixtures().join("tiny-bart"));
    let s = settings(&model);
    let queries = [
        "café naïve déjà-vu 😀 xReact [GEN]",
        "我今天很开心 xIntent [GEN]",
        "مرحبا بالعالم xNeed [GEN]",
        "e\u{301}\u{302}\u{303} zalgo xWant [GEN]",
        "nul \u{0} and bell \u{7} xEffect [GEN]",
        "[GEN] [GEN] xIntent xIntent",
        "<s></s><pad> special text xReact [GEN]",
    ];
    let out = model.generate(&queries, &s).expect("generate");
    assert_eq!(out.len(), queries.len());
    for (q, beams) in queries.iter().zip(&out) {
        assert_eq!(beams.len(), 5, "{q}");
        for b in beams {
            assert!(b.score.is_finite(), "{q}: {b:?}");
            assert_eq!(b.tokens[0], 2, "{q}: starts with the decoder start token");
        }
    }
}

#[test]
fn settings_are_checked_against_the_model() {
    let model = load(&fixtures().join("tiny-bart"));
    let e = model.settings(None, &Overrides { forced_bos_token_id: Some(Some(10_000)), ..Default::default() });
    has(&e.unwrap_err().to_string(), &["10000", "outside the model's vocabulary"]);
    let e = model.settings(Some("translation"), &Overrides::default());
    has(&e.unwrap_err().to_string(), &["task `translation`", "summarization"]);
    let e = model.settings(None, &Overrides { num_return_sequences: Some(6), ..Default::default() });
    has(&e.unwrap_err().to_string(), &["num_return_sequences (6)", "num_beams (5)"]);
}

#[test]
fn cuda_without_the_gpu_build_is_a_clear_error() {
    if rt().cuda_available() {
        return; // the GPU build: nothing to check here
    }
    let opts = SessionOptions { threads: 1, provider: Provider::Cuda };
    let e = Seq2Seq::load(&fixtures().join("tiny-bart"), rt(), &opts).unwrap_err().to_string();
    has(&e, &["`cuda` requested", "without the CUDA execution provider", "onnxruntime-gpu"]);
}

#[test]
fn one_runtime_per_process() {
    let rt = rt();
    // Asking again (or for the same library) gives the same one; another library is refused.
    let again = iamm_comet::runtime(&RuntimeOptions { dylib: Some(rt.dylib().to_path_buf()) }).expect("same library");
    assert!(std::ptr::eq(rt, again));
    let other = tempfile::tempdir().expect("tempdir");
    let e = iamm_comet::runtime(&RuntimeOptions { dylib: Some(other.path().join("libonnxruntime.so")) }).unwrap_err();
    has(&e.to_string(), &["already loaded"]);
    assert!(rt.describe().contains(rt.version()));
}

#[test]
fn a_model_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    send(&load(&fixtures().join("tiny-bart")));
}

#[test]
fn model_hash_follows_content_not_location() {
    let fx = fixtures().join("tiny-bart");
    let a = load(&fx);
    let dir = copy_dir(&fx);
    assert_eq!(a.model_hash(), load(dir.path()).model_hash(), "a copy hashes the same");
    assert_eq!(a.model_hash().len(), 64);
    edit_json(&dir.path().join("generation_config.json"), |g| g["max_length"] = 30.into());
    assert_ne!(a.model_hash(), load(dir.path()).model_hash(), "an edited generation config changes it");
}
