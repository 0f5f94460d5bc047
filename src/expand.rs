//! Matrix expansion: each declared stage becomes one stage per combination of its axes.
//!
//! A stage's axes are its own `matrix:` plus the axes it inherits from its deps: a dep written
//! `train` passes on all of train's axes, `train[variant=full]` those it does not fix, and
//! `train[*]` or `train[seed=*]` none of those it gathers. A member depends on the members of
//! each dep that agree with its own coordinates on the inherited axes (and with the selector's
//! fixed values), so two deps that pass on the same axis pair up by its value.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use indexmap::IndexMap;
use serde_json::Value;

use crate::matrix::{Coords, Pick, Selector, combinations, member_name, parse_selector};
use crate::needs::Need;
use crate::spec::{Origin, Overlay, StageDecl, StageParams};
use crate::stage::StageKind;

/// One axis of a matrix: its values (canonical, and as printed in names) and where it was set.
#[derive(Clone)]
pub struct Axis {
    pub values: Vec<(Value, String)>,
    pub origin: Origin,
}

/// axis -> values, as declared (a profile replaces an axis's values or adds an axis).
pub type Matrix = IndexMap<String, Axis>;

/// A dep as written in `deps:`.
pub struct DepRef {
    pub selector: Selector,
    pub text: String,
    pub line: u64,
}

/// A stage as declared in `pipeline.yaml`.
pub struct BaseDecl {
    pub kind: &'static dyn StageKind,
    pub deps: Vec<DepRef>,
    pub params: StageParams,
    pub matrix: Matrix,
    pub line: u64,
}

/// axis -> values as printed, per declared stage.
pub type Axes = BTreeMap<String, Vec<String>>;

/// Checks `axis=value` of a selector against the axes of stage `base`.
pub fn check_selected_axis(base: &str, axes: &Axes, axis: &str, value: Option<&str>) -> Result<(), String> {
    let Some(values) = axes.get(axis) else {
        return Err(if axes.is_empty() {
            format!("`{base}` has no matrix, so it has no axis `{axis}`")
        } else {
            format!("`{base}` has no axis `{axis}`; its axes: {}", axes.keys().cloned().collect::<Vec<_>>().join(", "))
        });
    };
    match value {
        Some(v) if !values.iter().any(|x| x == v) => {
            Err(format!("`{axis}={v}`: the values of `{base}`'s axis `{axis}` are {}", values.join(", ")))
        }
        _ => Ok(()),
    }
}

/// The axes of dep `sel` (whose stage has `axes`) that the dependent inherits.
fn inherited(sel: &Selector, axes: &Axes) -> Result<Axes, String> {
    match &sel.pick {
        Pick::Plain => Ok(axes.clone()),
        Pick::All => Ok(Axes::new()),
        Pick::Axes(picked) => {
            for (axis, value) in picked {
                check_selected_axis(&sel.base, axes, axis, value.as_deref())?;
            }
            Ok(axes.iter().filter(|(a, _)| !picked.iter().any(|(p, _)| p == *a)).map(|(a, v)| (a.clone(), v.clone())).collect())
        }
    }
}

/// Expands every declared stage (with a profile's overlay) into the stages that run, and
/// returns them with each declared stage's axes.
pub fn expand(
    file: &Path,
    bases: &IndexMap<String, BaseDecl>,
    overlay: Option<&IndexMap<String, Overlay>>,
) -> Result<(IndexMap<String, StageDecl>, IndexMap<String, Axes>)> {
    let at = |line: u64| format!("{}:{line}", file.display());
    let mut axes_of: IndexMap<String, Axes> = IndexMap::new();
    let mut members_of: HashMap<String, Vec<(String, Coords)>> = HashMap::new();
    let mut by_base: HashMap<String, IndexMap<String, StageDecl>> = HashMap::new();
    for name in base_order(bases) {
        let base = &bases[&name];
        let over = overlay.and_then(|o| o.get(&name));
        let mut params = base.params.clone();
        let mut matrix = base.matrix.clone();
        if let Some(over) = over {
            params.extend(over.params.clone());
            matrix.extend(over.matrix.clone());
        }
        let mut axes: Axes = matrix.iter().map(|(a, axis)| (a.clone(), axis.values.iter().map(|(_, t)| t.clone()).collect())).collect();
        // Which dep each inherited axis came from, for errors.
        let mut from: BTreeMap<String, &str> = BTreeMap::new();
        let mut dep_axes = Vec::new();
        for dep in &base.deps {
            let passed = inherited(&dep.selector, &axes_of[&dep.selector.base])
                .map_err(|e| anyhow!("{}: stage `{name}`, key `deps`: `{}`: {e}", at(dep.line), dep.text))?;
            for (axis, values) in &passed {
                if matrix.contains_key(axis) {
                    bail!(
                        "{}: stage `{name}`: axis `{axis}` is in its own `matrix:` and also comes from dep `{}`; remove \
                         it from the matrix, or gather the dep along it (`{}[{axis}=*]`)",
                        at(dep.line),
                        dep.text,
                        dep.selector.base
                    );
                }
                match (axes.get(axis), from.get(axis)) {
                    (Some(known), Some(other)) if known != values => bail!(
                        "{}: stage `{name}`: deps `{other}` and `{}` both pass on axis `{axis}`, with different values \
                         ({} vs {}); members pair up by value, so give both the same values, or fix or gather the axis \
                         in one of the selectors",
                        at(dep.line),
                        dep.text,
                        known.join(", "),
                        values.join(", ")
                    ),
                    _ => {
                        axes.insert(axis.clone(), values.clone());
                        from.insert(axis.clone(), &dep.text);
                    }
                }
            }
            dep_axes.push(passed);
        }
        let mut members = IndexMap::new();
        for coords in combinations(&axes) {
            let member = member_name(&name, &coords);
            let mut deps: Vec<String> = Vec::new();
            for (dep, passed) in base.deps.iter().zip(&dep_axes) {
                let agree = |c: &Coords| dep.selector.admits(c) && passed.keys().all(|a| c.get(a) == coords.get(a));
                for (dep_member, _) in members_of[&dep.selector.base].iter().filter(|(_, c)| agree(c)) {
                    if !deps.contains(dep_member) {
                        deps.push(dep_member.clone());
                    }
                }
            }
            let mut member_params = params.clone();
            for (axis, decl) in &matrix {
                let value = decl.values.iter().find(|(_, t)| Some(t) == coords.get(axis)).map(|(v, _)| v.clone());
                member_params.insert(axis.clone(), (value.expect("a value of the axis"), decl.origin.clone()));
            }
            members.insert(member, StageDecl { kind: base.kind, deps, params: member_params, line: base.line, base: name.clone(), coords });
        }
        members_of.insert(name.clone(), members.iter().map(|(n, d)| (n.clone(), d.coords.clone())).collect());
        by_base.insert(name.clone(), members);
        axes_of.insert(name.clone(), axes);
    }
    // Declaration order, each matrix's members together.
    let mut stages = IndexMap::new();
    let mut axes = IndexMap::new();
    for name in bases.keys() {
        stages.extend(by_base.remove(name).expect("every stage expanded"));
        axes.insert(name.clone(), axes_of.swap_remove(name).expect("every stage expanded"));
    }
    Ok((stages, axes))
}

