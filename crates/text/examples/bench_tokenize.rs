//! Tokenizes every text of a golden file on one thread and reports the speed.
//!
//! `cargo run --release -p iamm-text --example bench_tokenize -- [GOLDEN_TSV] [PUNKT_DIR]`
//! (defaults: the shared golden train file and English Punkt parameters).

use std::path::PathBuf;
use std::time::Instant;

use iamm_text::{PunktParams, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let golden = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/golden"
    ));
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .map_or_else(|| golden.join("ed_tokens.train.tsv"), PathBuf::from);
    let params = args
        .next()
        .map_or_else(|| golden.join("punkt_english_params"), PathBuf::from);

    let data = std::fs::read_to_string(&file)?;
    let texts: Vec<&str> = data
        .lines()
        .map(|l| l.rsplit_once('\t').map_or(l, |(text, _)| text))
        .collect();
    let tokenizer = Tokenizer::new(PunktParams::load_dir(&params)?);

    let start = Instant::now();
    let tokens: usize = texts.iter().map(|t| tokenizer.process_sent(t).len()).sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} sentences, {tokens} tokens in {secs:.3} s: {:.0} sentences/s ({})",
        texts.len(),
        texts.len() as f64 / secs,
        tokenizer.describe()
    );
    Ok(())
}
