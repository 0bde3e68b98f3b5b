//! The build and the transaction type the deploy tool picks on each EVM generation, on anvil running that
//! hardfork: Berlin (BTTC's, chain id 1029 like Donau), London, Shanghai, Cancun, Prague; Istanbul
//! (the oldest the legacy build runs on) and Petersburg (refused). On each chain the devnet deploys the
//! build the chain runs (its manifest records it and verifies), funds a leecher and has it deposit into
//! the escrow: the deposit goes through the escrow's reentrancy guard, so the build does run there.

mod support;

use std::path::Path;

use alloy::{consensus::Transaction as _, primitives::U256, providers::Provider};
use piecepay_deploy::{
    Manifest,
    artifacts::Build,
    devnet::{Anvil, ChainSpec, Devnet, DevnetConfig, anvil::DEFAULT_BIN},
    verify::verify,
};
use piecepay_protocol::bindings::ChannelEscrow;
use piecepay_test_support::keys::DEPLOYER_KEY;
use support::{deploy_cli, provider, read};

const DEPOSIT: u64 = 1_000;

/// Brings up a devnet on `hardfork` with one funded leecher who deposits, and checks that `build` was
/// deployed, recorded and verified, that the deployment's transactions were legacy (type 0) exactly when
/// `legacy_tx`, and that the deposit reached the escrow.
async fn devnet_on(hardfork: &str, chain_id: u64, build: Build, legacy_tx: bool) {
    let dir = tempfile::tempdir().unwrap();
    let config = DevnetConfig {
        anvil_bin: DEFAULT_BIN.into(),
        port: 0,
        chain: ChainSpec {
            hardfork: hardfork.into(),
            chain_id,
        },
        state_dir: dir.path().to_owned(),
        peers: 1,
        leechers: 1,
        tokens_per_peer: U256::from(DEPOSIT),
        deposit: U256::from(DEPOSIT),
        challenge_period: 3_600,
        relayer_bin: None,
        relayer_env: Vec::new(),
    };
    let devnet = Devnet::start(&config, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{hardfork}: {e}"));
    let info = devnet.info().clone();
    let evm_version = build.evm_version().unwrap();
    assert_eq!(info.chain_id, chain_id, "{hardfork}");
    assert_eq!(info.evm_version, evm_version, "{hardfork}");

    let manifest = Manifest::load(&dir.path().join("deployments"), chain_id)
        .unwrap()
        .unwrap();
    let p = provider(&info.rpc_url).await;
    for (recorded, artifact) in [
        (
            manifest.token.artifact.as_ref().unwrap(),
            build.token().unwrap(),
        ),
        (&manifest.escrow.artifact, build.escrow().unwrap()),
    ] {
        assert_eq!(recorded.evm_version, evm_version, "{hardfork}");
        assert_eq!(
            recorded.runtime_code_hash,
            artifact.runtime_code_hash(),
            "{hardfork}"
        );
    }
    verify(&p, &manifest).await.unwrap();
    for tx in [
        manifest.token.transaction.unwrap(),
        manifest.escrow.transaction,
    ] {
        let tx = p.get_transaction_by_hash(tx).await.unwrap().unwrap();
        let ty = tx.inner.tx_type() as u8;
        assert_eq!(ty == 0, legacy_tx, "{hardfork}: transaction type {ty}");
        assert_eq!(tx.inner.chain_id(), Some(chain_id), "{hardfork}");
    }

    let leecher = info.peers[0].account.address;
    let escrowed = read(
        &p,
        info.escrow,
        ChannelEscrow::balanceOfCall { account: leecher },
    )
    .await;
    assert_eq!(escrowed, U256::from(DEPOSIT), "{hardfork}");
    devnet.shutdown().await;
}

#[tokio::test]
async fn berlin_like_bttc_gets_the_legacy_build_and_legacy_transactions() {
    devnet_on("berlin", 1029, Build::Legacy, true).await;
}

#[tokio::test]
async fn istanbul_is_the_oldest_the_legacy_build_runs_on() {
    devnet_on("istanbul", 1029, Build::Legacy, true).await;
}

#[tokio::test]
async fn london_gets_the_legacy_build_and_eip1559_transactions() {
    devnet_on("london", 31_337, Build::Legacy, false).await;
}

#[tokio::test]
async fn shanghai_has_push0_but_no_transient_storage_so_gets_the_legacy_build() {
    devnet_on("shanghai", 31_337, Build::Legacy, false).await;
}

#[tokio::test]
async fn cancun_gets_the_current_build() {
    devnet_on("cancun", 31_337, Build::Current, false).await;
}

#[tokio::test]
async fn prague_gets_the_current_build() {
    devnet_on("prague", 31_337, Build::Current, false).await;
}

/// anvil on `hardfork` with `chain_id`, its files in `dir`.
async fn anvil(hardfork: &str, chain_id: u64, dir: &Path) -> Anvil {
    let spec = ChainSpec {
        hardfork: hardfork.into(),
        chain_id,
    };
    Anvil::start_chain(Path::new(DEFAULT_BIN), 0, 10, dir, &spec)
        .await
        .unwrap()
}

fn key_env() -> [(&'static str, String); 1] {
    [("PIECEPAY_DEPLOYER_KEY", DEPLOYER_KEY.to_string())]
}

#[tokio::test]
async fn the_command_says_which_build_and_transactions_and_honours_build() {
    let tmp = tempfile::tempdir().unwrap();
    let berlin = anvil("berlin", 1029, &tmp.path().join("berlin")).await;
    let dir = tmp.path().join("deployments").display().to_string();
    let [(var, key)] = key_env();
    let env = [(var, key.as_str())];
    let base = ["--rpc-url", berlin.url(), "--deployments-dir", &dir];

    // Insisting on the current build where it cannot run: refused, nothing sent.
    let run = deploy_cli(&[&base[..], &["--build", "current"]].concat(), &env);
    run.assert_code("unsupported_chain");
    run.assert_said("transient storage");
    let p = provider(berlin.url()).await;
    assert_eq!(p.get_block_number().await.unwrap(), 0);

    let run = deploy_cli(&base, &env);
    run.assert_ok();
    run.assert_said("no PUSH0, no transient storage/MCOPY, CHAINID/SELFBALANCE, no base fee");
    run.assert_said(
        "using the legacy build (evm_version berlin) and legacy (type-0, gasPrice) transactions",
    );
    assert!(
        run.stdout
            .contains("evm       legacy build (evm_version berlin)"),
        "{}",
        run.stdout
    );
    // The re-run verifies the recorded build, and says which it is.
    let run = deploy_cli(&base, &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .starts_with("existing deployment verified on chain 1029")
            && run.stdout.contains("legacy build (evm_version berlin)"),
        "{}",
        run.stdout
    );
    run.assert_said("evm_version berlin");

    // The legacy build where the current one runs, when asked (and --legacy transactions there).
    let prague = anvil("prague", 31_337, &tmp.path().join("prague")).await;
    let run = deploy_cli(
        &[
            "--rpc-url",
            prague.url(),
            "--deployments-dir",
            &dir,
            "--build",
            "legacy",
            "--legacy",
        ],
        &env,
    );
    run.assert_ok();
    assert!(
        run.stdout.contains("legacy build (evm_version berlin)"),
        "{}",
        run.stdout
    );
    let manifest = Manifest::load(Path::new(&dir), 31_337).unwrap().unwrap();
    let p = provider(prague.url()).await;
    let tx = p
        .get_transaction_by_hash(manifest.escrow.transaction)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.inner.tx_type() as u8, 0);
}

#[tokio::test]
async fn a_chain_before_istanbul_is_refused_before_anything_is_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let node = anvil("petersburg", 1029, tmp.path()).await;
    let dir = tmp.path().join("deployments").display().to_string();
    let [(var, key)] = key_env();
    let run = deploy_cli(
        &["--rpc-url", node.url(), "--deployments-dir", &dir],
        &[(var, &key)],
    );
    run.assert_code("unsupported_chain");
    run.assert_said("CHAINID and SELFBALANCE");
    let p = provider(node.url()).await;
    assert_eq!(p.get_block_number().await.unwrap(), 0, "nothing was sent");
}
