//! Stage params, declared once where the stage's code is: [`options!`] declares each param as
//! a field of an options struct (name, type, default, role, help) and generates the struct,
//! the param table that the engine checks pipeline values against ([`ParamSpec`]s), and the
//! constructor that reads checked values into the struct. A param's name is its field's name,
//! so it is spelled once, and a stage that reads a param it does not declare does not compile.
//! [`choices!`] declares the enums that `Choice` params name; their names are both the words
//! the engine accepts and what `FromStr` parses.
//!
//! ```
//! iamm_options::choices! {
//!     pub enum Shape ("shape") { Round = "round", Square = "square" }
//! }
//! use iamm_options::ParamType;
//!
//! iamm_options::options! {
//!     pub struct Drawing {
//!         shape: Shape = "round", Key, "what to draw";
//!         size: usize [ParamType::Int { min: 1, max: 100 }] = 10, Key, "how big";
//!         threads: Option<usize> [ParamType::Nullable(&ParamType::Int { min: 1, max: 64 })] = null, Tuning,
//!             "how many threads draw (null: all)";
//!     }
//! }
//! assert_eq!(Drawing::PARAMS.iter().map(|p| p.name).collect::<Vec<_>>(), ["shape", "size", "threads"]);
//! let d = Drawing::from_values(&iamm_options::Defaults::of(Drawing::PARAMS)).unwrap();
//! assert_eq!((d.shape, d.size, d.threads), (Shape::Round, 10, None));
//! let e = "oval".parse::<Shape>().unwrap_err();
//! assert_eq!(e.to_string(), "unknown shape \"oval\"; expected one of round, square");
//! ```

mod choice;
mod spec;
mod value;

pub use choice::{Choice, UnknownChoice};
pub use serde_json::Value;
pub use spec::{ParamSpec, ParamType, Role, join, show_value, total};
pub use value::{Defaults, Param, ParamError, Typed, Values, read};

