//! A table that breaks its declaration is refused with an error that names the table, the
//! column, the type it should have and, where one is at fault, the row.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::DataType;
use iamm_tables::*;

/// `b` without column `name`.
fn without(b: &RecordBatch, name: &str) -> RecordBatch {
    let keep: Vec<usize> = (0..b.num_columns()).filter(|&i| b.schema().field(i).name() != name).collect();
    b.project(&keep).unwrap()
}

/// `b` with column `name` replaced by `col`.
fn with(b: &RecordBatch, name: &str, col: ArrayRef) -> RecordBatch {
    let schema = b.schema();
    let cols = schema.fields().iter().zip(b.columns()).map(|(f, c)| (f.name().clone(), if f.name() == name { col.clone() } else { c.clone() }));
    RecordBatch::try_from_iter(cols).unwrap()
}

fn response(example_id: u32) -> responses::Response {
    responses::Response {
        example_id,
        conv_id: format!("hit:{example_id}_conv:1"),
        context: vec!["my daughter was accepted".into(), "great".into(), "she starts".into()],
        context_roles: vec!["speaker".into(), "listener".into(), "speaker".into()],
        situation: "harvard".into(),
        reference: "you must be proud".into(),
        generated: "wow".into(),
        generated_tokens: vec!["wow".into()],
        gold: 3,
        predicted: 1,
        nll_sum: 4.0,
        tokens: 5,
        batch: 0,
    }
}

fn association(head: u32) -> associations::Association {
    associations::Association {
        example_id: 7,
        pair: "situation".into(),
        source: "explicit".into(),
        direction: "s2u".into(),
        head,
        position: 1,
        token_id: 101,
        word: "daughter".into(),
        weight: 0.9,
        unit: Some(0),
        utterance: Some(-1),
        offset: Some(1),
    }
}

#[test]
fn a_missing_column_is_named_with_its_type_the_writer_and_what_is_there() {
    let b = associations::write(&[association(0)]).unwrap();
    let e = associations::read(&without(&b, "weight"), "associations of `analysis`").unwrap_err().to_string();
    assert!(e.contains("the associations of `analysis` table has no column `weight` (f32)"), "{e}");
    assert!(e.contains("the analysis stage writes example_id u32, pair utf8") && e.contains("found: example_id, pair"), "{e}");

    let b = responses::write(&[response(1)]).unwrap();
    let e = responses::read(&without(&b, "context_roles"), "responses of `evaluate`").unwrap_err().to_string();
    assert!(e.contains("responses of `evaluate` table has no column `context_roles` (list<utf8>)"), "{e}");

    // A tokenize table without COMET, read by a model that needs it.
    let t = token_examples::write(&[], false).unwrap();
    let e = token_examples::read(&t, "examples_test", true).unwrap_err().to_string();
    assert!(e.contains("no column `c_intent` (list<list<u32>>)") && e.contains("the tokenize stage writes"), "{e}");

    let e = embedding::read(&without(&embedding::write(&embedding::Embedding::default()).unwrap(), "vector"), "embedding").unwrap_err().to_string();
    assert!(e.contains("no column `vector` (f32[dim])"), "{e}");
}

#[test]
fn a_column_of_another_type_is_cast_when_arrow_converts_it_and_refused_otherwise() {
    // Wider integers and floats are read.
    let b = associations::write(&[association(0), association(1)]).unwrap();
    let wide = with(&b, "head", Arc::new(Int64Array::from(vec![0, 1])));
    let wide = with(&wide, "weight", Arc::new(Float64Array::from(vec![0.9, 0.9])));
    assert_eq!(associations::read(&wide, "associations").unwrap(), [association(0), association(1)]);

    // A string where a list belongs would read as one-element lists: refused.
    let b = responses::write(&[response(1)]).unwrap();
    let flat = with(&b, "context", Arc::new(StringArray::from(vec!["my daughter was accepted"])));
    let e = responses::read(&flat, "responses of `evaluate`").unwrap_err().to_string();
    assert!(e.contains("column `context` of the responses of `evaluate` table is Utf8, which does not convert to list<utf8>"), "{e}");

    let e = embedding::read(&with(&embedding::write(&embedding::Embedding::default()).unwrap(), "vector", Arc::new(StringArray::from(Vec::<&str>::new()))), "embedding")
        .unwrap_err()
        .to_string();
    assert!(e.contains("column `vector` of the embedding table is Utf8") && e.contains("fixed-size list"), "{e}");

    // A value that does not fit the declared type is named with its row.
    let negative = with(&b, "tokens", Arc::new(Int64Array::from(vec![-5])));
    let e = responses::read(&negative, "responses").unwrap_err().to_string();
    assert!(e.contains("column `tokens` of the responses table is null (or out of range) in row 0"), "{e}");
    let words = with(&b, "example_id", Arc::new(StringArray::from(vec!["seven"])));
    let e = responses::read(&words, "responses").unwrap_err().to_string();
    assert!(e.contains("column `example_id` of the responses table is null (or out of range) in row 0"), "{e}");

    let id = metrics::RunIdentity { stage: "evaluate".into(), key: "k".into(), variant: Some("full".into()), seed: Some(1) };
    let m = metrics::write(&id, &[("acc", Some(0.5))], 3).unwrap();
    let e = metrics::read(&with(&m, "acc", Arc::new(StringArray::from(vec!["high"]))), "metrics of `evaluate`").unwrap_err().to_string();
    assert!(e.contains("column `acc` of the metrics of `evaluate` table is Utf8") && e.contains("f64"), "{e}");
    let e = metrics::read(&with(&m, "seed", Arc::new(StringArray::from(vec!["one"]))), "metrics").unwrap_err().to_string();
    assert!(e.contains("column `seed` of the metrics table is Utf8") && e.contains("i64"), "{e}");
    let mut list = ListBuilder::new(StringBuilder::new());
    list.append(true);
    let lists = with(&m, "acc", Arc::new(list.finish()));
    assert!(metrics::cells(&lists, "metrics").is_err(), "a list is no cell of a metrics table");
}

