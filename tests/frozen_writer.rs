//! Readers never take the lock: with a writer frozen (SIGSTOP) at each
//! step inside a change, holding the lock, `rates`, `portfolio`, `traders`,
//! `tape`, `history`, `audit` and the board answer at once, and the next
//! writer repairs the change exactly once.
//!
//! The target requires the `fault-injection` feature
//! (`cargo test --features fault-injection`).

mod common;

use std::time::Instant;

use common::{each_segment, Backend, Segment, TIMEOUT};
use shm_exchange::{Exchange, SegmentAddress};

/// A trader frozen (SIGSTOP) at a step inside a change, holding the lock.
/// Killed in `Drop` if the test fails first.
struct Frozen(std::process::Child);

impl Frozen {
    fn start(segment: &Segment, step: shm_exchange::testing::Step, command: &[&str]) -> Frozen {
        let mut trader = segment.trader_command("ana");
        trader
            .env(
                shm_exchange::testing::CRASH_ENV,
                format!("{}:stop", step.name()),
            )
            .args(command)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut frozen = Frozen(trader.spawn().unwrap());
        let pid = frozen.0.id();
        common::wait_for(&format!("{} to stop", step.name()), TIMEOUT, || {
            if let Ok(Some(status)) = frozen.0.try_wait() {
                panic!("the trader exited ({status}) instead of stopping");
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('T')
        });
        frozen
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A writer stopped with SIGSTOP while it holds the lock, at each step of
/// a trade and of a reset: every read command, and the board's text, still
/// answer at once, and show the change as done once its record is
/// published. Killed, the writer is repaired by the next one.
fn readers_answer_while_a_writer_is_frozen(backend: Backend) {
    use shm_exchange::testing::{Step, LOCK_TIMEOUT};
    let cases: [(Step, &[&str], bool); 6] = [
        (Step::AfterLock, &["buy", "DOLLAR", "10"], false),
        (Step::AfterRedo, &["buy", "DOLLAR", "10"], true),
        (Step::AfterHolding, &["buy", "DOLLAR", "10"], true),
        (Step::BeforeUnlock, &["buy", "DOLLAR", "10"], true),
        (Step::AfterRedo, &["reset"], true),
        (Step::MidChange, &["reset"], true),
    ];
    for (step, command, shows_change) in cases {
        let context = format!("{backend:?}, frozen at {} of {command:?}", step.name());
        let segment = Segment::create(backend);
        segment.trader("ana", &["buy", "DOLLAR", "5"]).success();
        let mut frozen = Frozen::start(&segment, step, command);
        let started = Instant::now();
        for read in [
            "rates",
            "quote buy DOLLAR 1",
            "portfolio",
            "traders",
            "tape",
            "history",
            "audit",
        ] {
            let reply = segment.json("ana", read);
            assert_eq!(reply["ok"], true, "{context}: {read}: {reply}");
        }
        // An account not open yet reads from a snapshot too: opening
        // would need the lock.
        let newcomer = segment.json("newcomer", "portfolio");
        assert_eq!(newcomer["open"], false, "{context}: {newcomer}");
        assert_eq!(newcomer["balance"], "1000.00", "{context}: {newcomer}");
        let history = segment.json("newcomer", "history");
        assert_eq!(history["ok"], true, "{context}: {history}");
        segment.assert_consistent();
        let address: SegmentAddress = segment.address.parse().unwrap();
        let exchange = shm_exchange::Store::Segment(Exchange::attach(&address).unwrap());
        let board = shm_exchange::board::board(exchange.market(), 80, 24).unwrap();
        assert!(board.contains("DOLLAR"), "{context}: {board}");
        drop(exchange);
        assert!(
            started.elapsed() < LOCK_TIMEOUT / 2,
            "{context}: the readers waited for the lock"
        );
        let holding = segment.json("ana", "portfolio")["holdings"]["DOLLAR"].clone();
        let expected = match (shows_change, command[0]) {
            (false, _) => "5.00",
            (true, "reset") => "0.00",
            (true, _) => "15.00",
        };
        assert_eq!(holding, expected, "{context}");

        // Killed, it leaves the same market to the next writer.
        frozen.0.kill().unwrap();
        frozen.0.wait().unwrap();
        segment.trader("bob", &["buy", "EURO", "1"]).success();
        assert_eq!(
            segment.json("ana", "portfolio")["holdings"]["DOLLAR"],
            expected,
            "{context}: after the repair"
        );
        segment.assert_consistent();
    }
}

mod frozen {
    use super::*;
    each_segment!(readers_answer_while_a_writer_is_frozen);
}
