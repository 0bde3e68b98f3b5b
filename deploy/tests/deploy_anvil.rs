//! The deploy command against a real anvil: a fresh deployment and its manifest checked against the chain,
//! a re-run that reports the existing deployment, tampered and stale manifests detected, `--replace`, an
//! existing token, a keystore deployer, and bad inputs refused with their codes (the build picked per
//! hardfork: hardforks.rs). Manifests go to temporary directories, never to the repository's
//! deploy/deployments/.
//!
//! anvil comes from the pinned npm toolchain (`make setup`); if it is missing the tests fail, they never
//! skip.

mod support;

use std::{fs, path::Path};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256, keccak256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use piecepay_deploy::{
    Artifact, Manifest,
    chain::{self, TxOptions},
    deploy::{self, DeployRequest, Mode, TokenRequest},
    manifest::TokenOrigin,
    signer::{KeySource, parse_key},
    verify::verify,
};
use piecepay_protocol::{
    alloy_sol_types::SolConstructor,
    bindings::{ChannelEscrow, PieceToken},
};
use piecepay_test_support::anvil::Anvil;
use piecepay_test_support::keys::{DEPLOYER_KEY, SECOND_KEY};
use support::*;

fn key_env() -> (&'static str, String) {
    ("PIECEPAY_DEPLOYER_KEY", DEPLOYER_KEY.to_string())
}

fn dir_arg(dir: &Path) -> String {
    dir.display().to_string()
}

#[tokio::test]
async fn fresh_deployment_matches_its_manifest_then_rerun_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    let deployments = tmp.path().join("deployments");
    let (key_var, key) = key_env();
    let run = deploy_to(
        anvil.url(),
        &deployments,
        &[
            "--challenge-period",
            "2h",
            "--token-name",
            "Test Piece",
            "--token-symbol",
            "TPC",
            "--token-supply",
            "1_000_000",
        ],
        &[(key_var, &key)],
    );
    run.assert_ok();
    assert!(
        run.stdout.starts_with("deployed on chain 31337"),
        "{}",
        run.stdout
    );

    let manifest = Manifest::load(&deployments, 31_337).unwrap().unwrap();
    let p = provider(anvil.url()).await;
    let deployer = parse_key(&key).unwrap().address();
    assert!(chain::probe(&p).await.unwrap().cancun);
    assert_eq!(manifest.chain_id, 31_337);
    assert_eq!(manifest.deployer, deployer);
    assert!(manifest.created_at.parse::<jiff::Timestamp>().is_ok());

    // Token: the artifact's code, constructor arguments on chain, supply with the holder.
    let token = &manifest.token;
    assert_eq!(token.origin, TokenOrigin::Deployed);
    let args = token.constructor_args.as_ref().unwrap();
    assert_eq!(
        (args.name.as_str(), args.symbol.as_str()),
        ("Test Piece", "TPC")
    );
    assert_eq!(args.supply, U256::from(1_000_000));
    assert_eq!(args.holder, deployer);
    assert_eq!(
        read(&p, token.address, PieceToken::nameCall {}).await,
        "Test Piece"
    );
    assert_eq!(
        read(
            &p,
            token.address,
            PieceToken::balanceOfCall { account: deployer }
        )
        .await,
        U256::from(1_000_000)
    );
    let token_code = p.get_code_at(token.address).await.unwrap();
    assert_eq!(keccak256(&token_code), token.code_hash);
    let artifact = token.artifact.as_ref().unwrap();
    assert_eq!(
        artifact.runtime_code_hash,
        Artifact::token().unwrap().runtime_code_hash()
    );
    assert_eq!(artifact.compiler, Artifact::token().unwrap().compiler);

    // Escrow: immutables and the recorded transactions and blocks.
    let escrow = &manifest.escrow;
    assert_eq!(escrow.constructor_args.token, token.address);
    assert_eq!(escrow.constructor_args.challenge_period, 7_200);
    assert_eq!(
        read(&p, escrow.address, ChannelEscrow::TOKENCall {}).await,
        token.address
    );
    assert_eq!(
        read(&p, escrow.address, ChannelEscrow::CHALLENGE_PERIODCall {})
            .await
            .to::<u64>(),
        7_200
    );
    assert_eq!(
        read(&p, escrow.address, ChannelEscrow::DOMAIN_SEPARATORCall {}).await,
        piecepay_protocol::domain(31_337, escrow.address).separator()
    );
    for (tx, address, block) in [
        (
            token.transaction.unwrap(),
            token.address,
            token.block.unwrap(),
        ),
        (escrow.transaction, escrow.address, escrow.block),
    ] {
        let receipt = p.get_transaction_receipt(tx).await.unwrap().unwrap();
        assert_eq!(receipt.contract_address, Some(address));
        assert_eq!(receipt.from, deployer);
        assert_eq!(receipt.block_number, Some(block.number));
        assert_eq!(receipt.block_hash, Some(block.hash));
    }
    assert_eq!(manifest.deployment_block, escrow.block);
    assert!(escrow.block.number > token.block.unwrap().number);

    // A re-run verifies and reports; it sends nothing and leaves the manifest as it was.
    let head = p.get_block_number().await.unwrap();
    let before = fs::read_to_string(deployments.join("31337.json")).unwrap();
    let run = deploy_to(anvil.url(), &deployments, &[], &[]);
    run.assert_ok();
    assert!(
        run.stdout
            .starts_with("existing deployment verified on chain 31337"),
        "{}",
        run.stdout
    );
    run.assert_said("9 immutables match");
    assert_eq!(p.get_block_number().await.unwrap(), head);
    assert_eq!(
        fs::read_to_string(deployments.join("31337.json")).unwrap(),
        before
    );

    // --verify-only and --json print the same manifest.
    let run = deploy_to(anvil.url(), &deployments, &["--verify-only", "--json"], &[]);
    run.assert_ok();
    let printed: Manifest = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(printed, manifest);
}

