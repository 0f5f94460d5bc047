//! Seeded randomness, one independent stream per purpose, so that (say) adding attention
//! checks does not change which system is A on the real items.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A ChaCha8 stream for `purpose` (and a sub-index such as an annotator) under `seed`.
pub fn stream(seed: u64, purpose: &str, index: u64) -> ChaCha8Rng {
    let mut material = Vec::with_capacity(16 + purpose.len());
    material.extend_from_slice(&seed.to_le_bytes());
    material.extend_from_slice(&index.to_le_bytes());
    material.extend_from_slice(purpose.as_bytes());
    ChaCha8Rng::from_seed(blake3::derive_key("iamm-human-eval stream v1", &material))
}

/// The key of the keyed hash that makes item ids. It derives from the seed and the system
/// names, so ids are reproducible, yet an id reveals neither an item's position nor its
/// system to someone without the seed (annotators).
pub fn id_key(seed: u64, proposed: &str, baseline: &str) -> [u8; 32] {
    let material = format!("{seed}\u{0}{proposed}\u{0}{baseline}");
    blake3::derive_key("iamm-human-eval item id v1", material.as_bytes())
}
