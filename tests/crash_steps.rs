//! Crash safety at every step: a trader killed (SIGKILL or abort) at each
//! named crash point of a trade, and the owner's commands killed at each
//! step they pass, leave the market as before or after the change, never
//! a mix, repaired by the next writer; a dead trader whose change cannot
//! be repaired poisons the exchange but not its lock; and a stress run's
//! funding killed at every step is all or nothing.
//!
//! They need the test-only crash points: the target requires the
//! `fault-injection` feature (`cargo test --features fault-injection`).

mod common;

use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::thread::JoinHandle;
use std::time::Instant;

use common::{field, Backend, Run, Segment};
use shm_exchange::testing::LOCK_TIMEOUT;

/// Issue 1: fault injection at every step of a trade.
mod steps {
    use super::*;
    use crate::common::{Attached, BACKENDS};
    use shm_exchange::testing::{Step, CRASH_ENV};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Death {
        Kill,
        Abort,
    }

    /// What the market looks like for the victim's account.
    #[derive(Debug, PartialEq, Eq)]
    struct Position {
        balance: String,
        holding: String,
        stock: String,
        cash: String,
        trades: u64,
    }

    impl Position {
        fn of(segment: &Segment) -> Position {
            let portfolio = segment.json("victim", "portfolio");
            let rates = segment.json("reader", "rates");
            let audit = segment.json("reader", "audit");
            common::assert_balances(&audit);
            Position {
                balance: field(&portfolio, "balance").to_owned(),
                holding: portfolio["holdings"]["DOLLAR"].as_str().unwrap().to_owned(),
                stock: rates["currencies"][0]["stock"].as_str().unwrap().to_owned(),
                cash: audit["money"]["cash"].as_str().unwrap().to_owned(),
                trades: segment.trades(),
            }
        }

        fn new(balance: &str, holding: &str, stock: &str, cash: &str, trades: u64) -> Position {
            Position {
                balance: balance.into(),
                holding: holding.into(),
                stock: stock.into(),
                cash: cash.into(),
                trades,
            }
        }
    }

    /// Runs the victim's one trade with the crash point armed and checks
    /// that it died of the right signal.
    fn crash(segment: &Segment, step: Step, death: Death, trade: &[&str]) {
        let mut command = segment.trader_command("victim");
        let plan = match death {
            Death::Kill => step.name().to_owned(),
            Death::Abort => format!("{}:abort", step.name()),
        };
        command.env(CRASH_ENV, &plan).arg("--json").args(trade);
        disable_core_dumps(&mut command);
        let run = Run::new(command, b"");
        let expected = match death {
            Death::Kill => libc::SIGKILL,
            Death::Abort => libc::SIGABRT,
        };
        assert_eq!(
            run.output.status.signal(),
            Some(expected),
            "{plan}: the victim should have died there\nstdout: {}\nstderr: {}",
            run.stdout(),
            run.stderr()
        );
    }

