//! Crash safety: a trader that dies inside the critical section, by SIGKILL
//! or abort, at any step of a trade, never hangs the others and never
//! leaves a half-applied trade behind; and four traders killed at random
//! 50 times leave a market that still balances.
//!
//! Every test runs the real `trader` binary against a uniquely named
//! segment and waits with a bounded timeout. The per-step tests need the
//! test-only hook and are in crash_steps.rs.

mod common;

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::{each_backend, field, wait_for, wait_until, Backend, Run, Segment, TIMEOUT};
use shm_exchange::testing::LOCK_TIMEOUT;

/// A small xorshift generator: the tests print their seed, so a failure
/// can be replayed with `CRASH_SEED=<seed>`.
struct Rng(u64);

impl Rng {
    fn seeded(what: &str) -> Rng {
        let seed = std::env::var("CRASH_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("{what}: CRASH_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A process's state letter from `/proc/PID/stat` (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal)
        .unwrap_or_else(|error| panic!("kill {pid} {signal}: {error}"));
}

/// A trader fed an endless script by a writer thread until it is stopped
/// or killed. Its replies (JSON) are scanned for an inconsistent audit.
struct Looper {
    name: String,
    child: Child,
    stop: Arc<AtomicBool>,
    writer: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Looper {
    /// Starts `trader --json` as `name`; `lines` makes the next batch of
    /// commands each time the writer needs more.
    fn start(
        segment: &Segment,
        name: &str,
        mut lines: impl FnMut() -> String + Send + 'static,
    ) -> Looper {
        let mut command = segment.trader_command(name);
        command
            .arg("--json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        let stop = Arc::new(AtomicBool::new(false));
        let mut stdin = child.stdin.take().unwrap();
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // A write fails once the trader is dead: that ends the loop.
                while !stop.load(Ordering::Relaxed) && stdin.write_all(lines().as_bytes()).is_ok() {
                }
            })
        };
        let stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            // Keep only the lines that say something is wrong.
            std::io::BufReader::new(stdout)
                .split(b'\n')
                .map_while(Result::ok)
                .map(|line| String::from_utf8_lossy(&line).into_owned())
                .filter(|line| line.contains("\"consistent\":false"))
                .collect()
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = stderr.read_to_end(&mut buffer);
            buffer
        });
        Looper {
            name: name.to_owned(),
            child,
            stop,
            writer: Some(writer),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Joins the reader threads once the process is gone, failing if it
    /// printed an error or an inconsistent audit.
    #[track_caller]
    fn check_output(&mut self, status: std::process::ExitStatus) {
        if let Some(writer) = self.writer.take() {
            writer.join().unwrap();
        }
        let bad = self
            .stdout
            .take()
            .map(|reader| reader.join().unwrap())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .map(|reader| reader.join().unwrap())
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        assert!(
            bad.is_empty(),
            "{} saw an inconsistent audit: {bad:?}",
            self.name
        );
        assert!(
            stderr.is_empty(),
            "{} ({status}) wrote to stderr: {stderr}",
            self.name
        );
    }

    /// SIGKILLs it, which must find it still running: a trader that quit
    /// by itself hit a fatal error, or hung and timed out on the lock.
    #[track_caller]
    fn kill(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            self.check_output(status);
            panic!("{} exited by itself with {status}", self.name);
        }
        self.child.kill().unwrap();
        let status = wait_until(&mut self.child, TIMEOUT)
            .unwrap_or_else(|| panic!("{} survived SIGKILL for {TIMEOUT:?}", self.name));
        self.stop.store(true, Ordering::Relaxed);
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{}: {status}",
            self.name
        );
        self.check_output(status);
    }

    /// Ends its input, so it quits by itself, and checks it did: exit
    /// status 0, or 1 when some command was refused (selling more than it
    /// holds, say); never 2 and never a signal.
    #[track_caller]
    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let status = wait_until(&mut self.child, TIMEOUT)
            .unwrap_or_else(|| panic!("{} did not finish within {TIMEOUT:?}: a hang", self.name));
        self.check_output(status);
        assert!(
            matches!(status.code(), Some(0 | 1)),
            "{} ended with {status}",
            self.name
        );
    }
}

