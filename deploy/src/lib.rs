//! Deploys piecepay's token and escrow to an EVM JSON-RPC endpoint and writes a per-chain manifest; runs
//! local devnets. The commands are `piecepay-deploy` and `piecepay-devnet`; docs/deploy.md is the manual.
//!
//! - [`deploy::run`] is the deploy command: it deploys `PieceToken` (or takes an existing ERC-20) and
//!   `ChannelEscrow` from the artifacts embedded at build time ([`Artifact`]), checks the code on chain
//!   against them ([`verify`], built on the pure comparisons in [`code`]), and writes `<chainId>.json`
//!   ([`Manifest`]). A chain that already has a manifest gets its recorded deployment verified instead.
//! - [`devnet`] runs the same code against a local anvil, funds accounts and starts a relayer.
//! - [`chain`] holds the few JSON-RPC calls all of this makes (the deployment's transactions are signed
//!   there, to be recorded in [`pending`] before they are sent, so an interrupted run resumes);
//!   [`signer`] loads the deployer's key.

pub mod artifacts;
pub mod chain;
pub mod code;
pub mod deploy;
pub mod devnet;
mod error;
mod json_file;
pub mod manifest;
pub mod pending;
pub mod signer;
pub mod verify;

pub use artifacts::Artifact;
pub use error::{Error, Result, exit_code};
pub use manifest::Manifest;
