//! The agent's configuration: one TOML file (or the same struct built in Rust), checked before anything
//! starts. `docs/agent.md` is the reference; the field docs below say the same.
//!
//! Amounts are token base units, written as TOML integers or, above 2^63, decimal strings
//! (`"1000000000000000000000"`). Relative paths are relative to the configuration file.

use std::path::{Path, PathBuf};

use piecepay_protocol::{
    Amount, CreditWindow, MAX_AMOUNT,
    alloy_primitives::Address,
    amount::{DecimalError, parse_decimal},
};
use piecepay_sdk::payee::SettlePolicy;
use serde::{Deserialize, Deserializer, de::Error as _};

use crate::{Error, Result};

/// The default environment variable holding a keystore's password.
pub const DEFAULT_PASSWORD_ENV: &str = "PIECEPAY_WALLET_PASSWORD";

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the account's key comes from.
    pub wallet: WalletConfig,
    /// The chain and the escrow.
    pub chain: ChainConfig,
    /// Relayers, in order of preference.
    #[serde(default)]
    pub relayer: RelayerConfig,
    /// The database.
    pub store: StoreConfig,
    /// Buying: absent, the agent pays for nothing (peers' terms are not answered).
    #[serde(default)]
    pub payer: Option<PayerPolicy>,
    /// Selling: absent, the agent sends no terms and takes no payment (peers get the free share).
    #[serde(default)]
    pub payee: Option<PayeePolicy>,
    /// How often the background work runs.
    #[serde(default)]
    pub timing: TimingConfig,
}

/// `[wallet]`: exactly one of `keystore` and `key_env`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// An encrypted keystore (Web3 Secret Storage: `cast wallet new` / `cast wallet import`, geth).
    pub keystore: Option<PathBuf>,
    /// The environment variable holding the keystore's password; unset, the password is the one the
    /// host passes, or is asked on the terminal when there is one. Default `PIECEPAY_WALLET_PASSWORD`.
    pub password_env: Option<String>,
    /// Instead of a keystore: the environment variable holding the key as 64 hex digits.
    pub key_env: Option<String>,
}

/// `[chain]`: a deployment manifest, or `chain_id` and `escrow`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The deploy tool's manifest (`deploy/deployments/<chainId>.json`): chain id, escrow, token.
    pub manifest: Option<PathBuf>,
    /// The chain id, without a manifest (or to check the manifest's).
    pub chain_id: Option<u64>,
    /// The escrow, without a manifest.
    pub escrow: Option<Address>,
    /// The escrow's token, without a manifest (read from the chain or a relayer when absent).
    pub token: Option<Address>,
    /// A JSON-RPC endpoint. Optional when a relayer is configured: the agent then checks channels with
    /// the relayer and opens, tops up and closes them gaslessly through it; it needs the RPC node for
    /// what only the chain does (deposits, withdrawals, settling or finalizing by itself).
    pub rpc_url: Option<String>,
}

/// `[relayer]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayerConfig {
    /// Base URLs, tried in order.
    pub urls: Vec<String>,
    /// Limit on one request, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for RelayerConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            timeout_ms: 5_000,
        }
    }
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite file (created if missing): channels, receipts, what was paid for which torrent.
    pub path: PathBuf,
}

/// `[payer]`: what the agent pays, and how it funds channels.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayerPolicy {
    /// The most paid per piece: terms above it are refused (not answered with a bid).
    #[serde(deserialize_with = "amount")]
    pub max_price: Amount,
    /// How much a raised bid adds after a choke (default: a tenth of `max_price`, at least 1).
    #[serde(default, deserialize_with = "opt_amount")]
    pub bid_step: Option<Amount>,
    /// The most spent in all, over every torrent; beyond it nothing is signed.
    #[serde(deserialize_with = "amount")]
    pub budget_total: Amount,
    /// The most spent on one torrent (default: `budget_total`).
    #[serde(default, deserialize_with = "opt_amount")]
    pub budget_per_torrent: Option<Amount>,
    /// What a new channel locks from the free balance.
    #[serde(deserialize_with = "amount")]
    pub deposit_per_channel: Amount,
    /// Top a channel up (by `deposit_per_channel`) when its deposit runs out, within the budget.
    #[serde(default = "yes")]
    pub auto_top_up: bool,
    /// The most a relayer may take per gasless operation (open, top-up, close).
    #[serde(default, deserialize_with = "amount")]
    pub max_fee: Amount,
    /// Close a channel cooperatively after this many seconds without a payment (0: never).
    #[serde(default = "idle_close")]
    pub idle_close_s: u64,
    /// Seconds a signed open, top-up or close stays valid.
    #[serde(default = "auth_ttl")]
    pub auth_ttl_s: u64,
}

