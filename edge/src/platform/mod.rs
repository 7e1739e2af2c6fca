//! Glue to the Workers runtime: upstream fetches, time, and the shards a
//! run fans out to.

pub mod clock;
pub mod fetch;
pub mod lanes;
