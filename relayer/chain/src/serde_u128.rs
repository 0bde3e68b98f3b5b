//! `u128` as a decimal string in serde formats: JSON numbers above 2^53 lose precision in most readers,
//! and serde's internally tagged enums (the journal's states, the events) cannot buffer a `u128`.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

pub(crate) fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "t")]
    enum Tagged {
        A {
            #[serde(with = "super")]
            v: u128,
        },
    }

    #[test]
    fn round_trips_inside_a_tagged_enum() {
        let value = Tagged::A { v: u128::MAX };
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!(r#"{{"t":"A","v":"{}"}}"#, u128::MAX));
        assert_eq!(serde_json::from_str::<Tagged>(&json).unwrap(), value);
        assert!(serde_json::from_str::<Tagged>(r#"{"t":"A","v":"x"}"#).is_err());
    }
}
