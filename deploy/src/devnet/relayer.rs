//! The devnet's relayer: a `piecepay-relayer run --config <file>` child on SQLite, with a generated config
//! that points at the devnet's manifest.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use alloy::primitives::B256;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

use super::process;
use crate::{Error, Manifest, Result};

/// The relayer's binary name.
pub const BIN_NAME: &str = "piecepay-relayer";
/// How long the relayer gets to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds the relayer binary: `explicit` if given, else next to the running executable (cargo puts all of
/// a workspace's binaries in one directory), else on `PATH`. `None` when there is none. The path is
/// absolute: the relayer runs in its own directory, where a relative one would name another file
/// (`make devnet` passes `--relayer-bin target/debug/piecepay-relayer`).
pub fn find_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return path
            .is_file()
            .then(|| std::path::absolute(path).ok())
            .flatten();
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(BIN_NAME)));
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(BIN_NAME));
    sibling.into_iter().chain(on_path).find(|p| p.is_file())
}

/// What the relayer is started with.
#[derive(Clone, Debug)]
pub struct RelayerSetup {
    /// The binary.
    pub bin: PathBuf,
    /// Where its config, key file, database and log go.
    pub dir: PathBuf,
    /// The chain's endpoint.
    pub rpc_url: String,
    /// The manifest file of the devnet's deployment.
    pub manifest_path: PathBuf,
    /// Its submitting key (an anvil dev key).
    pub key: B256,
    /// The port its API listens on, on 127.0.0.1.
    pub port: u16,
    /// Extra environment for the process: configuration overrides (`PIECEPAY_RELAYER__<SECTION>__<KEY>`).
    pub env: Vec<(String, String)>,
}

/// A running relayer; killed when dropped, stopped gracefully by [`Relayer::stop`].
#[derive(Debug)]
pub struct Relayer {
    child: Child,
    /// Its API, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its config file.
    pub config: PathBuf,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
}

impl Relayer {
    /// Writes the config and starts the relayer; returns once it answers `GET /healthz` with 200.
    pub async fn start(setup: &RelayerSetup, manifest: &Manifest) -> Result<Self> {
        let io = |what: &str, e| Error::io(format!("{what} in {}", setup.dir.display()), e);
        std::fs::create_dir_all(&setup.dir).map_err(|e| io("creating the relayer dir", e))?;
        let key_file = setup.dir.join("relayer.key");
        write_private(&key_file, &format!("{}\n", setup.key))
            .map_err(|e| io("writing the key file", e))?;
        let config = setup.dir.join("relayer.toml");
        let text = config_toml(setup, manifest, &key_file);
        std::fs::write(&config, text).map_err(|e| io("writing relayer.toml", e))?;
        let log = setup.dir.join("relayer.log");
        let log_file = std::fs::File::create(&log).map_err(|e| io("creating relayer.log", e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| io("opening relayer.log", e))?;

        let mut child = Command::new(&setup.bin)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .current_dir(&setup.dir)
            // The log is a file: no terminal colour codes in it.
            .env("NO_COLOR", "1")
            .envs(setup.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches only the devnet, which stops it in order.
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Relayer(format!("cannot start {}: {e}", setup.bin.display())))?;

        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Relayer(format!(
                    "exited before answering /healthz ({status}); its log {}:\n{}",
                    log.display(),
                    tail(&log)
                )));
            }
            if healthz(setup.port).await {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                process::stop(&mut child, process::GRACE).await;
                return Err(Error::Relayer(format!(
                    "did not answer /healthz on 127.0.0.1:{} within {} s; its log {}:\n{}",
                    setup.port,
                    START_TIMEOUT.as_secs(),
                    log.display(),
                    tail(&log)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self {
            child,
            url: format!("http://127.0.0.1:{}", setup.port),
            config,
            log,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until it exits on its own.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.wait().await.ok()
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and reaps it.
    pub async fn stop(mut self) {
        process::stop(&mut self.child, process::GRACE).await;
    }

    /// Kills it at once (SIGKILL: no shutdown path runs, as in a crash) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The relayer's config (keys as `relayer/src/config.rs` defines them). The chain's identity is given
/// both through the manifest and explicitly, so the relayer starts whichever it reads.
pub fn config_toml(setup: &RelayerSetup, manifest: &Manifest, key_file: &Path) -> String {
    let quote = |s: &str| toml_string(s);
    format!(
        "# Generated by piecepay-devnet for a throwaway local chain.\n\
         [chain]\n\
         rpc_url = {rpc}\n\
         manifest = {manifest_path}\n\
         chain_id = {chain_id}\n\
         escrow = {escrow}\n\
         token = {token}\n\
         start_block = {start}\n\
         # anvil mines on demand and never reorganises: events are final at once.\n\
         confirmations = 0\n\
         poll_interval_ms = 500\n\
         \n\
         [signer]\n\
         key_file = {key_file}\n\
         \n\
         [database]\n\
         url = {db}\n\
         \n\
         [api]\n\
         listen = {listen}\n\
         \n\
         # Settle promptly, for demos: every receipt is due within ~2 s of its arrival.\n\
         [batch]\n\
         value_threshold = \"1\"\n\
         max_age_s = 2\n\
         interval_ms = 500\n",
        rpc = quote(&setup.rpc_url),
        manifest_path = quote(&setup.manifest_path.display().to_string()),
        chain_id = manifest.chain_id,
        escrow = quote(&manifest.escrow.address.to_string()),
        token = quote(&manifest.token.address.to_string()),
        start = manifest.deployment_block.number,
        key_file = quote(&key_file.display().to_string()),
        db = quote(&format!(
            "sqlite://{}",
            setup.dir.join("relayer.db").display()
        )),
        listen = quote(&format!("127.0.0.1:{}", setup.port)),
    )
}

/// A TOML basic string (JSON's escaping is a subset TOML accepts).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// Whether `GET /healthz` on 127.0.0.1:`port` answers 200 (a bare HTTP/1.0 exchange: no client needed).
pub async fn healthz(port: u16) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// A free port on 127.0.0.1 at the time of asking (the relayer binds it moments later).
pub fn free_port() -> Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port", e))
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut file, text.as_bytes())
}

/// The last lines of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_relative_binary_is_found_as_an_absolute_path() {
        // Tests run in the crate's directory, so `Cargo.toml` is a file relative to it.
        let found = find_binary(Some(Path::new("Cargo.toml"))).unwrap();
        assert!(found.is_absolute(), "{}", found.display());
        assert_eq!(found, std::env::current_dir().unwrap().join("Cargo.toml"));
        assert_eq!(find_binary(Some(Path::new("no/such/relayer"))), None);
    }
}
