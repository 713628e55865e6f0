//! Issue 19, "no student can hold the market", for the lock and the shm
//! layer: a read-only user's `FUTEX_CMP_REQUEUE` loop costs waiters one
//! slice, not the lock timeout; a trader whose trace output is stuck on a
//! full pipe holds neither the lock nor the first-opener lock; a lock
//! timeout names the holder; and a SIGBUS that is not a truncation of our
//! segment is left fatal.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::users::TestUser;
use common::{wait_for, Attached, Backend, Run, Segment};
use shm_exchange::testing::Header;
use shm_exchange::SegmentAddress;

/// How long another trader's trade may take while a trader is stuck.
const UNSTUCK: Duration = Duration::from_secs(2);

/// The kernel function a process sleeps in (`/proc/PID/wchan`).
fn sleeping_in(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

/// A pipe of one page, the smallest the kernel allows: `(read, write)`.
fn one_page_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just made and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ on a pipe we own.
    let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert_eq!(size, 4096, "F_SETPIPE_SZ");
    (read, write)
}

/// Writes `count` bytes into the pipe, which has room for them.
fn fill(pipe: &OwnedFd, count: usize) {
    let bytes = vec![b'#'; count];
    let mut written = 0;
    while written < count {
        // SAFETY: the buffer is valid for reads of what is left of it.
        let wrote = unsafe {
            libc::write(
                pipe.as_raw_fd(),
                bytes[written..].as_ptr().cast(),
                count - written,
            )
        };
        assert!(wrote > 0, "prefilling the pipe");
        written += wrote as usize;
    }
}

/// A traced first trade's stderr (so with its account's opening), line by
/// line, each with its newline.
fn traced_lines(segment: &Segment) -> Vec<String> {
    let run = segment.trader("sample", &["--trace", "buy", "DOLLAR", "1"]);
    run.success();
    let lines: Vec<String> = run
        .stderr()
        .lines()
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        lines.iter().any(|line| line.contains("unlock")),
        "{lines:?}"
    );
    lines
}

/// Item 3: `trader --trace` with stderr on a pipe nobody reads, jammed in
/// turn at each line of its trace: while it is stuck there, another
/// trader's trade completes within [`UNSTUCK`]. The jam lands inside the
/// line: the pipe (one page) is prefilled so that it has room for the
/// lines before it and half of it. Each traced trader is a new account,
/// so its trace has the sample's lines (the opening's among them), give
/// or take a digit.
fn a_jammed_trace_holds_no_lock(backend: Backend) {
    let segment = Segment::create(backend);
    let lines = traced_lines(&segment);
    let mut before = 0;
    for (index, line) in lines.iter().enumerate() {
        let room = before + line.len() / 2;
        before += line.len();
        assert!(room < 4096, "the trace fits one page");
        let (read, write) = one_page_pipe();
        fill(&write, 4096 - room);
        let mut command = segment.trader_command(&format!("jammed{index}"));
        command
            .args(["--trace", "buy", "DOLLAR", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(write));
        let mut jammed = command.spawn().unwrap();
        // The command keeps the pipe's write end: closed here, so that
        // draining the pipe ends when the trader exits.
        drop(command);
        let pid = jammed.id();
        wait_for(
            &format!("the trace to jam at line {index}: {line:?}"),
            common::TIMEOUT,
            || sleeping_in(pid).contains("pipe_write"),
        );
        let mut other = segment.trader_command("other");
        other.args(["buy", "DOLLAR", "1"]);
        let started = Instant::now();
        Run::within(other, b"", UNSTUCK).success();
        assert!(
            started.elapsed() < UNSTUCK,
            "jammed at line {index}: {line:?}"
        );
        // Unjam it: it finishes its trade.
        let mut drained = Vec::new();
        std::fs::File::from(read).read_to_end(&mut drained).unwrap();
        let status = common::wait_until(&mut jammed, common::TIMEOUT).expect("it finishes");
        assert!(status.success(), "jammed at line {index}: {status}");
    }
    segment.assert_consistent();
}

#[test]
fn a_jammed_trace_holds_no_lock_posix() {
    a_jammed_trace_holds_no_lock(Backend::Posix);
}

/// On a file, the traced trader is the sole opener and holds the
/// first-opener lock exclusively for a moment: its lines wait for that too.
#[test]
fn a_jammed_trace_holds_no_lock_file() {
    a_jammed_trace_holds_no_lock(Backend::File);
}

/// Item 2: a trader stopped while it holds the lock is named, by pid and
/// login, in the error of the trader that waited for it.
#[test]
fn a_lock_timeout_names_the_holder() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("ann", &["buy", "DOLLAR", "1"]).success();
    let mut holder = segment.trader_command("ann");
    holder
        .args(["buy", "DOLLAR", "1"])
        .env(shm_exchange::testing::CRASH_ENV, "after-lock:stop")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut holder = holder.spawn().unwrap();
    let pid = holder.id();
    wait_for("the holder to stop with the lock", common::TIMEOUT, || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('T')
        })
    });
    let login = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    let run = segment.trader("bob", &["buy", "DOLLAR", "1"]);
    assert_ne!(run.code(), Some(0), "{}", run.stderr());
    run.stderr_has(&format!(
        "the lock is held by pid {pid} ({login}) for over 10s; ask {login} to resume or end it"
    ));
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// Item 4: a SIGBUS that the kernel did not raise for a page of our
/// segment (here `kill -BUS`) kills the trader with SIGBUS, as if it had
/// no handler; it is not reported as a truncated segment.
#[test]
fn a_foreign_sigbus_is_not_a_truncation() {
    let segment = Segment::create(Backend::Posix);
    let mut trader = Attached::start(&segment, "ann", &[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(trader.pid() as i32),
        nix::sys::signal::Signal::SIGBUS,
    )
    .unwrap();
    let (status, stderr) = trader.wait_exit();
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status}: {stderr}");
    assert!(!stderr.contains("truncated"), "{stderr}");
}

