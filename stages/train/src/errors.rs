//! candle errors as users see them.
//!
//! candle attaches a captured backtrace to its errors (`Error::bt`, called by `bail!`,
//! `Error::msg`, `Error::wrap`, …) whenever std's capture is on, i.e. whenever
//! `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` is set in the environment, and the `Display` of
//! `Error::WithBacktrace` prints that backtrace (20 and more lines of frames) right after the
//! message. Shells, CI runners and containers often export `RUST_BACKTRACE=1` for everything,
//! so an error message must not depend on it: whatever is shown to a user goes through
//! [`without_backtrace`] or [`message`], and a backtrace, when wanted, is printed by the
//! program apart from the message.

use candle_core::Error;

/// `e` without the backtraces candle wrapped around it (at any depth of `Context` and
/// `WithPath`).
pub fn without_backtrace(e: Error) -> Error {
    match e {
        Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        Error::Context { inner, context } => Error::Context { inner: Box::new(without_backtrace(*inner)), context },
        Error::WithPath { inner, path } => Error::WithPath { inner: Box::new(without_backtrace(*inner)), path },
        other => other,
    }
}

/// The message of `e` on one line per layer (`context: message`), without backtraces.
pub fn message(e: &Error) -> String {
    match e {
        Error::WithBacktrace { inner, .. } => message(inner),
        Error::Context { inner, context } => format!("{context}: {}", message(inner)),
        Error::WithPath { inner, path } => format!("{}: {}", path.display(), message(inner)),
        other => other.to_string(),
    }
}

/// A candle error carrying `text` and no backtrace (unlike `Error::msg` and `bail!`).
pub fn msg(text: impl Into<String>) -> Error {
    Error::Msg(text.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtraces_are_dropped_at_any_depth() {
        let bt = std::backtrace::Backtrace::force_capture();
        let frames = bt.to_string();
        let inner = Error::WithBacktrace { inner: Box::new(Error::Msg("too long".into())), backtrace: Box::new(bt) };
        assert!(inner.to_string().contains(&frames), "candle prints the backtrace");
        let e = Error::Context { inner: Box::new(inner), context: Box::new("update 1") };
        assert_eq!(message(&e), "update 1: too long");
        let plain = without_backtrace(e);
        assert_eq!(plain.to_string(), "update 1\ntoo long");
        assert!(matches!(plain, Error::Context { ref inner, .. } if matches!(**inner, Error::Msg(_))));
    }
}
