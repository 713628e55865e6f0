//! Shared fixtures for the integration tests: a uniquely named segment (or
//! a Redis market on a redis-server of its own) that is removed in `Drop`
//! (even when the test panics), and a way to run the real binaries with a
//! bounded wait, printing everything when they fail.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shm_exchange::SegmentAddress;

pub mod redis;
pub mod streaming;
pub mod tmux;
pub mod users;

/// How long any one process may run before the test fails instead of
/// hanging.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub const TRADER: &str = env!("CARGO_BIN_EXE_trader");
pub const INIT: &str = env!("CARGO_BIN_EXE_exchange-init");
pub const LAB: &str = env!("CARGO_BIN_EXE_exchange-lab");

/// Where a test's market lives: the three shared-memory mechanisms, or a
/// private redis-server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Posix,
    SysV,
    File,
    /// A market on a redis-server the fixture starts on a free port.
    Redis,
}

/// The shared-memory mechanisms (every backend but Redis).
pub const BACKENDS: [Backend; 3] = [Backend::Posix, Backend::SysV, Backend::File];

/// Runs each named `fn(Backend)` as a test against every shared-memory
/// backend, as `posix::NAME`, `sysv::NAME` and `file::NAME`: for what only
/// shared memory has (file modes, other users' access, `ipcs`).
#[allow(unused_macros)] // as dead_code above
macro_rules! each_segment {
    ($($test:ident),* $(,)?) => {
        mod posix { $( #[test] fn $test() { super::$test($crate::common::Backend::Posix) } )* }
        mod sysv { $( #[test] fn $test() { super::$test($crate::common::Backend::SysV) } )* }
        mod file { $( #[test] fn $test() { super::$test($crate::common::Backend::File) } )* }
    };
}
#[allow(unused_imports)]
pub(crate) use each_segment;

/// Runs each named `fn(Backend)` as a test against every backend, Redis
/// included, as `posix::NAME`, `sysv::NAME`, `file::NAME` and
/// `redis::NAME`.
#[allow(unused_macros)] // as dead_code above
macro_rules! each_backend {
    ($($test:ident),* $(,)?) => {
        $crate::common::each_segment!($($test),*);
        mod redis { $( #[test] fn $test() { super::$test($crate::common::Backend::Redis) } )* }
    };
}
#[allow(unused_imports)]
pub(crate) use each_backend;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A segment address no other test uses. Whatever is at it when the value
/// is dropped is removed, so a failing test leaves nothing behind.
pub struct Segment {
    pub address: String,
    dir: Option<SegmentDir>,
    /// The server a Redis market lives on; killed when the segment drops.
    server: Option<redis::RedisServer>,
}

/// The directory a segment's files live in, removed with everything in it
/// after the segment.
enum SegmentDir {
    /// Made by the fixture.
    Temp(tempfile::TempDir),
    /// Chosen by the test, see [`Segment::at`].
    Given(PathBuf),
}

impl Segment {
    /// A fresh address with nothing there yet.
    pub fn unique(backend: Backend) -> Segment {
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        match backend {
            Backend::Posix => {
                // Not a file name: shm names need no directory, only a name
                // no live test process uses.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos();
                Segment {
                    address: format!("posix:/shmx-test-{pid}-{n}-{nanos}"),
                    dir: None,
                    server: None,
                }
            }
            Backend::SysV => {
                // Unique among live test processes: the pid and a counter.
                let key = 0x5e00_0000_u32 | ((pid & 0xffff) << 8) | (n & 0xff);
                Segment {
                    address: format!("sysv:{key:#x}"),
                    dir: None,
                    server: None,
                }
            }
            Backend::File => {
                let dir = tempfile::Builder::new()
                    .prefix("shmx-test-")
                    .tempdir()
                    .unwrap();
                Segment {
                    address: format!("file:{}", dir.path().join("market").display()),
                    dir: Some(SegmentDir::Temp(dir)),
                    server: None,
                }
            }
            Backend::Redis => {
                let server = redis::RedisServer::start().expect(
                    "redis-server is not installed; install it (apt-get install redis-server, as .ci/run does) to run the Redis tests",
                );
                Segment {
                    address: server.unique_address(),
                    dir: None,
                    server: Some(server),
                }
            }
        }
    }

    /// The redis-server of a Redis market.
    pub fn server(&self) -> Option<&redis::RedisServer> {
        self.server.as_ref()
    }

    /// The redis-server of a Redis market, to stop and restart it.
    pub fn server_mut(&mut self) -> Option<&mut redis::RedisServer> {
        self.server.as_mut()
    }

    /// A fresh exchange with the default market.
    pub fn create(backend: Backend) -> Segment {
        let segment = Segment::unique(backend);
        segment.init(&[]).success();
        segment
    }

    /// The address parsed.
    pub fn parsed(&self) -> SegmentAddress {
        self.address.parse().unwrap()
    }

    /// The directory a file segment lives in.
    pub fn dir(&self) -> Option<&Path> {
        match self.dir.as_ref()? {
            SegmentDir::Temp(dir) => Some(dir.path()),
            SegmentDir::Given(dir) => Some(dir),
        }
    }

    /// Runs `exchange-init --segment ADDRESS ARGS...`.
    pub fn init(&self, args: &[&str]) -> Run {
        let mut command = Command::new(INIT);
        command.arg("--segment").arg(&self.address).args(args);
        Run::new(command, b"")
    }

    /// A `PROGRAM --segment ADDRESS ARGS...` command, not yet run, with
    /// crash injection off.
    pub fn command(&self, program: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .arg("--segment")
            .arg(&self.address)
            .args(args)
            .env_remove("SHM_EXCHANGE_CRASH_AT");
        command
    }

    /// A `trader --segment ADDRESS --name NAME` command, not yet run.
    pub fn trader_command(&self, name: &str) -> Command {
        self.command(TRADER, &["--name", name])
    }

    /// An `exchange-lab --segment ADDRESS` command, not yet run.
    pub fn lab_command(&self) -> Command {
        self.command(LAB, &[])
    }

    /// Runs `exchange-lab --segment ADDRESS ARGS...`.
    pub fn lab(&self, args: &[&str]) -> Run {
        let mut command = self.lab_command();
        command.args(args);
        Run::new(command, b"")
    }

    /// Runs one trader command line (one-shot mode).
    pub fn trader(&self, name: &str, args: &[&str]) -> Run {
        let mut command = self.trader_command(name);
        command.args(args);
        Run::new(command, b"")
    }

    /// Runs a trader with `script` on its stdin (scripted mode).
    pub fn script(&self, name: &str, extra_args: &[&str], script: &str) -> Run {
        let mut command = self.trader_command(name);
        command.args(extra_args);
        Run::new(command, script.as_bytes())
    }

    /// One-shot `--json` command, parsed.
    pub fn json(&self, name: &str, command: &str) -> serde_json::Value {
        let mut args = vec!["--json"];
        args.extend(command.split_whitespace());
        let run = self.trader(name, &args);
        run.parse_json()
    }

    /// The file that backs a POSIX or file segment; `None` for System V,
    /// which has none.
    pub fn backing_path(&self) -> Option<PathBuf> {
        match self.parsed() {
            SegmentAddress::Posix { name } => Some(format!("/dev/shm{name}").into()),
            SegmentAddress::File { path } => Some(path),
            SegmentAddress::SysV { .. } => None,
        }
    }

    /// Writes `bytes` at `offset` of the backing file, behind every
    /// process's back (a scribble, a corruption).
    pub fn write_at(&self, offset: usize, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        let path = self.backing_path().expect("System V has no backing file");
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .write_all_at(bytes, offset as u64)
            .unwrap();
    }

    /// Starts `trader --name NAME --script -` fed `script` from a thread,
    /// with stdout and stderr piped, for [`finish`].
    pub fn spawn_script(&self, name: &str, script: &str) -> Child {
        let mut command = self.trader_command(name);
        command
            .args(["--script", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let script = script.to_owned();
        std::thread::spawn(move || {
            let _ = stdin.write_all(script.as_bytes());
        });
        child
    }

    /// Asserts that the market's `audit` balances.
    #[track_caller]
    pub fn assert_consistent(&self) {
        assert_balances(&self.json("auditor", "audit"));
    }

    /// The total number of trades on the exchange's tape, from
    /// `exchange-init --status --json`.
    #[track_caller]
    pub fn trades(&self) -> u64 {
        let run = self.init(&["--status", "--json"]);
        run.success();
        run.parse_json()["trades"]
            .as_u64()
            .unwrap_or_else(|| panic!("no trades in {}", run.stdout()))
    }

    /// A segment whose directory (for a file) lets anyone create and
    /// unlink: a refusal then comes from the owner check, not from the
    /// directory.
    pub fn open_to_all(backend: Backend) -> Segment {
        let segment = Segment::unique(backend);
        if let Some(dir) = segment.dir() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        segment
    }
}

/// Asserts that an `audit` reply says the market balances.
#[track_caller]
pub fn assert_balances(audit: &serde_json::Value) {
    assert_eq!(audit["ok"], true, "{audit}");
    assert_eq!(
        audit["consistent"], true,
        "the market does not balance: {audit}"
    );
}

impl Drop for Segment {
    fn drop(&mut self) {
        if let Ok(address) = self.address.parse::<SegmentAddress>() {
            let _ = shm_exchange::testing::remove_segment(&address);
        }
        // A fixture's own directory goes when its `TempDir` is dropped.
        if let Some(SegmentDir::Given(dir)) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A finished process and everything it printed.
pub struct Run {
    pub description: String,
    pub output: Output,
}

impl Run {
    /// Runs `command` with `input` on stdin, failing the test if it is
    /// still running after [`TIMEOUT`].
    pub fn new(command: Command, input: &[u8]) -> Run {
        Run::within(command, input, TIMEOUT)
    }

    /// As [`Run::new`], for a process that may take longer than
    /// [`TIMEOUT`] (a whole benchmark run on a busy machine).
    pub fn within(mut command: Command, input: &[u8], timeout: Duration) -> Run {
        let description = format!("{command:?}");
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {description}: {error}"));
        let output = finish(child, input, timeout, &description);
        Run {
            description,
            output,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn report(&self) -> String {
        format!(
            "{}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.description,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts exit status 0.
    #[track_caller]
    pub fn success(&self) -> &Run {
        self.status(0)
    }

    /// Asserts the exit status.
    #[track_caller]
    pub fn status(&self, code: i32) -> &Run {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit status\n{}",
            self.report()
        );
        self
    }

    /// Asserts stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout().contains(text),
            "stdout lacks {text:?}\n{}",
            self.report()
        );
        self
    }

    /// Asserts stderr contains `text`, on exactly one line.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        let stderr = self.stderr();
        assert!(
            stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.report()
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "the error is not one line\n{}",
            self.report()
        );
        self
    }

    /// Parses stdout as exactly one JSON object.
    #[track_caller]
    pub fn parse_json(&self) -> serde_json::Value {
        let stdout = self.stdout();
        assert_eq!(
            stdout.trim_end().lines().count(),
            1,
            "not one JSON line\n{}",
            self.report()
        );
        serde_json::from_str(stdout.trim_end())
            .unwrap_or_else(|error| panic!("bad JSON: {error}\n{}", self.report()))
    }

    /// Parses each stdout line as a JSON object.
    #[track_caller]
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("bad JSON {line:?}: {error}\n{}", self.report()))
            })
            .collect()
    }
}

/// Feeds `input`, collects stdout and stderr, and waits at most `timeout`;
/// a process still running then is killed and the test fails.
pub fn finish(mut child: Child, input: &[u8], timeout: Duration, description: &str) -> Output {
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(&input);
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout.read_to_end(&mut buffer);
        buffer
    });
    let err_reader = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer);
        buffer
    });
    let status = wait_until(&mut child, timeout).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{description} still running after {timeout:?}");
    });
    let _ = writer.join();
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Waits for `child` to exit, at most `timeout`.
pub fn wait_until(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `condition` until it holds, at most `timeout`.
#[track_caller]
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A file holding `text`, whose name ends in `suffix` (the config loader
/// reads `.json` as JSON), removed when the value is dropped.
pub fn temp_file(suffix: &str, text: &str) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .prefix("shmx-test-")
        .suffix(suffix)
        .tempfile()
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.into_temp_path()
}

/// A decimal string from a JSON field.
#[track_caller]
pub fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
}

/// A scripted trader that stays attached and idle between commands: its
/// stdin is a pipe the test writes one command line to at a time, and each
/// reply line is read back with a bounded wait. Killed in `Drop` if it is
/// still running, so a failing test leaves no process behind.
pub struct Attached {
    pub name: String,
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    /// Lines from stdout and stderr, in the order they arrived; `true`
    /// marks a stderr line.
    lines: std::sync::mpsc::Receiver<(bool, String)>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Attached {
    /// Starts `trader --segment ADDRESS --name NAME EXTRA...` in scripted
    /// mode and waits until it has attached and answered `portfolio`.
    pub fn start(segment: &Segment, name: &str, extra_args: &[&str]) -> Attached {
        let mut command = segment.trader_command(name);
        command
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut attached = Attached::spawn(command, name);
        attached.ask("portfolio");
        attached
    }

    /// Spawns `command` (which must pipe all three streams) without
    /// sending it anything.
    pub fn spawn(mut command: Command, name: &str) -> Attached {
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        let reader = |stream: Box<dyn Read + Send>, is_stderr: bool| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if sender.send((is_stderr, line)).is_err() {
                        break;
                    }
                }
            })
        };
        let readers = vec![
            reader(Box::new(stdout), false),
            reader(Box::new(stderr), true),
        ];
        Attached {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            readers,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line and returns the one reply line, waiting at
    /// most [`TIMEOUT`]: an answer from stdout, or a text-mode error from
    /// stderr.
    #[track_caller]
    pub fn ask(&mut self, line: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|error| panic!("{}: cannot send {line:?}: {error}", self.name));
        match self.lines.recv_timeout(TIMEOUT) {
            Ok((_, reply)) => reply,
            Err(error) => panic!(
                "{}: no reply to {line:?} ({error}; the wait is {TIMEOUT:?}); exit status: {:?}",
                self.name,
                self.child.try_wait()
            ),
        }
    }

    /// Like [`Attached::ask`], parsing the reply as JSON.
    #[track_caller]
    pub fn ask_json(&mut self, line: &str) -> serde_json::Value {
        let reply = self.ask(line);
        serde_json::from_str(&reply)
            .unwrap_or_else(|error| panic!("{}: bad JSON {reply:?}: {error}", self.name))
    }

    /// Waits at most [`TIMEOUT`] for the process to exit by itself (stdin
    /// stays open, so only a fatal error or a signal ends it) and returns
    /// its status and stderr.
    #[track_caller]
    pub fn wait_exit(&mut self) -> (std::process::ExitStatus, String) {
        let status = wait_until(&mut self.child, TIMEOUT)
            .unwrap_or_else(|| panic!("{} still running after {TIMEOUT:?}", self.name));
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let stderr: Vec<String> = self
            .lines
            .try_iter()
            .filter(|(is_stderr, _)| *is_stderr)
            .map(|(_, line)| line + "\n")
            .collect();
        (status, stderr.concat())
    }

    /// Closes stdin (end of input quits) and waits, at most [`TIMEOUT`].
    #[track_caller]
    pub fn finish(&mut self) -> (std::process::ExitStatus, String) {
        self.stdin = None;
        self.wait_exit()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Segment {
    /// A segment at an address the test chose (a POSIX name of an exact
    /// length, an ftok key, ...). Whatever is at it is removed in `Drop`,
    /// and so is `dir` with everything in it.
    pub fn at(address: String, dir: Option<PathBuf>) -> Segment {
        Segment {
            address,
            dir: dir.map(SegmentDir::Given),
            server: None,
        }
    }

    /// The path of a file segment.
    pub fn file_path(&self) -> Option<PathBuf> {
        self.address.strip_prefix("file:").map(PathBuf::from)
    }
}

/// Waits at most [`TIMEOUT`] for a process in a pty to exit and returns
/// its status.
#[track_caller]
pub fn wait_pty_exit(session: &rexpect::session::PtySession) -> rexpect::process::wait::WaitStatus {
    use rexpect::process::wait::WaitStatus;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match session.process.status() {
            Some(WaitStatus::StillAlive) => {}
            Some(status) => return status,
            None => panic!("cannot get the status of the process in the pty"),
        }
        assert!(
            Instant::now() < deadline,
            "the process in the pty did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
