//! The relayer's configuration: one TOML file, then environment overrides, then validation.
//!
//! Every key has a default except the chain's identity (`chain.chain_id` and `chain.escrow`, given
//! directly or through a deployment manifest). `docs/relayer.md` is the reference; the field docs below
//! are the same text.
//!
//! **Paths** (`chain.manifest`, `signer.key_file`, `tls.ca_file`, a relative `sqlite://` file) are
//! relative to the directory of the configuration file, not to wherever the node was started from.
//! Validation checks every value before anything connects, and says which key is wrong and why.
//!
//! **Environment overrides.** `PIECEPAY_RELAYER__<SECTION>__<KEY>=value` sets `<section>.<key>`
//! (case-insensitive, `__` between levels), e.g. `PIECEPAY_RELAYER__DATABASE__URL=postgres://…`. The value
//! is read as a TOML value when it parses as one (`8`, `true`, `"x"`), else as a string. The signer key
//! is never in the file: `signer.key_file` names a file holding it, or the variable named by
//! `signer.key_env` (default `PIECEPAY_RELAYER_KEY`) holds it, as 64 hex digits with or without `0x`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use piecepay_protocol::{
    SigningKey,
    alloy_primitives::{Address, B256},
    relayer_api::{
        self, Limits, MAX_BODY_BYTES, MAX_OPERATIONS_PER_REQUEST, MAX_RECEIPTS_PER_REQUEST, MinFees,
    },
};
use piecepay_relayer_chain::{
    FeePolicy,
    rpc::{self, Url},
};
use reqwest::Certificate;
use serde::Deserialize;
use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

use crate::{Error, Result};

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "PIECEPAY_RELAYER__";

/// The default variable holding the signer key.
pub const DEFAULT_KEY_ENV: &str = "PIECEPAY_RELAYER_KEY";

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The chain, the escrow and how to follow it.
    pub chain: ChainConfig,
    /// Where the submitting key comes from.
    pub signer: SignerConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// The HTTP API.
    pub api: ApiConfig,
    /// Fees charged for gasless operations and settlement.
    pub fees: FeeConfig,
    /// When to settle.
    pub batch: BatchConfig,
    /// Receipt ingest tuning.
    pub ingest: IngestConfig,
    /// Extra trust for outbound TLS.
    pub tls: TlsConfig,
}

/// `[tls]`: outbound connections (the RPC endpoint over `https://`, PostgreSQL with `sslmode`) trust the
/// platform's root certificates, and these.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// A PEM file of extra root certificates (a private CA of the endpoint or the database). For
    /// PostgreSQL it is the `sslrootcert` unless the URL names one.
    pub ca_file: Option<PathBuf>,
}

/// `[chain]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// JSON-RPC endpoint. Absent: an API-only node that indexes and submits nothing (another node, the
    /// leader, does).
    pub rpc_url: Option<String>,
    /// The chain id of the escrow's EIP-712 domain (or from the manifest).
    pub chain_id: Option<u64>,
    /// The escrow's address (or from the manifest).
    pub escrow: Option<String>,
    /// The escrow's token, reported by `/v1/info` (or from the manifest).
    pub token: Option<String>,
    /// A deployment manifest (`deploy/deployments/<chainId>.json`) to read `escrow`, `token`,
    /// `chain_id` and the deployment block from; explicit keys above win.
    pub manifest: Option<PathBuf>,
    /// First block to index when the database has no cursor yet (or the manifest's deployment block).
    pub start_block: Option<u64>,
    /// Blocks behind the head at which the indexer treats events as final.
    pub confirmations: u64,
    /// How often the indexer and the batcher look at the chain, in milliseconds.
    pub poll_interval_ms: u64,
    /// How often the node reads the head, the gas price and its signer's balance (readiness, metrics,
    /// whether it can pay), in milliseconds.
    pub monitor_interval_ms: u64,
    /// The most the node ever pays per gas, in wei (decimal string): the cap of `maxFeePerGas` on an
    /// EIP-1559 chain and of `gasPrice` on a legacy one; replacements stop there.
    pub max_gas_price: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            rpc_url: None,
            chain_id: None,
            escrow: None,
            token: None,
            manifest: None,
            start_block: None,
            confirmations: 2,
            poll_interval_ms: 1_000,
            monitor_interval_ms: 5_000,
            max_gas_price: DEFAULT_MAX_GAS_PRICE.to_owned(),
        }
    }
}

