use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray, UInt32Array};

use super::*;

/// An explicit association (set `source` with struct update for implicit ones).
fn assoc(example_id: u32, pair: &str, direction: &str, head: u32, position: u32, word: &str, weight: f32) -> Association {
    Association {
        example_id,
        pair: pair.into(),
        source: "explicit".into(),
        direction: direction.into(),
        head,
        position,
        token_id: 100 + position,
        word: word.into(),
        weight,
        unit: None,
        utterance: None,
        offset: None,
    }
}

fn associations_batch(rows: &[Association]) -> RecordBatch {
    let s = |f: fn(&Association) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let u = |f: fn(&Association) -> u32| Arc::new(UInt32Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    RecordBatch::try_from_iter([
        ("example_id", u(|a| a.example_id)),
        ("pair", s(|a| &a.pair)),
        ("source", s(|a| &a.source)),
        ("direction", s(|a| &a.direction)),
        ("head", u(|a| a.head)),
        ("position", u(|a| a.position)),
        ("token_id", u(|a| a.token_id)),
        ("word", s(|a| &a.word)),
        ("weight", Arc::new(Float32Array::from_iter_values(rows.iter().map(|a| a.weight))) as ArrayRef),
    ])
    .unwrap()
}

/// One system's `responses` table as the evaluate stage writes it (the columns the viewer reads).
fn responses_batch(rows: &[(Dialogue, Output)]) -> RecordBatch {
    let lists = |f: fn(&Dialogue) -> &Vec<String>| {
        let mut b = ListBuilder::new(StringBuilder::new());
        for (d, _) in rows {
            for s in f(d) {
                b.values().append_value(s);
            }
            b.append(true);
        }
        Arc::new(b.finish()) as ArrayRef
    };
    let s = |f: fn(&(Dialogue, Output)) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    RecordBatch::try_from_iter([
        ("example_id", Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0.example_id))) as ArrayRef),
        ("conv_id", s(|r| &r.0.conv_id)),
        ("context", lists(|d| &d.context)),
        ("context_roles", lists(|d| &d.roles)),
        ("situation", s(|r| &r.0.situation)),
        ("reference", s(|r| &r.0.reference)),
        ("generated", s(|r| &r.1.generated)),
        ("gold_emotion", s(|r| &r.0.gold_emotion)),
        ("pred_emotion", s(|r| &r.1.pred_emotion)),
    ])
    .unwrap()
}

fn dialogue(example_id: u32, situation: &str, context: &[&str], reference: &str, gold: &str) -> Dialogue {
    Dialogue {
        example_id,
        conv_id: format!("hit:{example_id}_conv:{}", example_id * 2),
        situation: situation.into(),
        context: context.iter().map(|s| s.to_string()).collect(),
        roles: (0..context.len()).map(|i| if i % 2 == 0 { "speaker" } else { "listener" }.to_string()).collect(),
        reference: reference.into(),
        gold_emotion: gold.into(),
    }
}

fn output(generated: &str, pred: &str) -> Output {
    Output { generated: generated.into(), pred_emotion: pred.into() }
}