/// `[payee]`: what the agent charges, and when it settles.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayeePolicy {
    /// The price asked per piece (bids below it are rejected).
    #[serde(deserialize_with = "amount")]
    pub price: Amount,
    /// Pieces served ahead of payment (default 64: it must cover the request pipeline).
    pub credit_pieces: Option<u32>,
    /// Or: value served ahead of payment.
    #[serde(default, deserialize_with = "opt_amount")]
    pub credit_amount: Option<Amount>,
    /// Pieces served to a peer that does not pay (no extension, or no channel yet) before it is choked.
    #[serde(default)]
    pub free_pieces: u64,
    /// When receipts go to a relayer, and when the agent settles on chain itself.
    #[serde(default)]
    pub settle: SettleConfig,
}

/// `[payee.settle]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SettleConfig {
    /// Hand the latest receipt to a relayer once this much value is neither settled nor handed.
    #[serde(deserialize_with = "amount")]
    pub min_value: Amount,
    /// ... or once the oldest such value is this many seconds old.
    pub max_age_s: u64,
    /// A closing channel: hand the receipt to a relayer when its challenge window ends within this.
    pub relayer_margin_s: u64,
    /// A closing channel: settle it on chain itself when the window ends within this and the chain has
    /// not settled it (the relayer may be late or gone).
    pub self_settle_margin_s: u64,
    /// Send again what is still unsettled this many seconds after it was sent.
    pub resend_after_s: u64,
    /// When no relayer answers: settle on chain itself once this much is unsettled (worth the gas).
    /// Absent: only before a close deadline.
    #[serde(deserialize_with = "opt_amount")]
    pub self_settle_min_value: Option<Amount>,
}

impl Default for SettleConfig {
    fn default() -> Self {
        Self {
            min_value: 1,
            max_age_s: 3_600,
            relayer_margin_s: 6 * 3_600,
            self_settle_margin_s: 3_600,
            resend_after_s: 900,
            self_settle_min_value: None,
        }
    }
}

/// `[timing]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingConfig {
    /// How often channels are read from the chain (or a relayer), in milliseconds.
    pub chain_poll_ms: u64,
    /// How often settlement, held receipts, idle channels and snapshots are looked at, in milliseconds.
    pub tick_ms: u64,
    /// How long a peer's claimed channel is looked for on chain before it is refused, in seconds (an
    /// open may take a few blocks to show).
    pub channel_check_s: u64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        Self {
            chain_poll_ms: 5_000,
            tick_ms: 1_000,
            channel_check_s: 60,
        }
    }
}

const fn yes() -> bool {
    true
}

const fn idle_close() -> u64 {
    600
}

const fn auth_ttl() -> u64 {
    600
}

impl AgentConfig {
    /// Reads and checks the file at `path`; relative paths in it become relative to its directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::config(Some(path), format!("cannot read it: {e}")))?;
        let mut config: Self =
            toml::from_str(&text).map_err(|e| Error::config(Some(path), e.message().to_owned()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.rebase(base);
        config
            .validate()
            .map_err(|reason| Error::config(Some(path), reason))?;
        Ok(config)
    }

    /// Makes relative paths relative to `base`.
    pub fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = &mut self.wallet.keystore {
            join(p);
        }
        if let Some(p) = &mut self.chain.manifest {
            join(p);
        }
        join(&mut self.store.path);
    }

    /// Checks what can be checked without IO; the reason names the key.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.wallet.keystore, &self.wallet.key_env) {
            (None, None) => return Err("wallet: set keystore or key_env".into()),
            (Some(_), Some(_)) => return Err("wallet: set keystore or key_env, not both".into()),
            _ => {}
        }
        if self.chain.manifest.is_none()
            && (self.chain.chain_id.is_none() || self.chain.escrow.is_none())
        {
            return Err("chain: set manifest, or chain_id and escrow".into());
        }
        if self.chain.rpc_url.is_none() && self.relayer.urls.is_empty() {
            return Err(
                "chain.rpc_url: required when no relayer is configured (channels are checked on chain)"
                    .into(),
            );
        }
        if self.relayer.timeout_ms == 0 {
            return Err("relayer.timeout_ms must be positive".into());
        }
        if self.payer.is_none() && self.payee.is_none() {
            return Err(
                "set [payer], [payee] or both: an agent that neither buys nor sells does nothing"
                    .into(),
            );
        }
        if let Some(payer) = &self.payer {
            payer.validate()?;
        }
        if let Some(payee) = &self.payee {
            payee.validate()?;
        }
        if self.timing.chain_poll_ms == 0 || self.timing.tick_ms == 0 {
            return Err("timing: poll intervals must be positive".into());
        }
        Ok(())
    }
}

impl PayerPolicy {
    /// The bid step in force.
    pub fn bid_step(&self) -> Amount {
        self.bid_step.unwrap_or((self.max_price / 10).max(1))
    }

    /// The per-torrent budget in force.
    pub fn budget_per_torrent(&self) -> Amount {
        self.budget_per_torrent.unwrap_or(self.budget_total)
    }

