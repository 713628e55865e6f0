//! Issue 12, item 5, "never SIGBUS": the segment is shrunk below its
//! header under each kind of process that maps it, 20 times each, while it
//! works. Every one stops with exit status 2 and a one-line error; none
//! dies of a signal, and the board leaves the terminal as it found it.

mod common;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::{Backend, Segment};
use rexpect::process::wait::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::spawn_with_options;
use shm_exchange::testing::Header;

const ROUNDS: usize = 20;
/// Below the header: every process has pages mapped past this.
const SHRUNK: u64 = 4096;

fn shrink(segment: &Segment) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(segment.backing_path().unwrap())
        .unwrap()
        .set_len(SHRUNK)
        .unwrap();
}

/// Trades made so far, read from the segment's file.
fn trades(segment: &Segment) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0; 8];
    let file = std::fs::File::open(segment.backing_path().unwrap()).unwrap();
    let offset = (std::mem::offset_of!(Header, lock)
        + std::mem::offset_of!(shm_exchange::testing::LockSlot, trade_seq)) as u64;
    match file.read_exact_at(&mut bytes, offset) {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(_) => 0,
    }
}

fn backend(round: usize) -> Backend {
    if round % 2 == 0 {
        Backend::Posix
    } else {
        Backend::File
    }
}

/// A scripted trader in the middle of a long script.
#[test]
fn a_script_trader_stops_cleanly() {
    let script: String = (0..200_000)
        .map(|i| {
            if i % 2 == 0 {
                "buy DOLLAR 0.01\n"
            } else {
                "sell DOLLAR 0.01\n"
            }
        })
        .collect();
    for round in 0..ROUNDS {
        let segment = Segment::create(backend(round));
        let mut command = segment.trader_command("alice");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let script = script.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(script.as_bytes());
        });
        common::wait_for("trading to start", common::TIMEOUT, || {
            trades(&segment) > 10
        });
        shrink(&segment);
        let status = common::wait_until(&mut child, common::TIMEOUT).expect("the trader stops");
        let _ = feeder.join();
        assert_eq!(status.signal(), None, "round {round}: died of a signal");
        assert_eq!(status.code(), Some(2), "round {round}: {status}");
    }
}

/// `exchange-lab stress`: its workers check the size every few trades, and the
/// handler covers the trades between two checks.
#[test]
fn stress_workers_stop_cleanly() {
    for round in 0..ROUNDS {
        let segment = Segment::create(backend(round));
        let mut command = segment.lab_command();
        command
            .args(["stress", "--procs", "2", "--trades", "100000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().unwrap();
        common::wait_for("trading to start", common::TIMEOUT, || {
            trades(&segment) > 10
        });
        shrink(&segment);
        let output = common::finish(child, b"", common::TIMEOUT, "stress");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.signal(), None, "round {round}: {stderr}");
        assert_eq!(output.status.code(), Some(2), "round {round}: {stderr}");
        assert!(
            !stderr.contains("signal"),
            "round {round}: a worker died: {stderr}"
        );
    }
}

/// `trader watch` in a pty: it redraws at least once a second, meets the
/// shrunk segment, and exits 2 with the terminal restored.
fn the_board_stops_cleanly(backend: Backend) {
    for round in 0..ROUNDS / 2 {
        let segment = Segment::create(backend);
        let mut command = segment.trader_command("viewer");
        command.arg("watch").env("TERM", "xterm");
        let mut session = spawn_with_options(
            command,
            Options {
                timeout_ms: Some(10_000),
                strip_ansi_escape_codes: false,
            },
        )
        .expect("cannot start the board in a pty");
        session.exp_string("LATEST").expect("the board never drew");
        shrink(&segment);
        segment.trader("ann", &["rates"]).status(2);
        let status = common::wait_pty_exit(&session);
        assert!(
            matches!(status, WaitStatus::Exited(_, 2)),
            "{backend:?} round {round}: {status:?}"
        );
        // The alternate screen was left, so the shell's screen is back.
        let rest = session.exp_eof().unwrap_or_default();
        assert!(
            rest.contains("\x1b[?1049l"),
            "{backend:?} round {round}: the terminal was not restored: {rest:?}"
        );
    }
}

#[test]
fn the_board_stops_cleanly_posix() {
    the_board_stops_cleanly(Backend::Posix);
}

#[test]
fn the_board_stops_cleanly_file() {
    the_board_stops_cleanly(Backend::File);
}
