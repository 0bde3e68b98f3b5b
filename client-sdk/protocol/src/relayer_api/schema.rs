//! JSON Schemas of the API's text forms (feature `schemars`): what `#[schemars(with = …)]` names on the
//! fields whose serde form is a string with rules (`wire::*`), and [`ErrorCode`]'s list. The relayer's
//! OpenAPI document is generated from these and the derived schemas of the body types.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::ErrorCode;

/// Declares a string schema type: `name`, `pattern`, description.
macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $description:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": $description,
                })
            }
        }
    };
}

text!(
    /// `0x` + 40 hex digits.
    Address,
    "^0x[0-9a-fA-F]{40}$",
    "An address: 0x and 40 hex digits, all lower case, all upper case, or EIP-55 (then a correct checksum); responses use EIP-55"
);
text!(
    /// `0x` + 64 hex digits, an id or a hash.
    Hash,
    "^0x[0-9a-fA-F]{64}$",
    "A 32-byte id or hash: 0x and 64 hex digits; responses use lower case"
);
text!(
    /// A 32-byte signature word.
    Word,
    "^0x[0-9a-fA-F]{64}$",
    "A 32-byte word of an EIP-2098 signature: 0x and 64 hex digits"
);
text!(
    /// A canonical decimal string.
    Amount,
    "^(0|[1-9][0-9]*)$",
    "An amount, fee or nonce in base units: a canonical decimal string (no sign, point, exponent, or leading zeros), within its Solidity type"
);
text!(
    /// `0x` + hex bytes.
    HexBytes,
    "^0x([0-9a-fA-F]{2})*$",
    "Bytes as 0x and hex digit pairs"
);

impl JsonSchema for ErrorCode {
    fn schema_name() -> Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let codes: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
        json_schema!({
            "type": "string",
            "enum": codes,
            "description": "A stable, machine-readable error code (docs/relayer-api.md lists them with their HTTP statuses); a client treats a code it does not know as generic",
        })
    }
}
