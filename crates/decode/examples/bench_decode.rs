//! Greedy decoding speed at the reference sizes (V = 23,712): the incremental decoder
//! (`iamm_decode::generate`: key/value cache, finished rows dropped) against the
//! reference's full recompute of the prefix at every step (`Iamm::greedy_full_recompute`),
//! on the same inputs, with a check that both give the same tokens.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p iamm-decode --example bench_decode -- \
//!     [--examples 96] [--batch 48] [--baseline 48] [--eos-bias 7.8] [--steps 51] [--model DIR]
//! ```
//!
//! Inputs have real ED shapes: the utterance, situation and target lengths (and emotions) of
//! `../shared/data/bench/reference_batches.json` (560 ED training examples), cycled, with
//! random word ids; COMET knowledge of 17 words per relation (xReact 6), as the reference's
//! filtered 5 beams. The model is reference-initialised (seed 42), or loaded from `--model DIR`
//! (`model.safetensors` + `config.json`, what the train stage publishes). A random model
//! rarely says EOS, so every response would run all 51 steps; `--eos-bias` adds to the
//! generator's EOS logit so that responses end after ED-like lengths (a trained model's
//! behaviour; 0 keeps the random model as is). `--baseline` examples (the first ones) are also
//! decoded by the full recompute. Prints examples/s, tokens/s, peak RSS (VmHWM) and the load
//! average, and extrapolates to the 5,255 test examples.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use iamm_core::special::{CLS, EOS, SYS, USR};
use iamm_decode::{DecodeOptions, generate_encoded};
use iamm_train::{Comet, Example, Iamm, IammConfig, Published, collate};

const TEST_EXAMPLES: f64 = 5255.0;

struct Args {
    examples: usize,
    batch: usize,
    baseline: usize,
    eos_bias: f32,
    steps: usize,
    model: Option<PathBuf>,
    shapes: PathBuf,
}

fn parse() -> Args {
    let mut a = Args {
        examples: 96,
        batch: 48,
        baseline: 48,
        eos_bias: 7.8,
        steps: 51,
        model: None,
        shapes: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bench/reference_batches.json"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--examples" => a.examples = v().parse().expect("--examples N"),
            "--batch" => a.batch = v().parse().expect("--batch N"),
            "--baseline" => a.baseline = v().parse().expect("--baseline N"),
            "--eos-bias" => a.eos_bias = v().parse().expect("--eos-bias X"),
            "--steps" => a.steps = v().parse().expect("--steps N"),
            "--model" => a.model = Some(PathBuf::from(v())),
            "--shapes" => a.shapes = PathBuf::from(v()),
            other => panic!("unknown argument {other} (see the example's docs)"),
        }
    }
    a
}

/// (utterance lengths, situation length, target length, emotion) of real ED examples.
fn shapes(path: &PathBuf) -> Vec<(Vec<usize>, usize, usize, u8)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (pass --shapes PATH to reference_batches.json)", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference_batches.json is JSON");
    let mut out = vec![];
    for batch in json["batches"].as_array().expect("`batches` array") {
        for e in batch.as_array().expect("a batch is an array") {
            let n = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("example without `{k}`")) as usize;
            let ctx = e["ctx"].as_array().expect("`ctx` array").iter().map(|x| x.as_u64().unwrap() as usize).collect();
            out.push((ctx, n("sit"), n("tgt"), n("emo") as u8));
        }
    }
    out
}

struct Ids(u64, u32);

impl Ids {
    fn seq(&mut self, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                7 + ((self.0 >> 33) as u32) % (self.1 - 7)
            })
            .collect()
    }
}

fn example(ids: &mut Ids, (lens, sit, tgt, emo): &(Vec<usize>, usize, usize, u8)) -> Example {
    let rel = |ids: &mut Ids, r: usize| if r == 4 { ids.seq(6) } else { [vec![CLS], ids.seq(17)].concat() };
    Example {
        context: lens.iter().map(|&n| [vec![CLS], ids.seq(n)].concat()).collect(),
        roles: lens
            .iter()
            .enumerate()
            .map(|(j, &n)| [vec![CLS], vec![if j % 2 == 0 { USR } else { SYS }; n]].concat())
            .collect(),
        situation: [vec![CLS], ids.seq(*sit)].concat(),
        target: [ids.seq(*tgt), vec![EOS]].concat(),
        emotion: *emo,
        comet: Some(Comet {
            context: std::array::from_fn(|r| lens.iter().map(|_| rel(ids, r)).collect()),
            situation: std::array::from_fn(|r| rel(ids, r)),
        }),
    }
}

/// Accumulated wall and process CPU seconds.
#[derive(Default, Clone)]
struct Clock {
    wall: f64,
    cpu: f64,
    last: (f64, f64),
}

impl Clock {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (c0, t0) = (cpu_s(), Instant::now());
        let out = f();
        self.last = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
        self.wall += self.last.0;
        self.cpu += self.last.1;
        out
    }
    fn add(&mut self, last: &(f64, f64)) {
        self.wall += last.0;
        self.cpu += last.1;
    }
}

/// CPU time of the process (user + system, all threads), from `/proc/self/stat`.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // utime, stime in clock ticks (100 Hz)
}

