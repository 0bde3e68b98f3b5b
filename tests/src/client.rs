//! `piecepay-torrent` client processes (client-sdk/integrations/libtorrent/demo/client.cpp), each with its
//! own agent configuration (docs/agent.md), key and SQLite file: what the main job and the client tests
//! start, watch, kill and stop.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use piecepay_deploy::devnet::{Account, Devnet, DevnetInfo};
use piecepay_sdk::{
    Amount,
    chain::ChainClient,
    protocol::alloy_primitives::{B256, hex},
};
use serde_json::Value;
use tempfile::TempDir;

/// The environment variable a client's key is passed in (the configuration's `wallet.key_env`).
pub const KEY_ENV: &str = "PIECEPAY_KEY";

/// What a client's agent buys or sells.
#[derive(Clone, Copy, Debug)]
pub enum Policy {
    /// `[payee]`: sells at `price`, `credit_pieces` ahead of payment, `free_pieces` to a peer that does
    /// not pay; hands every receipt to the relayer within a second.
    Seller {
        /// Asked per piece.
        price: Amount,
        /// Served ahead of payment.
        credit_pieces: u64,
        /// Served to a peer without a funded channel.
        free_pieces: u64,
    },
    /// `[payer]`: buys up to `max_price`, spends at most `budget`, locks `deposit_per_channel` per seller,
    /// never closes an idle channel by itself (the host closes at the end).
    Buyer {
        /// Highest price answered with a bid.
        max_price: Amount,
        /// Never spent beyond, over all torrents.
        budget: Amount,
        /// What a new channel locks.
        deposit_per_channel: Amount,
    },
}

/// A devnet of the client tests, in a temp dir of its own (removed on drop, after the devnet): its info,
/// a chain client of its deployer to read channels and balances with, and where the clients keep their
/// configurations, logs and downloads.
pub struct ClientNet {
    /// The devnet (anvil, the contracts, usually the relayer).
    pub devnet: Devnet,
    /// Its RPC URL, contracts, manifest and accounts.
    pub info: DevnetInfo,
    /// The deployer's chain client.
    pub chain: ChainClient,
    /// The temp dir's path: the devnet's state in `devnet/`, the clients' files beside it.
    pub dir: PathBuf,
    _tmp: TempDir,
}

impl ClientNet {
    /// Makes the temp dir, starts the devnet with `start(dir/devnet)` (the test's own peers and relayer)
    /// and connects the deployer's chain client.
    pub async fn start(start: impl AsyncFnOnce(&Path) -> Devnet) -> Self {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().to_owned();
        let devnet = start(&dir.join("devnet")).await;
        let info = devnet.info().clone();
        let chain = ChainClient::connect(&info.rpc_url, &info.deployer.key, info.escrow)
            .await
            .expect("the devnet's chain client connects");
        Self {
            devnet,
            info,
            chain,
            dir,
            _tmp: tmp,
        }
    }

    /// The `i`-th peer of `role` ("seeder", "leecher").
    pub fn account(&self, role: &str, i: usize) -> Account {
        *self.info.accounts(role).nth(i).expect("that many peers")
    }

    /// Writes the agent configuration of client `name` in [`dir`](Self::dir) ([`write_config`]); its
    /// path as a command-line argument.
    pub fn config(&self, name: &str, policy: Policy) -> String {
        arg(&write_config(&self.info, &self.dir, name, policy))
    }

    /// `dir/name` as a command-line argument.
    pub fn path(&self, name: &str) -> String {
        arg(&self.dir.join(name))
    }
}

/// A path as a command-line argument (the tests' temp paths are UTF-8).
pub fn arg(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// Writes the agent configuration `dir/name.toml` for a client of `info`'s devnet (chain from its
/// manifest, its RPC node and relayer, quick timings, the store `dir/name.sqlite`), its key in
/// [`KEY_ENV`].
pub fn write_config(info: &DevnetInfo, dir: &Path, name: &str, policy: Policy) -> PathBuf {
    let relayer = info
        .relayer
        .as_ref()
        .map(|r| format!("[relayer]\nurls = [\"{}\"]\n", r.url))
        .unwrap_or_default();
    let policy = match policy {
        Policy::Seller {
            price,
            credit_pieces,
            free_pieces,
        } => format!(
            "[payee]\nprice = {}\ncredit_pieces = {credit_pieces}\nfree_pieces = {free_pieces}\n\
             [payee.settle]\nmin_value = 1\nmax_age_s = 1\n",
            toml_amount(price)
        ),
        Policy::Buyer {
            max_price,
            budget,
            deposit_per_channel,
        } => format!(
            "[payer]\nmax_price = {}\nbudget_total = {}\n\
             deposit_per_channel = {}\nidle_close_s = 0\n",
            toml_amount(max_price),
            toml_amount(budget),
            toml_amount(deposit_per_channel)
        ),
    };
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[wallet]\nkey_env = \"{KEY_ENV}\"\n\
             [chain]\nmanifest = \"{}\"\nrpc_url = \"{}\"\n\
             {relayer}\
             [store]\npath = \"{name}.sqlite\"\n\
             [timing]\nchain_poll_ms = 300\ntick_ms = 200\nchannel_check_s = 10\n{policy}",
            info.manifest.display(),
            info.rpc_url,
        ),
    )
    .expect("the client's directory is writable");
    config
}

