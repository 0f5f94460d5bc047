//! The `device` param of the stages that run the model (train, evaluate, analysis).

use anyhow::{Context, Result};
use candle_core::Device;

use crate::params::{ParamSpec, ParamType, Params, Role};
use crate::schedule::Resources;

/// The `device` param. Training makes it a key (17,600 updates carry float differences
/// between devices into other weights); evaluation and analysis a tuning param (CPU and CUDA
/// compute the same scores to float noise, `stages/train/tests/cuda.rs`).
pub const fn device_param(role: Role) -> ParamSpec {
    ParamSpec {
        name: "device",
        ty: ParamType::Choice(&["cpu", "cuda"]),
        default: Some("\"cpu\""),
        help: "cuda needs a build with `--features iamm-train/cuda`",
        role,
    }
}

/// What a stage that runs the model holds: on the CPU `threads` cores and about `memory_mib`;
/// on CUDA one host thread (it launches the kernels), the GPU and little host memory.
pub fn resources(p: &Params, threads: usize, memory_mib: u64) -> Resources {
    match p.str("device") {
        Ok("cuda") => Resources { threads: 1, gpu: true, memory_mib: 1024 },
        _ => Resources::cpu(threads, memory_mib),
    }
}

/// The device the `device` param names.
pub fn device(p: &Params) -> Result<Device> {
    Ok(match p.str("device")? {
        "cuda" => Device::new_cuda(0)
            .context("device cuda (build with `--features iamm-train/cuda` on a machine with CUDA)")?,
        _ => Device::Cpu,
    })
}
