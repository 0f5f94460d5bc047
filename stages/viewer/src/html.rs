//! The HTML page: markup, inline style and script. Every piece of text from the tables goes
//! through [`escape`]; the script only reads the DOM (no data is embedded in it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use crate::{Association, Example, Shown, ViewerOptions};

/// Escapes text for HTML content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Distinct hues for the first words of a dialogue (the strongest); later ones step round
/// the wheel by the golden angle.
const HUES: [u32; 12] = [210, 0, 120, 35, 280, 175, 330, 55, 250, 15, 150, 300];
/// Tooltip lines per word before "... more".
const TITLE_ROWS: usize = 8;
/// Grouped lines in a mark's tooltip.
const SHORT_ROWS: usize = 4;
/// Word chips per dialogue before "+N more".
const CHIPS: usize = 16;

/// One distinct associated word of a dialogue.
struct Word<'a> {
    display: &'a str,
    strength: f32,
    /// Strength relative to the dialogue's weakest (0) and strongest (1) word.
    rel: f32,
    hue: u32,
    rows: Vec<&'a Association>,
    /// `short_title`, escaped once (it goes on every occurrence).
    short: String,
}

impl Word<'_> {
    fn colour(&self) -> String {
        swatch(self.hue, self.rel)
    }

    /// Every selection with where it was (the word's chip), up to `TITLE_ROWS`.
    fn title(&self) -> String {
        let mut t = format!("{} (strongest weight {:.3})", self.display, self.strength);
        for a in self.rows.iter().take(TITLE_ROWS) {
            let _ = write!(t, "\n{} · {} · {} · head {}", a.pair, a.source, a.direction, a.head);
            if let Some(u) = a.unit {
                let _ = write!(t, " · pair of utterance {}", u + 1);
            }
            match (a.utterance, a.offset) {
                (Some(-1), Some(o)) => _ = write!(t, " · situation word {o}"),
                (Some(u), Some(o)) if u >= 0 => _ = write!(t, " · utterance {} word {o}", u + 1),
                _ => _ = write!(t, " · position {}", a.position),
            }
            let _ = write!(t, " · weight {:.3}", a.weight);
        }
        if self.rows.len() > TITLE_ROWS {
            let _ = write!(t, "\n… {} more", self.rows.len() - TITLE_ROWS);
        }
        t
    }

    /// The selections grouped by pair, source, direction and head (each mark: a word can
    /// occur many times, and a real dialogue selects it dozens of times).
    fn short_title(&self) -> String {
        // (pair, source, direction, head), strongest weight, selections
        type Group<'a> = ((&'a str, &'a str, &'a str, u32), f32, usize);
        let mut groups: Vec<Group> = Vec::new();
        for a in &self.rows {
            let k = (a.pair.as_str(), a.source.as_str(), a.direction.as_str(), a.head);
            match groups.iter_mut().find(|g| g.0 == k) {
                Some(g) => g.2 += 1,
                // rows are strongest first, so the first of a group is its maximum
                None => groups.push((k, a.weight, 1)),
            }
        }
        let mut t = format!("{} · strongest {:.3}", self.display, self.strength);
        for ((pair, source, direction, head), w, n) in groups.iter().take(SHORT_ROWS) {
            let src = if *source == "explicit" { String::new() } else { format!(" ({source})") };
            let times = if *n > 1 { format!(" (×{n})") } else { String::new() };
            let _ = write!(t, "\n{pair}{src} {direction} head {head} · {w:.3}{times}");
        }
        if groups.len() > SHORT_ROWS {
            let _ = write!(t, "\n… {} more", groups.len() - SHORT_ROWS);
        }
        t
    }
}

/// Weak associations are pale, strong ones saturated and a little darker.
fn swatch(hue: u32, rel: f32) -> String {
    let rel = rel.clamp(0.0, 1.0);
    format!("hsl({hue}, {:.0}%, {:.0}%)", 30.0 + 60.0 * rel, 91.0 - 26.0 * rel)
}

fn key(word: &str) -> String {
    word.to_lowercase()
}

