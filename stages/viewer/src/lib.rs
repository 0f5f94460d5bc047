//! The association viewer: one self-contained HTML page (inline CSS and JS, nothing fetched)
//! showing a seeded sample of test dialogues with the words IAMM associated highlighted, as
//! in the paper's Figure 1 and Table 4.
//!
//! Inputs are the analysis stage's `associations` table (one row per word the second-order
//! interaction attention selected: example, pair, source, direction, head, position, word,
//! weight) and one `responses` table per compared system (the evaluate stages). For each shown
//! dialogue the page has the situation, every utterance labelled speaker/listener, the gold
//! emotion, the reference, and each system's predicted emotion and generated response.
//!
//! Colours: within one dialogue every distinct associated word gets its own hue, shared by
//! all its occurrences (situation, utterances, reference, generated responses); how saturated
//! it is places the word's strongest weight between the dialogue's weakest and strongest
//! associated words. A mark's tooltip lists the pair, direction, head, position and weight of each
//! time the word was selected. Words match tokens case-insensitively (the texts are tokens
//! joined by spaces).
//!
//! The per-dialogue "top pairs" list pairs words selected in the two directions of the same
//! pair, head and utterance (the utterance when the table has the analysis stage's `unit`
//! column). The table does not record which word attended to which, only what each direction
//! selected, so a pair is as strong as its weaker word; pairs are taken strongest first, each
//! word once per side of a group.

mod html;

pub use html::escape;
pub use iamm_tables::associations::Association;
pub use iamm_tables::responses::Response;

use std::collections::{BTreeMap, HashSet};

use iamm_core::splitmix64;
use iamm_options::ParamType;

#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error("the viewer needs the responses of at least one system (an evaluate stage among its deps)")]
    NoSystems,
    #[error("two compared systems are both called `{0}`; give their stages different names")]
    DuplicateSystem(String),
    #[error("`{a}` and `{b}` disagree on example {example_id} ({what}); compare systems evaluated on the same test examples")]
    Disagree { a: String, b: String, example_id: u32, what: &'static str },
    #[error(
        "no test example has both responses from every system ({systems}) and associations \
         ({associations} association rows over {examples} examples); the analysis and evaluate stages must run over the same test set"
    )]
    NoOverlap { systems: String, associations: usize, examples: usize },
}

/// The `responses` of one compared system.
#[derive(Debug, Clone)]
pub struct Responses {
    /// How the page names the system (the stage name, with its variant).
    pub label: String,
    pub rows: Vec<Response>,
}

iamm_options::options! {
    /// What to show: the viewer stage's params.
    #[derive(Debug, Clone)]
    pub struct ViewerOptions {
        /// Dialogues on the page (fewer when fewer are eligible).
        sample: usize [ParamType::Int { min: 1, max: 100_000 }] = 100, Key,
            "test dialogues on the page, drawn from those with associated words (a few hundred stay readable)";
        seed: u64 [ParamType::Int { min: 0, max: i64::MAX }] = 42, Key,
            "seeds the sample; a larger sample with the same seed keeps every dialogue of a smaller one";
        top_pairs: usize [ParamType::Int { min: 0, max: 1000 }] = 6, Key,
            "entries in each dialogue's list of top associated word pairs";
        title: String = "IAMM association viewer", Key, "the page's title";
    }
}

/// The params' defaults.
impl Default for ViewerOptions {
    fn default() -> Self {
        ViewerOptions::from_values(&iamm_options::Defaults::of(ViewerOptions::PARAMS)).expect("every viewer param has a default")
    }
}

/// One dialogue on the page and what was marked in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub example_id: u32,
    pub conv_id: String,
    pub gold_emotion: String,
    /// Association rows of this example.
    pub associations: usize,
    /// Distinct associated words (lower-cased) that occur in some text of the dialogue and are marked.
    pub highlighted: Vec<String>,
    /// `<mark>`s written for this dialogue.
    pub marks: usize,
}

