//! [`Anvil`]: a local anvil for one test, started the way `make devnet` starts it.

use std::path::Path;

use piecepay_deploy::devnet::{self, DevAccount};
use tempfile::TempDir;

/// How many dev accounts anvil funds (its default).
const ACCOUNTS: usize = 10;

/// The EVM of [`Anvil::start`]: the one the escrow is compiled for.
const DEFAULT_HARDFORK: &str = "prague";

/// An anvil on 127.0.0.1 (the deploy tool's [`devnet::Anvil`], prague EVM) with its config in a temp dir
/// of its own; killed when dropped.
///
/// It comes from the pinned npm toolchain (`make setup`): without it the test fails, it never skips.
#[derive(Debug)]
pub struct Anvil {
    node: Option<devnet::Anvil>,
    url: String,
    port: u16,
    dir: TempDir,
}

impl Anvil {
    /// Starts one on a free port (anvil picks it and reports it).
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts one on `port` (0: any), e.g. the port of one that was stopped, to restart "the same node".
    pub async fn start_on(port: u16) -> Self {
        Self::start_hardfork_on(DEFAULT_HARDFORK, port).await
    }

    /// Starts one on a free port running the EVM of `hardfork` (`berlin`: no base fee, no EIP-1559
    /// transactions, no PUSH0; `london`, `shanghai`, `cancun`, `prague`).
    pub async fn start_hardfork(hardfork: &str) -> Self {
        Self::start_hardfork_on(hardfork, 0).await
    }

    /// [`start_hardfork`](Self::start_hardfork) on `port` (0: any).
    pub async fn start_hardfork_on(hardfork: &str, port: u16) -> Self {
        let dir = crate::temp_dir();
        let node = devnet::Anvil::start_with_hardfork(
            Path::new(devnet::anvil::DEFAULT_BIN),
            port,
            ACCOUNTS,
            dir.path(),
            hardfork,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let url = node.url().to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("http://127.0.0.1:PORT");
        Self {
            node: Some(node),
            url,
            port,
            dir,
        }
    }

    /// Its JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Its funded dev accounts, in anvil's order ([`DEPLOYER_KEY`](crate::keys::DEPLOYER_KEY) first).
    pub fn accounts(&self) -> &[DevAccount] {
        self.node.as_ref().map_or(&[], devnet::Anvil::accounts)
    }

    /// A directory that lives as long as this value (anvil's config is in it; deployments go there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and reaps it; its port is free again.
    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop().await;
        }
    }
}
