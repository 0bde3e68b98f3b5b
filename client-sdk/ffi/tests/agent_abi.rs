//! The client agent through the C ABI: configuration errors as statuses with a clear message, and a C
//! program in which two agents pay per piece on a devnet with a relayer.

#![allow(unsafe_code)]

mod common;

use std::{ffi::CString, path::Path, process::Command, ptr};

use common::{
    c::{compile, run},
    last_message,
};

use piecepay_deploy::devnet::{Devnet, DevnetConfig};
use piecepay_ffi::*;
use piecepay_protocol::alloy_primitives::U256;
use piecepay_test_support::{chain::devnet_config, relayer::workspace_bin, temp_dir};

fn new_agent(config: &Path) -> (PiecepayStatus, *mut PiecepayAgent) {
    let path = CString::new(config.to_str().unwrap()).unwrap();
    let mut agent = ptr::null_mut();
    // SAFETY: valid strings and out pointer.
    let status = unsafe { piecepay_agent_new(path.as_ptr(), ptr::null(), &mut agent) };
    (status, agent)
}

#[test]
fn a_wrong_configuration_fails_with_its_status_and_names_what_is_wrong() {
    let dir = temp_dir();
    let config = dir.path().join("agent.toml");
    for (text, status, names) in [
        (
            "[wallet]\nkey_env = \"X\"\n",
            PiecepayStatus::Config,
            "missing field",
        ),
        (
            "[wallet]\nkey_env = \"X\"\n[chain]\nchain_id = 1\nescrow = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\n\
             rpc_url = \"http://127.0.0.1:9\"\n[store]\npath = \"a.sqlite\"\n[payee]\nprice = 0\n",
            PiecepayStatus::Config,
            "payee.price",
        ),
        (
            "[wallet]\nkeystore = \"missing.json\"\n[chain]\nchain_id = 1\n\
             escrow = \"0x5fbdb2315678afecb367f032d93f642f64180aa3\"\nrpc_url = \"http://127.0.0.1:9\"\n\
             [store]\npath = \"a.sqlite\"\n[payee]\nprice = 1\n",
            PiecepayStatus::Wallet,
            "missing.json",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let (got, agent) = new_agent(&config);
        assert_eq!(got, status, "{text}: {}", last_message());
        assert!(agent.is_null());
        assert!(last_message().contains(names), "{}", last_message());
    }
    let (got, _) = new_agent(&dir.path().join("nope.toml"));
    assert_eq!(got, PiecepayStatus::Config);
    // SAFETY: NULL arguments are checked, never dereferenced.
    unsafe {
        let mut agent = ptr::null_mut();
        assert_eq!(
            piecepay_agent_new(ptr::null(), ptr::null(), &mut agent),
            PiecepayStatus::NullArgument
        );
        piecepay_agent_free(ptr::null_mut());
        piecepay_peer_free(ptr::null_mut());
        assert_eq!(piecepay_peer_id(ptr::null()), 0);
    }
}

#[test]
fn a_c_program_pays_per_piece_through_two_agents() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = temp_dir();
    let devnet = rt
        .block_on(Devnet::start(
            &DevnetConfig {
                peers: 2,
                leechers: 1,
                tokens_per_peer: U256::from(10_000_000u64),
                deposit: U256::from(1_000_000u64),
                relayer_bin: Some(workspace_bin()),
                ..devnet_config(&dir.path().join("devnet"))
            },
            &mut |_| {},
        ))
        .unwrap();
    let info = devnet.info().clone();
    let common = format!(
        "[chain]\nmanifest = \"{}\"\nrpc_url = \"{}\"\n[relayer]\nurls = [\"{}\"]\n\
         [timing]\nchain_poll_ms = 300\ntick_ms = 200\n",
        info.manifest.display(),
        info.rpc_url,
        info.relayer.as_ref().unwrap().url
    );
    let seller = dir.path().join("seller.toml");
    std::fs::write(
        &seller,
        format!(
            "[wallet]\nkey_env = \"SELLER_KEY\"\n[store]\npath = \"seller.sqlite\"\n\
             [payee]\nprice = 1000\ncredit_pieces = 4\n{common}"
        ),
    )
    .unwrap();
    let buyer = dir.path().join("buyer.toml");
    std::fs::write(
        &buyer,
        format!(
            "[wallet]\nkey_env = \"BUYER_KEY\"\n[store]\npath = \"buyer.sqlite\"\n\
             [payer]\nmax_price = 1000\nbudget_total = 1000000\ndeposit_per_channel = 100000\n{common}"
        ),
    )
    .unwrap();
    let key = |role: &str| info.accounts(role).next().unwrap().key.to_string();

    let program = dir.path().join("agent");
    compile("agent", &program);
    let stdout = run(Command::new(&program)
        .args([seller.as_os_str(), buyer.as_os_str()])
        .args(["30", "1000"])
        .env("SELLER_KEY", key("seeder"))
        .env("BUYER_KEY", key("leecher")));
    assert!(stdout.contains("checks passed"), "{stdout}");
    rt.block_on(devnet.shutdown());
}