/// The page and a summary of it.
#[derive(Debug, Clone)]
pub struct Page {
    pub html: String,
    pub shown: Vec<Shown>,
    /// Examples present in every system's responses that have associations (sampled from).
    pub eligible: usize,
    /// Examples present in every system's responses but without any association row (never shown).
    pub without_associations: usize,
}

/// `n` ids drawn from `ids` without replacement, seeded, returned ascending. The draw does not
/// depend on the order of `ids`, and a larger `n` with the same seed adds ids without dropping
/// any (a partial Fisher-Yates shuffle over the sorted ids).
pub fn sample_ids(ids: &[u32], n: usize, seed: u64) -> Vec<u32> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut state = seed;
    let take = n.min(v.len());
    for i in 0..take {
        let j = i + (splitmix64(&mut state) % (v.len() - i) as u64) as usize;
        v.swap(i, j);
    }
    v.truncate(take);
    v.sort_unstable();
    v
}

/// One example as the page shows it.
pub(crate) struct Example<'a> {
    /// The dialogue side (the same in every system's row).
    pub dialogue: &'a Response,
    /// (system label, its row), in the order the systems were given.
    pub outputs: Vec<(&'a str, &'a Response)>,
    pub associations: Vec<&'a Association>,
}

/// Builds the page from the associations and the systems' responses.
pub fn render(associations: &[Association], systems: &[Responses], opts: &ViewerOptions) -> Result<Page, ViewerError> {
    let first = systems.first().ok_or(ViewerError::NoSystems)?;
    let mut labels = HashSet::new();
    for s in systems {
        if !labels.insert(s.label.as_str()) {
            return Err(ViewerError::DuplicateSystem(s.label.clone()));
        }
    }
    // Examples every system answered, checked to be the same dialogue everywhere.
    let mut common: BTreeMap<u32, Example> = first
        .rows
        .iter()
        .map(|r| (r.example_id, Example { dialogue: r, outputs: vec![(first.label.as_str(), r)], associations: vec![] }))
        .collect();
    for s in &systems[1..] {
        let mut keep = BTreeMap::new();
        for d in &s.rows {
            if let Some(mut ex) = common.remove(&d.example_id) {
                let disagree = |what| ViewerError::Disagree { a: first.label.clone(), b: s.label.clone(), example_id: d.example_id, what };
                let base = ex.dialogue;
                if base.situation != d.situation {
                    return Err(disagree("situation"));
                }
                if base.context != d.context || base.context_roles != d.context_roles {
                    return Err(disagree("context"));
                }
                if base.reference != d.reference {
                    return Err(disagree("reference"));
                }
                if base.gold != d.gold {
                    return Err(disagree("gold emotion"));
                }
                ex.outputs.push((s.label.as_str(), d));
                keep.insert(d.example_id, ex);
            }
        }
        common = keep;
    }
    for a in associations {
        if let Some(ex) = common.get_mut(&a.example_id) {
            ex.associations.push(a);
        }
    }
    let eligible: Vec<u32> = common.iter().filter(|(_, ex)| !ex.associations.is_empty()).map(|(id, _)| *id).collect();
    if eligible.is_empty() {
        let examples = associations.iter().map(|a| a.example_id).collect::<HashSet<_>>().len();
        return Err(ViewerError::NoOverlap {
            systems: systems.iter().map(|s| format!("`{}`", s.label)).collect::<Vec<_>>().join(", "),
            associations: associations.len(),
            examples,
        });
    }
    let without_associations = common.len() - eligible.len();
    let chosen = sample_ids(&eligible, opts.sample, opts.seed);
    let examples: Vec<&Example> = chosen.iter().map(|id| &common[id]).collect();
    let labels: Vec<&str> = systems.iter().map(|s| s.label.as_str()).collect();
    let (html, shown) = html::page(&examples, &labels, opts, eligible.len(), associations.len());
    Ok(Page { html, shown, eligible: eligible.len(), without_associations })
}

#[cfg(test)]
mod tests;
