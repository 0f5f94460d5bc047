//! Inputs that used to pass one stage and break a later one, run through the binary on the
//! demo corpus: word vectors with NaN, a word2vec header or repeated words, a NaN training
//! loss, a conversation longer than the model's timing table, a conv_id in two splits, and
//! candle errors shown without a backtrace even where `RUST_BACKTRACE` is set.

mod common;

use std::process::{Command, Output};

use common::Ws;

/// ingest + tokenize (no COMET) + a 2-update w/o IA training + evaluate + analysis.
const PIPELINE: &str = "stages:
  ingest:
    params: {source: demo/ed}
  tokenize:
    deps: [ingest]
    params: {vectors: demo/vectors/demo-vectors.16d.txt}
  train:
    deps: [tokenize]
    params: {variant: wo_ia, dim: 16, max_steps: 2, warmup: 40, eval_every: 20, eval_after: 100, checkpoint_every: 20}
  evaluate:
    deps: [tokenize, train]
    params: {intervals: false}
  analysis:
    deps: [tokenize, train]
    params: {lexicon: demo/lexicons/demo-emotion-intensity.txt}
";

/// Runs with `RUST_BACKTRACE=1`, as many shells and CI runners set it.
fn run(ws: &Ws, args: &[&str]) -> Output {
    Command::new(common::BIN)
        .args(args)
        .current_dir(ws.dir.path())
        .env("RAYON_NUM_THREADS", "1")
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("run iamm-pipe")
}

/// Runs, expects exit 2 and a message without backtrace frames; returns stderr.
fn fails(ws: &Ws, args: &[&str]) -> String {
    let out = run(ws, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "expected exit 2 from {args:?}, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_no_backtrace(&stderr);
    stderr
}

fn ok(ws: &Ws, args: &[&str]) -> (String, String) {
    let out = run(ws, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "iamm-pipe {args:?} failed:\nstdout: {stdout}\nstderr: {stderr}");
    (stdout, stderr)
}

/// The error message (what comes before a separate `Stack backtrace:` section, should the
/// program print one) holds no backtrace frames (`  0: candle_core::error::Error::bt`).
fn assert_no_backtrace(stderr: &str) {
    let message = stderr.split("Stack backtrace:").next().unwrap_or_default();
    let frame = |l: &str| {
        let t = l.trim_start();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && t[digits..].starts_with(": ")
    };
    assert!(
        !message.lines().any(frame) && !message.contains("candle_core::error") && !message.contains("rust_begin_unwind"),
        "a backtrace in the error message:\n{stderr}"
    );
    assert!(message.lines().count() <= 3, "a short message, got:\n{stderr}");
}

/// A conversation of `turns` utterances of 25 tokens each, in the ED layout.
fn long_conversation(conv_id: &str, turns: usize) -> String {
    (1..=turns)
        .map(|i| {
            format!(
                "{conv_id},{i},sad,I lost my dog,{},this is turn {i} of our long talk about the dog that i lost \
                 last week and how much i still miss him every day,,\n",
                1 + (i + 1) % 2
            )
        })
        .collect()
}

fn append(ws: &Ws, file: &str, text: &str) {
    let path = ws.path(file);
    let mut data = std::fs::read_to_string(&path).unwrap();
    if !data.ends_with('\n') {
        data.push('\n');
    }
    data.push_str(text);
    std::fs::write(&path, data).unwrap();
}

fn edit(ws: &Ws, file: &str, f: impl Fn(&str) -> String) {
    let path = ws.path(file);
    let data = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(&data)).unwrap();
}

const VECTORS: &str = "demo/vectors/demo-vectors.16d.txt";

/// The vectors file with the line of word `word` given 16 copies of `value`.
fn set_vector(ws: &Ws, word: &str, value: &str) {
    let row = std::iter::repeat_n(value, 16).collect::<Vec<_>>().join(" ");
    edit(ws, VECTORS, |text| {
        text.lines()
            .map(|l| if l.split(' ').next() == Some(word) { format!("{word} {row}\n") } else { format!("{l}\n") })
            .collect()
    });
}

