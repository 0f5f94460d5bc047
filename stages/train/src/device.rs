//! The `device` param of the stages that run the model (train, evaluate, analysis).

iamm_options::choices! {
    /// Where the model runs.
    pub enum Device ("device") {
        Cpu = "cpu",
        /// GPU 0, in a build with the `cuda` feature.
        Cuda = "cuda",
    }
}

/// The `device` param's help. Training declares it a key (17,600 updates carry float
/// differences between devices into other weights); evaluation and analysis a tuning param
/// ([`DeviceParams`]).
pub const HELP: &str = "cuda needs a build with `--features iamm-train/cuda`";

iamm_options::options! {
    /// The `device` param of the stages that only run a trained model (evaluate, analysis): a
    /// tuning param, since CPU and CUDA compute the same scores to float noise (`tests/cuda.rs`).
    pub struct DeviceParams {
        device: Device = "cpu", Tuning, HELP;
    }
}

impl Device {
    /// The candle device, or what to do to get it.
    pub fn open(self) -> Result<candle_core::Device, String> {
        match self {
            Device::Cpu => Ok(candle_core::Device::Cpu),
            Device::Cuda => candle_core::Device::new_cuda(0).map_err(|e| {
                format!(
                    "device cuda (build with `--features iamm-train/cuda` on a machine with CUDA): {}",
                    crate::errors::message(&e)
                )
            }),
        }
    }
}
