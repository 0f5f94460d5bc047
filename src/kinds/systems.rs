//! How a compared system is named in sheets and pages.

use crate::store::Artifact;

/// `evaluate[seed=42,variant=wo_ws] (wo_ws)`: an evaluated system's dep name and the variant its manifest records.
pub fn system_label(stage: &str, artifact: &Artifact) -> String {
    match artifact.manifest.stats.get("variant").and_then(|v| v.as_str()) {
        Some(v) if v != stage => format!("{stage} ({v})"),
        _ => stage.to_string(),
    }
}
