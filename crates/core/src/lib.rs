//! Record types shared by every stage: emotion labels and special token ids.

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

/// The three ED splits, in the order the reference processes them.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

#[cfg(test)]
mod tests {
    use super::*;

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
