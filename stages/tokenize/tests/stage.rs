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
    use arrow_array::builder::{ListBuilder, StringBuilder, UInt8Builder};
    use std::sync::Arc;
    let tokens = sentences.column_by_name("tokens").unwrap().as_list::<i32>();
    let (mut sent, mut rel, mut beam, mut toks) =
        (StringBuilder::new(), StringBuilder::new(), UInt8Builder::new(), ListBuilder::new(StringBuilder::new()));
    for row in usize::from(skip_first)..sentences.num_rows() {
        let t = tokens.value(row);
        let t = t.as_string::<i32>();
        let key: Vec<&str> = (0..t.len()).map(|i| t.value(i)).collect();
        for (relation, _) in iamm_core::RELATIONS {
            for (rank, words) in [["to", "be", "happy", "xyzzy"], ["none", "happy", "to", "the"]].iter().enumerate() {
                sent.append_value(key.join(" "));
                rel.append_value(relation);
                beam.append_value(rank as u8);
                words.iter().for_each(|w| toks.values().append_value(w));
                toks.append(true);
            }
        }
    }
    RecordBatch::try_from_iter(vec![
        ("sentence", Arc::new(sent.finish()) as arrow_array::ArrayRef),
        ("relation", Arc::new(rel.finish())),
        ("beam", Arc::new(beam.finish())),
        ("tokens", Arc::new(toks.finish())),
    ])
    .unwrap()
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
