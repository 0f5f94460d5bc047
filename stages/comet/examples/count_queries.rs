//! How many COMET queries a corpus needs after deduplication, against the naive count:
//! `cargo run --release -p iamm-comet --example count_queries -- ED_DIR [PUNKT_DIR]`.

use std::path::PathBuf;
use std::time::Instant;

use iamm_comet::queries;
use iamm_core::RELATIONS;
use iamm_ingest::{IngestOptions, ingest};
use iamm_text::{PunktParams, Tokenizer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let ed = PathBuf::from(args.next().ok_or("usage: count_queries ED_DIR [PUNKT_DIR]")?);
    let punkt = match args.next() {
        Some(dir) => PunktParams::load_dir(dir.as_ref())?,
        None => PunktParams::fallback(),
    };
    let started = Instant::now();
    let ingested = ingest(&ed, &IngestOptions::default(), &indicatif::ProgressBar::hidden())?;
    let examples = ingested
        .splits
        .iter()
        .map(|s| iamm_tables::text_examples::read(&s.examples, &format!("examples_{}", s.split)))
        .collect::<Result<Vec<_>, _>>()?;
    let s = queries::sentences(&examples.iter().map(Vec::as_slice).collect::<Vec<_>>(), &Tokenizer::new(punkt));
    let r = RELATIONS.len();
    println!("context utterances + situations over all examples: {} ({} queries)", s.naive, s.naive * r);
    println!("unique after preprocessing and deduplication:       {} ({} queries)", s.unique.len(), s.unique.len() * r);
    println!("saved: {:.1}% of the queries ({:.2}s)", 100.0 * (1.0 - s.unique.len() as f64 / s.naive as f64), started.elapsed().as_secs_f64());
    Ok(())
}
