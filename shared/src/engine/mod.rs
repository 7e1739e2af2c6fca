//! The engine: fan-out without I/O, and the loop that gives it I/O.
//!
//! Built on [`crate::wire`] (events, options, errors), [`crate::input`]
//! (the jobs it runs) and [`crate::view::stats`] (the fold its summary is
//! made of, the same one clients use).
//!
//! - [`gate`]: one invocation's connection slots (the platform's six
//!   subrequests waiting for headers), kept by the edge and simulated by tests.
//! - [`lanes`]: one run spread over several invocations (shards), and
//!   what the entry and a shard say to each other.
//! - [`revalidate`]: conditional re-fetch: a URL's last saved answer, sent
//!   back as validators, and a `304` turned into an unchanged `done`.
//! - [`retry`]: what is worth retrying, and full-jitter backoff with `Retry-After`.
//! - [`scheduler`]: the sans-IO state machine: global and per-host caps,
//!   fairness, retries, timeouts, deadline, cancel. Time is an input.
//! - [`runner`]: the async loop that drives a scheduler through a shell's
//!   [`runner::Fetcher`] and [`runner::Clock`].
//! - `sim` (tests only): a virtual clock and scripted fetcher that run the
//!   real runner deterministically, never sleeping.

pub mod gate;
pub mod lanes;
pub mod retry;
pub mod revalidate;
pub mod runner;
pub mod scheduler;
#[cfg(test)]
pub(crate) mod sim;
