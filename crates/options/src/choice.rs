//! Enums a `Choice` param names (see [`choices!`](crate::choices)).

/// An enum of named values: its names are the `Choice` param's words and what `FromStr`
/// accepts.
pub trait Choice: Copy + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// Their names, in the same order.
    const NAMES: &'static [&'static str];
    /// What the enum is, for errors ("selection").
    const WHAT: &'static str;

    fn name(self) -> &'static str;

    /// The value named `s`, or the error that lists the valid names.
    fn parse(s: &str) -> Result<Self, UnknownChoice> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| UnknownChoice { what: Self::WHAT, found: s.to_string(), expected: Self::NAMES })
    }
}

/// A name that is none of an enum's values.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownChoice {
    pub what: &'static str,
    pub found: String,
    pub expected: &'static [&'static str],
}

impl std::fmt::Display for UnknownChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}; expected one of {}", self.what, self.found, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownChoice {}
