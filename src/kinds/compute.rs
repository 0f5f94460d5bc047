//! What a stage that runs the model (train, evaluate, analysis) holds while it runs, for
//! `run -j` (see `schedule.rs`).

use crate::params::Params;
use crate::schedule::Resources;

/// On the CPU `threads` cores and about `memory_mib`; on CUDA one host thread (it launches
/// the kernels), the GPU and little host memory.
pub fn resources(p: &Params, threads: usize, memory_mib: u64) -> Resources {
    match p.str("device") {
        Ok("cuda") => Resources { threads: 1, gpu: true, memory_mib: 1024 },
        _ => Resources::cpu(threads, memory_mib),
    }
}
