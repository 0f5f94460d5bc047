//! The ONNX Runtime beam search against transformers' `generate` on the tiny random BART fixture.

mod common;

use common::*;
use iamm_comet::Overrides;
use serde_json::Value;

/// Against PyTorch: the same beams; scores differ by float32 rounding in the two libraries'
/// kernels (up to about 1.4e-4 on this fixture's peaked logits).
const TOL_TORCH: f64 = 5e-4;
/// Against optimum on ONNX Runtime (the same kernels): only the search itself can differ.
const TOL_ORT: f64 = 1e-5;

/// Every variant, every query, batch 1: identical token ids and text, scores within `tol`.
fn parity(model_dir: &str, expected: &str, tol: f64) {
    let fx = fixtures();
    let mut model = load(&fx.join(model_dir));
    let exp = read_json(&fx.join(expected));
    let (mut n, mut max_diff) = (0, 0.0f64);
    for v in exp["variants"].as_array().expect("variants") {
        let name = v["name"].as_str().unwrap_or("?");
        let settings = model.settings(None, &overrides_from_kwargs(&v["generate_kwargs"])).expect("settings");
        for r in v["results"].as_array().expect("results") {
            let q = r["query"].as_str().expect("query");
            assert_eq!(model.encode_query(q).expect("encode"), ids(&r["input_ids"]), "{name}: input ids of {q:?}");
            let got = model.generate(&[q], &settings).unwrap_or_else(|e| panic!("{name}: {q:?}: {e}"));
            max_diff = max_diff.max(compare(&format!("{name}: {q:?}"), &got[0], &r["outputs"], tol));
            n += 1;
        }
    }
    eprintln!("{model_dir}: {n} queries x variants identical, max |score diff| {max_diff:.3e}");
}

#[test]
fn fp32_matches_transformers() {
    parity("tiny-bart", "expected.json", TOL_TORCH);
}

#[test]
fn int8_matches_optimum() {
    parity("tiny-bart-int8", "expected_int8.json", TOL_ORT);
}

/// The split export (decoder_model.onnx + decoder_with_past_model.onnx) gives the same results.
#[test]
fn split_decoder_matches_too() {
    let fx = fixtures();
    let dir = copy_dir(&fx.join("tiny-bart"));
    std::fs::remove_file(dir.path().join("decoder_model_merged.onnx")).expect("remove merged");
    let mut model = load(dir.path());
    let exp = read_json(&fx.join("expected.json"));
    let v = &exp["variants"][0];
    let settings = model.settings(None, &overrides_from_kwargs(&v["generate_kwargs"])).expect("settings");
    for r in v["results"].as_array().expect("results") {
        let q = r["query"].as_str().expect("query");
        let got = model.generate(&[q], &settings).expect("generate");
        compare(&format!("split: {q:?}"), &got[0], &r["outputs"], TOL_TORCH);
    }
}

/// The model's own config (variant a) and config + task_specific_params["summarization"]
/// (variant b) resolve to what the fixture passed to generate explicitly.
#[test]
fn settings_from_config_and_task() {
    let fx = fixtures();
    let model = load(&fx.join("tiny-bart"));
    let exp = read_json(&fx.join("expected.json"));
    let by_name = |n: &str| -> &Value {
        exp["variants"].as_array().expect("variants").iter().find(|v| v["name"] == n).expect("variant")
    };
    let nret = Overrides { num_return_sequences: Some(5), ..Default::default() };
    let explicit =
        |n: &str| model.settings(None, &overrides_from_kwargs(&by_name(n)["generate_kwargs"])).expect("settings");
    assert_eq!(model.settings(None, &nret).expect("a"), explicit("a_model_defaults"));
    assert_eq!(model.settings(Some("summarization"), &nret).expect("b"), explicit("b_task_summarization"));
}

/// Several queries per call (padded encoder batch, finished queries leaving the batch) give
/// what transformers gives for the padded batch, and what one query at a time gives.
#[test]
fn batched_equals_one_at_a_time() {
    let fx = fixtures();
    let mut model = load(&fx.join("tiny-bart"));
    let exp = read_json(&fx.join("expected.json"));
    let b = &exp["batched"];
    let settings = model.settings(None, &overrides_from_kwargs(&b["generate_kwargs"])).expect("settings");
    let results = b["results"].as_array().expect("results");
    let queries: Vec<&str> = results.iter().map(|r| r["query"].as_str().expect("query")).collect();
    let single = &exp["variants"][0]["results"];

    let all = model.generate(&queries, &settings).expect("one batch");
    for (i, r) in results.iter().enumerate() {
        compare(&format!("batch of {}: {:?}", queries.len(), queries[i]), &all[i], &r["outputs"], TOL_TORCH);
        compare(&format!("batch vs single: {:?}", queries[i]), &all[i], &single[i]["outputs"], TOL_TORCH);
    }
    for chunk in [2usize, 3, 8] {
        let mut i = 0;
        for part in queries.chunks(chunk) {
            let got = model.generate(part, &settings).expect("chunk");
            for g in &got {
                compare(&format!("batch of {chunk}: {:?}", queries[i]), g, &single[i]["outputs"], TOL_TORCH);
                i += 1;
            }
        }
    }
}
