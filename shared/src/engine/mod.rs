//! The engine: fan-out without I/O, and the loop that gives it I/O.
//!
//! Built on [`crate::wire`] (events, options, errors), [`crate::input`]
//! (the jobs it runs) and [`crate::view::stats`] (the fold its summary is
//! made of, the same one clients use).
//!
//! - [`retry`]: what is worth retrying, and full-jitter backoff with `Retry-After`.
//! - [`scheduler`]: the sans-IO state machine: global and per-host caps,
//!   fairness, retries, timeouts, deadline, cancel. Time is an input.
//! - [`runner`]: the async loop that drives a scheduler through a shell's
//!   [`runner::Fetcher`] and [`runner::Clock`].
//! - `sim` (tests only): a virtual clock and scripted fetcher that run the
//!   real runner deterministically, never sleeping.

pub mod retry;
pub mod runner;
pub mod scheduler;
#[cfg(test)]
pub(crate) mod sim;