/// `[signer]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignerConfig {
    /// A file holding the key (64 hex digits, optional `0x`, surrounding whitespace ignored).
    pub key_file: Option<PathBuf>,
    /// The environment variable holding the key when there is no `key_file`.
    pub key_env: String,
    /// Below this balance (wei, decimal string) the node warns that its signer needs funds: in its log,
    /// and as `piecepay_signer_balance_warn_wei` for alerts. Independent of it, gasless operations are
    /// refused while the balance cannot pay for one full settlement batch.
    pub warn_balance: String,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            key_env: DEFAULT_KEY_ENV.to_owned(),
            warn_balance: DEFAULT_WARN_BALANCE.to_owned(),
        }
    }
}

/// `signer.warn_balance` when none is given: 0.05 of the chain's coin (about 20 full settlement batches
/// at 1 gwei).
pub const DEFAULT_WARN_BALANCE: &str = "50000000000000000";

/// `chain.max_gas_price` when none is given: 500 gwei, the submitter's own default cap.
pub const DEFAULT_MAX_GAS_PRICE: &str = "500000000000";

/// `[database]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (created if missing; relative to the configuration file) or
    /// `postgres://user@host:port/db` (`?sslmode=verify-full` and the like for TLS).
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://relayer.db".to_owned(),
            max_connections: 8,
        }
    }
}

/// `[api]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Longest a request may take before it is answered 503 `timeout`, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes (at most the v1 limit, 1 MiB).
    pub max_body_bytes: usize,
    /// Most receipts per request (at most 1,000).
    pub max_receipts_per_request: usize,
    /// Most operations per request (at most 100).
    pub max_operations_per_request: usize,
    /// Sustained requests per second per client address; 0 turns rate limiting off.
    pub rate_limit_per_second: u32,
    /// Requests a client may send at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// `/readyz` fails once the indexer (run by whichever node leads) was last seen caught up with the
    /// chain longer ago than this, in seconds: receipts are checked against the channels it indexes.
    pub ready_indexer_max_age_s: u64,
    /// Most connections open at once; past it a new one gets 503 `unavailable` and is closed.
    pub max_connections: usize,
    /// A client that began a request and has not sent its whole head within this is disconnected, in
    /// milliseconds (slow-header attacks).
    pub header_read_timeout_ms: u64,
    /// A connection with no request in progress and no traffic for this long is closed, in
    /// milliseconds.
    pub idle_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 10_000,
            max_body_bytes: MAX_BODY_BYTES,
            max_receipts_per_request: MAX_RECEIPTS_PER_REQUEST,
            max_operations_per_request: MAX_OPERATIONS_PER_REQUEST,
            rate_limit_per_second: 200,
            rate_limit_burst: 400,
            ready_indexer_max_age_s: 60,
            max_connections: 1_024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
        }
    }
}

impl ApiConfig {
    /// The request timeout.
    pub const fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The HTTP edge's limits.
    pub const fn edge(&self) -> crate::api::edge::Limits {
        crate::api::edge::Limits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }

    /// The limits as `/v1/info` reports them.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes as u64,
            max_receipts_per_request: self.max_receipts_per_request as u32,
            max_operations_per_request: self.max_operations_per_request as u32,
        }
    }
}

