//! Progress in a log: when stderr is not a terminal, every stage prints plain lines at a
//! steady pace (`--progress-every`), training one more at each validation, and nothing draws
//! bars; `--progress=none` prints none and `--progress=bar` draws them anyway.

mod common;

use common::Ws;
use common::demo::TRAIN;

fn stderr_of(ws: &Ws, args: &[&str]) -> String {
    let out = ws.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "iamm-pipe {args:?} failed:\n{stderr}");
    stderr
}

/// `N` of `  STAGE: training N/40 steps …`.
fn step_of(line: &str) -> u64 {
    let count = line.split_once(": training ").map_or(line, |(_, rest)| rest).split('/').next().unwrap();
    count.parse().unwrap_or_else(|_| panic!("a step count in {line:?}"))
}

#[test]
fn a_log_gets_plain_lines_with_steps_rate_eta_loss_and_each_validation() {
    let ws = Ws::demo();
    // The demo trains 40 updates and validates after updates 20 and 40.
    let stderr = stderr_of(&ws, &["run", TRAIN, "--progress-every", "0.2"]);
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "no bar drawing in a log: {stderr:?}");

    let prefix = format!("  {TRAIN}: training ");
    let train: Vec<&str> = stderr.lines().filter(|l| l.starts_with(&prefix)).collect();
    let steps: Vec<u64> = train.iter().map(|l| step_of(l)).collect();
    assert!(steps.len() >= 3, "lines at a steady pace: {stderr}");
    assert!(steps.windows(2).all(|w| w[0] <= w[1]) && steps[0] < steps[steps.len() - 1], "steps grow: {steps:?}");
    for line in &train {
        assert!(line.contains("/40 steps (") && line.contains(" steps/s, elapsed "), "{line}");
        // The loss from the first update on.
        assert_eq!(step_of(line) > 0, line.contains(", loss "), "{line}");
    }
    assert!(train.iter().any(|l| l.contains(", eta ")), "an ETA while training: {stderr}");

    let m = ws.json(&["show", TRAIN, "--json"]);
    let evals = common::table(&m, "curve_evals");
    let ppl = evals.column_by_name("ppl").unwrap().as_any().downcast_ref::<arrow_array::Float64Array>().unwrap();
    let validations: Vec<&&str> = train.iter().filter(|l| l.contains("; validation PPL ")).collect();
    assert_eq!(validations.len(), 2, "one line per validation: {stderr}");
    for (line, (step, ppl)) in validations.iter().zip([(20, ppl.value(0)), (40, ppl.value(1))]) {
        assert_eq!(step_of(line), step, "{line}");
        assert!(line.contains(&format!("validation PPL {ppl:.2}, accuracy ")), "the curve's PPL {ppl:.2}: {line}");
    }

    // Not only training: COMET's generation (seconds on the demo) reports the same way.
    assert!(
        stderr.lines().any(|l| l.starts_with("  comet: generating ") && l.contains("/2,130 queries (")),
        "{stderr}"
    );
}

#[test]
fn none_prints_no_progress_bar_draws_anyway_and_the_interval_is_checked() {
    let ws = Ws::demo();
    let stderr = stderr_of(&ws, &["run", "comet", "--progress=none", "--progress-every", "0.05"]);
    assert!(!stderr.contains("generating"), "{stderr}");

    let stderr = stderr_of(&ws, &["run", "comet", "--force", "--progress=bar"]);
    assert!(stderr.contains("generating") && stderr.contains("\x1b["), "a drawn bar: {stderr:?}");

    let err = ws.fails(&["run", "--progress-every", "0"]);
    assert!(err.contains("expected a positive number of seconds, found `0`"), "{err}");
}