    /// An aborting trader must not leave a core file in the package.
    fn disable_core_dumps(command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and
        // only calls setrlimit, which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                Ok(())
            });
        }
    }

    /// The killed trade was applied exactly when the redo record had been
    /// published: from `after-redo` on it is replayed.
    fn applied(step: Step) -> bool {
        step != Step::AfterLock
    }

    /// A buy dies at `step` while another trader sits attached and idle;
    /// that trader's next command is the one that finds the owner dead and
    /// recovers.
    fn buy_dies_with_a_trader_attached(backend: Backend, step: Step, death: Death) {
        let context = format!("{backend:?}, buy dies at {} by {death:?}", step.name());
        let segment = Segment::create(backend);
        segment.trader("victim", &["portfolio"]).success();
        let mut observer = Attached::start(&segment, "observer", &["--json"]);

        crash(&segment, step, death, &["buy", "DOLLAR", "10"]);
        let started = Instant::now();
        let audit = observer.ask_json("audit");
        assert!(
            started.elapsed() < LOCK_TIMEOUT,
            "{context}: recovery waited for the lock timeout"
        );
        common::assert_balances(&audit);

        // 10 DOLLAR at 13.72 cost 137.20.
        let expected = if applied(step) {
            Position::new("862.80", "10.00", "9990.00", "1000137.20", 1)
        } else {
            Position::new("1000.00", "0.00", "10000.00", "1000000.00", 0)
        };
        assert_eq!(Position::of(&segment), expected, "{context}");

        // The observer, and the victim again, go on trading.
        assert_eq!(observer.ask_json("buy DOLLAR 1")["ok"], true, "{context}");
        segment.trader("victim", &["buy", "DOLLAR", "1"]).success();
        common::assert_balances(&observer.ask_json("audit"));
        let (status, stderr) = observer.finish();
        assert_eq!(
            status.code(),
            Some(0),
            "{context}: observer {status}: {stderr}"
        );
    }

    /// A sell dies at `step` with nobody else attached; the next trader to
    /// start recovers (a file segment's sole opener replays the record and
    /// re-initializes the lock; POSIX and System V find the owner dead).
    fn sell_dies_alone(backend: Backend, step: Step, death: Death) {
        let context = format!("{backend:?}, sell dies at {} by {death:?}", step.name());
        let segment = Segment::create(backend);
        segment.trader("victim", &["buy", "DOLLAR", "10"]).success();

        crash(&segment, step, death, &["sell", "DOLLAR", "4"]);
        let started = Instant::now();
        let audit = segment.json("next", "audit");
        assert!(
            started.elapsed() < LOCK_TIMEOUT,
            "{context}: recovery waited for the lock timeout"
        );
        common::assert_balances(&audit);

        // 4 DOLLAR at 13.40 pay 53.60.
        let expected = if applied(step) {
            Position::new("916.40", "6.00", "9994.00", "1000083.60", 2)
        } else {
            Position::new("862.80", "10.00", "9990.00", "1000137.20", 1)
        };
        assert_eq!(Position::of(&segment), expected, "{context}");
        segment.trader("victim", &["sell", "DOLLAR", "1"]).success();
        common::assert_balances(&segment.json("next", "audit"));
    }

    pub fn crash_at(step: Step, death: Death) {
        for backend in BACKENDS {
            buy_dies_with_a_trader_attached(backend, step, death);
            sell_dies_alone(backend, step, death);
        }
    }

    macro_rules! step_tests {
        ($($kill:ident, $abort:ident => $step:expr;)*) => {
            /// Every step of a trade has its pair of tests below (the
            /// instructor's own step is tested with its commands).
            #[test]
            fn every_step_has_a_test() {
                let tested = [$($step),*];
                let trade_steps: Vec<Step> = Step::ALL
                    .into_iter()
                    .filter(|step| *step != Step::MidChange)
                    .collect();
                assert_eq!(tested.to_vec(), trade_steps);
            }
            $(
                #[test]
                fn $kill() {
                    crash_at($step, Death::Kill);
                }

                #[test]
                fn $abort() {
                    crash_at($step, Death::Abort);
                }
            )*
        };
    }

    step_tests! {
        kill_after_lock, abort_after_lock => Step::AfterLock;
        kill_after_redo, abort_after_redo => Step::AfterRedo;
        kill_after_stock, abort_after_stock => Step::AfterStock;
        kill_after_holding, abort_after_holding => Step::AfterHolding;
        kill_after_balance, abort_after_balance => Step::AfterBalance;
        kill_after_cash, abort_after_cash => Step::AfterCash;
        kill_before_unlock, abort_before_unlock => Step::BeforeUnlock;
    }

    /// The lock basics with the hook: a trader SIGKILLed right after taking
    /// the lock leaves it held by a dead process. Several traders then race
    /// for it at once; one repairs, none hangs, and all their trades count.
    #[test]
    fn killed_holding_the_lock_does_not_hang_a_crowd() {
        for backend in BACKENDS {
            let segment = Segment::create(backend);
            segment.trader("victim", &["portfolio"]).success();
            crash(
                &segment,
                Step::AfterLock,
                Death::Kill,
                &["buy", "DOLLAR", "10"],
            );
            let started = Instant::now();
            let crowd: Vec<JoinHandle<Run>> = (0..4)
                .map(|index| {
                    let mut command = segment.trader_command(&format!("crowd-{index}"));
                    command.args(["--json", "buy", "DOLLAR", "1"]);
                    std::thread::spawn(move || Run::new(command, b""))
                })
                .collect();
            for run in crowd {
                let run = run.join().unwrap();
                run.success();
                assert_eq!(run.parse_json()["ok"], true, "{backend:?}");
            }
            assert!(
                started.elapsed() < LOCK_TIMEOUT,
                "{backend:?}: the crowd waited for the lock timeout"
            );
            common::assert_balances(&segment.json("auditor", "audit"));
            assert_eq!(
                segment.trades(),
                4,
                "{backend:?}: only the crowd's trades happened"
            );
            let victim = segment.json("victim", "portfolio");
            assert_eq!(
                field(&victim, "balance"),
                "1000.00",
                "{backend:?}: {victim}"
            );
        }
    }
}

