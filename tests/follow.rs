//! `trader follow`: every entry made by other processes, in order and once;
//! a gap reported when more than the tape went by while it was stopped; a
//! clean end on SIGINT and SIGTERM, and exit 2 when the exchange goes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};

use common::{Backend, Segment, TIMEOUT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A running `trader follow`, its output read line by line with bounded
/// waits; killed in `Drop` if still running.
struct Following {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

impl Following {
    /// Starts `trader follow ARGS` and waits until it is following.
    fn start(segment: &Segment, args: &[&str]) -> Following {
        let mut command = segment.trader_command("teacher");
        command
            .arg("follow")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("cannot start trader follow");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        let following = Following {
            child,
            stdout,
            stderr,
        };
        let notice = following.stderr.recv_timeout(TIMEOUT).expect("no notice");
        assert!(notice.starts_with("following "), "{notice}");
        following
    }

    #[track_caller]
    fn line(&self) -> String {
        self.stdout
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|error| panic!("no line from follow: {error}"))
    }

    #[track_caller]
    fn json(&self) -> serde_json::Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("bad JSON {line:?}: {error}"))
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the exit; returns the status code and the rest of stderr.
    #[track_caller]
    fn exit(&mut self) -> (Option<i32>, String) {
        let status = common::wait_until(&mut self.child, TIMEOUT).expect("follow did not end");
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status.code(), stderr.join("\n"))
    }

    /// Whether the process is stopped (state T in /proc).
    fn is_stopped(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .is_some_and(|rest| rest.trim_start().starts_with('T'))
            })
            .unwrap_or(false)
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn follow_sees_other_processes_trades_in_order() {
    let segment = Segment::create(Backend::Posix);
    segment.trader("early", &["buy", "EURO", "1"]).success();
    let mut following = Following::start(&segment, &["--json"]);
    segment.trader("ann", &["buy", "POUND", "2.5"]).success();
    segment.trader("bob", &["buy", "DOLLAR", "1"]).success();
    segment.trader("ann", &["sell", "POUND", "1"]).success();
    let entries: Vec<serde_json::Value> = (0..3).map(|_| following.json()).collect();
    // The trade made before it started is not repeated.
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(entries[0]["account"], "ann");
    assert_eq!(entries[0]["total"], "83.13");
    assert_eq!(entries[1]["account"], "bob");
    assert_eq!(entries[2]["side"], "sell");
    following.signal(Signal::SIGTERM);
    let (code, _) = following.exit();
    assert_eq!(code, Some(0));
    assert!(following.stdout.try_recv().is_err(), "no duplicates");
}

#[test]
fn a_stopped_follower_reports_what_went_off_the_tape() {
    let segment = Segment::create(Backend::Posix);
    let mut following = Following::start(&segment, &[]);
    following.signal(Signal::SIGSTOP);
    common::wait_for("follow to stop", TIMEOUT, || following.is_stopped());
    segment
        .script("ann", &[], &"buy DOLLAR 0.01\n".repeat(300))
        .success();
    following.signal(Signal::SIGCONT);
    let gap = following.line();
    assert!(gap.contains("missed 44 entries"), "{gap}");
    for seq in 45..=300 {
        let line = following.line();
        assert!(
            line.starts_with(&format!("#{seq} ann buy 0.01 DOLLAR")),
            "{line}"
        );
    }
    following.signal(Signal::SIGINT);
    assert_eq!(following.exit().0, Some(0));
}

#[test]
fn a_gap_is_one_json_object() {
    let segment = Segment::create(Backend::SysV);
    let following = Following::start(&segment, &["--json"]);
    following.signal(Signal::SIGSTOP);
    common::wait_for("follow to stop", TIMEOUT, || following.is_stopped());
    segment
        .script("ann", &[], &"buy DOLLAR 0.01\n".repeat(260))
        .success();
    following.signal(Signal::SIGCONT);
    assert_eq!(following.json(), serde_json::json!({ "gap": 4 }));
    assert_eq!(following.json()["seq"], 5);
}

#[test]
fn a_removed_exchange_ends_follow() {
    let segment = Segment::create(Backend::File);
    let mut following = Following::start(&segment, &[]);
    segment.init(&["--remove"]).success();
    let (code, stderr) = following.exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("was removed or replaced"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
