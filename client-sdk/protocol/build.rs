//! Makes sure forge's artifacts of the escrow and token exist and are up to date before `sol!` reads their
//! ABIs (src/bindings.rs; the SDK's RPC bindings read the same files): when one is missing or older than
//! `contracts/src/**` or `contracts/foundry.toml`, runs `contracts/tools/build-artifacts.sh` (toolchain
//! install if needed, then `forge build src`). The bindings are generated from the contracts on every
//! build, never copied by hand.

use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::SystemTime,
};

/// The artifacts the bindings are generated from, relative to `contracts/`.
const ARTIFACTS: [&str; 2] = [
    "out/ChannelEscrow.sol/ChannelEscrow.json",
    "out/PieceToken.sol/PieceToken.json",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let contracts = manifest_dir.join("../../contracts");
    let src = contracts.join("src");
    let foundry_toml = contracts.join("foundry.toml");

    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", foundry_toml.display());
    for artifact in ARTIFACTS {
        // Also when an artifact is deleted or rebuilt by someone else's `forge build`.
        println!(
            "cargo:rerun-if-changed={}",
            contracts.join(artifact).display()
        );
    }

    let newest_input = newest_mtime(&src)
        .and_then(|src| Ok(src.max(fs::metadata(&foundry_toml)?.modified()?)))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    let stale = ARTIFACTS.iter().any(|artifact| {
        fs::metadata(contracts.join(artifact))
            .and_then(|m| m.modified())
            .map_or(true, |built| built < newest_input)
    });
    if !stale {
        return;
    }

    let script = contracts.join("tools/build-artifacts.sh");
    // The script writes only to stderr: our stdout is for cargo's directives.
    let status = Command::new("bash")
        .arg(&script)
        .stdout(Stdio::from(io::stderr()))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        status.success(),
        "{} failed ({status}): the contract bindings need forge's artifacts; run `make setup`, then see \
         the output above",
        script.display()
    );
    // forge rewrites only what changed, so an unchanged artifact keeps its old mtime: existing is enough.
    for artifact in ARTIFACTS {
        let path = contracts.join(artifact);
        assert!(
            path.is_file(),
            "{} is missing after `forge build src`",
            path.display()
        );
    }
}

/// The latest modification time of any file under `dir`.
fn newest_mtime(dir: &Path) -> io::Result<SystemTime> {
    let mut newest = fs::metadata(dir)?.modified()?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let mtime = if entry.file_type()?.is_dir() {
            newest_mtime(&entry.path())?
        } else {
            entry.metadata()?.modified()?
        };
        newest = newest.max(mtime);
    }
    Ok(newest)
}
