//! [`PostgresServer`]: a PostgreSQL server of its own, from the Debian binaries, in a temp dir.

use std::{
    net::TcpStream,
    os::unix::{fs::chown, process::CommandExt},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// Where Debian's `postgresql-15` package puts its binaries; `PIECEPAY_PG_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server initialised in a temporary directory and listening on a free port of
/// 127.0.0.1, trusting local connections as `postgres`. Stopped (fast shutdown) and deleted on drop.
///
/// PostgreSQL refuses to run as root; when the process is root, the server runs as the `postgres` system
/// user (which the Debian package creates).
#[derive(Debug)]
pub struct PostgresServer {
    child: Option<Child>,
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    _dir: TempDir,
}

impl PostgresServer {
    /// Runs `initdb`, starts the server and waits until it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        let bin = std::env::var_os("PIECEPAY_PG_BIN")
            .map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
        let dir = tempfile::Builder::new().prefix("piecepay-pg-").tempdir()?;
        let data = dir.path().join("data");
        let run_as = if is_root() {
            Some(postgres_user()?)
        } else {
            None
        };
        if let Some((uid, gid)) = run_as {
            chown(dir.path(), Some(uid), Some(gid))?;
        }
        let output = command(&bin, "initdb", run_as)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ])
            .output()?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        if let Some((uid, gid)) = run_as {
            chown(dir.path().join("postgres.log"), Some(uid), Some(gid))?;
        }
        let child = command(&bin, "postgres", run_as)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut server = Self {
            child: Some(child),
            bin,
            data,
            port,
            run_as,
            _dir: dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(std::io::Error::other(format!("postgres exited: {status}")));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ready = self.client("pg_isready").stdout(Stdio::null()).status()?;
                if ready.success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("postgres did not start in time"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A server shared by everyone holding the returned handle: started on first use, stopped when the
    /// last handle is dropped (tests of one binary running in parallel share one server; give each its
    /// own database).
    pub fn shared() -> std::io::Result<Arc<Self>> {
        static SHARED: Mutex<Weak<PostgresServer>> = Mutex::new(Weak::new());
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(server) = shared.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(Self::start()?);
        *shared = Arc::downgrade(&server);
        Ok(server)
    }

    /// Creates a database with a fresh unique name and returns its URL.
    pub fn fresh_database(&self) -> std::io::Result<String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.create_database(&format!(
            "db{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// The port it listens on.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (the server starts with `postgres`; create others with
    /// [`create_database`](Self::create_database)).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> std::io::Result<String> {
        let output = self.client("createdb").arg(name).output()?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "createdb failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(self.url(name))
    }
}

impl PostgresServer {
    /// Client program `name` (`pg_isready`, `createdb`, …) connecting to this server as `postgres`.
    fn client(&self, name: &str) -> Command {
        let mut command = command(&self.bin, name, None);
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        command
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let stopped = command(&self.bin, "pg_ctl", self.run_as)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if let Some(mut child) = self.child.take() {
            if !stopped {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn command(bin: &std::path::Path, name: &str, run_as: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(bin.join(name));
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

fn is_root() -> bool {
    // /proc/self/status: "Uid:\treal\teffective\t…"
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn postgres_user() -> std::io::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| std::io::Error::other("no postgres user: install Debian's postgresql-15"))
}

/// A free TCP port on 127.0.0.1 (bound, then released: another process could take it meanwhile).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
