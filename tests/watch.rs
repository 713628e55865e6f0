//! `trader watch` in a real terminal (a pty): the board shows the market,
//! follows trades made by other processes, and leaves on `q` or Ctrl-C.

mod common;

use std::time::Duration;

use common::{Backend, Segment};
use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

const TIMEOUT: Duration = Duration::from_secs(10);

fn board(segment: &Segment) -> PtySession {
    let mut command = segment.trader_command("viewer");
    command.arg("watch").env("TERM", "xterm");
    let mut session = spawn_with_options(
        command,
        Options {
            timeout_ms: Some(TIMEOUT.as_millis() as u64),
            strip_ansi_escape_codes: true,
        },
    )
    .expect("cannot start the board in a pty");
    session
        .exp_string("LATEST TRADES")
        .expect("the board never drew");
    session
}

#[test]
fn the_board_follows_other_traders_and_quits_on_q() {
    the_board_follows_other_traders(Backend::Posix);
}

/// On Redis the board sleeps on pub/sub, and looks the same.
#[test]
fn the_board_follows_other_traders_on_redis() {
    the_board_follows_other_traders(Backend::Redis);
}

fn the_board_follows_other_traders(backend: Backend) {
    let segment = Segment::create(backend);
    let mut session = board(&segment);
    segment.trader("ann", &["buy", "POUND", "2.5"]).success();
    // The trade appears without any key press: the board was woken.
    session
        .exp_string("ann")
        .expect("the board missed ann's trade");
    session
        .exp_string("83.13")
        .expect("the board missed the total");
    segment.trader("bob", &["sell", "POUND", "1"]).status(1);
    segment.trader("ann", &["sell", "POUND", "1"]).success();
    session
        .exp_string("33.24")
        .expect("the board missed the sale");
    session.send("q").unwrap();
    session.flush().unwrap();
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn ctrl_c_leaves_the_board() {
    let segment = Segment::create(Backend::Posix);
    let mut session = board(&segment);
    session.send_control('c').unwrap();
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 0)
    ));
}

#[test]
fn a_removed_exchange_ends_the_board() {
    a_removed_exchange_ends(Backend::Posix);
}

#[test]
fn a_removed_redis_market_ends_the_board() {
    a_removed_exchange_ends(Backend::Redis);
}

fn a_removed_exchange_ends(backend: Backend) {
    let segment = Segment::create(backend);
    let mut session = board(&segment);
    segment.init(&["--remove"]).success();
    session
        .exp_string("was removed or replaced")
        .expect("the board did not notice");
    assert!(matches!(
        common::wait_pty_exit(&session),
        WaitStatus::Exited(_, 2)
    ));
}

#[test]
fn the_board_needs_a_terminal() {
    let segment = Segment::create(Backend::Posix);
    segment
        .trader("viewer", &["watch"])
        .status(2)
        .stderr_has("needs a terminal");
}

/// A board killed while it sleeps leaves its registration behind; the
/// traders forget it after a run of wake-ups that find nobody asleep, so
/// trading does not pay for a system call forever.
#[test]
fn a_killed_board_is_forgotten() {
    use std::os::unix::fs::FileExt;
    let segment = Segment::create(Backend::Posix);
    let session = board(&segment);
    let path = format!("/dev/shm{}", segment.address.trim_start_matches("posix:"));
    let offset = std::mem::offset_of!(shm_exchange::testing::Header, watchers) as u64;
    let watchers = || {
        let file = std::fs::File::open(&path).unwrap();
        let mut word = [0; 4];
        file.read_exact_at(&mut word, offset).unwrap();
        u32::from_ne_bytes(word)
    };
    common::wait_for("the board to sleep", TIMEOUT, || watchers() > 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(session.process.child_pid.as_raw()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    common::wait_pty_exit(&session);
    if watchers() == 0 {
        // The kill landed while the board was drawing, not asleep: leave
        // the registration it would have left.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&1_u32.to_ne_bytes(), offset).unwrap();
    }
    segment
        .script(
            "ann",
            &[],
            &"buy DOLLAR 0.01\nsell DOLLAR 0.01\n".repeat(600),
        )
        .success();
    assert_eq!(watchers(), 0);
}