/// The dialogue's associated words, strongest first, keyed by their lower-cased form.
fn words_of<'a>(associations: &[&'a Association]) -> (Vec<Word<'a>>, HashMap<String, usize>) {
    let mut by_key: BTreeMap<String, Vec<&Association>> = BTreeMap::new();
    for a in associations {
        by_key.entry(key(&a.word)).or_default().push(a);
    }
    let mut words: Vec<Word> = by_key
        .into_values()
        .map(|mut rows| {
            rows.sort_by(|x, y| y.weight.total_cmp(&x.weight).then(x.pair.cmp(&y.pair)).then(x.head.cmp(&y.head)));
            Word { display: &rows[0].word, strength: rows[0].weight, rel: 1.0, hue: 0, rows, short: String::new() }
        })
        .collect();
    words.sort_by(|x, y| y.strength.total_cmp(&x.strength).then_with(|| key(x.display).cmp(&key(y.display))));
    let max = words.first().map_or(0.0, |w| w.strength);
    let min = words.last().map_or(0.0, |w| w.strength);
    for (i, w) in words.iter_mut().enumerate() {
        w.rel = if max > min { (w.strength - min) / (max - min) } else { 1.0 };
        w.hue = HUES.get(i).copied().unwrap_or((i as u32 * 137) % 360);
        w.short = escape(&w.short_title());
    }
    let index = words.iter().enumerate().map(|(i, w)| (key(w.display), i)).collect();
    (words, index)
}

/// Token indices (0 = first word) the model selected, per text: `-1` the situation, `u` utterance `u`.
fn selected_at(associations: &[&Association]) -> HashMap<i32, HashSet<usize>> {
    let mut at: HashMap<i32, HashSet<usize>> = HashMap::new();
    for a in associations {
        // offset 0 is the sequence's [CLS], which the texts do not show.
        if let (Some(u), Some(o)) = (a.utterance, a.offset)
            && o >= 1
        {
            at.entry(u).or_default().insert(o as usize - 1);
        }
    }
    at
}

/// Marks the associated tokens of one text; counts marks and which words were hit.
/// `selected`: token indices the model picked in this very text (underlined).
fn highlight(
    text: &str,
    words: &[Word],
    index: &HashMap<String, usize>,
    selected: Option<&HashSet<usize>>,
    marks: &mut usize,
    hit: &mut [bool],
) -> String {
    let mut out = String::new();
    for (n, token) in text.split_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        match index.get(&key(token)) {
            Some(&i) => {
                let w = &words[i];
                let _ = write!(
                    out,
                    "<mark class=\"w{}{}\" data-w=\"{i}\" style=\"background:{}\" title=\"{}\">{}</mark>",
                    if w.rel >= 0.67 { " s" } else { "" },
                    if selected.is_some_and(|s| s.contains(&n)) { " at" } else { "" },
                    w.colour(),
                    w.short,
                    escape(token)
                );
                *marks += 1;
                hit[i] = true;
            }
            None => out.push_str(&escape(token)),
        }
    }
    out
}

/// A word as a small coloured chip (lists and legend).
fn chip(w: &Word, i: usize, present: bool) -> String {
    format!(
        "<mark class=\"chip{}\" data-w=\"{i}\" style=\"background:{}\" title=\"{}\">{} <small>{:.2}</small></mark>",
        if present { "" } else { " absent" },
        w.colour(),
        escape(&format!("{}{}", w.title(), if present { "" } else { "\n(does not occur in the texts shown)" })),
        escape(w.display),
        w.strength
    )
}

/// A pair of words selected in the two directions of the same pair kind, head and utterance.
struct PairRow<'a> {
    pair: &'a str,
    source: &'a str,
    head: u32,
    unit: Option<u32>,
    a: (&'a str, usize, f32),
    b: (&'a str, usize, f32),
    score: f32,
}

fn top_pairs<'a>(index: &HashMap<String, usize>, associations: &[&'a Association], top: usize) -> Vec<PairRow<'a>> {
    // (pair, source, head, unit) -> direction -> word index -> strongest weight. One group is
    // one IAM call when the table names the unit.
    type Sides<'a> = BTreeMap<&'a str, BTreeMap<usize, f32>>;
    let mut groups: BTreeMap<(&str, &str, u32, Option<u32>), Sides> = BTreeMap::new();
    for a in associations {
        let i = index[&key(&a.word)];
        let group = groups.entry((&a.pair, &a.source, a.head, a.unit)).or_default();
        let w = group.entry(&a.direction).or_default().entry(i).or_insert(a.weight);
        *w = w.max(a.weight);
    }
    let mut candidates = Vec::new();
    for ((pair, source, head, unit), sides) in &groups {
        let dirs: Vec<_> = sides.iter().collect();
        for (x, (da, wa)) in dirs.iter().enumerate() {
            for (db, wb) in &dirs[x + 1..] {
                for (&ia, &va) in wa.iter() {
                    for (&ib, &vb) in wb.iter() {
                        candidates.push(PairRow { pair, source, head: *head, unit: *unit, a: (da, ia, va), b: (db, ib, vb), score: va.min(vb) });
                    }
                }
            }
        }
    }
    candidates.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then_with(|| (x.pair, x.source, x.unit, x.head, x.a.1, x.b.1).cmp(&(y.pair, y.source, y.unit, y.head, y.a.1, y.b.1)))
    });
    // Strongest first, each word at most once per side of a group (else one strong word
    // pairs with everything), and a word pair once however many heads or utterances chose it.
    let mut used = HashSet::new();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for row in candidates {
        let group = (row.pair, row.source, row.head, row.unit);
        let (ka, kb) = ((group, row.a.0, row.a.1), (group, row.b.0, row.b.1));
        if used.contains(&ka) || used.contains(&kb) || !seen.insert((row.pair, row.source, row.a.1, row.b.1)) {
            continue;
        }
        used.insert(ka);
        used.insert(kb);
        rows.push(row);
    }
    rows.truncate(top);
    rows
}