#[test]
fn nulls_are_refused_where_the_table_has_none() {
    let b = responses::write(&[response(1), response(2), response(3)]).unwrap();
    let e = responses::read(&with(&b, "generated", Arc::new(StringArray::from(vec![Some("a"), Some("b"), None]))), "responses").unwrap_err().to_string();
    assert!(e.contains("column `generated` of the responses table is null (or out of range) in row 2"), "{e}");

    // A null utterance inside a row's context.
    let mut context = ListBuilder::new(StringBuilder::new());
    for row in 0..3 {
        context.values().append_value("i see");
        if row == 1 {
            context.values().append_null();
        }
        context.append(true);
    }
    let e = responses::read(&with(&b, "context", Arc::new(context.finish())), "responses").unwrap_err().to_string();
    assert!(e.contains("column `context (an element)` of the responses table is null (or out of range) in row 1"), "{e}");

    let k = token_examples::write(&[], true).unwrap();
    assert!(token_examples::read(&k, "examples_test", true).unwrap().is_empty());

    // Where the table has nulls, they are read as such.
    let key = human_eval_key::write(&[human_eval_key::KeyEntry { expected: None, scrambled_from: None, ..Default::default() }]).unwrap();
    let e = human_eval_key::read(&with(&key, "example_id", Arc::new(UInt32Array::from(vec![None]))), "key of `human_eval`").unwrap_err().to_string();
    assert!(e.contains("column `example_id` of the key of `human_eval` table is null"), "{e}");
}

#[test]
fn rows_that_break_the_contract_are_named() {
    let mut bad = response(1);
    bad.context_roles.pop();
    let e = responses::read(&responses::write(&[response(0), bad]).unwrap(), "responses").unwrap_err().to_string();
    assert!(e.contains("the responses table, row 1: 3 utterances in `context` but 2 entries in `context_roles`"), "{e}");
    let e = responses::read(&responses::write(&[response(4), response(4)]).unwrap(), "responses").unwrap_err().to_string();
    assert!(e.contains("row 1: example_id 4 occurs twice"), "{e}");
    let b = responses::write(&[response(1)]).unwrap();
    let e = responses::read(&with(&b, "pred_emotion", Arc::new(StringArray::from(vec!["bored"]))), "responses").unwrap_err().to_string();
    assert!(e.contains("row 0: `pred_emotion` is `bored`, not one of the 32 emotions"), "{e}");

    let b = associations::write(&[association(0), association(1)]).unwrap();
    let e = associations::read(&with(&b, "weight", Arc::new(Float64Array::from(vec![0.5, f64::NAN]))), "associations").unwrap_err().to_string();
    assert!(e.contains("row 1: column `weight` is NaN; weights must be finite"), "{e}");

    let k = knowledge::write(&[knowledge::Beam { relation: "xAttr".into(), ..Default::default() }]).unwrap();
    let e = knowledge::read(&k, "knowledge").unwrap_err().to_string();
    assert!(e.contains("row 0: unknown relation `xAttr` (IAMM reads xIntent, xNeed, xWant, xEffect, xReact)"), "{e}");

    let v = vocab::write(&[vocab::Word { id: 5, token: "dog".into(), count: 1 }]).unwrap();
    let e = vocab::words(&v, "vocab").unwrap_err().to_string();
    assert!(e.contains("the vocab table, row 0: id 5 is not below the vocabulary size 1"), "{e}");

    let e = embedding::read(&with(&embedding::write(&embedding::Embedding { dim: 1, tokens: vec!["a".into()], covered: vec![true], values: vec![1.0] }).unwrap(), "id", Arc::new(UInt32Array::from(vec![3]))), "embedding")
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 0: id 3 where 0 belongs"), "{e}");

    let two = RecordBatch::try_from_iter([("acc", Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef)]).unwrap();
    assert!(metrics::read(&two, "metrics").unwrap_err().to_string().contains("the metrics table has 2 rows; a metrics table has one"));
    let no_acc = RecordBatch::try_from_iter([("ppl", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)]).unwrap();
    assert!(metrics::read(&no_acc, "metrics").unwrap_err().to_string().contains("has no `acc` column"));

    let c = confusion::write(&[[0; 32]; 32]).unwrap();
    let e = confusion::read(&with(&c, "gold", Arc::new(StringArray::from(vec!["glad"; 1024]))), "confusion").unwrap_err().to_string();
    assert!(e.contains("row 0: `glad` is not one of the 32 emotions"), "{e}");
    assert_eq!(DataType::Utf8, *c.schema().field(0).data_type());
}
