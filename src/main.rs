//! iamm-pipe: the IAMM paper as a cached pipeline of stages (see README.md).

mod hashing;
mod executor;
mod expand;
mod housekeeping;
mod inspect;
mod kinds;
mod lock;
mod matrix;
mod needs;
mod params;
mod plan;
mod progress;
mod report_cmd;
mod runner;
mod runs;
mod schedule;
mod spec;
mod stage;
mod store;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::progress::ProgressMode;
use crate::runner::RunOptions;
use crate::workspace::Workspace;

#[derive(Parser)]
#[command(name = "iamm-pipe", version, about = "Reproduce the IAMM paper as a cached pipeline of stages")]
struct Cli {
    /// Run as if started in DIR (the folder that holds pipeline.yaml).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The pipeline file [default: pipeline.yaml].
    #[arg(long = "file", short = 'f', global = true, value_name = "PATH")]
    file: Option<PathBuf>,
    #[command(flatten)]
    view: ViewArgs,
    /// Cores to use: `run` hands at most this many threads to the stages running at once
    /// [default: all cores].
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Progress of long steps, on stderr.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Seconds between two progress lines of a running step in line mode.
    #[arg(long, global = true, value_name = "SECS", default_value = "30", value_parser = seconds)]
    progress_every: Duration,
    #[command(subcommand)]
    command: Command,
}

