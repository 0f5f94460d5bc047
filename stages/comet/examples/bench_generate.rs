//! Queries per second of COMET-style generation (5 beams, 5 returned sequences) at batch 1 and 8.
//!
//! cargo run --release -p iamm-comet --example bench_generate -- MODEL_DIR [THREADS]

use std::time::Instant;

use iamm_comet::{Overrides, RuntimeOptions, Seq2Seq, SessionOptions};

/// EmpatheticDialogues-like sentences, preprocessed like the reference (lowercase, tokens joined by spaces).
const SENTENCES: [&str; 20] = [
    "i lost my job last week and i do not know what to do",
    "my sister is getting married next month",
    "i found a wallet on the street and returned it to its owner",
    "i was so scared when i heard a noise downstairs last night",
    "my dog passed away yesterday",
    "i finally finished my degree after six years",
    "someone stole my bike from outside the library",
    "i am going to visit my grandparents this weekend",
    "my best friend forgot my birthday",
    "i got a promotion at work today !",
    "i can not wait for the new season of my favorite show",
    "i failed my driving test for the third time",
    "my neighbor keeps playing loud music at night",
    "i won a small prize in the lottery",
    "i miss the days when we used to play in the park",
    "i am nervous about my job interview tomorrow",
    "my son said his first word today",
    "i cheated on a test in high school and still feel bad about it",
    "we adopted a kitten from the shelter",
    "the power went out during the storm and we had no heat",
];
const RELATIONS: [&str; 5] = ["xIntent", "xNeed", "xWant", "xEffect", "xReact"];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: bench_generate MODEL_DIR [THREADS]")?;
    let threads: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(1);
    let rt = iamm_comet::runtime(&RuntimeOptions::default())?;
    let mut model = Seq2Seq::load(dir.as_ref(), rt, &SessionOptions { threads, ..Default::default() })?;
    let overrides = Overrides { num_beams: Some(5), num_return_sequences: Some(5), ..Default::default() };
    // The reference merges task_specific_params["summarization"]; models without it use their config.
    let settings = model.settings(Some("summarization"), &overrides).or_else(|_| model.settings(None, &overrides))?;
    let queries: Vec<String> =
        SENTENCES.iter().enumerate().map(|(i, s)| format!("{s} {} [GEN]", RELATIONS[i % RELATIONS.len()])).collect();
    let refs: Vec<&str> = queries.iter().map(String::as_str).collect();
    println!("{} ({}), {threads} thread(s), {}", dir, &model.model_hash()[..12], rt.describe());
    println!("settings: {}", serde_json::to_string(&settings)?);
    model.generate(&refs[..2], &settings)?; // warm-up
    for batch in [1usize, 8] {
        let start = Instant::now();
        let mut beams = 0;
        for chunk in refs.chunks(batch) {
            beams += model.generate(chunk, &settings)?.iter().map(Vec::len).sum::<usize>();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "batch {batch}: {} queries in {secs:.3} s = {:.1} queries/s ({beams} beams)",
            refs.len(),
            refs.len() as f64 / secs
        );
    }
    Ok(())
}
