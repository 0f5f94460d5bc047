//! Bad input as a new user would produce it: every case exits 2 with a message that names
//! the file, the line and the key, creates no artifact and leaves earlier ones intact.

mod common;

use common::Ws;

const GOOD: &str = "stages:\n  ingest:\n    uses: ingest\n    params:\n      source: demo/ed\n  tokenize:\n    deps: [ingest]\n";

/// Runs `run all` on a broken pipeline.yaml and returns stderr.
fn broken_yaml(yaml: &str) -> String {
    let ws = Ws::new(yaml);
    let err = ws.fails(&["run", "all"]);
    assert!(!ws.path("artifacts/ingest").exists(), "no artifact for a broken pipeline");
    err
}

#[test]
fn yaml_unknown_key_names_line_and_key() {
    let err = broken_yaml("stages:\n  ingest:\n    uses: ingest\n    parms:\n      source: demo/ed\n");
    assert!(err.contains("pipeline.yaml"), "{err}");
    assert!(err.contains("parms"), "{err}");
    assert!(err.contains("line 4") || err.contains(":4:"), "{err}");
}

#[test]
fn yaml_unknown_param_names_line_and_lists_params() {
    let err = broken_yaml("stages:\n  ingest:\n    params:\n      source: demo/ed\n      sauce: 1\n");
    assert!(err.contains("pipeline.yaml:5: stage `ingest`: unknown param `sauce`"), "{err}");
    assert!(err.contains("on_bad_line"), "{err}");
}

#[test]
fn yaml_wrong_type_names_line_param_and_expectation() {
    let err = broken_yaml("stages:\n  ingest:\n    params:\n      source: demo/ed\n      verify_checksum: maybe\n");
    assert!(err.contains("pipeline.yaml:5: stage `ingest`, param `verify_checksum`: expected true or false"), "{err}");
    let err = broken_yaml("stages:\n  ingest:\n    deps: ingest\n    params: {source: demo/ed}\n");
    assert!(err.contains("pipeline.yaml") && err.contains("deps"), "{err}");
}

#[test]
fn yaml_bad_indentation_is_a_syntax_error_with_a_line() {
    let err = broken_yaml("stages:\n  ingest:\n    uses: ingest\n   params:\n      source: demo/ed\n");
    assert!(err.contains("pipeline.yaml: invalid pipeline file"), "{err}");
    assert!(err.contains('4'), "{err}");
}

#[test]
fn yaml_unknown_kind_and_missing_dep_and_cycle() {
    let err = broken_yaml("stages:\n  ingest:\n    uses: ingestor\n    params: {source: demo/ed}\n");
    assert!(err.contains("pipeline.yaml:3: stage `ingest`: unknown stage kind `ingestor`"), "{err}");
    assert!(err.contains("known kinds: ingest, comet, tokenize, train"), "{err}");

    let err = broken_yaml(&format!("{GOOD}  extra:\n    uses: tokenize\n    deps: [tokenise]\n"));
    assert!(err.contains("pipeline.yaml:10: stage `extra`, key `deps`: no stage named `tokenise`"), "{err}");

    let err = broken_yaml(
        "stages:\n  a:\n    uses: tokenize\n    deps: [b]\n  b:\n    uses: tokenize\n    deps: [a]\n",
    );
    assert!(err.contains("`deps` make a cycle: a -> b -> a"), "{err}");
    assert!(err.contains("pipeline.yaml:"), "{err}");
}

#[test]
fn missing_required_param_and_missing_path() {
    let err = broken_yaml("stages:\n  ingest:\n    uses: ingest\n");
    assert!(err.contains("param `source` is required"), "{err}");
    let err = broken_yaml("stages:\n  ingest:\n    params:\n      source: no/such/folder\n");
    assert!(err.contains("read by ingest.source (set by "), "{err}");
    assert!(err.contains("pipeline.yaml:4"), "{err}");
    assert!(err.contains("no such file or folder"), "{err}");
    assert!(err.contains("no/such/folder"), "{err}");
}

#[test]
fn bad_overrides_and_profiles_are_explained() {
    let ws = Ws::new(GOOD);
    assert!(ws.fails(&["run", "-p", "ingest.sauce=1"]).contains("stage `ingest` has no param `sauce`"));
    assert!(ws.fails(&["run", "-p", "ingest.verify_checksum=12"]).contains("expected true or false, found 12"));
    assert!(ws.fails(&["run", "-p", "nope.x=1"]).contains("no stage named `nope`"));
    assert!(ws.fails(&["run", "-p", "ingest"]).contains("expected stage.param=value"));
    assert!(ws.fails(&["run", "--profile", "papr"]).contains("no profile `papr`"));
    assert!(ws.fails(&["run", "tokenise"]).contains("no stage named `tokenise`"));
}

#[test]
fn missing_pipeline_file_says_where_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN).arg("status").current_dir(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipeline.yaml") && err.contains("-C DIR"), "{err}");
}