/// The owner's commands, killed at every step they pass: readers see the
/// old market or the new one, never a mix; the next writer repairs it to
/// the same; and it balances throughout.
mod instructor_steps {
    use super::*;
    use crate::common::BACKENDS;
    use shm_exchange::testing::{Step, CRASH_ENV};

    /// What readers see, leaving out the account `zed` that the repairing
    /// writer opens.
    fn market(segment: &Segment) -> serde_json::Value {
        let mut traders = segment.json("reader", "traders")["traders"].clone();
        traders
            .as_array_mut()
            .unwrap()
            .retain(|trader| trader["name"] != "zed");
        let audit = segment.json("reader", "audit");
        common::assert_balances(&audit);
        serde_json::json!({
            "rates": segment.json("reader", "rates")["currencies"],
            "traders": traders,
            "tape": segment.json("reader", "tape 256")["trades"],
            "halted": segment.init(&["--status", "--json"]).success().parse_json()["halted"],
        })
    }

    /// ana, bob and some trades; halted first when the command resumes.
    fn prepare(backend: Backend, command: &[&str]) -> Segment {
        let segment = Segment::create(backend);
        segment.trader("ana", &["buy", "DOLLAR", "10"]).success();
        segment
            .script("bob", &[], "buy EURO 2\nbuy POUND 1\n")
            .success();
        if command == ["resume"] {
            segment.trader("teacher", &["halt"]).success();
        }
        segment
    }

    fn dies_at_every_step(command: &[&str]) {
        for backend in BACKENDS {
            let before = market(&prepare(backend, command));
            let done = prepare(backend, command);
            done.trader("teacher", command).success();
            let after = market(&done);
            assert_ne!(before, after, "{command:?} changed nothing");
            for step in Step::INSTRUCTOR {
                let context = format!("{backend:?}, {command:?} killed at {}", step.name());
                let segment = prepare(backend, command);
                let mut owner = segment.trader_command("teacher");
                owner.env(CRASH_ENV, step.name()).args(command);
                let run = Run::new(owner, b"");
                assert_eq!(
                    run.output.status.signal(),
                    Some(libc::SIGKILL),
                    "{context}: it should have died there\n{}",
                    run.stderr()
                );
                let expected = if step == Step::AfterLock {
                    &before
                } else {
                    &after
                };
                assert_eq!(&market(&segment), expected, "{context}: as read");
                let started = Instant::now();
                segment.trader("zed", &["portfolio"]).success();
                assert!(
                    started.elapsed() < LOCK_TIMEOUT,
                    "{context}: the repair waited for the lock timeout"
                );
                assert_eq!(&market(&segment), expected, "{context}: once repaired");
            }
        }
    }

    #[test]
    fn price_is_all_or_nothing() {
        dies_at_every_step(&["price", "DOLLAR", "14.10", "13.80"]);
    }

