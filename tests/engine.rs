//! End-to-end behaviour of the engine on the shipped demo corpus: caching, invalidation,
//! status, show, dry runs, locks, interrupted runs, gc and clean.

mod common;

use common::{Ws, rows};

#[test]
fn demo_runs_end_to_end_then_everything_is_cached() {
    let ws = Ws::demo();
    let first = ws.ok(&["run", "all"]);
    assert!(first.contains("ran     ingest"), "{first}");
    assert!(first.contains("ran     tokenize"), "{first}");

    let ingest = ws.json(&["show", "ingest", "--json"]);
    assert_eq!(rows(&ingest, "dialogues_train"), 64);
    assert_eq!(rows(&ingest, "dialogues_valid"), 32);
    assert_eq!(rows(&ingest, "dialogues_test"), 32);
    assert_eq!(rows(&ingest, "examples_train"), 126);
    assert_eq!(rows(&ingest, "examples_valid"), 63);
    assert_eq!(rows(&ingest, "examples_test"), 63);
    let path = ingest["tables"]["examples_test"]["path"].as_str().unwrap();
    assert!(std::path::Path::new(path).is_absolute() && std::path::Path::new(path).exists(), "{path}");
    assert_eq!(ingest["fresh"], true);

    let tok = ws.json(&["show", "tokenize", "--json"]);
    assert_eq!(rows(&tok, "examples_train"), 126);
    let vocab = rows(&tok, "vocab");
    assert_eq!(tok["stats"]["vocab_size"].as_u64(), Some(vocab));
    assert!(vocab > 900, "demo vocabulary {vocab}");
    assert_eq!(tok["stats"]["sentence_splitter"], "rule-based fallback (no Punkt parameters given)");
    assert_eq!(tok["stats"]["tokens"]["test"]["unknown"], 0, "all splits are in the vocabulary");
    assert!(tok["stats"]["vectors"]["percent"].as_f64().unwrap() > 50.0);
    assert_eq!(tok["key_parts"]["upstream"]["ingest"], ingest["key"]);

    let again = ws.ok(&["run", "all"]);
    assert!(again.contains("cached  ingest") && again.contains("cached  tokenize"), "{again}");
    let status = ws.status_json();
    let stages = status["stages"].as_array().unwrap().len();
    assert!(stages >= 15, "the demo runs every stage kind: {status}");
    assert!(again.contains(&format!("0 ran, {stages} cached")), "{again}");
    for s in status["stages"].as_array().unwrap() {
        assert_eq!(s["state"], "fresh", "{status}");
    }
}

#[test]
fn a_tokenize_param_reruns_tokenize_only_and_status_says_why() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let ingest_before = ws.artifacts("ingest");

    let out = ws.run(&["status", "-p", "tokenize.vocab_splits=[train]"]);
    assert_eq!(out.status.code(), Some(1), "status exits 1 when something is stale");
    let text = String::from_utf8_lossy(&out.stdout);
    let state = |stage: &str| text.lines().find(|l| l.starts_with(&format!("{stage} "))).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string());
    assert_eq!(state("tokenize").as_deref(), Some("stale"), "{text}");
    assert!(text.contains("param `vocab_splits`"), "{text}");
    assert_eq!(state("ingest").as_deref(), Some("fresh"), "{text}");
    // One column for the states, however long the stage names (the longest member's).
    let column = |stage: &str| text.lines().find(|l| l.starts_with(&format!("{stage} "))).and_then(|l| l.find("stale").or(l.find("fresh")).or(l.find("missing")));
    assert!(column("tokenize").is_some(), "{text}");
    assert_eq!(column("tokenize"), column(&common::demo::variant("evaluate", "wo_ea")), "{text}");

    let dry = ws.ok(&["run", "all", "--dry-run", "-p", "tokenize.vocab_splits=[train]"]);
    assert!(dry.contains("would run: param `vocab_splits`"), "{dry}");
    assert_eq!(ws.artifacts("tokenize").len(), 1, "a dry run builds nothing");

    let run = ws.ok(&["run", "tokenize", "-p", "tokenize.vocab_splits=[train]"]);
    assert!(run.contains("cached  ingest") && run.contains("ran     tokenize"), "{run}");
    assert_eq!(ws.artifacts("ingest"), ingest_before);
    assert_eq!(ws.artifacts("tokenize").len(), 2, "both variants stay cached side by side");

    let tok = ws.json(&["show", "tokenize", "--json", "-p", "tokenize.vocab_splits=[train]"]);
    let unknown = tok["stats"]["tokens"]["test"]["unknown"].as_u64().unwrap();
    assert!(unknown > 0, "a train-only vocabulary leaves test words unknown");
    // Back to the default: cached again, nothing runs.
    assert!(ws.ok(&["run", "tokenize"]).contains("0 ran, 3 cached"));
}

