//! `iamm-pipe run`: runs what is stale, reuses what is cached, publishes atomically. With
//! `-j N` it runs up to N independent stages at once, within the cores, GPU and memory of the
//! machine (`schedule.rs`); each stage runs in a rayon pool of the threads it was granted,
//! which depends on its kind and params only, so results do not depend on `-j`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use rayon::prelude::*;

use crate::hashing::HashMemo;
use crate::lock::{Attempt, POLL, StageLock, StoreLock, unix_now_ms};
use crate::plan::{PlannedStage, explain_change, tuning_changes};
use crate::progress::{Progress, ProgressMode};
use crate::schedule::{Machine, Pool, Resources};
use crate::stage::{Shard, StageContext};
use crate::store::{Artifact, Manifest, Store, write_table};
use crate::workspace::Workspace;

pub struct RunOptions {
    pub targets: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    pub wait: bool,
    /// A damaged cached artifact is an error instead of being rebuilt.
    pub no_rebuild: bool,
    pub progress: ProgressMode,
    /// Time between two progress lines (`--progress-every`).
    pub progress_every: std::time::Duration,
    /// Stages at once (`-j`; 0: one per core).
    pub jobs: usize,
    /// After a failure, run every stage that does not depend on it.
    pub keep_going: bool,
    /// Cores to hand out (`--threads`; default: every core).
    pub cores: Option<usize>,
    /// Build only the named stages, from the cached artifacts of their deps (a cluster job).
    pub no_deps: bool,
    /// Fill the row cache with one shard of the one named stage, and publish nothing.
    pub shard: Option<Shard>,
}

/// What one `run` looks at: the plan (dependency-ordered), which stages its targets name, and
/// which of them it forces.
pub struct Work {
    pub plan: Vec<PlannedStage>,
    pub named: HashSet<String>,
    pub forced: Vec<bool>,
}

impl Work {
    /// Plans the targets of `opts`; with `--no-deps`, only the named stages and the deps they
    /// read, each of which must be cached already.
    pub fn plan(ws: &mut Workspace, opts: &RunOptions) -> Result<Work> {
        let plan = ws.plan_or_fail(&opts.targets)?;
        let all = opts.targets.is_empty() || opts.targets.iter().any(|t| t == "all");
        let mut named = HashSet::new();
        for t in opts.targets.iter().filter(|t| *t != "all") {
            named.extend(ws.pipeline.select(t).map_err(|e| anyhow!(e))?);
        }
        if all {
            named.extend(plan.iter().map(|p| p.name.clone()));
        }
        let plan = if opts.no_deps { only_named(ws, plan, &named)? } else { plan };
        // `--force` reruns the stages the targets name, not what they depend on.
        let forced = plan.iter().map(|p| opts.force && named.contains(&p.name)).collect();
        Ok(Work { plan, named, forced })
    }

    /// Whether stage `i` must be built: not forced and cached intact means no.
    pub fn must_build(&self, ws: &Workspace, i: usize, no_rebuild: bool) -> Result<bool> {
        Ok(reusable(&ws.store, &ws.memo, &self.plan[i], self.forced[i], no_rebuild)?.0.is_none())
    }
}