    #[test]
    fn halt_is_all_or_nothing() {
        dies_at_every_step(&["halt"]);
    }

    #[test]
    fn resume_is_all_or_nothing() {
        dies_at_every_step(&["resume"]);
    }

    #[test]
    fn reset_is_all_or_nothing() {
        dies_at_every_step(&["reset"]);
    }

    #[test]
    fn close_is_all_or_nothing() {
        dies_at_every_step(&["close", "bob"]);
    }
}

/// A dead trader whose redo cannot be repaired (its tape entry, which
/// carries it, names an account that does not exist) poisons the exchange: every trader is told at once
/// that it is corrupted, none waits for the lock, and `exchange-init
/// --force` still replaces it.
#[test]
fn an_unrepairable_trade_poisons_the_exchange_but_not_the_lock() {
    use shm_exchange::testing::{Header, TapeEntry};
    let segment = Segment::create(Backend::Posix);
    // Opened first, so the death is in the trade's change, not the opening's.
    segment.trader("victim", &["portfolio"]).success();
    let mut command = segment.trader_command("victim");
    command
        .env("SHM_EXCHANGE_CRASH_AT", "after-redo")
        .args(["buy", "DOLLAR", "1"]);
    let died = Run::new(command, b"");
    assert_eq!(
        died.output.status.signal(),
        Some(libc::SIGKILL),
        "the hook did not fire"
    );

    let path = format!("/dev/shm{}", segment.address.trim_start_matches("posix:"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // The market's first entry, #1, in the tape's first slot.
    let account = std::mem::offset_of!(Header, tape) + std::mem::offset_of!(TapeEntry, account);
    file.write_all_at(&9_999_u16.to_ne_bytes(), account as u64)
        .unwrap();

    for name in ["first", "second"] {
        let started = Instant::now();
        segment
            .trader(name, &["rates"])
            .status(2)
            .stderr_has("is corrupted");
        assert!(
            started.elapsed() < LOCK_TIMEOUT / 2,
            "{name} waited for the lock"
        );
    }
    segment
        .init(&["--status"])
        .status(2)
        .stderr_has("could not be repaired");
    segment.init(&["--force"]).success();
    common::assert_balances(&segment.json("after", "audit"));
}

/// A transfer is all-or-nothing like a trade: the funding of a stress run
/// killed at every step of the journal leaves either no transfer or all
/// of it, and the audit balances either way.
#[test]
fn a_transfer_killed_at_any_step_is_all_or_nothing() {
    use shm_exchange::testing::{Step, CRASH_ENV};
    use std::os::unix::process::ExitStatusExt;
    for step in Step::ALL {
        if matches!(
            step,
            Step::AfterStock | Step::AfterHolding | Step::MidChange
        ) {
            continue; // a transfer writes no stock or holding, and is no owner's command
        }
        let segment = Segment::create(Backend::Posix);
        let mut command = segment.lab_command();
        command
            .env(CRASH_ENV, step.name())
            .args(["stress", "--procs", "1", "--trades", "10"]);
        let run = Run::new(command, b"");
        assert_eq!(
            run.output.status.signal(),
            Some(libc::SIGKILL),
            "{}: the funding should have died there\n{}",
            step.name(),
            run.stderr()
        );
        let portfolio = segment.json("stress-0", "portfolio");
        let balance: f64 = field(&portfolio, "balance").parse().unwrap();
        let status = segment.init(&["--status", "--json"]).parse_json();
        let cash: f64 = field(&status, "cash").parse().unwrap();
        assert_eq!(
            balance + cash,
            1_001_000.0,
            "{}: {portfolio} {status}",
            step.name()
        );
        let audit = segment.json("stress-0", "audit");
        assert_eq!(audit["consistent"], true, "{}: {audit}", step.name());
        // The market goes on: a full run funds and trades.
        let report = segment
            .lab(&["stress", "--json", "--procs", "1", "--trades", "100"])
            .success()
            .parse_json();
        assert_eq!(report["audit"]["consistent"], true, "{report}");
    }
}
