#![doc = include_str!("../README.md")]

pub mod agent;
pub mod bytes;
pub mod codec;
pub mod error;
pub mod last_error;
mod marshal;
pub mod payee;
pub mod payer;
mod ptr;
pub mod types;
pub mod unchoke;

pub use agent::*;
pub use bytes::{PiecepayBytes, piecepay_bytes_free};
pub use codec::*;
pub use error::{Error, PiecepayStatus, Result};
pub use last_error::{piecepay_last_error_code, piecepay_last_error_message};
pub use payee::*;
pub use payer::*;
pub use types::*;
pub use unchoke::*;