/// `--no-deps`: the named stages and the deps they read; nothing further upstream is planned
/// to run, so those deps must be built already.
fn only_named(ws: &Workspace, plan: Vec<PlannedStage>, named: &HashSet<String>) -> Result<Vec<PlannedStage>> {
    let read: HashSet<String> = plan.iter().filter(|p| named.contains(&p.name)).flat_map(|p| p.deps.iter().cloned()).collect();
    let missing: Vec<String> = plan
        .iter()
        .filter(|p| read.contains(&p.name) && !named.contains(&p.name))
        .filter(|p| !matches!(reusable(&ws.store, &ws.memo, p, false, false), Ok((Some(_), _))))
        .map(|p| format!("`{}`", p.name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "--no-deps builds only what it names, and it needs {} built first (no intact artifact with the key this \
             pipeline gives it: it failed or never ran, or the pipeline, its inputs or iamm-pipe changed since the jobs \
             were planned); run without --no-deps, or build {} first",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(plan.into_iter().filter(|p| named.contains(&p.name) || read.contains(&p.name)).collect())
}

/// The cached artifact to reuse for `p`, if there is an intact one and it is not forced, and
/// else the damage found in it, if any (an error with `no_rebuild`).
fn reusable(store: &Store, memo: &HashMemo, p: &PlannedStage, forced: bool, no_rebuild: bool) -> Result<(Option<Artifact>, Option<String>)> {
    let Some(a) = store.load(&p.name, &p.key).filter(|_| !forced) else { return Ok((None, None)) };
    let problems = store.check(&a, memo, false);
    if problems.is_empty() {
        return Ok((Some(a), None));
    }
    if no_rebuild {
        bail!("its artifact {} is {}; run without --no-rebuild to rebuild it", a.dir.display(), damage_note(&problems));
    }
    Ok((None, Some(damage_note(&problems))))
}

/// How a cached artifact whose files no longer match their published hashes is described.
fn damage_note(problems: &[String]) -> String {
    format!("damaged: {}", problems.join("; "))
}

pub fn run(ws: &mut Workspace, opts: &RunOptions) -> Result<()> {
    let started = Instant::now();
    let Work { mut plan, named, mut forced } = Work::plan(ws, opts)?;
    // Stage names line up in one column however long they are.
    let width = plan.iter().map(|p| p.name.len()).max().unwrap_or(0).max(12);
    let sharded = match opts.shard {
        Some(shard) => Some((sharded_stage(&plan, &named)?, shard)),
        None => None,
    };

    if opts.dry_run {
        for (i, p) in plan.iter().enumerate() {
            let state = match ws.store.load(&p.name, &p.key) {
                _ if sharded.is_some_and(|(s, _)| s == i) => {
                    format!("would fill shard {} of its row cache (publishes nothing)", opts.shard.expect("sharded"))
                }
                Some(_) if forced[i] => "would run (forced)".to_string(),
                Some(a) => match ws.store.check(&a, &ws.memo, false) {
                    problems if problems.is_empty() => match tuning_changes(p, &a.manifest.params) {
                        notes if notes.is_empty() => "cached".to_string(),
                        notes => format!("cached ({})", notes.join("; ")),
                    },
                    problems => format!("would run: {}", damage_note(&problems)),
                },
                None => match ws.store.last_used(&p.name) {
                    Some(prev) => format!(
                        "would run: {}",
                        explain_change(&prev.manifest.key_parts, &p.parts).join("; ")
                    ),
                    None => "would run: never ran".to_string(),
                },
            };
            println!("{:<w$} {:<20} {state}", p.name, p.key, w = width);
        }
        ws.memo.save();
        return Ok(());
    }

    let _store_lock = StoreLock::shared(ws.artifacts_dir(), opts.wait, || {
        ws.store.sweep_temporaries(true, false);
    })?;
    let progress = Progress::new(opts.progress, opts.progress_every);
    let machine = Machine::detect(opts.cores);
    let jobs = if opts.jobs == 0 { machine.cores } else { opts.jobs };
    // A shard runs after its deps, outside the scheduler: it builds no artifact.
    let shard_of = sharded.map(|(i, shard)| {
        forced.remove(i);
        (plan.remove(i), shard)
    });
    let run = Scheduler { store: &ws.store, memo: &ws.memo, progress: &progress, opts, width, machine, jobs };
    let outcome = run.all(&plan, &forced);
    ws.memo.save();
    let (ran, cached) = outcome?;
    if let Some((p, shard)) = shard_of {
        let shard_started = Instant::now();
        let grant = machine.grant(p.kind.resources(&p.params));
        let summary = in_pool(grant.threads, || run_shard(&ws.store, &p, shard, &progress))
            .with_context(|| format!("shard {shard} of stage `{}` failed", p.name))?;
        println!("  shard   {:<width$} {:>7.2}s  {summary}", p.name, shard_started.elapsed().as_secs_f64());
        return Ok(());
    }
    println!(
        "{} stage(s): {ran} ran, {cached} cached, in {:.2}s. Outputs: {}/<stage>/<key>/ \
         (`iamm-pipe show STAGE` prints one)",
        plan.len(),
        started.elapsed().as_secs_f64(),
        ws.artifacts_dir().display()
    );
    Ok(())
}

#[derive(Clone)]
enum State {
    Pending,
    Running,
    Done(Arc<Artifact>),
    Failed,
    /// Not run: something it depends on failed (`--keep-going`).
    Skipped,
}

struct Scheduler<'a> {
    store: &'a Store,
    memo: &'a HashMemo,
    progress: &'a Progress,
    opts: &'a RunOptions,
    width: usize,
    machine: Machine,
    jobs: usize,
}

impl Scheduler<'_> {
    /// Prints one status line without tearing a progress bar.
    fn say(&self, line: String) {
        self.progress.suspend(|| println!("{line}"));
    }

    /// The cached artifact to reuse for `p`, if there is an intact one (and it is not forced).
    fn reusable(&self, p: &PlannedStage, forced: bool, say_damage: bool) -> Result<Option<Artifact>> {
        let (artifact, damage) = reusable(self.store, self.memo, p, forced, self.opts.no_rebuild)?;
        if let Some(damage) = damage.filter(|_| say_damage) {
            self.progress.suspend(|| eprintln!("  {}: {damage}; rebuilding it", p.name));
        }
        Ok(artifact)
    }

    /// Runs the plan (dependency-ordered); returns how many stages ran and how many were
    /// cached, or every failure.
    fn all(&self, plan: &[PlannedStage], forced: &[bool]) -> Result<(usize, usize)> {
        let w = self.width;
        let index: HashMap<&str, usize> = plan.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        // With --no-deps, the deps of a dep are not planned: they were built (see `only_named`).
        let deps: Vec<Vec<usize>> = plan.iter().map(|p| p.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect()).collect();
        let mut board = Board { run: self, plan, forced, state: vec![State::Pending; plan.len()], failures: Vec::new(), stop: false, ran: 0, cached: 0 };
        // Whether a stage's wait was announced (once per stage).
        let mut announced = vec![false; plan.len()];
        let mut pool = Pool::new(self.machine, self.jobs);
        // One at a time: in plan order, and no start/waiting lines (the output of earlier versions).
        let sequential = self.jobs == 1;
        let (tx, rx) = mpsc::channel::<(usize, Result<Artifact>)>();
        std::thread::scope(|scope| {
            loop {
                let mut lock_wait = false;
                for i in 0..plan.len() {
                    if board.stop {
                        break;
                    }
                    if !matches!(board.state[i], State::Pending) {
                        continue;
                    }
                    if deps[i].iter().any(|&d| matches!(board.state[d], State::Failed | State::Skipped)) {
                        board.state[i] = State::Skipped;
                        continue;
                    }
                    if !deps[i].iter().all(|&d| matches!(board.state[d], State::Done(_))) {
                        if sequential {
                            break;
                        }
                        continue;
                    }
                    if board.settle_from_cache(i, true) {
                        continue;
                    }
                    let p = &plan[i];
                    let grant = self.machine.grant(p.kind.resources(&p.params));
                    if let Some(why) = pool.blocked(&grant) {
                        if sequential {
                            break;
                        }
                        if !announced[i] {
                            self.say(format!("  waiting {}: {why}", p.name));
                            announced[i] = true;
                        }
                        continue;
                    }
                    // A cached stage never waits for a lock: only one that must be built takes it.
                    let lock = match StageLock::try_acquire(&self.store.root.join(&p.name), &p.key) {
                        Err(e) => {
                            board.fail(i, e);
                            continue;
                        }
                        Ok(Attempt::Held(holder)) if !self.opts.wait => {
                            let e = anyhow!(
                                "another iamm-pipe command ({holder}) is building it; wait for it to finish, or run \
                                 without --no-wait to wait"
                            );
                            board.fail(i, e);
                            continue;
                        }
                        Ok(Attempt::Held(holder)) => {
                            if !announced[i] {
                                self.say(format!("  waiting {}: another iamm-pipe command ({holder}) is building it", p.name));
                                announced[i] = true;
                            }
                            lock_wait = true;
                            if sequential {
                                break;
                            }
                            continue;
                        }
                        Ok(Attempt::Got(lock)) => lock,
                    };
                    // Another run may have published it meanwhile.
                    if board.settle_from_cache(i, false) {
                        continue;
                    }
                    self.store.sweep_key(&p.name, &p.key);
                    pool.take(&p.name, grant);
                    board.state[i] = State::Running;
                    if !sequential {
                        self.say(format!("  start   {:<w$} {}", p.name, describe(&grant)));
                    }
                    let upstream: Vec<(String, Arc<Artifact>)> = deps[i]
                        .iter()
                        .map(|&d| match &board.state[d] {
                            State::Done(a) => (plan[d].name.clone(), a.clone()),
                            _ => unreachable!("started only when every dep is done"),
                        })
                        .collect();
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let result = in_pool(grant.threads, || run_stage(self.store, self.memo, p, &upstream, self.progress));
                        drop(lock);
                        let _ = tx.send((i, result));
                    });
                    if sequential {
                        break;
                    }
                }
                if pool.is_empty() && !lock_wait {
                    break;
                }
                match rx.recv_timeout(POLL) {
                    Ok((i, result)) => {
                        pool.give_back(&plan[i].name);
                        let finished = result.and_then(|a| {
                            self.say(format!("  ran     {:<w$} {:>7.2}s  {}", plan[i].name, a.manifest.wall_time_s, a.manifest.summary));
                            board.done(i, a)
                        });
                        match finished {
                            Ok(()) => board.ran += 1,
                            Err(e) => board.fail(i, e),
                        }
                        self.memo.save();
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => unreachable!("this thread holds a sender"),
                }
            }
        });
        if board.failures.is_empty() {
            return Ok((board.ran, board.cached));
        }
        let not_run = board.state.iter().filter(|s| matches!(s, State::Pending | State::Skipped)).count();
        let mut message = board.failures.join("\n");
        if not_run > 0 {
            message += &format!(
                "\n{not_run} stage(s) did not run{}",
                if self.opts.keep_going { " (they depend on a failed stage)" } else { "; --keep-going runs every stage that does not depend on a failure" }
            );
        }
        Err(anyhow!(message))
    }

    fn say_cached(&self, p: &PlannedStage, a: &Artifact) {
        let w = self.width;
        let mut lines = vec![format!("  cached  {:<w$} {}", p.name, a.manifest.summary)];
        for note in tuning_changes(p, &a.manifest.params) {
            lines.push(format!("          {:<w$} ({note}; reused)", ""));
        }
        self.say(lines.join("\n"));
    }
}