/// `[fees]`: amounts are decimal strings of token base units.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeeConfig {
    /// The settlement fee claimed, in basis points of what a settlement credits a payee.
    pub settle_fee_bps: u16,
    /// Minimum fee of an `open`.
    pub min_open: String,
    /// Minimum fee of a `top_up`.
    pub min_top_up: String,
    /// Minimum fee of a `request_close`.
    pub min_request_close: String,
    /// Minimum fee of a `withdraw`.
    pub min_withdraw: String,
    /// Minimum fee of a `cooperative_close`.
    pub min_cooperative_close: String,
    /// Seconds an operation's deadline must leave for the relayer to get it mined.
    pub inclusion_margin_s: u64,
}

impl Default for FeeConfig {
    fn default() -> Self {
        Self {
            settle_fee_bps: 0,
            min_open: "0".to_owned(),
            min_top_up: "0".to_owned(),
            min_request_close: "0".to_owned(),
            min_withdraw: "0".to_owned(),
            min_cooperative_close: "0".to_owned(),
            inclusion_margin_s: 60,
        }
    }
}

/// `[batch]`: when the batcher settles a channel (any condition suffices) and when it holds back.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Settle a channel once its unsettled value reaches this (decimal token base units).
    pub value_threshold: String,
    /// Settle a channel whose oldest unsettled receipt is this old, in seconds.
    pub max_age_s: u64,
    /// Watchtower: settle a closing channel once its challenge window ends within this many seconds.
    pub close_margin_s: u64,
    /// Skip (for now) a settlement whose gas would cost more than this share of its value, in basis
    /// points. Close deadlines override it: value that would be lost is settled at any cost.
    pub max_gas_share_bps: u32,
    /// Token base units one wei of gas is worth, for the rule above (0: gas is free, never skip).
    pub token_per_wei: f64,
    /// Most receipts per `settleBatch` transaction.
    pub max_receipts: usize,
    /// How often the batcher looks for work, in milliseconds.
    pub interval_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            value_threshold: "1000000000000000000".to_owned(),
            max_age_s: 3_600,
            close_margin_s: 1_800,
            max_gas_share_bps: 1_000,
            token_per_wei: 0.0,
            max_receipts: 200,
            interval_ms: 2_000,
        }
    }
}

/// `[ingest]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Most receipts one group commit writes.
    pub max_commit_receipts: usize,
    /// Threads verifying signatures (0: one per core).
    pub verify_threads: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_commit_receipts: 8_192,
            verify_threads: 0,
        }
    }
}

/// What the relayer runs with once the file, the environment and the manifest are resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The configuration as given.
    pub config: Config,
    /// The chain id.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The token (zero when unknown).
    pub token: Address,
    /// First block to index.
    pub start_block: u64,
    /// The signer, if one is configured.
    pub signer: Option<SigningKey>,
    /// The same key for the chain side's transaction signer (its `Debug` shows no key material).
    pub submitter_key: Option<SubmitterKey>,
    /// Minimum operation fees, parsed.
    pub min_fees: MinFees,
    /// The batcher's value threshold, parsed.
    pub value_threshold: u128,
    /// `chain.rpc_url`, checked.
    pub rpc_url: Option<Url>,
    /// `tls.ca_file`'s certificates (empty without one).
    pub extra_roots: Vec<Certificate>,
    /// `signer.warn_balance`, parsed.
    pub warn_balance: u128,
    /// `chain.max_gas_price`, parsed and checked against the submitter's fee policy.
    pub max_gas_price: u128,
}

