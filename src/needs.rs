//! What a stage kind needs among its deps, declared once and used twice: checked when the
//! pipeline is planned, so that a wrong `deps:` list or a param naming the wrong stage is an
//! error before any upstream work runs (and in `--dry-run` and `status`), and resolved again
//! when the stage runs, as the only way it finds its deps (`StageContext::one`, `optional`,
//! `all`). Adapters declare each need as a constant and pass it to those.

use crate::params::Params;

/// One requirement of a stage kind on its deps.
#[derive(Debug, PartialEq)]
pub enum Need {
    /// Exactly one dep of `kind`; `what` says what it is for.
    One { kind: &'static str, what: &'static str },
    /// At most one dep of `kind`: an input the stage can do without.
    Optional { kind: &'static str, what: &'static str },
    /// One or more deps of `kind`.
    Some { kind: &'static str, what: &'static str },
    /// Every dep of `kind`, none included.
    Any { kind: &'static str },
    /// Every dep, whatever its kind.
    Every,
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
    needs.iter().filter_map(|need| resolve(stage, need, params, deps).err()).collect()
}

/// The deps (positions in `deps`) that meet `need`, or the error that says what to change.
pub fn resolve(stage: &str, need: &Need, params: &Params, deps: &[DepKind]) -> Result<Vec<usize>, String> {
    let listed = || deps.iter().map(|d| d.name).collect::<Vec<_>>().join(", ");
    let of_kind = |kind: &str| (0..deps.len()).filter(|&i| deps[i].kind == kind).collect::<Vec<_>>();
    let names = |found: &[usize]| found.iter().map(|&i| deps[i].name).collect::<Vec<_>>().join(", ");
    match need {
        Need::One { kind, what } => match of_kind(kind).as_slice() {
            [_] => Ok(of_kind(kind)),
            [] => Err(format!(
                "stage `{stage}` needs one `{kind}` stage among its deps ({what}), and its deps ({}) have none; \
                 add one to `deps:` in pipeline.yaml, e.g. `deps: [{}{kind}]`",
                listed(),
                if deps.is_empty() { String::new() } else { format!("{}, ", listed()) }
            )),
            many => Err(format!(
                "stage `{stage}` has {} `{kind}` stages among its deps ({}); keep only the one for {what}",
                many.len(),
                names(many)
            )),
        },
        Need::Optional { kind, what } => match of_kind(kind).as_slice() {
            [] | [_] => Ok(of_kind(kind)),
            many => Err(format!(
                "stage `{stage}` has {} `{kind}` stages among its deps ({}); keep at most one, for {what}",
                many.len(),
                names(many)
            )),
        },
        Need::Some { kind, what } if of_kind(kind).is_empty() => Err(format!(
            "stage `{stage}` needs at least one `{kind}` stage among its deps ({what}), and its deps ({}) have none; \
             add them to `deps:` in pipeline.yaml",
            listed()
        )),
        Need::Some { kind, .. } | Need::Any { kind } => Ok(of_kind(kind)),
        Need::Every => Ok((0..deps.len()).collect()),
        Need::Named { param, kind } => {
            let named = params.str(param).map_err(|e| format!("stage `{stage}`: {e}"))?;
            match deps.iter().position(|d| d.name == named) {
                None => Err(format!(
                    "stage `{stage}`: param `{param}` names `{named}`, which is not among its deps ({}); \
                     add it to `deps:` or name one of the deps",
                    listed()
                )),
                Some(i) if deps[i].kind != *kind => Err(format!(
                    "stage `{stage}`: param `{param}` names `{named}`, a `{}` stage; it must name one of the \
                     `{kind}` stages among the deps ({})",
                    deps[i].kind,
                    names(&of_kind(kind))
                )),
                Some(i) => Ok(vec![i]),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;
    use iamm_options::{ParamSpec, ParamType, Role};
    use serde_json::json;

    use super::*;

    const MODEL: Need = Need::One { kind: "train", what: "the model" };
    const KNOWLEDGE: Need = Need::Optional { kind: "comet", what: "COMET knowledge" };
    const SYSTEMS: Need = Need::Some { kind: "evaluate", what: "the systems" };
    const RUNS: Need = Need::Any { kind: "evaluate" };
    const PROPOSED: Need = Need::Named { param: "proposed", kind: "evaluate" };

    fn params(proposed: &str) -> Params {
        const SPECS: &[ParamSpec] =
            &[ParamSpec { name: "proposed", ty: ParamType::Str, default: None, help: "", role: Role::Key }];
        let given: IndexMap<String, serde_json::Value> = [("proposed".to_string(), json!(proposed))].into_iter().collect();
        Params::resolve(SPECS, &given, std::path::Path::new(".")).unwrap()
    }

    fn deps<'a>(list: &[(&'a str, &'a str)]) -> Vec<DepKind<'a>> {
        list.iter().map(|(name, kind)| DepKind { name, kind }).collect()
    }

    #[test]
    fn each_need_finds_its_deps_or_says_what_to_change() {
        let p = params("evaluate_full");
        let d = deps(&[("tok", "tokenize"), ("train_a", "train"), ("evaluate_full", "evaluate"), ("evaluate_b", "evaluate")]);
        let r = |need: &Need| resolve("s", need, &p, &d);
        assert_eq!(r(&MODEL), Ok(vec![1]));
        assert_eq!(r(&KNOWLEDGE), Ok(vec![]));
        assert_eq!(r(&SYSTEMS), Ok(vec![2, 3]));
        assert_eq!(r(&RUNS), Ok(vec![2, 3]));
        assert_eq!(r(&Need::Every), Ok(vec![0, 1, 2, 3]));
        assert_eq!(r(&PROPOSED), Ok(vec![2]));

        let two = deps(&[("c1", "comet"), ("c2", "comet"), ("t1", "train"), ("t2", "train")]);
        let e = resolve("tokenize", &KNOWLEDGE, &p, &two).unwrap_err();
        assert_eq!(e, "stage `tokenize` has 2 `comet` stages among its deps (c1, c2); keep at most one, for COMET knowledge");
        let e = resolve("s", &MODEL, &p, &two).unwrap_err();
        assert_eq!(e, "stage `s` has 2 `train` stages among its deps (t1, t2); keep only the one for the model");
        assert!(resolve("s", &MODEL, &p, &[]).unwrap_err().contains("its deps () have none; add one to `deps:` in pipeline.yaml, e.g. `deps: [train]`"));
        assert_eq!(resolve("s", &RUNS, &p, &two), Ok(vec![]));
        assert!(resolve("s", &SYSTEMS, &p, &two).unwrap_err().contains("needs at least one `evaluate` stage"));
        let e = resolve("s", &PROPOSED, &params("t1"), &two).unwrap_err();
        assert!(e.contains("names `t1`, a `train` stage; it must name one of the `evaluate` stages among the deps ()"), "{e}");
        assert!(resolve("s", &PROPOSED, &params("zz"), &two).unwrap_err().contains("not among its deps (c1, c2, t1, t2)"));
        // Every unmet need is listed at once.
        assert_eq!(unmet("s", &[MODEL, KNOWLEDGE, SYSTEMS, RUNS], &p, &two).len(), 3);
    }
}