#[test]
fn same_size_edit_is_detected_and_touch_is_not() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let csv = ws.path("demo/ed/test.csv");
    let text = std::fs::read_to_string(&csv).unwrap();

    // Rewrite with identical content: a new mtime, the same hash.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&csv, &text).unwrap();
    assert!(ws.ok(&["run", "tokenize"]).contains("0 ran, 3 cached"));

    // Same size, different content: one letter of the last utterance changes case.
    let last_line = text.trim_end().rfind('\n').unwrap() + 1;
    let utterance = last_line + text[last_line..].match_indices(',').nth(4).unwrap().0 + 1;
    let pos = utterance + text[utterance..].find(|c: char| c.is_ascii_lowercase()).unwrap();
    let mut edited = text.clone();
    edited.replace_range(pos..pos + 1, &text[pos..pos + 1].to_uppercase());
    assert_eq!(edited.len(), text.len());
    std::fs::write(&csv, &edited).unwrap();
    let out = ws.run(&["status"]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.lines().any(|l| l.starts_with("ingest ") && l.contains(" stale ")), "{status}");
    assert!(status.contains("input `source` changed"), "{status}");
    assert!(status.contains("upstream stage `ingest` changed"), "{status}");
    let run = ws.ok(&["run", "tokenize"]);
    assert!(run.contains("3 ran, 0 cached"), "{run}");
}

#[test]
fn force_reruns_only_what_is_named() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let out = ws.ok(&["run", "tokenize", "--force"]);
    assert!(out.contains("cached  ingest") && out.contains("ran     tokenize"), "{out}");
    assert_eq!(ws.artifacts("tokenize").len(), 1, "the same key is replaced in place");
    assert!(out.contains("1 ran, 2 cached"), "only the named stage is forced: {out}");
}

#[test]
fn interrupted_leftovers_are_never_trusted() {
    let ws = Ws::demo();
    ws.ok(&["run", "ingest"]);
    let status = ws.status_json();
    let tokenize = status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "tokenize").unwrap();
    let key = tokenize["key"].as_str().unwrap().to_string();
    // What a kill -9 in the middle of writing tokenize leaves behind.
    let tmp = ws.path(&format!("artifacts/tokenize/.tmp-{key}-99999"));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("vocab.parquet"), b"half a file").unwrap();
    // A folder under the final name without a manifest is not an artifact either.
    let fake = ws.path(&format!("artifacts/tokenize/{key}"));
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("vocab.parquet"), b"junk").unwrap();
    let status = ws.status_json();
    assert_eq!(status["stages"][1]["state"], "missing");
    let out = ws.ok(&["run", "tokenize"]);
    assert!(out.contains("ran     tokenize"), "{out}");
    assert!(!tmp.exists(), "a run sweeps its own stage's leftovers under the stage's lock");
    let tok = ws.json(&["show", "tokenize", "--json"]);
    assert!(rows(&tok, "vocab") > 900);
}