/// The Table 4 case, hand-made, answered by two systems.
fn case() -> (Vec<Association>, Vec<Responses>) {
    let d = dialogue(
        7,
        "i was so excited when my daughter got accepted into harvard .",
        &["my daughter was accepted into harvard .", "that is great !", "she starts in the fall ."],
        "you must be proud .",
        "proud",
    );
    let a = vec![
        assoc(7, "situation", "a_to_b", 0, 1, "daughter", 0.9),
        assoc(7, "situation", "b_to_a", 0, 7, "harvard", 0.8),
        assoc(7, "history", "a_to_b", 1, 0, "she", 0.2),
        Association { source: "implicit".into(), ..assoc(7, "memory", "b_to_a", 1, 3, "PersonX", 0.5) },
        // Another example's words must not leak into example 7.
        assoc(9, "situation", "a_to_b", 0, 2, "fall", 0.99),
    ];
    let iamm = Responses {
        label: "evaluate[seed=42,variant=full] (full)".into(),
        rows: vec![(d.clone(), output("that is awesome ! i bet she was so proud of her daughter", "proud"))],
    };
    let base = Responses { label: "evaluate[seed=42,variant=wo_ws] (wo_ws)".into(), rows: vec![(d, output("wow , that is a long time .", "excited"))] };
    (a, vec![iamm, base])
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn highlights_words_in_matching_colours_everywhere_they_occur() {
    let (a, systems) = case();
    let page = render(&a, &systems, &ViewerOptions::default()).unwrap();
    let html = &page.html;
    // Strength order: daughter 0.9 (hue 210, rel 1), harvard 0.8 (hue 0, rel 6/7),
    // PersonX 0.5 (hue 120), she 0.2 (hue 35, rel 0).
    let daughter = "<mark class=\"w s\" data-w=\"0\" style=\"background:hsl(210, 90%, 65%)\" \
                    title=\"daughter · strongest 0.900\nsituation a_to_b head 0 · 0.900\">daughter</mark>";
    assert_eq!(count(html, daughter), 3, "situation, first utterance, IAMM's response");
    let harvard = "data-w=\"0\"".replace('0', "1");
    assert_eq!(count(html, &format!("<mark class=\"w s\" {harvard} style=\"background:hsl(0, 81%, 69%)\"")), 2);
    assert_eq!(count(html, "<mark class=\"w\" data-w=\"3\" style=\"background:hsl(35, 30%, 91%)\""), 2, "she: utterance 3 and IAMM");
    assert!(!html.contains("fall</mark>"), "example 9's word stays out of example 7");
    assert_eq!(page.shown.len(), 1);
    let s = &page.shown[0];
    assert_eq!((s.example_id, s.associations, s.marks), (7, 4, 7));
    assert_eq!(s.highlighted, ["daughter", "harvard", "she"]);
    // The chip's tooltip has every selection with its position; PersonX's names its source.
    assert!(html.contains("title=\"daughter (strongest weight 0.900)\nsituation · explicit · a_to_b · head 0 · position 1 · weight 0.900\">daughter <small>0.90</small></mark>"));
    assert!(html.contains("title=\"PersonX (strongest weight 0.500)\nmemory · implicit · b_to_a · head 1 · position 3 · weight 0.500\n(does not occur in the texts shown)\""));
    // PersonX never occurs: a dashed chip, no mark.
    assert!(html.contains("<mark class=\"chip absent\" data-w=\"2\" style=\"background:hsl(120, 56%, 80%)\""), "{html}");
    // Utterances are labelled, and the roles alternate as given.
    assert!(html.contains("<div class=\"row speaker\"><span class=\"who\">Speaker</span><p>my <mark"));
    assert!(html.contains("<div class=\"row listener\"><span class=\"who\">Listener</span><p>that is great !</p></div>"));
    // Emotions and both systems' responses.
    assert!(html.contains("<span class=\"emo gold\">gold <b>proud</b></span>"));
    assert!(html.contains("evaluate[seed=42,variant=full] (full): <b>proud</b> ✓"));
    assert!(html.contains("evaluate[seed=42,variant=wo_ws] (wo_ws): <b>excited</b> ✗"));
    assert!(html.contains("data-wrong=\"1\""));
    assert!(html.contains("<span class=\"who\">evaluate[seed=42,variant=wo_ws] (wo_ws)</span><p>wow , that is a long time .</p>"));
    // The one pair with both directions: daughter (a_to_b) with harvard (b_to_a), weight min(0.9, 0.8).
    assert_eq!(count(html, "<tr><td>situation <small>explicit</small></td><td>–</td><td>0</td>"), 1);
    assert!(html.contains("<td>0.800</td></tr>"));
    assert_eq!(count(html, "<tr><td>"), 1);
    // Self-contained: nothing is fetched.
    for bad in ["http://", "https://", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(bad), "page references {bad}");
    }
}

