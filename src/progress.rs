//! Progress of long steps: bars on a terminal, plain lines in a log, or nothing.
//!
//! Every stage gets its [`StageBar`] from `StageContext::bar`. It is an indicatif bar in each
//! mode (stage crates take `&ProgressBar` and never know the mode); in line mode the bar is
//! hidden and a thread prints its state at a steady pace, so that `nohup iamm-pipe run … > log`
//! shows how far the work got.

use std::io::IsTerminal;
use std::ops::Deref;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{
    FormattedDuration, HumanBytes, HumanCount, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, lines otherwise.
    Auto,
    /// Bars, even when stderr is not a terminal.
    Bar,
    /// Plain lines: each running step's state every `--progress-every` seconds, and each validation.
    Lines,
    /// No progress output.
    None,
}

pub struct Progress {
    kind: Kind,
}

enum Kind {
    Bars(MultiProgress),
    Lines { every: Duration },
    Silent,
}

impl Progress {
    pub fn new(mode: ProgressMode, every: Duration) -> Progress {
        // indicatif hides bars on a dumb terminal: lines serve it better.
        let terminal = std::io::stderr().is_terminal() && std::env::var("TERM").is_ok_and(|t| t != "dumb");
        let bars = || {
            let term = Box::new(console::Term::buffered_stderr());
            Kind::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(term, 20)))
        };
        let kind = match mode {
            ProgressMode::Auto if terminal => bars(),
            ProgressMode::Bar => bars(),
            ProgressMode::Auto | ProgressMode::Lines => Kind::Lines { every },
            ProgressMode::None => Kind::Silent,
        };
        Progress { kind }
    }

    /// A bar of `len` `unit`s (0: not known yet) for `what` the stage is doing.
    pub fn bar(&self, stage: &str, len: u64, what: &str, unit: &str) -> StageBar {
        let label = Label { stage: stage.to_string(), what: what.to_string(), unit: unit.to_string() };
        let hidden = || ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        match &self.kind {
            Kind::Bars(multi) => {
                let style = ProgressStyle::with_template(&format!(
                    "  {{prefix:>10}} {{msg:<12}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} \
                     {{per_sec}} eta {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                let bar = multi.add(ProgressBar::new(len));
                bar.set_style(style);
                bar.set_prefix(stage.to_string());
                bar.set_message(what.to_string());
                StageBar { bar, label, notes: Notes::AboveBars(multi.clone()), ticker: None }
            }
            Kind::Lines { every } => {
                let bar = hidden();
                let ticker = Ticker::start(bar.clone(), label.clone(), *every);
                StageBar { bar, label, notes: Notes::Lines, ticker: Some(ticker) }
            }
            Kind::Silent => StageBar { bar: hidden(), label, notes: Notes::Silent, ticker: None },
        }
    }

    /// Runs `f` (which prints to stderr) with the bars cleared, then draws them again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.kind {
            Kind::Bars(multi) => multi.suspend(f),
            _ => f(),
        }
    }
}

#[derive(Clone)]
struct Label {
    stage: String,
    what: String,
    unit: String,
}

impl Label {
    /// `  train: training 120/17,600 steps (1%), 3.21 steps/s, elapsed 00:00:37, eta 01:30:43, loss 15.969`
    fn describe(&self, bar: &ProgressBar) -> String {
        let bytes = self.unit == "bytes";
        let count = |n: u64| if bytes { HumanBytes(n).to_string() } else { HumanCount(n).to_string() };
        let pos = bar.position();
        let mut line = format!("  {}: {} {}", self.stage, self.what, count(pos));
        let len = bar.length().filter(|&l| l > 0);
        if let Some(len) = len {
            line += &format!("/{}", count(len));
        }
        if !bytes {
            line += &format!(" {}", self.unit);
        }
        if let Some(len) = len {
            line += &format!(" ({}%)", pos * 100 / len);
        }
        let rate = bar.per_sec();
        line += &if bytes { format!(", {}/s", HumanBytes(rate as u64)) } else { format!(", {rate:.2} {}/s", self.unit) };
        line += &format!(", elapsed {}", FormattedDuration(bar.elapsed()));
        if len.is_some_and(|l| pos > 0 && pos < l) {
            line += &format!(", eta {}", FormattedDuration(bar.eta()));
        }
        let message = bar.message();
        if !message.is_empty() && message != self.what {
            line += &format!(", {message}");
        }
        line
    }
}

/// Where [`StageBar::note`] goes.
enum Notes {
    AboveBars(MultiProgress),
    Lines,
    Silent,
}

/// A stage's progress bar (see the module doc). Derefs to the indicatif bar.
pub struct StageBar {
    bar: ProgressBar,
    label: Label,
    notes: Notes,
    ticker: Option<Ticker>,
}

impl StageBar {
    /// Prints the bar's state and `note` (a validation's results, say) as one line now.
    pub fn note(&self, note: &str) {
        let line = || format!("{}; {note}", self.label.describe(&self.bar));
        match &self.notes {
            Notes::AboveBars(multi) => multi.suspend(|| eprintln!("{}", line())),
            Notes::Lines => eprintln!("{}", line()),
            Notes::Silent => {}
        }
    }
}

impl Deref for StageBar {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        &self.bar
    }
}

impl Drop for StageBar {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// The thread that prints a hidden bar's state every `every` until the bar is finished or
/// dropped.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(bar: ProgressBar, label: Label, every: Duration) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                if bar.is_finished() {
                    break;
                }
                eprintln!("{}", label.describe(&bar));
            }
        });
        Ticker { stop, thread }
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}