impl Config {
    /// Reads `path`, applies the environment overrides in `env` (pass `std::env::vars()`), and makes the
    /// relative paths in it relative to `path`'s directory.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut config = Self::from_toml(&text, env)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), strip(&e))))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        config.relative_to(&dir);
        Ok(config)
    }

    /// Makes the relative paths of the configuration relative to `dir`.
    pub fn relative_to(&mut self, dir: &Path) {
        let join = |path: &mut Option<PathBuf>| {
            if let Some(p) = path.as_mut()
                && p.is_relative()
            {
                *p = dir.join(&*p);
            }
        };
        join(&mut self.chain.manifest);
        join(&mut self.signer.key_file);
        join(&mut self.tls.ca_file);
        self.database.url = sqlite_relative_to(&self.database.url, dir);
    }

    /// Parses TOML text and applies the environment overrides in `env`.
    pub fn from_toml(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(format!("invalid TOML: {e}")))?;
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut table, &keys, parse_env_value(&value))
                .map_err(|why| Error::Config(format!("{name}: {why}")))?;
        }
        table
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config(e.to_string()))
    }

    /// Resolves the manifest, the signer key and the amounts; `env_var` looks up the key variable.
    pub fn resolve(self, env_var: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let mut settings = self.resolve_without_signer()?;
        if let Some((key, secret)) = load_key(&settings.config.signer, env_var)? {
            settings.signer = Some(key);
            settings.submitter_key = Some(SubmitterKey(secret));
        }
        if settings.rpc_url.is_some() && settings.signer.is_none() {
            return Err(Error::Config(format!(
                "a node with chain.rpc_url submits transactions: set signer.key_file or {}",
                settings.config.signer.key_env
            )));
        }
        Ok(settings)
    }

    /// [`resolve`](Self::resolve) without loading the signer key: every other value checked (what
    /// `migrate` needs).
    pub fn resolve_without_signer(self) -> Result<Settings> {
        let manifest = match &self.chain.manifest {
            Some(path) => Some(Manifest::read(path)?),
            None => None,
        };
        let from_manifest = |f: fn(&Manifest) -> Option<String>| manifest.as_ref().and_then(f);
        let chain_id = self
            .chain
            .chain_id
            .or_else(|| manifest.as_ref().and_then(|m| m.chain_id))
            .ok_or_else(|| {
                Error::Config("chain.chain_id is required (or chain.manifest)".into())
            })?;
        let escrow_text = self
            .chain
            .escrow
            .clone()
            .or_else(|| from_manifest(|m| m.escrow.clone()))
            .ok_or_else(|| Error::Config("chain.escrow is required (or chain.manifest)".into()))?;
        let escrow = config_address("chain.escrow", &escrow_text)?;
        if escrow.is_zero() {
            return Err(Error::Config(
                "chain.escrow must not be the zero address".into(),
            ));
        }
        let token = match self
            .chain
            .token
            .clone()
            .or_else(|| from_manifest(|m| m.token.clone()))
        {
            Some(text) => config_address("chain.token", &text)?,
            None => Address::ZERO,
        };
        let start_block = self
            .chain
            .start_block
            .or_else(|| manifest.as_ref().and_then(|m| m.deployment_block))
            .unwrap_or(0);
        let rpc_url = self
            .chain
            .rpc_url
            .as_deref()
            .map(|text| {
                rpc::parse_url(text).map_err(|why| Error::Config(format!("chain.rpc_url: {why}")))
            })
            .transpose()?;
        check_database_url(&self.database.url)?;
        let extra_roots = match &self.tls.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| Error::Config(format!("tls.ca_file {}: {e}", path.display())))?;
                rpc::root_certificates(&pem).map_err(|why| {
                    Error::Config(format!("tls.ca_file {}: {why}", path.display()))
                })?
            }
            None => Vec::new(),
        };
        let amount = |name: &str, value: &str| {
            relayer_api::parse_decimal(name, value).map_err(|e| Error::Config(e.message))
        };
        let min_fees = MinFees {
            open: amount("fees.min_open", &self.fees.min_open)?,
            top_up: amount("fees.min_top_up", &self.fees.min_top_up)?,
            request_close: amount("fees.min_request_close", &self.fees.min_request_close)?,
            withdraw: amount("fees.min_withdraw", &self.fees.min_withdraw)?,
            cooperative_close: amount(
                "fees.min_cooperative_close",
                &self.fees.min_cooperative_close,
            )?,
        };
        let value_threshold = amount("batch.value_threshold", &self.batch.value_threshold)?;
        let warn_balance = amount("signer.warn_balance", &self.signer.warn_balance)?;
        let max_gas_price = amount("chain.max_gas_price", &self.chain.max_gas_price)?;
        let floor = FeePolicy::default().min_priority_fee;
        if max_gas_price < floor {
            return Err(Error::Config(format!(
                "chain.max_gas_price {max_gas_price} wei is below the lowest tip the submitter offers \
                 ({floor} wei): no transaction could be priced under it"
            )));
        }
        self.check_limits()?;
        Ok(Settings {
            config: self,
            chain_id,
            escrow,
            token,
            start_block,
            signer: None,
            submitter_key: None,
            min_fees,
            value_threshold,
            rpc_url,
            extra_roots,
            warn_balance,
            max_gas_price,
        })
    }

    fn check_limits(&self) -> Result<()> {
        let api = &self.api;
        let within = |name: &str, value: usize, max: usize| {
            if value == 0 || value > max {
                return Err(Error::Config(format!(
                    "api.{name} must be between 1 and {max}"
                )));
            }
            Ok(())
        };
        within("max_body_bytes", api.max_body_bytes, MAX_BODY_BYTES)?;
        within(
            "max_receipts_per_request",
            api.max_receipts_per_request,
            MAX_RECEIPTS_PER_REQUEST,
        )?;
        within(
            "max_operations_per_request",
            api.max_operations_per_request,
            MAX_OPERATIONS_PER_REQUEST,
        )?;
        if self.chain.poll_interval_ms == 0 || self.chain.monitor_interval_ms == 0 {
            return Err(Error::Config(
                "chain.poll_interval_ms and chain.monitor_interval_ms must be positive".into(),
            ));
        }
        for (name, value) in [
            ("request_timeout_ms", api.request_timeout_ms),
            ("header_read_timeout_ms", api.header_read_timeout_ms),
            ("idle_timeout_ms", api.idle_timeout_ms),
            ("max_connections", api.max_connections as u64),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("api.{name} must be positive")));
            }
        }
        if self.fees.settle_fee_bps > relayer_api::MAX_FEE_CAP_BPS {
            return Err(Error::Config(
                "fees.settle_fee_bps must be at most 10000".into(),
            ));
        }
        if self.batch.max_receipts == 0 {
            return Err(Error::Config("batch.max_receipts must be positive".into()));
        }
        if !(self.batch.token_per_wei >= 0.0 && self.batch.token_per_wei.is_finite()) {
            return Err(Error::Config(
                "batch.token_per_wei must be a finite number ≥ 0".into(),
            ));
        }
        Ok(())
    }
}