/// The environment variable that turns this test binary into the
/// attacker of [`a_read_only_requeue_loop_costs_waiters_one_slice`]: the
/// segment's file, then how long to attack, in seconds.
const ATTACK_ENV: &str = "SHMX_REQUEUE_ATTACK";

/// Not a test: the attacker, run as another user by the test below. It
/// maps the segment read-only and moves every waiter on the lock's futex
/// word to a futex in its own memory, which nobody ever wakes, again and
/// again.
#[test]
fn requeue_attacker() {
    let Ok(spec) = std::env::var(ATTACK_ENV) else {
        return;
    };
    let (path, seconds) = spec.rsplit_once(':').unwrap();
    let file = std::fs::File::open(path).expect("the attacker may read the segment");
    let length = std::num::NonZeroUsize::new(std::mem::size_of::<Header>()).unwrap();
    // SAFETY: a fresh read-only shared mapping; it is only read, by the
    // kernel (the futex calls) and atomically.
    let base = unsafe {
        nix::sys::mman::mmap(
            None,
            length,
            nix::sys::mman::ProtFlags::PROT_READ,
            nix::sys::mman::MapFlags::MAP_SHARED,
            &file,
            0,
        )
    }
    .unwrap();
    let lock_word = base
        .as_ptr()
        .cast::<u8>()
        // glibc's futex word is the mutex's first, and the mutex is the
        // lock slot's first field.
        .wrapping_add(std::mem::offset_of!(Header, lock))
        .cast::<u32>();
    // SAFETY: the word is inside the mapping and 4-aligned.
    let lock_word = unsafe { std::sync::atomic::AtomicU32::from_ptr(lock_word) };
    let nobody_wakes = Box::leak(Box::new(0u32)) as *mut u32;
    let deadline = Instant::now() + Duration::from_secs(seconds.parse().unwrap());
    let mut moved = 0i64;
    while Instant::now() < deadline {
        let value = lock_word.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: FUTEX_CMP_REQUEUE reads the word at the first address
        // and uses the second as a key; nothing is written.
        moved += unsafe {
            libc::syscall(
                libc::SYS_futex,
                lock_word.as_ptr(),
                libc::FUTEX_CMP_REQUEUE,
                0,
                i32::MAX as usize,
                nobody_wakes,
                value,
            )
        }
        .max(0);
    }
    println!("moved {moved} waiters");
}

/// A child process killed, and reaped, when this is dropped: even when
/// the test fails, before its user is deleted.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Item 1: a user who may only read the segment (mode 0644) loops
/// `FUTEX_CMP_REQUEUE` on the lock's word, moving its waiters onto a futex
/// nobody wakes, while four scripted traders each make 400 trades on the
/// one currency: every trader finishes, none reports the lock held, and
/// the audit balances.
#[test]
fn a_read_only_requeue_loop_costs_waiters_one_slice() {
    let Some(attacker) = TestUser::create("rq") else {
        return;
    };
    let segment = Segment::unique(Backend::Posix);
    segment.init(&["--mode", "0644"]).success();
    let SegmentAddress::Posix { name } = segment.parsed() else {
        unreachable!()
    };
    let mut attack = Command::new(std::env::current_exe().unwrap());
    attack
        .args([
            "--exact",
            "requeue_attacker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ATTACK_ENV, format!("/dev/shm{name}:300"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    attacker.apply(&mut attack);
    let mut attack = Killed(attack.spawn().unwrap());
    let script = "buy DOLLAR 1\nsell DOLLAR 1\n".repeat(200);
    let traders: Vec<_> = (0..4)
        .map(|index| segment.spawn_script(&format!("t{index}"), &script))
        .collect();
    for (index, child) in traders.into_iter().enumerate() {
        let output = common::finish(child, b"", common::TIMEOUT, &format!("trader t{index}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stderr.contains("held"),
            "trader t{index}: {}: {stderr}",
            output.status
        );
    }
    let still_attacking = attack.0.try_wait().unwrap().is_none();
    attack.0.kill().unwrap();
    let mut output = String::new();
    for stream in [
        attack
            .0
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read>),
        attack
            .0
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let _ = { stream }.read_to_string(&mut output);
    }
    assert!(still_attacking, "the attacker stopped early: {output}");
    segment.assert_consistent();
}