/// Where each stage of one run stands.
struct Board<'a> {
    run: &'a Scheduler<'a>,
    plan: &'a [PlannedStage],
    forced: &'a [bool],
    state: Vec<State>,
    failures: Vec<String>,
    /// No new stage starts (a failure, without `--keep-going`).
    stop: bool,
    ran: usize,
    cached: usize,
}

impl Board<'_> {
    fn fail(&mut self, i: usize, e: anyhow::Error) {
        self.state[i] = State::Failed;
        self.run.say(format!("  failed  {:<w$} {}", self.plan[i].name, first_line(&e), w = self.run.width));
        self.failures.push(format!("stage `{}` failed: {e:#}", self.plan[i].name));
        self.stop |= !self.run.opts.keep_going;
    }

    /// Records a stage's artifact, published or reused, as the one the pipeline uses now.
    fn done(&mut self, i: usize, a: Artifact) -> Result<()> {
        let p = &self.plan[i];
        self.run.store.set_current(&p.name, &p.key)?;
        self.run.store.mark_used(&a);
        self.state[i] = State::Done(Arc::new(a));
        Ok(())
    }

    /// Settles stage `i` from the cache if it can (reused, or failed on a damaged artifact
    /// with `--no-rebuild`); false when it must be built.
    fn settle_from_cache(&mut self, i: usize, say_damage: bool) -> bool {
        let p = &self.plan[i];
        match self.run.reusable(p, self.forced[i], say_damage) {
            Ok(None) => return false,
            Ok(Some(a)) => {
                self.run.say_cached(p, &a);
                self.cached += 1;
                if let Err(e) = self.done(i, a) {
                    self.fail(i, e);
                }
            }
            Err(e) => self.fail(i, e),
        }
        true
    }
}