/// An amount as TOML: an integer, or above 2^63 a decimal string (docs/agent.md).
fn toml_amount(amount: Amount) -> String {
    if amount <= i64::MAX as Amount {
        amount.to_string()
    } else {
        format!("\"{amount}\"")
    }
}

/// A running `piecepay-torrent serve|download`: its first stdout line (the hello) read, the rest
/// collected; stderr (progress, events, summary) in a log file. Killed when dropped unfinished, so a
/// failure leaves nothing running.
pub struct Client {
    child: Child,
    /// The hello: `listen`, `address`, `torrent`.
    pub hello: Value,
    lines: mpsc::Receiver<String>,
    /// Its stderr.
    pub log: PathBuf,
}

impl Client {
    /// Starts `bin args…` with `key` and waits (30 s at most) for its hello.
    pub fn start(bin: &Path, args: &[&str], key: B256, log: PathBuf) -> anyhow::Result<Self> {
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(bin)
            .args(args)
            .env(KEY_ENV, hex::encode(key))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let lines = read_lines(child.stdout.take().expect("piped"));
        let mut client = Self {
            child,
            hello: Value::Null,
            lines,
            log,
        };
        let hello = client
            .lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| anyhow::anyhow!("{args:?} printed no hello\n{}", client.tail(20)))?;
        client.hello = serde_json::from_str(&hello).context("the hello is JSON")?;
        Ok(client)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Waits for the exit; the last JSON line it printed (the agent's report) and whether it succeeded.
    pub fn finish(&mut self, timeout: Duration) -> anyhow::Result<(Value, bool)> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("did not finish within {timeout:?}\n{}", self.tail(20));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let last = self
            .lines
            .try_iter()
            .last()
            .with_context(|| format!("no report ({status})\n{}", self.tail(20)))?;
        Ok((serde_json::from_str(&last)?, status.success()))
    }

    /// SIGTERM (a seller stops serving and reports), then [`Self::finish`].
    pub fn terminate(&mut self) -> anyhow::Result<(Value, bool)> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {}", self.pid());
        self.finish(Duration::from_secs(20))
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The pieces its last `progress:` line reports.
    pub fn progress(&self) -> Pieces {
        pieces_had(&self.log)
    }

    /// The agent events of type `kind` it logged so far (its `event: {…}` lines, docs/agent.md).
    pub fn events(&self, kind: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// Waits (at most `timeout`) for its first agent event of type `kind` that `matches`; an error with
    /// the end of its log if none came.
    pub fn wait_event(
        &self,
        kind: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.events(kind).into_iter().find(&matches) {
                return Ok(event);
            }
            if Instant::now() > deadline {
                bail!("no {kind} event within {timeout:?}\n{}", self.tail(30));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last `n` lines of its log that are not progress lines.
    pub fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("progress:"))
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if !self.exited() {
            self.kill();
        }
    }
}

fn read_lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Pieces, as a client's `progress: have=H/N paid=P …` line reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pieces {
    /// Pieces it has.
    pub have: u32,
    /// Pieces in the torrent (0 before a magnet link's metadata arrived).
    pub of: u32,
    /// Pieces it paid for.
    pub paid: u64,
}

/// The pieces the last `progress:` line of a client's log reports (all zero before the first).
pub fn pieces_had(log: &Path) -> Pieces {
    let parse = |line: &str| -> Option<Pieces> {
        let mut fields = line.split_whitespace();
        let (have, of) = fields.next()?.strip_prefix("have=")?.split_once('/')?;
        let paid = fields.next()?.strip_prefix("paid=")?;
        Some(Pieces {
            have: have.parse().ok()?,
            of: of.parse().ok()?,
            paid: paid.parse().ok()?,
        })
    };
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("progress: "))
        .find_map(parse)
        .unwrap_or_default()
}

/// Runs one of the wallet commands (`balance`, `withdraw`, `close`) to its end; its stdout, or an error
/// with its stderr.
pub fn run_command(bin: &Path, args: &[&str], key: B256) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env(KEY_ENV, hex::encode(key))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A decimal amount of the agent's report.
pub fn amount(v: &Value) -> anyhow::Result<Amount> {
    v.as_str()
        .with_context(|| format!("{v} is not a decimal string"))?
        .parse()
        .with_context(|| format!("{v} is not an amount"))
}