#[test]
fn escapes_every_text() {
    assert_eq!(escape(r#"<script>alert("x")</script> & 'y'"#), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
    let d = dialogue(1, "i typed <script>alert(1)</script> & left", &["a&b <b>bold</b> \"quoted\""], "ok", "angry");
    let mut d = d;
    d.conv_id = "conv\"><img onerror=x>".into();
    let systems = vec![Responses { label: "sys <i>".into(), rows: vec![(d, output("<script>", "angry & sad"))] }];
    let a = vec![
        assoc(1, "situation", "a_to_b", 0, 2, "<script>alert(1)</script>", 0.7),
        assoc(1, "situation\"x", "b_to_a", 0, 0, "a&b", 0.6),
    ];
    let page = render(&a, &systems, &ViewerOptions { title: "t <&>".into(), ..ViewerOptions::default() }).unwrap();
    let html = &page.html;
    assert_eq!(count(html, "<script"), 1, "only the page's own script");
    assert_eq!(count(html, "</script>"), 1);
    assert!(html.contains(">&lt;script&gt;alert(1)&lt;/script&gt;</mark>"), "{html}");
    assert!(html.contains(">a&amp;b</mark>"));
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;"));
    assert!(html.contains("conv&quot;&gt;&lt;img onerror=x&gt;"));
    assert!(!html.contains("<img") && !html.contains("<i>") && !html.contains("<b>bold"));
    assert!(html.contains("sys &lt;i&gt;: <b>angry &amp; sad</b>"));
    assert!(html.contains("<title>t &lt;&amp;&gt;</title>"));
    // The pair name with a quote stays inside its title attribute.
    assert!(html.contains("situation&quot;x · explicit · b_to_a"));
    assert_eq!(page.shown[0].highlighted, ["<script>alert(1)</script>", "a&b"]);
}

fn many(n: u32) -> (Vec<Association>, Vec<Responses>) {
    let mut a = Vec::new();
    let mut rows = Vec::new();
    for id in 0..n {
        let d = dialogue(id, &format!("situation {id} word{id}"), &[&format!("utterance {id} word{id}")], "reference", "sad");
        rows.push((d, output(&format!("generated word{id}"), "sad")));
        // Every third example has no associations and is never shown.
        if id % 3 != 0 {
            a.push(assoc(id, "situation", "a_to_b", 0, 1, &format!("word{id}"), 0.5));
        }
    }
    (a, vec![Responses { label: "evaluate".into(), rows }])
}

#[test]
fn the_sample_is_seeded_and_stable() {
    let ids: Vec<u32> = (0..100).collect();
    let s = sample_ids(&ids, 10, 7);
    assert_eq!(s.len(), 10);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s, sample_ids(&ids, 10, 7));
    let mut reversed = ids.clone();
    reversed.reverse();
    reversed.extend_from_slice(&[3, 3, 50]);
    assert_eq!(s, sample_ids(&reversed, 10, 7), "input order and duplicates do not matter");
    assert_ne!(s, sample_ids(&ids, 10, 8));
    let bigger = sample_ids(&ids, 20, 7);
    assert!(s.iter().all(|id| bigger.contains(id)), "a larger sample keeps the smaller one");
    assert_eq!(sample_ids(&ids, 1000, 7), ids);
    assert!(sample_ids(&[], 5, 1).is_empty());

    let (a, systems) = many(30);
    let opts = ViewerOptions { sample: 5, seed: 3, ..ViewerOptions::default() };
    let page = render(&a, &systems, &opts).unwrap();
    assert_eq!((page.eligible, page.without_associations), (20, 10));
    let shown: Vec<u32> = page.shown.iter().map(|s| s.example_id).collect();
    let eligible: Vec<u32> = (0..30).filter(|i| i % 3 != 0).collect();
    assert_eq!(shown, sample_ids(&eligible, 5, 3));
    // Table row order does not change the page.
    let mut a_rev = a.clone();
    a_rev.reverse();
    let mut sys_rev = systems.clone();
    sys_rev[0].rows.reverse();
    assert_eq!(render(&a_rev, &sys_rev, &opts).unwrap().html, page.html);
    for s in &page.shown {
        assert_eq!(s.highlighted, [format!("word{}", s.example_id)]);
        assert_eq!(s.marks, 3);
        assert!(page.html.contains(&format!("<article class=\"dlg\" id=\"ex-{}\"", s.example_id)));
    }
    assert_eq!(count(&page.html, "<article "), 5);
}

#[test]
fn tables_round_trip_and_missing_columns_are_named() {
    let (a, systems) = case();
    assert_eq!(associations(&associations_batch(&a), "associations").unwrap(), a);
    let batch = responses_batch(&systems[0].rows);
    let read = responses(&batch, "evaluate[seed=42,variant=full] (full)").unwrap();
    assert_eq!(read.rows, systems[0].rows);

    let without = |b: &RecordBatch, col: &str| {
        let keep: Vec<usize> = (0..b.num_columns()).filter(|&i| b.schema().field(i).name() != col).collect();
        b.project(&keep).unwrap()
    };
    let e = associations(&without(&associations_batch(&a), "weight"), "associations of `analysis`").unwrap_err().to_string();
    assert!(e.contains("associations of `analysis` table has no column `weight`") && e.contains("weight f32"), "{e}");
    let e = responses(&without(&batch, "context_roles"), "evaluate").unwrap_err().to_string();
    assert!(e.contains("responses of `evaluate` table has no column `context_roles`"), "{e}");
    let e = responses(&without(&batch, "generated"), "evaluate").unwrap_err().to_string();
    assert!(e.contains("no column `generated`") && e.contains("found: example_id, conv_id"), "{e}");

    // Wider integer and float types are read; a string where a list belongs is not.
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    let b = associations_batch(&a);
    let schema = b.schema();
    for (f, c) in schema.fields().iter().zip(b.columns()) {
        let c = match f.name().as_str() {
            "weight" => arrow_cast::cast(c, &arrow_schema::DataType::Float64).unwrap(),
            "head" => arrow_cast::cast(c, &arrow_schema::DataType::Int64).unwrap(),
            _ => c.clone(),
        };
        cols.push((f.name().as_str(), c));
    }
    assert_eq!(associations(&RecordBatch::try_from_iter(cols).unwrap(), "associations").unwrap(), a);
    let mut cols: Vec<(String, ArrayRef)> = batch.schema().fields().iter().map(|f| f.name().clone()).zip(batch.columns().iter().cloned()).collect();
    cols[2].1 = Arc::new(StringArray::from(vec!["my daughter was accepted"]));
    let e = responses(&RecordBatch::try_from_iter(cols).unwrap(), "evaluate").unwrap_err().to_string();
    assert!(e.contains("column `context` of the responses of `evaluate` table is Utf8") && e.contains("list of strings"), "{e}");

    // A negative head does not fit u32: named with its row.
    let mut cols: Vec<(String, ArrayRef)> = b.schema().fields().iter().map(|f| f.name().clone()).zip(b.columns().iter().cloned()).collect();
    cols[4].1 = Arc::new(arrow_array::Int64Array::from(vec![0, 0, -1, 1, 0]));
    let e = associations(&RecordBatch::try_from_iter(cols).unwrap(), "associations").unwrap_err().to_string();
    assert!(e.contains("column `head` of the associations table is null (or out of range) in row 2"), "{e}");
}

#[test]
fn inconsistent_inputs_are_explained() {
    let (a, systems) = case();
    assert!(matches!(render(&a, &[], &ViewerOptions::default()), Err(ViewerError::NoSystems)));
    let mut other = systems.clone();
    other[1].rows[0].0.situation = "something else".into();
    let e = render(&a, &other, &ViewerOptions::default()).unwrap_err().to_string();
    assert!(e.contains("`evaluate[seed=42,variant=full] (full)` and `evaluate[seed=42,variant=wo_ws] (wo_ws)` disagree on example 7 (situation)"), "{e}");
    let mut same = systems.clone();
    same[1].label = same[0].label.clone();
    assert!(render(&a, &same, &ViewerOptions::default()).unwrap_err().to_string().contains("both called `evaluate[seed=42,variant=full] (full)`"));
    let far: Vec<Association> = a.iter().map(|x| Association { example_id: x.example_id + 1000, ..x.clone() }).collect();
    let e = render(&far, &systems, &ViewerOptions::default()).unwrap_err().to_string();
    assert!(e.contains("5 association rows over 2 examples") && e.contains("same test set"), "{e}");
    let mut bad = systems[0].rows.clone();
    bad[0].0.roles.pop();
    let e = responses(&responses_batch(&bad), "evaluate").unwrap_err().to_string();
    assert!(e.contains("row 0: 3 utterances in `context` but 2 entries in `context_roles`"), "{e}");
}

#[test]
fn exact_locations_are_underlined_and_pairs_stay_within_one_utterance() {
    let (_, systems) = case();
    let at = |unit, direction: &str, utterance: i32, offset: u32, word: &str, weight| Association {
        unit: Some(unit),
        utterance: Some(utterance),
        offset: Some(offset),
        ..assoc(7, "situation", direction, 0, 0, word, weight)
    };
    // Situation tokens: i was so excited when my daughter got accepted into harvard . (offset = index + 1)
    let a = vec![
        at(0, "s2u", 0, 2, "daughter", 0.9),
        at(0, "u2s", -1, 11, "harvard", 0.8),
        at(2, "s2u", 2, 1, "she", 0.2),
        at(2, "u2s", -1, 4, "excited", 0.6),
    ];
    // The optional columns survive the table round trip.
    let mut batch = associations_batch(&a);
    let extra: [(&str, ArrayRef); 3] = [
        ("unit", Arc::new(UInt32Array::from(vec![0, 0, 2, 2]))),
        ("utterance", Arc::new(arrow_array::Int32Array::from(vec![0, -1, 2, -1]))),
        ("offset", Arc::new(UInt32Array::from(vec![2, 11, 1, 4]))),
    ];
    let mut cols: Vec<(String, ArrayRef)> =
        batch.schema().fields().iter().map(|f| f.name().clone()).zip(batch.columns().iter().cloned()).collect();
    cols.extend(extra.into_iter().map(|(n, c)| (n.to_string(), c)));
    batch = RecordBatch::try_from_iter(cols).unwrap();
    let a = associations(&batch, "associations").unwrap();
    assert_eq!((a[1].unit, a[1].utterance, a[1].offset), (Some(0), Some(-1), Some(11)));

    let html = render(&a, &systems, &ViewerOptions::default()).unwrap().html;
    // harvard is the selected token in the situation, a further occurrence in utterance 1.
    let sit = html.split("<div class=\"row sit\">").nth(1).unwrap().split("</div>").next().unwrap();
    assert!(sit.contains("<mark class=\"w s at\" data-w=\"1\""), "{sit}");
    assert!(sit.contains("<mark class=\"w s\" data-w=\"0\""), "daughter is not the selected token here: {sit}");
    let utt1 = html.split("<div class=\"row speaker\">").nth(1).unwrap().split("</div>").next().unwrap();
    assert!(utt1.contains("<mark class=\"w s at\" data-w=\"0\"") && utt1.contains("<mark class=\"w s\" data-w=\"1\""), "{utt1}");
    assert!(html.contains("situation · explicit · u2s · head 0 · pair of utterance 1 · situation word 11 · weight 0.800"));
    // Two IAM calls, two pairs; daughter and excited come from different utterances' pairs.
    assert_eq!(count(&html, "<tr><td>"), 2);
    let first = html.find("<td>1</td><td>0</td>").unwrap();
    let second = html.find("<td>3</td><td>0</td>").unwrap();
    assert!(first < second, "strongest pair first");
    assert!(html.contains("<td>0.800</td>") && html.contains("<td>0.200</td>") && !html.contains("<td>0.600</td>"));
}

#[test]
fn top_pairs_use_each_word_once_per_side() {
    let (_, systems) = case();
    let a = vec![
        assoc(7, "situation", "s2u", 0, 0, "daughter", 0.9),
        assoc(7, "situation", "s2u", 0, 0, "harvard", 0.8),
        assoc(7, "situation", "u2s", 0, 0, "excited", 0.85),
        assoc(7, "situation", "u2s", 0, 0, "accepted", 0.3),
        // The same word pair again from head 1: listed once, under its stronger head.
        assoc(7, "situation", "s2u", 1, 0, "daughter", 0.5),
        assoc(7, "situation", "s2u", 0, 4, "daughter", 0.4),
        assoc(7, "situation", "u2s", 1, 0, "excited", 0.5),
    ];
    let html = render(&a, &systems, &ViewerOptions::default()).unwrap().html;
    let rows: Vec<&str> = html.split("<tr><td>").skip(1).map(|r| r.split("</tr>").next().unwrap()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // daughter (0.9) with excited (0.85), then harvard with what is left, accepted (0.3).
    assert!(rows[0].contains(">daughter</mark>") && rows[0].contains(">excited</mark>") && rows[0].ends_with("<td>0.850</td>"), "{}", rows[0]);
    assert!(rows[1].contains(">harvard</mark>") && rows[1].contains(">accepted</mark>") && rows[1].ends_with("<td>0.300</td>"), "{}", rows[1]);
    // A mark's tooltip groups the selections by pair, direction and head.
    assert!(html.contains("title=\"daughter · strongest 0.900\nsituation s2u head 0 · 0.900 (×2)\nsituation s2u head 1 · 0.500\">daughter</mark>"));
    let limited = render(&a, &systems, &ViewerOptions { top_pairs: 1, ..ViewerOptions::default() }).unwrap().html;
    assert_eq!(count(&limited, "<tr><td>"), 1);
}
