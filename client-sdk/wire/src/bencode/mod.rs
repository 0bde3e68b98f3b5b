//! Strict, canonical bencode (BEP 3): the value model, its one encoding, and a bounded decoder.
//!
//! Canonical means one value has exactly one encoding: integers without leading zeros or `-0`, string
//! lengths without leading zeros, dictionary keys sorted bytewise and unique. The decoder refuses
//! anything else, so re-encoding what it accepted gives back the input byte for byte.

mod decode;
mod encode;
mod value;

pub use decode::{Limits, decode, decode_with};
pub use value::Value;
