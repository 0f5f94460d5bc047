//! The common stage interface: every stage kind is adapted to it in `kinds/`.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use arrow_array::RecordBatch;

pub use iamm_options::ParamSpec;

use crate::kinds::Code;
use crate::needs::{self, DepKind, Need};
use crate::params::Params;
use crate::progress::{Progress, StageBar};
use crate::schedule::Resources;
use crate::store::Artifact;

pub trait StageKind: Sync {
    /// The name used in `uses:`.
    fn kind(&self) -> &'static str;
    /// One line for `iamm-pipe stages` and the README.
    fn about(&self) -> &'static str;
    fn params(&self) -> &'static [ParamSpec];
    /// The code that produces this kind's outputs and its hash (derived in
    /// `build/fingerprint.rs`); return your own module's `super::fingerprints::<MODULE>`.
    fn fingerprint(&self) -> &'static Code;
    /// What the stage needs among its deps, checked at plan time (see `needs.rs`).
    fn needs(&self) -> &'static [Need] {
        &[]
    }
    /// What a run of it holds, for `run -j` (see `schedule.rs`); default: one thread.
    fn resources(&self, _params: &Params) -> Resources {
        Resources::default()
    }
    fn run(&self, ctx: &StageContext) -> Result<StageOutput>;
    /// Whether its work is a list of independent rows kept in a row cache, which `run --shard
    /// I/N` can split among processes or machines (see `run_shard`).
    fn shardable(&self) -> bool {
        false
    }
    /// Computes the rows of one shard into the row cache and publishes nothing: a plain run
    /// afterwards finds every row cached and publishes the same artifact as an unsharded run.
    /// Returns a summary line. Only for kinds that are `shardable`.
    fn run_shard(&self, _ctx: &StageContext, _shard: Shard) -> Result<String> {
        bail!("stage kind `{}` cannot run in shards", self.kind())
    }
}

/// Shard `index` of `count` (`run --shard I/N`, I from 0): every `count`th unit of a stage's
/// work, from the `index`th, in the stage's fixed order of units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn takes(&self, unit: usize) -> bool {
        unit % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            _ => Err(format!("expected I/N with 0 <= I < N (shard I of N, counted from 0, as $SLURM_ARRAY_TASK_ID), found `{s}`")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a running stage sees: its params, its upstream artifacts (found through the needs
/// its kind declares), a scratch folder.
pub struct StageContext<'a> {
    pub stage: &'a str,
    /// This run's cache key (names work folders that must survive a kill).
    pub key: &'a str,
    pub params: &'a Params,
    /// What the stage's kind declares it needs (`StageKind::needs`).
    pub needs: &'static [Need],
    pub upstream: Vec<(&'a str, &'a Artifact)>,
    /// Root of the row-level caches that outlive artifacts (see `shards.rs`).
    pub rows: &'a Path,
    /// The unpublished artifact folder: files a stage writes here besides its tables
    /// (weights, say) are published with it and listed in the manifest.
    pub out_dir: &'a Path,
    pub progress: &'a Progress,
}

impl<'a> StageContext<'a> {
    /// The dep (stage name, artifact) that meets `need`, a `Need::One` or `Need::Named`.
    pub fn one(&self, need: &Need) -> Result<(&'a str, &'a Artifact)> {
        match (need, self.resolve(need)?.as_slice()) {
            (Need::One { .. } | Need::Named { .. }, [dep]) => Ok(*dep),
            _ => bail!("stage `{}`: {need:?} is not a need for one dep", self.stage),
        }
    }

    /// The dep that meets `need`, a `Need::Optional`, if there is one.
    pub fn optional(&self, need: &Need) -> Result<Option<(&'a str, &'a Artifact)>> {
        match (need, self.resolve(need)?.as_slice()) {
            (Need::Optional { .. }, deps) => Ok(deps.first().copied()),
            _ => bail!("stage `{}`: {need:?} is not a need for an optional dep", self.stage),
        }
    }

    /// Every dep that meets `need` (`Need::Some`, `Need::Any`, `Need::Every`), in `deps:` order.
    pub fn all(&self, need: &Need) -> Result<Vec<(&'a str, &'a Artifact)>> {
        match need {
            Need::Some { .. } | Need::Any { .. } | Need::Every => self.resolve(need),
            _ => bail!("stage `{}`: {need:?} is not a need for several deps", self.stage),
        }
    }

    /// The deps that meet `need`, which the stage's kind must declare (its needs were checked
    /// at plan time; this finds the same deps).
    fn resolve(&self, need: &Need) -> Result<Vec<(&'a str, &'a Artifact)>> {
        if !self.needs.contains(need) {
            bail!("stage `{}` reads a dep it does not declare among its needs: {need:?}", self.stage);
        }
        let deps: Vec<DepKind> =
            self.upstream.iter().map(|&(name, a)| DepKind { name, kind: &a.manifest.key_parts.kind }).collect();
        let found = needs::resolve(self.stage, need, self.params, &deps).map_err(|e| anyhow!(e))?;
        Ok(found.into_iter().map(|i| self.upstream[i]).collect())
    }

    /// A progress bar with rate and ETA: drawn on a terminal, printed as lines in a log (see
    /// `progress.rs`).
    pub fn bar(&self, len: u64, what: &str, unit: &str) -> StageBar {
        self.progress.bar(self.stage, len, what, unit)
    }
}

/// What a stage hands back to the engine; the engine writes and publishes it.
pub struct StageOutput {
    pub tables: Vec<(String, RecordBatch)>,
    /// Stage-specific facts recorded in the manifest (counts, coverage, skipped lines...).
    pub stats: serde_json::Value,
    /// One line for the end-of-stage summary.
    pub summary: String,
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_parse_and_split_the_units_among_themselves() {
        let shards: Vec<Shard> = (0..3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for unit in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(unit)).count(), 1, "unit {unit} in exactly one shard");
        }
        assert_eq!(shards[1].to_string(), "1/3");
        for bad in ["3/3", "1", "a/3", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().unwrap_err().contains("expected I/N"), "{bad}");
        }
    }
}