/// Options that choose which version of the pipeline a command looks at.
#[derive(Args)]
struct ViewArgs {
    /// Overlay the params of a profile from pipeline.yaml (e.g. `paper`).
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// Override one param, typed as in YAML: `-p tokenize.vocab_splits=[train]`. STAGE may be a
    /// matrix member (`train[seed=2,variant=wo_ea]`), a selector (`train[variant=full]`) or a glob
    /// (`'train*'`, `'*'`): it sets the param of every stage it names whose kind has it.
    #[arg(short = 'p', long = "param", global = true, value_name = "STAGE.PARAM=VALUE")]
    params: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Executor {
    /// Here, in this process.
    Local,
    /// As Slurm jobs, submitted with sbatch.
    Slurm,
    /// Kubernetes manifests for one shardable stage (written, not applied).
    K8sExport,
}

#[derive(Subcommand)]
enum Command {
    /// Run stages (default: all), their upstream stages first; cached ones are reused.
    Run {
        /// Stage names, or `all`: a matrix stage's name means all its members; selectors
        /// (`'train[variant=full]'`) and globs (`'evaluate*'`) name several.
        stages: Vec<String>,
        /// Rerun the named stages (all, with `all`) even when cached.
        #[arg(long)]
        force: bool,
        /// Show what would run and why, without running anything.
        #[arg(long)]
        dry_run: bool,
        /// Fail at once instead of waiting when another command builds a stage this run needs
        /// (or `gc`, `clean` or `verify` holds the store).
        #[arg(long)]
        no_wait: bool,
        /// Run up to N independent stages at once, within the machine's cores, GPU and memory
        /// (0: one per core).
        #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1)]
        jobs: usize,
        /// After a stage fails, still run every stage that does not depend on it.
        #[arg(long)]
        keep_going: bool,
        /// Stop with an error instead of rebuilding a cached artifact whose files are damaged.
        #[arg(long)]
        no_rebuild: bool,
        /// Build only the named stages, from the cached artifacts of the stages they read (what
        /// a cluster job runs).
        #[arg(long)]
        no_deps: bool,
        /// Compute shard I of N (I from 0) of one shardable stage (comet) into its row cache and
        /// publish nothing; a plain `run` of the stage afterwards publishes its table.
        #[arg(long, value_name = "I/N")]
        shard: Option<stage::Shard>,
        /// Where the stages run: here, as Slurm jobs (`sbatch`, one per stage that must be built,
        /// chained by their dependencies; with --dry-run, print the scripts instead), or, for one
        /// shardable stage, as Kubernetes Jobs (k8s-export writes their manifests).
        #[arg(long, value_enum, value_name = "WHERE", default_value_t = Executor::Local)]
        executor: Executor,
        #[command(flatten)]
        slurm: Box<executor::slurm::SlurmArgs>,
        #[command(flatten)]
        k8s: Box<executor::k8s::K8sArgs>,
    },
    /// The jobs that `run --executor slurm` submitted last, and their state. Exit code 1 when
    /// any failed or was cancelled (except by --cancel).
    Jobs {
        /// Cancel those still queued or running.
        #[arg(long)]
        cancel: bool,
        /// Wait until none is queued or running.
        #[arg(long)]
        wait: bool,
    },
    /// Fresh / stale / damaged / missing for each stage, and why. Exit code 1 when anything is
    /// not fresh.
    Status {
        /// Stage names [default: all].
        stages: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The stages and their dependencies.
    Dag {
        /// Graphviz output.
        #[arg(long)]
        dot: bool,
    },
    /// A stage's artifact: manifest, schemas, row counts, first rows.
    Show {
        /// The stage whose artifact to show (one matrix member: `'train[seed=1,variant=full]'`).
        stage: String,
        /// Print the manifest as JSON (table paths made absolute).
        #[arg(long)]
        json: bool,
        /// How many rows of each table to print.
        #[arg(long, default_value_t = 3)]
        rows: usize,
    },
    /// List the stage kinds and their params.
    Stages {
        /// Show instead what each kind's code fingerprint covers: a change there re-keys it.
        #[arg(long)]
        code: bool,
    },
    /// Print the latest Table 1 report and copy it to reports/; or compare evaluated runs.
    Report {
        /// The report stage [default: the pipeline's only one].
        stage: Option<String>,
        /// Compare the metrics of two or more runs, each a stage name, an artifact key,
        /// STAGE@KEY, or a pattern of stages (`'evaluate[variant=full]'`, `'evaluate*'`): prints
        /// A, B, B - A, C, C - A, … per metric.
        #[arg(long, num_args = 1.., value_names = ["A", "B"])]
        compare: Option<Vec<String>>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every artifact in the store, current or not, one row each: stage, matrix axes, key,
    /// when, wall time, state (current / stale / unused), every param and metric.
    Runs {
        /// Stage names, matrix stages, members, selectors or globs, as `run` takes them; stages
        /// only in the store count too [default: every stage in the store].
        stages: Vec<String>,
        /// Print every column as JSON.
        #[arg(long)]
        json: bool,
        /// Write every column as CSV to FILE.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        /// Write every column as Parquet to FILE.
        #[arg(long, value_name = "FILE")]
        parquet: Option<PathBuf>,
    },
    /// Delete all artifacts of the named stages (names of the pipeline's stages only).
    Clean {
        /// Stage names of the pipeline (a matrix stage's name: all its members; selectors and
        /// globs as for `run`).
        stages: Vec<String>,
        /// Delete every stage's artifacts.
        #[arg(long)]
        all: bool,
    },
    /// Delete leftovers of interrupted runs and artifacts no run can reuse (stage no longer in
    /// the pipeline, made by other code); with --all-unused, every artifact no profile uses.
    Gc {
        /// List what would be removed and why, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also remove artifacts that the pipeline uses under no profile (hand-made `-p` sweeps).
        #[arg(long)]
        all_unused: bool,
    },
    /// Read every file of the stored artifacts and check it against the hash recorded when it
    /// was published. Exit code 1 when anything is damaged.
    Verify {
        /// Stage names [default: every stage in the store].
        stages: Vec<String>,
    },
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`iamm-pipe show x | head`) instead of failing to print.
    // SAFETY: restores the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // ONNX Runtime looks up a telemetry host unless told not to (its API switch alone did
    // not stop that in 1.32): iamm-pipe opens no connection it was not asked for.
    // SAFETY: no other thread exists yet to read the environment concurrently.
    unsafe {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
    iamm_train::cpu::configure();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--progress-every`: a positive number of seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("expected a positive number of seconds, found `{s}`")),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(dir) = &cli.dir {
        std::env::set_current_dir(dir).with_context(|| format!("cannot enter {}", dir.display()))?;
    }
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().ok();
    }
    if let Command::Stages { code } = cli.command {
        if code { inspect::stage_code() } else { inspect::stages() }
        return Ok(ExitCode::SUCCESS);
    }
    let file = cli.file.clone().unwrap_or_else(|| PathBuf::from("pipeline.yaml"));
    let file = if file.is_absolute() { file } else { std::env::current_dir()?.join(file) };
    let mut ws = Workspace::open(&file, cli.view.profile.as_deref(), &cli.view.params)?;
    match cli.command {
        Command::Run { stages, force, dry_run, no_wait, no_rebuild, jobs, keep_going, no_deps, shard, executor, slurm, k8s } => {
            let (progress, progress_every, cores) = (cli.progress, cli.progress_every, cli.threads);
            let opts = RunOptions {
                targets: stages,
                force,
                dry_run,
                wait: !no_wait,
                no_rebuild,
                progress,
                progress_every,
                jobs,
                keep_going,
                cores,
                no_deps,
                shard,
            };
            match executor {
                Executor::Local => runner::run(&mut ws, &opts)?,
                Executor::Slurm => {
                    let invocation = executor::Invocation::new(&ws, &cli.view.params)?;
                    executor::slurm::submit(&mut ws, &opts, &slurm, &invocation, dry_run)?
                }
                Executor::K8sExport => executor::k8s::export(&mut ws, &opts, &k8s, &slurm, &cli.view.params)?,
            }
        }
        Command::Status { stages, json } => {
            if !inspect::status(&mut ws, &stages, json)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Jobs { cancel, wait } => {
            if !executor::slurm::jobs(&ws, cancel, wait)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Dag { dot } => inspect::dag(&ws, dot),
        Command::Show { stage, json, rows } => inspect::show(&mut ws, &stage, json, rows)?,
        Command::Report { stage, compare, json } => match compare {
            Some(specs) => report_cmd::compare(&mut ws, &specs, json)?,
            None => report_cmd::show(&mut ws, stage.as_deref(), json)?,
        },
        Command::Runs { stages, json, csv, parquet } => runs::runs(&mut ws, &stages, json, csv.as_deref(), parquet.as_deref())?,
        Command::Clean { stages, all } => housekeeping::clean(&mut ws, &stages, all)?,
        Command::Gc { dry_run, all_unused } => housekeeping::gc(&mut ws, dry_run, all_unused, &cli.view.params)?,
        Command::Verify { stages } => {
            if !housekeeping::verify(&mut ws, &stages)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Stages { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--help` describes every command, flag and argument.
    #[test]
    fn every_command_flag_and_argument_has_help() {
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        let commands = std::iter::once(&cli).chain(cli.get_subcommands());
        for cmd in commands {
            if cmd.get_name() != cli.get_name() && cmd.get_about().is_none() {
                missing.push(format!("command `{}`", cmd.get_name()));
            }
            for arg in cmd.get_arguments().filter(|a| !["help", "version"].contains(&a.get_id().as_str())) {
                if arg.get_help().is_none() {
                    missing.push(format!("`{}` of `{}`", arg.get_id(), cmd.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "no help text: {}", missing.join(", "));
    }
}
