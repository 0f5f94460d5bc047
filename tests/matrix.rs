//! Matrices on the binary: a stage declared once with `matrix:` runs as one cached stage per
//! combination; dependents expand along its axes or gather them; `-p` reaches members,
//! selectors and globs; bad declarations are errors with file:line; gc keeps every member any
//! profile uses.

mod common;

use common::{Ws, rows};
use serde_json::Value;

const MATRIX: &str = include_str!("matrix-pipeline.yaml");

fn stage<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap_or_else(|| panic!("no {name} in {status}"))
}

#[test]
fn members_are_named_wired_cached_and_addressed_by_p() {
    let ws = Ws::new(MATRIX);
    let dag = ws.ok(&["dag"]);
    // Columns are padded to the longest name: compare words.
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        "train[seed=2,variant=wo_ea] uses train <- tokenize",
        "evaluate[seed=2,variant=wo_ea] uses evaluate <- tokenize, train[seed=2,variant=wo_ea]",
        "analysis[seed=1] uses analysis <- tokenize, train[seed=1,variant=full]",
        "human_eval[seed=2] uses human_eval <- evaluate[seed=2,variant=full], evaluate[seed=2,variant=wo_ea]",
        "report uses report <- evaluate[seed=1,variant=full], evaluate[seed=1,variant=wo_ea], evaluate[seed=2,variant=full], evaluate[seed=2,variant=wo_ea]",
    ] {
        assert!(dag.lines().any(|l| words(l) == line), "{line}\nnot in\n{dag}");
    }
    let column = |l: &str| l.find(" uses ");
    assert!(dag.lines().all(|l| column(l) == column(dag.lines().next().unwrap())), "names in one column:\n{dag}");

    let member = ["-p", "train[seed=2,variant=wo_ea].max_steps=6"];
    let out = ws.ok(&[&["run", "all"][..], &member].concat());
    assert!(out.contains("ran     train[seed=1,variant=full]") && out.contains("ran     human_eval[seed=2]"), "{out}");
    assert!(out.contains("16 stage(s): 16 ran, 0 cached"), "{out}");
    let again = ws.ok(&[&["run", "train"][..], &member].concat());
    assert!(again.contains("7 stage(s): 0 ran, 7 cached"), "the base name runs every member: {again}");

    let show = |name: &str| ws.json(&[&["show", name, "--json"][..], &member].concat());
    let swept = show("train[seed=2,variant=wo_ea]");
    assert_eq!(swept["params"]["max_steps"], 6);
    assert_eq!((swept["params"]["seed"].as_u64(), swept["params"]["variant"].as_str()), (Some(2), Some("wo_ea")));
    assert_eq!(show("train[seed=1,variant=wo_ea]")["params"]["max_steps"], 4, "-p on a member sets that member only");
    let evaluated = show("evaluate[seed=2,variant=wo_ea]");
    assert_eq!(evaluated["key_parts"]["upstream"]["train[seed=2,variant=wo_ea]"], swept["key"]);
    assert_eq!(evaluated["stats"]["variant"], "wo_ea");
    let human = show("human_eval[seed=1]");
    assert_eq!(human["params"]["proposed"], "evaluate[seed=1,variant=full]", "a selector param names the member of its own expansion");
    assert_eq!(human["params"]["baseline"], "evaluate[seed=1,variant=wo_ea]");
    let report = show("report");
    assert_eq!(report["stats"]["runs"].as_array().unwrap().len(), 4, "{}", report["stats"]);
    assert!(rows(&show("analysis[seed=2]"), "associations") > 0);
    let link = ws.path("artifacts/train[seed=2,variant=wo_ea]/current");
    assert_eq!(std::fs::read_link(&link).unwrap().to_str(), swept["key"].as_str());
    assert!(ws.fails(&["show", "train"]).contains("`train` names 4 stages"));

    // The same member through a selector; every member through a glob.
    let status = ws.status_json_with(&member);
    assert!(status["stages"].as_array().unwrap().iter().all(|s| s["state"] == "fresh"), "{status}");
    let globbed = ws.status_json_with(&["-p", "train*.max_steps=5"]);
    for m in ["train[seed=1,variant=full]", "train[seed=2,variant=wo_ea]"] {
        let s = stage(&globbed, m);
        assert_eq!(s["state"], "stale", "{s}");
        assert!(s["reasons"][0].as_str().unwrap().starts_with("param `max_steps`: "), "{s}");
    }
    assert_eq!(stage(&globbed, "tokenize")["state"], "fresh");
    let selected = ws.status_json_with(&[&member[..], &["-p", "train[variant=full].max_steps=5"]].concat());
    assert_eq!(stage(&selected, "train[seed=2,variant=full]")["state"], "stale");
    assert_eq!(stage(&selected, "train[seed=2,variant=wo_ea]")["state"], "fresh");
    let punkt = common::shared_data().join("golden/punkt_english_params");
    let everywhere = ws.status_json_with(&[&member[..], &["-p", &format!("*.punkt={}", punkt.display())]].concat());
    for m in ["comet", "tokenize", "evaluate[seed=1,variant=full]"] {
        assert!(stage(&everywhere, m)["reasons"].to_string().contains("input `punkt` added"), "{m}: {everywhere}");
    }

    let err = ws.fails(&["run", "-p", "train.seed=7"]);
    assert!(err.contains("`seed` is a matrix axis of `train`") && err.contains("pipeline.yaml:14"), "{err}");
    let err = ws.fails(&["run", "-p", "ingest*.punkt=x"]);
    assert!(err.contains("`ingest*` matches ingest (ingest), and no stage among them has a param `punkt`"), "{err}");
    assert!(err.contains("stage kinds with `punkt`: comet, tokenize, evaluate"), "{err}");
    let err = ws.fails(&["run", "-p", "trian*.dim=8"]);
    assert!(err.contains("`trian*` matches no stage") && err.contains("train[seed=…,variant=…] (4 members)"), "{err}");
}

