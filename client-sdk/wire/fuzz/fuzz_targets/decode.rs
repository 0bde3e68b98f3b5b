//! Arbitrary bytes as a peer's piecepay message: the codec must never panic, must reject with an error
//! it can answer, and must round-trip whatever it accepts (see `piecepay_wire::check`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = piecepay_wire::check::decode_roundtrip(data);
});