/// `2 threads`, `1 thread, GPU`.
fn describe(grant: &Resources) -> String {
    let threads = if grant.threads == 1 { "1 thread".to_string() } else { format!("{} threads", grant.threads) };
    if grant.gpu { format!("{threads}, GPU") } else { threads }
}

fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

/// Runs `f` in a rayon pool of its own with `threads` workers.
fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start the stage's threads")?;
    pool.install(f)
}

fn run_stage(
    store: &Store,
    memo: &HashMemo,
    p: &PlannedStage,
    upstream: &[(String, Arc<Artifact>)],
    progress: &Progress,
) -> Result<Artifact> {
    let started = Instant::now();
    let tmp = store.begin(&p.name, &p.key)?;
    let build = || {
        let rows = store.root.join(".rows");
        let upstream = upstream.iter().map(|(n, a)| (n.as_str(), a.as_ref())).collect();
        let output = p.kind.run(&context(p, upstream, &rows, &tmp, progress))?;
        // Tables are independent files: write them on all the stage's threads.
        let tables: indexmap::IndexMap<String, crate::store::TableInfo> = output
            .tables
            .par_iter()
            .map(|(name, batch)| {
                let info = write_table(&tmp, name, batch).with_context(|| format!("writing table `{name}`"))?;
                Ok((name.clone(), info))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .collect();
        let files = std::fs::read_dir(&tmp)?
            .flatten()
            .filter(|e| !tables.values().any(|t| t.path == e.file_name().to_string_lossy()))
            .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.metadata().ok()?.len())))
            .collect();
        let manifest = Manifest {
            stage: p.name.clone(),
            key: p.key.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_ms: unix_now_ms(),
            wall_time_s: started.elapsed().as_secs_f64(),
            params: p.params.values().clone(),
            key_parts: p.parts.clone(),
            tables,
            files,
            content: Default::default(),
            stats: output.stats,
            summary: output.summary,
        };
        store.publish(&tmp, manifest, memo)
    };
    // A panicking stage fails like any other, and its siblings run on.
    let result = catch_unwind(AssertUnwindSafe(build)).unwrap_or_else(|panic| {
        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(anyhow!("it panicked: {}", what.unwrap_or_else(|| "(no message)".into())))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn context<'a>(
    p: &'a PlannedStage,
    upstream: Vec<(&'a str, &'a Artifact)>,
    rows: &'a Path,
    out_dir: &'a Path,
    progress: &'a Progress,
) -> StageContext<'a> {
    StageContext { stage: &p.name, key: &p.key, params: &p.params, needs: p.kind.needs(), upstream, rows, out_dir, progress }
}

