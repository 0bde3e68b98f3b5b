//! The bencode value model.

use std::collections::BTreeMap;

/// A bencoded value. Dictionaries are kept sorted by key, which is the canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// `i<digits>e`; `i128` holds every integer a piecepay field may carry.
    Int(i128),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l<values>e`.
    List(Vec<Value>),
    /// `d<key><value>...e`, keys byte strings in bytewise order.
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte-string value.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self::Bytes(bytes.into())
    }

    /// The integer, if this is one.
    pub const fn as_int(&self) -> Option<i128> {
        match self {
            Self::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub const fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Self::Dict(dict) => Some(dict),
            _ => None,
        }
    }
}

impl From<i128> for Value {
    fn from(value: i128) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Self::Bytes(value.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Self::Bytes(value.to_vec())
    }
}