#[test]
fn a_stale_lock_is_taken_over_and_a_held_lock_is_reported() {
    let ws = Ws::demo();
    std::fs::create_dir_all(ws.path("artifacts")).unwrap();
    std::fs::write(ws.path("artifacts/.lock"), "pid 4194000 since unix time 1").unwrap();
    let out = ws.run(&["run", "ingest"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stale lock left by pid 4194000"));

    // Hold the lock from this process and ask for --no-wait.
    let f = std::fs::OpenOptions::new().write(true).open(ws.path("artifacts/.lock")).unwrap();
    f.lock().unwrap();
    std::fs::write(ws.path("artifacts/.lock"), "pid 1234 since unix time 5").unwrap();
    let err = ws.fails(&["run", "all", "--no-wait"]);
    assert!(err.contains("another iamm-pipe command (pid 1234"), "{err}");
    f.unlock().unwrap();
}

#[test]
fn concurrent_runs_do_not_corrupt_each_other() {
    let ws = Ws::demo();
    let spawn = || {
        std::process::Command::new(common::BIN)
            .args(["run", "tokenize"])
            .current_dir(ws.dir.path())
            .output()
            .expect("spawn")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success() && b.status.success());
    let both = format!("{}{}", String::from_utf8_lossy(&a.stdout), String::from_utf8_lossy(&b.stdout));
    assert_eq!(both.matches("ran     ingest").count(), 1, "{both}");
    assert_eq!(both.matches("cached  ingest").count(), 1, "{both}");
    assert_eq!(ws.artifacts("ingest").len(), 1);
    assert_eq!(ws.artifacts("tokenize").len(), 1);
}

#[test]
fn gc_keeps_what_profiles_use_and_a_sweep_until_all_unused_and_clean_removes_a_stage() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    ws.ok(&["run", "tokenize", "-p", "tokenize.vocab_splits=[train]"]);
    assert_eq!(ws.artifacts("tokenize").len(), 2);
    // A leftover of another key, as a kill leaves it: only gc sweeps it.
    let leftover = ws.path("artifacts/tokenize/.tmp-0123456789abcdef0123-99999");
    std::fs::create_dir_all(&leftover).unwrap();
    let dry = ws.ok(&["gc", "--dry-run"]);
    assert!(dry.contains("would remove artifacts/tokenize/.tmp-0123456789abcdef0123-99999: left by an interrupted run"), "{dry}");
    assert!(!dry.contains("would remove tokenize/"), "plain gc keeps a -p sweep: {dry}");
    assert!(dry.contains("(1 that no profile uses, such as a `-p` sweep: `gc --all-unused` removes them)"), "{dry}");
    assert!(leftover.exists(), "a dry run removes nothing");
    let out = ws.ok(&["gc"]);
    assert!(out.contains("gc: 0 artifact(s) (0.0 MB) removed"), "{out}");
    assert!(!leftover.exists());
    assert_eq!(ws.artifacts("tokenize").len(), 2);

    let dry = ws.ok(&["gc", "--all-unused", "--dry-run"]);
    let line = dry.lines().find(|l| l.starts_with("would remove tokenize/")).unwrap_or_else(|| panic!("{dry}"));
    assert!(line.contains("the pipeline uses it under no profile (default, seeds, paper)") && line.contains("made ") && line.contains(" ago, last used "), "{line}");
    let out = ws.ok(&["gc", "--all-unused"]);
    assert!(out.contains("gc: 1 artifact(s)"), "{out}");
    assert_eq!(ws.artifacts("tokenize").len(), 1);
    assert!(ws.ok(&["run", "tokenize"]).contains("0 ran, 3 cached"), "gc kept the current ones");

    ws.ok(&["clean", "tokenize"]);
    assert!(ws.artifacts("tokenize").is_empty());
    assert_eq!(ws.artifacts("ingest").len(), 1);
    let err = ws.fails(&["clean"]);
    assert!(err.contains("--all"), "{err}");
}

#[test]
fn dag_and_stages_describe_the_pipeline() {
    let ws = Ws::demo();
    let dag = ws.ok(&["dag"]);
    // Columns are padded to the longest name: compare words.
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in ["ingest uses ingest (source)", "tokenize uses tokenize <- ingest, comet", "train[seed=42,variant=wo_ia] uses train <- tokenize"] {
        assert!(dag.lines().any(|l| words(l) == line), "{line}\nnot in\n{dag}");
    }
    let dot = ws.ok(&["dag", "--dot"]);
    assert!(dot.contains("\"ingest\" -> \"tokenize\";"), "{dot}");
    let stages = ws.ok(&["stages"]);
    for param in ["source", "on_bad_line", "verify_checksum", "punkt", "vocab_splits", "vectors"] {
        assert!(stages.contains(param), "{param} missing from {stages}");
    }
}

#[test]
fn show_prints_schema_rows_and_head() {
    let ws = Ws::demo();
    ws.ok(&["run", "tokenize"]);
    let text = ws.ok(&["show", "tokenize", "--rows", "2"]);
    assert!(text.contains("table vocab: "), "{text}");
    assert!(text.contains("context_roles    List(List(UInt32))"), "{text}");
    assert!(text.contains("[0] 0 | UNK | 0"), "{text}");
    let err = ws.fails(&["show", "nope"]);
    assert!(err.contains("no stage named `nope`"), "{err}");
}

#[test]
fn the_tool_runs_from_another_folder_with_dash_c() {
    let ws = Ws::demo();
    let out = std::process::Command::new(common::BIN)
        .args(["-C", ws.dir.path().to_str().unwrap(), "run", "ingest"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ws.artifacts("ingest").len(), 1);
}
