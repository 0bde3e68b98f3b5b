//! piecepay end to end: a swarm of seeders and leechers that exchange the pieces of a generated file and
//! pay per piece through the SDK, on a devnet with the real contracts and a relayer.
//!
//! The main job (`make demo`, binary `piecepay-demo`) and the end-to-end tests (`tests/`) run the same
//! code: [`content`] makes the file and its piece hashes, [`swarm`] moves pieces and receipts between
//! the peers' state machines, and [`report`] adds up what was paid and settled.

// A harness, not an API: its handles hold child processes and whole files, whose Debug would say nothing.
#![allow(missing_debug_implementations)]

pub mod content;
pub mod libtorrent;
pub mod report;
pub mod run;
pub mod swarm;