#[test]
fn bad_matrices_and_selectors_are_errors_with_file_and_line() {
    let cases = [
        ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {colour: [red]}", "pipeline.yaml:14: stage `train`, matrix: `colour` is not a param"),
        ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: []}", "pipeline.yaml:14: stage `train`, matrix axis `seed` is an empty list"),
        ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {seed: [1, 2, 1]}", "matrix axis `seed` lists `1` twice"),
        ("matrix: {variant: [full, wo_ea], seed: [1, 2]}", "matrix: {variant: [full, best]}", "pipeline.yaml:14: stage `train`, matrix axis `variant`: expected one of full"),
        ("params: {dim: 16,", "params: {seed: 3, dim: 16,", "pipeline.yaml:14: stage `train`: param `seed` is named twice"),
        (r#"deps: [tokenize, "train[variant=full]"]"#, r#"deps: [tokenize, "train[colour=red]"]"#, "pipeline.yaml:19: stage `analysis`, key `deps`: `train[colour=red]`: `train` has no axis `colour`; its axes: seed, variant"),
        (r#"deps: [tokenize, "train[variant=full]"]"#, r#"deps: [tokenize, "train[variant=best]"]"#, "`variant=best`: the values of `train`'s axis `variant` are full, wo_ea"),
        (r#"deps: [tokenize, "train[variant=full]"]"#, r#"deps: [tokenize, "train[variant]"]"#, "pipeline.yaml:19: stage `analysis`, key `deps`: `train[variant]` is not a stage name or selector"),
        (r#"deps: [tokenize, "train[variant=full]"]"#, r#"deps: [tokenize, "tokenize[seed=1]"]"#, "`tokenize` has no matrix"),
        ("matrix: {seed: [1, 2, 3]}", "matrix: {seed: [1, 2, 3], epochs: [1]}", "pipeline.yaml:29: stage `train`, matrix: `epochs` is not a param"),
        ("matrix: {seed: [1, 2, 3]}", "matrix: [1, 2, 3]", "pipeline.yaml:29: profile `paper`, stage `train`, key `matrix`: expected a mapping"),
    ];
    for (from, to, want) in cases {
        assert!(MATRIX.contains(from), "{from}");
        let ws = Ws::new(&MATRIX.replacen(from, to, 1));
        let err = ws.fails(&["dag"]);
        assert!(err.contains(want), "{to}:\n{err}\nwants {want}");
    }
    // Two deps that pass on one axis with different values cannot pair up.
    let ws = Ws::new(&format!("{MATRIX}\n").replace(
        "  evaluate:\n    deps: [tokenize, train]",
        "  train_b:\n    uses: train\n    deps: [tokenize]\n    matrix: {seed: [1, 3]}\n  evaluate:\n    deps: [tokenize, train, train_b]",
    ));
    let err = ws.fails(&["dag"]);
    assert!(err.contains("pipeline.yaml:21: stage `evaluate`: deps `train` and `train_b` both pass on axis `seed`, with different values (1, 2 vs 1, 3)"), "{err}");
}

#[test]
fn gc_keeps_every_member_of_every_profile_and_says_why_it_removes() {
    let ws = Ws::new(MATRIX);
    ws.ok(&["run", "train"]);
    ws.ok(&["run", "train", "--profile", "paper"]);
    // A hand-made sweep of one member.
    ws.ok(&["run", "train[seed=1,variant=full]", "-p", "train[seed=1,variant=full].max_steps=5"]);
    assert_eq!(ws.artifacts("train[seed=3,variant=wo_ea]").len(), 1, "the paper profile's third seed");
    assert_eq!(ws.artifacts("train[seed=1,variant=full]").len(), 2);

    let out = ws.ok(&["gc"]);
    assert!(out.contains("gc: 0 artifact(s) (0.0 MB) removed, 10 kept (1 that no profile uses"), "{out}");
    assert_eq!(ws.artifacts("train[seed=1,variant=full]").len(), 2, "plain gc keeps the sweep");

    // Without seeds in the matrix, seed 2's and 3's members are stages no profile has.
    std::fs::write(ws.path("pipeline.yaml"), MATRIX.replace("seed: [1, 2]}", "seed: [1]}").replace("matrix: {seed: [1, 2, 3]}", "dim: 16")).unwrap();
    let dry = ws.ok(&["gc", "--dry-run"]);
    let line = dry.lines().find(|l| l.starts_with("would remove train[seed=3,variant=wo_ea]/")).unwrap_or_else(|| panic!("{dry}"));
    assert!(line.contains("stage `train[seed=3,variant=wo_ea]` is not in") && line.contains("(under any profile); made "), "{line}");
    assert!(line.contains(" ago, last used "), "{line}");
    assert_eq!(dry.lines().filter(|l| l.starts_with("would remove ")).count(), 4, "seeds 2 and 3 of both variants: {dry}");
    assert!(dry.contains("gc: 4 artifact(s)") && dry.contains("would be removed, 6 kept (1 that no profile uses"), "{dry}");
    assert_eq!(ws.artifacts("train[seed=3,variant=wo_ea]").len(), 1, "a dry run removes nothing");

    let all = ws.ok(&["gc", "--all-unused"]);
    assert!(all.contains("the pipeline uses it under no profile (default, paper)"), "{all}");
    assert!(!ws.path("artifacts/train[seed=3,variant=wo_ea]").join("current").exists());
    assert_eq!(ws.artifacts("train[seed=1,variant=full]").len(), 1);
    assert!(ws.ok(&["run", "train"]).contains("0 ran, 5 cached"));
}
