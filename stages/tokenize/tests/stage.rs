//! The tokenize stage on the shipped demo corpus: vocabulary order, the id tables the model
//! reads, a train-only vocabulary, and word vectors.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, RecordBatch};
use iamm_core::special::{CLS, EOS, SYS, UNK, USR};
use iamm_ingest::{IngestOptions, OnBadLine, ingest};
use iamm_text::{PunktParams, Tokenizer};
use iamm_tokenize::{SplitExamples, Tokenized, embedding_table, tokenize};
use indicatif::ProgressBar;

fn demo_examples() -> Vec<(&'static str, RecordBatch)> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/ed");
    let opts = IngestOptions { on_bad_line: OnBadLine::Error, verify_checksum: true };
    let ingested = ingest(&demo, &opts, &ProgressBar::hidden()).expect("demo corpus ingests");
    ingested.splits.into_iter().map(|s| (s.split, s.examples)).collect()
}

fn run(vocab_splits: &[&str]) -> (Vec<(&'static str, RecordBatch)>, Tokenized) {
    let examples = demo_examples();
    let inputs: Vec<SplitExamples> =
        examples.iter().map(|(split, examples)| SplitExamples { split, examples }).collect();
    let splits: Vec<String> = vocab_splits.iter().map(|s| s.to_string()).collect();
    let tok = Tokenizer::new(PunktParams::fallback());
    let out = tokenize(&tok, &inputs, &splits, None, &ProgressBar::hidden()).expect("tokenize");
    (examples, out)
}

fn ids(list: &dyn Array, row: usize) -> Vec<u32> {
    list.as_list::<i32>().value(row).as_primitive::<UInt32Type>().values().to_vec()
}

#[test]
fn ids_roles_cls_and_eos_follow_the_reference() {
    let (examples, out) = run(&["train", "valid", "test"]);
    let train = &out.splits[0].1;
    assert_eq!(out.splits[0].0, "train");
    assert_eq!(train.num_rows(), examples[0].1.num_rows());

    // Special tokens first, then words in first-use order: the first word of the first
    // context utterance of the first train example gets id 7.
    assert_eq!(out.vocab.word(0), Some("UNK"));
    assert_eq!(out.vocab.word(6), Some("CLS"));
    let first_context = examples[0].1.column_by_name("context").unwrap().as_list::<i32>().value(0);
    let first_utterance = first_context.as_string::<i32>().value(0);
    let first_word = Tokenizer::new(PunktParams::fallback()).process_sent(first_utterance)[0].clone();
    assert_eq!(out.vocab.get(&first_word), Some(7));

    let contexts = train.column_by_name("context_ids").unwrap().as_list::<i32>();
    let roles = train.column_by_name("context_roles").unwrap().as_list::<i32>();
    for row in 0..train.num_rows() {
        let (c, r) = (contexts.value(row), roles.value(row));
        assert_eq!(c.len() % 2, 1, "contexts have an odd number of utterances");
        for u in 0..c.len() {
            let (utt, role) = (ids(c.as_ref(), u), ids(r.as_ref(), u));
            assert_eq!(utt[0], CLS);
            assert_eq!(role[0], CLS);
            assert_eq!(utt.len(), role.len());
            let expected = if u % 2 == 0 { USR } else { SYS };
            assert!(role[1..].iter().all(|&x| x == expected), "row {row} utterance {u}: {role:?}");
        }
        let target = ids(train.column_by_name("target_ids").unwrap().as_ref(), row);
        assert_eq!(target.last(), Some(&EOS));
        let tokens = train.column_by_name("target_tokens").unwrap().as_list::<i32>().value(row);
        assert_eq!(tokens.len() + 1, target.len());
        let situation = ids(train.column_by_name("situation_ids").unwrap().as_ref(), row);
        assert_eq!(situation[0], CLS);
        assert!(!situation[1..].contains(&UNK));
    }
    assert!(out.unknown_tokens.iter().all(|(_, unk, _)| *unk == 0));
    // Every token of every split counts toward the vocabulary counts.
    let total: u64 = out.unknown_tokens.iter().map(|(_, _, t)| t).sum();
    assert!(total > 10_000, "{total} tokens");
}

#[test]
fn a_train_only_vocabulary_maps_unseen_words_to_unk() {
    let (_, all) = run(&["train", "valid", "test"]);
    let (_, train_only) = run(&["train"]);
    assert!(train_only.vocab.len() < all.vocab.len());
    let (split, unknown, total) = &train_only.unknown_tokens[2];
    assert_eq!(split, "test");
    assert!(*unknown > 0 && unknown < total, "{unknown} of {total}");
    assert_eq!(train_only.unknown_tokens[0].1, 0, "no unknown words in train itself");
}

#[test]
fn vectors_fill_covered_words_and_report_bad_lines() {
    let (_, out) = run(&["train", "valid", "test"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.txt");
    std::fs::write(&path, "i 1 2 3\nzzzz 9 9 9\nthe 0.5 -1 2e-1\n").unwrap();
    let (table, coverage) = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap();
    assert_eq!(coverage.dim, 3);
    assert_eq!(coverage.covered, 2);
    assert_eq!(coverage.file_words, 3);
    assert_eq!(table.num_rows(), out.vocab.len());
    let the = out.vocab.get("the").unwrap() as usize;
    let vectors = table.column_by_name("vector").unwrap().as_fixed_size_list();
    let v = vectors.value(the);
    assert_eq!(v.as_primitive::<arrow_array::types::Float32Type>().values().to_vec(), vec![0.5, -1.0, 0.2]);
    assert!(table.column_by_name("covered").unwrap().as_boolean().value(the));
    assert!(!table.column_by_name("covered").unwrap().as_boolean().value(UNK as usize));

    std::fs::write(&path, "i 1 2 3\nthe 1 2\n").unwrap();
    let err = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("v.txt:2:") && err.contains("2 numbers after the word \"the\""), "{err}");
    std::fs::write(&path, "i 1 x 3\n").unwrap();
    let err = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("v.txt:1:") && err.contains("\"x\" is not a number"), "{err}");
    std::fs::write(&path, "").unwrap();
    assert!(embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap_err().to_string().contains("empty"));
}

/// A knowledge table giving every sentence the same two beams per relation.
fn uniform_knowledge(sentences: &RecordBatch, skip_first: bool) -> RecordBatch {
    let sentences = iamm_tables::sentences::read(sentences, "sentences").unwrap();
    let mut rows = Vec::new();
    for s in &sentences[usize::from(skip_first)..] {
        for (relation, _) in iamm_core::RELATIONS {
            for (rank, words) in [["to", "be", "happy", "xyzzy"], ["none", "happy", "to", "the"]].iter().enumerate() {
                rows.push(iamm_tables::knowledge::Beam {
                    sentence: s.tokens.join(" "),
                    relation: relation.to_string(),
                    beam: rank as u8,
                    text: words.join(" "),
                    score: 0.0,
                    tokens: words.iter().map(|w| w.to_string()).collect(),
                });
            }
        }
    }
    iamm_tables::knowledge::write(&rows).unwrap()
}

#[test]
fn knowledge_becomes_c_and_s_inputs_like_the_reference() {
    let (examples, plain) = run(&["train", "valid", "test"]);
    let knowledge = iamm_tokenize::Knowledge::from_table(&uniform_knowledge(&plain.sentences, false)).unwrap();
    let inputs: Vec<SplitExamples> =
        examples.iter().map(|(split, examples)| SplitExamples { split, examples }).collect();
    let splits = vec!["train".to_string(), "valid".into(), "test".into()];
    let tok = Tokenizer::new(PunktParams::fallback());
    let out = tokenize(&tok, &inputs, &splits, Some(&knowledge), &ProgressBar::hidden()).unwrap();
    let v = |w: &str| out.vocab.get(w).unwrap();
    // "to", "none" and the out-of-vocabulary "xyzzy" are dropped; beams are concatenated.
    let words = vec![v("be"), v("happy"), v("happy"), v("the")];
    let train = &out.splits[0].1;
    let intent = train.column_by_name("c_intent").unwrap().as_list::<i32>().value(0);
    let first = ids(intent.as_ref(), 0);
    assert_eq!(first[0], CLS);
    assert_eq!(first[1..], words[..]);
    let react = train.column_by_name("c_react").unwrap().as_list::<i32>().value(0);
    assert_eq!(ids(react.as_ref(), 0), words, "xReact has no [CLS]");
    let contexts = train.column_by_name("context_ids").unwrap().as_list::<i32>();
    assert_eq!(intent.len(), contexts.value(0).len(), "one c_ sequence per context utterance");
    assert_eq!(ids(train.column_by_name("s_need").unwrap().as_ref(), 0)[0], CLS);
    assert_eq!(ids(train.column_by_name("s_react").unwrap().as_ref(), 0), words);

    let partial = iamm_tokenize::Knowledge::from_table(&uniform_knowledge(&plain.sentences, true)).unwrap();
    let err = tokenize(&tok, &inputs, &splits, Some(&partial), &ProgressBar::hidden()).err().unwrap().to_string();
    assert!(err.contains("no xIntent knowledge for the sentence"), "{err}");
}

fn vectors_of(table: &RecordBatch, row: usize) -> Vec<f32> {
    let v = table.column_by_name("vector").unwrap().as_fixed_size_list().value(row);
    v.as_primitive::<arrow_array::types::Float32Type>().values().to_vec()
}

#[test]
fn non_finite_vector_values_are_rejected_with_line_and_word() {
    let (_, out) = run(&["train", "valid", "test"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.txt");
    // NaN, infinities and a number beyond f32 (it parses as +inf) in a vocabulary word.
    for (value, index) in [("nan", 2), ("NaN", 2), ("inf", 2), ("-Infinity", 2), ("1e39", 2)] {
        std::fs::write(&path, format!("i 1 2 3\nthe 0.5 {value} 1\n")).unwrap();
        let err = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("{}:2: the vector of \"the\" has \"{value}\" as its number {index}", path.display())), "{msg}");
        assert!(msg.contains("not a finite 32-bit number") && msg.contains("NaN"), "{msg}");
    }
    // The largest finite f32 is accepted; a word outside the vocabulary is never parsed.
    std::fs::write(&path, "i 1 2 3.4e38\nzzzz nan nan nan\n").unwrap();
    let (table, coverage) = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap();
    assert_eq!(coverage.covered, 1);
    assert_eq!(vectors_of(&table, out.vocab.get("i").unwrap() as usize), vec![1.0, 2.0, 3.4e38]);
}

#[test]
fn a_word2vec_header_line_is_skipped_and_checked() {
    let (_, out) = run(&["train", "valid", "test"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w2v.txt");
    std::fs::write(&path, "3 3\ni 1 2 3\nzzzz 9 9 9\nthe 0.5 -1 2e-1\n").unwrap();
    let (table, coverage) = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap();
    assert_eq!(coverage.header, Some((3, 3)));
    assert_eq!((coverage.dim, coverage.covered, coverage.file_words), (3, 2, 3));
    assert_eq!(vectors_of(&table, out.vocab.get("the").unwrap() as usize), vec![0.5, -1.0, 0.2]);
    // Line numbers still count the header; its dimension must be the vectors'.
    std::fs::write(&path, "3 4\ni 1 2 3\n").unwrap();
    let err = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap_err().to_string();
    assert!(err.contains("w2v.txt:2: 3 numbers after the word \"i\" (the word2vec header on the first line says 4)"), "{err}");
    // Without a header nothing changes.
    std::fs::write(&path, "i 1 2 3\n").unwrap();
    assert_eq!(embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap().1.header, None);
}

#[test]
fn repeated_words_are_counted_and_the_last_line_wins() {
    let (_, out) = run(&["train", "valid", "test"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.txt");
    std::fs::write(&path, "i 1 2 3\nthe 1 1 1\nzzzz 0 0 0\ni 4 5 6\nzzzz 7 7 7\nzzzz 8 8 8\n").unwrap();
    let (table, coverage) = embedding_table(&path, &out.vocab, &ProgressBar::hidden()).unwrap();
    assert_eq!(coverage.duplicates.len(), 3);
    assert_eq!(coverage.duplicates_in_vocab(&out.vocab), 1);
    assert_eq!(
        coverage.duplicates[0],
        iamm_tokenize::Duplicate { word: "i".into(), first_line: 1, line: 4 }
    );
    assert_eq!((coverage.duplicates[2].first_line, coverage.duplicates[2].line), (3, 6));
    assert_eq!(vectors_of(&table, out.vocab.get("i").unwrap() as usize), vec![4.0, 5.0, 6.0], "the last line wins");
    assert_eq!(coverage.covered, 2, "a repeated word is covered once");
}

#[test]
fn max_context_turns_keeps_the_last_utterances_with_their_roles() {
    let examples = demo_examples();
    let inputs: Vec<SplitExamples> =
        examples.iter().map(|(split, examples)| SplitExamples { split, examples }).collect();
    let splits: Vec<String> = ["train", "valid", "test"].iter().map(|s| s.to_string()).collect();
    let tok = Tokenizer::new(PunktParams::fallback());
    let hidden = ProgressBar::hidden();
    let full = tokenize(&tok, &inputs, &splits, None, &hidden).unwrap();
    let opts = iamm_tokenize::TokenizeOptions { max_context_turns: Some(2) };
    let cut = iamm_tokenize::tokenize_with(&tok, &inputs, &splits, None, &opts, &hidden).unwrap();
    assert_eq!(cut.vocab.len(), full.vocab.len(), "the vocabulary is built from whole contexts");
    let nested = |t: &RecordBatch, col: &str, row: usize| -> Vec<Vec<u32>> {
        let v = t.column_by_name(col).unwrap().as_list::<i32>().value(row);
        (0..v.len()).map(|u| ids(v.as_ref(), u)).collect()
    };
    for ((split, f), (_, c)) in full.splits.iter().zip(&cut.splits) {
        let mut longer = 0;
        for row in 0..f.num_rows() {
            let (fc, cc) = (nested(f, "context_ids", row), nested(c, "context_ids", row));
            let keep = fc.len().min(2);
            longer += u64::from(fc.len() > 2);
            assert_eq!(cc, fc[fc.len() - keep..], "{split} row {row}");
            // Roles are those of the whole context: a 3-utterance context keeps listener, speaker.
            let (fr, cr) = (nested(f, "context_roles", row), nested(c, "context_roles", row));
            assert_eq!(cr, fr[fr.len() - keep..], "{split} row {row}");
            if fc.len() == 3 {
                assert_eq!((cr[0][1], cr[1][1]), (SYS, USR));
            }
            assert_eq!(ids(c.column_by_name("target_ids").unwrap().as_ref(), row), ids(f.column_by_name("target_ids").unwrap().as_ref(), row));
        }
        let counted = cut.truncated_contexts.iter().find(|(s, _)| s == split).unwrap().1;
        assert_eq!(counted, longer, "{split}");
        assert!(longer > 0, "the demo has longer contexts in {split}");
    }
    assert!(full.truncated_contexts.iter().all(|(_, n)| *n == 0));
    // COMET inputs follow the kept utterances: one sequence each.
    let knowledge = iamm_tokenize::Knowledge::from_table(&uniform_knowledge(&full.sentences, false)).unwrap();
    let one = iamm_tokenize::TokenizeOptions { max_context_turns: Some(1) };
    let with = iamm_tokenize::tokenize_with(&tok, &inputs, &splits, Some(&knowledge), &one, &hidden).unwrap();
    let train = &with.splits[0].1;
    for row in 0..train.num_rows() {
        assert_eq!(nested(train, "context_ids", row).len(), 1);
        assert_eq!(nested(train, "c_want", row).len(), 1, "row {row}");
        assert_eq!(nested(train, "context_roles", row)[0][1], USR, "the last utterance of a context is the speaker's");
    }
    let zero = iamm_tokenize::TokenizeOptions { max_context_turns: Some(0) };
    assert!(iamm_tokenize::tokenize_with(&tok, &inputs, &splits, None, &zero, &hidden).is_err());
}
