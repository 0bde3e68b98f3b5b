//! piecepay's relayer node: verifies receipts, keeps them durably and settles them in batches.
//!
//! `docs/relayer.md` is the operator's guide (configuration, metrics, failure behaviour);
//! `docs/relayer-api.md` the HTTP contract this crate serves.

pub mod api;
pub mod batcher;
pub mod chain;
pub mod config;
pub mod duties;
pub mod error;
pub mod ingest;
pub mod leader;
mod service;
pub mod store;

pub use config::{Config, Settings};
pub use error::{Error, Result};
pub use service::{Node, run};
pub use store::Store;