/// The position in `plan` of the one stage `run --shard` names, which must be shardable.
pub fn sharded_stage(plan: &[PlannedStage], named: &HashSet<String>) -> Result<usize> {
    let positions: Vec<usize> = plan.iter().enumerate().filter(|(_, p)| named.contains(&p.name)).map(|(i, _)| i).collect();
    let [i] = positions[..] else {
        let names: Vec<String> = positions.iter().map(|&i| format!("`{}`", plan[i].name)).collect();
        bail!("--shard splits the work of one stage; name one (this names {})", if names.is_empty() { "none".into() } else { names.join(", ") });
    };
    let p = &plan[i];
    if !p.kind.shardable() {
        let kinds: Vec<&str> = crate::kinds::all().iter().filter(|k| k.shardable()).map(|k| k.kind()).collect();
        bail!(
            "stage `{}` (kind {}) cannot run in shards: only stages whose work is a list of independent rows can ({})",
            p.name,
            p.kind.kind(),
            kinds.join(", ")
        );
    }
    Ok(i)
}

/// Runs one shard of `p` from its deps' artifacts (built by now): rows into the row cache,
/// nothing published, so no stage lock is taken (shards of one stage write side by side).
fn run_shard(store: &Store, p: &PlannedStage, shard: Shard, progress: &Progress) -> Result<String> {
    let upstream: Vec<(String, Artifact)> = p
        .deps
        .iter()
        .map(|d| {
            let key = &p.parts.upstream[d];
            store.load(d, key).map(|a| (d.clone(), a)).with_context(|| format!("the artifact of `{d}` ({key}) is gone"))
        })
        .collect::<Result<_>>()?;
    // The stage interface hands every run a folder for its files; a shard writes none there.
    let scratch = store.begin(&p.name, &p.key)?;
    let rows = store.root.join(".rows");
    let upstream = upstream.iter().map(|(n, a)| (n.as_str(), a)).collect();
    let result = p.kind.run_shard(&context(p, upstream, &rows, &scratch, progress), shard);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
