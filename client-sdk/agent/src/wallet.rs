//! The account's key: an encrypted keystore (Foundry/Ethereum Web3 Secret Storage) unlocked with a
//! password from the host, an environment variable or the terminal — or a hex key in an environment
//! variable. The key is never logged or reported.
//!
//! **Bounding what a compromised machine can lose.** The key a torrent client holds needs no tokens of
//! its own: another wallet (cold, or a hardware wallet) funds its free balance in the escrow with
//! `deposit(account, amount)`, and the agent opens channels from that balance gaslessly through a
//! relayer. Whoever steals the client key can spend at most that balance and the channels' unspent
//! deposits; the funding wallet's tokens are out of reach (`docs/agent.md`, "Wallet").

use std::{io::IsTerminal, path::Path};

use alloy::signers::local::PrivateKeySigner;
use piecepay_protocol::{SigningKey, alloy_primitives::B256};

use crate::{Error, Result, config::WalletConfig};

/// The account's secret key (32 bytes), kept only to build the signers; never printed.
#[derive(Clone)]
pub struct SecretKey(B256);

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// The key from 32 bytes (for Rust hosts that hold their own).
    pub fn from_bytes(bytes: B256) -> Result<Self> {
        SigningKey::from_bytes(&bytes).map_err(|e| Error::Wallet(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The bytes.
    pub(crate) const fn bytes(&self) -> &B256 {
        &self.0
    }

    /// The message signer.
    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.0).expect("checked when loaded")
    }
}

/// Loads the key `config` names. `password` is what the host passes for a keystore (Deluge asks its user
/// once over RPC); without it the `password_env` variable, then the terminal, are asked.
pub fn load(config: &WalletConfig, password: Option<&str>) -> Result<SecretKey> {
    match (&config.keystore, &config.key_env) {
        (Some(path), _) => {
            let var = config
                .password_env
                .as_deref()
                .unwrap_or(crate::config::DEFAULT_PASSWORD_ENV);
            let password = match password {
                Some(password) => password.to_owned(),
                None => password_from(var, path)?,
            };
            let signer = PrivateKeySigner::decrypt_keystore(path, password)
                .map_err(|e| Error::Wallet(format!("keystore {}: {e}", path.display())))?;
            SecretKey::from_bytes(signer.to_bytes())
        }
        (None, Some(var)) => {
            let value = std::env::var(var)
                .map_err(|_| Error::Wallet(format!("the key variable {var} is not set")))?;
            let digits = value.trim();
            let digits = digits.strip_prefix("0x").unwrap_or(digits);
            let bytes: B256 = digits.parse().map_err(|_| {
                Error::Wallet(format!("{var} does not hold a key: expected 64 hex digits"))
            })?;
            SecretKey::from_bytes(bytes)
        }
        (None, None) => Err(Error::Wallet(
            "no keystore and no key_env configured".into(),
        )),
    }
}

fn password_from(var: &str, path: &Path) -> Result<String> {
    if !path.is_file() {
        return Err(Error::Wallet(format!(
            "keystore {}: no such file",
            path.display()
        )));
    }
    if let Ok(password) = std::env::var(var) {
        return Ok(password);
    }
    // A daemon or a test has no terminal: asking would block it on /dev/tty.
    if !std::io::stdin().is_terminal() {
        return Err(Error::Wallet(format!(
            "keystore {}: no password ({var} is unset, the host passed none, and there is no terminal to ask on)",
            path.display()
        )));
    }
    rpassword::prompt_password(format!("password for {}: ", path.display())).map_err(|e| {
        Error::Wallet(format!(
            "keystore {}: the password prompt failed: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keystore_unlocks_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = B256::repeat_byte(0x42);
        let mut rng = rand::thread_rng();
        PrivateKeySigner::encrypt_keystore(
            dir.path(),
            &mut rng,
            key,
            "correct horse",
            Some("wallet.json"),
        )
        .unwrap();
        let config = WalletConfig {
            keystore: Some(dir.path().join("wallet.json")),
            password_env: Some("PIECEPAY_TEST_UNSET_PASSWORD".into()),
            key_env: None,
        };
        let loaded = load(&config, Some("correct horse")).unwrap();
        assert_eq!(loaded.bytes(), &key);
        let wrong = load(&config, Some("battery staple")).unwrap_err();
        assert_eq!(wrong.code(), "wallet");
        let missing = WalletConfig {
            keystore: Some(dir.path().join("nope.json")),
            ..config
        };
        assert!(
            load(&missing, None)
                .unwrap_err()
                .to_string()
                .contains("no such file")
        );
    }

    #[test]
    fn a_key_variable_that_is_unset_or_not_a_key_is_named() {
        let config = WalletConfig {
            keystore: None,
            password_env: None,
            key_env: Some("PIECEPAY_TEST_NO_SUCH_KEY".into()),
        };
        let error = load(&config, None).unwrap_err().to_string();
        assert!(error.contains("PIECEPAY_TEST_NO_SUCH_KEY"), "{error}");
        assert!(
            format!("{:?}", SecretKey::from_bytes(B256::repeat_byte(1)).unwrap()).contains('…')
        );
    }
}
