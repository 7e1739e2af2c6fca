//! Tables in D1: the run history and job list, and the watches.

pub mod history;
pub mod watches;