fn config_address(name: &str, text: &str) -> Result<Address> {
    relayer_api::parse_address(name, text).map_err(|e| Error::Config(e.message))
}

/// `Error::Config`'s message without its prefix, to put the file's name in front of it.
fn strip(error: &Error) -> String {
    match error {
        Error::Config(message) => message.clone(),
        other => other.to_string(),
    }
}

/// `url` with a relative SQLite file made relative to `dir` (other URLs as they are).
fn sqlite_relative_to(url: &str, dir: &Path) -> String {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return url.to_owned();
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (file, query) = match rest.split_once('?') {
        Some((file, query)) => (file, Some(query)),
        None => (rest, None),
    };
    if file.is_empty() || file.starts_with(':') || Path::new(file).is_absolute() {
        return url.to_owned();
    }
    let joined = dir.join(file);
    match query {
        Some(query) => format!("sqlite://{}?{query}", joined.display()),
        None => format!("sqlite://{}", joined.display()),
    }
}

/// `database.url` names an engine the relayer runs on, in a form the driver reads.
fn check_database_url(url: &str) -> Result<()> {
    let invalid = |why: String| Error::Config(format!("database.url: {why}"));
    if url.starts_with("sqlite:") {
        url.parse::<SqliteConnectOptions>()
            .map_err(|e| invalid(e.to_string()))?;
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        url.parse::<PgConnectOptions>()
            .map_err(|e| invalid(e.to_string()))?;
    } else {
        return Err(invalid(
            "expected sqlite://path or postgres://user@host:port/database".into(),
        ));
    }
    Ok(())
}

/// The submitting key's secret, for the transaction signer of the chain side. Never printed: its `Debug`
/// is redacted.
#[derive(Clone)]
pub struct SubmitterKey(B256);