/// Breaks one demo CSV, runs, and checks the error names the file and line while the
/// artifacts of an earlier good run stay untouched.
fn broken_csv(file: &str, edit: impl Fn(&str) -> String, expect: &[&str]) {
    let ws = Ws::new(GOOD);
    ws.ok(&["run", "all"]);
    let before = ws.snapshot();
    let path = ws.path(&format!("demo/ed/{file}"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    let err = ws.fails(&["run", "all"]);
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
    assert_eq!(ws.snapshot(), before, "earlier artifacts must be intact");
    assert_eq!(ws.artifacts("ingest").len(), 1, "no new artifact");
}

fn replace_line(text: &str, line_no: usize, f: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line_no { f(l) } else { l.to_string() } + "\n")
        .collect()
}

#[test]
fn csv_wrong_column_count() {
    broken_csv("valid.csv", |t| replace_line(t, 5, |l| l.replacen(',', ",,,", 1)), &["valid.csv:5:", "found 10"]);
}

#[test]
fn csv_unknown_emotion() {
    broken_csv("test.csv", |t| replace_line(t, 3, |l| {
        let f: Vec<&str> = l.split(',').collect();
        let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
        f[2] = "happy".into();
        f.join(",")
    }), &["test.csv:3:", "unknown emotion label `happy`"]);
}

#[test]
fn csv_broken_utterance_idx() {
    broken_csv("train.csv", |t| replace_line(t, 3, |l| {
        let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
        f[1] = "7".into();
        f.join(",")
    }), &["train.csv:3:", "utterance_idx 7 follows 1"]);
}

#[test]
fn csv_non_utf8_bytes() {
    let ws = Ws::new(GOOD);
    let path = ws.path("demo/ed/train.csv");
    let mut bytes = std::fs::read(&path).unwrap();
    let pos = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(5).unwrap().0 + 40;
    bytes[pos] = 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = ws.fails(&["run", "all"]);
    assert!(err.contains("train.csv:7:") && err.contains("not valid UTF-8"), "{err}");
    assert!(!ws.path("artifacts/ingest").exists() || ws.artifacts("ingest").is_empty());
}

#[test]
fn csv_empty_header_only_truncated_and_missing_split() {
    broken_csv("test.csv", |_| String::new(), &["test.csv", "empty"]);
    broken_csv("test.csv", |t| t.lines().next().unwrap().to_string() + "\n", &["test.csv", "no conversations"]);
    broken_csv("valid.csv", |t| {
        let cut = t.trim_end().rfind(',').unwrap();
        let head = &t[..cut];
        head[..head.rfind(',').unwrap()].to_string()
    }, &["valid.csv:135:", "looks truncated"]);
    let ws = Ws::new(GOOD);
    std::fs::remove_file(ws.path("demo/ed/test.csv")).unwrap();
    let err = ws.fails(&["run", "all"]);
    assert!(err.contains("test.csv"), "{err}");
}

#[test]
fn skip_mode_records_bad_lines_in_the_manifest() {
    let ws = Ws::new(GOOD);
    let path = ws.path("demo/ed/valid.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    // Line 2 is the first utterance of a conversation: breaking it drops that conversation.
    std::fs::write(&path, replace_line(&text, 2, |l| l.replacen(',', ",,,", 1))).unwrap();
    ws.ok(&["run", "ingest", "-p", "ingest.on_bad_line=skip"]);
    let m = ws.json(&["show", "ingest", "--json", "-p", "ingest.on_bad_line=skip"]);
    let skipped = &m["stats"]["skipped_lines"];
    assert!(skipped["count"].as_u64().unwrap() >= 1, "{skipped}");
    assert_eq!(skipped["lines"][0]["line"], 2, "{skipped}");
    assert!(skipped["lines"][0]["file"].as_str().unwrap().ends_with("valid.csv"));
    assert_eq!(common::rows(&m, "dialogues_valid"), 31, "the broken conversation is dropped");
    assert_eq!(common::rows(&m, "dialogues_train"), 64);
}

#[test]
fn archive_source_checks_the_official_checksum() {
    let ws = Ws::new(GOOD);
    let archive = ws.path("ed.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&archive).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for split in ["train", "valid", "test"] {
        tar.append_path_with_name(ws.path(&format!("demo/ed/{split}.csv")), format!("empatheticdialogues/{split}.csv"))
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let err = ws.fails(&["run", "ingest", "-p", "ingest.source=ed.tar.gz"]);
    assert!(err.contains("240c492cb6199a315722f716bfcc14f13ea6605f1cec67349153b606be92f6f2"), "{err}");
    assert!(err.contains("verify_checksum"), "{err}");
    ws.ok(&["run", "ingest", "-p", "ingest.source=ed.tar.gz", "-p", "ingest.verify_checksum=false"]);
    let m = ws.json(&["show", "ingest", "--json", "-p", "ingest.source=ed.tar.gz", "-p", "ingest.verify_checksum=false"]);
    assert_eq!(m["stats"]["source"]["kind"], "archive");
    assert_eq!(common::rows(&m, "dialogues_train"), 64);
}
