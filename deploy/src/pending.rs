//! A deployment in progress, recorded before each of its transactions is sent: `<dir>/<chainId>.pending.json`.
//!
//! A deployment is two transactions (the token, the escrow) and minutes of waiting; anything may stop it
//! in between (Ctrl-C, a dropped connection, a timeout, a killed terminal). Each transaction is signed
//! first and written here — nonce, hash, bytes, the address it creates — and only then sent, so that a
//! second run with the same parameters picks up where the first stopped: a transaction that was mined
//! is used as it is (no second token), one still pending is waited for, one the node dropped is sent
//! again as it was. The file goes once the manifest is written.
//!
//! The record names the chain by its genesis block's hash too: a devnet restarted since is another chain,
//! and its record is dropped rather than resumed.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, chain::SignedTx, json_file, manifest::TokenArgs};

/// The value of [`Pending::format`].
pub const FORMAT: &str = "piecepay-deployment-pending/1";

/// Which of a deployment's contracts a transaction creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The new `PieceToken`.
    Token,
    /// The `ChannelEscrow`.
    Escrow,
}

impl Step {
    /// The contract's name.
    pub const fn contract(self) -> &'static str {
        match self {
            Self::Token => "PieceToken",
            Self::Escrow => "ChannelEscrow",
        }
    }
}

/// One creation transaction, as signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The contract it creates.
    pub step: Step,
    /// The transaction.
    pub tx: SignedTx,
    /// The address it creates (the deployer's, at the transaction's nonce).
    pub address: Address,
}

/// What one deployment has signed so far, and for what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Always [`FORMAT`].
    pub format: String,
    /// The chain.
    pub chain_id: u64,
    /// Its genesis block's hash.
    pub genesis: B256,
    /// Who deploys.
    pub deployer: Address,
    /// The new token's arguments (`None`: an existing token).
    pub token: Option<TokenArgs>,
    /// The existing token used instead of a new one.
    pub existing_token: Option<Address>,
    /// The escrow's arguments; the token address is known once the token is.
    pub challenge_period: u64,
    /// The transactions signed, in order.
    pub sent: Vec<Sent>,
}

/// Where the record of `chain_id` lives in `dir`.
pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
    dir.join(format!("{chain_id}.pending.json"))
}

impl Pending {
    /// The record in `dir` for `chain_id`, if there is one.
    pub fn load(dir: &Path, chain_id: u64) -> Result<Option<Self>> {
        let path = path(dir, chain_id);
        let Some(pending) = json_file::read::<Self>(&path)? else {
            return Ok(None);
        };
        if pending.format != FORMAT || pending.chain_id != chain_id {
            return Err(json_file::invalid(
                &path,
                format!("not a {FORMAT} record of chain {chain_id}"),
            ));
        }
        Ok(Some(pending))
    }

    /// A fresh record of a deployment with these parameters.
    pub fn new(
        chain_id: u64,
        genesis: B256,
        deployer: Address,
        token: Option<TokenArgs>,
        existing_token: Option<Address>,
        challenge_period: u64,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            chain_id,
            genesis,
            deployer,
            token,
            existing_token,
            challenge_period,
            sent: Vec::new(),
        }
    }

    /// Whether this record is of the deployment `other` describes (same chain, deployer and
    /// parameters), whatever either has sent.
    pub fn matches(&self, other: &Self) -> bool {
        self.chain_id == other.chain_id
            && self.genesis == other.genesis
            && self.deployer == other.deployer
            && self.token == other.token
            && self.existing_token == other.existing_token
            && self.challenge_period == other.challenge_period
    }

    /// The transaction recorded for `step`, if any.
    pub fn sent(&self, step: Step) -> Option<&Sent> {
        self.sent.iter().find(|s| s.step == step)
    }

    /// Records `sent` for its step (replacing one the chain will never mine) and writes the file.
    pub fn record(&mut self, dir: &Path, sent: Sent) -> Result<()> {
        self.sent.retain(|s| s.step != sent.step);
        self.sent.push(sent);
        self.store(dir)
    }

    /// Writes the record, atomically and durably (a temporary file, synced, renamed over it).
    pub fn store(&self, dir: &Path) -> Result<()> {
        json_file::write(&path(dir, self.chain_id), self)
    }

    /// Removes the record of `chain_id` from `dir` (the deployment is complete, or was abandoned).
    pub fn remove(dir: &Path, chain_id: u64) -> Result<()> {
        let path = path(dir, chain_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::ManifestIo { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Bytes, U256};

    use super::*;

    #[test]
    fn records_round_trip_and_replace_their_step() {
        let dir = tempfile::tempdir().unwrap();
        let token = Some(TokenArgs {
            name: "Piece".into(),
            symbol: "PIECE".into(),
            holder: Address::repeat_byte(1),
            supply: U256::from(5),
        });
        let deployer = Address::repeat_byte(1);
        let mut pending = Pending::new(7, B256::repeat_byte(9), deployer, token.clone(), None, 60);
        let sent = |byte: u8, nonce: u64| Sent {
            step: Step::Token,
            tx: SignedTx {
                hash: B256::repeat_byte(byte),
                nonce,
                raw: Bytes::from(vec![byte]),
            },
            address: deployer.create(nonce),
        };
        pending.record(dir.path(), sent(1, 0)).unwrap();
        pending.record(dir.path(), sent(2, 1)).unwrap();
        let loaded = Pending::load(dir.path(), 7).unwrap().unwrap();
        assert_eq!(loaded, pending);
        assert_eq!(loaded.sent.len(), 1, "one transaction per step");
        assert_eq!(loaded.sent(Step::Token).unwrap().tx.nonce, 1);
        let asked =
            |genesis, token, period| Pending::new(7, genesis, deployer, token, None, period);
        assert!(loaded.matches(&asked(B256::repeat_byte(9), token.clone(), 60)));
        assert!(!loaded.matches(&asked(B256::repeat_byte(8), token.clone(), 60)));
        assert!(!loaded.matches(&asked(B256::repeat_byte(9), None, 60)));
        assert!(!loaded.matches(&asked(B256::repeat_byte(9), token, 61)));
        Pending::remove(dir.path(), 7).unwrap();
        assert_eq!(Pending::load(dir.path(), 7).unwrap(), None);
        assert!(Pending::load(dir.path(), 8).unwrap().is_none());
    }
}
