//! Every table reads back what its writer wrote, with the columns the stages have always
//! published.

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use iamm_tables::*;

fn columns(b: &RecordBatch) -> Vec<(String, String, bool)> {
    b.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable())).collect()
}

fn names(b: &RecordBatch) -> Vec<String> {
    columns(b).into_iter().map(|c| c.0).collect()
}

#[test]
fn dialogues_and_text_examples() {
    let d = vec![
        dialogues::Dialogue {
            conv_id: "hit:1_conv:2".into(),
            emotion: "sad".into(),
            emotion_id: 5,
            situation: "my dog, died".into(),
            utterances: vec!["i lost my dog".into(), "oh no".into()],
            first_line: 2,
        },
        dialogues::Dialogue { utterances: vec![], ..Default::default() },
    ];
    let b = dialogues::write(&d).unwrap();
    assert_eq!(dialogues::read(&b, "dialogues_train").unwrap(), d);
    assert_eq!(names(&b), ["conv_id", "emotion", "emotion_id", "situation", "utterances", "first_line"]);
    // ingest's lists have non-nullable items
    assert!(matches!(b.schema().field(4).data_type(), DataType::List(f) if !f.is_nullable()));

    let e = vec![text_examples::TextExample {
        example_id: 3,
        conv_id: "hit:1_conv:2".into(),
        turn: 1,
        emotion: "sad".into(),
        emotion_id: 5,
        situation: "s".into(),
        context: vec!["i lost my dog".into()],
        target: "oh no".into(),
    }];
    let b = text_examples::write(&e).unwrap();
    assert_eq!(text_examples::read(&b, "examples_train").unwrap(), e);
    assert_eq!(names(&b), ["example_id", "conv_id", "turn", "emotion", "emotion_id", "situation", "context", "target"]);
    assert!(columns(&b).iter().all(|c| !c.2));
}

#[test]
fn knowledge() {
    let rows = vec![
        knowledge::Beam {
            sentence: "i lost my dog".into(),
            relation: "xReact".into(),
            beam: 1,
            text: "sad".into(),
            score: -0.5,
            tokens: vec!["sad".into()],
        },
        knowledge::Beam { relation: "xIntent".into(), score: f32::NAN, ..Default::default() },
    ];
    let b = knowledge::write(&rows).unwrap();
    let back = knowledge::read(&b, "knowledge").unwrap();
    assert_eq!(back[0], rows[0]);
    assert!(back[1].score.is_nan() && back[1].tokens.is_empty());
    assert_eq!(names(&b), ["sentence", "relation", "beam", "text", "score", "tokens"]);
}

fn token_example(id: u32, comet: bool) -> token_examples::TokenExample {
    let c = token_examples::Comet {
        context: std::array::from_fn(|r| vec![vec![6, 10 + r as u32], vec![]]),
        situation: std::array::from_fn(|r| vec![r as u32]),
    };
    token_examples::TokenExample {
        example_id: id,
        conv_id: format!("hit:{id}_conv:1"),
        turn: 1,
        emotion: "proud".into(),
        example: token_examples::Example {
            context: vec![vec![6, 7, 8], vec![6, 9]],
            roles: vec![vec![6, 4, 4], vec![6, 5]],
            situation: vec![6, 11],
            target: vec![12, 2],
            emotion: 3,
            comet: comet.then_some(c),
        },
        target_tokens: vec!["great".into()],
    }
}

#[test]
fn token_examples_with_and_without_knowledge() {
    for with in [false, true] {
        let rows = vec![token_example(0, with), token_example(1, with)];
        let b = token_examples::write(&rows, with).unwrap();
        assert_eq!(b.num_columns(), if with { 20 } else { 10 });
        assert_eq!(token_examples::read(&b, "examples_test", with).unwrap(), rows);
        // Read without knowledge, a table with it gives the same rows minus COMET.
        let plain: Vec<_> = rows.iter().cloned().map(|mut r| {
            r.example.comet = None;
            r
        }).collect();
        assert_eq!(token_examples::read(&b, "examples_test", false).unwrap(), plain);
    }
    let names_with = names(&token_examples::write(&[token_example(0, true)], true).unwrap());
    assert_eq!(names_with[..10], ["example_id", "conv_id", "turn", "emotion", "emotion_id", "context_ids", "context_roles", "situation_ids", "target_ids", "target_tokens"]);
    assert_eq!(names_with[10..], ["c_intent", "c_need", "c_want", "c_effect", "c_react", "s_intent", "s_need", "s_want", "s_effect", "s_react"]);
    // Rows and table must agree on knowledge.
    let e = token_examples::write(&[token_example(0, false)], true).unwrap_err().to_string();
    assert!(e.contains("row 0") && e.contains("has no COMET knowledge"), "{e}");
}

