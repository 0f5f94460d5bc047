//! The README's sample outputs are what this build prints on the demo. Each sample is a fenced
//! block after a `<!-- sample: NAME -->` line; timings and rates may differ, nothing else.
//! `scripts/readme-samples.sh` rewrites them (this test with `IAMM_UPDATE_README=1`).
//!
//! Training's float sums follow the matrix kernels' cache blocking and SIMD width, which `gemm`
//! picks from the CPU: on a CPU whose caches or vector units differ from those of the machine
//! that made the samples (recorded in the README), the model's numbers differ in the last
//! digits and beyond, so there only the text around the numbers is compared.

mod common;

use common::Ws;
use common::demo::{self, EVALUATE};

/// What the demo prints for each named sample.
fn samples(ws: &Ws) -> Vec<(&'static str, String)> {
    let workspace = ws.dir.path().display().to_string();
    let run = ws.ok(&["run", "all"]).replace(&workspace, "/…");

    // Table 1 and the further metrics; of the traceability list, its first entry, cut.
    let report = ws.ok(&["report"]);
    let lines: Vec<&str> = report.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("| Model |")).expect("Table 1 in the report");
    let trace = lines.iter().position(|l| *l == "### Traceability").expect("traceability in the report");
    let mut kept: Vec<String> = lines[start..=trace + 2].iter().map(|l| cut(l, 180)).collect();
    // The metrics' legend is in the README's own text; drop it and the blank line after it.
    if let Some(at) = kept.iter().position(|l| l.starts_with("Acc (examples):")) {
        kept.drain(at..=at + 1);
    }
    kept.push("…".into());

    let wo_ia = demo::variant("evaluate", "wo_ia");
    let compare = ws.ok(&["report", "--compare", EVALUATE, &wo_ia]);
    let mut compared = vec![format!("$ iamm-pipe report --compare '{EVALUATE}' '{wo_ia}'")];
    compared.extend(compare.lines().take(7).map(str::to_string));
    compared.push("…".into());

    // The seeds profile: our rows of Table 1 and the significance table.
    ws.ok(&["run", "report", "--profile", "seeds"]);
    let seeds = ws.ok(&["report", "--profile", "seeds"]);
    let mut shown: Vec<String> = ["$ iamm-pipe run report --profile seeds", "$ iamm-pipe report --profile seeds"].map(String::from).to_vec();
    let table1 = seeds.lines().skip_while(|l| !l.starts_with("| Model |")).take_while(|l| l.starts_with('|'));
    shown.extend(table1.clone().take(2).map(String::from));
    shown.push("…".into());
    shown.extend(table1.filter(|l| l.contains("| ours (")).map(String::from));
    shown.push("…".into());
    shown.extend(seeds.lines().skip_while(|l| !l.starts_with("| System | vs |")).take_while(|l| l.starts_with('|')).map(String::from));

    vec![
        ("run-all", run),
        ("report", kept.join("\n") + "\n"),
        ("report-compare", compared.join("\n") + "\n"),
        ("report-seeds", shown.join("\n") + "\n"),
    ]
}

fn cut(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// Timings (`0.22s`, `in 21.83s`) and rates (`302.4 ex/s`) blanked out.
fn without_timings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let len = from.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(from.len());
        let (number, after) = from.split_at(len);
        let timing = number.contains('.') && (after.starts_with("s ") || after.starts_with("s.") || after.starts_with("s\n"));
        let rate = after.starts_with(" ex/s");
        let preceded_by_word = before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '@' || c == '/');
        if (timing || rate) && !preceded_by_word {
            // Right-aligned timings take more columns when they grow: blank the padding too.
            if timing && out.ends_with(' ') {
                out.truncate(out.trim_end_matches(' ').len());
                out.push(' ');
            }
            out.push('#');
        } else {
            out.push_str(number);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The README's fenced block after `<!-- sample: name -->`: (first line, end line) of its content.
fn block(readme: &[&str], name: &str) -> (usize, usize) {
    let marker = format!("<!-- sample: {name} -->");
    let at = readme.iter().position(|l| l.trim() == marker).unwrap_or_else(|| panic!("README has no `{marker}`"));
    assert!(readme[at + 1].starts_with("```"), "`{marker}` must be followed by a fenced block");
    let end = readme[at + 2..].iter().position(|l| l.starts_with("```")).expect("the block ends") + at + 2;
    (at + 2, end)
}

const GEOMETRY_MARKER: &str = "<!-- samples made on a CPU with: ";

/// The cache levels (size, ways) and vector width that decide how `gemm` blocks its sums.
fn cpu_geometry() -> String {
    let caches = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let read = |dir: &std::path::Path, file: &str| std::fs::read_to_string(dir.join(file)).map(|s| s.trim().to_string());
    let mut levels: Vec<String> = std::fs::read_dir(caches)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let kind = read(&dir, "type").ok()?;
            let name = match kind.as_str() {
                "Data" => "d",
                "Unified" => "",
                _ => return None,
            };
            Some(format!("L{}{name} {} {}-way", read(&dir, "level").ok()?, read(&dir, "size").ok()?, read(&dir, "ways_of_associativity").ok()?))
        })
        .collect();
    levels.sort();
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let widest = ["avx512f", "avx2", "sse2"].into_iter().find(|f| flags.split_whitespace().any(|w| w == *f)).unwrap_or("unknown");
    levels.push(widest.to_string());
    levels.join(", ")
}

