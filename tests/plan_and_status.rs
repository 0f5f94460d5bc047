//! Checks made before any work (deps, params naming deps, every missing input at once), the
//! exact reasons `status` gives, and the `current` pointer of each stage.

mod common;

use common::Ws;
use common::demo::{self, HUMAN_EVAL, HUMAN_EVAL_SCORE, TRAIN};
use serde_json::Value;

fn stage<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap_or_else(|| panic!("{name} in {status}"))
}

fn reasons(ws: &Ws, args: &[&str], name: &str) -> Vec<String> {
    let status = ws.status_json_with(args);
    let s = stage(&status, name);
    s["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_param_naming_a_stage_outside_the_deps_is_an_error_before_any_work() {
    let ws = Ws::demo();
    let line = std::fs::read_to_string(ws.path("pipeline.yaml"))
        .unwrap()
        .lines()
        .position(|l| l == "  human_eval:")
        .unwrap()
        + 2; // the first line of its declaration (1-based)
    let wrong = ["-p", "human_eval.proposed=evaluate[variant=wo_ea]"];
    let want = format!(
        "pipeline.yaml:{line}: stage `{HUMAN_EVAL}`: param `proposed` names `evaluate[variant=wo_ea]`, which is not among its deps \
         ({}, {})",
        demo::EVALUATE,
        demo::variant("evaluate", "wo_ws")
    );
    for cmd in [&["run", "--dry-run"][..], &["run", "human_eval"][..]] {
        let err = ws.fails(&[cmd, &wrong[..]].concat());
        assert!(err.contains(&want), "{err}");
    }
    assert!(!ws.path("artifacts/ingest").exists(), "nothing ran");
    let status = ws.status_json_with(&wrong);
    let he = stage(&status, HUMAN_EVAL);
    assert_eq!(he["state"], "blocked");
    assert!(he["reasons"][0].as_str().unwrap().contains(&want), "{he}");
    assert_eq!(stage(&status, HUMAN_EVAL_SCORE)["state"], "blocked", "downstream waits");
    assert_eq!(stage(&status, "ingest")["state"], "missing", "upstream is unaffected");

    // A param naming a dep of the wrong kind.
    let yaml = std::fs::read_to_string(ws.path("pipeline.yaml")).unwrap();
    let deps = r#"deps: ["evaluate[variant=full]", "evaluate[variant=wo_ws]"]"#;
    assert!(yaml.contains(deps), "{yaml}");
    std::fs::write(ws.path("pipeline.yaml"), yaml.replace(deps, r#"deps: ["evaluate[variant=full]", "train[variant=wo_ws]"]"#)).unwrap();
    let err = ws.fails(&["run", "--dry-run", "-p", "human_eval.baseline=train[variant=wo_ws]"]);
    let want = format!(
        "param `baseline` names `{}`, a `train` stage; it must name one of the `evaluate` stages among the deps ({})",
        demo::variant("train", "wo_ws"),
        demo::EVALUATE
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn deps_a_stage_needs_are_checked_at_plan_time() {
    let ws = Ws::new(
        "stages:\n  ingest:\n    params: {source: demo/ed}\n  tokenize:\n    deps: [ingest]\n  \
         evaluate:\n    deps: [tokenize]\n  viewer:\n    deps: [ingest]\n  \
         comet_a:\n    uses: comet\n    deps: [ingest]\n  comet_b:\n    uses: comet\n    deps: [ingest]\n  \
         tokenize_k:\n    uses: tokenize\n    deps: [ingest, comet_a, comet_b]\n",
    );
    let err = ws.fails(&["run", "--dry-run"]);
    assert!(err.contains("the plan cannot run; nothing ran"), "{err}");
    // COMET knowledge is optional, and from one comet stage.
    assert!(err.contains("stage `tokenize_k` has 2 `comet` stages among its deps (comet_a, comet_b); keep at most one"), "{err}");
    assert!(err.contains("pipeline.yaml:7: stage `evaluate` needs one `train` stage among its deps (the model to evaluate)"), "{err}");
    assert!(err.contains("e.g. `deps: [tokenize, train]`"), "{err}");
    assert!(err.contains("pipeline.yaml:9: stage `viewer` needs one `analysis` stage"), "{err}");
    assert!(err.contains("stage `viewer` needs at least one `evaluate` stage among its deps"), "{err}");
    let status = ws.status_json();
    assert_eq!(stage(&status, "evaluate")["state"], "blocked", "{status}");
    assert_eq!(stage(&status, "tokenize")["state"], "missing", "{status}");
    let err = ws.fails(&["run", "evaluate"]);
    assert!(err.contains("needs one `train` stage"), "{err}");
    assert!(ws.artifacts("tokenize").is_empty(), "nothing ran before the error");
}

#[test]
fn every_missing_input_of_the_paper_profile_is_listed_at_once() {
    let ws = Ws::demo();
    let err = ws.fails(&["run", "--profile", "paper"]);
    assert!(err.contains("the plan cannot run; nothing ran"), "{err}");
    // The paper profile runs seeds 1, 2 and 3; a member's name in a flag is quoted for a shell.
    for (flag, hint) in [
        ("-p ingest.source=PATH", "dl.fbaipublicfiles.com/parlai/empatheticdialogues"),
        ("-p comet.model=PATH", "scripts/comet/export_onnx.py"),
        ("-p tokenize.vectors=PATH", "glove.6B.zip"),
        ("-p 'analysis[seed=3]'.lexicon=PATH", "AffectIntensity.htm"),
        ("-p comet.punkt=PATH", "nltk.download('punkt_tab')"),
        ("-p 'evaluate[seed=2,variant=wo_ws]'.punkt=PATH", "nltk.download('punkt_tab')"),
    ] {
        assert!(err.contains(flag), "{flag} in {err}");
        assert!(err.contains(hint), "{hint} in {err}");
    }
    // The Punkt folder is one missing input read by 14 params (comet, tokenize and the 12
    // evaluate members), listed once; the lexicon one read by the 3 analysis members.
    assert_eq!(err.matches("missing input:").count(), 5, "{err}");
    let punkt = err.lines().skip_while(|l| !l.contains("punkt_tab/english")).nth(1).unwrap();
    for user in ["comet.punkt", "tokenize.punkt", "evaluate[seed=1,variant=full].punkt", "evaluate[seed=3,variant=wo_ws].punkt"] {
        assert!(punkt.contains(user), "{user} in {punkt}");
    }
    assert_eq!(punkt.matches(" (set by profile `paper` at ").count(), 14, "{punkt}");
    assert!(!err.contains("waits for"), "waiting stages are not listed: {err}");
    assert!(!ws.path("artifacts/ingest").exists(), "nothing ran");
}

#[test]
fn status_reasons_are_the_difference_with_the_current_artifact() {
    let ws = Ws::demo();
    // Three artifacts of the full model (the seed is a matrix axis: the warm-up varies here).
    for warmup in ["10", "20"] {
        ws.ok(&["run", TRAIN, "-p", &format!("train.warmup={warmup}")]);
    }
    ws.ok(&["run", TRAIN]);
    // The newest artifact is warm-up 40's; the last run used it: only the device differs.
    assert_eq!(reasons(&ws, &["-p", "train.device=cuda"], TRAIN), vec![r#"param `device`: "cpu" -> "cuda""#]);
    // After reusing warm-up 10's artifact, that one is current.
    ws.ok(&["run", TRAIN, "-p", "train.warmup=10"]);
    assert_eq!(reasons(&ws, &["-p", "train.warmup=10", "-p", "train.device=cuda"], TRAIN), vec![
        r#"param `device`: "cpu" -> "cuda""#
    ]);
    assert_eq!(reasons(&ws, &["-p", "train.warmup=30"], TRAIN), vec!["param `warmup`: 10 -> 30"]);

    // A list is shown in full; a moved file with the same bytes is no reason.
    let moved = ws.path("moved-vectors.txt");
    std::fs::copy(ws.path("demo/vectors/demo-vectors.16d.txt"), &moved).unwrap();
    let moved_param = format!("tokenize.vectors={}", moved.display());
    assert_eq!(reasons(&ws, &["-p", &moved_param, "-p", "tokenize.vocab_splits=[train]"], "tokenize"), vec![
        r#"param `vocab_splits`: ["train","valid","test"] -> ["train"]"#
    ]);
    let status = ws.status_json_with(&["-p", &moved_param]);
    assert_eq!(stage(&status, "tokenize")["state"], "fresh", "moving an input keeps the key");
    // New content at the moved path is a reason, naming both paths.
    std::fs::write(&moved, std::fs::read_to_string(&moved).unwrap().replacen(' ', "  ", 1)).unwrap();
    let why = reasons(&ws, &["-p", &moved_param], "tokenize");
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("input `vectors` now reads") && why[0].contains("with other content"), "{why:?}");
}

#[test]
fn each_stage_has_a_current_link_to_what_the_last_run_used() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let link = ws.path("artifacts/tokenize/current");
    let first = std::fs::read_link(&link).unwrap();
    assert_eq!(first.to_str().unwrap(), ws.artifacts("tokenize")[0], "a relative link to the key folder");
    assert!(link.join("vocab.parquet").is_file(), "tables read through the link");
    ws.ok(&["run", "tokenize", "-p", "tokenize.vocab_splits=[train]"]);
    let second = std::fs::read_link(&link).unwrap();
    assert_ne!(first, second);
    // Reusing a cached artifact moves the link back.
    assert!(ws.ok(&["run", "tokenize"]).contains("cached  tokenize"));
    assert_eq!(std::fs::read_link(&link).unwrap(), first);
    // The link is not an artifact: status, verify and gc see two, and gc drops a link to what it removes.
    assert_eq!(ws.artifacts("tokenize").len(), 2);
    assert!(ws.ok(&["verify", "tokenize"]).contains("verify: 2 artifact(s) intact"));
    ws.ok(&["run", "tokenize", "-p", "tokenize.vocab_splits=[train]"]);
    let gc = ws.ok(&["gc", "--all-unused"]);
    assert!(gc.contains(&format!("removed tokenize/{}", second.display())), "{gc}");
    assert!(std::fs::symlink_metadata(&link).is_err(), "no link left dangling");
    ws.ok(&["run", "tokenize"]);
    assert_eq!(std::fs::read_link(&link).unwrap(), first);
}

#[test]
fn tuning_params_reuse_the_artifact_and_sets_are_canonical() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let comet_key = stage(&ws.status_json(), "comet")["key"].clone();
    // Threads and shard size change how COMET runs, not what it writes.
    let tuned = ["-p", "comet.threads=1", "-p", "comet.shard_size=7"];
    let status = ws.status_json_with(&tuned);
    assert_eq!(stage(&status, "comet")["key"], comet_key);
    assert_eq!(stage(&status, "tokenize")["state"], "fresh", "{status}");
    assert_eq!(stage(&status, "comet")["state"], "fresh", "{status}");
    assert_eq!(
        stage(&status, "comet")["reasons"],
        serde_json::json!([
            "tuning param `threads` (not in the key): 1 here, 0 when it was made",
            "tuning param `shard_size` (not in the key): 7 here, 512 when it was made"
        ])
    );
    let out = ws.ok(&[&["run", "tokenize"][..], &tuned[..]].concat());
    assert!(out.contains("cached  comet"), "{out}");
    assert!(out.contains("tuning param `threads` (not in the key): 1 here, 0 when it was made; reused"), "{out}");
    assert!(out.contains("tuning param `shard_size` (not in the key): 7 here, 512 when it was made"), "{out}");
    let dry = ws.ok(&[&["run", "--dry-run", "comet"][..], &tuned[..]].concat());
    assert!(dry.contains("cached (tuning param `threads` (not in the key): 1 here, 0 when it was made; tuning param `shard_size`"), "{dry}");
    // The claim behind it: one ONNX Runtime thread writes the table two threads wrote (this
    // machine's cores; `threads: 0` means all of them).
    let single = Ws::demo();
    single.ok(&["run", "comet", "-p", "comet.threads=1"]);
    let content = |ws: &Ws, args: &[&str]| ws.json(&[&["show", "comet", "--json"][..], args].concat())["content"].clone();
    assert_eq!(content(&single, &["-p", "comet.threads=1"]), content(&ws, &[]));
    // A key param still re-keys, and says why.
    assert_eq!(reasons(&ws, &["-p", "comet.num_beams=4"], "comet"), ["param `num_beams`: 5 -> 4"]);
    // The splits of the vocabulary are a set: any order is the same key.
    let tokenize_key = stage(&ws.status_json(), "tokenize")["key"].clone();
    let shuffled = ws.status_json_with(&["-p", "tokenize.vocab_splits=[test, valid, train]"]);
    assert_eq!(stage(&shuffled, "tokenize")["key"], tokenize_key);
    assert_eq!(stage(&shuffled, "tokenize")["state"], "fresh");
}

#[test]
fn stages_code_lists_what_each_fingerprint_covers() {
    let ws = Ws::demo();
    let out = ws.ok(&["stages", "--code"]);
    let block = |kind: &str| -> String {
        let start = out.find(&format!("\n{kind}: code ")).or_else(|| out.starts_with(&format!("{kind}: code ")).then_some(0)).unwrap();
        out[start..].trim_start().lines().take(4).collect::<Vec<_>>().join("\n")
    };
    let train = block("train");
    assert!(train.contains("  crates    iamm-core iamm-options iamm-plot iamm-tensorboard iamm-train\n"), "{train}");
    assert!(train.contains("src/kinds/train.rs") && !train.contains("model_io") && !train.contains("iamm-decode"), "{train}");
    assert!(train.contains("candle-core 0.11.1"), "{train}");
    let evaluate = block("evaluate");
    assert!(evaluate.contains("iamm-decode") && evaluate.contains("iamm-train") && evaluate.contains("src/kinds/model_io.rs"), "{evaluate}");
    let ingest = block("ingest");
    assert!(!ingest.contains("candle"), "{ingest}");
    // What `status` records as the code part of a key is this fingerprint.
    let hash = train.lines().next().unwrap().rsplit(' ').next().unwrap().to_string();
    ws.ok(&["run", TRAIN]);
    let m = ws.json(&["show", TRAIN, "--json"]);
    assert_eq!(m["key_parts"]["code"], hash.as_str(), "{m}");
}