#[test]
fn vocab_sentences_embedding() {
    let words = vec![vocab::Word { id: 0, token: "UNK".into(), count: 0 }, vocab::Word { id: 1, token: "dog".into(), count: 7 }];
    let b = vocab::write(&words).unwrap();
    assert_eq!(vocab::read(&b, "vocab").unwrap(), words);
    assert_eq!(vocab::words(&b, "vocab").unwrap(), ["UNK", "dog"]);
    assert_eq!(names(&b), ["id", "token", "count"]);

    let s = vec![sentences::Sentence { sentence_id: 0, text: "I lost it.".into(), tokens: vec!["i".into(), "lost".into(), "it".into(), ".".into()] }];
    let b = sentences::write(&s).unwrap();
    assert_eq!(sentences::read(&b, "sentences").unwrap(), s);

    let e = embedding::Embedding { dim: 2, tokens: vec!["UNK".into(), "dog".into()], covered: vec![false, true], values: vec![0.0, 0.0, 0.5, -1.0] };
    let b = embedding::write(&e).unwrap();
    assert_eq!(embedding::read(&b, "embedding").unwrap(), e);
    assert_eq!(b.schema().field(3).data_type().to_string(), "FixedSizeList(2 x Float32)");
    let short = embedding::Embedding { values: vec![1.0], ..e };
    assert!(embedding::write(&short).unwrap_err().to_string().contains("2 × 2 values, got 2 and 1"));
}

pub fn response(example_id: u32) -> responses::Response {
    responses::Response {
        example_id,
        conv_id: "hit:1_conv:2".into(),
        context: vec!["i lost my job".into(), "oh no".into()],
        context_roles: vec!["speaker".into(), "listener".into()],
        situation: "work".into(),
        reference: "oh no".into(),
        generated: "i am sorry".into(),
        generated_tokens: vec!["i".into(), "am".into(), "sorry".into()],
        gold: 5,
        predicted: 31,
        nll_sum: 3.0,
        tokens: 2,
        batch: 0,
    }
}

#[test]
fn responses_metrics_confusion() {
    let rows = vec![response(4), response(5)];
    let b = responses::write(&rows).unwrap();
    assert_eq!(responses::read(&b, "responses").unwrap(), rows);
    assert_eq!(
        names(&b),
        [
            "example_id", "conv_id", "context", "context_roles", "situation", "reference", "generated", "generated_tokens",
            "gold_emotion", "pred_emotion", "nll_sum", "tokens", "nll_mean", "batch"
        ]
    );
    assert!(columns(&b).iter().all(|c| !c.2));
    let labels = arrow_array::cast::AsArray::as_string::<i32>(b.column(9).as_ref()).value(0).to_string();
    assert_eq!((rows[0].gold_emotion(), labels.as_str()), ("sad", "faithful"));
    let nll_mean = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(b.column(12).as_ref()).value(0);
    assert_eq!(nll_mean, 1.5);
    let e = responses::write(&[responses::Response { gold: 32, ..response(1) }]).unwrap_err().to_string();
    assert!(e.contains("row 0") && e.contains("emotion id 32"), "{e}");

    let values = [("acc", Some(0.25)), ("avg_len", Some(9.5)), ("acc_lo", None)];
    let id = metrics::RunIdentity { stage: "evaluate[seed=2,variant=wo_ia]".into(), key: "abc".into(), variant: Some("wo_ia".into()), seed: Some(2) };
    let b = metrics::write(&id, &values, 12).unwrap();
    assert_eq!(columns(&b), [
        ("stage".into(), "Utf8".into(), false),
        ("key".into(), "Utf8".into(), false),
        ("variant".into(), "Utf8".into(), false),
        ("seed".into(), "Int64".into(), false),
        ("acc".into(), "Float64".into(), false),
        ("avg_len".into(), "Float64".into(), false),
        ("examples".into(), "UInt32".into(), false),
        ("acc_lo".into(), "Float64".into(), true)
    ]);
    let back = metrics::read(&b, "metrics").unwrap();
    assert_eq!((back.variant.as_deref(), back.seed), (Some("wo_ia"), Some(2)));
    assert_eq!(back.values, vec![("acc".into(), Some(0.25)), ("avg_len".into(), Some(9.5)), ("examples".into(), Some(12.0)), ("acc_lo".into(), None)]);
    let cells = metrics::cells(&b, "metrics").unwrap();
    assert_eq!(cells[..4], [
        ("stage".into(), metrics::Cell::Text("evaluate[seed=2,variant=wo_ia]".into())),
        ("key".into(), metrics::Cell::Text("abc".into())),
        ("variant".into(), metrics::Cell::Text("wo_ia".into())),
        ("seed".into(), metrics::Cell::Int(2)),
    ]);
    assert_eq!((&cells[6], &cells[7]), (&("examples".into(), metrics::Cell::Int(12)), &("acc_lo".into(), metrics::Cell::Null)));
    // A run not trained by a train stage has neither variant nor seed: null, and nullable.
    let anonymous = metrics::write(&metrics::RunIdentity { variant: None, seed: None, ..id }, &values, 12).unwrap();
    assert!(columns(&anonymous)[2..4].iter().all(|c| c.2));
    assert_eq!(metrics::read(&anonymous, "metrics").unwrap(), metrics::MetricsRow { variant: None, seed: None, values: back.values.clone() });
    // A table from before the identity columns reads too.
    let old = b.project(&(4..b.num_columns()).collect::<Vec<_>>()).unwrap();
    assert_eq!(metrics::read(&old, "metrics").unwrap(), metrics::MetricsRow { variant: None, seed: None, values: back.values });

    let mut m = [[0u32; 32]; 32];
    m[5][31] = 2;
    m[0][0] = 1;
    let b = confusion::write(&m).unwrap();
    assert_eq!(b.num_rows(), 1024);
    assert_eq!(confusion::read(&b, "confusion").unwrap(), m);
    assert_eq!(arrow_array::cast::AsArray::as_string::<i32>(b.column(1).as_ref()).value(5 * 32 + 31), "faithful");
}

