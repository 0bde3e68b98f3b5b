//! [`Relayer`]: a `piecepay-relayer run --config <file>` child process, started by a [`RelayerCommand`].
//!
//! The relayer prints `listening on ADDR` as its first stdout line once its API is bound, so configs give
//! `[api] listen = "127.0.0.1:0"` and the test learns the port from that line.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// How long the relayer may take to bind its API.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a relayer: binary, config file, environment, log. Start the same command again to restart
/// "the same node" (same config, same database).
#[derive(Clone, Debug)]
pub struct RelayerCommand {
    bin: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
    log: Option<PathBuf>,
}

impl RelayerCommand {
    /// `bin run --config config`, logging at `warn` (`RUST_LOG` through [`env`](Self::env) changes it)
    /// to this process's stderr. In the relayer's own tests `bin` is `env!("CARGO_BIN_EXE_piecepay-relayer")`;
    /// elsewhere [`workspace_bin`].
    pub fn new(bin: impl Into<PathBuf>, config: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            config: config.into(),
            env: vec![("RUST_LOG".into(), "warn".into())],
            log: None,
        }
    }

    /// Sets an environment variable of the process (`RUST_LOG`, `PIECEPAY_RELAYER__…` overrides, …).
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Appends its log (stderr) to the file `path` instead, without colours; its last lines are printed
    /// if the test panics while the relayer runs.
    #[must_use]
    pub fn log(mut self, path: &Path) -> Self {
        self.log = Some(path.to_owned());
        self
    }

    /// Starts it and returns once it listens; panics if it does not within 60 s.
    pub fn start(&self) -> Relayer {
        let mut command = Command::new(&self.bin);
        command
            .args(["run", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(log) = &self.log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
            command.env("NO_COLOR", "1").stderr(file);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        // Reads its stdout to the end, so a full pipe never blocks it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut relayer = Relayer {
            child,
            url: String::new(),
            log: self.log.clone(),
            lines,
        };
        let Some(line) = relayer.next_line(START_TIMEOUT) else {
            panic!(
                "the relayer did not start within {START_TIMEOUT:?}{}",
                relayer.log_tail()
            );
        };
        let address = crate::listening_address(&line)
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        relayer.url = format!("http://{address}");
        relayer
    }
}

/// A running relayer; SIGKILLed on drop.
#[derive(Debug)]
pub struct Relayer {
    child: Child,
    url: String,
    log: Option<PathBuf>,
    lines: mpsc::Receiver<String>,
}

impl Relayer {
    /// Its API, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its next stdout line (after `listening on …`), if one comes within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// SIGKILL, as in a crash (no shutdown path runs), and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful shutdown: in-flight work drained) and waits for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        let _ = kill(pid, Signal::SIGTERM);
        self.child.wait().expect("waiting for the relayer")
    }

    fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "; the last lines of its log {}:\n{}",
            log.display(),
            lines[lines.len().saturating_sub(60)..].join("\n")
        )
    }
}

impl Drop for Relayer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && self.log.is_some() {
            eprintln!("--- relayer{}", self.log_tail());
        }
    }
}

/// The `piecepay-relayer` binary of this workspace build, next to the running test's directory
/// (`target/<profile>/`): `cargo test --workspace` builds it; alone, `cargo build -p piecepay-relayer`.
pub fn workspace_bin() -> PathBuf {
    // Tests and benchmarks run from target/<profile>/deps/; the workspace's binaries are one level up.
    let exe = std::env::current_exe().expect("the test's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("piecepay-relayer");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p piecepay-relayer` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}
