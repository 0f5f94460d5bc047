//! Ingests the real EmpatheticDialogues files (`shared/data/ed`, never copied into the repo).

mod common;

use common::*;
use iamm_core::{EMOTIONS, emotion_id};
use iamm_ingest::{OnBadLine, SourceKind};
use indicatif::ProgressBar;

/// Examples per split. The reference reports 40,250 / 5,734 / 5,255: its ParlAI-based builder
/// loses the last two conversations of every split (2 + 2 listener turns each time); see the
/// crate docs.
const EXAMPLES: [usize; 3] = [40_254, 5_738, 5_259];
const CONVERSATIONS: [usize; 3] = [19_533, 2_770, 2_547];
const UTTERANCES: [usize; 3] = [84_169, 12_078, 10_973];

#[test]
fn real_ed_counts_and_content() {
    let progress = ProgressBar::hidden();
    let opts = iamm_ingest::IngestOptions::default();
    let got = iamm_ingest::ingest(&ed_dir(), &opts, &progress).expect("real ED ingests cleanly");
    assert_eq!(got.source_kind, SourceKind::Folder);
    assert!(got.skipped.is_empty());
    // No conversation is in two splits: the default (a warning) stays quiet on the release.
    assert!(got.shared_conv_ids.is_empty(), "{:?}", &got.shared_conv_ids[..got.shared_conv_ids.len().min(3)]);
    let total_bytes: u64 = ["train", "valid", "test"]
        .iter()
        .map(|s| {
            std::fs::metadata(ed_dir().join(format!("{s}.csv")))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(progress.length(), Some(total_bytes));
    assert_eq!(progress.position(), total_bytes);

    let names: Vec<&str> = got.splits.iter().map(|s| s.split).collect();
    assert_eq!(names, ["train", "valid", "test"]);
    let mut all_convs = 0;
    for (i, s) in got.splits.iter().enumerate() {
        assert_eq!(*s.dialogues.schema(), iamm_tables::dialogues::schema());
        assert_eq!(*s.examples.schema(), iamm_tables::text_examples::schema());
        assert_eq!(
            s.dialogues.num_rows(),
            CONVERSATIONS[i],
            "{} conversations",
            s.split
        );
        all_convs += s.dialogues.num_rows();
        let utts = lists(&s.dialogues, "utterances");
        assert_eq!(
            utts.iter().map(Vec::len).sum::<usize>(),
            UTTERANCES[i],
            "{} rows",
            s.split
        );
        assert_eq!(s.examples.num_rows(), EXAMPLES[i], "{} examples", s.split);
        // Listener turns = utterances with an even utterance_idx.
        assert_eq!(utts.iter().map(|u| u.len() / 2).sum::<usize>(), EXAMPLES[i]);

        // Structural invariants of the examples.
        let ids = u32s(&s.examples, "example_id");
        assert!(ids.iter().enumerate().all(|(k, &id)| id as usize == k));
        let turns = u32s(&s.examples, "turn");
        let contexts = lists(&s.examples, "context");
        for (t, c) in turns.iter().zip(&contexts) {
            assert_eq!(*t as usize, c.len());
            assert_eq!(c.len() % 2, 1, "context lengths are odd");
        }
        let emotions = strings(&s.examples, "emotion");
        let eids = u8s(&s.examples, "emotion_id");
        for (e, id) in emotions.iter().zip(&eids) {
            assert_eq!(emotion_id(e), Some(*id));
        }
        let mut distinct = strings(&s.dialogues, "emotion");
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 32);

        // `_comma_` is gone from all text.
        for text in strings(&s.dialogues, "situation")
            .iter()
            .chain(strings(&s.examples, "target").iter())
            .chain(utts.iter().flatten())
        {
            assert!(!text.contains("_comma_"), "{text}");
        }
        // conv ids are unique within a split
        let mut ids = strings(&s.dialogues, "conv_id");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CONVERSATIONS[i]);
    }
    assert_eq!(all_convs, 24_850);

    // A known conversation: the first one of train.
    let train = &got.splits[0];
    assert_eq!(strings(&train.dialogues, "conv_id")[0], "hit:0_conv:1");
    assert_eq!(strings(&train.dialogues, "emotion")[0], "sentimental");
    assert_eq!(u8s(&train.dialogues, "emotion_id")[0], 26);
    assert_eq!(EMOTIONS[26], "sentimental");
    assert_eq!(
        strings(&train.dialogues, "situation")[0],
        "I remember going to the fireworks with my best friend. There was a lot of people, but \
         it only felt like us in the world."
    );
    assert_eq!(u64s(&train.dialogues, "first_line")[..2], [2, 8]);
    let conv0 = &lists(&train.dialogues, "utterances")[0];
    assert_eq!(conv0.len(), 6);
    assert_eq!(
        conv0[1],
        "Was this a friend you were in love with, or just a best friend?"
    );
    assert_eq!(conv0[2], "This was a best friend. I miss her.");
    assert_eq!(
        conv0[5],
        "Oh was this something that happened because of an argument?"
    );

    // Its three listener turns are examples 0, 1, 2.
    let example_convs = strings(&train.examples, "conv_id");
    assert_eq!(
        example_convs[..4],
        [
            "hit:0_conv:1",
            "hit:0_conv:1",
            "hit:0_conv:1",
            "hit:1_conv:2"
        ]
    );
    assert_eq!(u32s(&train.examples, "turn")[..3], [1, 3, 5]);
    let ctx = lists(&train.examples, "context");
    assert_eq!(ctx[0], conv0[..1]);
    assert_eq!(ctx[1], conv0[..3]);
    assert_eq!(ctx[2], conv0[..5]);
    let targets = strings(&train.examples, "target");
    assert_eq!(targets[0], conv0[1]);
    assert_eq!(targets[2], conv0[5]);
    assert_eq!(
        strings(&train.examples, "situation")[0],
        strings(&train.dialogues, "situation")[0]
    );

    // The last conversations (the ones the reference loses) are kept.
    let train_ids = strings(&train.dialogues, "conv_id");
    assert_eq!(
        train_ids[train_ids.len() - 2..],
        ["hit:12424_conv:24848", "hit:12424_conv:24849"]
    );
    let test_ids = strings(&got.splits[2].dialogues, "conv_id");
    assert_eq!(
        test_ids.last().map(String::as_str),
        Some("hit:12423_conv:24847")
    );

    // Text is kept byte for byte apart from `_comma_`: spaces and quotes survive.
    let valid = &got.splits[1];
    let vids = strings(&valid.dialogues, "conv_id");
    let k = vids
        .iter()
        .position(|c| c == "hit:275_conv:550")
        .expect("conversation present");
    assert_eq!(
        lists(&valid.dialogues, "utterances")[k][2],
        " I do actually! "
    );
    let k = vids
        .iter()
        .position(|c| c == "hit:279_conv:559")
        .expect("conversation present");
    assert!(
        lists(&valid.dialogues, "utterances")[k][4]
            .starts_with("I think I'm average. I'm 5'11\" 190.")
    );
}

#[test]
fn real_ed_skip_mode_skips_nothing() {
    let got = run(&ed_dir(), OnBadLine::Skip).expect("ingests");
    assert!(got.skipped.is_empty());
    let n: Vec<usize> = got.splits.iter().map(|s| s.examples.num_rows()).collect();
    assert_eq!(n, EXAMPLES);
}