fn line_of(ws: &Ws, file: &str, word: &str) -> usize {
    let text = std::fs::read_to_string(ws.path(file)).unwrap();
    1 + text.lines().position(|l| l.split(' ').next() == Some(word)).expect("word in the vectors")
}

#[test]
fn a_conversation_longer_than_the_timing_table_is_named_before_training() {
    let ws = Ws::new(PIPELINE);
    append(&ws, "demo/ed/train.csv", &long_conversation("hit:99999_conv:199998", 200));
    let err = fails(&ws, &["run", "train"]);
    assert!(err.contains("examples_train: example "), "{err}");
    assert!(err.contains("conv_id `hit:99999_conv:199998`"), "names the conversation: {err}");
    // The longest context: 199 utterances of 26 positions ([CLS] + 25 tokens).
    assert!(err.contains("199 × 26 = 5174 positions"), "{err}");
    assert!(err.contains("timing table (positional encoding) has 3000 positions"), "{err}");
    assert!(err.contains("`max_context_turns`") && err.contains("(115 or fewer fit here)"), "{err}");
    assert!(ws.artifacts("train").is_empty(), "no train artifact");

    // The remedy the message names works, and tokenize records what it cut.
    let p = ["-p", "tokenize.max_context_turns=20"];
    let (out, _) = ok(&ws, &["run", "train", p[0], p[1]]);
    assert!(out.contains("ran     train"), "{out}");
    let m = ws.json(&["show", "tokenize", "--json", p[0], p[1]]);
    assert_eq!(m["stats"]["max_context_turns"], 20);
    // Listener turns 22, 24, ..., 200 of the long conversation have more than 20 utterances before them.
    assert_eq!(m["stats"]["truncated_contexts"]["train"], 90, "{}", m["stats"]);
    assert_eq!(m["stats"]["truncated_contexts"]["test"], 0);
}

#[test]
fn a_long_test_conversation_stops_evaluate_and_analysis_before_they_run() {
    let ws = Ws::new(PIPELINE);
    append(&ws, "demo/ed/test.csv", &long_conversation("hit:99999_conv:199999", 200));
    ok(&ws, &["run", "train"]);
    for stage in ["evaluate", "analysis"] {
        let err = fails(&ws, &["run", stage]);
        assert!(err.contains("examples_test: example ") && err.contains("conv_id `hit:99999_conv:199999`"), "{stage}: {err}");
        assert!(err.contains("5174 positions") && err.contains("max_context_turns"), "{stage}: {err}");
        assert!(ws.artifacts(stage).is_empty(), "{stage}: no artifact");
    }
}

#[test]
fn non_finite_vectors_are_rejected_and_a_nan_loss_stops_training_at_once() {
    let ws = Ws::new(PIPELINE);
    set_vector(&ws, "i", "nan");
    let line = line_of(&ws, VECTORS, "i");
    let err = fails(&ws, &["run", "tokenize"]);
    assert!(err.contains(&format!("demo-vectors.16d.txt:{line}: the vector of \"i\" has \"nan\" as its number 1")), "{err}");
    assert!(ws.artifacts("tokenize").is_empty());

    // Finite but huge values overflow in the model (the embedding is scaled by √dim): the loss
    // of the first update is not finite, and training stops there with what to check.
    set_vector(&ws, "i", "3e38");
    let err = fails(&ws, &["run", "train"]);
    assert!(err.contains("update 1 (epoch 1): the training loss is "), "{err}");
    assert!(err.contains("tokenize `vectors`") && err.contains("`warmup`"), "{err}");
    assert!(!err.contains("curve"), "fails in training, not in plotting: {err}");
    assert!(ws.artifacts("train").is_empty());
}

