//! The fuzz target's body: what must hold for any bytes a peer may send.
//!
//! It lives here, not in the fuzz crate, so that a stable test runs it over a corpus too (`cargo fuzz`
//! needs nightly features; CI runs on stable).

use crate::{Message, bencode};

/// Decodes `input` as a peer's message and checks the codec's promises, panicking if one is broken:
///
/// - decoding never panics, and fails only with an error whose `error` reply encodes and decodes back;
/// - accepted bencode is canonical: re-encoding it gives back `input` exactly;
/// - an accepted message re-encodes, and that encoding decodes to the same message.
///
/// Returns the decoded message, if any.
pub fn decode_roundtrip(input: &[u8]) -> Option<Message> {
    if let Ok(value) = bencode::decode(input) {
        assert_eq!(value.encode(), input, "accepted bencode must be canonical");
    }
    match Message::decode(input) {
        Ok(message) => {
            let encoded = message.encode().expect("a decoded message re-encodes");
            assert_eq!(Message::decode(&encoded).as_ref(), Ok(&message));
            Some(message)
        }
        Err(error) => {
            let reply = Message::error_reply(&error);
            let encoded = reply.encode().expect("an error reply encodes");
            assert_eq!(Message::decode(&encoded), Ok(reply));
            None
        }
    }
}
