//! The deployer's key: a hex private key from an environment variable, or an encrypted JSON keystore
//! (Web3 Secret Storage, as written by `cast wallet import` or geth) with its password from an environment
//! variable or a terminal prompt. The key itself is never printed or logged.

use std::{io::IsTerminal, path::PathBuf};

use alloy::{primitives::B256, signers::local::PrivateKeySigner};

use crate::{Error, Result};

/// The default environment variable holding the deployer's hex private key.
pub const KEY_ENV: &str = "PIECEPAY_DEPLOYER_KEY";
/// The default environment variable holding a keystore's password.
pub const PASSWORD_ENV: &str = "PIECEPAY_KEYSTORE_PASSWORD";

/// Where the deployer's key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A hex private key (`0x`-prefixed or not) in this environment variable.
    Env(String),
    /// An encrypted keystore file.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// The environment variable with its password; when unset, the password is asked on the terminal.
        password_env: String,
    },
}

impl KeySource {
    /// Loads the signer. Decrypting a keystore takes a moment (scrypt) and may prompt for a password.
    pub fn load(&self) -> Result<PrivateKeySigner> {
        match self {
            Self::Env(var) => {
                let value = std::env::var(var).map_err(|e| match e {
                    std::env::VarError::NotPresent => Error::KeyMissing { env: var.clone() },
                    std::env::VarError::NotUnicode(_) => Error::KeyInvalid {
                        source_name: var.clone(),
                        reason: "not UTF-8".into(),
                    },
                })?;
                parse_key(value.trim()).map_err(|reason| Error::KeyInvalid {
                    source_name: var.clone(),
                    reason,
                })
            }
            Self::Keystore { path, password_env } => {
                let keystore_err = |reason: String| Error::Keystore {
                    path: path.clone(),
                    reason,
                };
                if !path.is_file() {
                    return Err(keystore_err("no such file".into()));
                }
                let password = match std::env::var(password_env) {
                    Ok(password) => password,
                    // Prompting without a terminal on stdin would block a script or CI on /dev/tty.
                    Err(_) if !std::io::stdin().is_terminal() => {
                        return Err(keystore_err(format!(
                            "no password: {password_env} is unset and stdin is not a terminal to ask on"
                        )));
                    }
                    Err(_) => rpassword::prompt_password(format!(
                        "password for keystore {}: ",
                        path.display()
                    ))
                    .map_err(|e| {
                        keystore_err(format!(
                            "no password: {password_env} is unset and the terminal prompt failed ({e})"
                        ))
                    })?,
                };
                PrivateKeySigner::decrypt_keystore(path, password)
                    .map_err(|e| keystore_err(e.to_string()))
            }
        }
    }
}

/// A signer from raw key bytes (the devnet's anvil keys).
pub fn from_bytes(key: &B256) -> Result<PrivateKeySigner> {
    PrivateKeySigner::from_bytes(key).map_err(|_| Error::KeyInvalid {
        source_name: "a devnet account".into(),
        reason: "not a valid secp256k1 private key".into(),
    })
}

/// A signer from a hex private key; the error never contains the key.
pub fn parse_key(hex: &str) -> Result<PrivateKeySigner, String> {
    let digits = hex.strip_prefix("0x").unwrap_or(hex);
    if digits.len() != 64 {
        return Err(format!(
            "expected 32 bytes as 64 hex digits, got {} characters",
            digits.len()
        ));
    }
    let bytes: B256 = digits.parse().map_err(|_| "not hexadecimal".to_string())?;
    PrivateKeySigner::from_bytes(&bytes).map_err(|_| "not a valid secp256k1 private key".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_or_without_prefix() {
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let a = parse_key(key).unwrap();
        let b = parse_key(&format!("0x{key}")).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(
            a.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in [
            "",
            "0x12",
            &"zz".repeat(32),
            &"00".repeat(32),
            &"ff".repeat(32),
        ] {
            let reason = parse_key(bad).unwrap_err();
            assert!(bad.len() < 8 || !reason.contains(bad), "{reason}");
        }
    }

    #[test]
    fn missing_sources_are_clear() {
        let var = "PIECEPAY_DEPLOY_TEST_SURELY_UNSET";
        let err = KeySource::Env(var.into()).load().unwrap_err();
        assert_eq!(err.code(), "key_missing");
        assert!(err.to_string().contains(var));
        let err = KeySource::Keystore {
            path: "/nonexistent/keystore".into(),
            password_env: var.into(),
        }
        .load()
        .unwrap_err();
        assert_eq!(err.code(), "keystore");
    }
}
