//! Durable Object classes, and what they do besides answering requests.

pub mod alerts;
pub mod job;
pub mod scheduler;
pub mod shard;
