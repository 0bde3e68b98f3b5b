//! The deploy command when things go wrong around it, against a real anvil: a deployment killed (SIGKILL)
//! after sending its token transaction resumes on the next run without deploying a second token —
//! whether the transaction was mined meanwhile or dropped by the node — and closed stdout/stderr pipes
//! do not stop a deployment. Also what a deployment tells its operator: progress while it waits for
//! confirmations, what each transaction cost, and where the manifest went (by default under the
//! current directory, not the build machine's).

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use piecepay_deploy::{
    Manifest,
    pending::{self, Pending, Step},
    signer::parse_key,
};
use piecepay_test_support::{anvil::Anvil, keys::DEPLOYER_KEY};
use serde_json::{Value, json};
use support::*;
use tempfile::TempDir;

fn key() -> String {
    DEPLOYER_KEY.to_string()
}

async fn rpc(url: &str, method: &'static str, params: Value) -> Value {
    provider(url)
        .await
        .raw_request::<Value, Value>(method.into(), params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn transactions_sent(url: &str) -> u64 {
    let deployer = parse_key(&key()).unwrap().address();
    provider(url)
        .await
        .get_transaction_count(deployer)
        .latest()
        .await
        .unwrap()
}

/// A deployment killed after sending its token transaction, on an anvil of its own that does not mine.
struct Interrupted {
    anvil: Anvil,
    /// Its deployments directory (in `_tmp`).
    dir: PathBuf,
    /// What it recorded before it was killed.
    recorded: Pending,
    _tmp: TempDir,
}

impl Interrupted {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let anvil = Anvil::start().await;
        let dir = tmp.path().join("deployments");
        let recorded = killed_after_sending_the_token(anvil.url(), &dir).await;
        Self {
            anvil,
            dir,
            recorded,
            _tmp: tmp,
        }
    }

    fn url(&self) -> &str {
        self.anvil.url()
    }

    /// Runs the deployment again (with `more` arguments), anvil mining again.
    async fn deploy_again(&self, more: &[&str]) -> Run {
        rpc(self.url(), "evm_setAutomine", json!([true])).await;
        deploy_to(
            self.url(),
            &self.dir,
            more,
            &[("PIECEPAY_DEPLOYER_KEY", &key())],
        )
    }
}

/// Starts a deployment that cannot finish (anvil does not mine), waits until it recorded and sent its
/// token transaction, and kills it; returns what it recorded.
async fn killed_after_sending_the_token(url: &str, dir: &Path) -> Pending {
    rpc(url, "evm_setAutomine", json!([false])).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-deploy"))
        .args(["--rpc-url", url, "--deployments-dir"])
        .arg(dir)
        .env("PIECEPAY_DEPLOYER_KEY", key())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let recorded = loop {
        if let Some(pending) = Pending::load(dir, 31_337).unwrap()
            && pending.sent(Step::Token).is_some()
        {
            // Recorded before sent: wait until the node has it too.
            let hash = pending.sent(Step::Token).unwrap().tx.hash;
            let known = rpc(url, "eth_getTransactionByHash", json!([hash])).await;
            if !known.is_null() {
                break pending;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the token transaction was never sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    recorded
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_deployment_resumes_without_a_second_token() {
    // The token transaction is mined while nobody waits for it.
    let killed = Interrupted::new().await;
    let token = killed.recorded.sent(Step::Token).unwrap().address;
    rpc(killed.url(), "evm_setAutomine", json!([true])).await;
    rpc(killed.url(), "evm_mine", json!([])).await;
    assert_eq!(transactions_sent(killed.url()).await, 1);
    let run = killed.deploy_again(&[]).await;
    run.assert_ok();
    run.assert_said("resuming the deployment recorded in");
    run.assert_said("was mined");
    let manifest = Manifest::load(&killed.dir, 31_337).unwrap().unwrap();
    assert_eq!(manifest.token.address, token, "the first run's token");
    assert_eq!(
        transactions_sent(killed.url()).await,
        2,
        "one token, one escrow"
    );
    assert!(
        !pending::path(&killed.dir, 31_337).exists(),
        "the record goes with the manifest"
    );

    // The token transaction is dropped by the node while nobody waits for it.
    let killed = Interrupted::new().await;
    let sent = killed.recorded.sent(Step::Token).unwrap().clone();
    rpc(killed.url(), "anvil_dropTransaction", json!([sent.tx.hash])).await;
    let run = killed.deploy_again(&[]).await;
    run.assert_ok();
    run.assert_said("was dropped: sending it again");
    let manifest = Manifest::load(&killed.dir, 31_337).unwrap().unwrap();
    assert_eq!(manifest.token.address, sent.address);
    assert_eq!(
        manifest.token.transaction,
        Some(sent.tx.hash),
        "the same transaction, sent again"
    );
    assert_eq!(transactions_sent(killed.url()).await, 2);

    // A record of other parameters is not resumed by accident.
    let killed = Interrupted::new().await;
    let run = killed.deploy_again(&["--challenge-period", "2h"]).await;
    run.assert_code("config_conflict");
    run.assert_said("31337.pending.json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_pipes_do_not_stop_a_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    let dir = tmp.path().join("deployments");
    let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-deploy"))
        .args(["--rpc-url", anvil.url(), "--deployments-dir"])
        .arg(&dir)
        .env("PIECEPAY_DEPLOYER_KEY", key())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads either: both pipes close before the first line.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let manifest = Manifest::load(&dir, 31_337).unwrap().unwrap();
    assert_eq!(transactions_sent(anvil.url()).await, 2);
    assert_ne!(manifest.token.address, manifest.escrow.address);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_costs_and_where_the_manifest_went() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    // Blocks every second, so confirmations come one by one.
    rpc(anvil.url(), "evm_setIntervalMining", json!([1])).await;
    let output = Command::new(env!("CARGO_BIN_EXE_piecepay-deploy"))
        .args(["--rpc-url", anvil.url(), "--confirmations", "2"])
        .current_dir(tmp.path())
        .env("PIECEPAY_DEPLOYER_KEY", key())
        .env_remove("PIECEPAY_DEPLOYMENTS_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The default directory is under the current one.
    let manifest = tmp.path().join("deploy/deployments/31337.json");
    assert!(manifest.exists(), "{stdout}");
    assert!(
        stdout.contains(&format!("manifest  {}", manifest.display())),
        "the absolute path is shown: {stdout}"
    );
    assert!(stderr.contains("1/2 confirmations"), "{stderr}");
    for contract in ["PieceToken", "ChannelEscrow", "total"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(contract) && l.contains(" gas"))
            .unwrap_or_else(|| panic!("no cost line for {contract}: {stdout}"));
        assert!(line.contains('.'), "{line}");
    }
}
