//! `trader follow`: every entry made by other processes, in order and once;
//! a gap reported when more than the tape went by while it was stopped; a
//! clean end on SIGINT and SIGTERM, and exit 2 when the exchange goes. Each
//! on one shared-memory backend (woken by the futex) and on Redis (woken by
//! pub/sub).

mod common;

use common::streaming::Streaming;
use common::{Backend, Segment, TIMEOUT};
use nix::sys::signal::Signal;

/// Starts `trader follow ARGS` and waits until it is following.
fn follow(segment: &Segment, args: &[&str]) -> Streaming {
    let mut command = segment.trader_command("teacher");
    command.arg("follow").args(args);
    let following = Streaming::start(command);
    let notice = following.error_line();
    assert!(notice.starts_with("following "), "{notice}");
    following
}

fn follow_sees_other_processes_trades_in_order(backend: Backend) {
    let segment = Segment::create(backend);
    segment.trader("early", &["buy", "EURO", "1"]).success();
    let mut following = follow(&segment, &["--json"]);
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

fn a_stopped_follower_reports_what_went_off_the_tape(backend: Backend) {
    let segment = Segment::create(backend);
    let mut following = follow(&segment, &[]);
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

fn a_gap_is_one_json_object(backend: Backend) {
    let segment = Segment::create(backend);
    let following = follow(&segment, &["--json"]);
    following.signal(Signal::SIGSTOP);
    common::wait_for("follow to stop", TIMEOUT, || following.is_stopped());
    segment
        .script("ann", &[], &"buy DOLLAR 0.01\n".repeat(260))
        .success();
    following.signal(Signal::SIGCONT);
    assert_eq!(following.json(), serde_json::json!({ "gap": 4 }));
    assert_eq!(following.json()["seq"], 5);
}

fn a_removed_exchange_ends_follow(backend: Backend) {
    let segment = Segment::create(backend);
    let mut following = follow(&segment, &[]);
    segment.init(&["--remove"]).success();
    let (code, stderr) = following.exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("was removed or replaced"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// Runs each test on the named shared-memory backend, in `segment`, and on
/// Redis, in `redis`.
macro_rules! segment_and_redis {
    ($($test:ident on $backend:ident),* $(,)?) => {
        mod segment { $( #[test] fn $test() { super::$test(super::Backend::$backend) } )* }
        mod redis { $( #[test] fn $test() { super::$test(super::Backend::Redis) } )* }
    };
}

segment_and_redis!(
    follow_sees_other_processes_trades_in_order on Posix,
    a_stopped_follower_reports_what_went_off_the_tape on Posix,
    a_gap_is_one_json_object on SysV,
    a_removed_exchange_ends_follow on File,
);