/// Peak resident memory of the process (kB), from `/proc/self/status`.
fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn main() -> candle_core::Result<()> {
    iamm_train::cpu::configure();
    let args = parse();
    let dev = Device::Cpu;
    let (varmap, model) = match &args.model {
        Some(dir) => (None, Published::load(dir, &dev)?),
        None => {
            let varmap = VarMap::new();
            let model = Iamm::new(&IammConfig::reference(23_712), VarBuilder::from_varmap(&varmap, DType::F32, &dev))?;
            iamm_train::model::reference_init(&varmap, 42)?;
            (Some(varmap), model)
        }
    };
    if args.eos_bias != 0.0 {
        let Some(varmap) = &varmap else { panic!("--eos-bias applies to the random model only (pass --eos-bias 0)") };
        let data = varmap.data().lock().expect("varmap");
        let bias = data.get("generator.proj.bias").expect("generator bias");
        let mut v = bias.as_tensor().to_vec1::<f32>()?;
        v[EOS as usize] += args.eos_bias;
        bias.set(&Tensor::new(v, &dev)?)?;
    }
    let shapes = shapes(&args.shapes);
    let mut ids = Ids(11, model.config().vocab_size as u32);
    let examples: Vec<Example> = (0..args.examples).map(|i| example(&mut ids, &shapes[i % shapes.len()])).collect();
    println!(
        "{} examples (ED shapes), batch {}, {} steps, rayon threads {}, CANDLE_NUM_THREADS={}, load average before: {}",
        examples.len(),
        args.batch,
        args.steps,
        rayon::current_num_threads(),
        std::env::var("CANDLE_NUM_THREADS").unwrap_or_default(),
        load_average()
    );
    let opts = DecodeOptions { max_new_tokens: args.steps, ..DecodeOptions::reference() };
    let rss0 = peak_rss_kb();

    // Per batch: encode once (both paths share it), then decode incrementally and, for the
    // first `baseline` examples, by the full recompute. Wall and process CPU time (the machine
    // is shared: CPU time says more about the work).
    let mut fast: Vec<Vec<u32>> = vec![];
    let mut enc_t = Clock::default();
    let mut inc_t = Clock::default();
    let (mut base_inc_t, mut base_full_t) = (Clock::default(), Clock::default());
    let (mut base_n, mut same) = (0usize, true);
    let mut rss_encode = 0;
    for (i, chunk) in examples.chunks(args.batch).enumerate() {
        let batch = collate(&chunk.iter().collect::<Vec<_>>(), &dev)?;
        let enc = enc_t.time(|| model.encode(&batch))?;
        rss_encode = rss_encode.max(peak_rss_kb());
        let out = inc_t.time(|| generate_encoded(&model, &batch, &enc, &opts))?;
        if i * args.batch < args.baseline {
            let rows = base_full_t.time(|| model.greedy_full_recompute(&enc, args.steps))?;
            base_inc_t.add(&inc_t.last);
            base_n += chunk.len();
            same &= batch.order.iter().enumerate().all(|(r, &e)| rows[r] == out[e]);
        }
        fast.extend(out);
    }
    let n = examples.len() as f64;
    let tokens: usize = fast.iter().map(|s| s.len()).sum();
    let mut lens: Vec<usize> = fast.iter().map(|s| s.len()).collect();
    lens.sort();
    println!(
        "responses: mean {:.1} tokens, median {}, {} of {} cut at {} steps",
        tokens as f64 / n,
        lens[lens.len() / 2],
        lens.iter().filter(|&&l| l == args.steps).count(),
        lens.len(),
        args.steps
    );
    let total = enc_t.wall + inc_t.wall;
    println!(
        "encoding: {:.2} s wall ({:.2} s CPU); incremental greedy decoding: {:.2} s wall ({:.2} s CPU): \
         {:.1} examples/s, {:.0} tokens/s",
        enc_t.wall,
        enc_t.cpu,
        inc_t.wall,
        inc_t.cpu,
        n / inc_t.wall,
        tokens as f64 / inc_t.wall
    );
    println!(
        "encode + decode: {:.2} examples/s; 5,255 test examples ≈ {:.1} min wall ({:.1} min of it encoding)",
        n / total,
        TEST_EXAMPLES * total / n / 60.0,
        TEST_EXAMPLES * enc_t.wall / n / 60.0
    );
    println!(
        "peak RSS {:.0} MiB (model and inputs: {:.0} MiB; the encoder's peak: {:.0} MiB)",
        peak_rss_kb() as f64 / 1024.0,
        rss0 as f64 / 1024.0,
        rss_encode as f64 / 1024.0
    );
    if base_n > 0 {
        let m = base_n as f64;
        println!(
            "full recompute on the first {base_n} examples: {:.2} s wall ({:.2} s CPU), incremental {:.2} s wall \
             ({:.2} s CPU): decoding speedup {:.1}x wall, {:.1}x CPU; identical tokens: {}",
            base_full_t.wall,
            base_full_t.cpu,
            base_inc_t.wall,
            base_inc_t.cpu,
            base_full_t.wall / base_inc_t.wall,
            base_full_t.cpu / base_inc_t.cpu.max(1e-9),
            if same { "yes" } else { "NO" }
        );
        let enc_per = enc_t.wall / n;
        println!(
            "  encode + decode per example: full recompute {:.1} ms, incremental {:.1} ms (speedup {:.2}x); \
             5,255 test examples with the full recompute ≈ {:.1} min",
            1e3 * (enc_per + base_full_t.wall / m),
            1e3 * (enc_per + base_inc_t.wall / m),
            (enc_per + base_full_t.wall / m) / (enc_per + base_inc_t.wall / m),
            TEST_EXAMPLES * (enc_per + base_full_t.wall / m) / 60.0
        );
    }
    println!("load average after: {}", load_average());
    Ok(())
}
