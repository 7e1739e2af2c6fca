//! The API's handlers, one file per family of routes, and the demo shop.

pub mod demo;
pub mod history;
pub mod jobs;
pub mod load;
pub mod meta;
pub mod runs;
pub mod sitemap;
pub mod watches;
