//! Prints the coverage of 95% intervals on synthetic data with a known truth (the populations
//! are in `tests/sim/mod.rs`): `cargo run --release -p iamm-stats --example coverage [-- N TRIALS]`,
//! N the corpus size in responses (default 300; the rows at the real test set's 5,259 stay),
//! TRIALS per row (default 1000).

#[path = "../tests/sim/mod.rs"]
mod sim;

use iamm_stats::paired::Method;
use sim::{AccuracyMethod, DIVERSE, DistinctMethod, GENERIC, LONG_TAIL, Population, Sampling};

fn drawn(sampling: Sampling) -> &'static str {
    match sampling {
        Sampling::Responses => "independently",
        Sampling::Conversations => "conversations of 2",
    }
}

/// Coverage, mean width and how often the point is inside, in %.
fn figures(c: &sim::Coverage) -> String {
    format!(
        "{:.1}% | {:.2} | {:.1}%",
        100.0 * c.rate(),
        100.0 * c.mean_width(),
        100.0 * c.point_inside as f64 / c.trials as f64
    )
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("N and TRIALS are counts"));
    let (n, trials) = (args.next().unwrap_or(300), args.next().unwrap_or(1000));
    let ours: (&str, &DistinctMethod) = ("corrected jackknife, t (ours)", &sim::corrected_jackknife);
    let plain: (&str, &DistinctMethod) = ("plain jackknife, normal", &|g, _, level| sim::plain_jackknife(g, level));
    let before: (&str, &DistinctMethod) =
        ("percentile bootstrap, 1000 (before)", &|g, _, level| sim::percentile_bootstrap(g, level, 1000));
    let per_response: (&str, &DistinctMethod) = ("ours with responses as units", &|g, _, level| {
        iamm_stats::distinct_interval(g, None, level).unwrap().interval
    });
    println!(
        "Dist-n: {trials} corpora per row; truth = mean Dist-n of 20,000 corpora (4,000 at 5,259 responses), x100\n"
    );
    println!("| population | responses | drawn as | metric | truth | method | coverage | mean width | point inside |");
    println!("|---|---:|---|---|---:|---|---:|---:|---:|");
    // At the real test set's size the bootstrap is left out (1,000 resamples of 5,259 per trial).
    let real = 5259;
    let rows = [
        (GENERIC, Sampling::Responses, n, vec![ours, plain, before]),
        (DIVERSE, Sampling::Responses, n, vec![ours, plain, before]),
        (GENERIC, Sampling::Conversations, n, vec![ours, per_response, before]),
        (LONG_TAIL, Sampling::Responses, real, vec![ours, plain]),
        (LONG_TAIL, Sampling::Conversations, real, vec![ours, per_response]),
        (GENERIC, Sampling::Responses, real, vec![ours, plain]),
    ];
    for (recipe, sampling, size, methods) in rows {
        let pop = Population::new(&recipe);
        let truth = pop.truth(sampling, size, if size == real { 4_000 } else { 20_000 }, 99);
        for (method, interval) in methods {
            let coverage = sim::distinct_coverage(&pop, sampling, truth, size, trials, 7, interval);
            for (k, c) in coverage.iter().enumerate() {
                println!(
                    "| {} | {size} | {} | Dist-{} | {:.2} | {method} | {} |",
                    pop.name,
                    drawn(sampling),
                    k + 1,
                    100.0 * truth[k],
                    figures(c)
                );
            }
        }
    }
    println!(
        "\nAcc (mean over batches of 48 of batch accuracy, x100; Bernoulli examples): {trials} test sets per row\n"
    );
    println!("| examples (batches) | p | drawn as | method | coverage | mean width | point inside |");
    println!("|---|---:|---|---|---:|---:|---:|");
    let methods: [(&str, &AccuracyMethod); 3] = [
        ("t over batch accuracies (ours)", &sim::batch_t),
        ("percentile bootstrap over batches, 1000", &|c, b, level| sim::batch_bootstrap(c, b, level, 1000)),
        ("example-level percentile bootstrap, 1000 (before)", &|c, b, level| sim::example_bootstrap(c, b, level, 1000)),
    ];
    let cases = [100, 300, 1000, 5259]
        .into_iter()
        .flat_map(|examples| [(examples, 0.1, Sampling::Responses), (examples, 0.5, Sampling::Responses)])
        .chain([(1000, 0.5, Sampling::Conversations), (5259, 0.5, Sampling::Conversations)]);
    for (examples, p, sampling) in cases {
        for (method, interval) in methods {
            let c = sim::batch_accuracy_coverage(p, sampling, examples, 48, trials, 3, interval);
            println!(
                "| {examples} ({}) | {p} | {} | {method} | {} |",
                examples.div_ceil(48),
                drawn(sampling),
                figures(&c)
            );
        }
    }
    println!(
        "\nPaired tests under the null (exchangeable systems, 200 examples, R = 199): share of 400 pairs rejected at 0.05\n"
    );
    println!("| method | runs | Acc | PPL | Dist-1 | Dist-2 |");
    println!("|---|---:|---:|---:|---:|---:|");
    let pop = Population::new(&GENERIC);
    for (method, runs) in [(Method::Randomization, 1), (Method::Randomization, 3), (Method::Bootstrap, 1)] {
        let counts = sim::null_rejections(&pop, method, 400, runs);
        let shares: Vec<String> =
            counts.iter().map(|(rejected, _)| format!("{:.1}%", *rejected as f64 / 4.0)).collect();
        println!("| {} | {runs} | {} |", method.name(), shares.join(" | "));
    }
}
