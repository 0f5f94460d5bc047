//! The `device` param of the stages that run the model (train, evaluate, analysis).

use anyhow::{Context, Result};
use candle_core::Device;

use crate::params::{ParamSpec, ParamType, Params, Role};

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

/// The device the `device` param names.
pub fn device(p: &Params) -> Result<Device> {
    Ok(match p.str("device")? {
        "cuda" => Device::new_cuda(0)
            .context("device cuda (build with `--features iamm-train/cuda` on a machine with CUDA)")?,
        _ => Device::Cpu,
    })
}
