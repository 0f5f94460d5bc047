//! Shared helpers of the integration tests: the fixture, the runtime, expected.json.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use iamm_comet::{EarlyStopping, Overrides, Runtime, RuntimeOptions, Seq2Seq, SessionOptions};
use serde_json::Value;

/// `demo/comet` (made by `scripts/comet/make_fixture.py`; the demo pipeline runs its tiny model);
/// `IAMM_COMET_FIXTURES` points elsewhere.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("IAMM_COMET_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/comet"));
    assert!(
        dir.join("tiny-bart").is_dir() && dir.join("expected.json").is_file(),
        "the test fixture is missing at {}: run `python scripts/comet/make_fixture.py` in a venv with \
         scripts/comet/requirements.txt",
        dir.display()
    );
    dir
}

/// The ONNX Runtime, found the way the stage finds it. Not found means the test fails, with the hint.
pub fn rt() -> &'static Runtime {
    match iamm_comet::runtime(&RuntimeOptions::default()) {
        Ok(rt) => rt,
        Err(e) => panic!("{e}"),
    }
}

/// One thread: the machine is shared, and results must not depend on it anyway.
pub fn opts() -> SessionOptions {
    SessionOptions { threads: 1, ..Default::default() }
}

pub fn load(dir: &Path) -> Seq2Seq {
    match Seq2Seq::load(dir, rt(), &opts()) {
        Ok(m) => m,
        Err(e) => panic!("loading {}: {e}", dir.display()),
    }
}

pub fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `generate(**kwargs)` as explicit overrides; kwargs this crate does not take must be at their defaults.
pub fn overrides_from_kwargs(kw: &Value) -> Overrides {
    let mut o = Overrides::default();
    let Value::Object(m) = kw else { panic!("generate_kwargs is not an object") };
    let id = |v: &Value| v.as_u64().map(|x| x as u32);
    for (k, v) in m {
        match k.as_str() {
            "num_beams" => o.num_beams = v.as_u64().map(|x| x as usize),
            "num_return_sequences" => o.num_return_sequences = v.as_u64().map(|x| x as usize),
            "max_length" => o.max_length = v.as_u64().map(|x| x as usize),
            "max_new_tokens" => o.max_new_tokens = v.as_u64().map(|x| x as usize),
            "min_length" => o.min_length = v.as_u64().map(|x| x as usize),
            "length_penalty" => o.length_penalty = v.as_f64(),
            "no_repeat_ngram_size" => o.no_repeat_ngram_size = v.as_u64().map(|x| x as usize),
            "early_stopping" => {
                o.early_stopping = Some(match v {
                    Value::Bool(true) => EarlyStopping::True,
                    Value::Bool(false) => EarlyStopping::False,
                    Value::String(s) if s == "never" => EarlyStopping::Never,
                    _ => panic!("early_stopping {v}"),
                })
            }
            "forced_bos_token_id" => o.forced_bos_token_id = Some(id(v)),
            "forced_eos_token_id" => o.forced_eos_token_id = Some(id(v)),
            "decoder_start_token_id" => o.decoder_start_token_id = Some(id(v)),
            "bos_token_id" => o.bos_token_id = Some(id(v)),
            "pad_token_id" => o.pad_token_id = Some(id(v)),
            "eos_token_id" => o.eos_token_id = Some(id(v)),
            "do_sample" => assert_eq!(v, &Value::Bool(false), "{k}"),
            "num_beam_groups" => assert_eq!(v.as_u64(), Some(1), "{k}"),
            "repetition_penalty" => assert_eq!(v.as_f64(), Some(1.0), "{k}"),
            "diversity_penalty" => assert_eq!(v.as_f64(), Some(0.0), "{k}"),
            "encoder_no_repeat_ngram_size" => assert_eq!(v.as_u64(), Some(0), "{k}"),
            "bad_words_ids" => assert!(v.is_null(), "{k}"),
            _ => panic!("generate kwarg `{k}` is not handled by the test"),
        }
    }
    o
}

pub fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("an id list").iter().map(|x| x.as_u64().expect("an id") as u32).collect()
}

/// Compares one query's beams with expected outputs; returns the largest score difference.
pub fn compare(what: &str, got: &[iamm_comet::Beam], want: &Value, tol: f64) -> f64 {
    let want = want.as_array().expect("outputs");
    assert_eq!(got.len(), want.len(), "{what}: number of returned sequences");
    let mut max_diff = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.tokens, ids(&w["sequence"]), "{what}: beam {i} tokens");
        assert_eq!(g.text, w["text"].as_str().expect("text"), "{what}: beam {i} text");
        let d = (f64::from(g.score) - w["score"].as_f64().expect("score")).abs();
        assert!(d <= tol, "{what}: beam {i} score {} vs {} (diff {d})", g.score, w["score"]);
        max_diff = max_diff.max(d);
    }
    max_diff
}

/// Copies a model folder so a test can break it.
pub fn copy_dir(src: &Path) -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(src).expect("read fixture") {
        let e = e.expect("entry");
        if e.path().is_file() {
            std::fs::copy(e.path(), t.path().join(e.file_name())).expect("copy");
        }
    }
    t
}
