//! `piecepay-devnet` as a user runs it: started as a process, its printed endpoints used (RPC answers,
//! the contracts verify, peers are funded, leechers have deposits, the relayer answers), then stopped
//! with SIGINT or SIGTERM, after which none of its children is left.

mod support;

use std::{
    io::{BufRead, BufReader},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use nix::{
    errno::Errno,
    sys::signal::{Signal, kill, killpg},
    unistd::Pid,
};
use piecepay_deploy::{Manifest, devnet::relayer, verify::verify};
use piecepay_protocol::bindings::{ChannelEscrow, PieceToken};
use serde_json::Value;
use support::{provider, read};

/// A devnet process and the JSON it printed.
struct Running {
    child: Child,
    info: Value,
    stderr: PathBuf,
}

fn start(args: &[&str], state: &Path) -> Running {
    let stderr = state.join("devnet.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-devnet"))
        .args(["--port", "0", "--json", "--state-dir"])
        .arg(state.join("state"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        // Its own process group, like a job in a terminal: stop() signals the whole group.
        .process_group(0)
        .spawn()
        .expect("piecepay-devnet starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "the devnet printed nothing within 120 s; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
    let info: Value = serde_json::from_str(&line).unwrap();
    Running {
        child,
        info,
        stderr,
    }
}

impl Running {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid_of(&self, pointer: &str) -> Pid {
        let pid = self.info.pointer(pointer).and_then(Value::as_u64).unwrap();
        Pid::from_raw(i32::try_from(pid).unwrap())
    }

    /// Sends `signal` to the devnet's process group, as a terminal's Ctrl-C does, and waits for a clean
    /// exit.
    fn stop(mut self, signal: Signal) -> String {
        killpg(Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the devnet did not exit within 60 s of {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.stderr();
        assert!(status.success(), "exit {status}; stderr:\n{stderr}");
        stderr
    }
}

/// Whether process `pid` is gone (reaped: a zombie would still answer signal 0).
fn gone(pid: Pid) -> bool {
    kill(pid, None) == Err(Errno::ESRCH)
}

fn address(v: &Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

fn amount(v: &Value) -> U256 {
    U256::from_str_radix(v.as_str().unwrap(), 10).unwrap()
}

const TOKEN: u128 = 1_000_000_000_000_000_000;

#[tokio::test]
async fn devnet_serves_funded_accounts_and_stops_on_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let devnet = start(
        &[
            "--no-relayer",
            "--peers",
            "3",
            "--leechers",
            "1",
            "--tokens",
            "50",
            "--deposit",
            "20",
        ],
        tmp.path(),
    );
    let info = &devnet.info;
    let rpc = info["rpc_url"].as_str().unwrap().to_owned();
    let p = provider(&rpc).await;
    assert_eq!(p.get_chain_id().await.unwrap(), 31_337);
    assert_eq!(info["chain_id"], 31_337);
    assert!(info["relayer"].is_null());

    // The printed addresses are the manifest's, and the deployment verifies.
    let manifest_path = PathBuf::from(info["manifest"].as_str().unwrap());
    assert!(manifest_path.starts_with(tmp.path()));
    let manifest = Manifest::load(manifest_path.parent().unwrap(), 31_337)
        .unwrap()
        .unwrap();
    let token = address(&info["token"]);
    let escrow = address(&info["escrow"]);
    assert_eq!(
        (manifest.token.address, manifest.escrow.address),
        (token, escrow)
    );
    verify(&p, &manifest).await.unwrap();
    assert_eq!(
        read(&p, escrow, ChannelEscrow::CHALLENGE_PERIODCall {})
            .await
            .to::<u64>(),
        3_600
    );

    // Peers: funded as printed, on chain; the leecher's deposit in the escrow.
    let peers = info["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 3);
    let roles: Vec<_> = peers.iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["leecher", "seeder", "seeder"]);
    let mut total = U256::ZERO;
    for peer in peers {
        let account = address(&peer["account"]["address"]);
        let key = peer["account"]["key"].as_str().unwrap();
        assert_eq!(
            piecepay_deploy::signer::parse_key(key).unwrap().address(),
            account,
            "the printed key is the account's"
        );
        let tokens = read(&p, token, PieceToken::balanceOfCall { account }).await;
        let deposit = read(&p, escrow, ChannelEscrow::balanceOfCall { account }).await;
        assert_eq!(tokens, amount(&peer["tokens"]));
        assert_eq!(deposit, amount(&peer["deposit"]));
        let expected_deposit = if peer["role"] == "leecher" {
            20 * TOKEN
        } else {
            0
        };
        assert_eq!(deposit, U256::from(expected_deposit));
        assert_eq!(tokens + deposit, U256::from(50 * TOKEN));
        assert!(
            p.get_balance(account).await.unwrap() > U256::ZERO,
            "ETH for gas"
        );
        total += tokens + deposit;
    }
    let deployer = address(&info["deployer"]["address"]);
    assert_eq!(
        read(&p, token, PieceToken::balanceOfCall { account: deployer }).await + total,
        read(&p, token, PieceToken::totalSupplyCall {}).await
    );

    let anvil = devnet.pid_of("/anvil_pid");
    assert!(!gone(anvil));
    let stderr = devnet.stop(Signal::SIGINT);
    assert!(stderr.contains("stopping the devnet"), "{stderr}");
    assert!(
        gone(anvil),
        "anvil is still running after the devnet exited"
    );
    assert!(
        p.get_chain_id().await.is_err(),
        "the RPC endpoint still answers"
    );
    // A given state dir is kept: the manifest is still there to read.
    assert!(manifest_path.is_file());
}

/// With the relayer binary built (a workspace build puts it next to this one), the devnet runs it and
/// SIGTERM stops both; without it, the devnet says so and runs without.
#[tokio::test]
async fn devnet_relayer_is_started_or_reported_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let sibling =
        Path::new(env!("CARGO_BIN_EXE_piecepay-devnet")).with_file_name(relayer::BIN_NAME);
    let missing = tmp.path().join("no-such-relayer");

    // An absent binary: a warning, and a devnet that works without it.
    let devnet = start(
        &["--relayer-bin", missing.to_str().unwrap(), "--peers", "1"],
        tmp.path(),
    );
    assert!(devnet.info["relayer"].is_null());
    let stderr = devnet.stderr();
    assert!(
        stderr.contains("warning: piecepay-relayer not found")
            && stderr.contains("no-such-relayer"),
        "{stderr}"
    );
    let anvil = devnet.pid_of("/anvil_pid");
    devnet.stop(Signal::SIGTERM);
    assert!(gone(anvil));

    if !sibling.is_file() {
        eprintln!(
            "note: {} is not built; the devnet-with-relayer half of this test needs a workspace build",
            sibling.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let devnet = start(&["--relayer-bin", sibling.to_str().unwrap()], tmp.path());
    let url = devnet.info["relayer"]["url"].as_str().unwrap().to_owned();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        relayer::healthz(port).await,
        "the relayer at {url} does not answer /healthz"
    );
    let config =
        std::fs::read_to_string(devnet.info["relayer"]["config"].as_str().unwrap()).unwrap();
    assert!(
        config.contains(devnet.info["manifest"].as_str().unwrap()),
        "{config}"
    );
    let relayer_pid = devnet.pid_of("/relayer/pid");
    let anvil = devnet.pid_of("/anvil_pid");
    devnet.stop(Signal::SIGTERM);
    assert!(
        gone(relayer_pid),
        "the relayer is still running after the devnet exited"
    );
    assert!(
        gone(anvil),
        "anvil is still running after the devnet exited"
    );
    assert!(!relayer::healthz(port).await);
}

/// Runs `piecepay-devnet` with `args`, expecting it to fail; returns its stderr.
fn refused(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_piecepay-devnet"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

#[test]
fn bad_devnet_input_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let stderr = refused(&[
        "--port",
        "0",
        "--no-relayer",
        "--tokens",
        "10",
        "--deposit",
        "11",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("error[invalid_input]") && stderr.contains("deposit"),
        "{stderr}"
    );
    assert!(
        !tmp.path().join("state/anvil.json").exists(),
        "anvil was not started"
    );

    let stderr = refused(&[
        "--port",
        "0",
        "--no-relayer",
        "--anvil",
        "/nonexistent/anvil",
    ]);
    assert!(
        stderr.contains("error[anvil]") && stderr.contains("make setup"),
        "{stderr}"
    );
}