pub fn association(example_id: u32, word: &str) -> associations::Association {
    associations::Association {
        example_id,
        pair: "situation".into(),
        source: "explicit".into(),
        direction: "s2u".into(),
        head: 1,
        position: 4,
        token_id: 99,
        word: word.into(),
        weight: 0.75,
        unit: Some(0),
        utterance: Some(-1),
        offset: Some(3),
    }
}

#[test]
fn associations_word_stats_curves() {
    let rows = vec![association(7, "dog"), association(8, "cat")];
    let b = associations::write(&rows).unwrap();
    assert_eq!(associations::read(&b, "associations").unwrap(), rows);
    assert_eq!(b.num_columns(), 12);
    // Tables of older analysis stages have no location columns.
    let old = b.project(&(0..9).collect::<Vec<_>>()).unwrap();
    let back = associations::read(&old, "associations").unwrap();
    assert!(back.iter().all(|a| a.unit.is_none() && a.utterance.is_none() && a.offset.is_none()));
    let e = associations::write(&[associations::Association { offset: None, ..association(1, "x") }]).unwrap_err().to_string();
    assert!(e.contains("no location"), "{e}");

    let stats = vec![
        word_stats::WordStat { word: "dog".into(), count: 3, mean_weight: 0.5, max_weight: 0.9, df: 2, idf: 0.69, intensity: Some(0.4), in_lexicon: true },
        word_stats::WordStat { word: "the".into(), intensity: None, ..Default::default() },
    ];
    let b = word_stats::write(&stats).unwrap();
    assert_eq!(word_stats::read(&b, "word_stats").unwrap(), stats);
    assert!(columns(&b).iter().all(|c| c.2), "polars marks every column nullable");

    let points = vec![curves::CurvePoint {
        k: 1,
        ranking: "count".into(),
        word: "dog".into(),
        count: 3,
        mean_weight: 0.5,
        mean_intensity: None,
        mean_idf: 0.69,
        all_words_intensity: Some(0.2),
        all_words_idf: 1.0,
        assoc_words_intensity: None,
        assoc_words_idf: 0.9,
    }];
    let b = curves::write(&points).unwrap();
    assert_eq!(curves::read(&b, "curves").unwrap(), points);
    assert_eq!(b.num_columns(), 11);
}

#[test]
fn human_eval_key() {
    let entry = |id: &str, expected: Option<&str>, scrambled: Option<u32>| human_eval_key::KeyEntry {
        item_id: id.into(),
        kind: "pair".into(),
        example_id: 4,
        a_is: "proposed".into(),
        b_is: "baseline".into(),
        proposed: "evaluate".into(),
        baseline: "evaluate_wo_ws".into(),
        expected: expected.map(str::to_string),
        scrambled_from: scrambled,
    };
    let pairs = vec![entry("a1", None, None), entry("b2", None, None)];
    let b = human_eval_key::write(&pairs).unwrap();
    assert_eq!(human_eval_key::read(&b, "key").unwrap(), pairs);
    // Optional columns are marked nullable only when they hold a null.
    assert!(columns(&b).iter().all(|c| c.2 == (c.0 == "expected" || c.0 == "scrambled_from")));
    let checks = vec![entry("c3", Some("A"), Some(9))];
    let b = human_eval_key::write(&checks).unwrap();
    assert!(columns(&b).iter().all(|c| !c.2));
    assert_eq!(human_eval_key::read(&b, "key").unwrap(), checks);
}
