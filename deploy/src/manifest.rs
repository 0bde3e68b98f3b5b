//! The deployment manifest: one JSON file per chain id, `<dir>/<chainId>.json` (format in docs/deploy.md).

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{Artifact, Result, json_file};

/// The value of [`Manifest::format`] this version writes and reads.
pub const FORMAT: &str = "piecepay-deployment/1";

/// What was deployed on one chain, and how to check it is still there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`]; a reader refuses other values.
    pub format: String,
    /// The chain's EIP-155 id (also the file's name).
    pub chain_id: u64,
    /// The account that sent the deployment transactions.
    pub deployer: Address,
    /// When the manifest was written (RFC 3339, UTC).
    pub created_at: String,
    /// The escrow's deployment block: where an indexer of the escrow's events starts.
    pub deployment_block: BlockRef,
    /// The ERC-20 the escrow holds.
    pub token: TokenEntry,
    /// The escrow.
    pub escrow: EscrowEntry,
}

/// A block, by number and hash (the hash detects a reset or reorganised chain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Block timestamp (seconds since the Unix epoch).
    pub timestamp: u64,
}

/// Whether the token was deployed with the escrow or already existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenOrigin {
    /// A `PieceToken` deployed by this tool; its code is checked against the artifact.
    Deployed,
    /// An existing ERC-20 given by address; its code is checked against the recorded `code_hash`.
    Existing,
}

/// The token's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    /// Its address.
    pub address: Address,
    /// Deployed here or pre-existing.
    pub origin: TokenOrigin,
    /// keccak256 of its runtime code on chain when the manifest was written.
    pub code_hash: B256,
    /// The deployment transaction (deployed tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<B256>,
    /// The deployment block (deployed tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<BlockRef>,
    /// The constructor arguments (deployed tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constructor_args: Option<TokenArgs>,
    /// The artifact it was deployed from (deployed tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactInfo>,
}

/// `PieceToken`'s constructor arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenArgs {
    /// ERC-20 name (also its EIP-712 domain name).
    pub name: String,
    /// ERC-20 symbol.
    pub symbol: String,
    /// Who received the whole supply.
    pub holder: Address,
    /// The fixed supply in base units, as a decimal string (a uint256 does not fit a JSON number).
    #[serde(with = "decimal")]
    pub supply: U256,
}

/// The escrow's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowEntry {
    /// Its address.
    pub address: Address,
    /// keccak256 of its runtime code on chain (immutables included).
    pub code_hash: B256,
    /// The deployment transaction.
    pub transaction: B256,
    /// The deployment block.
    pub block: BlockRef,
    /// The constructor arguments, which are also its immutables `TOKEN` and `CHALLENGE_PERIOD`.
    pub constructor_args: EscrowArgs,
    /// The artifact it was deployed from.
    pub artifact: ArtifactInfo,
}

/// `ChannelEscrow`'s constructor arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowArgs {
    /// The ERC-20 it holds.
    pub token: Address,
    /// The unilateral-close challenge window, in seconds.
    pub challenge_period: u64,
}

/// Which build of a contract was deployed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// The contract's name in its artifact.
    pub contract: String,
    /// solc's version, from the artifact's metadata.
    pub compiler: String,
    /// keccak256 of the creation code, without constructor arguments.
    pub creation_code_hash: B256,
    /// keccak256 of the runtime code with the immutables zeroed (the same for every deployment of a build).
    pub runtime_code_hash: B256,
    /// The EVM version the build targets (`prague`: the current build, `berlin`: the legacy one); it
    /// names the embedded build verification compares with. Manifests written before there were two
    /// builds lack it: theirs was prague.
    #[serde(default = "first_evm_version")]
    pub evm_version: String,
}

/// The EVM version of manifests that do not say: the only build before the legacy one was added.
fn first_evm_version() -> String {
    "prague".into()
}

impl ArtifactInfo {
    /// The description of `artifact`.
    pub fn of(artifact: &Artifact) -> Self {
        Self {
            contract: artifact.contract.to_owned(),
            compiler: artifact.compiler.clone(),
            creation_code_hash: artifact.creation_code_hash(),
            runtime_code_hash: artifact.runtime_code_hash(),
            evm_version: artifact.evm_version.clone(),
        }
    }
}

/// Where the manifest of `chain_id` lives in `dir`.
pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
    dir.join(format!("{chain_id}.json"))
}