#[test]
fn a_word2vec_header_is_skipped_and_repeated_words_are_counted() {
    let ws = Ws::new(PIPELINE);
    let text = std::fs::read_to_string(ws.path(VECTORS)).unwrap();
    let words = text.lines().count();
    let i_line = text.lines().find(|l| l.starts_with("i ")).unwrap().to_string();
    // A header, then the file, then `i` again and an unknown word twice.
    let unknown = format!("zzqx {}", ["0.5"; 16].join(" "));
    std::fs::write(ws.path(VECTORS), format!("{} 16\n{text}{i_line}\n{unknown}\n{unknown}\n", words + 3)).unwrap();
    let (out, err) = ok(&ws, &["run", "tokenize"]);
    assert!(out.contains("16-d vectors cover"), "{out}");
    assert!(out.contains("2 repeated word(s) in the vectors"), "{out}");
    assert!(err.contains("warning:") && err.contains("2 repeated word line(s) (1 of them vocabulary words)"), "{err}");
    assert!(err.contains("\"i\" on lines"), "{err}");
    let m = ws.json(&["show", "tokenize", "--json"]);
    let v = &m["stats"]["vectors"];
    assert_eq!(v["dim"], 16);
    assert_eq!(v["header_skipped"]["words"], words + 3);
    assert_eq!(v["header_skipped"]["dim"], 16);
    assert_eq!(v["file_words"], words + 3);
    assert_eq!(v["duplicates"]["count"], 2);
    assert_eq!(v["duplicates"]["in_vocab"], 1);
    assert_eq!(v["duplicates"]["kept"], "last");
    assert_eq!(v["duplicates"]["first"][0]["word"], "i");
}

#[test]
fn a_conv_id_in_two_splits_is_a_warning_listed_in_the_manifest() {
    let ws = Ws::new(PIPELINE);
    let train = std::fs::read_to_string(ws.path("demo/ed/train.csv")).unwrap();
    let conv = train.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    let test = std::fs::read_to_string(ws.path("demo/ed/test.csv")).unwrap();
    let other = test.lines().nth(1).unwrap().split(',').next().unwrap().to_string();
    edit(&ws, "demo/ed/test.csv", |t| t.replace(&format!("{other},"), &format!("{conv},")));
    let (out, err) = ok(&ws, &["run", "ingest"]);
    assert!(out.contains("1 conv_id(s) in two splits"), "{out}");
    assert!(err.contains(&format!("warning: 1 conv_id(s) appear in more than one split, e.g. conv_id `{conv}` is in ")), "{err}");
    assert!(err.contains("train.csv:2 and ") && err.contains("test.csv:2"), "{err}");
    let m = ws.json(&["show", "ingest", "--json"]);
    let shared = &m["stats"]["shared_conv_ids"];
    assert_eq!(shared["count"], 1);
    assert_eq!(shared["conv_ids"][0]["conv_id"], conv.as_str());
    assert_eq!(shared["conv_ids"][0]["places"][1]["split"], "test");
    assert_eq!(shared["conv_ids"][0]["places"][1]["line"], 2);

    // The demo's own splits share nothing: no warning.
    let ws = Ws::new(PIPELINE);
    let (_, err) = ok(&ws, &["run", "ingest"]);
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(ws.json(&["show", "ingest", "--json"])["stats"]["shared_conv_ids"]["count"], 0);
}

#[test]
fn a_candle_error_is_shown_without_its_backtrace() {
    // Only one-utterance conversations in train: no listener turn, no training example. The
    // trainer's error is a candle `bail!`, which captures a backtrace under RUST_BACKTRACE=1.
    let ws = Ws::new(PIPELINE);
    edit(&ws, "demo/ed/train.csv", |t| {
        let mut lines = t.lines();
        let header = lines.next().unwrap();
        let firsts: String = lines.filter(|l| l.split(',').nth(1) == Some("1")).map(|l| format!("{l}\n")).collect();
        format!("{header}\n{firsts}")
    });
    let err = fails(&ws, &["run", "train"]);
    assert!(err.contains("no training examples"), "{err}");
}