/// Every number (a run of digits and dots) as one `#`: what is left to compare where the CPU differs.
fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        let part_of_number = c.is_ascii_digit() || (in_number && c == '.');
        if !part_of_number {
            out.push(c);
        } else if !in_number {
            out.push('#');
        }
        in_number = part_of_number;
    }
    out
}

#[test]
fn readme_samples_are_what_the_demo_prints() {
    let ws = Ws::demo();
    let samples = samples(&ws);
    let path = common::repo().join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    if std::env::var_os("IAMM_UPDATE_README").is_some() {
        let marker = format!("{GEOMETRY_MARKER}{} -->", cpu_geometry());
        let mut updated: Vec<String> = lines.iter().map(|l| if l.starts_with(GEOMETRY_MARKER) { marker.clone() } else { l.to_string() }).collect();
        // Later blocks first, so that earlier line numbers stay valid.
        let mut found: Vec<_> = samples.iter().map(|(name, s)| (block(&lines, name), s)).collect();
        found.sort_by_key(|((start, _), _)| std::cmp::Reverse(*start));
        for ((start, end), sample) in found {
            updated.splice(start..end, sample.lines().map(str::to_string));
        }
        std::fs::write(&path, updated.join("\n") + "\n").unwrap();
        return;
    }
    let made_on = lines
        .iter()
        .find_map(|l| l.strip_prefix(GEOMETRY_MARKER).and_then(|rest| rest.strip_suffix(" -->")))
        .unwrap_or_else(|| panic!("README has no `{GEOMETRY_MARKER}… -->` line; run scripts/readme-samples.sh"));
    let here = cpu_geometry();
    let same_cpu = made_on == here;
    if !same_cpu {
        eprintln!("the README's samples were made on a CPU with {made_on}, this one has {here}: comparing the text without its numbers");
    }
    for (name, sample) in &samples {
        let (start, end) = block(&lines, name);
        let shown = lines[start..end].join("\n") + "\n";
        let (mut want, mut got) = (without_timings(sample), without_timings(&shown));
        if !same_cpu {
            (want, got) = (without_numbers(&want), without_numbers(&got));
        }
        if want != got {
            let diff: Vec<String> = want
                .lines()
                .zip(got.lines().chain(std::iter::repeat("<missing>")))
                .filter(|(w, g)| w != g)
                .take(5)
                .map(|(w, g)| format!("  README: {g}\n  demo:   {w}"))
                .collect();
            panic!(
                "README sample `{name}` (line {}) differs from what the demo prints; run scripts/readme-samples.sh\n{}",
                start + 1,
                if diff.is_empty() { "  (line counts differ)".to_string() } else { diff.join("\n") }
            );
        }
    }
}

#[test]
fn timings_and_only_timings_are_blanked() {
    assert_eq!(
        without_timings("  ran     ingest              0.00s  128 dialogues, 252 examples"),
        "  ran     ingest #s  128 dialogues, 252 examples"
    );
    assert_eq!(without_timings("on 63 test examples (302.4 ex/s)\nin 21.83s. Outputs"), "on 63 test examples (# ex/s)\nin #s. Outputs");
    assert_eq!(without_timings("  ran     comet              10.02s  426"), without_timings("  ran     comet               8.02s  426"));
    assert_eq!(without_timings("Acc 4.17% PPL 61.30 step 40 valid PPL 52.30"), "Acc 4.17% PPL 61.30 step 40 valid PPL 52.30");
    assert_eq!(without_timings("artifact 8b670f0f90ac350ebac1s"), "artifact 8b670f0f90ac350ebac1s");
}

#[test]
fn numbers_of_any_width_compare_equal_without_them() {
    assert_eq!(without_numbers("loss 15.926, PPL 9.5."), without_numbers("loss 9.1, PPL 120.75."));
    assert_eq!(without_numbers("Acc 4.17% (40 updates)"), "Acc #% (# updates)");
    assert_ne!(without_numbers("selected step 40 valid PPL"), without_numbers("selected step 40 test PPL"));
}
