//! `serde(with)` modules for the JSON forms of the API's conventions (see the module above).

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    String::deserialize(deserializer)
}

/// `Address` as EIP-55 hex.
pub(crate) mod address {
    use super::*;
    use alloy_primitives::Address;

    pub(crate) fn serialize<S: Serializer>(value: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_checksum(None))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        crate::relayer_api::parse_address("address", &string(d)?).map_err(D::Error::custom)
    }
}

/// `B256` as lower-case `0x` hex.
pub(crate) mod hash {
    use super::*;
    use alloy_primitives::{B256, hex};

    pub(crate) fn serialize<S: Serializer>(value: &B256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_prefixed(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
        crate::relayer_api::parse_b256("hash", &string(d)?).map_err(D::Error::custom)
    }
}

/// `Option<B256>`: hex or `null`.
pub(crate) mod opt_hash {
    use super::*;
    use alloy_primitives::B256;

    pub(crate) fn serialize<S: Serializer>(value: &Option<B256>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::hash::serialize(value, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<B256>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|v| crate::relayer_api::parse_b256("hash", &v).map_err(D::Error::custom))
            .transpose()
    }
}

/// `Option<Bytes>`: `0x` hex of any even length, or `null`.
pub(crate) mod opt_bytes {
    use super::*;
    use alloy_primitives::{Bytes, hex};

    pub(crate) fn serialize<S: Serializer>(value: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => s.serialize_str(&hex::encode_prefixed(value)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|v| {
                v.strip_prefix("0x")
                    .and_then(|digits| hex::decode(digits).ok())
                    .map(Bytes::from)
                    .ok_or_else(|| D::Error::custom("expected 0x followed by hex byte pairs"))
            })
            .transpose()
    }
}

/// `CompactSignature` as `{"r", "vs"}`.
pub(crate) mod signature {
    use super::*;
    use crate::{CompactSignature, relayer_api::SignatureJson};
    use serde::Serialize;

    pub(crate) fn serialize<S: Serializer>(
        value: &CompactSignature,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        SignatureJson::from(value).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<CompactSignature, D::Error> {
        SignatureJson::deserialize(d)?
            .parse("signature")
            .map_err(D::Error::custom)
    }
}
