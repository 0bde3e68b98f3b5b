//! piecepay end to end, on a devnet with the real contracts and a relayer.
//!
//! The main job (`make demo`, binary `piecepay-demo`) runs [`job`]: seeders and leechers as separate
//! `piecepay-torrent` processes ([`client`]), each with its own agent, key and database, and [`report`]
//! prints what was paid, settled, closed and withdrawn. The end-to-end tests (`tests/`) also drive a
//! swarm whose channels the test itself opens: [`content`] makes the file and its piece hashes, [`swarm`]
//! moves pieces and receipts between the peers' state machines (or [`libtorrent`] between real sessions),
//! and [`run`] settles and adds up. [`rogue`] is a buyer that lies about its channel, for the tests of
//! what a seller refuses.

// A harness, not an API: its handles hold child processes and whole files, whose Debug would say nothing.
#![allow(missing_debug_implementations)]

pub mod client;
pub mod content;
pub mod job;
pub mod libtorrent;
pub mod report;
pub mod rogue;
pub mod run;
pub mod swarm;
