//! What every stage shares: emotion labels, special token ids, relation and split names,
//! SplitMix64 for seeded choices, and the names of temporary files. (CSV cells are `iamm-csv`'s.)

/// The 32 EmpatheticDialogues emotions, in the reference's `EMO_MAP` order: a label's
/// position here is its class index everywhere (tensors, tables, confusion matrices).
pub const EMOTIONS: [&str; 32] = [
    "surprised", "excited", "annoyed", "proud", "angry", "sad", "grateful", "lonely",
    "impressed", "afraid", "disgusted", "confident", "terrified", "hopeful", "anxious",
    "disappointed", "joyful", "prepared", "guilty", "furious", "nostalgic", "jealous",
    "anticipating", "embarrassed", "content", "devastated", "sentimental", "caring",
    "trusting", "ashamed", "apprehensive", "faithful",
];

/// Class index of an emotion label, or `None` when it is not one of the 32.
pub fn emotion_id(label: &str) -> Option<u8> {
    EMOTIONS.iter().position(|e| *e == label).map(|i| i as u8)
}

/// Special vocabulary entries, with the reference's fixed ids.
pub mod special {
    pub const UNK: u32 = 0;
    pub const PAD: u32 = 1;
    pub const EOS: u32 = 2;
    pub const SOS: u32 = 3;
    pub const USR: u32 = 4;
    pub const SYS: u32 = 5;
    pub const CLS: u32 = 6;
    /// Token strings of ids 0..=6, as the reference's vocabulary spells them.
    pub const TOKENS: [&str; 7] = ["UNK", "PAD", "EOS", "SOS", "USR", "SYS", "CLS"];
}

/// The COMET-ATOMIC 2020 relations IAMM reads, in the order of its `c_*`/`s_*` inputs,
/// with the short names those inputs use.
pub const RELATIONS: [(&str, &str); 5] =
    [("xIntent", "intent"), ("xNeed", "need"), ("xWant", "want"), ("xEffect", "effect"), ("xReact", "react")];

/// The names pipeline.yaml and the tables give IAMM and its ablations, in Table 1's order.
pub const VARIANTS: [&str; 4] = ["full", "wo_ea", "wo_ia", "wo_ws"];

/// The three ED splits, in the order the reference processes them.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// SplitMix64 (Steele, Lea & Flood): the next value from `state`, which it advances. Seeds
/// the training generator and draws the viewer's sample without pulling in a crate for it.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `PID@HOST`: ends the name of every temporary file or folder a process writes before
/// renaming it into place, so that processes on machines that share a workspace over a
/// network filesystem (a cluster's jobs) never write under the same name.
pub fn writer_tag() -> String {
    format!("{}@{}", std::process::id(), host_name())
}

/// This machine's host name (Linux's `/proc/sys/kernel/hostname`, what `gethostname` returns),
/// reduced to characters that are safe in a file name; `localhost` where it cannot be read.
pub fn host_name() -> String {
    let name: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    if name.is_empty() { "localhost".to_string() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_published_sequence() {
        // The first outputs for seed 0 (the reference implementation's test vector).
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut state), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn emotion_ids_follow_reference_order() {
        assert_eq!(emotion_id("surprised"), Some(0));
        assert_eq!(emotion_id("faithful"), Some(31));
        assert_eq!(emotion_id("sentimental"), Some(26));
        assert_eq!(emotion_id("happy"), None);
        let mut sorted = EMOTIONS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
    }
}
