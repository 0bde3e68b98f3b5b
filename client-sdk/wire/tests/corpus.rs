//! The fuzz target's body on stable: every committed seed (`fuzz/seeds`: hand-made messages plus the corpus
//! a fuzz run minimised), every truncation and single-byte change of the small ones, and hand-made hostile
//! inputs.

use std::{fs, path::Path};

use piecepay_wire::check::decode_roundtrip;

/// Seeds up to this size are also truncated at every length and mutated at every byte.
const MUTATE_UP_TO: usize = 160;

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seeds: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    seeds
}

fn hostile() -> Vec<Vec<u8>> {
    let mut inputs = vec![
        Vec::new(),
        vec![b'l'; 10_000],
        [vec![b'l'; 5_000], vec![b'e'; 5_000]].concat(),
        [vec![b'd'; 100], b"1:t".to_vec()].concat(),
        b"4294967296:x".to_vec(),
        b"99999999999999999999:x".to_vec(),
        b"i99999999999999999999999999999999999999999999e".to_vec(),
        b"i-170141183460469231731687303715884105728e".to_vec(),
        b"d1:t7:receipt4:salti-0ee".to_vec(),
        b"d1:t0:e".to_vec(),
        vec![0xff; 4097],
    ];
    for kind in piecepay_wire::message::MESSAGE_TYPES {
        inputs.push(format!("d1:t{}:{kind}e", kind.len()).into_bytes());
    }
    inputs
}

#[test]
fn seeds_and_their_mutations_never_break_the_codec() {
    let seeds = seeds();
    assert!(seeds.len() >= 5, "the seed corpus is committed");
    let mut decoded = 0;
    let mut runs = 0;
    for seed in &seeds {
        decoded += usize::from(decode_roundtrip(seed).is_some());
        // Mutating every byte of a large seed costs quadratic time for little: the fuzzer covers those.
        if seed.len() > MUTATE_UP_TO {
            continue;
        }
        for len in 0..seed.len() {
            decode_roundtrip(&seed[..len]);
            runs += 1;
        }
        for at in 0..seed.len() {
            for byte in [0, b'e', b'i', b'd', b'l', b':', b'0', b'9', b'-', 0xff] {
                let mut mutated = seed.clone();
                mutated[at] = byte;
                decode_roundtrip(&mutated);
                runs += 1;
            }
        }
    }
    assert!(decoded >= 5, "the valid seeds decode");
    assert!(runs > 1_000);
}

#[test]
fn hostile_inputs_are_errors() {
    for input in hostile() {
        assert_eq!(
            decode_roundtrip(&input),
            None,
            "{:?}",
            String::from_utf8_lossy(&input)
        );
    }
}
