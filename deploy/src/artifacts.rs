//! forge's artifacts of the token and the escrow, embedded at build time.
//!
//! Embedded rather than read from `contracts/out/` at run time: the binary is self-contained (it can be
//! copied to a machine without the repository), and what it deploys and verifies is byte for byte what the
//! workspace's bindings were generated from. `piecepay-protocol`'s build script (a dependency of this
//! crate, so it runs first) rebuilds the artifacts when the contracts change, and `include_str!` makes
//! this crate recompile when they do.

use std::{ops::Range, sync::OnceLock};

use alloy::primitives::{B256, Bytes, keccak256};
use serde::Deserialize;

use crate::{Error, Result};

const TOKEN_JSON: &str = include_str!("../../contracts/out/PieceToken.sol/PieceToken.json");
const ESCROW_JSON: &str = include_str!("../../contracts/out/ChannelEscrow.sol/ChannelEscrow.json");

/// One contract's compiled code, as forge wrote it.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The contract's name (`PieceToken`, `ChannelEscrow`).
    pub contract: &'static str,
    /// The creation code (constructor arguments are appended to it).
    pub creation_code: Bytes,
    /// The runtime code, with every immutable's bytes zeroed (solc fills them in at deployment).
    pub runtime_code: Bytes,
    /// The immutables' positions in the runtime code: one entry per immutable variable, each listing every
    /// place its 32-byte value is copied to. Ordered by solc's AST id, which is stable for one build.
    pub immutables: Vec<Vec<Range<usize>>>,
    /// The compiler that built it, from the artifact's metadata (`0.8.30+commit.73712a01`).
    pub compiler: String,
}

impl Artifact {
    /// `PieceToken`'s artifact.
    pub fn token() -> Result<&'static Self> {
        static CELL: OnceLock<Result<Artifact, String>> = OnceLock::new();
        cached(&CELL, "PieceToken", TOKEN_JSON)
    }

    /// `ChannelEscrow`'s artifact.
    pub fn escrow() -> Result<&'static Self> {
        static CELL: OnceLock<Result<Artifact, String>> = OnceLock::new();
        cached(&CELL, "ChannelEscrow", ESCROW_JSON)
    }

    /// keccak256 of the creation code (without constructor arguments).
    pub fn creation_code_hash(&self) -> B256 {
        keccak256(&self.creation_code)
    }

    /// keccak256 of the runtime code with the immutables zeroed: equal for every deployment of one build.
    pub fn runtime_code_hash(&self) -> B256 {
        keccak256(&self.runtime_code)
    }

    /// Parses forge's artifact JSON.
    pub fn parse(contract: &'static str, json: &str) -> Result<Self> {
        let bad = |reason: String| Error::Artifact { contract, reason };
        let raw: RawArtifact = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        if !raw.bytecode.link_references.is_empty()
            || !raw.deployed_bytecode.link_references.is_empty()
        {
            return Err(bad("it needs linked libraries".into()));
        }
        let creation_code = hex_code(&raw.bytecode.object).map_err(&bad)?;
        let runtime_code = hex_code(&raw.deployed_bytecode.object).map_err(&bad)?;
        if creation_code.is_empty() || runtime_code.is_empty() {
            return Err(bad(
                "empty bytecode (an abstract contract or interface?)".into()
            ));
        }
        let mut groups: Vec<(u64, Vec<Range<usize>>)> = Vec::new();
        for (id, refs) in raw.deployed_bytecode.immutable_references {
            let id: u64 = id
                .parse()
                .map_err(|_| bad(format!("immutable id {id:?} is not a number")))?;
            let mut ranges = Vec::with_capacity(refs.len());
            for r in refs {
                let range = r.start..r.start + r.length;
                // solc stores every immutable as one full word; anything else would make the masking wrong.
                if r.length != 32 || range.end > runtime_code.len() {
                    return Err(bad(format!(
                        "immutable reference {range:?} is not a word in the code"
                    )));
                }
                ranges.push(range);
            }
            if ranges.is_empty() {
                return Err(bad(format!("immutable {id} has no reference")));
            }
            groups.push((id, ranges));
        }
        groups.sort_by_key(|(id, _)| *id);
        Ok(Self {
            contract,
            creation_code,
            runtime_code,
            immutables: groups.into_iter().map(|(_, ranges)| ranges).collect(),
            compiler: raw.metadata.compiler.version,
        })
    }
}

fn cached(
    cell: &'static OnceLock<Result<Artifact, String>>,
    contract: &'static str,
    json: &str,
) -> Result<&'static Artifact> {
    cell.get_or_init(|| Artifact::parse(contract, json).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|reason| Error::Artifact {
            contract,
            reason: reason.clone(),
        })
}

fn hex_code(object: &str) -> Result<Bytes, String> {
    object
        .parse::<Bytes>()
        .map_err(|e| format!("bytecode is not hex: {e}"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArtifact {
    bytecode: RawBytecode,
    deployed_bytecode: RawBytecode,
    metadata: RawMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytecode {
    object: String,
    #[serde(default)]
    link_references: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    immutable_references: std::collections::BTreeMap<String, Vec<RawRange>>,
}

#[derive(Deserialize)]
struct RawRange {
    start: usize,
    length: usize,
}

#[derive(Deserialize)]
struct RawMetadata {
    compiler: RawCompiler,
}

#[derive(Deserialize)]
struct RawCompiler {
    version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_artifacts_parse() {
        let token = Artifact::token().unwrap();
        let escrow = Artifact::escrow().unwrap();
        // PieceToken's seven are OpenZeppelin EIP712's; the escrow adds TOKEN and CHALLENGE_PERIOD.
        assert_eq!(token.immutables.len(), 7);
        assert_eq!(escrow.immutables.len(), 9);
        assert!(escrow.compiler.starts_with("0.8."), "{}", escrow.compiler);
        for artifact in [token, escrow] {
            for range in artifact.immutables.iter().flatten() {
                assert!(
                    artifact.runtime_code[range.clone()].iter().all(|b| *b == 0),
                    "solc leaves immutables zeroed in the artifact"
                );
            }
        }
    }

    #[test]
    fn broken_artifacts_are_errors() {
        for json in [
            "",
            "{}",
            r#"{"bytecode":{"object":"0xzz"},"deployedBytecode":{"object":"0x00"},"metadata":{"compiler":{"version":"x"}}}"#,
            r#"{"bytecode":{"object":"0x00"},"deployedBytecode":{"object":"0x00","immutableReferences":{"1":[{"start":0,"length":32}]}},"metadata":{"compiler":{"version":"x"}}}"#,
        ] {
            let err = Artifact::parse("X", json).unwrap_err();
            assert_eq!(err.code(), "artifact", "{json}: {err}");
        }
    }
}
