//! `run --executor slurm`: the stages that must be built as sbatch jobs chained by
//! `--dependency=afterok:`, and `iamm-pipe jobs`, which follows them.
//!
//! Each job script runs one `iamm-pipe run --no-deps STAGE` and writes its exit status to
//! `artifacts/.jobs/<stage>/<job>.exit` (its log beside it): without accounting storage
//! (`sacct`) a job that left the queue is known only by that marker. A job killed before it
//! could write one (SIGKILL at the time limit, a lost node) has none; its stage resumes from
//! its checkpoints or row cache when submitted again. The submitted job ids are kept in
//! `artifacts/.jobs/submitted.json`; a new submission is refused while one of them is queued
//! or running, because two jobs building one stage on two machines would see no lock of each
//! other's (see `lock.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{Invocation, StageJob, quote, stage_jobs};
use crate::runner::{RunOptions, Work};
use crate::schedule::Resources;
use crate::workspace::Workspace;

/// `run --executor slurm` options: defaults for every job, which a stage's `slurm:` overrides.
#[derive(clap::Args, Clone, Debug)]
pub struct SlurmArgs {
    /// With --executor slurm: the partition of the jobs (`sbatch --partition`).
    #[arg(long, value_name = "P")]
    pub partition: Option<String>,
    /// With --executor slurm: the account the jobs are charged to.
    #[arg(long, value_name = "A")]
    pub account: Option<String>,
    /// With --executor slurm: the time limit of each job (`sbatch --time`, e.g. 4:00:00).
    #[arg(long, value_name = "T")]
    pub time: Option<String>,
    /// With --executor slurm: what jobs of stages that run on the GPU ask for.
    #[arg(long, value_name = "GRES", default_value = "gpu:1")]
    pub gres: String,
    /// With --executor slurm or k8s-export: split each shardable stage (comet) into an array
    /// of N shard jobs and a merge job that publishes (1: one job).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub array_size: usize,
    /// With --executor slurm or k8s-export: run at most K shards of an array at once.
    #[arg(long, value_name = "K")]
    pub array_limit: Option<usize>,
    /// With --executor slurm or k8s-export: the CPUs of jobs whose stage uses every core it is
    /// given (ingest, tokenize, comet with threads: 0).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub cpus: usize,
}

impl SlurmArgs {
    /// The CPUs a job of a stage that holds `r` asks for.
    pub fn cpus_of(&self, r: &Resources) -> usize {
        if r.threads == 0 { self.cpus } else { r.threads }
    }
}

/// A stage's `slurm:` in pipeline.yaml (for every member of a matrix stage).
#[derive(Debug, Clone, Default)]
pub struct StageSlurm {
    partition: Option<String>,
    account: Option<String>,
    time: Option<String>,
    gres: Option<String>,
    mem: Option<String>,
    cpus: Option<usize>,
    array_size: Option<usize>,
    array_limit: Option<usize>,
    /// More `#SBATCH` options, as written (`--constraint=a100`).
    extra: Vec<String>,
}

const KEYS: &str = "partition, account, time, gres, mem, cpus, array_size, array_limit, extra";

impl StageSlurm {
    /// Checks the `slurm:` of stage `stage`; `at(line)` names the place in the file.
    pub fn parse(stage: &str, raw: &IndexMap<String, Spanned<Value>>, at: &dyn Fn(u64) -> String) -> Result<StageSlurm> {
        let mut out = StageSlurm::default();
        for (key, v) in raw {
            let place = format!("{}: stage `{stage}`, key `slurm.{key}`", at(v.referenced.line()));
            let word = || match &v.value {
                Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => Ok(s.clone()),
                Value::Number(n) if n.is_u64() => Ok(n.to_string()),
                other => Err(anyhow!("{place}: expected one word (an sbatch value), found {}", iamm_options::show_value(other))),
            };
            let count = || match v.value.as_u64() {
                Some(n) if n >= 1 => Ok(n as usize),
                _ => Err(anyhow!("{place}: expected a whole number of at least 1, found {}", iamm_options::show_value(&v.value))),
            };
            match key.as_str() {
                "partition" => out.partition = Some(word()?),
                "account" => out.account = Some(word()?),
                "time" => out.time = Some(word()?),
                "gres" => out.gres = Some(word()?),
                "mem" => out.mem = Some(word()?),
                "cpus" => out.cpus = Some(count()?),
                "array_size" => out.array_size = Some(count()?),
                "array_limit" => out.array_limit = Some(count()?),
                "extra" => {
                    let options = v.value.as_array().map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<&str>>>());
                    match options.flatten() {
                        Some(o) if o.iter().all(|s| s.starts_with("--") && !s.contains('\n')) => {
                            out.extra = o.into_iter().map(str::to_string).collect();
                        }
                        _ => bail!("{place}: expected a list of sbatch options, each starting with `--` (`[--constraint=a100]`)"),
                    }
                }
                _ => bail!("{place}: unknown key; the keys of `slurm:` are {KEYS}"),
            }
        }
        Ok(out)
    }
}