#[tokio::test]
async fn tampered_and_stale_manifests_are_detected_and_replace_redeploys() {
    let tmp = tempfile::tempdir().unwrap();
    let mut anvil = Anvil::start().await;
    let deployments = tmp.path().join("deployments");
    let request = DeployRequest {
        rpc_url: anvil.url().to_owned(),
        deployments_dir: deployments.clone(),
        key: KeySource::Env("UNUSED".into()),
        token: TokenRequest::default(),
        challenge_period: Some(600),
        mode: Mode::Ensure,
        build: None,
        tx: TxOptions::default(),
    };
    let signer = parse_key(&DEPLOYER_KEY.to_string()).unwrap();
    let outcome = deploy::run_with_signer(&request, signer.clone(), &mut |_| {})
        .await
        .unwrap();
    assert!(matches!(outcome, deploy::Outcome::Deployed { .. }));
    let manifest = outcome.manifest().clone();
    let p = provider(anvil.url()).await;
    verify(&p, &manifest).await.unwrap();

    // The manifest pointing at the token as the escrow.
    let mut wrong = manifest.clone();
    wrong.escrow.address = manifest.token.address;
    let err = verify(&p, &wrong).await.unwrap_err();
    assert_eq!(err.code(), "code_mismatch", "{err}");

    // The right code, but a challenge period the escrow was not built with.
    let mut wrong = manifest.clone();
    wrong.escrow.constructor_args.challenge_period = 601;
    let err = verify(&p, &wrong).await.unwrap_err();
    assert_eq!(err.code(), "immutable_mismatch", "{err}");

    // A token name the token was not built with (its EIP-712 immutables differ).
    let mut wrong = manifest.clone();
    wrong.token.constructor_args.as_mut().unwrap().name = "Other".into();
    let err = verify(&p, &wrong).await.unwrap_err();
    assert_eq!(err.code(), "immutable_mismatch", "{err}");

    // A deployment block that is not this chain's.
    let mut wrong = manifest.clone();
    wrong.deployment_block.hash = alloy::primitives::B256::repeat_byte(9);
    let err = verify(&p, &wrong).await.unwrap_err();
    assert_eq!(err.code(), "block_mismatch", "{err}");

    // Parameters that differ from the recorded deployment.
    let run = deploy_to(
        anvil.url(),
        &deployments,
        &["--challenge-period", "601"],
        &[],
    );
    run.assert_code("config_conflict");

    // A restarted anvil: same chain id, none of the contracts.
    let old_escrow = manifest.escrow.address;
    anvil.stop().await;
    anvil = Anvil::start().await;
    let url = anvil.url().to_owned();
    let run = deploy_to(&url, &deployments, &[], &[]);
    run.assert_code("contract_missing");
    run.assert_said("--replace");

    // --replace (alias --force) deploys again and overwrites the manifest.
    let (key_var, key) = key_env();
    let run = deploy_to(
        &url,
        &deployments,
        &["--force", "--challenge-period", "900"],
        &[(key_var, &key)],
    );
    run.assert_ok();
    let replaced = Manifest::load(&deployments, 31_337).unwrap().unwrap();
    assert_eq!(replaced.escrow.constructor_args.challenge_period, 900);
    verify(&provider(&url).await, &replaced).await.unwrap();
    // Same deployer nonces on a fresh chain: same addresses, different deployment.
    assert_eq!(replaced.escrow.address, old_escrow);
    assert_ne!(
        replaced.deployment_block.hash,
        manifest.deployment_block.hash
    );
}