    fn validate(&self) -> Result<(), String> {
        if self.max_price == 0 || self.max_price > MAX_AMOUNT {
            return Err("payer.max_price must be positive and within uint96".into());
        }
        if self.bid_step() == 0 {
            return Err("payer.bid_step must be positive".into());
        }
        if self.deposit_per_channel == 0 || self.deposit_per_channel > MAX_AMOUNT {
            return Err("payer.deposit_per_channel must be positive and within uint96".into());
        }
        if self.deposit_per_channel < self.max_price {
            return Err(
                "payer.deposit_per_channel must cover at least one piece at max_price".into(),
            );
        }
        if self.max_fee > MAX_AMOUNT {
            return Err("payer.max_fee exceeds uint96".into());
        }
        if self.auth_ttl_s == 0 {
            return Err("payer.auth_ttl_s must be positive".into());
        }
        Ok(())
    }
}

impl PayeePolicy {
    /// The credit window in force.
    pub fn credit(&self) -> CreditWindow {
        match (self.credit_pieces, self.credit_amount) {
            (_, Some(amount)) => CreditWindow::Amount(amount),
            (Some(pieces), None) => CreditWindow::Pieces(pieces),
            (None, None) => CreditWindow::Pieces(64),
        }
    }

    /// The SDK's settlement policy.
    pub fn settle_policy(&self) -> SettlePolicy {
        SettlePolicy {
            min_value: self.settle.min_value,
            max_age: self.settle.max_age_s,
            relayer_margin: self.settle.relayer_margin_s,
            self_settle_margin: self.settle.self_settle_margin_s,
            resend_after: self.settle.resend_after_s,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.credit_pieces.is_some() && self.credit_amount.is_some() {
            return Err("payee: set credit_pieces or credit_amount, not both".into());
        }
        piecepay_sdk::PayeePolicy {
            min_price: self.price,
            credit: self.credit(),
        }
        .validate()
        .map_err(|e| format!("payee.price / credit: {e}"))?;
        self.settle_policy()
            .validate()
            .map_err(|e| format!("payee.settle: {e}"))
    }
}

/// An amount: a TOML integer or a canonical decimal string.
fn amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Int(n) => Ok(Amount::from(n)),
        Raw::Text(text) => parse_decimal(&text).map_err(|e| {
            D::Error::custom(match e {
                DecimalError::NotCanonical => format!("{text:?} is not a decimal amount"),
                DecimalError::TooLarge => format!("{text:?} exceeds uint128"),
            })
        }),
    }
}

fn opt_amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Amount>, D::Error> {
    amount(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [wallet]
        key_env = "KEY"
        [chain]
        chain_id = 31337
        escrow = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
        rpc_url = "http://127.0.0.1:8545"
        [store]
        path = "agent.sqlite"
        [payee]
        price = 1000
    "#;

    fn parse(text: &str) -> Result<AgentConfig, String> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn a_minimal_seller() {
        let config = parse(MINIMAL).unwrap();
        let payee = config.payee.unwrap();
        assert_eq!(payee.credit(), CreditWindow::Pieces(64));
        assert_eq!(payee.free_pieces, 0);
        assert!(config.payer.is_none());
        assert_eq!(config.timing.tick_ms, 1_000);
    }

    #[test]
    fn amounts_are_integers_or_decimal_strings() {
        let text = format!(
            "{MINIMAL}\n[payer]\nmax_price = \"1000000000000000000000\"\nbudget_total = 5\n\
             deposit_per_channel = \"2000000000000000000000\"\nmax_fee = 0\n"
        );
        let payer = parse(&text).unwrap().payer.unwrap();
        assert_eq!(payer.max_price, 10u128.pow(21));
        assert_eq!(payer.bid_step(), 10u128.pow(20));
        assert_eq!(payer.budget_per_torrent(), 5);
        let bad = format!(
            "{MINIMAL}\n[payer]\nmax_price = \"1e3\"\nbudget_total = 5\ndeposit_per_channel = 9\n"
        );
        assert!(parse(&bad).unwrap_err().contains("not a decimal amount"));
    }

    #[test]
    fn every_mistake_names_its_key() {
        for (text, key) in [
            (MINIMAL.replace("key_env = \"KEY\"", ""), "wallet"),
            (MINIMAL.replace("chain_id = 31337", ""), "chain"),
            (
                MINIMAL.replace("rpc_url = \"http://127.0.0.1:8545\"", ""),
                "chain.rpc_url",
            ),
            (MINIMAL.replace("price = 1000", "price = 0"), "payee.price"),
            (
                MINIMAL.replace("[payee]\n        price = 1000", ""),
                "[payer], [payee]",
            ),
            (
                format!("{MINIMAL}\ncredit_pieces = 2\ncredit_amount = 5"),
                "not both",
            ),
            (format!("{MINIMAL}\nfree = 2"), "unknown field"),
        ] {
            let error = parse(&text).unwrap_err();
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let mut config: AgentConfig = toml::from_str(MINIMAL).unwrap();
        config.rebase(Path::new("/etc/piecepay"));
        assert_eq!(
            config.store.path,
            PathBuf::from("/etc/piecepay/agent.sqlite")
        );
    }
}
