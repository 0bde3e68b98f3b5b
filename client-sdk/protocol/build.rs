//! Makes sure forge's artifacts of the escrow and token exist and are up to date before `sol!` reads their
//! ABIs (src/bindings.rs; the SDK's RPC bindings read the same files) and the deploy tool embeds them
//! (both EVM generations: `out/` and the `legacy` profile's `out-legacy/`): when one is missing or older
//! than `contracts/src/**`, `contracts/evm/**` or `contracts/foundry.toml`, runs
//! `contracts/tools/build-artifacts.sh` (toolchain install if needed, then `forge build src` per
//! generation). The bindings are generated from the contracts on every build, never copied by hand.

use std::{
    env, fs, io,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::SystemTime,
};

/// The artifacts the bindings are generated from and the deploy tool embeds, relative to `contracts/`.
const ARTIFACTS: [&str; 4] = [
    "out/ChannelEscrow.sol/ChannelEscrow.json",
    "out/PieceToken.sol/PieceToken.json",
    "out-legacy/ChannelEscrow.sol/ChannelEscrow.json",
    "out-legacy/PieceToken.sol/PieceToken.json",
];

/// The sources the artifacts are built from, relative to `contracts/`: the contracts, the per-EVM-generation
/// pieces the profiles' remappings select, and the profiles themselves.
const INPUTS: [&str; 3] = ["src", "evm", "foundry.toml"];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let contracts = manifest_dir.join("../../contracts");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", contracts.join(input).display());
    }
    for artifact in ARTIFACTS {
        // Also when an artifact is deleted or rebuilt by someone else's `forge build`.
        println!(
            "cargo:rerun-if-changed={}",
            contracts.join(artifact).display()
        );
    }

    let newest_input = INPUTS
        .iter()
        .map(|input| {
            let path = contracts.join(input);
            newest_mtime(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        })
        .max()
        .expect("INPUTS is not empty");
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
            "{} is missing after contracts/tools/build-artifacts.sh",
            path.display()
        );
    }
}

/// The latest modification time of `path` or, for a directory, of any file under it.
fn newest_mtime(path: &Path) -> io::Result<SystemTime> {
    let metadata = fs::metadata(path)?;
    let mut newest = metadata.modified()?;
    if !metadata.is_dir() {
        return Ok(newest);
    }
    for entry in fs::read_dir(path)? {
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