#[tokio::test]
async fn existing_token_is_used_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    let p = provider(anvil.url()).await;

    // Someone else's ERC-20: a PieceToken deployed by the second account.
    let other = chain::connect_signer(anvil.url(), parse_key(&SECOND_KEY.to_string()).unwrap())
        .await
        .unwrap();
    let constructor = PieceToken::constructorCall {
        name_: "Outside".into(),
        symbol_: "OUT".into(),
        holder: Address::repeat_byte(0x42),
        supply: U256::from(5),
    };
    let mut init = Artifact::token().unwrap().creation_code.to_vec();
    init.extend(constructor.abi_encode());
    let tx = TransactionRequest::default().with_deploy_code(init);
    let receipt = chain::send(&other, tx, "outside token", TxOptions::default())
        .await
        .unwrap();
    let token = receipt.contract_address.unwrap();

    let deployments = tmp.path().join("deployments");
    let (key_var, key) = key_env();
    let run = deploy_to(
        anvil.url(),
        &deployments,
        &["--token", &token.to_string()],
        &[(key_var, &key)],
    );
    run.assert_ok();
    let manifest = Manifest::load(&deployments, 31_337).unwrap().unwrap();
    assert_eq!(manifest.token.address, token);
    assert_eq!(manifest.token.origin, TokenOrigin::Existing);
    assert!(manifest.token.transaction.is_none() && manifest.token.constructor_args.is_none());
    assert_eq!(
        manifest.token.code_hash,
        keccak256(p.get_code_at(token).await.unwrap())
    );
    assert_eq!(
        read(&p, manifest.escrow.address, ChannelEscrow::TOKENCall {}).await,
        token
    );
    verify(&p, &manifest).await.unwrap();

    // Re-run with the same token: existing; with new-token parameters: a conflict.
    let dir = dir_arg(&deployments);
    let base = ["--rpc-url", anvil.url(), "--deployments-dir", &dir];
    let token_arg = token.to_string();
    deploy_cli(&[&base[..], &["--token", &token_arg]].concat(), &[]).assert_ok();
    deploy_cli(&[&base[..], &["--token-symbol", "X"]].concat(), &[]).assert_code("config_conflict");

    // A --token that is not a contract, or not an ERC-20 (the escrow is a contract without totalSupply).
    let fresh = tmp.path().join("fresh");
    let fresh_dir = dir_arg(&fresh);
    let base = ["--rpc-url", anvil.url(), "--deployments-dir", &fresh_dir];
    let run = deploy_cli(
        &[
            &base[..],
            &["--token", &Address::repeat_byte(0x42).to_string()],
        ]
        .concat(),
        &[(key_var, &key)],
    );
    run.assert_code("invalid_input");
    run.assert_said("no contract");
    let escrow = manifest.escrow.address.to_string();
    let run = deploy_cli(
        &[&base[..], &["--token", &escrow]].concat(),
        &[(key_var, &key)],
    );
    run.assert_code("invalid_input");
    run.assert_said("totalSupply");
    assert!(!fresh.join("31337.json").exists());
}

