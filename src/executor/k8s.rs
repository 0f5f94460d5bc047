//! `run STAGE --executor k8s-export`: Kubernetes manifests for one shardable stage whose deps
//! are built: an Indexed Job whose pods each run one shard (`--shard $JOB_COMPLETION_INDEX/N`)
//! in the workspace on a shared volume, and the Job that publishes once it is complete.
//! Kubernetes orders no Jobs after others: the printed commands wait for the first.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};

use super::Invocation;
use super::slurm::SlurmArgs;
use crate::runner::{RunOptions, Work, sharded_stage};
use crate::workspace::Workspace;

#[derive(clap::Args, Clone, Debug)]
pub struct K8sArgs {
    /// With --executor k8s-export: the folder the manifests are written to.
    #[arg(long, value_name = "DIR", default_value = "k8s")]
    pub k8s_out: PathBuf,
    /// With --executor k8s-export: the container image, with iamm-pipe on its PATH.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// With --executor k8s-export: the PersistentVolumeClaim that holds the workspace (the folder
    /// of pipeline.yaml), mounted by every pod at once (ReadWriteMany).
    #[arg(long, value_name = "NAME")]
    pub volume_claim: Option<String>,
    /// With --executor k8s-export: where the pods mount the workspace.
    #[arg(long, value_name = "PATH", default_value = "/workspace")]
    pub mount: String,
}

/// Writes the two manifests of the one shardable stage `opts` names.
pub fn export(ws: &mut Workspace, opts: &RunOptions, k8s: &K8sArgs, cluster: &SlurmArgs, params: &[String]) -> Result<()> {
    let (Some(image), Some(claim)) = (&k8s.image, &k8s.volume_claim) else {
        return Err(anyhow!("--executor k8s-export needs --image IMAGE (with iamm-pipe on its PATH) and --volume-claim NAME (the workspace's volume)"));
    };
    let work = Work::plan(ws, opts)?;
    let at = sharded_stage(&work.plan, &work.named)?;
    let stage = &work.plan[at];
    let name = &stage.name;
    let relative = |p: &Path| p.strip_prefix(&ws.pipeline.base_dir).map(Path::to_path_buf);
    let file = relative(&ws.pipeline.file).with_context(|| format!("{} is outside its workspace", ws.pipeline.file.display()))?;
    let mount = PathBuf::from(&k8s.mount);
    let invocation = Invocation {
        exe: PathBuf::from("iamm-pipe"),
        dir: mount.clone(),
        file: mount.join(file),
        profile: ws.profile.clone(),
        params: params.to_vec(),
    };
    let resources = stage.kind.resources(&stage.params);
    let cpus = cluster.cpus_of(&resources);
    let shards = cluster.array_size.max(1);
    let job_name = format!("iamm-{}", dns_label(name));
    let pod = |container: &str, command: String| {
        let mut limits = json!({"memory": format!("{}Mi", resources.memory_mib)});
        if resources.gpu {
            limits["nvidia.com/gpu"] = json!("1");
        }
        json!({
            "restartPolicy": "Never",
            "containers": [{
                "name": container,
                "image": image,
                "command": ["/bin/sh", "-c", command],
                "resources": {"requests": {"cpu": cpus.to_string(), "memory": format!("{}Mi", resources.memory_mib)}, "limits": limits},
                "volumeMounts": [{"name": "workspace", "mountPath": k8s.mount}],
            }],
            "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": claim}}],
        })
    };
    let job = |suffix: &str, spec: Value| {
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": format!("{job_name}-{suffix}"), "annotations": {"iamm-pipe/stage": name}},
            "spec": spec,
        })
    };
    let shard_command = invocation.command(name, cpus, false, Some(&format!("\"$JOB_COMPLETION_INDEX\"/{shards}")));
    let shards_job = job(
        "shards",
        json!({
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": cluster.array_limit.unwrap_or(shards).min(shards),
            // A failed shard is retried on its own; the others go on.
            "backoffLimitPerIndex": 2,
            "template": {"spec": pod("shard", shard_command)},
        }),
    );
    let merge_job = job("merge", json!({"backoffLimit": 2, "template": {"spec": pod("merge", invocation.command(name, cpus, work.forced[at], None))}}));
    std::fs::create_dir_all(&k8s.k8s_out).with_context(|| format!("cannot create {}", k8s.k8s_out.display()))?;
    let mut written = Vec::new();
    for (suffix, manifest) in [("shards", shards_job), ("merge", merge_job)] {
        let path = k8s.k8s_out.join(format!("{}-{suffix}.yaml", dns_label(name)));
        std::fs::write(&path, yaml(&manifest)).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
    }
    println!("wrote {}; on the cluster, with the workspace on volume claim `{claim}`:", written.join(" and "));
    println!("  kubectl apply -f {}", written[0]);
    println!("  kubectl wait --for=condition=complete --timeout=48h job/{job_name}-shards");
    println!("  kubectl apply -f {}", written[1]);
    Ok(())
}

/// `name` as a DNS label fragment (what Job names allow): lowercase letters, digits and `-`.
fn dns_label(name: &str) -> String {
    let mapped: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let parts: Vec<&str> = mapped.split('-').filter(|p| !p.is_empty()).collect();
    parts.join("-").chars().take(40).collect()
}

/// `v` as block YAML; every string double-quoted with JSON's escapes, which YAML shares.
fn yaml(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                match val {
                    Value::Object(m) if !m.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        block(val, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        block(val, indent, out);
                    }
                    Value::Object(_) => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    Value::Array(_) => out.push_str(&format!("{pad}{k}: []\n")),
                    _ => out.push_str(&format!("{pad}{k}: {val}\n")),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if m.is_empty() => out.push_str(&format!("{pad}- {{}}\n")),
                    Value::Array(a) if a.is_empty() => out.push_str(&format!("{pad}- []\n")),
                    Value::Object(_) | Value::Array(_) => {
                        let mut inner = String::new();
                        block(item, indent + 2, &mut inner);
                        // The item's first line starts after `- `.
                        out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                    }
                    scalar => out.push_str(&format!("{pad}- {scalar}\n")),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{scalar}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_reads_back_as_the_same_value() {
        let v = json!({"a": {"b": [1, "x: y", {"c": "it's \"q\"\n", "d": [true, [2, {}], []]}], "e": {}}, "f": [], "g": null});
        let back: Value = serde_saphyr::from_str(&yaml(&v)).unwrap();
        assert_eq!(back, v, "{}", yaml(&v));
        assert_eq!(dns_label("train[seed=2,variant=wo_ea]"), "train-seed-2-variant-wo-ea");
    }
}