impl Drop for Looper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Random trades, quotes, portfolios and audits, 64 lines a batch.
fn random_commands(mut rng: Rng) -> impl FnMut() -> String + Send + 'static {
    move || {
        let mut batch = String::new();
        for _ in 0..64 {
            let line = match rng.below(20) {
                0..=5 => format!("buy DOLLAR {}.{:02}", rng.below(3), rng.below(99) + 1),
                6..=10 => format!("sell DOLLAR {}.{:02}", rng.below(3), rng.below(99) + 1),
                11..=13 => format!("buy EURO {}", rng.below(2) + 1),
                14..=16 => format!("sell EURO {}", rng.below(2) + 1),
                17 => "portfolio".to_owned(),
                18 => "rates".to_owned(),
                _ => "audit".to_owned(),
            };
            batch.push_str(&line);
            batch.push('\n');
        }
        batch
    }
}

/// Issue 2: four traders trade in loops while a random one is SIGKILLed
/// at a random moment and restarted, 50 times. Afterwards the market
/// balances, every trader that was not killed quits cleanly, and nothing
/// hangs.
fn chaos(backend: Backend) {
    const TRADERS: usize = 4;
    const KILLS: usize = 50;
    let segment = Segment::create(backend);
    let mut rng = Rng::seeded(&format!("chaos on {backend:?}"));
    let names: Vec<String> = (0..TRADERS).map(|index| format!("chaos-{index}")).collect();
    let start = |name: &str, rng: &mut Rng| {
        Looper::start(&segment, name, random_commands(Rng(rng.next() | 1)))
    };
    let mut traders: Vec<Looper> = names.iter().map(|name| start(name, &mut rng)).collect();
    for _ in 0..KILLS {
        // A random moment: anywhere in a trade, a lookup, an audit, an
        // account being opened, or the process's own start-up.
        std::thread::sleep(Duration::from_micros(rng.below(25_000)));
        let victim = rng.below(TRADERS as u64) as usize;
        traders[victim].kill();
        traders[victim] = start(&names[victim], &mut rng);
    }
    // Let the last restarts get going, then stop everyone by ending input.
    std::thread::sleep(Duration::from_millis(100));
    for trader in &mut traders {
        trader.finish();
    }
    let audit = segment.json("auditor", "audit");
    common::assert_balances(&audit);
    assert!(segment.trades() > 0, "no trade went through");
    // Every account still adds up, and is still usable after the carnage.
    for name in &names {
        let portfolio = segment.json(name, "portfolio");
        assert_eq!(portfolio["ok"], true, "{portfolio}");
    }
    common::assert_balances(&segment.json("auditor", "audit"));
}

each_backend!(chaos);

/// The robust mutex's futex word: `__lock`, the first field of glibc's
/// `pthread_mutex_t`, at the start of the header's lock slot. It holds the
/// owner's thread id, with bit 31 set while someone waits.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn lock_word(segment_file: &std::fs::File) -> u32 {
    let mut bytes = [0; 4];
    segment_file
        .read_exact_at(
            &mut bytes,
            std::mem::offset_of!(shm_exchange::testing::Header, lock) as u64,
        )
        .unwrap();
    u32::from_ne_bytes(bytes)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const FUTEX_WAITERS: u32 = 0x8000_0000;