/// What one sbatch job is: its script, its sbatch arguments, and where its files go.
struct Submission {
    /// The stage and, for the shards of an array, `shards`.
    label: String,
    stage: String,
    dir: PathBuf,
    script: String,
    args: Vec<String>,
    /// Positions (in the submission list) of the jobs it waits for.
    after: Vec<usize>,
    shards: Option<usize>,
}

/// Plans the stages `opts` names and submits the ones that must be built (or prints the
/// scripts and commands with `dry_run`).
pub fn submit(ws: &mut Workspace, opts: &RunOptions, args: &SlurmArgs, invocation: &Invocation, dry_run: bool) -> Result<()> {
    if opts.shard.is_some() {
        bail!("--shard runs one shard here; with --executor slurm, --array-size N submits the shards");
    }
    let record_path = ws.artifacts_dir().join(".jobs").join(RECORD);
    if !dry_run && let Some(record) = Record::load(&record_path)? {
        let queue = squeue()?;
        let live: Vec<String> = record.jobs.iter().filter(|j| j.queued(&queue)).map(|j| format!("`{}` ({})", j.stage, j.id)).collect();
        if !live.is_empty() {
            bail!(
                "jobs of an earlier submission are still queued or running: {}; wait for them (`iamm-pipe jobs --wait`) \
                 or cancel them (`iamm-pipe jobs --cancel`) first",
                live.join(", ")
            );
        }
    }
    let work = Work::plan(ws, opts)?;
    let jobs = stage_jobs(ws, &work, opts)?;
    if jobs.is_empty() {
        println!("nothing to submit: every stage is cached (`iamm-pipe status` says why)");
        return Ok(());
    }
    let subs = submissions(ws, &jobs, args, invocation);
    if dry_run {
        for (n, s) in subs.iter().enumerate() {
            println!("# job{n}: {}, script {}", s.label, s.dir.join(script_name(s)).display());
            println!("{}", s.script);
            let deps: Vec<String> = s.after.iter().map(|a| format!("$job{a}")).collect();
            println!("job{n}=$({})\n", sbatch_line(s, &deps));
        }
        return Ok(());
    }
    let mut record = Record { jobs: Vec::new() };
    let width = subs.iter().map(|s| s.label.len()).max().unwrap_or(0);
    for s in &subs {
        std::fs::create_dir_all(&s.dir).with_context(|| format!("cannot create {}", s.dir.display()))?;
        let script = s.dir.join(script_name(s));
        std::fs::write(&script, &s.script).with_context(|| format!("cannot write {}", script.display()))?;
        let deps: Vec<String> = s.after.iter().map(|&a| record.jobs[a].id.clone()).collect();
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable").args(&s.args);
        if !deps.is_empty() {
            cmd.arg(format!("--dependency=afterok:{}", deps.join(":")));
        }
        let out = cmd.arg(&script).output().context("cannot run sbatch (is Slurm installed and SLURM_CONF set?)")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if !out.status.success() || id.is_empty() {
            // What went in stays cancellable: keep the record of the jobs submitted so far.
            record.save(&record_path)?;
            bail!(
                "sbatch refused the job of {}: {}{}",
                s.label,
                String::from_utf8_lossy(&out.stderr).trim(),
                if record.jobs.is_empty() { String::new() } else { "; the jobs submitted before it stay queued (`iamm-pipe jobs --cancel`)".into() }
            );
        }
        println!("  submitted {:<width$} job {id}{}", s.label, if deps.is_empty() { String::new() } else { format!(" after {}", deps.join(", ")) });
        record.jobs.push(Recorded { stage: s.stage.clone(), label: s.label.clone(), id, shards: s.shards, after: s.after.clone(), dir: s.dir.clone() });
    }
    record.save(&record_path)?;
    println!("{} job(s) submitted; `iamm-pipe jobs` shows their state, logs in {}", record.jobs.len(), ws.artifacts_dir().join(".jobs").display());
    Ok(())
}

fn script_name(s: &Submission) -> &'static str {
    if s.shards.is_some() { "shards.sbatch" } else { "job.sbatch" }
}

/// The command line that submits `s` after the jobs `deps` (ids or shell variables).
fn sbatch_line(s: &Submission, deps: &[String]) -> String {
    let mut words: Vec<String> = vec!["sbatch".into(), "--parsable".into()];
    words.extend(s.args.iter().map(|a| quote(a)));
    if !deps.is_empty() {
        words.push(format!("--dependency=afterok:{}", deps.join(":")));
    }
    words.push(quote(&s.dir.join(script_name(s)).display().to_string()));
    words.join(" ")
}