impl SubmitterKey {
    /// The 32-byte secret.
    pub const fn secret(&self) -> &B256 {
        &self.0
    }
}

impl core::fmt::Debug for SubmitterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SubmitterKey(<redacted>)")
    }
}

/// Reads the signer key from `key_file`, else from the `key_env` variable; `None` if neither is set.
fn load_key(
    signer: &SignerConfig,
    env_var: impl Fn(&str) -> Option<String>,
) -> Result<Option<(SigningKey, B256)>> {
    let (text, source) = match &signer.key_file {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("signer.key_file {}: {e}", path.display())))?,
            format!("signer.key_file {}", path.display()),
        ),
        None => match env_var(&signer.key_env) {
            Some(text) => (text, format!("${}", signer.key_env)),
            None => return Ok(None),
        },
    };
    // The key's text never goes into an error: only where it came from.
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut bytes = [0u8; 32];
    if digits.len() != 64
        || piecepay_protocol::alloy_primitives::hex::decode_to_slice(digits, &mut bytes).is_err()
    {
        return Err(Error::Config(format!("{source}: expected 64 hex digits")));
    }
    let secret = B256::from(bytes);
    SigningKey::from_bytes(&secret)
        .map(|key| Some((key, secret)))
        .map_err(|_| Error::Config(format!("{source}: not a valid secp256k1 key")))
}

fn parse_env_value(value: &str) -> toml::Value {
    // A bare TOML value (`8`, `true`, `"x"`, `[1, 2]`) parses as the right-hand side of a key.
    toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    match keys {
        [] => Err("empty key".to_owned()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("{section} is not a section")),
            }
        }
    }
}

/// The fields the relayer reads from a deployment manifest (`deploy/deployments/<chainId>.json`).
///
/// Tolerant by design, since the deploy tooling owns the format: it looks for the escrow under `escrow`,
/// `escrow_address`, `ChannelEscrow` or `contracts.{escrow,ChannelEscrow}` (a string, or an object with
/// `address`); the token likewise under `token`/`PieceToken`; the chain id under `chain_id`/`chainId`; the
/// block under `deployment_block`/`deploymentBlock`/`start_block`/`block_number`/`blockNumber`/`block` (a
/// number or a decimal/hex string), at the top level or beside the escrow's address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The chain id.
    pub chain_id: Option<u64>,
    /// The escrow's address, as written.
    pub escrow: Option<String>,
    /// The token's address, as written.
    pub token: Option<String>,
    /// The block the escrow was deployed in.
    pub deployment_block: Option<u64>,
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("manifest {}: {e}", path.display())))?;
        Self::parse(&text)
            .map_err(|why| Error::Config(format!("manifest {}: {why}", path.display())))
    }

    /// Parses manifest JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        let contracts = json.get("contracts");
        let find = |names: &[&str]| {
            names.iter().find_map(|name| {
                json.get(*name)
                    .or_else(|| contracts.and_then(|c| c.get(*name)))
                    .cloned()
            })
        };
        let escrow_entry = find(&["escrow", "escrow_address", "ChannelEscrow"]);
        let token_entry = find(&["token", "token_address", "PieceToken"]);
        let address_of = |entry: &Option<serde_json::Value>| {
            entry.as_ref().and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o.get("address")?.as_str().map(str::to_owned),
                _ => None,
            })
        };
        let block_keys = [
            "deployment_block",
            "deploymentBlock",
            "start_block",
            "block_number",
            "blockNumber",
            "block",
        ];
        let deployment_block = block_keys
            .iter()
            .find_map(|k| json.get(*k).and_then(number))
            .or_else(|| {
                let entry = escrow_entry.as_ref()?.as_object()?;
                block_keys
                    .iter()
                    .find_map(|k| entry.get(*k).and_then(number))
            });
        let chain_id = ["chain_id", "chainId"]
            .iter()
            .find_map(|k| json.get(*k).and_then(number));
        let manifest = Self {
            chain_id,
            escrow: address_of(&escrow_entry),
            token: address_of(&token_entry),
            deployment_block,
        };
        if manifest.escrow.is_none() {
            return Err("no escrow address found".to_owned());
        }
        Ok(manifest)
    }
}