/// Declares an options struct whose fields are a stage's params.
///
/// Each field is `name: Type [ParamType]? = default?, Role, help;`: the param type may be left
/// out where the field type implies it (`bool`, `String`, `PathBuf` (an input path), a
/// [`choices!`] enum, `Option` of those); integers and floats declare their range. The default
/// is its JSON literal (`16`, `"greedy"`, `null`, `["train", "test"]`), shown as written by
/// `iamm-pipe stages`; no default makes the param required. Groups declared elsewhere (another
/// options struct) come first, as `..field: Group,`: their params precede the struct's own.
///
/// The struct gets `PARAMS` (the table, in declaration order) and
/// `from_values(&dyn Values) -> Result<Self, ParamError>`.
///
/// A name declared twice, by a group and a field say, does not compile:
/// ```compile_fail
/// iamm_options::options! { pub struct Seeded { seed: bool = true, Key, "seeds"; } }
/// iamm_options::options! { pub struct Run { ..seeded: Seeded, seed: bool = false, Key, "seeds again"; } }
/// let _ = Run::PARAMS;
/// ```
/// nor does a number without its range:
/// ```compile_fail
/// iamm_options::options! { pub struct Run { steps: usize = 10, Key, "updates"; } }
/// ```
#[macro_export]
macro_rules! options {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $( ..$group:ident: $gty:ty, )*
            $(
                $(#[$fattr:meta])*
                $field:ident: $fty:ty $([$pty:expr])? $(= $default:tt)?, $role:ident, $help:expr;
            )*
        }
    ) => {
        $(#[$attr])*
        $vis struct $name {
            $( pub $group: $gty, )*
            $( $(#[$fattr])* pub $field: $fty, )*
        }

        impl $name {
            /// The params, in declaration order: the groups', then these fields'.
            pub const PARAMS: &'static [$crate::ParamSpec] = {
                const PARTS: &[&[$crate::ParamSpec]] = &[
                    $( <$gty>::PARAMS, )*
                    &[$(
                        $crate::ParamSpec {
                            name: stringify!($field),
                            ty: $crate::__param_type!($fty $(, $pty)?),
                            default: $crate::__param_default!($($default)?),
                            help: $help,
                            role: $crate::Role::$role,
                        }
                    ),*],
                ];
                const ALL: [$crate::ParamSpec; $crate::total(PARTS)] = $crate::join(PARTS);
                &ALL
            };

            /// The options that checked param values (defaults filled in) give.
            pub fn from_values(values: &dyn $crate::Values) -> ::std::result::Result<Self, $crate::ParamError> {
                ::std::result::Result::Ok($name {
                    $( $group: <$gty>::from_values(values)?, )*
                    $( $field: $crate::read(values, stringify!($field))?, )*
                })
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_type {
    ($t:ty, $p:expr) => {
        $p
    };
    ($t:ty) => {
        <$t as $crate::Typed>::TYPE
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_default {
    () => {
        ::std::option::Option::None
    };
    ($d:tt) => {
        ::std::option::Option::Some(stringify!($d))
    };
}

/// Declares an enum of named values, `Variant = "name"` each, with `what` it is for errors:
/// `pub enum Selection ("selection") { BestPpl = "best_ppl", Last = "last" }`. It derives
/// `Debug, Clone, Copy, PartialEq, Eq` (add others as attributes) and gets `ALL`, `NAMES`,
/// `name()`, [`Choice`], `FromStr` (an unknown name is an error listing the valid ones),
/// `Display`, and the param type `Choice(NAMES)`.
#[macro_export]
macro_rules! choices {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vattr:meta])* $variant:ident = $text:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vattr])* $variant ),+
        }

        impl $name {
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];
            pub const NAMES: [&'static str; [$(stringify!($variant)),+].len()] = [$($text),+];

            /// The name pipeline.yaml and the tables give it.
            pub fn name(self) -> &'static str {
                <Self as $crate::Choice>::name(self)
            }
        }

        impl $crate::Choice for $name {
            const ALL: &'static [Self] = &$name::ALL;
            const NAMES: &'static [&'static str] = &$name::NAMES;
            const WHAT: &'static str = $what;
            fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownChoice;
            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::UnknownChoice> {
                <Self as $crate::Choice>::parse(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::Param for $name {
            fn from_value(
                v: &$crate::Value,
                _: &dyn $crate::Values,
            ) -> ::std::result::Result<Self, ::std::string::String> {
                match v.as_str() {
                    ::std::option::Option::Some(s) => {
                        <Self as $crate::Choice>::parse(s).map_err(|e| ::std::string::ToString::to_string(&e))
                    }
                    ::std::option::Option::None => ::std::result::Result::Err(::std::format!(
                        "expected one of {}, found {}",
                        $name::NAMES.join(", "),
                        $crate::show_value(v)
                    )),
                }
            }
        }

        impl $crate::Typed for $name {
            const TYPE: $crate::ParamType = $crate::ParamType::Choice(&$name::NAMES);
        }
    };
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;

    choices! {
        /// How a run picks its weights.
        pub enum Selection ("selection") {
            BestPpl = "best_ppl",
            Reference = "reference",
            Last = "last",
        }
    }

    choices! {
        enum Stop ("early_stopping") { True = "true", False = "false", Never = "never" }
    }

    const STEPS: ParamType = ParamType::Int { min: 1, max: 1000 };

    options! {
        #[derive(Debug, Clone, PartialEq)]
        struct Decoding {
            beam: usize [ParamType::Int { min: 1, max: 64 }] = 5, Key, "beams";
            penalty: f32 [ParamType::Float { min: -10.0, max: 10.0 }] = 1.0, Key, "length penalty";
        }
    }

    options! {
        #[derive(Debug, Clone, PartialEq)]
        struct Run {
            ..decoding: Decoding,
            selection: Selection = "best_ppl", Key, "which weights";
            steps: u64 [STEPS] = 10, Key, "updates";
            stop: Option<Stop> = null, Key, "beam stop";
            splits: Vec<String> [ParamType::ChoiceList(&["train", "valid", "test"])] = ["train", "valid", "test"], Key,
                "splits";
            source: PathBuf, Key, "the data";
            library: Option<PathBuf> [ParamType::Nullable(&ParamType::ToolPath)] = null, Tuning, "where the tool is";
            quirk: bool = false, Key, "reproduce a bug";
            title: String = "a title", Key, "the page's title";
        }
    }

    /// Values as the engine hands them over: checked, defaults filled in, paths under a folder.
    struct Checked {
        values: Vec<(&'static str, Value)>,
        base: PathBuf,
    }

    impl Checked {
        /// `given` over the defaults, each checked against its declaration as the engine does.
        fn new(given: Value) -> Result<Checked, String> {
            let mut values = Vec::new();
            for p in Run::PARAMS {
                let v = match given.get(p.name) {
                    Some(v) => v.clone(),
                    None => serde_json::from_str(p.default.ok_or(format!("{} is required", p.name))?).unwrap(),
                };
                values.push((p.name, p.ty.check(&v).map_err(|e| format!("{}: {e}", p.name))?));
            }
            Ok(Checked { values, base: PathBuf::from("/pipelines") })
        }
    }

    impl Values for Checked {
        fn value(&self, name: &str) -> Option<&Value> {
            self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
        }
        fn resolve_path(&self, text: &str) -> PathBuf {
            self.base.join(text)
        }
    }

    #[test]
    fn a_declaration_is_a_table_in_order_groups_first() {
        let names: Vec<_> = Run::PARAMS.iter().map(|p| p.name).collect();
        let expected = ["beam", "penalty", "selection", "steps", "stop", "splits", "source", "library", "quirk", "title"];
        assert_eq!(names, expected);
        let p = |name: &str| *Run::PARAMS.iter().find(|p| p.name == name).unwrap();
        assert_eq!(p("selection").ty.describe(), "one of best_ppl, reference, last");
        assert_eq!(p("selection").default, Some("\"best_ppl\""));
        assert_eq!(p("stop").ty.describe(), "one of true, false, never, or null");
        assert_eq!(p("steps").ty.describe(), "an integer in 1..=1000");
        assert_eq!(p("splits").default, Some("[\"train\", \"valid\", \"test\"]"));
        assert_eq!(p("source").default, None);
        assert!(p("source").ty.is_path() && !p("library").ty.is_path());
        assert_eq!((p("library").role, p("quirk").role), (Role::Tuning, Role::Key));
        assert_eq!(p("penalty").default, Some("1.0"));
        assert_eq!(p("title").help, "the page's title");
        // Every default is a value of its own type.
        for p in Run::PARAMS.iter().filter(|p| p.default.is_some()) {
            let v: Value = serde_json::from_str(p.default.unwrap()).unwrap();
            assert!(p.ty.check(&v).is_ok(), "{}", p.name);
        }
    }

    #[test]
    fn checked_values_read_into_typed_fields() {
        let given = json!({"source": "data/ed", "selection": "last", "stop": true, "splits": ["test", "train"],
                           "beam": 3, "penalty": 0.5, "library": "/opt/lib.so", "quirk": true});
        let run = Run::from_values(&Checked::new(given).unwrap()).unwrap();
        assert_eq!(run.decoding, Decoding { beam: 3, penalty: 0.5 });
        assert_eq!(run.selection, Selection::Last);
        // A YAML `true` for a choice of words is the word "true".
        assert_eq!(run.stop, Some(Stop::True));
        // Sets are canonical before they are read: the declared order.
        assert_eq!(run.splits, ["train", "test"]);
        assert_eq!(run.source, Path::new("/pipelines/data/ed"));
        assert_eq!(run.library.as_deref(), Some(Path::new("/opt/lib.so")));
        assert!(run.quirk);
        assert_eq!((run.steps, run.title.as_str()), (10, "a title"));

        let defaults = Run::from_values(&Checked::new(json!({"source": "x"})).unwrap()).unwrap();
        assert_eq!((defaults.stop, defaults.library, defaults.selection), (None, None, Selection::BestPpl));
        assert_eq!(defaults.splits, ["train", "valid", "test"]);
        // A required param has no default.
        assert_eq!(Run::from_values(&Defaults::of(Run::PARAMS)).unwrap_err().to_string(), "param `source`: not given");
    }

    #[test]
    fn values_outside_the_declaration_are_errors() {
        let bad = |given: Value| Checked::new(given).err().unwrap();
        assert_eq!(bad(json!({"source": "x", "steps": 0})), "steps: expected an integer in 1..=1000, found 0");
        assert!(bad(json!({"source": "x", "beam": 65})).contains("an integer in 1..=64"));
        assert!(bad(json!({"source": "x", "selection": "bets_ppl"})).contains("one of best_ppl, reference, last"));
        assert!(bad(json!({"source": "x", "stop": 3})).contains("one of true, false, never, or null"));
        assert!(bad(json!({"source": null})).contains("a path to a file or folder"));
        // Reading a value of the wrong shape (the engine checks first) names the param.
        let wrong = Checked { values: vec![("beam", json!("five")), ("penalty", json!(1.0))], base: PathBuf::new() };
        let e = Decoding::from_values(&wrong).unwrap_err();
        assert_eq!(e.to_string(), "param `beam`: expected an integer that fits usize, found the string \"five\"");
    }

    #[test]
    fn choices_parse_their_names_and_list_them_otherwise() {
        assert_eq!("reference".parse::<Selection>(), Ok(Selection::Reference));
        assert_eq!(Selection::Last.to_string(), "last");
        assert_eq!(Selection::ALL.map(Selection::name), Selection::NAMES);
        let e = "bets_ppl".parse::<Selection>().unwrap_err();
        assert_eq!(e.to_string(), "unknown selection \"bets_ppl\"; expected one of best_ppl, reference, last");
        assert!("Last".parse::<Selection>().is_err());
        assert_eq!(<Stop as Typed>::TYPE.describe(), "one of true, false, never");
        assert_eq!(<Option<Stop> as Typed>::TYPE.describe(), "one of true, false, never, or null");
        let e = Stop::from_value(&json!(1), &Defaults::of(&[])).unwrap_err();
        assert_eq!(e, "expected one of true, false, never, found 1");
    }
}