/// The jobs of `jobs`: one per stage, or an array of shards and a merge job.
fn submissions(ws: &Workspace, jobs: &[StageJob], args: &SlurmArgs, invocation: &Invocation) -> Vec<Submission> {
    let mut subs: Vec<Submission> = Vec::new();
    // Position of each stage job's last submission (what its dependents wait for).
    let mut last: Vec<usize> = Vec::new();
    for job in jobs {
        let name = &job.stage.name;
        let base = ws.pipeline.stages.get(name).map(|d| d.base.as_str()).unwrap_or(name);
        let own = ws.pipeline.slurm.get(base).cloned().unwrap_or_default();
        let dir = ws.artifacts_dir().join(".jobs").join(name);
        let cpus = own.cpus.unwrap_or(args.cpus_of(&job.resources));
        let mut header = vec![format!("--cpus-per-task={cpus}")];
        header.push(format!("--mem={}", own.mem.clone().unwrap_or(format!("{}M", job.resources.memory_mib))));
        if job.resources.gpu {
            header.push(format!("--gres={}", own.gres.as_ref().unwrap_or(&args.gres)));
        }
        for (flag, value) in [("partition", &own.partition, &args.partition), ("account", &own.account, &args.account), ("time", &own.time, &args.time)]
            .map(|(f, o, a)| (f, o.as_ref().or(a.as_ref())))
        {
            if let Some(v) = value {
                header.push(format!("--{flag}={v}"));
            }
        }
        header.extend(own.extra.iter().cloned());
        let mut after: Vec<usize> = job.after.iter().map(|&a| last[a]).collect();
        let shards = own.array_size.unwrap_or(args.array_size);
        if job.stage.kind.shardable() && shards > 1 {
            let limit = own.array_limit.or(args.array_limit).map(|k| format!("%{k}")).unwrap_or_default();
            let command = invocation.command(name, cpus, false, Some(&format!("\"$SLURM_ARRAY_TASK_ID\"/{shards}")));
            subs.push(Submission {
                label: format!("{name} shards"),
                stage: name.clone(),
                dir: dir.clone(),
                script: script(name, &header, &command, &dir, "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"),
                args: vec![
                    format!("--job-name=iamm:{name}:shards"),
                    format!("--output={}", dir.join("%A_%a.log").display()),
                    format!("--array=0-{}{limit}", shards - 1),
                    "--kill-on-invalid-dep=yes".into(),
                ],
                after,
                shards: Some(shards),
            });
            // The merge job publishes what the shards left in the row cache.
            after = vec![subs.len() - 1];
        }
        let command = invocation.command(name, cpus, job.forced, None);
        subs.push(Submission {
            label: name.clone(),
            stage: name.clone(),
            dir: dir.clone(),
            script: script(name, &header, &command, &dir, "${SLURM_JOB_ID}"),
            args: vec![format!("--job-name=iamm:{name}"), format!("--output={}", dir.join("%j.log").display()), "--kill-on-invalid-dep=yes".into()],
            after,
            shards: None,
        });
        last.push(subs.len() - 1);
    }
    subs
}

/// A job script: its resources as `#SBATCH` lines, the command, and the exit marker `marker`
/// (shell words naming the job) written when the command ends.
fn script(stage: &str, header: &[String], command: &str, dir: &Path, marker: &str) -> String {
    let mut s = String::from("#!/bin/bash\n");
    for h in header {
        s.push_str(&format!("#SBATCH {h}\n"));
    }
    s.push_str(&format!("# iamm-pipe stage {stage}\n{command}\nstatus=$?\n"));
    s.push_str(&format!("echo \"$status\" > {}/\"{marker}.exit\"\nexit \"$status\"\n", quote(&dir.display().to_string())));
    s
}

const RECORD: &str = "submitted.json";

/// The jobs of the latest submission.
#[derive(Serialize, Deserialize)]
struct Record {
    jobs: Vec<Recorded>,
}

#[derive(Serialize, Deserialize)]
struct Recorded {
    stage: String,
    label: String,
    id: String,
    /// Tasks of a job array.
    shards: Option<usize>,
    after: Vec<usize>,
    dir: PathBuf,
}