fn number(value: &serde_json::Value) -> Option<u64> {
    match value {
        // The deploy tooling writes blocks as `{number, hash, timestamp}`.
        serde_json::Value::Object(o) => o.get("number").and_then(number),
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESCROW: &str = "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5";

    fn minimal() -> String {
        format!("[chain]\nchain_id = 31337\nescrow = \"{ESCROW}\"\n")
    }

    #[test]
    fn defaults_and_minimal_file() {
        let settings = Config::from_toml(&minimal(), [])
            .unwrap()
            .resolve(|_| None)
            .unwrap();
        assert_eq!(settings.chain_id, 31_337);
        assert_eq!(settings.escrow.to_checksum(None), ESCROW);
        assert_eq!(settings.config.database.url, "sqlite://relayer.db");
        assert_eq!(settings.config.chain.confirmations, 2);
        assert!(settings.signer.is_none());
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let env = [
            (
                "PIECEPAY_RELAYER__DATABASE__URL".to_owned(),
                "postgres://x@y/z".to_owned(),
            ),
            (
                "PIECEPAY_RELAYER__CHAIN__CONFIRMATIONS".to_owned(),
                "7".to_owned(),
            ),
            (
                "PIECEPAY_RELAYER__API__LISTEN".to_owned(),
                "127.0.0.1:9".to_owned(),
            ),
            ("UNRELATED".to_owned(), "1".to_owned()),
        ];
        let config = Config::from_toml(&minimal(), env).unwrap();
        assert_eq!(config.database.url, "postgres://x@y/z");
        assert_eq!(config.chain.confirmations, 7);
        assert_eq!(config.api.listen.port(), 9);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_toml("[chain]\nconfirmation = 3\n", []).unwrap_err();
        assert_eq!(err.code(), "config");
    }

    #[test]
    fn key_from_env_is_never_shown() {
        let key = "0x".to_owned() + &"01".repeat(32);
        let settings = Config::from_toml(&minimal(), [])
            .unwrap()
            .resolve(|name| (name == DEFAULT_KEY_ENV).then(|| key.clone()))
            .unwrap();
        let signer = settings.signer.unwrap();
        assert_eq!(
            signer.address().to_checksum(None),
            "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"
        );
        let bad = Config::from_toml(&minimal(), [])
            .unwrap()
            .resolve(|_| Some("zz".repeat(32)))
            .unwrap_err();
        assert!(!bad.to_string().contains("zzzz"));
    }

    #[test]
    fn rpc_without_key_is_refused() {
        let text = minimal() + "rpc_url = \"http://127.0.0.1:8545\"\n";
        let err = Config::from_toml(&text, [])
            .unwrap()
            .resolve(|_| None)
            .unwrap_err();
        assert!(err.to_string().contains("signer"));
    }

    #[test]
    fn manifest_shapes() {
        let flat = Manifest::parse(&format!(
            r#"{{"chainId": 31337, "escrow": "{ESCROW}", "token": "0x7070707070707070707070707070707070707070", "deploymentBlock": "0x10"}}"#
        ))
        .unwrap();
        assert_eq!(flat.chain_id, Some(31_337));
        assert_eq!(flat.deployment_block, Some(16));
        assert!(flat.token.is_some());
        let nested = Manifest::parse(&format!(
            r#"{{"chain_id": 5, "contracts": {{"ChannelEscrow": {{"address": "{ESCROW}", "block_number": 42}}}}}}"#
        ))
        .unwrap();
        assert_eq!(nested.escrow.as_deref(), Some(ESCROW));
        assert_eq!(nested.deployment_block, Some(42));
        let deploy_tool = Manifest::parse(&format!(
            r#"{{"chain_id": 31337, "deployment_block": {{"number": 7, "hash": "0x00", "timestamp": 1}}, "escrow": {{"address": "{ESCROW}"}}}}"#
        ))
        .unwrap();
        assert_eq!(deploy_tool.deployment_block, Some(7));
        assert!(Manifest::parse("{}").is_err());
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (extra, key, why) in [
            ("rpc_url = \"not a url\"\n", "chain.rpc_url", "not a URL"),
            (
                "rpc_url = \"localhost:8545\"\n",
                "chain.rpc_url",
                "scheme localhost",
            ),
            (
                "rpc_url = \"ws://127.0.0.1:8545\"\n",
                "chain.rpc_url",
                "ws:// is not supported",
            ),
            (
                "[database]\nurl = \"mysql://x@y/z\"\n",
                "database.url",
                "expected sqlite",
            ),
            (
                "[database]\nurl = \"postgres://x@y:notaport/z\"\n",
                "database.url",
                "port",
            ),
            (
                "[signer]\nwarn_balance = \"1e18\"\n",
                "signer.warn_balance",
                "",
            ),
            ("max_gas_price = \"0\"\n", "chain.max_gas_price", "below"),
            ("max_gas_price = \"1gwei\"\n", "chain.max_gas_price", ""),
            (
                "[tls]\nca_file = \"/nonexistent/ca.pem\"\n",
                "tls.ca_file",
                "No such file",
            ),
        ] {
            let text = minimal() + extra;
            let error = Config::from_toml(&text, [])
                .unwrap()
                .resolve(|_| Some("0x".to_owned() + &"01".repeat(32)))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(key) && error.contains(why),
                "{extra}: {error}"
            );
        }
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("piecepay-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        std::fs::write(
            dir.join("deploy/31337.json"),
            format!(r#"{{"chain_id": 31337, "escrow": {{"address": "{ESCROW}"}}}}"#),
        )
        .unwrap();
        std::fs::write(dir.join("relayer.key"), "01".repeat(32)).unwrap();
        let file = dir.join("relayer.toml");
        std::fs::write(
            &file,
            "[chain]\nmanifest = \"deploy/31337.json\"\n[signer]\nkey_file = \"relayer.key\"\n\
             [database]\nurl = \"sqlite://data/relayer.db?mode=rwc\"\n",
        )
        .unwrap();
        let config = Config::load(&file, []).unwrap();
        assert_eq!(config.chain.manifest, Some(dir.join("deploy/31337.json")));
        assert_eq!(
            config.database.url,
            format!(
                "sqlite://{}?mode=rwc",
                dir.join("data/relayer.db").display()
            )
        );
        let settings = config.resolve(|_| None).unwrap();
        assert_eq!(settings.chain_id, 31_337);
        assert!(settings.signer.is_some());
        // Absolute paths and other engines are left as they are.
        assert_eq!(
            sqlite_relative_to("sqlite:///abs/x.db", &dir),
            "sqlite:///abs/x.db"
        );
        assert_eq!(
            sqlite_relative_to("sqlite::memory:", &dir),
            "sqlite::memory:"
        );
        assert_eq!(
            sqlite_relative_to("postgres://a@b/c", &dir),
            "postgres://a@b/c"
        );
        // A mistake names the file.
        std::fs::write(&file, "[chain]\nchain_idd = 1\n").unwrap();
        let error = Config::load(&file, []).unwrap_err().to_string();
        assert!(
            error.contains("relayer.toml") && error.contains("chain_idd"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_empty_config_is_refused_even_without_a_signer() {
        let error = Config::from_toml("", [])
            .unwrap()
            .resolve_without_signer()
            .unwrap_err();
        assert!(
            error.to_string().contains("chain.chain_id is required"),
            "{error}"
        );
    }

    #[test]
    fn limits_above_v1_are_refused() {
        let text = minimal() + "[api]\nmax_receipts_per_request = 5000\n";
        assert!(
            Config::from_toml(&text, [])
                .unwrap()
                .resolve(|_| None)
                .is_err()
        );
    }
}