/// The lock basics, without the test hook: a trader is stopped while it
/// really holds the lock (its thread id is in the futex word), other
/// traders block on it, and then it is SIGKILLed. The kernel marks the lock
/// "owner died" and wakes a waiter, which repairs and goes on: every waiter
/// finishes well before the lock timeout, the market balances, and the
/// victim's last trade is either fully applied or not at all.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn holder_killed_while_others_wait(backend: Backend) {
    let segment = Segment::create(backend);
    let path = match segment.parsed() {
        shm_exchange::SegmentAddress::Posix { name } => format!("/dev/shm{name}").into(),
        shm_exchange::SegmentAddress::File { path } => path,
        other => panic!("no file to read for {other}"),
    };
    let file = std::fs::File::open(&path).unwrap();
    // The victim alternates buying and selling 0.01 DOLLAR (0.14 and 0.13),
    // so its position follows from the number of trades on the tape.
    let mut victim = Looper::start(&segment, "victim", || {
        "buy DOLLAR 0.01\nsell DOLLAR 0.01\n".repeat(32)
    });
    let pid = victim.child.id();
    let mut rng = Rng::seeded("holder_killed_while_others_wait");
    let deadline = Instant::now() + TIMEOUT;
    let mut attempts = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "never caught the victim holding the lock in {attempts} tries"
        );
        attempts += 1;
        signal(pid, Signal::SIGCONT);
        std::thread::sleep(Duration::from_micros(200 + rng.below(2_000)));
        signal(pid, Signal::SIGSTOP);
        wait_for("the victim to stop", TIMEOUT, || {
            process_state(pid) == Some('T')
        });
        if lock_word(&file) & FUTEX_TID_MASK == pid {
            break;
        }
    }
    eprintln!("caught the victim holding the lock after {attempts} tries");
    // Three traders now block on the lock (opening their accounts for a
    // sale needs it; reads never wait for it); wait until at least one
    // sleeps on the futex. Their sales are then refused (they hold
    // nothing), so the tape keeps only the victim's trades.
    let waiters: Vec<JoinHandle<Run>> = (0..3)
        .map(|index| {
            let mut command = segment.trader_command(&format!("waiter-{index}"));
            command.args(["--json", "sell", "DOLLAR", "0.01"]);
            std::thread::spawn(move || Run::new(command, b""))
        })
        .collect();
    wait_for("a trader to wait on the lock", TIMEOUT, || {
        lock_word(&file) & FUTEX_WAITERS != 0
    });
    let killed = Instant::now();
    signal(pid, Signal::SIGKILL);
    for waiter in waiters {
        let run = waiter.join().unwrap();
        let reply = run.status(1).parse_json();
        assert_eq!(reply["code"], "insufficient_holding", "{reply}");
    }
    let elapsed = killed.elapsed();
    assert!(
        elapsed < LOCK_TIMEOUT - Duration::from_secs(2),
        "waiters took {elapsed:?}: recovered by timeout, not by owner death"
    );
    let status = wait_until(&mut victim.child, TIMEOUT).expect("the victim survived SIGKILL");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    victim.check_output(status);

    // It may have been caught opening its account, before any trade: then
    // the tape is empty and the account fresh (or not yet published).
    let trades = segment.trades();
    let portfolio = segment.json("victim", "portfolio");
    let (holding, pending_buy_cost) = if trades % 2 == 1 {
        ("0.01", 14)
    } else {
        ("0.00", 0)
    };
    // Each round trip loses 0.01; an unmatched buy cost 0.14.
    let balance = 100_000 - (trades / 2) as i64 - pending_buy_cost;
    assert_eq!(
        portfolio["holdings"]["DOLLAR"], holding,
        "after {trades} trades: {portfolio}"
    );
    assert_eq!(
        field(&portfolio, "balance"),
        format!("{}.{:02}", balance / 100, balance % 100),
        "after {trades} trades: {portfolio}"
    );
    common::assert_balances(&segment.json("auditor", "audit"));
    // And the victim's account trades again.
    segment.trader("victim", &["buy", "DOLLAR", "1"]).success();
    common::assert_balances(&segment.json("auditor", "audit"));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn lock_holder_killed_while_others_wait_posix() {
    holder_killed_while_others_wait(Backend::Posix);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn lock_holder_killed_while_others_wait_file() {
    holder_killed_while_others_wait(Backend::File);
}