impl Record {
    fn load(path: &Path) -> Result<Option<Record>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).with_context(|| format!("{} is damaged", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension(format!("tmp-{}", iamm_core::writer_tag()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// `squeue` of this user: job (array tasks as `A_I`) -> state and reason.
fn squeue() -> Result<HashMap<String, (String, String)>> {
    let out = Command::new("squeue")
        .args(["--me", "--noheader", "--array", "--format=%i|%T|%r"])
        .output()
        .context("cannot run squeue (is Slurm installed and SLURM_CONF set?)")?;
    if !out.status.success() {
        bail!("squeue failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            Some((f.next()?.trim().to_string(), (f.next()?.to_string(), f.next().unwrap_or("").to_string())))
        })
        .collect())
}

/// Where a job (or one array task) stands.
#[derive(Debug, Clone, PartialEq)]
enum State {
    Queued(String),
    Done,
    Failed(String),
}

impl Recorded {
    /// Job ids as squeue and the exit markers name them: the job's, or each task's.
    fn tasks(&self) -> Vec<String> {
        match self.shards {
            Some(n) => (0..n).map(|i| format!("{}_{i}", self.id)).collect(),
            None => vec![self.id.clone()],
        }
    }

    fn queued(&self, queue: &HashMap<String, (String, String)>) -> bool {
        // A pending array not yet split into tasks is listed as `A_[0-6%2]`.
        self.tasks().iter().any(|t| queue.contains_key(t)) || queue.keys().any(|k| k.starts_with(&format!("{}_[", self.id)))
    }

    fn task_state(&self, task: &str, queue: &HashMap<String, (String, String)>) -> State {
        if let Some((state, reason)) = queue.get(task) {
            return State::Queued(if reason.is_empty() || reason == "None" { state.clone() } else { format!("{state} ({reason})") });
        }
        match std::fs::read_to_string(self.dir.join(format!("{task}.exit"))) {
            Ok(s) if s.trim() == "0" => State::Done,
            Ok(s) => State::Failed(format!("exit status {}", s.trim())),
            Err(_) => State::Failed("ended without an exit status (cancelled, killed at its time limit, or a dependency failed)".into()),
        }
    }

    fn state(&self, queue: &HashMap<String, (String, String)>) -> State {
        if queue.keys().any(|k| k.starts_with(&format!("{}_[", self.id))) {
            return State::Queued("PENDING".into());
        }
        let states: Vec<State> = self.tasks().iter().map(|t| self.task_state(t, queue)).collect();
        if states.len() == 1 {
            return states[0].clone();
        }
        let count = |f: &dyn Fn(&State) -> bool| states.iter().filter(|s| f(s)).count();
        let (queued, failed) = (count(&|s| matches!(s, State::Queued(_))), count(&|s| matches!(s, State::Failed(_))));
        let summary = format!("{} of {} shards done, {queued} queued or running, {failed} failed", count(&|s| *s == State::Done), states.len());
        match (queued, failed) {
            (0, 0) => State::Done,
            (0, _) => State::Failed(summary),
            _ => State::Queued(summary),
        }
    }
}

/// `iamm-pipe jobs`: the state of each job of the latest submission; `cancel` cancels those
/// still queued or running, `wait` waits until none is. Returns whether none failed (or
/// they were cancelled as asked).
pub fn jobs(ws: &Workspace, cancel: bool, wait: bool) -> Result<bool> {
    let path = ws.artifacts_dir().join(".jobs").join(RECORD);
    let Some(record) = Record::load(&path)? else {
        println!("no jobs submitted from this workspace (`iamm-pipe run --executor slurm` submits them)");
        return Ok(true);
    };
    let mut queue = squeue()?;
    if cancel {
        let live: Vec<&Recorded> = record.jobs.iter().filter(|j| j.queued(&queue)).collect();
        if !live.is_empty() {
            let out = Command::new("scancel").args(live.iter().map(|j| &j.id)).output().context("cannot run scancel")?;
            if !out.status.success() {
                bail!("scancel failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
        println!("cancelled {} job(s)", live.len());
        std::thread::sleep(Duration::from_secs(1));
        queue = squeue()?;
    }
    while wait && record.jobs.iter().any(|j| j.queued(&queue)) {
        std::thread::sleep(Duration::from_secs(2));
        queue = squeue()?;
    }
    let width = record.jobs.iter().map(|j| j.label.len()).max().unwrap_or(0);
    let mut none_failed = true;
    let states: Vec<State> = record.jobs.iter().map(|j| j.state(&queue)).collect();
    for (j, state) in record.jobs.iter().zip(&states) {
        let blocked = j.after.iter().find(|&&a| matches!(states[a], State::Failed(_)));
        let text = match (state, blocked) {
            (State::Done, _) => "done".to_string(),
            (State::Failed(_), Some(&a)) if j.tasks().iter().all(|t| !j.dir.join(format!("{t}.exit")).exists()) => {
                format!("not run: `{}` failed", record.jobs[a].label)
            }
            (State::Failed(why), _) => format!("FAILED: {why}; log {}", j.dir.join(format!("{}*.log", j.id)).display()),
            (State::Queued(what), _) => what.clone(),
        };
        none_failed &= !matches!(state, State::Failed(_));
        println!("  {:<width$}  job {:<8} {text}", j.label, j.id);
    }
    Ok(none_failed || cancel)
}
