//! The common stage interface: every stage kind is adapted to it in `kinds/`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::RecordBatch;

use crate::kinds::Code;
use crate::needs::{Need, exactly_one};
use crate::params::{ParamSpec, Params};
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
}

/// What a running stage sees: its params, its upstream artifacts, a scratch folder.
pub struct StageContext<'a> {
    pub stage: &'a str,
    /// This run's cache key (names work folders that must survive a kill).
    pub key: &'a str,
    pub params: &'a Params,
    pub upstream: Vec<(&'a str, &'a Artifact)>,
    /// Root of the row-level caches that outlive artifacts (see `shards.rs`).
    pub rows: &'a Path,
    /// The unpublished artifact folder: files a stage writes here besides its tables
    /// (weights, say) are published with it and listed in the manifest.
    pub out_dir: &'a Path,
    pub progress: &'a Progress,
}

impl<'a> StageContext<'a> {
    /// Reads the table `name` from whichever upstream artifact provides it.
    pub fn table(&self, name: &str) -> Result<RecordBatch> {
        self.provider(name)?.1.read_table(name)
    }

    /// Like `table`, for inputs a stage can do without.
    pub fn optional_table(&self, name: &str) -> Result<Option<RecordBatch>> {
        self.optional_provider(name)?.map(|(_, a)| a.read_table(name)).transpose()
    }

    /// The one dep of stage kind `kind` (`what` says what it is for, in the error).
    pub fn only_dep_of_kind(&self, kind: &str, what: &str) -> Result<(&'a str, &'a Artifact)> {
        let found: Vec<&str> =
            self.upstream.iter().filter(|(_, a)| a.manifest.key_parts.kind == kind).map(|(n, _)| *n).collect();
        let deps = self.upstream.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let name = exactly_one(self.stage, kind, what, &found, &deps).map_err(|e| anyhow!(e))?;
        let (name, artifact) = self.upstream.iter().find(|(n, _)| *n == name).context("a dep found above")?;
        Ok((name, artifact))
    }

    /// The dep (name, artifact) that provides table `name`, for stages that record where
    /// their inputs came from.
    pub fn provider(&self, name: &str) -> Result<(&'a str, &'a Artifact)> {
        self.optional_provider(name)?.with_context(|| {
            format!(
                "stage `{}` needs a table `{name}` from one of its deps ({}), and none provides it; \
                 check `deps:` in pipeline.yaml",
                self.stage,
                self.upstream.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })
    }

    fn optional_provider(&self, name: &str) -> Result<Option<(&'a str, &'a Artifact)>> {
        let providers: Vec<_> =
            self.upstream.iter().filter(|(_, a)| a.manifest.tables.contains_key(name)).collect();
        match providers.as_slice() {
            [] => Ok(None),
            [(dep, artifact)] => Ok(Some((dep, artifact))),
            many => bail!(
                "stage `{}`: several deps provide a table `{name}` ({}); keep only one of them in `deps:`",
                self.stage,
                many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The artifact of the dep named `dep` (for stages that read several deps of one kind,
    /// such as a report over every evaluated variant).
    pub fn dep(&self, dep: &str) -> Result<&Artifact> {
        self.upstream.iter().find(|(n, _)| *n == dep).map(|(_, a)| *a).with_context(|| {
            format!(
                "stage `{}` reads dep `{dep}`, which is not among its deps ({}); add it to `deps:` in pipeline.yaml",
                self.stage,
                self.upstream.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )
        })
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
