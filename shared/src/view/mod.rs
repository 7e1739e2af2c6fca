//! What a client folds from events: the views of a run.
//!
//! Built on [`crate::wire`] only: a view needs the events, not the engine
//! that made them, so the browser folds a stream exactly as the edge does.
//!
//! - [`task`]: one URL's state, attempts and spans ([`task::TaskView`]),
//!   and the tally of states.
//! - [`stats`]: latency percentiles, throughput and per-host figures
//!   ([`stats::Stats`]; the edge's summary is this same fold).
//! - [`report`]: waterfall geometry, row details, CSV and JSON exports.
//! - [`markup`]: escaping text for HTML and SVG.

pub mod markup;
pub mod report;
pub mod stats;
pub mod task;
