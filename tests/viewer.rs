//! The association viewer end to end: the demo runs up to the viewer, and its page shows the
//! sampled dialogues, marks only words the analysed model associated in that dialogue, and
//! has every compared system. Rendered in headless Chromium when a `chromium` is on PATH.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use common::demo::{ANALYSIS, EVALUATE, VIEWER};
use common::{Ws, strs, table, u32s};

fn lists(t: &RecordBatch, name: &str) -> Vec<Vec<String>> {
    let c = t.column_by_name(name).unwrap().as_list::<i32>();
    (0..c.len())
        .map(|i| {
            let v = c.value(i);
            let v = v.as_string::<i32>();
            (0..v.len()).map(|j| v.value(j).to_string()).collect()
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

/// Text of a fragment without its tags, entities decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// The `<p>` of the first row whose label is `who` (a row is `<span class="who">WHO</span><p>…</p>`).
fn rows_labelled<'a>(article: &'a str, who: &str) -> Vec<&'a str> {
    article
        .split(&format!("<span class=\"who\">{who}</span><p>"))
        .skip(1)
        .map(|r| r.split("</p>").next().unwrap())
        .collect()
}

/// Texts of the word marks (not the chips) in a fragment.
fn marks(fragment: &str) -> Vec<String> {
    fragment
        .split("<mark class=\"w")
        .skip(1)
        .map(|m| unescape(m.split_once('>').unwrap().1.split("</mark>").next().unwrap()))
        .collect()
}

struct System {
    label: String,
    generated: HashMap<u32, String>,
    pred: HashMap<u32, String>,
}

#[test]
fn demo_viewer_marks_associated_words_and_shows_every_system() {
    let ws = Ws::demo();
    let out = ws.ok(&["run", VIEWER]);
    assert!(out.contains(&format!("ran     {VIEWER}")), "{out}");
    let m = ws.json(&["show", VIEWER, "--json"]);
    let html_path = PathBuf::from(m["dir"].as_str().unwrap()).join("viewer.html");
    let html = std::fs::read_to_string(&html_path).unwrap();

    // The systems are the evaluate deps, named by stage and variant.
    let deps: Vec<String> = m["key_parts"]["upstream"].as_object().unwrap().keys().cloned().collect();
    let mut systems = Vec::new();
    let mut dialogues: HashMap<u32, (String, Vec<String>, String, String)> = HashMap::new();
    let mut analysis = None;
    for dep in &deps {
        let dm = ws.json(&["show", dep, "--json"]);
        if dm["tables"].get("associations").is_some() {
            analysis = Some(table(&dm, "associations"));
            continue;
        }
        let r = table(&dm, "responses");
        let ids = u32s(&r, "example_id");
        let label = match dm["stats"]["variant"].as_str() {
            Some(v) => format!("{dep} ({v})"),
            None => dep.clone(),
        };
        let (sit, ctx, reference, gold) = (strs(&r, "situation"), lists(&r, "context"), strs(&r, "reference"), strs(&r, "gold_emotion"));
        for (i, id) in ids.iter().enumerate() {
            dialogues.insert(*id, (sit[i].clone(), ctx[i].clone(), reference[i].clone(), gold[i].clone()));
        }
        systems.push(System {
            label,
            generated: ids.iter().copied().zip(strs(&r, "generated")).collect(),
            pred: ids.iter().copied().zip(strs(&r, "pred_emotion")).collect(),
        });
    }
    assert!(systems.len() >= 2, "the demo compares at least two systems: {deps:?}");
    let analysis = analysis.expect("an analysis dep");
    let mut words: HashMap<u32, HashSet<String>> = HashMap::new();
    for (id, w) in u32s(&analysis, "example_id").into_iter().zip(strs(&analysis, "word")) {
        words.entry(id).or_default().insert(w.to_lowercase());
    }

    // Structure: a complete page, self-contained, one article per sampled example.
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<script>").count(), 1);
    for bad in ["http://", "https://", "<link", " src="] {
        assert!(!html.contains(bad), "the page fetches something: {bad}");
    }
    let shown_ids = u32s(&table(&m, "viewer_sample"), "example_id");
    let eligible = words.keys().filter(|id| dialogues.contains_key(id)).count();
    assert_eq!(shown_ids.len(), eligible.min(100), "default sample of 100");
    assert_eq!(m["stats"]["shown"], shown_ids.len());
    let articles: Vec<&str> = html.split("<article class=\"dlg\" id=\"ex-").skip(1).collect();
    assert_eq!(articles.len(), shown_ids.len());

    let mut total_marks = 0;
    for (article, id) in articles.iter().zip(&shown_ids) {
        assert!(article.starts_with(&format!("{id}\"")), "articles follow viewer_sample");
        let (situation, context, reference, gold) = &dialogues[id];
        assert!(article.contains(&format!("gold <b>{}</b>", common_escape(gold))));
        // The texts are the responses' texts, every utterance labelled.
        assert_eq!(text_of(rows_labelled(article, "Situation")[0]), situation.split_whitespace().collect::<Vec<_>>().join(" "));
        assert_eq!(text_of(rows_labelled(article, "Reference")[0]), reference.split_whitespace().collect::<Vec<_>>().join(" "));
        let turns = rows_labelled(article, "Speaker").len() + rows_labelled(article, "Listener").len();
        assert_eq!(turns, context.len(), "example {id}");
        for s in &systems {
            let rows = rows_labelled(article, &common_escape(&s.label));
            assert_eq!(rows.len(), 1, "example {id} shows {} once", s.label);
            assert_eq!(text_of(rows[0]), s.generated[id].split_whitespace().collect::<Vec<_>>().join(" "));
            assert!(article.contains(&format!("{}: <b>{}</b>", common_escape(&s.label), common_escape(&s.pred[id]))));
        }
        // Every mark is a word the model associated in this very example...
        let body = article.split("<div class=\"assoc\">").next().unwrap();
        for w in marks(body) {
            assert!(words[id].contains(&w.to_lowercase()), "example {id}: {w:?} is marked but was not associated");
            total_marks += 1;
        }
        // ...and every associated word in the situation is marked there.
        let sit_marks: HashSet<String> = marks(rows_labelled(article, "Situation")[0]).iter().map(|w| w.to_lowercase()).collect();
        for token in situation.split_whitespace() {
            if words[id].contains(&token.to_lowercase()) {
                assert!(sit_marks.contains(&token.to_lowercase()), "example {id}: {token:?} not marked in the situation");
            }
        }
    }
    assert!(total_marks > 0, "the demo marks some words");
    assert_eq!(m["stats"]["marks"], total_marks);

    let golds = strs(&table(&m, "viewer_sample"), "gold_emotion");
    render_in_chromium(&html_path, &golds);

    // Deps without an analysis or without a system are explained (upstreams are cached now).
    let yaml = std::fs::read_to_string(ws.path("pipeline.yaml")).unwrap();
    let extra = "  viewer_no_analysis:\n    uses: viewer\n    deps: [\"evaluate[variant=full]\"]\n\n  \
                 viewer_no_system:\n    uses: viewer\n    deps: [analysis]\n\nprofiles:\n";
    std::fs::write(ws.path("pipeline.yaml"), yaml.replacen("profiles:\n", extra, 1)).unwrap();
    let e = ws.fails(&["run", "viewer_no_analysis"]);
    let want = format!("needs one `analysis` stage among its deps (the associations to show), and its deps ({EVALUATE}) have none");
    assert!(e.contains(&want), "{e}");
    let e = ws.fails(&["run", "viewer_no_system"]);
    let want = format!("needs at least one `evaluate` stage among its deps (the systems whose responses to compare), and its deps ({ANALYSIS}) have none");
    assert!(e.contains(&want), "{e}");
}

fn common_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("chromium")).find(|p| p.is_file())
}

