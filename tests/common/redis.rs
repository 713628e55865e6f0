//! A private redis-server for one test: a free loopback port, AOF on in a
//! temporary directory, killed and waited for in `Drop` even when the test
//! panics. `start` returns `None`, with a note, only when redis-server is
//! not installed (`.ci/run` installs it).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it starts.
const STARTUP: Duration = Duration::from_secs(15);

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// A server with no password.
    pub fn start() -> Option<RedisServer> {
        RedisServer::launch(None)
    }

    /// A server that requires `password`.
    pub fn with_password(password: &str) -> Option<RedisServer> {
        RedisServer::launch(Some(password.to_owned()))
    }

    fn launch(password: Option<String>) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            eprintln!("note: redis-server is not installed; skipping this Redis test");
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            password,
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// Starts the server (again, after [`RedisServer::kill`]) on the same
    /// port and directory, so its append-only file is replayed; returns
    /// once it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.dir.path().join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        self.child = Some(command.spawn().expect("redis-server starts"));
        let deadline = Instant::now() + STARTUP;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {STARTUP:?}; its log: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True once the server replies to PING (NOAUTH counts: it is up).
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        let _ = BufReader::new(stream).read_line(&mut line);
        line.starts_with("+PONG") || line.starts_with("-NOAUTH")
    }

    /// Kills the server with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An address for a market no other test on this server uses.
    pub fn unique_address(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        self.address(&format!("m{}-{n}", std::process::id()))
    }

    /// The address of the market `name` on this server, with its password.
    pub fn address(&self, name: &str) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/{name}", self.port),
            None => format!("redis://127.0.0.1:{}/{name}", self.port),
        }
    }

    /// A plain client connection, for tests that plant or inspect keys.
    pub fn client(&self) -> redis::Connection {
        let url = match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        };
        redis::Client::open(url)
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("a connection to the test server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
