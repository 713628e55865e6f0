//! Issue 12's faults that need the test-only crash points: `exchange-init`
//! killed at every step of creation (both binaries then name the cause,
//! and `--force` or `--remove` clears it), an attach that meets a creation
//! under way, another user facing a half-created exchange, and a lock
//! holder whose robust-list links are forged while it is stopped.
//!
//! The target requires the `fault-injection` feature
//! (`cargo test --features fault-injection`).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::users::TestUser;
use common::{Backend, Segment, INIT};
use shm_exchange::testing::Header;

/// glibc's robust-list links inside the mutex (x86_64 and every other
/// 64-bit glibc).
const MUTEX_LINKS: usize = std::mem::offset_of!(Header, lock) + 24;

/// Runs `exchange-init ARGS` armed to die at `step` (`STEP` or
/// `STEP:stop`); returns the child, not waited for.
fn init_dying_at(segment: &Segment, step: &str, args: &[&str]) -> std::process::Child {
    Command::new(INIT)
        .arg("--segment")
        .arg(&segment.address)
        .args(args)
        .env("SHM_EXCHANGE_CRASH_AT", step)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

const HALF_CREATED: &str =
    "was left half-created by a killed exchange-init; run exchange-init --force";

/// Item 4: `exchange-init` killed (SIGKILL) at every step of creation, on
/// every backend. Both binaries name the same cause, exit 2, and
/// `--force` or `--remove` clears what is left.
fn creation_killed_at_any_step_is_cleared(backend: Backend) {
    use shm_exchange::testing::Step;
    for (round, step) in Step::CREATION.into_iter().enumerate() {
        let context = format!("{backend:?} killed {}", step.name());
        let segment = Segment::unique(backend);
        let mut child = init_dying_at(&segment, step.name(), &[]);
        let status = common::wait_until(&mut child, common::TIMEOUT).expect("init ends");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{context}");

        let trader = segment.trader("alice", &["rates"]);
        trader.status(2).stderr_has(HALF_CREATED);
        segment.init(&[]).status(2).stderr_has(HALF_CREATED);
        segment
            .init(&["--status"])
            .status(2)
            .stderr_has(HALF_CREATED);
        if round % 2 == 0 {
            segment.init(&["--force"]).success();
            segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
        } else {
            segment.init(&["--remove"]).success();
            segment
                .trader("alice", &["rates"])
                .status(2)
                .stderr_has("no exchange at");
        }
    }
}

/// The state letter of a process in /proc (`T` when stopped).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Item 4: an attach that meets a creation under way waits about 2 s for
/// it, then says "still being created"; once the creator is killed, the
/// same attach says "left half-created".
fn an_attach_during_creation_waits_then_names_the_cause(backend: Backend) {
    let segment = Segment::unique(backend);
    let mut creator = init_dying_at(&segment, "before-publish:stop", &[]);
    let pid = creator.id();
    common::wait_for("the creator to stop", common::TIMEOUT, || {
        process_state(pid) == Some('T')
    });
    let started = Instant::now();
    let trader = segment.trader("alice", &["rates"]);
    let waited = started.elapsed();
    trader.status(2).stderr_has("is still being created");
    assert!(
        waited >= Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
    segment
        .init(&[])
        .status(2)
        .stderr_has("is still being created");
    let _ = creator.kill();
    let _ = creator.wait();
    segment
        .trader("alice", &["rates"])
        .status(2)
        .stderr_has(HALF_CREATED);
}

/// Item 1: a half-created exchange nobody can attach still has an owner;
/// another user's `--remove` and `--force` are refused, the owner's work.
fn another_user_cannot_clear_a_half_created_exchange(backend: Backend) {
    let Some(other) = TestUser::able("hc") else {
        return;
    };
    let segment = Segment::open_to_all(backend);
    let mut child = init_dying_at(&segment, "after-seed", &["--mode", "0666"]);
    common::wait_until(&mut child, common::TIMEOUT).expect("init ends");
    for args in [&["--remove"][..], &["--force", "--mode", "0666"][..]] {
        other
            .run(INIT, &segment, args)
            .status(1)
            .stderr_has("only the owner of this exchange");
        segment
            .trader("alice", &["rates"])
            .status(2)
            .stderr_has(HALF_CREATED);
    }
    segment.init(&["--remove"]).success();
}

/// Item 3, the write-what-where: a trader frozen holding the lock, whose
/// mutex's robust-list links another process overwrites, still unlocks
/// cleanly (glibc would otherwise write through the forged pointers and
/// die of SIGSEGV, leaving the lock held by a dead process).
#[test]
fn forged_robust_list_links_do_not_crash_the_holder() {
    for backend in [Backend::Posix, Backend::File] {
        let segment = Segment::create(backend);
        let mut command = segment.trader_command("victim");
        command
            .args(["buy", "DOLLAR", "1"])
            .env("SHM_EXCHANGE_CRASH_AT", "after-lock:stop")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let victim = command.spawn().unwrap();
        let pid = victim.id();
        common::wait_for(
            "the victim to stop holding the lock",
            common::TIMEOUT,
            || process_state(pid) == Some('T'),
        );
        segment.write_at(MUTEX_LINKS, &[0x41; 16]);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGCONT,
        )
        .unwrap();
        let output = common::finish(victim, b"", common::TIMEOUT, "victim");
        assert_eq!(output.status.signal(), None, "{backend:?}: the holder died");
        assert!(output.status.success(), "{backend:?}: {output:?}");
        segment.trader("alice", &["buy", "DOLLAR", "1"]).success();
        segment.assert_consistent();
    }
}

/// The creation tests, on every backend.
mod creation {
    use super::{
        an_attach_during_creation_waits_then_names_the_cause,
        another_user_cannot_clear_a_half_created_exchange, creation_killed_at_any_step_is_cleared,
    };
    crate::common::each_segment!(
        creation_killed_at_any_step_is_cleared,
        an_attach_during_creation_waits_then_names_the_cause,
        another_user_cannot_clear_a_half_created_exchange,
    );
}
