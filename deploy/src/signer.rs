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
    /// Refuses variable names that are not names — a key pasted where the variable's name belongs, above
    /// all — without repeating them.
    pub fn check(&self) -> Result<()> {
        let (flag, name) = match self {
            Self::Env(name) => ("--key-env", name),
            Self::Keystore { password_env, .. } => ("--password-env", password_env),
        };
        // 64 hex digits may spell a valid name ("ac09…"), but nobody names a variable that way.
        let looks_like_a_key = {
            let digits = name.strip_prefix("0x").unwrap_or(name);
            digits.len() >= 32 && digits.bytes().all(|b| b.is_ascii_hexdigit())
        };
        if is_variable_name(name) && !looks_like_a_key {
            return Ok(());
        }
        Err(Error::InvalidInput(if looks_like_a_key {
            format!(
                "{flag} takes the NAME of the environment variable holding the secret (e.g. {KEY_ENV}), \
                 not the secret itself; what was given is not shown. Put the key in that variable"
            )
        } else {
            format!(
                "{flag}: not an environment variable name (letters, digits and _, not starting with a digit); what was given is not shown"
            )
        }))
    }

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

/// Whether `name` can name an environment variable: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
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
    fn a_key_given_as_the_variable_name_is_refused_unseen() {
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        for given in [key, &key[2..]] {
            let error = KeySource::Env(given.into()).check().unwrap_err();
            assert_eq!(error.code(), "invalid_input");
            let text = error.to_string();
            assert!(
                text.contains("NAME") && !text.contains(&key[6..20]),
                "{text}"
            );
        }
        let error = KeySource::Env("not a name".into()).check().unwrap_err();
        assert!(!error.to_string().contains("not a name"));
        KeySource::Env(KEY_ENV.into()).check().unwrap();
        KeySource::Env("_X9".into()).check().unwrap();
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
