//! Runtime-code comparison against an artifact, and the immutables a deployment must carry (pure).
//!
//! solc copies each immutable's value into the runtime code at deployment, at the places the artifact lists
//! (`deployedBytecode.immutableReferences`). The comparison masks those places and requires every other
//! byte to be the artifact's; it then reads each immutable's value out of the code (checking that all the
//! copies of one immutable agree). The artifact names immutables only by AST id, so the values are checked
//! as a multiset against the values the deployment must have — the constructor arguments and OpenZeppelin
//! EIP712's cached domain — which is exact whenever the expected values are distinct and still catches any
//! wrong value otherwise; the named getters (`TOKEN()`, `CHALLENGE_PERIOD()`) are checked separately.

use alloy::primitives::{Address, B256, U256, keccak256};

use crate::Artifact;

/// The 32-byte value of each of `artifact`'s immutables in `code`, if `code` is the artifact's runtime code
/// apart from them; otherwise where it differs.
pub fn match_runtime(artifact: &Artifact, code: &[u8]) -> Result<Vec<B256>, String> {
    let expected = &artifact.runtime_code;
    if code.len() != expected.len() {
        return Err(format!(
            "runtime code is {} bytes, the {} artifact's is {} bytes",
            code.len(),
            artifact.contract,
            expected.len()
        ));
    }
    let mut masked = vec![false; code.len()];
    for range in artifact.immutables.iter().flatten() {
        masked[range.clone()].fill(true);
    }
    if let Some(at) = (0..code.len()).find(|&i| !masked[i] && code[i] != expected[i]) {
        return Err(format!(
            "runtime code differs from the {} artifact at byte {at} (immutables masked)",
            artifact.contract
        ));
    }
    artifact
        .immutables
        .iter()
        .map(|ranges| {
            let value = B256::from_slice(&code[ranges[0].clone()]);
            if ranges.iter().all(|r| code[r.clone()] == value[..]) {
                Ok(value)
            } else {
                Err(format!(
                    "the copies of the immutable at byte {} disagree",
                    ranges[0].start
                ))
            }
        })
        .collect()
}

/// The seven immutables of OpenZeppelin 5's `EIP712(name, version)` for a contract at `this` on
/// `chain_id`: cached domain separator, chain id, address, hashed name and version, and the name and
/// version as `ShortString`s.
pub fn eip712_immutables(name: &str, version: &str, chain_id: u64, this: Address) -> Vec<B256> {
    let type_hash = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
    );
    let hashed_name = keccak256(name);
    let hashed_version = keccak256(version);
    let chain = B256::from(U256::from(chain_id));
    let mut encoded = Vec::with_capacity(5 * 32);
    for word in [
        type_hash,
        hashed_name,
        hashed_version,
        chain,
        this.into_word(),
    ] {
        encoded.extend_from_slice(word.as_slice());
    }
    vec![
        keccak256(&encoded),
        chain,
        this.into_word(),
        hashed_name,
        hashed_version,
        short_string(name),
        short_string(version),
    ]
}

/// OpenZeppelin's `ShortStrings.toShortStringWithFallback`: up to 31 bytes left-aligned with the length in
/// the last byte; longer strings live in storage and the immutable holds the sentinel 0xFF.
fn short_string(s: &str) -> B256 {
    let mut word = B256::ZERO;
    if s.len() < 32 {
        word[..s.len()].copy_from_slice(s.as_bytes());
        word[31] = s.len() as u8;
    } else {
        word[31] = 0xFF;
    }
    word
}

/// Where `found` and `expected` differ as multisets: the values expected but missing, and the values
/// found but unexpected. Both empty means they match.
pub fn multiset_difference(found: &[B256], expected: &[B256]) -> (Vec<B256>, Vec<B256>) {
    let mut unexpected = found.to_vec();
    let mut missing = Vec::new();
    for value in expected {
        match unexpected.iter().position(|v| v == value) {
            Some(i) => {
                unexpected.swap_remove(i);
            }
            None => missing.push(*value),
        }
    }
    (missing, unexpected)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{address, b256};

    use super::*;

    #[test]
    fn short_strings_match_openzeppelin() {
        assert_eq!(
            short_string("1"),
            b256!("0x3100000000000000000000000000000000000000000000000000000000000001")
        );
        assert_eq!(short_string(&"x".repeat(32))[31], 0xFF);
        assert_eq!(short_string(&"x".repeat(31))[31], 31);
    }

    #[test]
    fn domain_separator_matches_protocol_crate() {
        let escrow = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
        let ours = eip712_immutables(
            piecepay_protocol::eip712::DOMAIN_NAME,
            piecepay_protocol::eip712::DOMAIN_VERSION,
            31_337,
            escrow,
        )[0];
        let theirs = piecepay_protocol::domain(31_337, escrow).separator();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn masked_comparison() {
        let artifact = crate::Artifact::escrow().unwrap();
        let mut code = artifact.runtime_code.to_vec();
        let values: Vec<B256> = (0..artifact.immutables.len())
            .map(|i| B256::repeat_byte(i as u8 + 1))
            .collect();
        for (ranges, value) in artifact.immutables.iter().zip(&values) {
            for r in ranges {
                code[r.clone()].copy_from_slice(value.as_slice());
            }
        }
        assert_eq!(match_runtime(artifact, &code).unwrap(), values);

        let outside = (0..code.len())
            .find(|i| !artifact.immutables.iter().flatten().any(|r| r.contains(i)))
            .unwrap();
        let mut tampered = code.clone();
        tampered[outside] ^= 1;
        assert!(
            match_runtime(artifact, &tampered)
                .unwrap_err()
                .contains("differs")
        );
        assert!(
            match_runtime(artifact, &code[1..])
                .unwrap_err()
                .contains("bytes")
        );

        // Two copies of one immutable that disagree.
        let ranges = artifact.immutables.iter().find(|r| r.len() > 1).unwrap();
        let mut split = code.clone();
        split[ranges[1].start] ^= 1;
        assert!(
            match_runtime(artifact, &split)
                .unwrap_err()
                .contains("disagree")
        );
    }

    #[test]
    fn multisets() {
        let a = B256::repeat_byte(1);
        let b = B256::repeat_byte(2);
        assert_eq!(
            multiset_difference(&[a, b, a], &[a, a, b]),
            (vec![], vec![])
        );
        assert_eq!(multiset_difference(&[a, a], &[a, b]), (vec![b], vec![a]));
    }
}
