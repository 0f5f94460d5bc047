//! Times ingestion of the real EmpatheticDialogues files.
//!
//! `cargo run --release -p iamm-ingest --example bench_ingest [-- <ed folder or tar.gz> [runs]]`
//! (default folder: `shared/data/ed` beside the checkout).

use std::path::PathBuf;
use std::time::Instant;

use iamm_ingest::{IngestOptions, ingest};
use indicatif::ProgressBar;

fn main() {
    let mut args = std::env::args().skip(1);
    let source = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ed")
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let opts = IngestOptions {
        verify_checksum: false,
        ..IngestOptions::default()
    };

    let mut times = Vec::with_capacity(runs);
    let mut summary = String::new();
    let mut rows = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        let got = match ingest(&source, &opts, &ProgressBar::hidden()) {
            Ok(got) => got,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        times.push(t.elapsed().as_secs_f64());
        let mut lines = Vec::new();
        rows = 0;
        for s in &got.splits {
            let utterances = s
                .dialogues
                .column_by_name("utterances")
                .map(|c| c.to_data().child_data()[0].len())
                .unwrap_or(0);
            rows += utterances;
            lines.push(format!(
                "{}: {} conversations, {} utterances, {} examples",
                s.split,
                s.dialogues.num_rows(),
                utterances,
                s.examples.num_rows()
            ));
        }
        summary = format!("{}\nutterance rows: {rows}", lines.join("\n"));
    }
    times.sort_by(f64::total_cmp);
    let best = times[0];
    let median = times[times.len() / 2];
    println!("{summary}");
    println!(
        "ingest of {}: best {best:.4} s, median {median:.4} s over {runs} runs; {:.0} rows/s (best)",
        source.display(),
        rows as f64 / best
    );
}