/// Declared stages in an order where each comes after its deps (`check_acyclic` ran).
fn base_order(bases: &IndexMap<String, BaseDecl>) -> Vec<String> {
    fn visit(bases: &IndexMap<String, BaseDecl>, n: &str, out: &mut Vec<String>) {
        if out.iter().any(|o| o == n) {
            return;
        }
        for d in &bases[n].deps {
            visit(bases, &d.selector.base, out);
        }
        out.push(n.to_string());
    }
    let mut out = Vec::new();
    for n in bases.keys() {
        visit(bases, n, &mut out);
    }
    out
}

/// Fails on a cycle of deps among the declared stages, naming it.
pub fn check_acyclic(file: &Path, bases: &IndexMap<String, BaseDecl>) -> Result<()> {
    // 0 = unvisited, 1 = on the current path, 2 = done
    let mut state: IndexMap<&str, u8> = bases.keys().map(|k| (k.as_str(), 0)).collect();
    let mut path: Vec<&str> = Vec::new();
    fn dfs<'a>(
        file: &Path,
        bases: &'a IndexMap<String, BaseDecl>,
        n: &'a str,
        state: &mut IndexMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Result<()> {
        state[n] = 1;
        path.push(n);
        for dep in &bases[n].deps {
            let d = dep.selector.base.as_str();
            match state[d] {
                1 => {
                    let start = path.iter().position(|x| *x == d).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[start..].to_vec();
                    cycle.push(d);
                    bail!(
                        "{}:{}: stage `{n}`: `deps` make a cycle: {}; remove one of these deps",
                        file.display(),
                        bases[n].line,
                        cycle.join(" -> ")
                    );
                }
                0 => dfs(file, bases, d, state, path)?,
                _ => {}
            }
        }
        path.pop();
        state[n] = 2;
        Ok(())
    }
    for n in bases.keys() {
        if state[n.as_str()] == 0 {
            dfs(file, bases, n, &mut state, &mut path)?;
        }
    }
    Ok(())
}

/// A param that names a dep (`human_eval.proposed`) may name it by a selector,
/// `evaluate[variant=full]`: it is resolved among the member's own deps to the one member it
/// admits. A selector that admits none is left as written (planning says what is wrong);
/// one that admits several is an error.
pub fn resolve_named(stages: &mut IndexMap<String, StageDecl>) -> Result<()> {
    let mut resolved = Vec::new();
    for (name, decl) in stages.iter() {
        for need in decl.kind.needs() {
            let Need::Named { param, .. } = need else { continue };
            let Some((Value::String(text), origin)) = decl.params.get(*param) else { continue };
            if decl.deps.contains(text) {
                continue;
            }
            let Ok(sel) = parse_selector(text) else { continue };
            let admitted: Vec<&String> =
                decl.deps.iter().filter(|d| stages[*d].base == sel.base && sel.admits(&stages[*d].coords)).collect();
            match admitted.as_slice() {
                [] => {}
                [one] => resolved.push((name.clone(), param.to_string(), (*one).clone())),
                many => bail!(
                    "stage `{name}`, param `{param}` (set by {origin}): `{text}` could name any of its deps {}; fix more \
                     axes so that it names one",
                    many.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ),
            }
        }
    }
    for (stage, param, member) in resolved {
        let slot = stages.get_mut(&stage).and_then(|d| d.params.get_mut(&param)).expect("found above");
        slot.0 = Value::String(member);
    }
    Ok(())
}
