//! forge's artifacts of the token and the escrow, embedded at build time: two builds of the same source,
//! the current one (`contracts/out/`, evm_version prague) and the legacy one (`contracts/out-legacy/`,
//! for chains that lag Ethereum's forks: no PUSH0, no transient storage, no MCOPY). [`Build`] names them;
//! the deploy command picks one by probing the chain (docs/deploy.md "Which build").
//!
//! Embedded rather than read from `contracts/out/` at run time: the binary is self-contained (it can be
//! copied to a machine without the repository), and what it deploys and verifies is byte for byte what the
//! workspace's bindings were generated from. `piecepay-protocol`'s build script (a dependency of this
//! crate, so it runs first) rebuilds the artifacts when the contracts change, and `include_str!` makes
//! this crate recompile when they do.

use std::{fmt, ops::Range, sync::OnceLock};

use alloy::primitives::{B256, Bytes, keccak256};
use serde::Deserialize;

use crate::{Error, Result};

const TOKEN_JSON: &str = include_str!("../../contracts/out/PieceToken.sol/PieceToken.json");
const ESCROW_JSON: &str = include_str!("../../contracts/out/ChannelEscrow.sol/ChannelEscrow.json");
const LEGACY_TOKEN_JSON: &str =
    include_str!("../../contracts/out-legacy/PieceToken.sol/PieceToken.json");
const LEGACY_ESCROW_JSON: &str =
    include_str!("../../contracts/out-legacy/ChannelEscrow.sol/ChannelEscrow.json");

/// Which build of the contracts: same source, same ABI, compiled for two EVM generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Build {
    /// `contracts/out/`: the current EVM (prague; PUSH0, transient storage, MCOPY).
    Current,
    /// `contracts/out-legacy/`: chains that stop at Berlin (BTTC and other lagging chains).
    Legacy,
}

impl Build {
    /// Both builds, the preferred first.
    pub const ALL: [Self; 2] = [Self::Current, Self::Legacy];

    /// Its `PieceToken` artifact.
    pub fn token(self) -> Result<&'static Artifact> {
        static CURRENT: OnceLock<Result<Artifact, String>> = OnceLock::new();
        static LEGACY: OnceLock<Result<Artifact, String>> = OnceLock::new();
        match self {
            Self::Current => cached(&CURRENT, "PieceToken", TOKEN_JSON),
            Self::Legacy => cached(&LEGACY, "PieceToken", LEGACY_TOKEN_JSON),
        }
    }

    /// Its `ChannelEscrow` artifact.
    pub fn escrow(self) -> Result<&'static Artifact> {
        static CURRENT: OnceLock<Result<Artifact, String>> = OnceLock::new();
        static LEGACY: OnceLock<Result<Artifact, String>> = OnceLock::new();
        match self {
            Self::Current => cached(&CURRENT, "ChannelEscrow", ESCROW_JSON),
            Self::Legacy => cached(&LEGACY, "ChannelEscrow", LEGACY_ESCROW_JSON),
        }
    }

    /// The EVM version it was compiled for (solc's `evmVersion`, from the escrow artifact's metadata).
    pub fn evm_version(self) -> Result<&'static str> {
        Ok(&self.escrow()?.evm_version)
    }

    /// The build compiled for `evm_version` (as a manifest records it), if one is embedded.
    pub fn for_evm_version(evm_version: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.evm_version().is_ok_and(|v| v == evm_version))
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Current => "current",
            Self::Legacy => "legacy",
        })
    }
}

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
    /// The EVM version it was compiled for, from the artifact's metadata (`prague`, `berlin`).
    pub evm_version: String,
}

impl Artifact {
    /// `PieceToken`'s artifact of the current build.
    pub fn token() -> Result<&'static Self> {
        Build::Current.token()
    }

    /// `ChannelEscrow`'s artifact of the current build.
    pub fn escrow() -> Result<&'static Self> {
        Build::Current.escrow()
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
            evm_version: raw.metadata.settings.evm_version,
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
    settings: RawSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSettings {
    evm_version: String,
}

#[derive(Deserialize)]
struct RawCompiler {
    version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_builds_parse() {
        for build in Build::ALL {
            let token = build.token().unwrap();
            let escrow = build.escrow().unwrap();
            // PieceToken's seven are OpenZeppelin EIP712's; the escrow adds TOKEN and CHALLENGE_PERIOD.
            assert_eq!(token.immutables.len(), 7, "{build}");
            assert_eq!(escrow.immutables.len(), 9, "{build}");
            assert!(escrow.compiler.starts_with("0.8."), "{}", escrow.compiler);
            assert_eq!(token.evm_version, escrow.evm_version, "{build}");
            for artifact in [token, escrow] {
                for range in artifact.immutables.iter().flatten() {
                    assert!(
                        artifact.runtime_code[range.clone()].iter().all(|b| *b == 0),
                        "solc leaves immutables zeroed in the artifact"
                    );
                }
            }
        }
        assert_eq!(Build::Current.evm_version().unwrap(), "prague");
        assert_eq!(Build::Legacy.evm_version().unwrap(), "berlin");
        assert_eq!(Build::for_evm_version("prague"), Some(Build::Current));
        assert_eq!(Build::for_evm_version("berlin"), Some(Build::Legacy));
        assert_eq!(Build::for_evm_version("london"), None);
    }

    #[test]
    fn broken_artifacts_are_errors() {
        for json in [
            "",
            "{}",
            r#"{"bytecode":{"object":"0xzz"},"deployedBytecode":{"object":"0x00"},"metadata":{"compiler":{"version":"x"},"settings":{"evmVersion":"berlin"}}}"#,
            r#"{"bytecode":{"object":"0x00"},"deployedBytecode":{"object":"0x00","immutableReferences":{"1":[{"start":0,"length":32}]}},"metadata":{"compiler":{"version":"x"},"settings":{"evmVersion":"berlin"}}}"#,
            r#"{"bytecode":{"object":"0x00"},"deployedBytecode":{"object":"0x00"},"metadata":{"compiler":{"version":"x"}}}"#,
        ] {
            let err = Artifact::parse("X", json).unwrap_err();
            assert_eq!(err.code(), "artifact", "{json}: {err}");
        }
    }
}
