//! Process settings for training and decoding on the CPU. [`configure`] is called first thing
//! in `main` by the `iamm-pipe` binary and by this crate's benchmarks.
//!
//! - **candle's element-wise pool.** candle runs element-wise operations on a pool of its own
//!   (`CANDLE_NUM_THREADS` workers) whose threads spin between operations; beside gemm's rayon
//!   threads they fight for the cores, so it gets no extra workers unless
//!   `CANDLE_NUM_THREADS` says otherwise. Parallel work goes through rayon (`--threads`).
//! - **Freed memory.** A training step allocates and frees hundreds of tensors, many of several
//!   MiB. glibc serves blocks above its mmap threshold with fresh mappings, returns them to the
//!   kernel when they are freed and trims the heap top, so each step paid again for page faults
//!   and for the kernel zeroing new pages: about a sixth of a step's CPU time on the reference
//!   batches (`perf` on `cargo bench -p iamm-train --bench reference_batches`). The threshold is
//!   raised to its maximum (32 MiB) and the heap is not trimmed, so freed blocks are reused;
//!   only the vocabulary-sized logits still get mappings of their own. Peak memory does not
//!   grow: the blocks are kept, not added.

/// Applies the settings above. Call it before any other thread starts.
pub fn configure() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both values are in their ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
