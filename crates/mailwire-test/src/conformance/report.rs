//! What the suite found.

use std::fmt;

/// One check of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// See [`order`](super::order).
    Order,
    /// See [`ack`](super::ack).
    Ack,
    /// See [`end_of_stream`](super::end_of_stream).
    EndOfStream,
    /// See [`fatal`](super::fatal).
    Fatal,
    /// See [`cancel_pending`](super::cancel_pending).
    CancelPending,
    /// See [`cancel_buffered`](super::cancel_buffered).
    CancelBuffered,
    /// See [`cancel_in_flight`](super::cancel_in_flight).
    CancelInFlight,
}

impl Check {
    /// Every check, in the order [`run_all`](super::run_all) runs them.
    pub const ALL: &'static [Check] = &[
        Check::Order,
        Check::Ack,
        Check::EndOfStream,
        Check::Fatal,
        Check::CancelPending,
        Check::CancelBuffered,
        Check::CancelInFlight,
    ];

    /// Its name, e.g. `cancel_buffered`.
    pub fn name(self) -> &'static str {
        match self {
            Check::Order => "order",
            Check::Ack => "ack",
            Check::EndOfStream => "end_of_stream",
            Check::Fatal => "fatal",
            Check::CancelPending => "cancel_pending",
            Check::CancelBuffered => "cancel_buffered",
            Check::CancelInFlight => "cancel_in_flight",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one check went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The source passed.
    Passed,
    /// The source cannot take part (the harness said so); not a pass.
    NotApplicable(&'static str),
    /// The source failed; what was expected and what happened. Only in a
    /// [`Report`]: a check run alone panics instead.
    Failed(String),
}

/// The outcome of every check of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    outcomes: Vec<(Check, Outcome)>,
}

impl Report {
    pub(super) fn push(&mut self, check: Check, outcome: Outcome) {
        self.outcomes.push((check, outcome));
    }

    /// Every check run, with its outcome.
    pub fn outcomes(&self) -> &[(Check, Outcome)] {
        &self.outcomes
    }

    /// The outcome of `check`, if it ran.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|(c, _)| *c == check)
            .map(|(_, o)| o)
    }

    /// The checks that failed, with why.
    pub fn failures(&self) -> Vec<(Check, &str)> {
        self.outcomes
            .iter()
            .filter_map(|(c, o)| match o {
                Outcome::Failed(why) => Some((*c, why.as_str())),
                _ => None,
            })
            .collect()
    }

    /// True when `check` ran and failed.
    pub fn failed(&self, check: Check) -> bool {
        matches!(self.outcome(check), Some(Outcome::Failed(_)))
    }

    /// True when every check ran and passed (none failed, none was not applicable).
    pub fn all_passed(&self) -> bool {
        self.outcomes.len() == Check::ALL.len()
            && self.outcomes.iter().all(|(_, o)| *o == Outcome::Passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (check, outcome) in &self.outcomes {
            match outcome {
                Outcome::Passed => writeln!(f, "  {check}: passed")?,
                Outcome::NotApplicable(why) => writeln!(f, "  {check}: not applicable ({why})")?,
                Outcome::Failed(why) => writeln!(f, "  {check}: FAILED: {why}")?,
            }
        }
        Ok(())
    }
}

/// The message of a check that panicked (or of a task that was cancelled).
pub(super) fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => match payload.downcast::<String>() {
            Ok(s) => *s,
            Err(payload) => match payload.downcast::<&'static str>() {
                Ok(s) => (*s).to_owned(),
                Err(_) => "panicked with a non-string payload".to_owned(),
            },
        },
        Err(e) => format!("the check's task did not finish: {e}"),
    }
}