fn role_label(role: &str) -> (&'static str, String) {
    match role {
        "speaker" => ("speaker", "Speaker".into()),
        "listener" => ("listener", "Listener".into()),
        other => ("other", escape(other)),
    }
}

fn dialogue(ex: &Example, opts: &ViewerOptions) -> (String, Shown) {
    let d = ex.dialogue;
    let (words, index) = words_of(&ex.associations);
    let mut marks = 0;
    let mut hit = vec![false; words.len()];
    let at = selected_at(&ex.associations);
    let mut hl = |text: &str, loc: Option<i32>| highlight(text, &words, &index, loc.and_then(|u| at.get(&u)), &mut marks, &mut hit);
    let situation = hl(&d.situation, Some(-1));
    let turns: Vec<String> = d.context.iter().enumerate().map(|(u, t)| hl(t, Some(u as i32))).collect();
    let reference = hl(&d.reference, None);
    let generated: Vec<String> = ex.outputs.iter().map(|(_, o)| hl(&o.generated, None)).collect();

    let wrong = ex.outputs.iter().any(|(_, o)| o.predicted != d.gold);
    let mut h = String::new();
    let id = d.example_id;
    let _ = write!(
        h,
        "<article class=\"dlg\" id=\"ex-{id}\" data-gold=\"{}\" data-wrong=\"{}\">\n<header><a class=\"id\" href=\"#ex-{id}\">#{id}</a> \
         <span class=\"conv\">{}</span> <span class=\"emo gold\">gold <b>{}</b></span>",
        escape(d.gold_emotion()),
        u8::from(wrong),
        escape(&d.conv_id),
        escape(d.gold_emotion())
    );
    for (label, o) in &ex.outputs {
        let ok = o.predicted == d.gold;
        let _ = write!(
            h,
            " <span class=\"emo {}\" title=\"emotion predicted by {}\">{}: <b>{}</b> {}</span>",
            if ok { "ok" } else { "bad" },
            escape(label),
            escape(label),
            escape(o.pred_emotion()),
            if ok { "✓" } else { "✗" }
        );
    }
    h.push_str("</header>\n");
    let _ = writeln!(h, "<div class=\"row sit\"><span class=\"who\">Situation</span><p>{situation}</p></div>");
    for (turn, role) in turns.iter().zip(&d.context_roles) {
        let (class, label) = role_label(role);
        let _ = writeln!(h, "<div class=\"row {class}\"><span class=\"who\">{label}</span><p>{turn}</p></div>");
    }
    let _ = writeln!(h, "<div class=\"row ref\"><span class=\"who\">Reference</span><p>{reference}</p></div>");
    for ((label, _), text) in ex.outputs.iter().zip(&generated) {
        let _ = writeln!(h, "<div class=\"row gen\"><span class=\"who\">{}</span><p>{text}</p></div>", escape(label));
    }

    h.push_str("<div class=\"assoc\"><div class=\"chips\"><span class=\"k\">Associated words</span> ");
    for (i, w) in words.iter().enumerate().take(CHIPS) {
        h.push_str(&chip(w, i, hit[i]));
        h.push(' ');
    }
    if words.len() > CHIPS {
        let _ = write!(h, "<span class=\"more\">+{} more</span>", words.len() - CHIPS);
    }
    h.push_str("</div>\n");
    let pairs = top_pairs(&index, &ex.associations, opts.top_pairs);
    if pairs.is_empty() {
        h.push_str("<p class=\"none\">No pair and head has words selected in both directions.</p>\n");
    } else {
        h.push_str(
            "<table class=\"pairs\"><caption>Top associated word pairs</caption>\
             <thead><tr><th>pair</th><th>utterance</th><th>head</th><th>words</th><th>weight</th></tr></thead><tbody>\n",
        );
        for p in &pairs {
            let side = |(dir, i, w): (&str, usize, f32)| {
                format!("{} <small>{} {w:.2}</small>", chip_plain(&words[i], i), escape(dir))
            };
            let _ = writeln!(
                h,
                "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}</td><td>{} ↔ {}</td><td>{:.3}</td></tr>",
                escape(p.pair),
                escape(p.source),
                p.unit.map_or("–".to_string(), |u| (u + 1).to_string()),
                p.head,
                side(p.a),
                side(p.b),
                p.score
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</div>\n</article>\n");

    let highlighted = words.iter().zip(&hit).filter(|(_, h)| **h).map(|(w, _)| key(w.display)).collect();
    let shown = Shown {
        example_id: id,
        conv_id: d.conv_id.clone(),
        gold_emotion: d.gold_emotion().to_string(),
        associations: ex.associations.len(),
        highlighted,
        marks,
    };
    (h, shown)
}

/// A word in its colour, without the weight (pair table).
fn chip_plain(w: &Word, i: usize) -> String {
    format!("<mark class=\"chip\" data-w=\"{i}\" style=\"background:{}\" title=\"{}\">{}</mark>", w.colour(), w.short, escape(w.display))
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5d6576;--line:#d9dde5;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:18px 20px 60px}
h1{font-size:22px;margin:4px 0 2px}
.meta{color:var(--muted);margin:0 0 10px}
.bar{position:sticky;top:0;z-index:2;background:var(--bg);padding:8px 0;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:10px 16px;align-items:center}
.bar input[type=search]{padding:4px 8px;min-width:16em;border:1px solid var(--line);border-radius:5px}
.bar select{padding:3px 6px}
#count{color:var(--muted)}
.legend{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:12px 0;font-size:13.5px}
.legend ul{margin:4px 0 0;padding-left:18px}
.ramp mark{padding:0 6px}
.dlg{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px 12px;margin:14px 0}
.dlg[hidden]{display:none}
.dlg header{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:baseline;border-bottom:1px solid var(--line);padding-bottom:6px;margin-bottom:6px}
.dlg .id{font-weight:700;color:var(--fg);text-decoration:none}
.conv{color:var(--muted);font-size:12.5px}
.emo{font-size:13px;border-radius:10px;padding:0 8px;border:1px solid var(--line)}
.emo.gold{background:#eef1f6}
.emo.ok{background:#e7f5ea;border-color:#b9dfc2}
.emo.bad{background:#fbeaea;border-color:#efc3c3}
.row{display:grid;grid-template-columns:9.5em 1fr;gap:10px;padding:2px 0}
.row p{margin:0}
.who{color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.03em;padding-top:2px;overflow-wrap:anywhere}
.row.sit p{font-style:italic}
.row.listener{background:#f7f9fc}
.row.ref{border-top:1px dashed var(--line);margin-top:4px;padding-top:5px}
.row.gen .who{color:#2d4f8a}
mark{color:inherit;border-radius:3px;padding:0 2px}
mark.s{font-weight:600}
mark.at{text-decoration:underline 2px;text-underline-offset:3px}
mark.on{outline:2px solid #1d2330;outline-offset:1px}
.assoc{margin-top:8px;border-top:1px solid var(--line);padding-top:6px;font-size:13.5px}
.chips .k{color:var(--muted);font-size:12.5px;text-transform:uppercase;margin-right:4px}
.chip{display:inline-block;margin:1px 0}
.chip small{color:#3c4352}
.chip.absent{background:transparent!important;border:1px dashed #8a93a5}
.more,.none{color:var(--muted)}
table.pairs{border-collapse:collapse;margin-top:6px}
table.pairs caption{text-align:left;color:var(--muted);font-size:12.5px;text-transform:uppercase}
table.pairs th,table.pairs td{border-bottom:1px solid #eceef2;padding:2px 10px 2px 0;text-align:left;vertical-align:baseline}
table.pairs th{font-weight:600;color:var(--muted);font-size:12.5px}
table.pairs small{color:var(--muted)}
"#;

const SCRIPT: &str = r#"
(function(){
  var q=document.getElementById('q'),emo=document.getElementById('emo'),wrong=document.getElementById('wrong'),count=document.getElementById('count');
  var items=Array.prototype.slice.call(document.querySelectorAll('article.dlg'));
  function apply(){
    var t=q.value.trim().toLowerCase(),n=0;
    items.forEach(function(a){
      var ok=(!t||a.textContent.toLowerCase().indexOf(t)>=0)&&(!emo.value||a.getAttribute('data-gold')===emo.value)&&(!wrong.checked||a.getAttribute('data-wrong')==='1');
      a.hidden=!ok; if(ok)n++;
    });
    count.textContent=n+' of '+items.length+' dialogues shown';
  }
  // ?q=…&emo=…&wrong=1 opens the page filtered (links, and the headless-browser test).
  var s=new URLSearchParams(location.search);
  if(s.has('q'))q.value=s.get('q');
  if(s.has('emo'))emo.value=s.get('emo');
  if(s.get('wrong')==='1')wrong.checked=true;
  q.addEventListener('input',apply);emo.addEventListener('change',apply);wrong.addEventListener('change',apply);
  function mark(e,on){
    var m=e.target.closest&&e.target.closest('mark[data-w]'); if(!m)return;
    var a=m.closest('article'); if(!a)return;
    a.querySelectorAll('mark[data-w="'+m.getAttribute('data-w')+'"]').forEach(function(x){x.classList.toggle('on',on);});
  }
  document.addEventListener('mouseover',function(e){mark(e,true);});
  document.addEventListener('mouseout',function(e){mark(e,false);});
  apply();
})();
"#;

/// The whole page.
pub(crate) fn page(examples: &[&Example], labels: &[&str], opts: &ViewerOptions, eligible: usize, association_rows: usize) -> (String, Vec<Shown>) {
    let mut body = String::new();
    let mut shown = Vec::with_capacity(examples.len());
    for ex in examples {
        let (h, s) = dialogue(ex, opts);
        body.push_str(&h);
        shown.push(s);
    }
    let mut golds: Vec<&str> = examples.iter().map(|e| e.dialogue.gold_emotion()).collect();
    golds.sort_unstable();
    golds.dedup();

    let mut h = String::with_capacity(body.len() + 8192);
    let title = escape(&opts.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">{} test dialogues sampled with seed {} from the {eligible} that have associated words ({association_rows} association rows in all). \
         Compared systems: {}.</p>",
        examples.len(),
        opts.seed,
        labels.iter().map(|l| format!("<b>{}</b>", escape(l))).collect::<Vec<_>>().join(", ")
    );
    h.push_str(
        "<div class=\"bar\"><input type=\"search\" id=\"q\" placeholder=\"Search words, ids, emotions\" aria-label=\"search\">\
         <label>gold emotion <select id=\"emo\"><option value=\"\">all</option>",
    );
    for g in &golds {
        let _ = write!(h, "<option value=\"{0}\">{0}</option>", escape(g));
    }
    h.push_str(
        "</select></label><label><input type=\"checkbox\" id=\"wrong\"> only where a system misses the emotion</label>\
         <span id=\"count\"></span></div>\n",
    );
    let ramp: String =
        [0.0, 0.33, 0.67, 1.0].iter().map(|&r| format!("<mark style=\"background:{}\">{r:.2}</mark>", swatch(HUES[0], r))).collect();
    let _ = writeln!(
        h,
        "<section class=\"legend\"><b>How to read it.</b><ul>\
         <li>Words with the same colour within a dialogue are the same associated word, marked wherever it occurs \
         (situation, utterances, reference and every generated response).</li>\
         <li>Saturation follows the word's strongest weight relative to the dialogue's weakest and strongest association: \
         <span class=\"ramp\">{ramp}</span>; the strongest third is bold.</li>\
         <li><u>Underlined</u>: the very token the model selected; other marks are further occurrences of the same word.</li>\
         <li>Hover a word to outline all its occurrences; its tooltip gives the strongest weight per pair \
         (situation, history, memory), direction (s2u: an utterance word selected by how the situation attends to it, \
         u2s the reverse; h/m for history and memory) and head, and how often. A chip's tooltip lists each selection \
         with its utterance (numbered from 1) and position.</li>\
         <li>A dashed chip is a word the model associated that does not occur in the texts shown (COMET knowledge, say).</li>\
         <li>Top associated word pairs: words selected in the two directions of the same pair, utterance and head, \
         strongest first, each word once per side; a pair is as strong as its weaker word.</li>\
         <li>✓ / ✗: a system's predicted emotion against the gold one.</li></ul></section>"
    );
    h.push_str(&body);
    let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    (h, shown)
}
