//! A file segment copied while a trader is frozen (SIGSTOP) at each step
//! of a trade's critical section, holding the lock: what a file looks like
//! after a reboot. The copy opens without waiting for the lock, replays the
//! pending trade exactly once and balances; so does the original once the
//! frozen trader is killed.
//!
//! The target requires the `fault-injection` feature
//! (`cargo test --features fault-injection`).

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{field, Backend, Segment, TIMEOUT};

/// A trader frozen (SIGSTOP) at a step inside a trade's critical section,
/// holding the lock. Killed in `Drop` if the test fails first.
struct Frozen {
    child: std::process::Child,
}

impl Frozen {
    fn start(segment: &Segment, step: shm_exchange::testing::Step, trade: &[&str]) -> Frozen {
        let mut command = segment.trader_command("victim");
        command
            .env(
                shm_exchange::testing::CRASH_ENV,
                format!("{}:stop", step.name()),
            )
            .arg("--json")
            .args(trade)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap();
        let mut frozen = Frozen { child };
        let pid = frozen.child.id();
        common::wait_for(&format!("{} to stop", step.name()), TIMEOUT, || {
            if let Ok(Some(status)) = frozen.child.try_wait() {
                panic!(
                    "the trader exited ({status}) instead of stopping at {}; \
                     is the fault-injection feature on?",
                    step.name()
                );
            }
            process_state(pid) == Some('T')
        });
        frozen
    }

    fn kill(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        self.child.kill().unwrap();
        let status = common::wait_until(&mut self.child, TIMEOUT).expect("SIGKILL did not end it");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's state letter from `/proc/PID/stat` (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Reads a native-endian u32 of a segment file at `offset`.
fn read_u32(path: &Path, offset: usize) -> u32 {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0; 4];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut bytes, offset as u64)
        .unwrap();
    u32::from_ne_bytes(bytes)
}

/// The robust mutex's futex word (glibc's `__lock`, the owner's thread id).
fn lock_word(path: &Path) -> u32 {
    read_u32(
        path,
        std::mem::offset_of!(shm_exchange::testing::Header, lock),
    )
}

/// Whether the redo record is published: the readers' counter `write_seq`
/// is odd.
fn redo_pending(path: &Path) -> bool {
    use shm_exchange::testing::{Header, LockSlot};
    let write_seq = std::mem::offset_of!(Header, lock) + std::mem::offset_of!(LockSlot, write_seq);
    // The counter's low half holds its parity on either byte order.
    let low = if cfg!(target_endian = "little") { 0 } else { 4 };
    read_u32(path, write_seq + low) % 2 == 1
}

/// What a reboot leaves: a trader is frozen at `step` of `buy DOLLAR 10`
/// holding the lock, the file is copied, and the trader is killed, so the
/// copy's lock word names a process that no longer exists and that no
/// kernel will ever mark dead. Opening the copy must not hang (the lock
/// timeout would make it fail), must replay a published redo record so the
/// trade counts exactly once, must re-initialize the lock (afterwards the
/// word is free) and must balance. The original, whose owner the kernel
/// did see die, recovers the same way.
fn file_copied_mid_trade(step: shm_exchange::testing::Step) {
    use shm_exchange::testing::Step;
    use std::time::Instant;

    let context = step.name();
    let original = Segment::create(Backend::File);
    let original_path = original.file_path().unwrap();
    original.trader("victim", &["portfolio"]).success();

    let mut frozen = Frozen::start(&original, step, &["buy", "DOLLAR", "10"]);
    let copy = Segment::unique(Backend::File);
    let copy_path = copy.file_path().unwrap();
    std::fs::copy(&original_path, &copy_path).unwrap();
    let victim = frozen.child.id();
    frozen.kill();

    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        assert_eq!(
            lock_word(&copy_path) & 0x3fff_ffff,
            victim,
            "{context}: the copy should hold the frozen trader's lock"
        );
    }
    let published = !matches!(step, Step::AfterLock | Step::BeforeUnlock);
    assert_eq!(redo_pending(&copy_path), published, "{context}");

    // The trade counts once when its redo record was published, from
    // after-redo on; at after-lock nothing was written.
    let applied = step != Step::AfterLock;
    let (balance, holding, stock, trades) = if applied {
        ("862.80", "10.00", "9990.00", 1)
    } else {
        ("1000.00", "0.00", "10000.00", 0)
    };
    for (segment, what) in [(&copy, "the copy"), (&original, "the original")] {
        let started = Instant::now();
        let run = segment.trader("victim", &["--json", "portfolio"]);
        let elapsed = started.elapsed();
        let portfolio = run.success().parse_json();
        assert!(
            elapsed < shm_exchange::testing::LOCK_TIMEOUT / 2,
            "{context}: opening {what} took {elapsed:?}"
        );
        assert_eq!(field(&portfolio, "balance"), balance, "{context}: {what}");
        assert_eq!(
            portfolio["holdings"]["DOLLAR"], holding,
            "{context}: {what}"
        );
        let rates = segment.json("reader", "rates");
        assert_eq!(rates["currencies"][0]["stock"], stock, "{context}: {what}");
        let status = segment.init(&["--status", "--json"]).success().parse_json();
        assert_eq!(status["trades"], trades, "{context}: {what}: {status}");
        segment.assert_consistent();

        // It trades on, and nothing is left pending or locked.
        let bought = segment.json("victim", "buy DOLLAR 1");
        assert_eq!(bought["ok"], true, "{context}: {what}: {bought}");
        segment.assert_consistent();
        let path = segment.file_path().unwrap();
        assert!(!redo_pending(&path), "{context}: {what}");
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert_eq!(lock_word(&path), 0, "{context}: {what} is still locked");
        }
    }
}

mod copied_mid_trade {
    use shm_exchange::testing::Step;

    #[test]
    fn after_lock() {
        super::file_copied_mid_trade(Step::AfterLock);
    }

    #[test]
    fn after_redo() {
        super::file_copied_mid_trade(Step::AfterRedo);
    }

    #[test]
    fn after_stock() {
        super::file_copied_mid_trade(Step::AfterStock);
    }

    #[test]
    fn after_cash() {
        super::file_copied_mid_trade(Step::AfterCash);
    }

    #[test]
    fn before_unlock() {
        super::file_copied_mid_trade(Step::BeforeUnlock);
    }
}