impl Manifest {
    /// Reads the manifest of `chain_id` from `dir`; `Ok(None)` when there is none.
    pub fn load(dir: &Path, chain_id: u64) -> Result<Option<Self>> {
        let path = path(dir, chain_id);
        let Some(manifest) = json_file::read::<Self>(&path)? else {
            return Ok(None);
        };
        let invalid = |reason| json_file::invalid(&path, reason);
        if manifest.format != FORMAT {
            return Err(invalid(format!(
                "format {:?}, this tool reads {FORMAT:?}",
                manifest.format
            )));
        }
        if manifest.chain_id != chain_id {
            return Err(invalid(format!(
                "it is for chain {}, but the file is the one for chain {chain_id}",
                manifest.chain_id
            )));
        }
        if manifest.escrow.constructor_args.token != manifest.token.address {
            return Err(invalid(
                "the escrow's token is not the manifest's token".into(),
            ));
        }
        Ok(Some(manifest))
    }

    /// Writes the manifest to `dir/<chainId>.json` atomically (a temporary file, fsynced, renamed over
    /// it), creating `dir` if needed; returns the path.
    pub fn store(&self, dir: &Path) -> Result<PathBuf> {
        let path = path(dir, self.chain_id);
        json_file::write(&path, self)?;
        Ok(path)
    }
}

/// A `U256` as a decimal string.
mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let text = String::deserialize(d)?;
        U256::from_str_radix(&text, 10)
            .map_err(|e| D::Error::custom(format!("{text:?} is not a decimal uint256: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn sample() -> Manifest {
        let block = BlockRef {
            number: 2,
            hash: B256::repeat_byte(2),
            timestamp: 1_700_000_000,
        };
        let token = Address::repeat_byte(0x70);
        Manifest {
            format: FORMAT.into(),
            chain_id: 31_337,
            deployer: Address::repeat_byte(0xde),
            created_at: "2025-01-01T00:00:00Z".into(),
            deployment_block: block,
            token: TokenEntry {
                address: token,
                origin: TokenOrigin::Deployed,
                code_hash: B256::repeat_byte(7),
                transaction: Some(B256::repeat_byte(1)),
                block: Some(block),
                constructor_args: Some(TokenArgs {
                    name: "Piece".into(),
                    symbol: "PIECE".into(),
                    holder: Address::repeat_byte(0xde),
                    supply: U256::from(10u128.pow(27)),
                }),
                artifact: Some(ArtifactInfo::of(Artifact::token().unwrap())),
            },
            escrow: EscrowEntry {
                address: Address::repeat_byte(0xe5),
                code_hash: B256::repeat_byte(8),
                transaction: B256::repeat_byte(3),
                block,
                constructor_args: EscrowArgs {
                    token,
                    challenge_period: 86_400,
                },
                artifact: ArtifactInfo::of(Artifact::escrow().unwrap()),
            },
        }
    }

    #[test]
    fn round_trip_and_supply_is_decimal() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = sample();
        let path = manifest.store(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("31337.json"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(r#""supply": "1000000000000000000000000000""#),
            "{text}"
        );
        assert_eq!(Manifest::load(dir.path(), 31_337).unwrap(), Some(manifest));
        assert_eq!(Manifest::load(dir.path(), 1).unwrap(), None);
    }

    #[test]
    fn manifests_without_an_evm_version_are_prague_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();
        for contract in ["token", "escrow"] {
            value[contract]["artifact"]
                .as_object_mut()
                .unwrap()
                .remove("evm_version")
                .unwrap();
        }
        fs::write(dir.path().join("31337.json"), value.to_string()).unwrap();
        let loaded = Manifest::load(dir.path(), 31_337).unwrap().unwrap();
        assert_eq!(loaded.escrow.artifact.evm_version, "prague");
        assert_eq!(loaded.token.artifact.unwrap().evm_version, "prague");
    }

    #[test]
    fn invalid_manifests_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: String| fs::write(dir.path().join("31337.json"), text).unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();

        for (field, bad) in [
            ("format", serde_json::json!("piecepay-deployment/99")),
            ("chain_id", serde_json::json!(1)),
        ] {
            let mut v = value.clone();
            v[field] = bad;
            write(v.to_string());
            let err = Manifest::load(dir.path(), 31_337).unwrap_err();
            assert_eq!(err.code(), "manifest_invalid", "{field}: {err}");
        }
        value["escrow"]["constructor_args"]["token"] = serde_json::json!(Address::ZERO);
        write(value.to_string());
        assert_eq!(
            Manifest::load(dir.path(), 31_337).unwrap_err().code(),
            "manifest_invalid"
        );
        write("{not json".into());
        assert_eq!(
            Manifest::load(dir.path(), 31_337).unwrap_err().code(),
            "manifest_invalid"
        );
    }
}
