//! What a stage kind needs among its deps, declared once and checked when the pipeline is
//! planned, so that a wrong `deps:` list or a param naming the wrong stage is an error before
//! any upstream work runs (and in `--dry-run` and `status`).

use crate::params::Params;

/// One requirement of a stage kind on its deps.
pub enum Need {
    /// Exactly one dep of `kind`; `what` says what it is for.
    One { kind: &'static str, what: &'static str },
    /// One or more deps of `kind`.
    Some { kind: &'static str, what: &'static str },
    /// The string param `param` names one of the deps, which must be of `kind`.
    Named { param: &'static str, kind: &'static str },
}

/// A dep as the plan knows it: its stage name and kind.
pub struct DepKind<'a> {
    pub name: &'a str,
    pub kind: &'a str,
}

/// Every unmet need of stage `stage`, one message each.
pub fn unmet(stage: &str, needs: &[Need], params: &Params, deps: &[DepKind]) -> Vec<String> {
    let listed = || deps.iter().map(|d| d.name).collect::<Vec<_>>().join(", ");
    let of_kind = |kind: &str| deps.iter().filter(|d| d.kind == kind).map(|d| d.name).collect::<Vec<_>>();
    let mut problems = Vec::new();
    for need in needs {
        match need {
            Need::One { kind, what } => {
                if let Err(e) = exactly_one(stage, kind, what, &of_kind(kind), &listed()) {
                    problems.push(e);
                }
            }
            Need::Some { kind, what } if of_kind(kind).is_empty() => problems.push(format!(
                "stage `{stage}` needs at least one `{kind}` stage among its deps ({what}), and its deps ({}) have none; \
                 add them to `deps:` in pipeline.yaml",
                listed()
            )),
            Need::Some { .. } => {}
            Need::Named { param, kind } => {
                let Ok(named) = params.str(param) else { continue };
                match deps.iter().find(|d| d.name == named) {
                    None => problems.push(format!(
                        "stage `{stage}`: param `{param}` names `{named}`, which is not among its deps ({}); \
                         add it to `deps:` or name one of the deps",
                        listed()
                    )),
                    Some(d) if d.kind != *kind => problems.push(format!(
                        "stage `{stage}`: param `{param}` names `{named}`, a `{}` stage; it must name one of the \
                         `{kind}` stages among the deps ({})",
                        d.kind,
                        of_kind(kind).join(", ")
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    problems
}

/// The one name in `found` (the deps of `kind`), or the error that says what to change.
pub fn exactly_one<'a>(stage: &str, kind: &str, what: &str, found: &[&'a str], listed: &str) -> Result<&'a str, String> {
    match found {
        [one] => Ok(one),
        [] => Err(format!(
            "stage `{stage}` needs one `{kind}` stage among its deps ({what}), and its deps ({listed}) have none; \
             add one to `deps:` in pipeline.yaml, e.g. `deps: [{}{kind}]`",
            if listed.is_empty() { String::new() } else { format!("{listed}, ") }
        )),
        many => Err(format!(
            "stage `{stage}` has {} `{kind}` stages among its deps ({}); keep only the one for {what}",
            many.len(),
            many.join(", ")
        )),
    }
}
