//! Agents in their own processes (`piecepay-agent serve` / `fetch`), killed with SIGKILL mid-transfer and
//! started again: nothing is lost, nothing is signed below what was signed, every piece is paid once.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::*;
use piecepay_sdk::{
    protocol::alloy_primitives::hex,
    store::{PayeeStore, PayerStore, SqliteStore},
};
use piecepay_test_support::read_listening_address;

const PIECES: u32 = 150;
const CREDIT: u32 = 4;
const PASSWORD: &str = "correct horse battery staple";

/// Writes `name`'s keystore and configuration; the configuration's path.
fn write_config(net: &Net, name: &str, role: &str, policy: &str) -> PathBuf {
    let dir = net.dir.path();
    let key = net.raw_key(role, 0);
    let mut rng = rand::thread_rng();
    piecepay_sdk::chain::alloy::signers::local::PrivateKeySigner::encrypt_keystore(
        dir,
        &mut rng,
        key,
        PASSWORD,
        Some(&format!("{name}.json")),
    )
    .unwrap();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[wallet]\nkeystore = \"{name}.json\"\npassword_env = \"AGENT_PASSWORD\"\n\
             [chain]\nmanifest = \"{}\"\nrpc_url = \"{}\"\n\
             [relayer]\nurls = [\"{}\"]\n\
             [store]\npath = \"{name}.sqlite\"\n\
             [timing]\nchain_poll_ms = 300\ntick_ms = 200\nchannel_check_s = 10\n{policy}",
            net.info.manifest.display(),
            net.info.rpc_url,
            net.relayer_url(),
        ),
    )
    .unwrap();
    config
}

fn agent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_piecepay-agent")
}

fn command(config: &Path) -> Command {
    let mut command = Command::new(agent_bin());
    command
        .arg("--config")
        .arg(config)
        .env("AGENT_PASSWORD", PASSWORD);
    command
}

/// Starts `serve` on `listen`; returns once it listens.
fn serve(config: &Path, listen: &str, torrent: &str) -> (Child, String) {
    let mut child = command(config)
        .args(["serve", "--listen", listen, "--torrent", torrent])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let address = read_listening_address(child.stdout.as_mut().unwrap(), String::new);
    (child, address)
}

fn fetch(config: &Path, address: &str, torrent: &str, have: &Path, delay_ms: u64) -> Child {
    command(config)
        .args(["fetch", "--connect", address, "--torrent", torrent])
        .args(["--pieces", &PIECES.to_string()])
        .arg("--have")
        .arg(have)
        .args(["--delay-ms", &delay_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn pieces_had(have: &Path) -> usize {
    std::fs::read_to_string(have).map_or(0, |t| t.lines().count())
}

fn kill9(child: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
}

/// The highest cumulative the payer reserved and the payee holds, from the two stores.
fn stored(net: &Net, leecher: &str, seeder: &str) -> (u128, u128) {
    net.rt.block_on(async {
        let payer = SqliteStore::open(net.dir.path().join(format!("{leecher}.sqlite")))
            .await
            .unwrap();
        let reserved = payer
            .payer_channels()
            .await
            .unwrap()
            .iter()
            .map(|r| r.state.cumulative())
            .max()
            .unwrap_or(0);
        payer.close().await;
        let payee = SqliteStore::open(net.dir.path().join(format!("{seeder}.sqlite")))
            .await
            .unwrap();
        let held = payee
            .unsettled()
            .await
            .unwrap()
            .iter()
            .map(|u| u.receipt.cumulative())
            .chain(
                payee
                    .payee_channels()
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.state.account().map_or(0, |a| a.paid())),
            )
            .max()
            .unwrap_or(0);
        payee.close().await;
        (reserved, held)
    })
}

#[test]
fn agents_killed_mid_transfer_lose_nothing_and_pay_every_piece_once() {
    let net = Net::start(1, 1, true);
    let torrent = hex::encode([0x5au8; 20]);
    let seeder = write_config(
        &net,
        "seeder",
        "seeder",
        &format!(
            "[payee]\nprice = {PRICE}\ncredit_pieces = {CREDIT}\n[payee.settle]\nmin_value = 1\nmax_age_s = 1\n"
        ),
    );
    let leecher = write_config(
        &net,
        "leecher",
        "leecher",
        &format!(
            "[payer]\nmax_price = {PRICE}\nbudget_total = {}\ndeposit_per_channel = {}\nidle_close_s = 0\n",
            1_000 * PRICE,
            40 * PRICE
        ),
    );
    let have = net.dir.path().join("have.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (mut server, address) = serve(&seeder, &listen, &torrent);

    // The leecher is killed a third of the way.
    let mut client = fetch(&leecher, &address, &torrent, &have, 5);
    assert!(eventually(Duration::from_secs(60), || pieces_had(&have) >= 50));
    kill9(&mut client);
    let (reserved_before, _) = stored(&net, "leecher", "seeder");
    assert!(reserved_before > 0);
    assert!(
        reserved_before <= pieces_had(&have) as u128 * PRICE,
        "nothing paid that was not had"
    );

    // It comes back, and the seeder is killed two thirds of the way.
    let mut client = fetch(&leecher, &address, &torrent, &have, 5);
    assert!(eventually(Duration::from_secs(60), || pieces_had(&have) >= 100));
    kill9(&mut server);
    let (_, held_before) = stored(&net, "leecher", "seeder");
    assert!(held_before > 0, "the seeder held receipts before it died");
    let (mut server, _) = serve(&seeder, &listen, &torrent);

    // The leecher dials again and finishes.
    let status = client.wait().unwrap();
    assert!(status.success(), "fetch failed");
    assert_eq!(pieces_had(&have), PIECES as usize);
    let (reserved, held) = stored(&net, "leecher", "seeder");
    assert!(
        reserved >= reserved_before,
        "never signed below what it signed"
    );
    assert!(held >= held_before, "the seeder lost no receipt");
    // Paid once: never more than the pieces had; at most the credit window in flight at each of the
    // two kills went unpaid (pieces that passed but whose receipt never left).
    assert!(reserved <= u128::from(PIECES) * PRICE, "{reserved}");
    assert!(
        reserved >= u128::from(PIECES - 2 * CREDIT) * PRICE,
        "{reserved} of {}",
        u128::from(PIECES) * PRICE
    );
    // The seeder got the last receipt, and the relayer settles it.
    assert!(eventually(Duration::from_secs(30), || stored(
        &net, "leecher", "seeder"
    )
    .1 == reserved));
    let channel = net.rt.block_on(async {
        let store = SqliteStore::open(net.dir.path().join("leecher.sqlite"))
            .await
            .unwrap();
        let id = store.payer_channels().await.unwrap()[0].channel.id();
        store.close().await;
        id
    });
    assert!(
        eventually(Duration::from_secs(60), || net.channel(channel).settled
            == reserved),
        "{:?}",
        net.channel(channel)
    );
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}
