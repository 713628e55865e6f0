//! `trader --trace`: the system calls and protocol steps behind a command,
//! on stderr, in the order they happen; and nothing without it.

mod common;

use common::{each_backend, Backend, Segment};

/// The steps of a trade, in order, after the attach.
const TRADE_STEPS: [&str; 7] = [
    "header checked",
    "lock: pthread_mutex_lock",
    "redo record #1 published",
    "applied",
    "redo record cleared",
    "unlock",
    "wake-up",
];

/// A trade's steps on Redis: open the account, then read and commit.
const REDIS_TRADE_STEPS: [&str; 4] = [
    "redis: read MULTI",
    "redis: commit EVALSHA",
    "redis: read MULTI",
    "redis: committed",
];

#[track_caller]
fn assert_in_order(stderr: &str, steps: &[&str]) {
    let mut from = 0;
    for step in steps {
        let found = stderr[from..]
            .find(step)
            .unwrap_or_else(|| panic!("no {step:?} after byte {from} of the trace:\n{stderr}"));
        from += found + step.len();
    }
}

fn a_traced_trade_shows_the_attach_and_the_journal(backend: Backend) {
    let segment = Segment::create(backend);
    let run = segment.trader("ann", &["--trace", "buy", "DOLLAR", "1"]);
    run.success().stdout_has("bought 1.00 DOLLAR");
    let stderr = run.stderr();
    let attach: &[&str] = match backend {
        Backend::Posix => &["shm_open(", "F_OFD_SETLK", "fstat(", "mmap("],
        Backend::SysV => &["shmget(", "shmctl(", "shmat("],
        Backend::File => &["open(", "F_OFD_SETLK", "fstat(", "mmap("],
        Backend::Redis => &["redis: connect(TCP", "redis: meta checked"],
    };
    assert_in_order(&stderr, attach);
    if backend == Backend::Redis {
        assert_in_order(&stderr, &REDIS_TRADE_STEPS);
        assert!(
            stderr.lines().all(|line| line.starts_with("trace: ")),
            "{stderr}"
        );
        return;
    }
    assert_in_order(&stderr, &TRADE_STEPS);
    assert!(
        stderr.lines().all(|line| line.starts_with("trace: ")),
        "{stderr}"
    );
    // The lock's wait is timed.
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("pthread_mutex_lock") && line.contains(" took ")),
        "{stderr}"
    );
}

fn without_trace_nothing_reaches_stderr(backend: Backend) {
    let segment = Segment::create(backend);
    let run = segment.trader("ann", &["buy", "DOLLAR", "1"]);
    run.success();
    assert_eq!(run.stderr(), "");
}

each_backend!(
    a_traced_trade_shows_the_attach_and_the_journal,
    without_trace_nothing_reaches_stderr,
);

/// The owner's commands go through the same journal, and say so.
#[test]
fn a_traced_price_shows_its_record() {
    let segment = Segment::create(Backend::Posix);
    let run = segment.trader("teacher", &["--trace", "price", "DOLLAR", "14.10", "13.80"]);
    run.success();
    assert_in_order(
        &run.stderr(),
        &[
            "lock: pthread_mutex_lock",
            "tape entry #1 written",
            "redo record #1 published",
            "price of currency 0: sell 14.10, buy 13.80",
            "applied",
            "redo record cleared",
            "unlock",
        ],
    );
}