#[tokio::test]
async fn keystore_deployer() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    let keystores = tmp.path().join("keystores");
    let status = std::process::Command::new(cast_bin())
        .args(["wallet", "import", "deployer", "--keystore-dir"])
        .arg(&keystores)
        .args(["--private-key", &SECOND_KEY.to_string()])
        .args(["--unsafe-password", "correct horse"])
        .output()
        .expect("cast runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let keystore = dir_arg(&keystores.join("deployer"));
    let deployments = tmp.path().join("deployments");
    let dir = dir_arg(&deployments);
    let args = [
        "--rpc-url",
        anvil.url(),
        "--deployments-dir",
        &dir,
        "--keystore",
        &keystore,
    ];

    let run = deploy_cli(&args, &[("PIECEPAY_KEYSTORE_PASSWORD", "wrong")]);
    run.assert_code("keystore");
    // No password and no terminal to ask on: a clear error, not a hang.
    let run = deploy_cli(&args, &[]);
    run.assert_code("keystore");

    let run = deploy_cli(&args, &[("PIECEPAY_KEYSTORE_PASSWORD", "correct horse")]);
    run.assert_ok();
    let manifest = Manifest::load(&deployments, 31_337).unwrap().unwrap();
    let second = parse_key(&SECOND_KEY.to_string()).unwrap().address();
    assert_eq!(manifest.deployer, second);
    assert_eq!(manifest.token.constructor_args.unwrap().holder, second);
}

#[tokio::test]
async fn bad_inputs_are_refused_with_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let anvil = Anvil::start().await;
    let deployments = tmp.path().join("deployments");
    let dir = dir_arg(&deployments);
    let base = ["--rpc-url", anvil.url(), "--deployments-dir", &dir];

    deploy_cli(&base, &[]).assert_code("key_missing");
    let run = deploy_cli(&base, &[("PIECEPAY_DEPLOYER_KEY", "0x1234")]);
    run.assert_code("key_invalid");
    assert!(
        !run.stderr.contains("0x1234"),
        "the key is never echoed: {}",
        run.stderr
    );
    deploy_cli(&with(&base, &["--verify-only"]), &[]).assert_code("manifest_missing");
    let (key_var, key) = key_env();
    let env = [(key_var, key.as_str())];
    for bad in [
        &["--challenge-period", "0"][..],
        &["--challenge-period", "31d"],
        &["--token-supply", "0"],
        &["--token-holder", &Address::ZERO.to_string()],
        &[
            "--token",
            &Address::repeat_byte(1).to_string(),
            "--token-name",
            "X",
        ],
        &["--confirmations", "0"],
    ] {
        let run = deploy_cli(&with(&base, bad), &env);
        run.assert_code("invalid_input");
    }
    // clap's own refusals (unparsable values) exit 2 with a usage message.
    for bad in [
        &["--challenge-period", "soon"][..],
        &["--token", "0xnope"],
        &["--token-supply", "-5"],
        &["--replace", "--verify-only"],
    ] {
        let run = deploy_cli(&with(&base, bad), &env);
        assert!(
            !run.success && run.stderr.contains("error:"),
            "{bad:?}: {}",
            run.stderr
        );
    }
    deploy_cli(&["--rpc-url", "localhost:8545"], &env).assert_code("invalid_input");
    deploy_cli(&["--rpc-url", "ws://127.0.0.1:8545"], &env).assert_code("invalid_input");
    // TLS is built in: an https:// endpoint is tried (and here fails to resolve), not refused.
    let run = deploy_cli(
        &[
            "--rpc-url",
            "https://rpc.invalid",
            "--deployments-dir",
            &dir,
        ],
        &env,
    );
    run.assert_code("rpc");
    // The key itself where its variable's name belongs: refused, and never printed back.
    let key = env[0].1;
    let run = deploy_cli(&with(&base, &["--key-env", key]), &[]);
    run.assert_code("invalid_input");
    run.assert_said("NAME");
    let digits = key.trim_start_matches("0x");
    assert!(
        !run.stderr.contains(&digits[..16]) && !run.stdout.contains(&digits[..16]),
        "the key is never echoed: {}",
        run.stderr
    );
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let run = deploy_cli(&["--rpc-url", &closed, "--deployments-dir", &dir], &env);
    run.assert_code("rpc");

    fs::create_dir_all(&deployments).unwrap();
    fs::write(deployments.join("31337.json"), "{\"format\": 1}").unwrap();
    deploy_cli(&base, &env).assert_code("manifest_invalid");
    // Nothing was deployed by any of the refused runs.
    let p = provider(anvil.url()).await;
    assert_eq!(p.get_block_number().await.unwrap(), 0);
}

fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [base, extra].concat()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