/// Loads the page in headless Chromium and checks the DOM after its script ran, unfiltered
/// and filtered by the first dialogue's gold emotion.
fn render_in_chromium(page: &Path, golds: &[String]) {
    let Some(chromium) = chromium() else {
        println!("note: no `chromium` on PATH; skipped rendering the viewer (apt-get install chromium to run it)");
        return;
    };
    let dump = |query: &str| {
        let profile = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("file://{}{query}", page.display()))
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let n = golds.len();
    let dom = dump("");
    assert_eq!(dom.matches("<article class=\"dlg\"").count(), n, "rendered dialogue entries");
    // The script ran: it fills in the count of shown dialogues.
    assert!(dom.contains(&format!("<span id=\"count\">{n} of {n} dialogues shown</span>")), "script did not run");
    assert!(dom.contains("<mark class=\"w"));

    let emotion = &golds[0];
    let k = golds.iter().filter(|g| *g == emotion).count();
    let dom = dump(&format!("?emo={emotion}"));
    assert!(dom.contains(&format!("<span id=\"count\">{k} of {n} dialogues shown</span>")), "filter by {emotion}");
    assert_eq!(dom.matches("<article class=\"dlg\"").count(), n);
    assert_eq!(dom.matches(" hidden=\"\"").count(), n - k, "the other dialogues are hidden");
}
