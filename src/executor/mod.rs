//! Hands the work of `run` to a cluster's scheduler instead of running it here: one job per
//! stage that must be built, each running `iamm-pipe run --no-deps STAGE` in the shared
//! workspace after the jobs of the stages it reads; a shardable stage as many shard jobs
//! (`run --shard I/N`) and a merge job that publishes. The scheduler orders the jobs; nothing
//! of iamm-pipe runs between them.

pub mod k8s;
pub mod slurm;

use std::path::PathBuf;

use anyhow::Result;

use crate::plan::PlannedStage;
use crate::runner::{RunOptions, Work};
use crate::schedule::Resources;
use crate::workspace::Workspace;

/// One stage to build on the cluster.
pub struct StageJob<'a> {
    pub stage: &'a PlannedStage,
    /// Positions in the job list of the jobs that build what it reads.
    pub after: Vec<usize>,
    pub forced: bool,
    pub resources: Resources,
}

/// The stages of `opts.targets` that must be built (not cached intact, or forced), in
/// dependency order, with the edges between them; a dep that is cached needs no edge.
pub fn stage_jobs<'a>(ws: &Workspace, work: &'a Work, opts: &RunOptions) -> Result<Vec<StageJob<'a>>> {
    let mut jobs: Vec<StageJob> = Vec::new();
    for (i, p) in work.plan.iter().enumerate() {
        if !work.must_build(ws, i, opts.no_rebuild)? {
            continue;
        }
        let after = p.deps.iter().filter_map(|d| jobs.iter().position(|j| &j.stage.name == d)).collect();
        jobs.push(StageJob { stage: p, after, forced: work.forced[i], resources: p.kind.resources(&p.params) });
    }
    Ok(jobs)
}

/// How a job calls iamm-pipe: this binary on the same pipeline, profile and `-p` overrides
/// (the binary and the workspace must be where the cluster's nodes see them at the same path).
pub struct Invocation {
    pub exe: PathBuf,
    pub dir: PathBuf,
    pub file: PathBuf,
    pub profile: Option<String>,
    pub params: Vec<String>,
}

impl Invocation {
    pub fn new(ws: &Workspace, params: &[String]) -> Result<Invocation> {
        Ok(Invocation {
            exe: std::env::current_exe()?,
            dir: ws.pipeline.base_dir.clone(),
            file: ws.pipeline.file.clone(),
            profile: ws.profile.clone(),
            params: params.to_vec(),
        })
    }

    /// The shell command that builds `stage` (or one shard of it: `shard` is `I/N` as shell
    /// words, e.g. `"$SLURM_ARRAY_TASK_ID"/7`) on `threads` cores.
    pub fn command(&self, stage: &str, threads: usize, forced: bool, shard: Option<&str>) -> String {
        let mut words = vec![quote(&self.exe.display().to_string()), "-C".into(), quote(&self.dir.display().to_string())];
        words.extend(["--file".into(), quote(&self.file.display().to_string())]);
        if let Some(p) = &self.profile {
            words.extend(["--profile".into(), quote(p)]);
        }
        for p in &self.params {
            words.extend(["-p".into(), quote(p)]);
        }
        words.extend(["--threads".into(), threads.to_string(), "--progress".into(), "lines".into()]);
        words.extend(["run".into(), "--no-deps".into()]);
        if forced && shard.is_none() {
            words.push("--force".into());
        }
        if let Some(s) = shard {
            words.extend(["--shard".into(), s.to_string()]);
        }
        words.push(quote(stage));
        words.join(" ")
    }
}

/// `text` as one shell word: member names hold `[`, `]`, `=` and `,`.
pub fn quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c)) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoted_words_reach_the_program_unchanged() {
        for word in ["train[seed=42,variant=full]", "it's", "a b", "", "plain-name_1", "$HOME", "*"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(word))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
        assert_eq!(quote("comet"), "comet");
    }
}
