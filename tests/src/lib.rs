//! piecepay end to end, on a devnet with the real contracts and a relayer.
//!
//! [`client`] starts and watches `piecepay-torrent` processes, each with its own agent, key and database.
//! The main job (`make demo`, binary `piecepay-demo`) and [`report`] still drive the swarm below. The
//! end-to-end tests (`tests/`) also drive a swarm whose channels the test itself opens: [`content`] makes the file and its piece hashes, [`swarm`]
//! moves pieces and receipts between the peers' state machines (or [`libtorrent`] between real sessions),
//! and [`run`] settles and adds up.

// A harness, not an API: its handles hold child processes and whole files, whose Debug would say nothing.
#![allow(missing_debug_implementations)]

pub mod client;
pub mod content;
pub mod libtorrent;
pub mod report;
pub mod run;
pub mod swarm;
